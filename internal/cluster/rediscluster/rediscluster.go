// Package rediscluster is the several-node implementation of the cluster
// interfaces: one Node per process holds its presence registrations and
// connection slots in Redis, under a heartbeat with expiry, and makes
// claims with SET NX PX.
//
// Keys, all under Config.Prefix+"cluster:":
//
//	nodes            ZSET  node id → heartbeat deadline (unix ms)
//	n:<node>:conns   HASH  conn id → account "\n" user (the node's connections)
//	n:<node>:slots   HASH  slot key → slots the node holds
//	u:<user>         STRING connections of the user on every node
//	a:<account>      STRING users of the account with a connection
//	s:<key>          STRING slots of the key held on every node
//	claim:<key>      STRING a claim, expiring with PX
//
// Every change is one Lua script, so a count and the node's own record of
// it change together, and a user's 0→1 and 1→0 transitions are seen by
// exactly one caller. A node refreshes its deadline every Interval; any
// node finding another's deadline passed removes that node's connections
// and slots in one script (which checks the deadline again, so two nodes
// sweeping at once report each user once) and reports the users it took
// offline to its OnChange. The scripts touch keys they compute from the
// prefix, so they need a standalone (or Sentinel) Redis, not Redis Cluster.
package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/cluster"
)

// Config configures a Node.
type Config struct {
	// NodeID names this node; unique among the nodes sharing the Redis,
	// stable across restarts if possible (a restarted node clears what its
	// previous life left at once instead of after TTL).
	NodeID string
	// Prefix starts every key ("parley:" keeps deployments apart).
	Prefix string
	// TTL is how long a node's registrations outlive its last heartbeat
	// (default 15 s). The deadlines are taken from each node's clock, so
	// the nodes' clocks must agree to well within TTL (NTP does).
	TTL time.Duration
	// Interval is how often the node heartbeats and sweeps dead nodes
	// (default TTL/3). Negative: no background loop (the caller calls
	// Heartbeat and Sweep; tests use it for a node that dies).
	Interval time.Duration
	// Now is the clock of the deadlines (default time.Now).
	Now func() time.Time
	// OnChange hears the presence transitions no call of this node
	// returned: users taken offline by sweeping a dead node (or by Close),
	// and users back online when this node re-registers its connections
	// after others had swept it (a stall longer than TTL). ConnID is empty.
	// It is called from the node's goroutine; it must not block long.
	OnChange func(c cluster.Conn, online bool)
	// Log gets heartbeat and sweep failures (default slog.Default()).
	Log *slog.Logger
}

// Node is one process's view of the cluster state. It implements
// cluster.Presence, cluster.Slots and cluster.Claims.
type Node struct {
	client goredis.UniversalClient
	cfg    Config
	p      string // Prefix + "cluster:"
	nodes  string
	conns  string // this node's connection hash
	slots  string // this node's slot hash

	// rejoin takes gate for writing; Register, Unregister, Acquire and
	// Release read-lock it, so a rejoin sees every change that reached
	// Redis in the local maps.
	gate  sync.RWMutex
	mu    sync.Mutex
	local map[string]cluster.Conn // conn id → connection, as registered
	held  map[string]int          // slot key → slots held

	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	closed atomic.Bool
}

var (
	_ cluster.Presence = (*Node)(nil)
	_ cluster.Slots    = (*Node)(nil)
	_ cluster.Claims   = (*Node)(nil)
)

// New joins the cluster: it clears what a previous life of NodeID left,
// writes the first heartbeat and starts the background loop (unless
// Interval is negative). Close leaves.
func New(ctx context.Context, client goredis.UniversalClient, cfg Config) (*Node, error) {
	if cfg.NodeID == "" || strings.ContainsAny(cfg.NodeID, "\n") {
		return nil, errors.New("rediscluster: a node id is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = cfg.TTL / 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p := cfg.Prefix + "cluster:"
	n := &Node{
		client: client, cfg: cfg, p: p, nodes: p + "nodes",
		conns: p + "n:" + cfg.NodeID + ":conns", slots: p + "n:" + cfg.NodeID + ":slots",
		local: make(map[string]cluster.Conn), held: make(map[string]int),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := n.sweepNode(ctx, cfg.NodeID, true, cfg.Now()); err != nil {
		return nil, err
	}
	if err := n.client.ZAdd(ctx, n.nodes, goredis.Z{Score: float64(n.deadline(cfg.Now())), Member: cfg.NodeID}).Err(); err != nil {
		return nil, fmt.Errorf("rediscluster: join: %w", err)
	}
	if cfg.Interval > 0 {
		go n.loop()
	} else {
		close(n.done)
	}
	return n, nil
}

// Close stops the loop and leaves: this node's connections and slots are
// removed now (the users it takes offline go to OnChange), not after TTL.
func (n *Node) Close() error {
	n.once.Do(func() { close(n.stop) })
	<-n.done
	n.closed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.gate.Lock()
	defer n.gate.Unlock()
	n.mu.Lock()
	n.local, n.held = make(map[string]cluster.Conn), make(map[string]int)
	n.mu.Unlock()
	return n.sweepNode(ctx, n.cfg.NodeID, true, n.cfg.Now())
}

func (n *Node) deadline(now time.Time) int64 { return now.Add(n.cfg.TTL).UnixMilli() }

func (n *Node) loop() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.TTL)
		// One now for both: a clock jumping between them must not make
		// this node look dead to its own sweep.
		now := n.cfg.Now()
		if err := n.heartbeat(ctx, now); err != nil {
			n.cfg.Log.Warn("cluster heartbeat failed", "node", n.cfg.NodeID, "err", err)
		} else if err := n.sweep(ctx, now); err != nil {
			n.cfg.Log.Warn("cluster sweep failed", "node", n.cfg.NodeID, "err", err)
		}
		cancel()
	}
}

