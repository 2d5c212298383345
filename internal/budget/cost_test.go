package budget_test

import (
	"math"
	"testing"

	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/protocol"
)

// The examples docs/operations.md gives: the fan-out is priced by the
// conversation's members and the request's size; kinds that do not fan
// out ignore both.
func TestCostExamples(t *testing.T) {
	for _, tc := range []struct {
		what           string
		kind           string
		members, bytes int
		want           float64
	}{
		{"a message into a direct conversation", protocol.EvSend, 2, 100, 1.02},
		{"a message into a group of 300", protocol.EvSend, 300, 100, 4.15},
		{"a 4 KB edit there", protocol.EvEdit, 300, 4096, 10},
		{"typing there", protocol.EvTypingSet, 300, 60, 3.19},
		{"history there (no fan-out)", protocol.EvHistory, 300, 4096, 0.5},
		{"an unknown event", "chat:nonsense", 300, 4096, 1},
	} {
		if got := budget.Cost(tc.kind, tc.members, tc.bytes); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("%s: cost %.3f, want %.2f", tc.what, got, tc.want)
		}
	}
}
