package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	ids    []string   // each node's node_id, its Redis client name
	args   [][]string // each node's flags after startAt's own, for restart
	acc    string
}

// clusterOptions change what newClusterWith starts.
type clusterOptions struct {
	// redisURL is the Redis of the nodes (default: the shared test Redis,
	// redistest.URL); a test that restarts Redis passes a private one.
	redisURL string
	// extra returns more flags for node i (nil: none).
	extra func(i int) []string
}

// newCluster starts n nodes on a database of the test's own and the shared
// test Redis under a prefix of the test's own.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return newClusterWith(t, n, clusterOptions{})
}

func newClusterWith(t *testing.T, n int, opt clusterOptions) *cluster {
	t.Helper()
	if opt.redisURL == "" {
		opt.redisURL = redistest.URL()
		redistest.Client(t) // fails, saying how to start it, when Redis is not there
	}
	c := &cluster{t: t, shared: []string{"--database-url", pgtest.Database(t),
		"--redis-url", opt.redisURL, "--redis-prefix", redistest.Prefix(t)}}
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
		args := append([]string{"--node-id", c.ids[i],
			// Budgets are not what this test is about: room for a few hundred messages at once.
			"--messages-per-second", "100000", "--messages-burst", "100000",
			"--account-budget-per-second", "100000", "--account-budget-burst", "100000"}, c.shared...)
		if opt.extra != nil {
			args = append(args, opt.extra(i)...)
		}
		c.args = append(c.args, args)
		c.nodes = append(c.nodes, start(t, t.TempDir(), args...))
	}
	return c
}

// kill ends node i with SIGKILL, as a crash or a lost machine would, and
// waits until the process is gone (its sockets closed by the kernel).
func (c *cluster) kill(i int) {
	c.t.Helper()
	s := c.nodes[i]
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("killing node %d: %v", i, err)
	}
	<-s.exited
}

// restart starts node i again on its address, data directory and flags
// (after kill, or after it exited).
func (c *cluster) restart(i int) {
	c.t.Helper()
	s := c.nodes[i]
	select {
	case <-s.exited:
	default:
		c.t.Fatalf("restart of node %d, which is still running", i)
	}
	c.nodes[i] = startAt(c.t, s.dataDir, s.addr, c.args[i]...)
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

// TestThreeNodesOneConversation runs three parley processes on one
// PostgreSQL database and one Redis: what Alice sends on node A reaches Bob
// on node B and Dave on node C in order, every message once; Carol, who
// leaves node A, resumes on node B with chat:sync and gets exactly what she
// missed, once.
func TestThreeNodesOneConversation(t *testing.T) {
	c := newCluster(t, 3)
	a, b := c.nodes[0], c.nodes[1]
	alice := listen(t, a, c.token("alice"))
	bob := listen(t, b, c.token("bob"))
	dave := listen(t, c.nodes[2], c.token("dave"))
	carol := listen(t, a, c.token("carol"))
	conv, err := alice.Create(context.Background(), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "nodes", Members: []string{"bob", "carol", "dave"}})
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
	for name, on := range map[string]*client.Conn{"bob on node B": bob, "dave on node C": dave} {
		for i := range n {
			m := nextMessage(t, on, conv.ID)
			if m.ID != sent[i].ID || m.Seq != int64(i+1) {
				t.Fatalf("%s: message %d is seq %d %q, want seq %d %q", name, i, m.Seq, m.Text, i+1, sent[i].Text)
			}
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

// failover forwards one client's TCP connections as a load balancer would
// for it: each to the first of its backends that accepts, in the client's
// order of preference (its home node first), so a client whose node died
// comes back through another one.
type failover struct {
	ln       net.Listener
	backends []string // host:port
	mu       sync.Mutex
	current  int // index in backends of the latest connection
	open     map[net.Conn]struct{}
}

func newFailover(t *testing.T, backends ...string) *failover {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &failover{ln: ln, backends: backends, current: -1, open: map[net.Conn]struct{}{}}
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for c := range f.open {
			c.Close()
		}
		f.mu.Unlock()
	})
	return f
}

func (f *failover) wsURL() string { return "ws://" + f.ln.Addr().String() + "/ws" }

// backend is the index of the backend the latest connection went to.
func (f *failover) backend() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

func (f *failover) serve() {
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.forward(in)
	}
}

