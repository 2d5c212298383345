package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

var unlimited = ws.Config{MessagesPerSecond: 1e9, MessagesBurst: 1 << 30}

// A client cut off in the middle of a burst reconnects with its cursor
// while the burst goes on, and ends with every seq exactly once, in order.
func TestSyncResumeMidBurst(t *testing.T) {
	const total = 500
	s := newStack(t, unlimited, chat.Config{})
	alice, bob1 := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "burst", "bob")
	next(t, bob1, protocol.EvConversation, 3*time.Second)

	var sent atomic.Int64
	sendErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 1; i <= total; i++ {
			if _, err := alice.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: strconv.Itoa(i)}); err != nil {
				sendErr <- err
				return
			}
			sent.Add(1)
			if i%50 == 0 {
				time.Sleep(5 * time.Millisecond) // keep the burst going across the reconnect
			}
		}
		sendErr <- nil
	}()

	seqs := func(c *client.Conn, stopAt int64, kill bool) []int64 {
		var out []int64
		for ev := range c.Events() {
			if ev.Event != protocol.EvMessage {
				continue
			}
			var m protocol.Message
			json.Unmarshal(ev.Data, &m)
			out = append(out, m.Seq)
			if m.Seq >= stopAt {
				if kill {
					c.Kill() // the channel drains and closes
					continue
				}
				return out
			}
		}
		return out
	}
	first := seqs(bob1, 100, true)
	cursors := bob1.Cursors()
	if cursors[cv.ID] != first[len(first)-1] {
		t.Fatalf("cursor %d, last received %d", cursors[cv.ID], first[len(first)-1])
	}
	time.Sleep(30 * time.Millisecond) // miss a few more
	sentAtCut := sent.Load()

	bob2 := s.dial("bob", &client.Options{Resume: true})
	got := make(chan []int64, 1)
	go func() { got <- seqs(bob2, total, false) }()
	replayed, reply, err := bob2.Sync(ctxT(t), cursors)
	if err != nil {
		t.Fatal(err)
	}
	sentAtSync := sent.Load()
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	var second []int64
	select {
	case second = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the rest of the burst did not arrive")
	}
	all := append(first, second...)
	for i, seq := range all {
		if seq != int64(i+1) {
			t.Fatalf("position %d has seq %d (first part %d, cut at %d, replayed %d, reply %+v)", i, seq, len(first), cursors[cv.ID], len(replayed), reply)
		}
	}
	if len(all) != total {
		t.Fatalf("%d messages, want %d", len(all), total)
	}
	if len(replayed) > 0 && (replayed[0].Seq != cursors[cv.ID]+1 || replayed[len(replayed)-1].Seq != reply.Seqs[cv.ID]) {
		t.Fatalf("replayed %d..%d, reply %+v", replayed[0].Seq, replayed[len(replayed)-1].Seq, reply)
	}
	t.Logf("cut at seq %d (sent %d); reconnected and synced with %d sent: %d replayed, the rest live", cursors[cv.ID], sentAtCut, sentAtSync, len(replayed))
}

// Sync without resume, and a truncated sync: the next sync continues.
func TestSyncTruncated(t *testing.T) {
	s := newStack(t, unlimited, chat.Config{SyncLimit: 10})
	alice, _ := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "t", "bob")
	for i := 0; i < 25; i++ {
		if _, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	bob := s.dial("bob", nil)
	cur := map[string]int64{cv.ID: 0}
	var seqs []int64
	for round := 0; ; round++ {
		ms, reply, err := bob.Sync(ctxT(t), cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			seqs = append(seqs, m.Seq)
		}
		cur = reply.Seqs
		if len(reply.Truncated) == 0 {
			break
		}
		if round > 5 {
			t.Fatal("sync never completes")
		}
	}
	if len(seqs) != 25 || seqs[0] != 1 || seqs[24] != 25 {
		t.Fatalf("synced %v", seqs)
	}
	_, reply, err := bob.Sync(ctxT(t), map[string]int64{"cnv_nope": 0})
	if err != nil || reply.Refused["cnv_nope"] != "not_found" {
		t.Fatalf("sync of an unknown conversation: %+v, %v", reply, err)
	}
}

