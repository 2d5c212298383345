package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/cluster"
)

// The room directory (cluster.Directory), under the same prefix and node
// heartbeats as presence: an entry's lease is its owner's heartbeat, so a
// node renews every room it owns with its one heartbeat, and an entry whose
// owner's deadline passed may be claimed by any node.
//
//	dir:<key>        HASH  node, room, account, desc
//	dira:<account>   SET   the account's entry keys
//	n:<node>:dir     SET   the keys the node owns
//
// An entry whose owner is swept (or gives it up) expires after OrphanTTL
// unless a node claims it meanwhile; the account sets drop expired keys as
// List finds them.

// OrphanTTL is how long an entry outlives its owner when nobody takes it over.
const OrphanTTL = 10 * time.Minute

var _ cluster.Directory = (*Node)(nil)

// Node is this node's id.
func (n *Node) Node() string { return n.cfg.NodeID }

func (n *Node) dirKey(key string) string { return n.p + "dir:" + key }

// claimScript: KEYS nodes, dir:key, dira:account, n:me:dir; ARGV me, now,
// key, room, account, desc, prefix. {1}: mine; {0, node, room, account,
// desc}: a live node's; {-1}: this node was swept.
var claimScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {-1} end
local cur = redis.call('HMGET', KEYS[2], 'node', 'room', 'account', 'desc')
local owner = cur[1]
if owner and owner ~= '' and owner ~= ARGV[1] then
  local d = redis.call('ZSCORE', KEYS[1], owner)
  if d and tonumber(d) >= tonumber(ARGV[2]) then return {0, owner, cur[2], cur[3], cur[4]} end
end
if owner and owner ~= '' and owner ~= ARGV[1] then
  redis.call('SREM', ARGV[7] .. 'n:' .. owner .. ':dir', ARGV[3])
end
redis.call('HSET', KEYS[2], 'node', ARGV[1], 'room', ARGV[4], 'account', ARGV[5], 'desc', ARGV[6])
redis.call('PERSIST', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[3])
return {1}
`)

func (n *Node) Own(ctx context.Context, e cluster.Entry) (cluster.Entry, bool, error) {
	var res []any
	_, err := n.withNode(ctx, func() (int, error) {
		var err error
		res, err = claimScript.Run(ctx, n.client,
			[]string{n.nodes, n.dirKey(e.Key), n.p + "dira:" + e.Account, n.p + "n:" + n.cfg.NodeID + ":dir"},
			n.cfg.NodeID, n.cfg.Now().UnixMilli(), e.Key, e.Room, e.Account, e.Desc, n.p).Slice()
		if err != nil {
			return 0, err
		}
		return int(res[0].(int64)), nil
	})
	if err != nil {
		return cluster.Entry{}, false, fmt.Errorf("rediscluster: claim %s: %w", e.Key, err)
	}
	if res[0].(int64) == 1 {
		e.Node = n.cfg.NodeID
		return e, true, nil
	}
	return cluster.Entry{Key: e.Key, Node: str(res[1]), Room: str(res[2]), Account: str(res[3]), Desc: []byte(str(res[4]))}, false, nil
}

func str(v any) string { s, _ := v.(string); return s }

// lookupScript: KEYS nodes, dir:key; ARGV now. {} or {node, room, account, desc, alive}.
var lookupScript = goredis.NewScript(`
local cur = redis.call('HMGET', KEYS[2], 'node', 'room', 'account', 'desc')
if not cur[1] then return {} end
local alive = 0
if cur[1] ~= '' then
  local d = redis.call('ZSCORE', KEYS[1], cur[1])
  if d and tonumber(d) >= tonumber(ARGV[1]) then alive = 1 end
end
return {cur[1], cur[2], cur[3], cur[4], alive}
`)

func (n *Node) Lookup(ctx context.Context, key string) (cluster.Entry, bool, bool, error) {
	res, err := lookupScript.Run(ctx, n.client, []string{n.nodes, n.dirKey(key)}, n.cfg.Now().UnixMilli()).Slice()
	if err != nil {
		return cluster.Entry{}, false, false, fmt.Errorf("rediscluster: lookup %s: %w", key, err)
	}
	if len(res) == 0 {
		return cluster.Entry{}, false, false, nil
	}
	e := cluster.Entry{Key: key, Node: str(res[0]), Room: str(res[1]), Account: str(res[2]), Desc: []byte(str(res[3]))}
	return e, res[4].(int64) == 1, true, nil
}

// releaseDirScript: KEYS dir:key, n:me:dir; ARGV me, room, prefix, key.
var releaseDirScript = goredis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'node', 'room', 'account')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[4])
redis.call('SREM', ARGV[3] .. 'dira:' .. cur[3], ARGV[4])
return 1
`)

func (n *Node) Drop(ctx context.Context, key, room string) error {
	err := releaseDirScript.Run(ctx, n.client, []string{n.dirKey(key), n.p + "n:" + n.cfg.NodeID + ":dir"},
		n.cfg.NodeID, room, n.p, key).Err()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("rediscluster: release %s: %w", key, err)
	}
	return nil
}

// abandonScript: KEYS dir:key, n:me:dir; ARGV me, key, orphan ttl ms.
var abandonScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'node', '')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`)

func (n *Node) Abandon(ctx context.Context, key string) error {
	err := abandonScript.Run(ctx, n.client, []string{n.dirKey(key), n.p + "n:" + n.cfg.NodeID + ":dir"},
		n.cfg.NodeID, key, OrphanTTL.Milliseconds()).Err()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("rediscluster: abandon %s: %w", key, err)
	}
	return nil
}

func (n *Node) List(ctx context.Context, account string) ([]cluster.Entry, error) {
	set := n.p + "dira:" + account
	keys, err := n.client.SMembers(ctx, set).Result()
	if err != nil {
		return nil, fmt.Errorf("rediscluster: list: %w", err)
	}
	pipe := n.client.Pipeline()
	cmds := make([]*goredis.SliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HMGet(ctx, n.dirKey(k), "node", "room", "account", "desc")
	}
	if len(keys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
			return nil, fmt.Errorf("rediscluster: list: %w", err)
		}
	}
	var out []cluster.Entry
	var gone []any
	for i, c := range cmds {
		v := c.Val()
		if len(v) < 4 || v[0] == nil {
			gone = append(gone, keys[i]) // expired orphan
			continue
		}
		out = append(out, cluster.Entry{Key: keys[i], Node: str(v[0]), Room: str(v[1]), Account: str(v[2]), Desc: []byte(str(v[3]))})
	}
	if len(gone) > 0 {
		n.client.SRem(ctx, set, gone...)
	}
	return out, nil
}

func (n *Node) Alive(ctx context.Context, nodes ...string) ([]bool, error) {
	out := make([]bool, len(nodes))
	if len(nodes) == 0 {
		return out, nil
	}
	scores, err := n.client.ZMScore(ctx, n.nodes, nodes...).Result()
	if err != nil {
		return nil, fmt.Errorf("rediscluster: alive: %w", err)
	}
	now := float64(n.cfg.Now().UnixMilli())
	for i, s := range scores {
		out[i] = s >= now
	}
	return out, nil
}
