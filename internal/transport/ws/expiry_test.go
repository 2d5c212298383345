package ws

import (
	"runtime"
	"testing"
	"time"
)

func TestExpiriesPopDueOnly(t *testing.T) {
	var e expiries
	e.init()
	t0 := time.Unix(1_000_000, 0)
	a, b, c := &conn{}, &conn{}, &conn{}
	e.add(a, t0.Add(1500*time.Millisecond)) // filed at t0+2s: never closed before exp
	e.add(b, t0.Add(3*time.Second))
	e.add(c, t0.Add(3*time.Second))
	e.add(&conn{}, time.Time{}) // no exp: never filed
	if got := e.pop(t0.Add(1900*time.Millisecond), nil); len(got) != 0 {
		t.Fatalf("popped %d before any exp", len(got))
	}
	if got := e.pop(t0.Add(2*time.Second), nil); len(got) != 1 || got[0] != a {
		t.Fatalf("at t0+2s popped %v, want a", got)
	}
	e.remove(c, t0.Add(3*time.Second)) // c went away first
	// A tick missed (a busy second) is caught up.
	if got := e.pop(t0.Add(5*time.Second), nil); len(got) != 1 || got[0] != b {
		t.Fatalf("at t0+5s popped %v, want b", got)
	}
	// A token already due when filed goes to the next sweep.
	d := &conn{}
	e.add(d, t0.Add(4*time.Second))
	if got := e.pop(t0.Add(6*time.Second), nil); len(got) != 1 || got[0] != d {
		t.Fatalf("popped %v, want d", got)
	}
	if len(e.due) != 0 {
		t.Fatalf("%d seconds still filed", len(e.due))
	}
}

// Closed connections are forgotten at once, not kept until their exp.
func TestExpiriesForgetRemoved(t *testing.T) {
	var e expiries
	e.init()
	t0 := time.Now()
	cs := make([]*conn, 1000)
	for i := range cs {
		cs[i] = &conn{}
		e.add(cs[i], t0.Add(time.Duration(i)*time.Second+time.Hour))
	}
	for i, c := range cs {
		e.remove(c, t0.Add(time.Duration(i)*time.Second+time.Hour))
	}
	if len(e.due) != 0 {
		t.Fatalf("%d seconds still filed after every connection left", len(e.due))
	}
}

// BenchmarkExpiryMemory reports the heap one filed connection costs in the
// worst case, every token expiring in a second of its own.
func BenchmarkExpiryMemory(b *testing.B) {
	const n = 20000
	cs := make([]conn, n)
	var before, after runtime.MemStats
	t0 := time.Now().Add(time.Hour)
	for range b.N {
		var e expiries
		e.init()
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range cs {
			e.add(&cs[i], t0.Add(time.Duration(i)*time.Second))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/conn")
		runtime.KeepAlive(&e)
	}
}
