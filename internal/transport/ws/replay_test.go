package ws_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// slowDial gives a client a small kernel receive buffer, so that what it
// has not read yet soon fills the path back to the server. (Much smaller
// than 64 KiB and loopback TCP stalls in zero-window probes, slower than
// any real link, and the write timeout cuts the connection.)
func slowDial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(64 << 10)
	}
	return c, err
}

// backlog makes convs groups of alice and bob and commits perConv messages
// of size bytes into each, many senders at once (group commit).
func backlog(t *testing.T, s *stack, convs, perConv, size int) map[string]int64 {
	t.Helper()
	alice := s.dial("alice", &client.Options{OnFrame: func([]byte) {}})
	s.dial("bob", nil).Close() // bob exists
	aliceID, err := s.auth.Token(ctxT(t), s.token("alice"))
	if err != nil {
		t.Fatal(err)
	}
	cursors := map[string]int64{}
	jobs := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for conv := range jobs {
				if _, err := s.chat.Send(context.Background(), aliceID, protocol.SendRequest{
					ConversationID: conv, Text: strings.Repeat("m", size)}); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	for i := range convs {
		cv := s.group(alice, "backlog"+string(rune('a'+i)), "bob")
		cursors[cv.ID] = 0
		for range perConv {
			jobs <- cv.ID
		}
	}
	close(jobs)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	return cursors
}

// TestSlowReaderGetsWholeReplay: a resuming client on a slow link (a small
// receive buffer, reading with pauses) syncs a backlog many times the send
// queue and receives all of it, in order, without being cut as a slow
// consumer; a client that stops reading in the middle of its replay is
// still cut, and the replay waiting for it ends.
func TestSlowReaderGetsWholeReplay(t *testing.T) {
	const (
		convs, perConv, size = 3, 1000, 3000 // ≈ 9 MB of replay
		queueBytes           = 256 << 10
	)
	cfg := unlimited
	cfg.SendQueueBytes = queueBytes
	cfg.WriteTimeout = 5 * time.Second
	s := newStack(t, cfg, chat.Config{})
	start := time.Now()
	cursors := backlog(t, s, convs, perConv, size)
	t.Logf("backlog committed in %s", time.Since(start))
	start = time.Now()

	var mu sync.Mutex
	got := map[string][]int64{}
	frames := 0
	bob := s.dial("bob", &client.Options{
		Resume:         true,
		ReadBufferSize: 4096,
		NetDial:        slowDial,
		OnFrame: func(p []byte) {
			var env struct {
				Event string           `json:"event"`
				Data  protocol.Message `json:"data"`
			}
			if json.Unmarshal(p, &env) != nil || env.Event != protocol.EvMessage {
				return
			}
			mu.Lock()
			got[env.Data.ConversationID] = append(got[env.Data.ConversationID], env.Data.Seq)
			frames++
			pause := frames%8 == 0
			mu.Unlock()
			if pause {
				time.Sleep(time.Millisecond) // a slow link
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, reply, err := bob.Sync(ctx, cursors)
	if err != nil {
		t.Fatalf("sync after %s: %v (close code %d, %d frames)", time.Since(start), err, bob.CloseCode(), frames)
	}
	t.Logf("replayed in %s", time.Since(start))
	mu.Lock()
	for conv := range cursors {
		seqs := got[conv]
		if len(seqs) != perConv || reply.Seqs[conv] != perConv {
			t.Fatalf("%s: %d messages replayed, reply seq %d, want %d", conv, len(seqs), reply.Seqs[conv], perConv)
		}
		for i, seq := range seqs {
			if seq != int64(i+1) {
				t.Fatalf("%s: position %d has seq %d", conv, i, seq)
			}
		}
	}
	mu.Unlock()
	if len(reply.Truncated) != 0 {
		t.Fatalf("truncated %v", reply.Truncated)
	}

	// A client that stops reading during its replay is cut (the write
	// times out) and the paced replay gives up instead of waiting forever.
	stall := make(chan struct{})
	before := s.srv.Conns()
	stuck := s.dial("bob", &client.Options{
		Resume:         true,
		ReadBufferSize: 4096,
		NetDial:        slowDial,
		OnFrame: func(p []byte) {
			if strings.Contains(string(p), `"event":"chat:message"`) {
				<-stall
			}
		},
	})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stuck.Sync(ctx, cursors)
	}()
	eventually(t, 20*time.Second, "the connection that stopped reading is cut", func() bool {
		return s.srv.Conns() == before
	})
	close(stall)
	stuck.Kill()
}
