package ws_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// resetWatcher is a client that records, on its read goroutine, the seqs of
// a conversation's chat:message events and where a chat:sync reset fell
// among them.
type resetWatcher struct {
	conv string
	mu   sync.Mutex
	seqs []int64
	ids  map[int64]string
	// at is len(seqs) when the reset arrived (-1: none); lastSeq its seq.
	at, lastSeq int64
	resets      int
}

func newResetWatcher(conv string) *resetWatcher {
	return &resetWatcher{conv: conv, at: -1, ids: map[int64]string{}}
}

func (w *resetWatcher) options() *client.Options {
	return &client.Options{Resume: true, OnEvent: w.event, OnReset: w.reset}
}

func (w *resetWatcher) event(ev protocol.Envelope) {
	if ev.Event != protocol.EvMessage {
		return
	}
	var m protocol.Message
	json.Unmarshal(ev.Data, &m)
	if m.ConversationID != w.conv {
		return
	}
	w.mu.Lock()
	w.seqs = append(w.seqs, m.Seq)
	w.ids[m.Seq] = m.ID
	w.mu.Unlock()
}

func (w *resetWatcher) reset(conv string, lastSeq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if conv == w.conv {
		w.at, w.lastSeq = int64(len(w.seqs)), lastSeq
		w.resets++
	}
}

// after returns the seqs received after the reset.
func (w *resetWatcher) after() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at < 0 {
		return nil
	}
	return slices.Clone(w.seqs[w.at:])
}

