package sqlite

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
	"github.com/parley-chat/parley/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openTemp(t testing.TB, opt Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.db")
	s, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t, Options{})
		return s
	})
}

// TestConformanceSmallBatches runs the suite with tiny batches so batch
// boundaries fall inside the concurrent tests.
func TestConformanceSmallBatches(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t, Options{MaxBatch: 3, ReadConns: 2})
		return s
	})
}

type fixture struct {
	accountID, userID, convID string
}

func newFixture(t testing.TB, s *Store, nconv int) (fixture, []string) {
	t.Helper()
	ctx := context.Background()
	f := fixture{accountID: "acc_" + rand.Text(), userID: "usr_" + rand.Text()}
	if err := s.CreateAccount(ctx, store.Account{ID: f.accountID, Name: f.accountID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertUser(ctx, store.User{ID: f.userID, AccountID: f.accountID, Name: "u", Role: protocol.RoleMember}); err != nil {
		t.Fatal(err)
	}
	var convs []string
	for range nconv {
		c, err := s.CreateConversation(ctx, store.Conversation{ID: "cnv_" + rand.Text(), AccountID: f.accountID, Kind: protocol.KindGroup},
			[]string{f.userID})
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, c.ID)
	}
	f.convID = convs[0]
	return f, convs
}

func newMsg(conv, sender string, i int) store.Message {
	return store.Message{ID: "msg_" + rand.Text(), ConversationID: conv, SenderID: sender, ClientID: fmt.Sprint(i),
		Type: protocol.TypeText, Text: "hello", CreatedAt: time.Now()}
}

func TestDurabilityAndPragmas(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t, Options{})
	f, _ := newFixture(t, s, 1)

	var (
		journal     string
		synchronous int
		fk          int
		qo          int
	)
	err := s.exec(ctx, func(ctx context.Context, w *wtx) error {
		if err := w.c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
			return err
		}
		if err := w.c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&synchronous); err != nil {
			return err
		}
		return w.c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk)
	})
	if err != nil {
		t.Fatal(err)
	}
	if journal != "wal" || synchronous != 2 || fk != 1 {
		t.Fatalf("writer: journal_mode=%q synchronous=%d foreign_keys=%d; want wal, 2 (FULL), 1", journal, synchronous, fk)
	}
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Fatalf("reader query_only = %d, %v", qo, err)
	}
	if _, err := s.rdb.ExecContext(ctx, "DELETE FROM messages"); err == nil {
		t.Fatal("the read pool accepted a write")
	}

	const n = 300
	want := make(map[string]int64, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, i), nil)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			want[m.ID] = m.Seq
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ms, err := s2.ListMessages(ctx, f.convID, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n {
		t.Fatalf("after reopen %d messages, want %d", len(ms), n)
	}
	for i, m := range ms {
		if m.Seq != int64(i+1) || want[m.ID] != m.Seq {
			t.Fatalf("after reopen message %s seq %d, acknowledged with %d", m.ID, m.Seq, want[m.ID])
		}
	}
	// The seq cache starts cold and picks up from the stored last_seq.
	m, _, err := s2.AppendMessage(ctx, newMsg(f.convID, f.userID, -1), nil)
	if err != nil || m.Seq != n+1 {
		t.Fatalf("append after reopen: seq %d, %v; want %d", m.Seq, err, n+1)
	}
	// A resend of a message acknowledged before the restart is recognized.
	dup, created, err := s2.AppendMessage(ctx, newMsg(f.convID, f.userID, 7), nil)
	if err != nil || created || dup.Seq != ms[slices.IndexFunc(ms, func(m store.Message) bool { return m.ClientID == "7" })].Seq {
		t.Fatalf("resend after reopen: %+v created=%v %v", dup, created, err)
	}
}

