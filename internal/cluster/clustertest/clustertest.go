// Package clustertest is the conformance suite every implementation of the
// cluster interfaces runs (memory and Redis). Each open returns two
// handles on one shared state, as two nodes would hold: the memory
// implementation passes the same instance twice, rediscluster two nodes
// (two clients, two node ids) on one key prefix.
package clustertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cluster"
)

// RunPresence runs the Presence suite; open makes a fresh shared state per test.
func RunPresence(t *testing.T, open func(t *testing.T) (a, b cluster.Presence)) {
	tests := []struct {
		name string
		fn   func(*testing.T, cluster.Presence, cluster.Presence)
	}{
		{"FirstAndLastAcrossNodes", testFirstLast},
		{"DuplicatesAndUnknownAreNoOps", testDuplicates},
		{"AccountUsersCountsUsersNotConnections", testAccountUsers},
		{"RacingFirstAndLastAreSeenOnce", testPresenceRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

var ctx = context.Background()

func conn(acct, user, id string) cluster.Conn {
	return cluster.Conn{AccountID: acct, UserID: user, ConnID: id}
}

func reg(t *testing.T, p cluster.Presence, c cluster.Conn) bool {
	t.Helper()
	first, err := p.Register(ctx, c)
	if err != nil {
		t.Fatalf("Register %v: %v", c, err)
	}
	return first
}

func unreg(t *testing.T, p cluster.Presence, c cluster.Conn) bool {
	t.Helper()
	last, err := p.Unregister(ctx, c)
	if err != nil {
		t.Fatalf("Unregister %v: %v", c, err)
	}
	return last
}

func conns(t *testing.T, p cluster.Presence, users ...string) []int {
	t.Helper()
	n, err := p.Connections(ctx, users...)
	if err != nil {
		t.Fatalf("Connections: %v", err)
	}
	if len(n) != len(users) {
		t.Fatalf("Connections(%d users) gave %d counts", len(users), len(n))
	}
	return n
}

func acctUsers(t *testing.T, p cluster.Presence, acct string) int {
	t.Helper()
	n, err := p.AccountUsers(ctx, acct)
	if err != nil {
		t.Fatalf("AccountUsers: %v", err)
	}
	return n
}

func testFirstLast(t *testing.T, a, b cluster.Presence) {
	if n := conns(t, a, "u1"); n[0] != 0 {
		t.Fatalf("a user never seen has %d connections", n[0])
	}
	if !reg(t, a, conn("A", "u1", "c1")) {
		t.Fatal("the first connection was not first")
	}
	if reg(t, b, conn("A", "u1", "c2")) {
		t.Fatal("a second connection, on another node, was first")
	}
	for _, p := range []cluster.Presence{a, b} {
		if n := conns(t, p, "u1", "u2"); n[0] != 2 || n[1] != 0 {
			t.Fatalf("Connections(u1, u2) = %v, want [2 0] on both nodes", n)
		}
	}
	if unreg(t, a, conn("A", "u1", "c1")) {
		t.Fatal("closing one of two connections was last")
	}
	if !unreg(t, b, conn("A", "u1", "c2")) {
		t.Fatal("closing the only connection left was not last")
	}
	if n := conns(t, a, "u1"); n[0] != 0 {
		t.Fatalf("after the last close: %d connections", n[0])
	}
	if !reg(t, b, conn("A", "u1", "c3")) {
		t.Fatal("coming back after going offline was not first")
	}
}

func testDuplicates(t *testing.T, a, b cluster.Presence) {
	c := conn("A", "u1", "c1")
	reg(t, a, c)
	if reg(t, a, c) {
		t.Fatal("registering a connection twice was first again")
	}
	if n := conns(t, b, "u1"); n[0] != 1 {
		t.Fatalf("a connection registered twice counts %d", n[0])
	}
	if unreg(t, a, conn("A", "u1", "nope")) {
		t.Fatal("unregistering an unknown connection was last")
	}
	if n := conns(t, b, "u1"); n[0] != 1 {
		t.Fatalf("an unknown unregister changed the count to %d", n[0])
	}
	if !unreg(t, a, c) {
		t.Fatal("the only connection's close was not last")
	}
	if unreg(t, a, c) {
		t.Fatal("unregistering twice was last again")
	}
	if n := conns(t, b, "u1"); n[0] != 0 {
		t.Fatalf("count after double unregister = %d", n[0])
	}
}

func testAccountUsers(t *testing.T, a, b cluster.Presence) {
	reg(t, a, conn("A", "u1", "c1"))
	reg(t, b, conn("A", "u1", "c2"))
	reg(t, b, conn("A", "u2", "c3"))
	reg(t, a, conn("B", "u3", "c4"))
	if n := acctUsers(t, a, "A"); n != 2 {
		t.Fatalf("account A has %d users connected, want 2", n)
	}
	if n := acctUsers(t, b, "B"); n != 1 {
		t.Fatalf("account B has %d users connected, want 1", n)
	}
	unreg(t, a, conn("A", "u1", "c1"))
	if n := acctUsers(t, b, "A"); n != 2 {
		t.Fatalf("u1 still has a connection; account A has %d users, want 2", n)
	}
	unreg(t, b, conn("A", "u1", "c2"))
	unreg(t, b, conn("A", "u2", "c3"))
	if n := acctUsers(t, a, "A"); n != 0 {
		t.Fatalf("account A with nobody connected counts %d users", n)
	}
}

// Many connections of one user opening and closing at once on two nodes:
// firsts and lasts alternate, so there is exactly one more first than last
// while the user is connected, and the same number once every one closed.
func testPresenceRace(t *testing.T, a, b cluster.Presence) {
	const per = 20
	var firsts, lasts atomic.Int64
	var wg sync.WaitGroup
	for i := range 2 * per {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conn("A", "u1", fmt.Sprint("c", i))
			if first, err := p.Register(ctx, c); err != nil {
				t.Error(err)
			} else if first {
				firsts.Add(1)
			}
			if i%4 < 2 { // half close again
				if last, err := p.Unregister(ctx, c); err != nil {
					t.Error(err)
				} else if last {
					lasts.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f, l := firsts.Load(), lasts.Load(); f != l+1 {
		t.Fatalf("%d firsts and %d lasts with the user still connected; want one more first", f, l)
	}
	if n := conns(t, a, "u1"); n[0] != per {
		t.Fatalf("%d connections left, want %d", n[0], per)
	}
	if n := acctUsers(t, b, "A"); n != 1 {
		t.Fatalf("account users = %d, want 1", n)
	}
	for i := range 2 * per {
		if i%4 >= 2 {
			p := a
			if i%2 == 1 {
				p = b
			}
			if unreg(t, p, conn("A", "u1", fmt.Sprint("c", i))) {
				lasts.Add(1)
			}
		}
	}
	if f, l := firsts.Load(), lasts.Load(); f != l {
		t.Fatalf("%d firsts and %d lasts once everyone left", f, l)
	}
}

// RunSlots runs the Slots suite.
func RunSlots(t *testing.T, open func(t *testing.T) (a, b cluster.Slots)) {
	tests := []struct {
		name string
		fn   func(*testing.T, cluster.Slots, cluster.Slots)
	}{
		{"CapHoldsAcrossNodes", testCap},
		{"ZeroIsUnlimited", testUnlimited},
		{"ReleaseFreesOnlyWhatANodeHolds", testRelease},
		{"RacingAcquiresNeverExceed", testSlotsRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

func acquire(t *testing.T, s cluster.Slots, key string, limit int) bool {
	t.Helper()
	ok, err := s.Acquire(ctx, key, limit)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return ok
}

func held(t *testing.T, s cluster.Slots, key string) int {
	t.Helper()
	n, err := s.Held(ctx, key)
	if err != nil {
		t.Fatalf("Held: %v", err)
	}
	return n
}

func testCap(t *testing.T, a, b cluster.Slots) {
	for i, s := range []cluster.Slots{a, b, a} {
		if !acquire(t, s, "ip:1", 3) {
			t.Fatalf("slot %d of 3 refused", i+1)
		}
	}
	if acquire(t, b, "ip:1", 3) || acquire(t, a, "ip:1", 3) {
		t.Fatal("a fourth slot of 3 was given")
	}
	if !acquire(t, b, "ip:2", 3) {
		t.Fatal("another key shares the cap")
	}
	if n := held(t, b, "ip:1"); n != 3 {
		t.Fatalf("Held = %d after refusals, want 3", n)
	}
	if err := a.Release(ctx, "ip:1"); err != nil {
		t.Fatal(err)
	}
	if !acquire(t, b, "ip:1", 3) {
		t.Fatal("a released slot was not given again on the other node")
	}
}

func testUnlimited(t *testing.T, a, b cluster.Slots) {
	for range 5 {
		if !acquire(t, a, "k", 0) || !acquire(t, b, "k", -1) {
			t.Fatal("a limit of 0 or less refused")
		}
	}
	if n := held(t, a, "k"); n != 10 {
		t.Fatalf("unlimited slots are not counted: Held = %d, want 10", n)
	}
}

func testRelease(t *testing.T, a, b cluster.Slots) {
	acquire(t, a, "k", 2)
	acquire(t, a, "k", 2)
	if err := b.Release(ctx, "never-held"); err != nil {
		t.Fatal(err)
	}
	if n := held(t, a, "never-held"); n != 0 {
		t.Fatalf("releasing a slot never held gives Held = %d", n)
	}
	for range 3 {
		if err := a.Release(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n := held(t, b, "k"); n != 0 {
		t.Fatalf("after releasing more than held, Held = %d", n)
	}
	if !acquire(t, b, "k", 2) || !acquire(t, b, "k", 2) || acquire(t, b, "k", 2) {
		t.Fatal("after over-release the cap is not 2 again")
	}
}

func testSlotsRace(t *testing.T, a, b cluster.Slots) {
	const limit, tries = 7, 40
	var got atomic.Int64
	var wg sync.WaitGroup
	for i := range tries {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.Acquire(ctx, "acct", limit)
			if err != nil {
				t.Error(err)
			}
			if ok {
				got.Add(1)
			}
		}()
	}
	wg.Wait()
	if got.Load() != limit {
		t.Fatalf("%d racing acquires won under a cap of %d", got.Load(), limit)
	}
	if n := held(t, a, "acct"); n != limit {
		t.Fatalf("Held = %d, want %d", n, limit)
	}
}

// RunClaims runs the Claims suite.
func RunClaims(t *testing.T, open func(t *testing.T) (a, b cluster.Claims)) {
	tests := []struct {
		name string
		fn   func(*testing.T, cluster.Claims, cluster.Claims)
	}{
		{"OnceAcrossNodes", testClaimOnce},
		{"RacingClaimersOneWins", testClaimRace},
		{"ClaimableAgainAfterTTL", testClaimExpiry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

func claim(t *testing.T, c cluster.Claims, key string, ttl time.Duration) bool {
	t.Helper()
	ok, err := c.Claim(ctx, key, ttl)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return ok
}

func testClaimOnce(t *testing.T, a, b cluster.Claims) {
	if !claim(t, a, "link:1", time.Hour) {
		t.Fatal("a fresh key was not claimed")
	}
	if claim(t, b, "link:1", time.Hour) || claim(t, a, "link:1", time.Hour) {
		t.Fatal("a claimed key was claimed again")
	}
	if !claim(t, b, "link:2", time.Hour) {
		t.Fatal("another key was refused")
	}
}

func testClaimRace(t *testing.T, a, b cluster.Claims) {
	for round := range 5 {
		key := fmt.Sprint("race:", round)
		var won atomic.Int64
		var wg sync.WaitGroup
		for i := range 16 {
			c := a
			if i%2 == 1 {
				c = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := c.Claim(ctx, key, time.Hour)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("round %d: %d of 16 racing claimers won", round, won.Load())
		}
	}
}

// A claim lasts its ttl, then the key is free. Real time, short ttl: the
// test waits for the claim to lapse instead of asserting when it does.
func testClaimExpiry(t *testing.T, a, b cluster.Claims) {
	ttl := 50 * time.Millisecond
	if !claim(t, a, "k", ttl) {
		t.Fatal("fresh key refused")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !claim(t, b, "k", time.Hour) {
		if time.Now().After(deadline) {
			t.Fatalf("a claim of %v still held after 10 s", ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if claim(t, a, "k", time.Hour) {
		t.Fatal("the re-claimed key was claimed a third time")
	}
}
