package app

import "testing"

// The presence_max_members setting says 0 = push to no group; chat reads 0
// as "use the default", so the app maps it.
func TestPresenceMaxMapsZeroToNone(t *testing.T) {
	if got := presenceMax(0); got >= 0 {
		t.Fatalf("presenceMax(0) = %d, want negative (no groups)", got)
	}
	if got := presenceMax(50); got != 50 {
		t.Fatalf("presenceMax(50) = %d", got)
	}
}