// Heartbeat pushes this node's deadline TTL past now; if other nodes had
// swept it meanwhile, it registers its connections and slots again.
func (n *Node) Heartbeat(ctx context.Context) error { return n.heartbeat(ctx, n.cfg.Now()) }

// Sweep removes the connections and slots of every other node whose
// deadline has passed, reporting the users that go offline to OnChange.
func (n *Node) Sweep(ctx context.Context) error { return n.sweep(ctx, n.cfg.Now()) }

var heartbeatScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
`)

func (n *Node) heartbeat(ctx context.Context, now time.Time) error {
	ok, err := heartbeatScript.Run(ctx, n.client, []string{n.nodes}, n.cfg.NodeID, n.deadline(now)).Int()
	if err != nil {
		return fmt.Errorf("rediscluster: heartbeat: %w", err)
	}
	if ok == 0 {
		return n.rejoin(ctx, now)
	}
	return nil
}

func (n *Node) sweep(ctx context.Context, now time.Time) error {
	dead, err := n.client.ZRangeByScore(ctx, n.nodes, &goredis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprintf("(%d", now.UnixMilli())}).Result()
	if err != nil {
		return fmt.Errorf("rediscluster: sweep: %w", err)
	}
	for _, id := range dead {
		if id == n.cfg.NodeID {
			continue // our own liveness is the heartbeat's business
		}
		if err := n.sweepNode(ctx, id, false, now); err != nil {
			return err
		}
	}
	return nil
}

// sweepScript removes node ARGV[2]'s connections and slots if its deadline
// is before ARGV[3] (or ARGV[4] == "1": this node leaving or restarting).
// It returns the "account\nuser" of every user it took offline. The node's
// directory entries stay, to be taken over, and expire after ARGV[5] ms.
var sweepScript = goredis.NewScript(`
local p, node = ARGV[1], ARGV[2]
if ARGV[4] ~= '1' then
  local d = redis.call('ZSCORE', KEYS[1], node)
  if not d or tonumber(d) >= tonumber(ARGV[3]) then return {} end
