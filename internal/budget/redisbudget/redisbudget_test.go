package redisbudget_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/internal/budget/budgettest"
	"github.com/parley-chat/parley/internal/budget/redisbudget"
	"github.com/parley-chat/parley/internal/redistest"
)

func TestRedisBudget(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	budgettest.Run(t, func(t *testing.T) budget.Budget {
		return redisbudget.New(c, redistest.Prefix(t))
	})
}

// A bucket is a key that expires once it would have refilled, so Redis
// holds the active buckets only; one being refilled keeps its key.
func TestBucketsExpireWhenFull(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t)
	b := redisbudget.New(c, prefix)
	ctx := context.Background()
	r := budget.Rate{PerSecond: 10, Burst: 10}
	if ok, _, err := b.Spend(ctx, 5, time.Now(), budget.Bucket{Key: "u1", Rate: r}); !ok || err != nil {
		t.Fatalf("spend: %v %v", ok, err)
	}
	ttl, err := c.PTTL(ctx, prefix+"budget:u1").Result()
	if err != nil {
		t.Fatal(err)
	}
	// 5 tokens at 10/s: full after 500 ms, plus the second of margin.
	if ttl <= 0 || ttl > 1500*time.Millisecond {
		t.Fatalf("bucket TTL %v, want at most 1.5s", ttl)
	}
}

// A store that cannot answer is an error, not a refusal.
func TestUnreachableRedisIsAnError(t *testing.T) {
	t.Parallel()
	opt := redistest.Options(t)
	opt.Addr = "127.0.0.1:1" // nothing listens on port 1
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	defer c.Close()
	ok, _, err := redisbudget.New(c, "x:").Spend(context.Background(), 1, time.Now(),
		budget.Bucket{Key: "u", Rate: budget.Rate{PerSecond: 1, Burst: 1}})
	if err == nil || ok {
		t.Fatalf("Spend on a dead Redis = %v, %v; want an error", ok, err)
	}
}

// A bucket refilling very slowly keeps a TTL Redis accepts (not 1.99e+17).
func TestSlowRateBucket(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	b := redisbudget.New(c, redistest.Prefix(t))
	u := budget.Bucket{Key: "u", Rate: budget.Rate{PerSecond: 1e-12, Burst: 200}}
	ok, _, err := b.Spend(context.Background(), 199, time.Now(), u)
	if err != nil || !ok {
		t.Fatalf("spend = %v, %v", ok, err)
	}
}

// A bucket named twice in one spend is charged twice, as Memory does.
func TestBucketNamedTwice(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	u := budget.Bucket{Key: "u", Rate: budget.Rate{PerSecond: 1, Burst: 5}}
	now := time.Now()
	for _, b := range []budget.Budget{budget.NewMemory(), redisbudget.New(c, redistest.Prefix(t))} {
		if ok, _, err := b.Spend(context.Background(), 2, now, u, u); !ok || err != nil {
			t.Fatalf("%T: first spend = %v, %v", b, ok, err)
		}
		if ok, _, _ := b.Spend(context.Background(), 2, now, u); ok {
			t.Fatalf("%T: 2 more passed after 4 of 5 were taken", b)
		}
	}
}

// BenchmarkSpend: one request's spend (a user's and its account's bucket,
// one EVALSHA round trip), from parallel goroutines as requests come.
//
//	go test -run x -bench Spend -cpu 1,8 ./internal/budget/redisbudget/
func BenchmarkSpend(b *testing.B) {
	c := redistest.Client(b)
	bg := redisbudget.New(c, redistest.Prefix(b))
	r := budget.Rate{PerSecond: 1e9, Burst: 1e9}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		u := budget.Bucket{Key: fmt.Sprint("u", n.Add(1)), Rate: r}
		a := budget.Bucket{Key: "a", Rate: r}
		for pb.Next() {
			if ok, _, err := bg.Spend(context.Background(), 1, time.Now(), u, a); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