func (f *failover) forward(in net.Conn) {
	for i, b := range f.backends {
		out, err := net.DialTimeout("tcp", b, time.Second)
		if err != nil {
			continue // refused: that node is down
		}
		f.mu.Lock()
		f.current = i
		f.open[in], f.open[out] = struct{}{}, struct{}{}
		f.mu.Unlock()
		done := make(chan struct{}, 2)
		go func() { io.Copy(out, in); done <- struct{}{} }()
		go func() { io.Copy(in, out); done <- struct{}{} }()
		<-done // either side ended: end both, as a proxy does
		in.Close()
		out.Close()
		<-done
		f.mu.Lock()
		delete(f.open, in)
		delete(f.open, out)
		f.mu.Unlock()
		return
	}
	in.Close()
}

// loadClient is one user of a load test: a client.Session that keeps what
// it receives of every conversation, and sends into one of them with an
// idempotency key per message, resending each until it is acknowledged.
type loadClient struct {
	t    *testing.T
	name string
	tok  string
	home int // the node it starts on
	sess *client.Session

	mu       sync.Mutex
	bySeq    map[string]map[int64]string // conversation → seq → message id
	times    map[string]int              // message id → times received
	connects []time.Time                 // when each connection was up and synced
	closes   []int                       // close codes of the connections that ended
	acked    []protocol.Message          // acknowledged sends, in order
}

func newLoadClient(t *testing.T, name string, home int, wsURL, tok string, convs []string) *loadClient {
	lc := &loadClient{t: t, name: name, tok: tok, home: home, bySeq: map[string]map[int64]string{}, times: map[string]int{}}
	cursors := map[string]int64{}
	for _, conv := range convs {
		cursors[conv] = 0
		lc.bySeq[conv] = map[int64]string{}
	}
	lc.sess = client.NewSession(wsURL, func(context.Context) (string, error) { return tok, nil }, client.SessionOptions{
		Cursors: cursors, OnEvent: lc.event, OnConnect: lc.connected,
		// The SDK's default backoff: what the reconnect figures are about.
		Dial: client.Options{NetDial: wiretest.Tap(t)},
	})
	t.Cleanup(lc.sess.Close)
	return lc
}

func (lc *loadClient) event(ev protocol.Envelope) {
	if ev.Event != protocol.EvMessage {
		return
	}
	var m protocol.Message
	json.Unmarshal(ev.Data, &m)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if seqs := lc.bySeq[m.ConversationID]; seqs != nil {
		seqs[m.Seq] = m.ID
		lc.times[m.ID]++
	}
}

func (lc *loadClient) connected(c *client.Conn) {
	lc.mu.Lock()
	lc.connects = append(lc.connects, time.Now())
	lc.mu.Unlock()
	go func() {
		<-c.Done()
		lc.mu.Lock()
		lc.closes = append(lc.closes, c.CloseCode())
		lc.mu.Unlock()
	}()
}

func (lc *loadClient) connectedAt() []time.Time {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return slices.Clone(lc.connects)
}

func (lc *loadClient) closeCodes() []int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return slices.Clone(lc.closes)
}

func (lc *loadClient) ackCount() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return len(lc.acked)
}

// send sends into conv until stop is closed, each message resent with its
// client id until acknowledged (on whichever connection is up). The
// message in hand when stop closes is still seen through.
func (lc *loadClient) send(conv string, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		req := protocol.SendRequest{ConversationID: conv, ClientID: fmt.Sprintf("%s-%d", lc.name, i), Text: fmt.Sprintf("%s %d", lc.name, i)}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if time.Now().After(deadline) {
				lc.t.Errorf("%s: %s not acknowledged within 30 s (last end: %v)", lc.name, req.ClientID, lc.sess.Err())
				return
			}
			c := lc.sess.Conn()
			if c == nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m, err := c.Send(ctx, req)
			cancel()
			if err != nil {
				time.Sleep(10 * time.Millisecond) // the connection is going, or a node is busy: again
				continue
			}
			lc.mu.Lock()
			lc.acked = append(lc.acked, m)
			lc.mu.Unlock()
			break
		}
		time.Sleep(5 * time.Millisecond) // continuous, not flat out: the race detector shares 2 cores
	}
}