end
local conns = p .. 'n:' .. node .. ':conns'
local slots = p .. 'n:' .. node .. ':slots'
local gone = {}
local cs = redis.call('HGETALL', conns)
for i = 2, #cs, 2 do
  local v = cs[i]
  local nl = string.find(v, '\n', 1, true)
  local acct, user = string.sub(v, 1, nl - 1), string.sub(v, nl + 1)
  local uk = p .. 'u:' .. user
  if redis.call('DECR', uk) <= 0 then
    redis.call('DEL', uk)
    local ak = p .. 'a:' .. acct
    if redis.call('DECR', ak) <= 0 then redis.call('DEL', ak) end
    gone[#gone + 1] = v
  end
end
local ss = redis.call('HGETALL', slots)
for i = 1, #ss, 2 do
  local sk = p .. 's:' .. ss[i]
  if redis.call('DECRBY', sk, ss[i + 1]) <= 0 then redis.call('DEL', sk) end
end
local dir = p .. 'n:' .. node .. ':dir'
for _, k in ipairs(redis.call('SMEMBERS', dir)) do redis.call('PEXPIRE', p .. 'dir:' .. k, ARGV[5]) end
redis.call('DEL', conns, slots, dir)
redis.call('ZREM', KEYS[1], node)
return gone
`)

func (n *Node) sweepNode(ctx context.Context, id string, force bool, now time.Time) error {
	f := "0"
	if force {
		f = "1"
	}
	gone, err := sweepScript.Run(ctx, n.client, []string{n.nodes}, n.p, id, now.UnixMilli(), f, OrphanTTL.Milliseconds()).StringSlice()
	if err != nil {
		return fmt.Errorf("rediscluster: sweep node %s: %w", id, err)
	}
	for _, v := range gone {
		acct, user, _ := strings.Cut(v, "\n")
		n.report(cluster.Conn{AccountID: acct, UserID: user}, false)
	}
	return nil
}

func (n *Node) report(c cluster.Conn, online bool) {
	if n.cfg.OnChange != nil {
		n.cfg.OnChange(c, online)
	}
}

// rejoinScript: ARGV[1] prefix, ARGV[2] node, ARGV[3] deadline, ARGV[4]
// the number of connections, then per connection its id and value, then
// per slot key its key and count. Returns the users it brought online.
var rejoinScript = goredis.NewScript(`
local p, node = ARGV[1], ARGV[2]
local conns = p .. 'n:' .. node .. ':conns'
local slots = p .. 'n:' .. node .. ':slots'
redis.call('ZADD', KEYS[1], ARGV[3], node)
local nc = tonumber(ARGV[4])
local back = {}
for i = 0, nc - 1 do
  local id, v = ARGV[5 + 2*i], ARGV[6 + 2*i]
  if redis.call('HSETNX', conns, id, v) == 1 then
    local nl = string.find(v, '\n', 1, true)
    local acct, user = string.sub(v, 1, nl - 1), string.sub(v, nl + 1)
    if redis.call('INCR', p .. 'u:' .. user) == 1 then
      redis.call('INCR', p .. 'a:' .. acct)
      back[#back + 1] = v
    end
  end
end
for i = 5 + 2*nc, #ARGV, 2 do
  local key, cnt = ARGV[i], tonumber(ARGV[i + 1])
  local had = tonumber(redis.call('HGET', slots, key) or '0')
  if cnt > had then
    redis.call('HSET', slots, key, cnt)
    redis.call('INCRBY', p .. 's:' .. key, cnt - had)
  end
end
return back
`)

// rejoin runs when this node finds it was swept (a stall longer than
// TTL): the connections and slots it still holds go back into Redis.
func (n *Node) rejoin(ctx context.Context, now time.Time) error {
	n.gate.Lock()
	defer n.gate.Unlock()
	n.mu.Lock()
	args := []any{n.p, n.cfg.NodeID, n.deadline(now), len(n.local)}
	for id, c := range n.local {
		args = append(args, id, c.AccountID+"\n"+c.UserID)
	}
	for k, c := range n.held {
		args = append(args, k, c)
	}
	n.mu.Unlock()
	back, err := rejoinScript.Run(ctx, n.client, []string{n.nodes}, args...).StringSlice()
	if err != nil {
		return fmt.Errorf("rediscluster: rejoin: %w", err)
	}
	n.cfg.Log.Warn("cluster: this node had been swept as dead; its connections are registered again",
		"node", n.cfg.NodeID, "users_back", len(back))
	for _, v := range back {
		acct, user, _ := strings.Cut(v, "\n")
		n.report(cluster.Conn{AccountID: acct, UserID: user}, true)
	}
	return nil
}

// swept: the script found this node's entry gone (swept as dead).
const swept = -1

// withNode runs a script that returns swept when this node is not in the
// nodes set; it rejoins and runs it once more.
func (n *Node) withNode(ctx context.Context, run func() (int, error)) (int, error) {
	for try := 0; ; try++ {
		if n.closed.Load() {
			return 0, errors.New("rediscluster: the node is closed")
		}
		n.gate.RLock()
		r, err := run()
		n.gate.RUnlock()
		if err != nil || r != swept {
			return r, err
		}
		if try == 1 {
			return 0, errors.New("rediscluster: this node keeps being swept as dead")
		}
		if err := n.rejoin(ctx, n.cfg.Now()); err != nil {
			return 0, err
		}
	}
}

// registerScript: KEYS nodes, conns, u:user, a:account; ARGV node, conn
// id, account "\n" user. 1: first connection of the user; 0: not first or
// already registered; -1: swept.
var registerScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 0 end
if redis.call('INCR', KEYS[3]) == 1 then
  redis.call('INCR', KEYS[4])
  return 1
end
return 0
`)

func (n *Node) Register(ctx context.Context, c cluster.Conn) (bool, error) {
	if strings.Contains(c.AccountID, "\n") {
		return false, errors.New("rediscluster: an account id with a newline")
	}
	r, err := n.withNode(ctx, func() (int, error) {
		r, err := registerScript.Run(ctx, n.client,
			[]string{n.nodes, n.conns, n.p + "u:" + c.UserID, n.p + "a:" + c.AccountID},
			n.cfg.NodeID, c.ConnID, c.AccountID+"\n"+c.UserID).Int()
		if err == nil && r != swept {
			n.mu.Lock()
			if _, dup := n.local[c.ConnID]; !dup {
				n.local[c.ConnID] = c
			}
			n.mu.Unlock()
		}
		return r, err
	})
	if err != nil {
		return false, fmt.Errorf("rediscluster: register: %w", err)
	}
	return r == 1, nil
}

// unregisterScript: KEYS nodes, conns; ARGV prefix, node, conn id. 1: the
// user's last connection; 0: not last or unknown; -1: swept.
var unregisterScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return -1 end
local v = redis.call('HGET', KEYS[2], ARGV[3])
if not v then return 0 end
redis.call('HDEL', KEYS[2], ARGV[3])
local nl = string.find(v, '\n', 1, true)
local acct, user = string.sub(v, 1, nl - 1), string.sub(v, nl + 1)
local uk = ARGV[1] .. 'u:' .. user
if redis.call('DECR', uk) > 0 then return 0 end
redis.call('DEL', uk)
local ak = ARGV[1] .. 'a:' .. acct
if redis.call('DECR', ak) <= 0 then redis.call('DEL', ak) end
return 1
`)

func (n *Node) Unregister(ctx context.Context, c cluster.Conn) (bool, error) {
	r, err := n.withNode(ctx, func() (int, error) {
		r, err := unregisterScript.Run(ctx, n.client, []string{n.nodes, n.conns},
			n.p, n.cfg.NodeID, c.ConnID).Int()
		if err == nil && r != swept {
			n.mu.Lock()
			delete(n.local, c.ConnID)
			n.mu.Unlock()
		}
		return r, err
	})
	if err != nil {
		return false, fmt.Errorf("rediscluster: unregister: %w", err)
	}
	return r == 1, nil
}

func (n *Node) Connections(ctx context.Context, userIDs ...string) ([]int, error) {
	out := make([]int, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	keys := make([]string, len(userIDs))
	for i, u := range userIDs {
		keys[i] = n.p + "u:" + u
	}
	vs, err := n.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("rediscluster: connections: %w", err)
	}
	for i, v := range vs {
		out[i] = atoi(v)
	}
	return out, nil
}

func (n *Node) AccountUsers(ctx context.Context, accountID string) (int, error) {
	return n.getInt(ctx, n.p+"a:"+accountID)
}

func (n *Node) getInt(ctx context.Context, key string) (int, error) {
	v, err := n.client.Get(ctx, key).Int()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("rediscluster: %w", err)
	}
	return v, nil
}

func atoi(v any) int {
	s, _ := v.(string)
	var n int
	fmt.Sscan(s, &n)
	return n
}

// acquireScript: KEYS nodes, slots, s:key; ARGV node, key, limit.
var acquireScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
local limit = tonumber(ARGV[3])
if limit > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= limit then return 0 end
redis.call('INCR', KEYS[3])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
`)

