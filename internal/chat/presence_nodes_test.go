package chat_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/rediscluster"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/protocol"
)

// nodes is two chat services on one store and one bus, each with its own
// rediscluster.Node on one Redis prefix: two parley nodes but for the
// WebSocket endpoint. The nodes heartbeat and sweep only when told, on a
// clock the test moves.
type nodes struct {
	*world
	a, b   *chat.Service // a is world.svc
	na, nb *rediscluster.Node
	now    atomic.Int64 // the nodes' clock, unix ns
}

func newNodes(t *testing.T) *nodes {
	t.Helper()
	n := &nodes{}
	n.now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	prefix := redistest.Prefix(t)
	var svcA, svcB atomic.Pointer[chat.Service]
	node := func(id string, svc *atomic.Pointer[chat.Service]) *rediscluster.Node {
		nd, err := rediscluster.New(context.Background(), redistest.Client(t), rediscluster.Config{
			NodeID: id, Prefix: prefix, Interval: -1,
			Now:      func() time.Time { return time.Unix(0, n.now.Load()) },
			OnChange: func(c cluster.Conn, online bool) { svc.Load().PresenceChanged(c, online) },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		return nd
	}
	n.na, n.nb = node("a", &svcA), node("b", &svcB)
	n.world = newWorld(t, chat.Config{Presence: n.na})
	n.a, n.b = n.svc, chat.New(n.st, n.bus, nil, chat.Config{Presence: n.nb})
	t.Cleanup(n.b.Close)
	svcA.Store(n.a)
	svcB.Store(n.b)
	return n
}

// expire moves the clock past the TTL and lets node b sweep: node a, which
// never heartbeats here, is dead.
func (n *nodes) expireA(t *testing.T) {
	t.Helper()
	n.now.Add(int64(16 * time.Second))
	if err := n.nb.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// direct makes alice and bob and their direct conversation, whose events
// rec records.
func (w *world) direct(t *testing.T) (alice, bob auth.Identity, rec *recorder) {
	t.Helper()
	alice = w.user(w.acc, "alice", protocol.RoleMember)
	bob = w.user(w.acc, "bob", protocol.RoleMember)
	d, err := w.svc.CreateConversation(context.Background(), alice, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob, w.listen("c:" + d.ID)
}

// statusOf is u's presence as asker sees it through svc.
func statusOf(t *testing.T, svc *chat.Service, asker, u auth.Identity) protocol.Presence {
	t.Helper()
	ps, err := svc.Presence(context.Background(), asker, []string{u.UserID})
	if err != nil {
		t.Fatal(err)
	}
	return ps[0]
}

// statuses decodes the user_status events a recorder heard, after both
// nodes published what they had queued.
func (n *nodes) statuses(r *recorder) []string {
	n.b.Flush()
	var out []string
	for _, ev := range r.named(protocol.EvUserStatus) {
		var p protocol.Presence
		json.Unmarshal(ev.Data, &p)
		out = append(out, p.Status)
	}
	return out
}

// eventually polls cond (announcements of a sweep are made on a
// goroutine of their own).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A user connected to both nodes is online once (one announcement, one of
// connected_users) and goes offline only when the last connection
// anywhere closes, whichever node it was on.
func TestPresenceCountsEveryNode(t *testing.T) {
	n := newNodes(t)
	ctx := context.Background()
	alice, bob, rec := n.direct(t)
	mustConnect(t, n.a, alice, "con_a")
	mustConnect(t, n.b, alice, "con_b")
	for _, svc := range []*chat.Service{n.a, n.b} {
		if p := statusOf(t, svc, bob, alice); p.Status != protocol.StatusOnline {
			t.Fatalf("connected to both nodes: %+v", p)
		}
		if u := svc.OnlineUsers(ctx, n.acc); u != 1 {
			t.Fatalf("connected_users = %d, want 1", u)
		}
	}
	if got := n.statuses(rec); len(got) != 1 || got[0] != protocol.StatusOnline {
		t.Fatalf("announced %v, want [online] once", got)
	}
	n.a.Disconnected(ctx, alice, "con_a")
	if p := statusOf(t, n.a, bob, alice); p.Status != protocol.StatusOnline {
		t.Fatalf("still connected to node b, node a says %+v", p)
	}
	n.b.Disconnected(ctx, alice, "con_b")
	n.b.Flush() // last_seen is stamped in the background
	if p := statusOf(t, n.a, bob, alice); p.Status != protocol.StatusOffline || p.LastSeen == nil {
		t.Fatalf("after the last connection, node a says %+v", p)
	}
	if got := n.statuses(rec); len(got) != 2 || got[1] != protocol.StatusOffline {
		t.Fatalf("announced %v, want [online offline]", got)
	}
	if on, err := n.b.Online(ctx, alice.UserID, bob.UserID); err != nil || on[0] || on[1] {
		t.Fatalf("Online = %v, %v", on, err)
	}
}

// A node that dies takes its users offline everywhere, announced, with
// last_seen stamped: one that leaves (Close, without unregistering its
// connections), and one that stops heartbeating and is swept by the other
// once its TTL has passed.
func TestDeadNodeTakesItsUsersOffline(t *testing.T) {
	for _, how := range []string{"closed", "expired"} {
		t.Run(how, func(t *testing.T) {
			n := newNodes(t)
			ctx := context.Background()
			alice, bob, rec := n.direct(t)
			mustConnect(t, n.a, alice, "con_a")
			mustConnect(t, n.b, bob, "con_b")
			// Both "online"s are announced by the nodes' announcers: bob's,
			// heard on the same conversation, must not come after alice's
			// "offline" (a closing app drains its announcer first too).
			n.a.Flush()
			n.b.Flush()
			if how == "closed" {
				n.na.Close()
			} else {
				n.expireA(t)
			}
			eventually(t, "alice announced offline", func() bool {
				got := n.statuses(rec)
				return len(got) > 0 && got[len(got)-1] == protocol.StatusOffline
			})
			if p := statusOf(t, n.b, bob, alice); p.Status != protocol.StatusOffline || p.LastSeen == nil {
				t.Fatalf("alice's node is gone, node b says %+v", p)
			}
			if p := statusOf(t, n.b, alice, bob); p.Status != protocol.StatusOnline {
				t.Fatalf("bob's node lives, it says %+v", p)
			}
			if u := n.b.OnlineUsers(ctx, n.acc); u != 1 {
				t.Fatalf("connected_users = %d, want 1 (bob)", u)
			}
		})
	}
}

// The inbox status counts staff connected to any node, is announced by
// the node where it changed, and a node judges "changed" against what any
// node last announced: an agent coming back on node b after node a
// announced "offline" is announced again (node b's own last word was
// "online"). A dead node's agents make it offline too.
func TestInboxStatusAcrossNodes(t *testing.T) {
	n := newNodes(t)
	ctx := context.Background()
	ann := n.user(n.acc, "ann", protocol.RoleAgent)
	abe := n.user(n.acc, "abe", protocol.RoleAgent)
	rec := n.listen("iv:" + n.acc) // what the account's visitors hear
	last := func() string {
		n.b.Flush()
		evs := rec.named(protocol.EvInboxStatus)
		if len(evs) == 0 {
			return ""
		}
		var s protocol.InboxStatus
		json.Unmarshal(evs[len(evs)-1].Data, &s)
		return s.Status
	}
	status := func(svc *chat.Service) string {
		s, err := svc.InboxStatus(ctx, n.acc)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	step := func(what, want string) {
		t.Helper()
		if got := last(); got != want {
			t.Fatalf("%s: visitors last heard %q, want %q", what, got, want)
		}
		if got := status(n.b); got != want {
			t.Fatalf("%s: node b computes %q, want %q", what, got, want)
		}
	}
	if last() != "" || status(n.b) != protocol.StatusOffline {
		t.Fatalf("nobody connected: heard %q, computed %q", last(), status(n.b))
	}
	mustConnect(t, n.a, ann, "con_ann")
	step("ann on node a", protocol.StatusOnline)
	mustConnect(t, n.b, abe, "con_abe")
	n.b.Disconnected(ctx, abe, "con_abe")
	step("abe came and went on node b", protocol.StatusOnline)
	n.a.Disconnected(ctx, ann, "con_ann")
	step("ann left node a", protocol.StatusOffline)
	mustConnect(t, n.b, abe, "con_abe2")
	step("abe back on node b", protocol.StatusOnline)
	mustConnect(t, n.a, ann, "con_ann2")
	n.b.Disconnected(ctx, abe, "con_abe2")
	step("only ann, on node a", protocol.StatusOnline)
	n.expireA(t)
	eventually(t, "the inbox announced offline after node a died", func() bool { return last() == protocol.StatusOffline })
	if got := status(n.b); got != protocol.StatusOffline {
		t.Fatalf("node a dead: node b computes %q", got)
	}
}

// Typing is tracked on the typing user's node and crosses to the others
// on the bus: over Redis, node b's subscribers hear node a's typing start
// and stop, without the typist's own devices (SkipUser crosses too).
func TestTypingReachesOtherNodes(t *testing.T) {
	w := newWorld(t, chat.Config{})
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	busOf := func() *redisbus.Bus {
		b, err := redisbus.New(ctx, redistest.Client(t), redisbus.Config{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	busA, busB := busOf(), busOf()
	a := chat.New(w.st, busA, nil, chat.Config{})
	t.Cleanup(a.Close)
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	w.user(w.acc, "bob", protocol.RoleMember)
	g, err := a.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "g", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan bus.Event, 4)
	defer busB.Subscribe("c:"+g.ID, func(_ string, ev bus.Event) {
		if ev.Name == protocol.EvTyping {
			got <- ev
		}
	})()
	for _, typing := range []bool{true, false} {
		if err := a.Typing(ctx, alice, protocol.TypingRequest{ConversationID: g.ID, IsTyping: typing}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-got:
			var ty protocol.Typing
			json.Unmarshal(ev.Data, &ty)
			if ty.IsTyping != typing || ty.SenderID != alice.UserID || ev.SkipUser != alice.UserID {
				t.Fatalf("node b heard %+v (skip %q), want is_typing %v from alice", ty, ev.SkipUser, typing)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("node b never heard is_typing %v", typing)
		}
	}
}

// cutProxy forwards TCP to addr until cut, which drops every connection
// and refuses new ones until restore: a Redis that stops answering and
// comes back.
type cutProxy struct {
	ln    net.Listener
	addr  string
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newCutProxy(t *testing.T, addr string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, addr: addr}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); p.cut(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			p.mu.Lock()
			if err != nil || p.down {
				p.mu.Unlock()
				c.Close()
				if up != nil {
					up.Close()
				}
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// An unregister Redis does not answer is not lost: the user stays
// counted (online) while Redis is away, and goes offline, announced, once
// it answers again.
func TestUnregisterRetriedUntilRedisAnswers(t *testing.T) {
	opt := redistest.Options(t)
	proxy := newCutProxy(t, opt.Addr)
	opt.Addr = proxy.ln.Addr().String()
	opt.MaxRetries = -1
	prefix := redistest.Prefix(t)
	na, err := rediscluster.New(context.Background(), redistest.ClientWith(t, opt), rediscluster.Config{NodeID: "a", Prefix: prefix, Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { na.Close() })
	nb, err := rediscluster.New(context.Background(), redistest.Client(t), rediscluster.Config{NodeID: "b", Prefix: prefix, Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close() })
	w := newWorld(t, chat.Config{Presence: na})
	alice, _, rec := w.direct(t)
	mustConnect(t, w.svc, alice, "con_1")
	w.svc.Flush() // online announced (in the background) before Redis goes
	proxy.cut()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	w.svc.Disconnected(ctx, alice, "con_1")
	cancel()
	if n, err := nb.Connections(context.Background(), alice.UserID); err != nil || n[0] != 1 {
		t.Fatalf("Redis away: alice's connections %v (%v), want still 1", n, err)
	}
	proxy.restore()
	eventually(t, "alice unregistered and announced offline", func() bool {
		n, err := nb.Connections(context.Background(), alice.UserID)
		if err != nil || n[0] != 0 {
			return false
		}
		w.svc.Flush()
		st := rec.named(protocol.EvUserStatus)
		return len(st) == 2
	})
}
