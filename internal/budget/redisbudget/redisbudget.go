// Package redisbudget is the Budget of several nodes: the token buckets
// live in Redis, so a user whose connections land on different nodes
// spends from one bucket. One Lua script (EVALSHA) reads every bucket of
// a spend and charges all of them or none, atomically.
package redisbudget

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/budget"
)

// Budget keeps each bucket in a hash at Prefix+"budget:"+key, fields t
// (tokens) and a (unix microseconds of t). A bucket expires once it would
// have refilled, as Memory drops full buckets, so Redis holds the active
// keys only. All the buckets of one spend are keys of one script, so with
// Redis Cluster they would have to share a slot: use a standalone (or
// Sentinel) Redis.
type Budget struct {
	client goredis.Scripter
	prefix string
}

var _ budget.Budget = (*Budget)(nil)

// New returns a Budget on client whose keys start with prefix+"budget:"
// (a prefix such as "parley:" keeps deployments sharing a Redis apart).
func New(client goredis.Scripter, prefix string) *Budget {
	return &Budget{client: client, prefix: prefix + "budget:"}
}

// spendScript: KEYS are the buckets; ARGV[1] the cost, ARGV[2] now in unix
// microseconds, then per bucket its tokens a second and its burst. It
// returns {1} when it charged every bucket, or {0, seconds to wait} when
// it charged none. Numbers go in and out as strings: Redis truncates a Lua
// number it returns to an integer, and tostring keeps only 14 digits.
var spendScript = goredis.NewScript(`
local cost = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local n = #KEYS
local levels, ats = {}, {}
local wait = 0
for i = 1, n do
  local rate, burst = tonumber(ARGV[1 + 2*i]), tonumber(ARGV[2 + 2*i])
  local st = redis.call('HMGET', KEYS[i], 't', 'a')
  local level, at = burst, now
  if st[1] then
    level, at = tonumber(st[1]), tonumber(st[2])
    if now > at then level = level + (now - at) / 1e6 * rate end
    if level > burst then level = burst end
    if at < now then at = now end
  end
  levels[i], ats[i] = level, at
  local need = math.min(cost, burst)
  if level < need then
    local w = (need - level) / rate
    if w > wait then wait = w end
  end
end
if wait > 0 then
  return {0, string.format('%.17g', wait)}
end
local charged = {} -- a key named twice is charged twice, as Memory does
for i = 1, n do
  local rate, burst = tonumber(ARGV[1 + 2*i]), tonumber(ARGV[2 + 2*i])
  local level = math.min((charged[KEYS[i]] or levels[i]) - cost, burst)
  charged[KEYS[i]] = level
  redis.call('HSET', KEYS[i], 't', string.format('%.17g', level), 'a', string.format('%.17g', ats[i]))
  if rate > 0 then
    -- Full again after (burst - level) / rate seconds; a second more for
    -- clocks. Capped: Redis writes a Lua number of 1e17 or more with an
    -- exponent, which PEXPIRE refuses.
    local ms = math.min(math.ceil((burst - level) / rate * 1000) + 1000, 1e15)
    redis.call('PEXPIRE', KEYS[i], string.format('%.0f', ms))
  else
    redis.call('PERSIST', KEYS[i])
  end
end
return {1}
`)

func (b *Budget) Spend(ctx context.Context, cost float64, now time.Time, buckets ...budget.Bucket) (bool, time.Duration, error) {
	if len(buckets) == 0 {
		return true, 0, nil
	}
	keys := make([]string, len(buckets))
	args := make([]any, 0, 2+2*len(buckets))
	args = append(args, num(cost), now.UnixMicro())
	for i, bk := range buckets {
		keys[i] = b.prefix + bk.Key
		args = append(args, num(bk.Rate.PerSecond), num(bk.Rate.Burst))
	}
	res, err := spendScript.Run(ctx, b.client, keys, args...).Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis budget: %w", err)
	}
	if len(res) == 1 {
		return true, 0, nil
	}
	s, _ := res[1].(string)
	wait, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false, 0, fmt.Errorf("redis budget: bad wait %q from the script", s)
	}
	// Whole microseconds, rounded up: now is passed in microseconds, so a
	// caller coming back after retryAfter finds the bucket refilled.
	return false, time.Duration(math.Ceil(wait*1e6)) * time.Microsecond, nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