func sendN(t *testing.T, c *client.Conn, conv string, n int) []protocol.Message {
	t.Helper()
	var out []protocol.Message
	for i := 0; i < n; i++ {
		m, err := c.Send(ctxT(t), protocol.SendRequest{ConversationID: conv, Text: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// seqRange is from..to.
func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// A cursor ahead of the conversation's last seq (a client that saw
// messages a restored backup does not have) is reset to the last seq the
// server has, and every message sent afterwards reaches the client: live,
// in order, none dropped below the cursor it came with, including the ones
// sent while the sync ran; a later sync on the same connection works.
func TestSyncCursorAheadIsReset(t *testing.T) {
	const during, later = 100, 5
	s := newStack(t, unlimited, chat.Config{})
	alice, _ := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "ahead", "bob")
	sendN(t, alice, cv.ID, 3)

	w := newResetWatcher(cv.ID)
	bob := s.dial("bob", w.options())
	sent := make(chan error, 1)
	go func() { // others keep sending while bob syncs
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 0; i < during; i++ {
			if _, err := alice.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: "during"}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	replayed, reply, err := bob.Sync(ctxT(t), map[string]int64{cv.ID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	last := reply.Seqs[cv.ID]
	if !slices.Equal(reply.Reset, []string{cv.ID}) || last < 3 || last > 3+during || len(replayed) != 0 {
		t.Fatalf("reply %+v with %d replayed, want %s reset to a seq in 3..%d and nothing replayed", reply, len(replayed), cv.ID, 3+during)
	}
	if w.resets != 1 || w.lastSeq != last || bob.Cursors()[cv.ID] < last {
		t.Fatalf("OnReset %d times with %d, cursor %d; reply %+v", w.resets, w.lastSeq, bob.Cursors()[cv.ID], reply)
	}
	sendN(t, alice, cv.ID, later)
	want := seqRange(last+1, 3+during+later)
	eventually(t, 5*time.Second, "every message after the reset arrives", func() bool { return len(w.after()) >= len(want) })
	if got := w.after(); !slices.Equal(got, want) {
		t.Fatalf("after the reset to %d bob got %v, want %v", last, got, want)
	}
	// The next sync, with the cursor the connection now has, replays
	// nothing and resets nothing.
	cur := bob.Cursors()
	ms, reply, err := bob.SyncWith(ctxT(t), protocol.SyncRequest{Cursors: cur, CursorIDs: bob.CursorIDs()})
	if err != nil || len(ms) != 0 || len(reply.Reset) != 0 || reply.Seqs[cv.ID] != 3+during+later {
		t.Fatalf("second sync from %v: %d replayed, %+v, %v", cur, len(ms), reply, err)
	}
}

// A cursor whose seq the server has, but with another message at it
// (restored, then new messages took the seqs), is reset when the client
// names the message it holds there; the right id replays as before; and
// an old client that sends only the number keeps working.
func TestSyncCursorAtAnotherMessageIsReset(t *testing.T) {
	s := newStack(t, unlimited, chat.Config{})
	alice, _ := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "reused", "bob")
	ms := sendN(t, alice, cv.ID, 4)

	w := newResetWatcher(cv.ID)
	bob := s.dial("bob", w.options())
	replayed, reply, err := bob.SyncWith(ctxT(t), protocol.SyncRequest{
		Cursors: map[string]int64{cv.ID: 2}, CursorIDs: map[string]string{cv.ID: "msg_of_another_history"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reply.Reset, []string{cv.ID}) || reply.Seqs[cv.ID] != 4 || len(replayed) != 0 || w.lastSeq != 4 {
		t.Fatalf("reply %+v, %d replayed, OnReset(%d); want a reset to 4 and nothing replayed", reply, len(replayed), w.lastSeq)
	}
	sendN(t, alice, cv.ID, 2)
	eventually(t, 5*time.Second, "the messages after the reset arrive", func() bool { return len(w.after()) >= 2 })
	if got := w.after(); !slices.Equal(got, []int64{5, 6}) {
		t.Fatalf("after the reset bob got %v, want [5 6]", got)
	}
	if bob.Cursors()[cv.ID] != 6 || bob.CursorIDs()[cv.ID] != w.ids[6] {
		t.Fatalf("cursor %d %q, want 6 %q", bob.Cursors()[cv.ID], bob.CursorIDs()[cv.ID], w.ids[6])
	}

	// The id of the message the server has at the seq: a normal replay.
	bob2 := s.dial("bob", &client.Options{Resume: true})
	replayed, reply, err = bob2.SyncWith(ctxT(t), protocol.SyncRequest{
		Cursors: map[string]int64{cv.ID: 2}, CursorIDs: map[string]string{cv.ID: ms[1].ID}})
	if err != nil || len(reply.Reset) != 0 || reply.Reset == nil || len(replayed) != 4 || replayed[0].Seq != 3 || reply.Seqs[cv.ID] != 6 {
		t.Fatalf("sync with the right id: reply %+v, %d replayed, %v", reply, len(replayed), err)
	}
	// Only the number (an older client): replayed as before.
	bob3 := s.dial("bob", &client.Options{Resume: true})
	replayed, reply, err = bob3.Sync(ctxT(t), map[string]int64{cv.ID: 2})
	if err != nil || len(reply.Reset) != 0 || len(replayed) != 4 || reply.Seqs[cv.ID] != 6 {
		t.Fatalf("sync without ids: reply %+v, %d replayed, %v", reply, len(replayed), err)
	}
}

// cursor_ids that cannot name the message at a cursor are refused before
// anything is replayed.
func TestSyncCursorIDsRefused(t *testing.T) {
	s := newStack(t, unlimited, chat.Config{})
	alice, _ := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "bad ids", "bob")
	bob := s.dial("bob", nil)
	sendN(t, alice, cv.ID, 2)
	next(t, bob, protocol.EvMessage, 3*time.Second)
	next(t, bob, protocol.EvMessage, 3*time.Second)
	for _, req := range []protocol.SyncRequest{
		{Cursors: map[string]int64{cv.ID: 0}, CursorIDs: map[string]string{cv.ID: "msg_x"}},
		{Cursors: map[string]int64{cv.ID: 1}, CursorIDs: map[string]string{"cnv_other": "msg_x"}},
		{Cursors: map[string]int64{cv.ID: 1}, CursorIDs: map[string]string{cv.ID: ""}},
	} {
		_, _, err := bob.SyncWith(ctxT(t), req)
		asError(t, err, "bad_request")
	}
	none(t, bob, protocol.EvMessage, 100*time.Millisecond)
}

// A session resumes a conversation that missed more than one sync's worth
// (truncated: it syncs again) even when its cursors also name a
// conversation its user has left (refused: dropped, the others resumed),
// and then gets live messages.
func TestSessionResumesPastTruncatedAndRefused(t *testing.T) {
	s := newStack(t, unlimited, chat.Config{SyncLimit: 10})
	alice, bob := s.dial("alice", nil), s.dial("bob", nil)
	kept := s.group(alice, "kept", "bob")
	left := s.group(alice, "left", "bob")
	if err := bob.Leave(ctxT(t), left.ID); err != nil {
		t.Fatal(err)
	}
	sendN(t, alice, kept.ID, 25)

	w := newResetWatcher(kept.ID)
	sess := client.NewSession(s.url, func(context.Context) (string, error) { return s.token("bob"), nil },
		client.SessionOptions{MinBackoff: 20 * time.Millisecond, OnEvent: w.event,
			Cursors: map[string]int64{kept.ID: 0, left.ID: 0}})
	defer sess.Close()
	eventually(t, 5*time.Second, "the session resumed", func() bool { return sess.Conn() != nil })
	sendN(t, alice, kept.ID, 1)
	eventually(t, 5*time.Second, "26 messages", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.seqs) >= 26 })
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Equal(w.seqs, seqRange(1, 26)) {
		t.Fatalf("the session got %v, want 1..26", w.seqs)
	}
	if sess.Connects() != 1 {
		t.Fatalf("%d connections, want 1 (last error %v)", sess.Connects(), sess.Err())
	}
}
