package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/clustertest"
)

// One node: the "two nodes" of the suite are the same instance.

func TestMemoryPresence(t *testing.T) {
	clustertest.RunPresence(t, func(t *testing.T) (a, b cluster.Presence) {
		p := cluster.NewMemoryPresence()
		return p, p
	})
}

func TestMemorySlots(t *testing.T) {
	clustertest.RunSlots(t, func(t *testing.T) (a, b cluster.Slots) {
		s := cluster.NewMemorySlots()
		return s, s
	})
}

func TestMemoryClaims(t *testing.T) {
	clustertest.RunClaims(t, func(t *testing.T) (a, b cluster.Claims) {
		c := cluster.NewMemoryClaims(nil)
		return c, c
	})
}

// Expired claims do not pile up: the map is swept as claims are made.
func TestMemoryClaimsForgetExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := cluster.NewMemoryClaims(func() time.Time { return now })
	for i := range 1000 {
		c.Claim(context.Background(), string(rune('a'+i%26))+time.Duration(i).String(), time.Second)
		now = now.Add(100 * time.Millisecond)
	}
	if n := cluster.MemoryClaimsLen(c); n > 128 {
		t.Fatalf("%d claims kept, about 10 are live", n)
	}
}

// A claim lasts exactly its ttl on the injected clock.
func TestMemoryClaimsTTLOnTheClock(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := cluster.NewMemoryClaims(func() time.Time { return now })
	ctx := context.Background()
	if ok, _ := c.Claim(ctx, "k", time.Minute); !ok {
		t.Fatal("fresh key refused")
	}
	now = now.Add(time.Minute - time.Nanosecond)
	if ok, _ := c.Claim(ctx, "k", time.Minute); ok {
		t.Fatal("claimed again before the ttl passed")
	}
	now = now.Add(time.Nanosecond)
	if ok, _ := c.Claim(ctx, "k", time.Minute); !ok {
		t.Fatal("not claimable once the ttl passed")
	}
}

func TestMemoryDirectory(t *testing.T) {
	clustertest.RunDirectory(t, func(t *testing.T) (a, b cluster.Directory, kill func()) {
		d := cluster.NewMemoryDirectory()
		return d.For("a"), d.For("b"), func() { d.Kill("a") }
	})
}
