package rediscluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/clustertest"
	"github.com/parley-chat/parley/internal/cluster/rediscluster"
	"github.com/parley-chat/parley/internal/redistest"
)

var ctx = context.Background()

// node starts a node with its own client on prefix, closed when t ends.
func node(t *testing.T, prefix, id string, cfg rediscluster.Config) *rediscluster.Node {
	t.Helper()
	cfg.NodeID, cfg.Prefix = id, prefix
	n, err := rediscluster.New(ctx, redistest.Client(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func pair(t *testing.T) (a, b *rediscluster.Node) {
	p := redistest.Prefix(t)
	return node(t, p, "a", rediscluster.Config{}), node(t, p, "b", rediscluster.Config{})
}

func TestPresence(t *testing.T) {
	t.Parallel()
	clustertest.RunPresence(t, func(t *testing.T) (cluster.Presence, cluster.Presence) { return pair(t) })
}

func TestSlots(t *testing.T) {
	t.Parallel()
	clustertest.RunSlots(t, func(t *testing.T) (cluster.Slots, cluster.Slots) { return pair(t) })
}

func TestClaims(t *testing.T) {
	t.Parallel()
	clustertest.RunClaims(t, func(t *testing.T) (cluster.Claims, cluster.Claims) { return pair(t) })
}

// clock is a settable clock shared by the nodes of a test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// changes records what OnChange reports.
type changes struct {
	mu  sync.Mutex
	got []string
}

func (c *changes) on(conn cluster.Conn, online bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, fmt.Sprintf("%s/%s %v", conn.AccountID, conn.UserID, online))
}

func (c *changes) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func conns(t *testing.T, p cluster.Presence, users ...string) []int {
	t.Helper()
	n, err := p.Connections(ctx, users...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

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

// A node that stops heartbeating loses its users and its slots once its
// TTL has passed on the clock; the live node's stay. The clock is
// injected: "a minute" passes without the test waiting for it.
func TestDeadNodeExpires(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	clk := newClock()
	var seen changes
	const ttl = time.Minute
	// dead heartbeats once (when it joins) and never again: a crash.
	dead := node(t, p, "dead", rediscluster.Config{TTL: ttl, Interval: -1, Now: clk.now})
	live := node(t, p, "live", rediscluster.Config{TTL: ttl, Interval: 5 * time.Millisecond,
		Now: clk.now, OnChange: seen.on})

	reg := func(n *rediscluster.Node, user, id string) {
		if _, err := n.Register(ctx, cluster.Conn{AccountID: "A", UserID: user, ConnID: id}); err != nil {
			t.Fatal(err)
		}
	}
	reg(dead, "u1", "d1")
	reg(dead, "u3", "d3")
	reg(live, "u2", "l2")
	reg(live, "u3", "l3")
	for range 2 {
		if ok, err := dead.Acquire(ctx, "ip", 2); !ok || err != nil {
			t.Fatalf("acquire: %v %v", ok, err)
		}
	}
	if ok, _ := live.Acquire(ctx, "ip", 2); ok {
		t.Fatal("the cap of 2 was exceeded across nodes")
	}

	// Within the TTL nothing goes: the live node sweeps and finds no one dead.
	clk.advance(ttl - time.Second)
	if err := live.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := conns(t, live, "u1", "u2", "u3"); n[0] != 1 || n[1] != 1 || n[2] != 2 {
		t.Fatalf("within the TTL: connections %v, want [1 1 2]", n)
	}

	// Past it, the live node's loop sweeps the dead one.
	clk.advance(2 * time.Second)
	eventually(t, "the dead node's user is still online", func() bool { return conns(t, live, "u1")[0] == 0 })
	if n := conns(t, live, "u1", "u2", "u3"); n[0] != 0 || n[1] != 1 || n[2] != 1 {
		t.Fatalf("after the TTL: connections %v, want [0 1 1]", n)
	}
	if n, _ := live.AccountUsers(ctx, "A"); n != 2 {
		t.Fatalf("account users %d, want 2 (u2, u3)", n)
	}
	if got := seen.list(); len(got) != 1 || got[0] != "A/u1 false" {
		t.Fatalf("OnChange heard %v, want [A/u1 false] once", got)
	}
	if h, _ := live.Held(ctx, "ip"); h != 0 {
		t.Fatalf("the dead node's slots are still held: %d", h)
	}
	for range 2 {
		if ok, err := live.Acquire(ctx, "ip", 2); !ok || err != nil {
			t.Fatalf("a dead node's slot did not come back: %v %v", ok, err)
		}
	}
}

// A node swept while it was only stalled puts its connections and slots
// back at its next heartbeat and reports the users back online.
func TestSweptNodeRejoins(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	clk := newClock()
	var seen changes
	const ttl = time.Minute
	stalled := node(t, p, "stalled", rediscluster.Config{TTL: ttl, Interval: -1, Now: clk.now, OnChange: seen.on})
	other := node(t, p, "other", rediscluster.Config{TTL: ttl, Interval: -1, Now: clk.now})
	if _, err := stalled.Register(ctx, cluster.Conn{AccountID: "A", UserID: "u1", ConnID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stalled.Acquire(ctx, "ip", 1); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * ttl)
	if err := other.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if conns(t, other, "u1")[0] != 0 {
		t.Fatal("the stalled node was not swept")
	}
	if err := stalled.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if n := conns(t, other, "u1"); n[0] != 1 {
		t.Fatalf("after rejoining: %v connections, want 1", n)
	}
	if h, _ := other.Held(ctx, "ip"); h != 1 {
		t.Fatalf("after rejoining: %d slots held, want 1", h)
	}
	if got := seen.list(); len(got) != 1 || got[0] != "A/u1 true" {
		t.Fatalf("OnChange heard %v, want [A/u1 true]", got)
	}
	// Unregistering works as before: the user goes offline through the call.
	if last, err := stalled.Unregister(ctx, cluster.Conn{ConnID: "c1"}); !last || err != nil {
		t.Fatalf("Unregister after rejoin = %v, %v", last, err)
	}
}

// Close leaves at once: the node's users go offline and its slots come
// back without waiting for the TTL, and calls after Close fail.
func TestCloseLeaves(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	var seen changes
	a := node(t, p, "a", rediscluster.Config{OnChange: seen.on})
	b := node(t, p, "b", rediscluster.Config{})
	a.Register(ctx, cluster.Conn{AccountID: "A", UserID: "u1", ConnID: "c1"})
	a.Acquire(ctx, "ip", 1)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := conns(t, b, "u1"); n[0] != 0 {
		t.Fatal("a closed node's user is still online")
	}
	if ok, _ := b.Acquire(ctx, "ip", 1); !ok {
		t.Fatal("a closed node's slot did not come back")
	}
	if got := seen.list(); len(got) != 1 || got[0] != "A/u1 false" {
		t.Fatalf("OnChange heard %v", got)
	}
	if _, err := a.Register(ctx, cluster.Conn{AccountID: "A", UserID: "u1", ConnID: "c2"}); err == nil {
		t.Fatal("Register after Close succeeded")
	}
}

// A node restarted under the same id clears what its previous life left.
func TestRestartClearsPreviousLife(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	old := node(t, p, "n1", rediscluster.Config{Interval: -1})
	old.Register(ctx, cluster.Conn{AccountID: "A", UserID: "u1", ConnID: "c1"})
	restarted := node(t, p, "n1", rediscluster.Config{Interval: -1})
	if n := conns(t, restarted, "u1"); n[0] != 0 {
		t.Fatalf("a restarted node kept its previous life's connection: %v", n)
	}
}

// Many nodes sweeping one dead node at once report each user once.
func TestConcurrentSweepsReportOnce(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	clk := newClock()
	var seen changes
	dead := node(t, p, "dead", rediscluster.Config{Interval: -1, Now: clk.now})
	for i := range 20 {
		dead.Register(ctx, cluster.Conn{AccountID: "A", UserID: fmt.Sprint("u", i), ConnID: fmt.Sprint("c", i)})
	}
	var sweepers []*rediscluster.Node
	for i := range 4 {
		sweepers = append(sweepers, node(t, p, fmt.Sprint("s", i), rediscluster.Config{Interval: -1, Now: clk.now, OnChange: seen.on}))
	}
	clk.advance(time.Hour)
	var wg sync.WaitGroup
	for _, s := range sweepers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Sweep(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := seen.list(); len(got) != 20 {
		t.Fatalf("%d offline reports for 20 users", len(got))
	}
}

// A Redis that does not answer is an error from New and from every call,
// never a silent "offline" or a granted slot.
func TestUnreachableRedis(t *testing.T) {
	t.Parallel()
	opt := redistest.Options(t)
	opt.Addr = "127.0.0.1:1" // nothing listens on port 1
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	defer c.Close()
	if _, err := rediscluster.New(ctx, c, rediscluster.Config{NodeID: "x"}); err == nil {
		t.Fatal("New on a dead Redis succeeded")
	}
}

// BenchmarkConnect: what one WebSocket connection costs the registry, a
// Register and an Unregister (two EVALSHA round trips), from parallel
// goroutines as connections come.
//
//	go test -run x -bench Connect -cpu 1,8 ./internal/cluster/rediscluster/
func BenchmarkConnect(b *testing.B) {
	p := redistest.Prefix(b)
	n, err := rediscluster.New(ctx, redistest.Client(b), rediscluster.Config{NodeID: "bench", Prefix: p})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			c := cluster.Conn{AccountID: "A", UserID: fmt.Sprint("u", i%1000), ConnID: fmt.Sprint("c", i)}
			if _, err := n.Register(ctx, c); err != nil {
				b.Fatal(err)
			}
			if _, err := n.Unregister(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A node cannot release another node's slot (it would let the cap be
// exceeded while the holder's socket is still open).
func TestReleaseOnlyOwnSlots(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	a.Acquire(ctx, "k", 2)
	if err := b.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if h, _ := a.Held(ctx, "k"); h != 1 {
		t.Fatalf("b released a's slot: Held = %d, want 1", h)
	}
}

// The directory on two nodes; kill stops a's heartbeat and lets its TTL pass.
func TestDirectory(t *testing.T) {
	t.Parallel()
	clustertest.RunDirectory(t, func(t *testing.T) (cluster.Directory, cluster.Directory, func()) {
		p, clk := redistest.Prefix(t), newClock()
		cfg := rediscluster.Config{Interval: -1, TTL: 15 * time.Second, Now: clk.now}
		a, b := node(t, p, "a", cfg), node(t, p, "b", cfg)
		return a, b, func() {
			clk.advance(16 * time.Second)
			if err := b.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A swept node's entries stay to be taken over, then expire.
func TestDirectorySweepKeepsEntries(t *testing.T) {
	t.Parallel()
	p, clk := redistest.Prefix(t), newClock()
	cfg := rediscluster.Config{Interval: -1, TTL: 15 * time.Second, Now: clk.now}
	a, b := node(t, p, "a", cfg), node(t, p, "b", cfg)
	if _, mine, err := a.Own(ctx, cluster.Entry{Key: "room_1", Room: "room_1", Account: "A", Desc: []byte("d")}); err != nil || !mine {
		t.Fatal(mine, err)
	}
	clk.advance(16 * time.Second)
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	e, alive, ok, err := b.Lookup(ctx, "room_1")
	if err != nil || !ok || alive || string(e.Desc) != "d" {
		t.Fatalf("after sweep: %+v alive=%v ok=%v %v", e, alive, ok, err)
	}
	ttl, err := redistest.Client(t).PTTL(ctx, p+"cluster:dir:room_1").Result()
	if err != nil || ttl <= 0 || ttl > rediscluster.OrphanTTL {
		t.Fatalf("orphan ttl %v %v", ttl, err)
	}
	if _, mine, err := b.Own(ctx, e); err != nil || !mine {
		t.Fatal(mine, err)
	}
	if ttl, _ := redistest.Client(t).PTTL(ctx, p+"cluster:dir:room_1").Result(); ttl != -1 {
		t.Fatalf("a claimed entry still expires: %v", ttl)
	}
}
