package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

// cluster is several parley processes on one PostgreSQL database and one
// Redis prefix, each with a data directory of its own.
type cluster struct {
	t      *testing.T
	shared []string // --database-url, --redis-url, --redis-prefix
	nodes  []*server
	ids    []string // each node's node_id, its Redis client name
	acc    string
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, shared: []string{"--database-url", pgtest.Database(t),
		"--redis-url", redistest.URL(), "--redis-prefix", redistest.Prefix(t)}}
	redistest.Client(t) // fails, saying how to start it, when Redis is not there
	// An operator migrates first (the nodes would also migrate on start).
	if out := parley(t, append([]string{"migrate", "--data-dir", t.TempDir()}, c.shared...)...); !strings.Contains(out, "PostgreSQL") {
		t.Fatalf("parley migrate on PostgreSQL printed %q", out)
	}
	out := parley(t, append([]string{"account", "create", "nodes", "--data-dir", t.TempDir()}, c.shared...)...)
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "account_id="); ok {
			c.acc = v
		}
	}
	if c.acc == "" {
		t.Fatalf("account create printed %q", out)
	}
	// One after the other: the first creates the secrets the others read.
	for i := range n {
		c.ids = append(c.ids, fmt.Sprintf("node%d-%s", i, rand.Text()[:6]))
		c.nodes = append(c.nodes, start(t, t.TempDir(), append([]string{"--node-id", c.ids[i],
			// Budgets are not what this test is about: room for a few hundred messages at once.
			"--messages-per-second", "100000", "--messages-burst", "100000",
			"--account-budget-per-second", "100000", "--account-budget-burst", "100000"}, c.shared...)...))
	}
	return c
}

// token mints a member's token from the shared database.
func (c *cluster) token(user string) string {
	c.t.Helper()
	return strings.TrimSpace(parley(c.t, append([]string{"token", "--account", c.acc, "--user", user, "--role", protocol.RoleMember,
		"--ttl", "1h", "--data-dir", c.t.TempDir()}, c.shared...)...))
}

// listen connects to s with tok and keeps the events (dial drops them).
func listen(t *testing.T, s *server, tok string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Every frame the server sends is checked against docs/protocol.json.
	c, err := client.Dial(ctx, s.wsURL(), tok, &client.Options{NetDial: wiretest.Tap(t), EventBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextMessage returns the next chat:message of conv on c, or fails.
func nextMessage(t *testing.T, c *client.Conn, conv string) protocol.Message {
	t.Helper()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection closed (code %d) while waiting for a message", c.CloseCode())
			}
			if ev.Event != protocol.EvMessage {
				continue
			}
			var m protocol.Message
			json.Unmarshal(ev.Data, &m)
			if m.ConversationID == conv {
				return m
			}
		case <-timer.C:
			t.Fatal("no message within 20 s")
		}
	}
}

// noMessage fails if a chat:message of conv arrives on c within d.
func noMessage(t *testing.T, c *client.Conn, conv string, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			if ev.Event == protocol.EvMessage && strings.Contains(string(ev.Data), conv) {
				t.Fatalf("unexpected message: %s", ev.Data)
			}
		case <-timer.C:
			return
		}
	}
}