// history is every message of conv as the server has it, in seq order.
func history(t *testing.T, c *client.Conn, conv string) []protocol.Message {
	t.Helper()
	var out []protocol.Message
	for after := int64(0); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		h, err := c.History(ctx, protocol.HistoryRequest{ConversationID: conv, After: &after, Limit: 100})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Messages...)
		if len(h.Messages) > 0 {
			after = h.Messages[len(h.Messages)-1].Seq
		}
		if !h.HasMore || len(h.Messages) == 0 {
			return out
		}
	}
}

// loadTest is clients spread over a cluster's nodes, each sending into a
// group of its own of which every client is a member.
type loadTest struct {
	t       *testing.T
	c       *cluster
	convs   []string
	clients []*loadClient
	stop    chan struct{}
	senders sync.WaitGroup
}

// startLoad connects perNode clients to each node (through url(i, node)),
// creates one group per client with every client in it, and starts sending.
func startLoad(t *testing.T, c *cluster, perNode int, url func(i, node int) string) *loadTest {
	t.Helper()
	lt := &loadTest{t: t, c: c, stop: make(chan struct{})}
	n := perNode * len(c.nodes)
	names := make([]string, n)
	toks := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("user%d", i)
		toks[i] = c.token(names[i])
		listen(t, c.nodes[0], toks[i]).Close() // the user exists before it is added
	}
	owner := listen(t, c.nodes[0], toks[0])
	for i := range n {
		conv, err := owner.Create(context.Background(), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: names[i], Members: names[1:]})
		if err != nil {
			t.Fatal(err)
		}
		lt.convs = append(lt.convs, conv.ID)
	}
	owner.Close()
	for i := range n {
		home := i % len(c.nodes)
		lt.clients = append(lt.clients, newLoadClient(t, names[i], home, url(i, home), toks[i], lt.convs))
	}
	waitUntil(t, "every client connects", func() bool {
		for _, lc := range lt.clients {
			if lc.sess.Connects() == 0 {
				return false
			}
		}
		return true
	})
	t.Cleanup(lt.halt)
	return lt
}

// sendFrom starts the clients that ok picks sending into their groups.
func (lt *loadTest) sendFrom(ok func(*loadClient) bool) {
	for i, lc := range lt.clients {
		if ok(lc) {
			lt.senders.Add(1)
			go func() { defer lt.senders.Done(); lc.send(lt.convs[i], lt.stop) }()
		}
	}
}

func (lt *loadTest) halt() {
	select {
	case <-lt.stop:
	default:
		close(lt.stop)
	}
	lt.senders.Wait()
}

// acks is each client's count of acknowledged sends.
func (lt *loadTest) acks() map[*loadClient]int {
	out := map[*loadClient]int{}
	for _, lc := range lt.clients {
		out[lc] = lc.ackCount()
	}
	return out
}