// One client stops reading while the others receive a stream: the others
// are not delayed, and the slow one is disconnected.
func TestSlowConsumer(t *testing.T) {
	const (
		maxDelay   = 2 * time.Second  // worst send-to-receive delay allowed for the healthy clients (generous for CI)
		cutWithin  = 30 * time.Second // the kernel's send buffer (MiBs on loopback) fills first; slow under -race on a busy machine
		queueBytes = 256 << 10
	)
	cfg := unlimited
	cfg.SendQueueBytes = queueBytes
	cfg.WriteTimeout = time.Second
	s := newStack(t, cfg, chat.Config{})
	// Only the slow reader checks frames against docs/protocol.json: checking
	// every 4 KiB message on the sender and the fast readers too slows the
	// burst more than this test's time budget allows on a loaded machine.
	alice := s.dialUnchecked("alice", &client.Options{OnFrame: func([]byte) {}})
	var fast []*client.Conn
	var worst [3]atomic.Int64
	var counts [3]atomic.Int64
	for i := range 3 {
		c := s.dialUnchecked(fmt.Sprintf("fast%d", i), &client.Options{OnFrame: func(p []byte) {
			str := string(p)
			j := strings.Index(str, `"text":"`)
			if j < 0 || !strings.Contains(str, `"event":"chat:message"`) {
				return
			}
			ts, _ := strconv.ParseInt(str[j+8:j+8+19], 10, 64)
			d := time.Now().UnixNano() - ts
			if d > worst[i].Load() {
				worst[i].Store(d)
			}
			counts[i].Add(1)
		}})
		fast = append(fast, c)
	}
	stall := make(chan struct{})
	var stallOnce sync.Once
	release := func() { stallOnce.Do(func() { close(stall) }) }
	defer release()
	slow := s.dial("slow", &client.Options{
		ReadBufferSize: 4096,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(8 << 10)
			}
			return c, err
		},
		OnFrame: func(p []byte) {
			if strings.Contains(string(p), `"event":"chat:message"`) {
				<-stall // stop reading
			}
		},
	})
	cv := s.group(alice, "stream", "fast0", "fast1", "fast2", "slow")
	time.Sleep(100 * time.Millisecond)

	pad := strings.Repeat("p", 4000)
	start := time.Now()
	var cutAfter time.Duration
	n, cutAt := 0, 0
	for ; time.Since(start) < cutWithin; n++ {
		text := strconv.FormatInt(time.Now().UnixNano(), 10) + pad
		if _, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: text}); err != nil {
			t.Fatal(err)
		}
		if cutAfter == 0 && s.srv.Conns() == 4 {
			cutAfter, cutAt = time.Since(start), n
		}
		if cutAfter != 0 && n >= cutAt+100 {
			break
		}
	}
	if cutAfter == 0 || cutAfter > cutWithin {
		t.Fatalf("slow consumer not disconnected within %s (sent %d)", cutWithin, n)
	}
	eventually(t, 10*time.Second, "healthy clients got every message", func() bool {
		for i := range counts {
			if counts[i].Load() < int64(n) {
				return false
			}
		}
		return true
	})
	for i := range worst {
		if d := time.Duration(worst[i].Load()); d > maxDelay {
			t.Fatalf("healthy client %d waited %s for a message (bound %s)", i, d, maxDelay)
		}
	}
	release()
	// The server has closed its socket (it counted it out above). With the
	// client's tiny receive window the kernel may still be trickling the
	// orphaned socket's backlog; do not wait for that for long.
	select {
	case <-slow.Done():
	case <-time.After(2 * time.Second):
		t.Log("slow client still draining the kernel backlog; killing it")
		slow.Kill()
	}
	code := slow.CloseCode()
	if code != 0 && code != protocol.CloseSlowConsumer {
		t.Fatalf("slow client closed with %d", code)
	}
	t.Logf("%d messages of 4 KiB; slow consumer cut after %s (close code %d, 0 = socket closed before the frame got through); worst delay of healthy clients %s %s %s",
		n, cutAfter.Round(time.Millisecond), code, time.Duration(worst[0].Load()).Round(time.Millisecond),
		time.Duration(worst[1].Load()).Round(time.Millisecond), time.Duration(worst[2].Load()).Round(time.Millisecond))
	_ = fast
}

