package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the backup is taken as an operator would, with SQLite

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/protocol"
)

// view is what a client application holds of one conversation: the id of
// the message at each seq, kept from a client.Session's events, and
// reloaded (dropped, then the newest page fetched) when the server resets it.
type view struct {
	t       *testing.T
	conv    string
	mu      sync.Mutex
	bySeq   map[int64]string
	last    protocol.Message // the newest message seen, for the cursor
	resets  int
	reloads sync.WaitGroup
}

func newView(t *testing.T, conv string) *view {
	return &view{t: t, conv: conv, bySeq: map[int64]string{}}
}

func (v *view) event(ev protocol.Envelope) {
	if ev.Event != protocol.EvMessage {
		return
	}
	var m protocol.Message
	json.Unmarshal(ev.Data, &m)
	if m.ConversationID == v.conv {
		v.add(m)
	}
}

func (v *view) add(m protocol.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.bySeq[m.Seq] = m.ID
	if m.Seq >= v.last.Seq {
		v.last = m
	}
}

func (v *view) reset(c *client.Conn, conv string, lastSeq int64) {
	if conv != v.conv {
		return
	}
	v.mu.Lock()
	v.bySeq = map[int64]string{}
	v.last = protocol.Message{}
	v.resets++
	v.mu.Unlock()
	v.reloads.Add(1)
	go func() { // not on the read goroutine, which reads the reply
		defer v.reloads.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for before := int64(0); ; {
			h, err := c.History(ctx, protocol.HistoryRequest{ConversationID: conv, Before: before, Limit: 100})
			if err != nil {
				v.t.Errorf("reload %s: %v", conv, err)
				return
			}
			for _, m := range h.Messages {
				v.add(m)
			}
			if !h.HasMore || len(h.Messages) == 0 {
				return
			}
			before = h.Messages[0].Seq
		}
	}()
}

func (v *view) snapshot() (map[int64]string, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.bySeq), v.resets
}

func (v *view) session(t *testing.T, wsURL, tok string) *client.Session {
	v.mu.Lock()
	opt := client.SessionOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		OnEvent: v.event, OnReset: v.reset}
	if v.last.Seq > 0 { // cursors an application would have kept
		opt.Cursors = map[string]int64{v.conv: v.last.Seq}
		opt.CursorIDs = map[string]string{v.conv: v.last.ID}
	}
	v.mu.Unlock()
	sess := client.NewSession(wsURL, func(context.Context) (string, error) { return tok, nil }, opt)
	t.Cleanup(sess.Close)
	return sess
}

// serverHistory is the id at each seq of the conversation, as the server has it.
func serverHistory(t *testing.T, c *client.Conn, conv string) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for after := int64(0); ; {
		h, err := c.History(context.Background(), protocol.HistoryRequest{ConversationID: conv, After: &after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			out[m.Seq] = m.ID
			after = m.Seq
		}
		if !h.HasMore || len(h.Messages) == 0 {
			return out
		}
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRestoreUnderConnectedClients does the restore of docs/operations.md
// with clients connected: a backup, more messages, the server stopped,
// the backup put back, the server started again on the same address. Bob
// stayed connected (his session reconnects with a cursor ahead of what the
// server has); Carol was offline and comes back after new messages took the
// seqs she had seen. Both end with exactly the server's history and get
// every message sent after the restore.
func TestRestoreUnderConnectedClients(t *testing.T) {
	dir := t.TempDir()
	acc, _ := account(t, dir, "restore")
	aliceTok := token(t, dir, acc, "alice", "member")
	bobTok := token(t, dir, acc, "bob", "member")
	carolTok := token(t, dir, acc, "carol", "member")
	s := startAt(t, dir, freeAddr(t))
	dial(t, s, bobTok) // users exist once their token has been used
	dial(t, s, carolTok)
	alice := dial(t, s, aliceTok)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conv, err := alice.Create(ctx, protocol.CreateConversationRequest{Kind: "group", Name: "restored", Members: []string{"bob", "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(c *client.Conn, n int, what string) []protocol.Message {
		t.Helper()
		var out []protocol.Message
		for i := 0; i < n; i++ {
			m, err := c.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: fmt.Sprintf("%s %d", what, i)})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	first := send(alice, 5, "before the backup")

	// Bob and Carol have loaded the conversation and hold a session each.
	bob, carol := newView(t, conv.ID), newView(t, conv.ID)
	for _, m := range first {
		bob.add(m)
		carol.add(m)
	}
	bobSess := bob.session(t, s.wsURL(), bobTok)
	carolSess := carol.session(t, s.wsURL(), carolTok)
	waitUntil(t, "both sessions connected", func() bool { return bobSess.Conn() != nil && carolSess.Conn() != nil })

	// The backup, taken while Parley runs.
	backup := filepath.Join(t.TempDir(), "parley.db")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "parley.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("VACUUM INTO ?", backup); err != nil {
		t.Fatal(err)
	}
	db.Close()

	send(alice, 5, "after the backup") // seqs 6..10, lost by the restore
	for _, v := range []*view{bob, carol} {
		waitUntil(t, "seq 10 seen", func() bool { m, _ := v.snapshot(); return len(m) == 10 })
	}
	carolSess.Close() // carol goes offline and keeps her cursor (10)

	// The restore: stop, put the backup back, start again on the same address.
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	if err := copyFile(backup, filepath.Join(dir, "parley.db")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"parley.db-wal", "parley.db-shm"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	s2 := startAt(t, dir, s.addr)
	alice2 := dial(t, s2, aliceTok)

	// Bob's session comes back by itself with cursor 10 and is reset to 5.
	waitUntil(t, "bob reconnected", func() bool { return bobSess.Connects() >= 2 && bobSess.Conn() != nil })
	send(alice2, 7, "after the restore") // seqs 6..12 again, other messages
	want := serverHistory(t, alice2, conv.ID)
	if len(want) != 12 {
		t.Fatalf("the server has %d messages after the restore, want 12", len(want))
	}
	waitUntil(t, "bob holds the server's history", func() bool { m, _ := bob.snapshot(); return maps.Equal(m, want) })

	// Carol comes back with cursor 10, a seq the server has again.
	carolSess = carol.session(t, s2.wsURL(), carolTok)
	waitUntil(t, "carol connected", func() bool { return carolSess.Conn() != nil })
	send(alice2, 1, "carol is back")
	want = serverHistory(t, alice2, conv.ID)
	for name, v := range map[string]*view{"bob": bob, "carol": carol} {
		waitUntil(t, name+" holds the server's history", func() bool { m, _ := v.snapshot(); return maps.Equal(m, want) })
		v.reloads.Wait()
		got, resets := v.snapshot()
		if !maps.Equal(got, want) || resets != 1 {
			t.Fatalf("%s holds %v after %d resets, the server %v", name, slices.Sorted(maps.Keys(got)), resets, slices.Sorted(maps.Keys(want)))
		}
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
