package clustertest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-chat/parley/internal/cluster"
)

// RunDirectory runs the Directory suite. open returns two nodes' handles
// on one fresh state and kill, which makes node a dead as b sees it (its
// lease expired).
func RunDirectory(t *testing.T, open func(t *testing.T) (a, b cluster.Directory, kill func())) {
	tests := []struct {
		name string
		fn   func(*testing.T, cluster.Directory, cluster.Directory, func())
	}{
		{"ClaimLookupAndUpdate", testDirClaim},
		{"ListEveryNode", testDirList},
		{"ReleaseOnlyOwnRoom", testDirRelease},
		{"TakeOverDeadOwner", testDirTakeover},
		{"AbandonedIsFree", testDirAbandon},
		{"RacingClaimsOneWins", testDirRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b, kill := open(t)
			tc.fn(t, a, b, kill)
		})
	}
}

func entry(key, room, acct, desc string) cluster.Entry {
	return cluster.Entry{Key: key, Room: room, Account: acct, Desc: []byte(desc)}
}

func claimDir(t *testing.T, d cluster.Directory, e cluster.Entry) (cluster.Entry, bool) {
	t.Helper()
	cur, mine, err := d.Own(ctx, e)
	if err != nil {
		t.Fatalf("Claim %s: %v", e.Key, err)
	}
	return cur, mine
}

func lookup(t *testing.T, d cluster.Directory, key string) (cluster.Entry, bool, bool) {
	t.Helper()
	e, alive, ok, err := d.Lookup(ctx, key)
	if err != nil {
		t.Fatalf("Lookup %s: %v", key, err)
	}
	return e, alive, ok
}

func testDirClaim(t *testing.T, a, b cluster.Directory, _ func()) {
	if _, _, ok := lookup(t, b, "room_1"); ok {
		t.Fatal("an entry never claimed was found")
	}
	cur, mine := claimDir(t, a, entry("room_1", "room_1", "A", `{"v":1}`))
	if !mine || cur.Node != a.Node() {
		t.Fatalf("first claim: %+v mine=%v", cur, mine)
	}
	cur, mine = claimDir(t, b, entry("room_1", "room_1", "A", `{"v":"b"}`))
	if mine || cur.Node != a.Node() || string(cur.Desc) != `{"v":1}` || cur.Room != "room_1" || cur.Account != "A" {
		t.Fatalf("a live owner's entry was claimed by another node: %+v mine=%v", cur, mine)
	}
	if _, mine := claimDir(t, a, entry("room_1", "room_1", "A", `{"v":2}`)); !mine {
		t.Fatal("the owner could not update its entry")
	}
	e, alive, ok := lookup(t, b, "room_1")
	if !ok || !alive || e.Node != a.Node() || string(e.Desc) != `{"v":2}` {
		t.Fatalf("lookup from the other node: %+v alive=%v ok=%v", e, alive, ok)
	}
	al, err := b.Alive(ctx, a.Node(), b.Node())
	if err != nil || len(al) != 2 || !al[0] || !al[1] {
		t.Fatalf("Alive = %v %v", al, err)
	}
}

func testDirList(t *testing.T, a, b cluster.Directory, _ func()) {
	claimDir(t, a, entry("room_1", "room_1", "A", "1"))
	claimDir(t, b, entry("room_2", "room_2", "A", "2"))
	claimDir(t, b, entry("room_3", "room_3", "B", "3"))
	for _, d := range []cluster.Directory{a, b} {
		l, err := d.List(ctx, "A")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range l {
			got[e.Key] = e.Node + ":" + string(e.Desc)
		}
		want := map[string]string{"room_1": a.Node() + ":1", "room_2": b.Node() + ":2"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("List(A) = %v, want %v", got, want)
		}
	}
}

func testDirRelease(t *testing.T, a, b cluster.Directory, _ func()) {
	claimDir(t, a, entry("ch:A/live", "chan_1", "A", "1"))
	if err := b.Drop(ctx, "ch:A/live", "chan_1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Drop(ctx, "ch:A/live", "chan_0"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := lookup(t, a, "ch:A/live"); !ok {
		t.Fatal("another node's release, or an older room's, deleted the entry")
	}
	if err := a.Drop(ctx, "ch:A/live", "chan_1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := lookup(t, b, "ch:A/live"); ok {
		t.Fatal("released entry still found")
	}
	if l, _ := b.List(ctx, "A"); len(l) != 0 {
		t.Fatalf("released entry still listed: %+v", l)
	}
	if _, mine := claimDir(t, b, entry("ch:A/live", "chan_2", "A", "2")); !mine {
		t.Fatal("a released key could not be claimed")
	}
}

func testDirTakeover(t *testing.T, a, b cluster.Directory, kill func()) {
	claimDir(t, a, entry("room_1", "room_1", "A", "desc"))
	kill()
	e, alive, ok := lookup(t, b, "room_1")
	if !ok || alive || e.Node != a.Node() || string(e.Desc) != "desc" {
		t.Fatalf("a dead owner's entry: %+v alive=%v ok=%v", e, alive, ok)
	}
	if al, err := b.Alive(ctx, a.Node()); err != nil || al[0] {
		t.Fatalf("Alive(dead) = %v %v", al, err)
	}
	if l, _ := b.List(ctx, "A"); len(l) != 1 {
		t.Fatalf("a dead owner's entry is not listed: %+v", l)
	}
	cur, mine := claimDir(t, b, e)
	if !mine || cur.Node != b.Node() || string(cur.Desc) != "desc" {
		t.Fatalf("take over: %+v mine=%v", cur, mine)
	}
	if e, alive, _ := lookup(t, b, "room_1"); !alive || e.Node != b.Node() {
		t.Fatalf("after take over: %+v alive=%v", e, alive)
	}
}

func testDirAbandon(t *testing.T, a, b cluster.Directory, _ func()) {
	claimDir(t, a, entry("room_1", "room_1", "A", "desc"))
	if err := b.Abandon(ctx, "room_1"); err != nil {
		t.Fatal(err)
	}
	if _, alive, _ := lookup(t, b, "room_1"); !alive {
		t.Fatal("another node's Abandon gave up the owner's entry")
	}
	if err := a.Abandon(ctx, "room_1"); err != nil {
		t.Fatal(err)
	}
	e, alive, ok := lookup(t, b, "room_1")
	if !ok || alive || string(e.Desc) != "desc" {
		t.Fatalf("abandoned: %+v alive=%v ok=%v", e, alive, ok)
	}
	if _, mine := claimDir(t, b, e); !mine {
		t.Fatal("an abandoned entry could not be claimed")
	}
}

func testDirRace(t *testing.T, a, b cluster.Directory, _ func()) {
	const n = 16
	var wins [2]atomic.Int32 // per node: a node that owns the key may claim it again
	var wg sync.WaitGroup
	for i := range n {
		d := []cluster.Directory{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, mine, err := d.Own(ctx, entry("ch:A/x", fmt.Sprint("chan_", i), "A", "")); err == nil && mine {
				wins[i%2].Add(1)
			}
		}()
	}
	wg.Wait()
	if wa, wb := wins[0].Load(), wins[1].Load(); (wa > 0) == (wb > 0) {
		t.Fatalf("racing claims won on node a %d times, on node b %d times: want one node", wa, wb)
	}
}
