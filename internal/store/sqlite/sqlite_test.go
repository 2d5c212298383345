package sqlite

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/ids"
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
	release := holdWriter(s)
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
	release()
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
	release := holdWriter(s)
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
	release()
	got, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, 2), nil)
	if err != nil || got.Seq != 1 {
		t.Fatalf("next append seq %d, %v; want 1", got.Seq, err)
	}
	if _, err := s.GetMessage(ctx, f.convID, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled append stored: %v", err)
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

// benchAppend appends from 64×GOMAXPROCS goroutines to nconv conversations.
// With randomIDs the message and client ids are random like the server's
// (ids.New) and the Go client's, so every id index insert lands on a random
// page; otherwise they are sequential ("m1", "c1", …) and mostly append.
func benchAppend(b *testing.B, nconv int, randomIDs bool) {
	s, path := openTemp(b, Options{})
	f, convs := newFixture(b, s, nconv)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(64) // many concurrent senders per core, like a chat server
	b.ReportAllocs()
	b.ResetTimer()
	before := s.Stats()
	wrote := writtenBytes()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			m := store.Message{ID: fmt.Sprint("m", i), ConversationID: convs[int(i)%len(convs)], SenderID: f.userID,
				ClientID: fmt.Sprint("c", i), Type: protocol.TypeText, Text: "hello, this is a chat message", CreatedAt: time.Now()}
			if randomIDs {
				m.ID, m.ClientID = ids.NewOrdered(ids.Message), rand.Text()[:24]
			}
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
	if w := writtenBytes(); w > 0 {
		b.ReportMetric(float64(w-wrote)/float64(b.N), "written-B/msg")
	}
	if fi, err := os.Stat(path + "-wal"); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "wal-MiB")
	}
}

// writtenBytes is how much the process has written with write syscalls
// (wchar in /proc/self/io: the WAL, checkpoints), or 0 where unknown.
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func BenchmarkAppendMessageParallel(b *testing.B) {
	b.Run("conversations=1", func(b *testing.B) { benchAppend(b, 1, false) })
	b.Run("conversations=1000", func(b *testing.B) { benchAppend(b, 1000, false) })
	// Like production: random message and client ids.
	b.Run("many/conversations=1000,random-ids", func(b *testing.B) { benchAppend(b, 1000, true) })
	// The shape of `parley bench chat --scenarios durable`.
	b.Run("many/conversations=64,random-ids", func(b *testing.B) { benchAppend(b, 64, true) })
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

// TestMixedBatch queues, behind a held writer, appends that all land in one
// transaction: good ones in two conversations, a resend of a committed
// message, two sends of one new client id, a duplicate message id and an
// unknown conversation. The multi-row INSERT falls back to one message at a
// time where needed; seqs stay contiguous and each outcome is right.
func TestMixedBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t, Options{})
	f, convs := newFixture(t, s, 2)
	old, _, err := s.AppendMessage(ctx, newMsg(convs[0], f.userID, -1), nil)
	if err != nil {
		t.Fatal(err)
	}
	release := holdWriter(s)
	type result struct {
		m       store.Message
		created bool
		err     error
	}
	var (
		ins     []store.Message
		results []chan result
	)
	add := func(m store.Message) {
		ins = append(ins, m)
		c := make(chan result, 1)
		results = append(results, c)
		go func() {
			m, created, err := s.AppendMessage(ctx, m, nil)
			c <- result{m, created, err}
		}()
		for len(s.reqs) < len(ins) {
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 10 {
		add(newMsg(convs[i%2], f.userID, i))
	}
	resend := newMsg(convs[0], f.userID, -1) // same client id as old
	add(resend)
	twice := newMsg(convs[1], f.userID, 100)
	add(twice)
	twice2 := newMsg(convs[1], f.userID, 100)
	add(twice2)
	dupID := newMsg(convs[0], f.userID, 101)
	dupID.ID = old.ID
	add(dupID)
	add(newMsg("cnv_missing", f.userID, 102))
	for i := 10; i < 20; i++ {
		add(newMsg(convs[i%2], f.userID, i))
	}
	before := s.Stats()
	release()
	got := make([]result, len(results))
	for i, c := range results {
		got[i] = <-c
	}
	if st := s.Stats(); st.Batches-before.Batches > 2 { // the held write's, then this one
		t.Logf("appends spread over %d transactions", st.Batches-before.Batches-1)
	}
	for i, r := range got {
		switch m := ins[i]; {
		case m.ID == resend.ID:
			if r.err != nil || r.created || r.m.ID != old.ID {
				t.Errorf("resend: %+v created=%v %v", r.m, r.created, r.err)
			}
		case m.ID == twice2.ID:
			if r.err != nil || r.created || r.m.ID != twice.ID {
				t.Errorf("second send of a client id: %+v created=%v %v", r.m, r.created, r.err)
			}
		case m.ID == dupID.ID:
			if !errors.Is(r.err, store.ErrConflict) {
				t.Errorf("duplicate id: %v, want ErrConflict", r.err)
			}
		case m.ConversationID == "cnv_missing":
			if !errors.Is(r.err, store.ErrNotFound) {
				t.Errorf("unknown conversation: %v, want ErrNotFound", r.err)
			}
		default:
			if r.err != nil || !r.created || r.m.ID != m.ID {
				t.Errorf("append %s: %+v created=%v %v", m.ClientID, r.m, r.created, r.err)
			}
		}
	}
	for i, c := range convs {
		ms, err := s.ListMessages(ctx, c, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := 10 + 1 - i // conversation 0 has old; 1 has twice
		if i == 1 {
			want = 11
		}
		if len(ms) != want {
			t.Fatalf("conversation %d: %d messages, want %d", i, len(ms), want)
		}
		for j, m := range ms {
			if m.Seq != int64(j+1) {
				t.Fatalf("conversation %d: seqs not contiguous at %d: %d", i, j, m.Seq)
			}
		}
		cv, err := s.GetConversation(ctx, f.accountID, c)
		if err != nil || cv.LastSeq != int64(want) {
			t.Fatalf("conversation %d LastSeq = %d, %v; want %d", i, cv.LastSeq, err, want)
		}
	}
}

// holdWriter parks the writer goroutine inside a write until release is
// called, so that requests pile up in its queue.
func holdWriter(s *Store) (release func()) {
	held, started := make(chan struct{}), make(chan struct{})
	go s.exec(context.Background(), func(context.Context, *wtx) error {
		close(started)
		<-held
		return nil
	})
	<-started
	return func() { close(held) }
}
