package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
	"github.com/parley-chat/parley/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openStore(t testing.TB, dbURL string, opt Options) *Store {
	t.Helper()
	s, err := OpenWith(context.Background(), dbURL, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs storetest; its subtests share one database (the
// suite uses fresh ids), each with a store of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, dbURL, Options{MaxConns: 4})
	})
}

// TestConformanceSmallBatches runs the suite with tiny batches so batch
// boundaries fall inside the concurrent tests, and with more writers.
func TestConformanceSmallBatches(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, dbURL, Options{MaxBatch: 3, Writers: 3, MaxConns: 5})
	})
}

type fixture struct{ accountID, userID, convID string }

func newFixture(t testing.TB, s store.Store) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{accountID: "acc_" + rand.Text(), userID: "usr_" + rand.Text()}
	if err := s.CreateAccount(ctx, store.Account{ID: f.accountID, Name: f.accountID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertUser(ctx, store.User{ID: f.userID, AccountID: f.accountID, Name: "u", Role: protocol.RoleMember}); err != nil {
		t.Fatal(err)
	}
	f.convID = newConv(t, s, f)
	return f
}

func newConv(t testing.TB, s store.Store, f fixture) string {
	t.Helper()
	c, err := s.CreateConversation(context.Background(), store.Conversation{ID: "cnv_" + rand.Text(), AccountID: f.accountID,
		Kind: protocol.KindGroup}, []string{f.userID})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func newMsg(conv, sender, clientID string) store.Message {
	return store.Message{ID: "msg_" + rand.Text(), ConversationID: conv, SenderID: sender, ClientID: clientID,
		Type: protocol.TypeText, Text: "hello", CreatedAt: time.Now()}
}

// TestSeveralNodesOneConversation: several stores, each with a pool of its
// own as separate nodes would have, append to the same conversations at
// once (every sender also resends half of its messages, sometimes through
// another node). Each conversation's seqs are exactly 1..N, every
// acknowledged message is stored with the seq it was acknowledged with,
// committed callbacks come in ascending seq per node, and resends never
// create a second message.
func TestSeveralNodesOneConversation(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	const nodes, senders, perSender = 4, 16, 25
	var stores []*Store
	for i := range nodes {
		stores = append(stores, openStore(t, dbURL, Options{MaxConns: 3, MaxBatch: 8 << i}))
	}
	f := newFixture(t, stores[0])
	// Two conversations, so batches lock several rows (and must not deadlock).
	convs := []string{f.convID, newConv(t, stores[0], f)}

	type ack struct {
		id, conv string
		seq      int64
	}
	var (
		mu    sync.Mutex
		acks  = map[string]ack{}                // by client id
		order = make([]map[string]int64, nodes) // last committed seq per conversation, per node
		wg    sync.WaitGroup
	)
	for i := range order {
		order[i] = map[string]int64{}
	}
	ctx := t.Context()
	for n := range nodes {
		for g := range senders {
			wg.Go(func() {
				for i := range perSender {
					cl := fmt.Sprintf("n%d-g%d-%d", n, g, i)
					conv := convs[(g+i)%len(convs)]
					try := func(node int) {
						m, created, err := stores[node].AppendMessage(ctx, newMsg(conv, f.userID, cl), func(m store.Message) {
							mu.Lock()
							defer mu.Unlock()
							if m.Seq <= order[node][m.ConversationID] {
								t.Errorf("node %d: committed seq %d after %d", node, m.Seq, order[node][m.ConversationID])
							}
							order[node][m.ConversationID] = m.Seq
						})
						if err != nil {
							t.Errorf("append %s on node %d: %v", cl, node, err)
							return
						}
						mu.Lock()
						defer mu.Unlock()
						prev, seen := acks[cl]
						switch {
						case created && seen:
							t.Errorf("%s created twice: %+v and %s seq %d", cl, prev, m.ID, m.Seq)
						case !created && !seen:
							// the resend was acknowledged before the original's own return: fine,
							// it must still be the one stored message
						case seen && (prev.id != m.ID || prev.seq != m.Seq):
							t.Errorf("%s resend = %s seq %d, first = %+v", cl, m.ID, m.Seq, prev)
						}
						if !seen {
							acks[cl] = ack{m.ID, m.ConversationID, m.Seq}
						}
					}
					try(n)
					if i%2 == 0 {
						try((n + i) % nodes) // a resend, maybe through another node
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for _, conv := range convs {
		ms, err := stores[1].ListMessages(ctx, conv, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				t.Fatalf("conversation %s: message %d has seq %d (gap or duplicate)", conv, i, m.Seq)
			}
			a, ok := acks[m.ClientID]
			if !ok || a.id != m.ID || a.seq != m.Seq || a.conv != conv {
				t.Fatalf("stored %s (%s seq %d) was acknowledged as %+v", m.ClientID, m.ID, m.Seq, a)
			}
		}
		c, err := stores[2].GetConversation(ctx, f.accountID, conv)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastSeq != int64(len(ms)) {
			t.Fatalf("LastSeq = %d with %d messages", c.LastSeq, len(ms))
		}
		total += len(ms)
	}
	if want := nodes * senders * perSender; total != want || len(acks) != want {
		t.Fatalf("%d stored, %d acknowledged; want %d", total, len(acks), want)
	}
}

// TestRefusesNewerSchema: a node must not run on a schema migrated by a
// newer Parley; Open says so plainly and changes nothing.
func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	s := openStore(t, dbURL, Options{})
	s.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, dbURL)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version 9999") {
		t.Fatalf("Open on a newer schema: %v, want ErrSchemaTooNew naming version 9999", err)
	}
	if err := Migrate(ctx, dbURL); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Migrate on a newer schema: %v", err)
	}
	// Opening an up-to-date database twice (a second node) is fine.
	if _, err := conn.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = 9999`); err != nil {
		t.Fatal(err)
	}
	openStore(t, dbURL, Options{})
	openStore(t, dbURL, Options{})
}

// TestNodesStartTogether: several nodes opening a fresh database at once
// migrate it once (goose's advisory lock) and all start.
func TestNodesStartTogether(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), dbURL)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

// holdConversation row-locks a conversation from a connection of its own, as
// another node's batch would, until release is called.
func holdConversation(t *testing.T, dbURL, convID string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR NO KEY UPDATE`, convID); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			tx.Commit(ctx)
			conn.Close(ctx)
		})
	}
	t.Cleanup(release)
	return release
}