func TestCloseDrainsQueuedAppends(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	s, err := Open(ctx, path, Options{MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newFixture(t, s, 1)

	// Hold the writer inside a write so that appends pile up in the queue.
	release := make(chan struct{})
	started := make(chan struct{})
	go s.exec(ctx, func(ctx context.Context, w *wtx) error {
		close(started)
		<-release
		return nil
	})
	<-started
	const n = 12 // fits the queue (capacity MaxBatch)
	var wg sync.WaitGroup
	var ok, callbacks atomic.Int32
	for i := range n {
		wg.Go(func() {
			_, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, i), func(store.Message) { callbacks.Add(1) })
			if err != nil {
				t.Error(err)
				return
			}
			ok.Add(1)
		})
	}
	for len(s.reqs) < n {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	// Close must wait for the queue; new writes are refused.
	time.Sleep(20 * time.Millisecond)
	for {
		s.mu.RLock()
		c := s.closed
		s.mu.RUnlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.PutSetting(ctx, "k", "v"); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close = %v, want ErrClosed", err)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok.Load() != n || callbacks.Load() != n {
		t.Fatalf("%d of %d queued appends succeeded (%d callbacks)", ok.Load(), n, callbacks.Load())
	}

	s2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ms, err := s2.ListMessages(ctx, f.convID, 0, 0, 0)
	if err != nil || len(ms) != n {
		t.Fatalf("after reopen: %d messages, %v; want %d", len(ms), err, n)
	}
}

func TestCanceledWhileQueued(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t, Options{})
	f, _ := newFixture(t, s, 1)
	release := make(chan struct{})
	started := make(chan struct{})
	go s.exec(ctx, func(ctx context.Context, w *wtx) error {
		close(started)
		<-release
		return nil
	})
	<-started
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	m := newMsg(f.convID, f.userID, 1)
	go func() {
		_, _, err := s.AppendMessage(cctx, m, func(store.Message) { t.Error("committed called") })
		errc <- err
	}()
	for len(s.reqs) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled append = %v", err)
	}
	close(release)
	got, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, 2), nil)
	if err != nil || got.Seq != 1 {
		t.Fatalf("next append seq %d, %v; want 1", got.Seq, err)
	}
	if _, err := s.GetMessage(ctx, f.convID, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled append stored: %v", err)
	}
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	if err := Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	names, _ := migrationNames()
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(names) {
		t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(names))
	}
	// The store still works after an in-place Migrate (seq cache reset).
	f, _ := newFixture(t, s, 1)
	if m, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, 1), nil); err != nil || m.Seq != 1 {
		t.Fatalf("append: %d %v", m.Seq, err)
	}
}

func TestGroupCommitBatches(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t, Options{})
	f, _ := newFixture(t, s, 1)
	before := s.Stats()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if _, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, i), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	batches, writes := st.Batches-before.Batches, st.Writes-before.Writes
	if writes != 200 || batches >= 200 {
		t.Fatalf("%d writes in %d transactions: no grouping", writes, batches)
	}
	t.Logf("200 concurrent appends in %d transactions", batches)
}

func benchAppend(b *testing.B, nconv int) {
	s, path := openTemp(b, Options{})
	f, convs := newFixture(b, s, nconv)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(64) // many concurrent senders per core, like a chat server
	b.ReportAllocs()
	b.ResetTimer()
	before := s.Stats()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			m := store.Message{ID: fmt.Sprint("m", i), ConversationID: convs[int(i)%len(convs)], SenderID: f.userID,
				ClientID: fmt.Sprint("c", i), Type: protocol.TypeText, Text: "hello, this is a chat message", CreatedAt: time.Now()}
			if _, _, err := s.AppendMessage(ctx, m, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if n := st.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(st.Writes-before.Writes)/float64(n), "msgs/commit")
	}
	if fi, err := os.Stat(path + "-wal"); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "wal-MiB")
	}
}

func BenchmarkAppendMessageParallel(b *testing.B) {
	b.Run("conversations=1", func(b *testing.B) { benchAppend(b, 1) })
	b.Run("conversations=1000", func(b *testing.B) { benchAppend(b, 1000) })
}

func BenchmarkAppendMessageSerial(b *testing.B) {
	s, _ := openTemp(b, Options{})
	f, _ := newFixture(b, s, 1)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, i), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkListMessages(b *testing.B) {
	s, _ := openTemp(b, Options{})
	f, _ := newFixture(b, s, 1)
	ctx := context.Background()
	const n = 10000
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < n; i += 50 {
				if _, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, i), nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			before := 51 + next.Add(997)%(n-50)
			ms, err := s.ListMessages(ctx, f.convID, before, 0, 50)
			if err != nil || len(ms) != 50 {
				b.Errorf("ListMessages: %d, %v", len(ms), err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}
