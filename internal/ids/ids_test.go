package ids

import (
	"strings"
	"testing"
	"time"
)

func TestNewIsUniqueAndShaped(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := New(Message)
		if !strings.HasPrefix(id, "msg_") || len(id) != 4+16 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestNewOrderedSortsByTime(t *testing.T) {
	a := NewOrdered(Message)
	time.Sleep(2 * time.Millisecond)
	b := NewOrdered(Message)
	if len(a) != 4+26 || !(a < b) {
		t.Fatalf("%q then %q: want 30 characters, sorted by time", a, b)
	}
	seen := map[string]bool{}
	for range 10000 {
		id := NewOrdered(Message)
		if seen[id] {
			t.Fatalf("repeated id %q", id)
		}
		seen[id] = true
	}
}
