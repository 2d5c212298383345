// Package redistest gives tests a client of the real Redis the tests run
// against (PARLEY_TEST_REDIS_URL, default redis://127.0.0.1:6379/0) and a
// key prefix of their own, so tests sharing that Redis run in parallel.
// A Redis that does not answer fails the test with how to start one; no
// test skips.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultURL is where the tests look for Redis when PARLEY_TEST_REDIS_URL
// is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL is the Redis the tests use.
func URL() string {
	if u := os.Getenv("PARLEY_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Options parses URL, failing t on a malformed one.
func Options(t testing.TB) *goredis.Options {
	t.Helper()
	opt, err := goredis.ParseURL(URL())
	if err != nil {
		t.Fatalf("PARLEY_TEST_REDIS_URL=%q: %v", URL(), err)
	}
	return opt
}

// Client returns a client of the test Redis, closed when t ends. It fails
// t when Redis does not answer a PING.
func Client(t testing.TB) *goredis.Client {
	t.Helper()
	return ClientWith(t, Options(t))
}

// ClientWith is Client with options of the caller's (another address, a
// client name).
func ClientWith(t testing.TB, opt *goredis.Options) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis does not answer at %s (%v). Start it with scripts/deps-redis.sh "+
			"(or `make deps`), which runs redis-server on 127.0.0.1:6379 and installs "+
			"Debian's redis-server if it is missing; or point PARLEY_TEST_REDIS_URL at one.", opt.Addr, err)
	}
	return c
}

// Prefix is a fresh key and channel prefix, "test:<random>:". Keys under
// it are deleted when t ends.
func Prefix(t testing.TB) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	p := "test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { deleteKeys(p) })
	return p
}

func deleteKeys(prefix string) {
	opt, err := goredis.ParseURL(URL())
	if err != nil {
		return
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}