// TestSyncReplaysMissedEdits: edits and deletions made while a client was
// away reach it on reconnect, with the messages' current state.
func TestSyncReplaysMissedEdits(t *testing.T) {
	s := newStack(t, unlimited, chat.Config{})
	ctx := ctxT(t)
	alice, bob1 := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "edits", "bob")
	next(t, bob1, protocol.EvConversation, 3*time.Second)
	var ms []protocol.Message
	for i := range 3 {
		m, err := alice.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		next(t, bob1, protocol.EvMessage, 3*time.Second)
	}
	since := bob1.Connected().ServerTime
	cursors := bob1.Cursors()
	bob1.Close()

	if _, err := alice.Edit(ctx, protocol.EditRequest{ConversationID: cv.ID, MessageID: ms[0].ID, Text: "zero, edited"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Delete(ctx, cv.ID, ms[2].ID); err != nil {
		t.Fatal(err)
	}
	late, err := alice.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: "new"})
	if err != nil {
		t.Fatal(err)
	}

	bob2 := s.dial("bob", &client.Options{Resume: true})
	replayed, _, err := bob2.SyncSince(ctx, cursors, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(replayed) != 1 || replayed[0].ID != late.ID {
		t.Fatalf("replayed %+v, want only the new message", replayed)
	}
	var edited, deleted protocol.Message
	json.Unmarshal(next(t, bob2, protocol.EvMessageEdited, 3*time.Second).Data, &edited)
	json.Unmarshal(next(t, bob2, protocol.EvMessageDeleted, 3*time.Second).Data, &deleted)
	if edited.ID != ms[0].ID || edited.Text != "zero, edited" || deleted.ID != ms[2].ID || deleted.DeletedAt == nil || deleted.Text != "" {
		t.Fatalf("edited %+v deleted %+v", edited, deleted)
	}

	// Without since, only new messages are replayed.
	bob3 := s.dial("bob", &client.Options{Resume: true})
	if _, _, err := bob3.Sync(ctx, cursors); err != nil {
		t.Fatal(err)
	}
	none(t, bob3, protocol.EvMessageEdited, 200*time.Millisecond)
}

// TestSessionReconnectsAndResumes: a client.Session whose link drops twice
// in the middle of a burst gets every message once, in order, and the
// edits made while it was away.
func TestSessionReconnectsAndResumes(t *testing.T) {
	const total = 300
	s := newStack(t, unlimited, chat.Config{})
	ctx := ctxT(t)
	alice, bob := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "session", "bob")
	next(t, bob, protocol.EvConversation, 3*time.Second)
	bob.Close()

	var mu sync.Mutex
	var seqs []int64
	edited := map[string]string{}
	all := make(chan struct{})
	var tokens atomic.Int32
	sess := client.NewSession(s.url, func(context.Context) (string, error) {
		tokens.Add(1)
		return s.tokenFor(s.acct.ID, "bob", protocol.RoleMember, time.Hour), nil
	}, client.SessionOptions{
		Dial:       *tapped(t, nil),
		MinBackoff: 20 * time.Millisecond,
		OnEvent: func(ev protocol.Envelope) {
			var m protocol.Message
			switch ev.Event {
			case protocol.EvMessage:
				json.Unmarshal(ev.Data, &m)
				mu.Lock()
				seqs = append(seqs, m.Seq)
				if len(seqs) == total {
					close(all)
				}
				mu.Unlock()
			case protocol.EvMessageEdited:
				json.Unmarshal(ev.Data, &m)
				mu.Lock()
				edited[m.ID] = m.Text
				mu.Unlock()
			}
		},
	})
	defer sess.Close()
	waitFor(t, func() bool { return sess.Conn() != nil })

	var first protocol.Message
	for i := 1; i <= total; i++ {
		m, err := alice.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			first = m
		}
		if i == 100 || i == 200 {
			c := sess.Conn()
			c.Kill() // the link drops mid-burst
			<-c.Done()
			if i == 200 { // an edit while bob is away
				if _, err := alice.Edit(ctx, protocol.EditRequest{ConversationID: cv.ID, MessageID: first.ID, Text: "first, edited"}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		mu.Lock()
		t.Fatalf("got %d of %d messages (last error %v)", len(seqs), total, sess.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("position %d has seq %d", i, seq)
		}
	}
	if sess.Connects() < 3 || tokens.Load() < 3 {
		t.Fatalf("%d connections with %d tokens, want at least 3", sess.Connects(), tokens.Load())
	}
	if edited[first.ID] != "first, edited" {
		t.Fatalf("the edit made while away was not replayed: %v", edited)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