// waitForLockWaiter returns once a session of the database waits for a lock
// (a writer's batch blocked by holdConversation).
func waitForLockWaiter(t *testing.T, s *Store) {
	t.Helper()
	for {
		var n int
		err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCloseDrainsQueuedAppends: Close refuses new appends but commits every
// one already queued, while their batch waits for another node's lock.
func TestCloseDrainsQueuedAppends(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	ctx := context.Background()
	s, err := OpenWith(ctx, dbURL, Options{Writers: 1, MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, s)
	release := holdConversation(t, dbURL, f.convID)
	const n = 10 // the first one in a batch waiting for the lock, the rest queued
	var wg sync.WaitGroup
	var ok, callbacks atomic.Int32
	send := func(i int) {
		wg.Go(func() {
			_, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, fmt.Sprint(i)), func(store.Message) { callbacks.Add(1) })
			if err != nil {
				t.Error(err)
				return
			}
			ok.Add(1)
		})
	}
	send(0)
	waitForLockWaiter(t, s)
	for i := 1; i < n; i++ {
		send(i)
	}
	for len(s.reqs[0]) < n-1 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	for {
		s.mu.RLock()
		c := s.closed
		s.mu.RUnlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, "late"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close = %v, want ErrClosed", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok.Load() != n || callbacks.Load() != n {
		t.Fatalf("%d of %d queued appends succeeded (%d callbacks)", ok.Load(), n, callbacks.Load())
	}

	s2 := openStore(t, dbURL, Options{})
	ms, err := s2.ListMessages(ctx, f.convID, 0, 0, 0)
	if err != nil || len(ms) != n {
		t.Fatalf("after Close: %d messages, %v; want %d", len(ms), err, n)
	}
}

// TestCanceledWhileQueued: an append whose context ends while it waits in
// the queue is dropped without a trace; one already in a batch stands.
func TestCanceledWhileQueued(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	ctx := context.Background()
	s := openStore(t, dbURL, Options{Writers: 1})
	f := newFixture(t, s)
	release := holdConversation(t, dbURL, f.convID)
	first := make(chan error)
	go func() {
		_, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, "a"), nil)
		first <- err
	}()
	waitForLockWaiter(t, s) // the first append's batch waits for the lock
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	m := newMsg(f.convID, f.userID, "b")
	go func() {
		_, _, err := s.AppendMessage(cctx, m, func(store.Message) { t.Error("committed called") })
		errc <- err
	}()
	for len(s.reqs[0]) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled append = %v", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	got, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, "c"), nil)
	if err != nil || got.Seq != 2 {
		t.Fatalf("next append seq %d, %v; want 2", got.Seq, err)
	}
	if _, err := s.GetMessage(ctx, f.convID, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled append stored: %v", err)
	}
}

// BenchmarkAppendParallel measures acknowledged durable appends/s: many
// concurrent senders (b.SetParallelism × GOMAXPROCS goroutines) spread over
// 1000 conversations, each append returning only after its batch commits.
func BenchmarkAppendParallel(b *testing.B) {
	dbURL := pgtest.Database(b)
	s := openStore(b, dbURL, Options{})
	f := newFixture(b, s)
	convs := []string{f.convID}
	for len(convs) < 1000 {
		convs = append(convs, newConv(b, s, f))
	}
	var next sync.Mutex
	k := 0
	b.SetParallelism(128)
	b.ResetTimer()
	start := time.Now()
	before := s.Stats()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		k++
		i := k
		next.Unlock()
		for pb.Next() {
			i++
			if _, _, err := s.AppendMessage(context.Background(), newMsg(convs[i%len(convs)], f.userID, rand.Text()), nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(start)
	st := s.Stats()
	b.ReportMetric(float64(b.N)/el.Seconds(), "appends/s")
	if n := st.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(st.Writes-before.Writes)/float64(n), "appends/commit")
	}
}