// waitAcks waits until each client ok picks has had n more sends
// acknowledged than in since.
func (lt *loadTest) waitAcks(what string, since map[*loadClient]int, n int, ok func(*loadClient) bool) {
	lt.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, lc := range lt.clients {
		for ok(lc) && lc.ackCount() < since[lc]+n {
			if time.Now().After(deadline) {
				lt.t.Fatalf("%s: %s has %d acknowledged sends within 60 s, want %d (last end: %v)", what, lc.name, lc.ackCount()-since[lc], n, lc.sess.Err())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func everyone(*loadClient) bool { return true }

// check stops the senders and holds the store (read through node) and
// every client to what was acknowledged: each acknowledged message is in
// the store's history at its seq, once (no two messages share a client id,
// seqs have no gap), and every client ends with exactly that history, each
// message received once.
func (lt *loadTest) check(node int) {
	t := lt.t
	t.Helper()
	lt.halt()
	reader := listen(t, lt.c.nodes[node], lt.clients[0].tok)
	stored := map[string][]protocol.Message{}
	total, acked := 0, 0
	for i, conv := range lt.convs {
		h := history(t, reader, conv)
		stored[conv] = h
		byClientID := map[string]protocol.Message{}
		for j, m := range h {
			if m.Seq != int64(j+1) {
				t.Fatalf("%s's group: seq %d at position %d of the history (a gap)", lt.clients[i].name, m.Seq, j)
			}
			if m.ClientID == "" {
				continue
			}
			if prev, dup := byClientID[m.ClientID]; dup {
				t.Fatalf("%s stored twice: seq %d and %d", m.ClientID, prev.Seq, m.Seq)
			}
			byClientID[m.ClientID] = m
		}
		lc := lt.clients[i]
		lc.mu.Lock()
		for _, a := range lc.acked {
			if got, ok := byClientID[a.ClientID]; !ok || got.ID != a.ID || got.Seq != a.Seq {
				t.Errorf("acknowledged %s (seq %d, %s) is stored as %+v (present %v)", a.ClientID, a.Seq, a.ID, got, ok)
			}
		}
		acked += len(lc.acked)
		lc.mu.Unlock()
		total += len(h)
	}
	// Every client converges on the store's history.
	for _, lc := range lt.clients {
		converged := func() bool {
			lc.mu.Lock()
			defer lc.mu.Unlock()
			for _, conv := range lt.convs {
				if len(lc.bySeq[conv]) != len(stored[conv]) {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(20 * time.Second)
		for !converged() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		lc.mu.Lock()
		for ci, conv := range lt.convs {
			h := stored[conv]
			for _, m := range h {
				if got := lc.bySeq[conv][m.Seq]; got != m.ID {
					t.Errorf("%s (home node %d): %s's group seq %d is %q, the store has %s (%q); it holds %d of %d",
						lc.name, lc.home, lt.clients[ci].name, m.Seq, got, m.ID, m.Text, len(lc.bySeq[conv]), len(h))
					break
				}
				if n := lc.times[m.ID]; n != 1 {
					t.Errorf("%s received %s (%q) %d times", lc.name, m.ID, m.Text, n)
				}
			}
			if len(lc.bySeq[conv]) > len(h) {
				t.Errorf("%s holds %d messages of %s's group, the store %d", lc.name, len(lc.bySeq[conv]), lt.clients[ci].name, len(h))
			}
		}
		lc.mu.Unlock()
	}
	t.Logf("%d messages stored, %d acknowledged, over %d groups of %d members", total, acked, len(lt.convs), len(lt.clients))
}

// TestSIGKILLOneNodeUnderLoad: nine clients, three on each of three nodes
// (each through a load balancer that prefers its node), sending with
// idempotency keys and resending until acknowledged. Node C is killed with
// SIGKILL: its clients come back through the others and send on, and every
// acknowledged message is in the store once and in every client's view
// once. The time from the kill to each of C's clients being connected and
// synced again is logged (BENCHMARKS.md); the issue promises 5 s.
//
// C's own clients send before the kill too: a message C commits and dies
// before publishing (acknowledged, or found by the resend's idempotency key
// through another node) reaches the other nodes' connections only because
// the hub fills a seq gap from the store (internal/transport/ws/order.go);
// without the fill this failed (seq 12 of the killed node's sender missing
// on all six surviving clients).
func TestSIGKILLOneNodeUnderLoad(t *testing.T) {
	c := newCluster(t, 3)
	const victim = 2
	lbs := map[int]*failover{}
	lt := startLoad(t, c, 3, func(i, home int) string {
		var order []string
		for k := range c.nodes {
			order = append(order, c.nodes[(home+k)%len(c.nodes)].addr)
		}
		lbs[i] = newFailover(t, order...)
		return lbs[i].wsURL()
	})
	onVictim := func(lc *loadClient) bool { return lc.home == victim }
	lt.sendFrom(everyone)
	lt.waitAcks("before the kill", lt.acks(), 10, everyone)

	before := lt.acks()
	killedAt := time.Now()
	c.kill(victim)

	var back []time.Duration
	for i, lc := range lt.clients {
		if !onVictim(lc) {
			continue
		}
		waitUntil(t, lc.name+" is back through another node", func() bool { return len(lc.connectedAt()) >= 2 })
		if b := lbs[i].backend(); b == 0 {
			t.Fatalf("%s reconnected to its killed node", lc.name)
		}
		back = append(back, lc.connectedAt()[1].Sub(killedAt))
	}
	// Sending goes on through the survivors, the moved clients included.
	lt.waitAcks("after the kill", before, 10, everyone)
	lt.check(0)

	slices.Sort(back)
	t.Logf("SIGKILL → the killed node's %d clients connected and synced elsewhere: median %s, max %s",
		len(back), back[len(back)/2].Round(time.Millisecond), back[len(back)-1].Round(time.Millisecond))
	if worst := back[len(back)-1]; worst > 5*time.Second {
		t.Errorf("a client of the killed node took %s to come back; the promise is 5 s", worst)
	}
	for _, lc := range lt.clients {
		if !onVictim(lc) && len(lc.connectedAt()) != 1 {
			t.Errorf("%s, on a surviving node, connected %d times (closes %v)", lc.name, len(lc.connectedAt()), lc.closeCodes())
		}
	}
}

// redisServer is a redis-server of one test's own on a loopback port, so
// that it can be killed and started again without touching the Redis other
// tests share.
type redisServer struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func newRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: run scripts/deps-redis.sh (or `make deps`)")
	}
	r := &redisServer{t: t, addr: freeAddr(t)}
	r.start()
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

// start runs redis-server on r's address, without persistence: a restart
// comes back empty, as a Redis that lost its memory does.
func (r *redisServer) start() {
	r.t.Helper()
	host, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", host, "--port", port, "--save", "", "--appendonly", "no")
	r.cmd.Stdout = io.Discard
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(r.cmd, r.done)
	rc := goredis.NewClient(&goredis.Options{Addr: r.addr})
	defer rc.Close()
	waitUntil(r.t, "redis-server answers on "+r.addr, func() bool {
		return rc.Ping(context.Background()).Err() == nil
	})
}

// kill ends it with SIGKILL and waits until it is gone.
func (r *redisServer) kill() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// TestRedisRestartedUnderLoad: six clients, two on each of three nodes,
// send into groups of their own (every client a member of all) with
// idempotency keys, resending until acknowledged. The nodes' Redis is
// killed and started again, empty, a second later. Nothing acknowledged is
// lost or doubled: the nodes' buses report the gap, every connection is
// closed with 4009 and resumes from the store, and sends go on once Redis
// is back.
func TestRedisRestartedUnderLoad(t *testing.T) {
	r := newRedisServer(t)
	c := newClusterWith(t, 3, clusterOptions{redisURL: r.url()})
	lt := startLoad(t, c, 2, func(i, home int) string { return c.nodes[home].wsURL() })
	lt.sendFrom(everyone)
	lt.waitAcks("before Redis stops", lt.acks(), 10, everyone)

	r.kill()
	time.Sleep(time.Second) // the senders keep trying meanwhile
	r.start()
	restarted := lt.acks()
	lt.waitAcks("after Redis is back", restarted, 10, everyone)
	// The resync reached every client (the Gap reaches every topic of every
	// node; the hub closes each connection with 4009).
	waitUntil(t, "every client is closed with 4009 and connected again", func() bool {
		for _, lc := range lt.clients {
			if !slices.Contains(lc.closeCodes(), protocol.CloseResync) || len(lc.connectedAt()) < 2 {
				return false
			}
		}
		return true
	})
	lt.check(1)
	for i, s := range c.nodes {
		select {
		case <-s.exited:
			t.Errorf("node %d exited: %v", i, s.exitErr)
		default:
		}
	}
	for _, lc := range lt.clients {
		t.Logf("%s: %d connections, closes %v, %d acknowledged (%d after Redis came back)",
			lc.name, len(lc.connectedAt()), lc.closeCodes(), lc.ackCount(), lc.ackCount()-restarted[lc])
	}
}