// TestTwoNodesOneConversation runs two parley processes on one PostgreSQL
// database and one Redis: what Alice sends on node A reaches Bob on node B
// in order, every message once; Carol, who leaves node A, resumes on node
// B with chat:sync and gets exactly what she missed, once.
func TestTwoNodesOneConversation(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	alice := listen(t, a, c.token("alice"))
	bob := listen(t, b, c.token("bob"))
	carol := listen(t, a, c.token("carol"))
	conv, err := alice.Create(context.Background(), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "nodes", Members: []string{"bob", "carol"}})
	if err != nil {
		t.Fatal(err)
	}

	const n, missed = 300, 50
	send := func(text string) protocol.Message {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		m, err := alice.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: text})
		if err != nil {
			t.Fatalf("send %s: %v", text, err)
		}
		return m
	}
	sent := make([]protocol.Message, 0, n+missed+1)
	for i := range n {
		sent = append(sent, send(fmt.Sprintf("m%d", i)))
	}
	for i := range n {
		m := nextMessage(t, bob, conv.ID)
		if m.ID != sent[i].ID || m.Seq != int64(i+1) {
			t.Fatalf("bob on node B: message %d is seq %d %q, want seq %d %q", i, m.Seq, m.Text, i+1, sent[i].Text)
		}
	}
	for i := range n {
		if m := nextMessage(t, carol, conv.ID); m.ID != sent[i].ID {
			t.Fatalf("carol on node A: message %d is %q, want %q", i, m.Text, sent[i].Text)
		}
	}
	cursor := carol.Cursors()[conv.ID]
	if cursor != n {
		t.Fatalf("carol's cursor %d, want %d", cursor, n)
	}
	carol.Close()

	for i := range missed {
		sent = append(sent, send(fmt.Sprintf("missed%d", i)))
	}
	carol = listen(t, b, c.token("carol"))
	msgs, _, err := carol.Sync(context.Background(), map[string]int64{conv.ID: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != missed {
		t.Fatalf("carol resumed on node B with %d messages, want the %d she missed", len(msgs), missed)
	}
	for i, m := range msgs {
		if m.ID != sent[n+i].ID {
			t.Fatalf("resumed message %d is %q, want %q", i, m.Text, sent[n+i].Text)
		}
	}
	// The replay reached her events too: each missed message once, in
	// order; then live again, and nothing twice.
	for i := range missed {
		if m := nextMessage(t, carol, conv.ID); m.ID != sent[n+i].ID {
			t.Fatalf("replayed event %d is seq %d %q, want %q", i, m.Seq, m.Text, sent[n+i].Text)
		}
	}
	last := send("after")
	if m := nextMessage(t, carol, conv.ID); m.ID != last.ID {
		t.Fatalf("carol's first live message on node B is seq %d %q, want %q", m.Seq, m.Text, last.Text)
	}
	noMessage(t, carol, conv.ID, 300*time.Millisecond)
}

// TestNodeLosesRedisSubscription kills node B's Redis pub/sub connection
// (CLIENT KILL, as a network blip or a Redis failover would) while Alice
// sends on node A. Node B's bus reconnects and reports the gap; Bob's
// connection on B is closed with 4009 and his session resumes at once:
// he ends with every message exactly once.
func TestNodeLosesRedisSubscription(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	alice := listen(t, a, c.token("alice"))
	bobTok := c.token("bob")
	listen(t, b, bobTok).Close() // bob exists before he is added
	conv, err := alice.Create(context.Background(), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "blip", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	seen := map[string]int{} // message id → times bob got it
	v := newView(t, conv.ID)
	sess := client.NewSession(b.wsURL(), func(context.Context) (string, error) { return bobTok, nil }, client.SessionOptions{
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Cursors: map[string]int64{conv.ID: 0},
		OnEvent: func(ev protocol.Envelope) {
			if ev.Event == protocol.EvMessage {
				var m protocol.Message
				json.Unmarshal(ev.Data, &m)
				mu.Lock()
				seen[m.ID]++
				mu.Unlock()
			}
			v.event(ev)
		},
	})
	t.Cleanup(sess.Close)
	waitUntil(t, "bob's session connects", func() bool { return sess.Connects() == 1 })

	rc := redistest.Client(t)
	const n = 200
	var sent []protocol.Message
	for i := range n {
		if i == n/4 {
			killPubSub(t, rc, c.ids[1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		m, err := alice.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: fmt.Sprintf("m%d", i)})
		cancel()
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		sent = append(sent, m)
	}
	waitUntil(t, "bob has every message", func() bool {
		got, _ := v.snapshot()
		return len(got) == n
	})
	got, resets := v.snapshot()
	for i, m := range sent {
		if got[int64(i+1)] != m.ID {
			t.Fatalf("bob's seq %d is %s, want %s", i+1, got[int64(i+1)], m.ID)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range sent {
		if seen[m.ID] != 1 {
			t.Errorf("bob got %q %d times", m.Text, seen[m.ID])
		}
	}
	if resets != 0 {
		t.Errorf("%d resets", resets)
	}
	var ce *client.CloseError
	if sess.Connects() < 2 || !errors.As(sess.Err(), &ce) || ce.Code != protocol.CloseResync {
		t.Fatalf("bob's session: %d connections, last end %v; want a resync (4009) and a reconnect", sess.Connects(), sess.Err())
	}
}

// killPubSub closes the pub/sub connection of the node named name.
func killPubSub(t *testing.T, rc *goredis.Client, name string) {
	t.Helper()
	ctx := context.Background()
	list, err := rc.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if f["name"] != name || (f["ssub"] == "0" && f["sub"] == "0") {
			continue
		}
		if err := rc.Do(ctx, "CLIENT", "KILL", "ID", f["id"]).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no pub/sub connection named %s in CLIENT LIST:\n%s", name, list)
	}
}