func (n *Node) Acquire(ctx context.Context, key string, limit int) (bool, error) {
	r, err := n.withNode(ctx, func() (int, error) {
		r, err := acquireScript.Run(ctx, n.client, []string{n.nodes, n.slots, n.p + "s:" + key},
			n.cfg.NodeID, key, limit).Int()
		if err == nil && r == 1 {
			n.mu.Lock()
			n.held[key]++
			n.mu.Unlock()
		}
		return r, err
	})
	if err != nil {
		return false, fmt.Errorf("rediscluster: acquire: %w", err)
	}
	return r == 1, nil
}

// releaseScript: KEYS nodes, slots, s:key; ARGV node, key.
var releaseScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
local h = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if h <= 0 then return 0 end
if h == 1 then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HINCRBY', KEYS[2], ARGV[2], -1) end
if redis.call('DECR', KEYS[3]) <= 0 then redis.call('DEL', KEYS[3]) end
return 1
`)

func (n *Node) Release(ctx context.Context, key string) error {
	_, err := n.withNode(ctx, func() (int, error) {
		r, err := releaseScript.Run(ctx, n.client, []string{n.nodes, n.slots, n.p + "s:" + key},
			n.cfg.NodeID, key).Int()
		if err == nil && r == 1 {
			n.mu.Lock()
			if n.held[key]--; n.held[key] <= 0 {
				delete(n.held, key)
			}
			n.mu.Unlock()
		}
		return r, err
	})
	if err != nil {
		return fmt.Errorf("rediscluster: release: %w", err)
	}
	return nil
}

func (n *Node) Held(ctx context.Context, key string) (int, error) {
	return n.getInt(ctx, n.p+"s:"+key)
}

// Claim is SET NX PX: Redis decides the winner and expires the claim.
func (n *Node) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ttl = max(ttl, time.Millisecond)
	ok, err := n.client.SetNX(ctx, n.p+"claim:"+key, n.cfg.NodeID, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("rediscluster: claim: %w", err)
	}
	return ok, nil
}
