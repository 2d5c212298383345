// Package budgettest is the conformance suite every budget.Budget
// implementation runs (memory today, Redis with issue 11): Run(t, open).
package budgettest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/budget"
)

// Run runs every test against budgets made by open (a fresh one per test;
// an implementation sharing a server should isolate keys per test).
func Run(t *testing.T, open func(t *testing.T) budget.Budget) {
	tests := []struct {
		name string
		fn   func(*testing.T, budget.Budget)
	}{
		{"NewBucketIsFull", testBurst},
		{"RefillsAtItsRate", testRefill},
		{"RefusalTakesNothingAndSaysWhenToRetry", testRefusal},
		{"AllBucketsOrNone", testAllOrNone},
		{"CostAboveBurstLeavesDebt", testDebt},
		{"NegativeCostGivesBackUpToBurst", testRefund},
		{"KeysAreIndependent", testKeys},
		{"ClockGoingBackIsNoTime", testClockBack},
		{"ConcurrentSpendsNeverOverdraw", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func spend(t *testing.T, b budget.Budget, cost float64, now time.Time, bs ...budget.Bucket) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := b.Spend(context.Background(), cost, now, bs...)
	if err != nil {
		t.Fatalf("Spend: %v", err)
	}
	if ok && wait != 0 {
		t.Fatalf("Spend succeeded with retryAfter %v", wait)
	}
	if !ok && wait <= 0 {
		t.Fatalf("Spend refused without a positive retryAfter (%v)", wait)
	}
	return ok, wait
}

func user(key string, perSecond, burst float64) budget.Bucket {
	return budget.Bucket{Key: key, Rate: budget.Rate{PerSecond: perSecond, Burst: burst}}
}

func testBurst(t *testing.T, b budget.Budget) {
	u := user("u1", 1, 5)
	for i := range 5 {
		if ok, _ := spend(t, b, 1, t0, u); !ok {
			t.Fatalf("spend %d of a burst of 5 refused", i+1)
		}
	}
	if ok, _ := spend(t, b, 1, t0, u); ok {
		t.Fatal("a sixth spend in the same instant passed a burst of 5")
	}
}

func testRefill(t *testing.T, b budget.Budget) {
	u := user("u1", 2, 4) // 2 a second
	if ok, _ := spend(t, b, 4, t0, u); !ok {
		t.Fatal("a full bucket refused its burst")
	}
	if ok, _ := spend(t, b, 1, t0.Add(400*time.Millisecond), u); ok {
		t.Fatal("0.8 tokens after 400 ms paid for 1")
	}
	if ok, _ := spend(t, b, 1, t0.Add(500*time.Millisecond), u); !ok {
		t.Fatal("1 token after 500 ms at 2/s did not pay for 1")
	}
	// Refill stops at the burst: a long pause does not bank more.
	later := t0.Add(time.Hour)
	if ok, _ := spend(t, b, 4, later, u); !ok {
		t.Fatal("a refilled bucket refused its burst")
	}
	if ok, _ := spend(t, b, 0.5, later, u); ok {
		t.Fatal("a bucket banked more than its burst")
	}
}

func testRefusal(t *testing.T, b budget.Budget) {
	u := user("u1", 4, 4)
	spend(t, b, 3, t0, u) // 1 left
	ok, wait := spend(t, b, 3, t0, u)
	if ok {
		t.Fatal("3 tokens taken from 1")
	}
	// 2 missing at 4/s: 500 ms.
	if wait < 490*time.Millisecond || wait > 510*time.Millisecond {
		t.Fatalf("retryAfter = %v, want 500ms", wait)
	}
	// The refusal took nothing: 1 is still there.
	if ok, _ := spend(t, b, 1, t0, u); !ok {
		t.Fatal("a refused spend took tokens")
	}
	// And after retryAfter the refused spend passes.
	spend(t, b, -1, t0, u) // put the 1 back
	if ok, _ := spend(t, b, 3, t0.Add(wait), u); !ok {
		t.Fatalf("refused again after the retryAfter it was given (%v)", wait)
	}
}

func testAllOrNone(t *testing.T, b budget.Budget) {
	u, a := user("u1", 1, 10), user("a1", 1, 3)
	if ok, _ := spend(t, b, 3, t0, u, a); !ok {
		t.Fatal("refused with both buckets full")
	}
	ok, wait := spend(t, b, 3, t0, u, a)
	if ok {
		t.Fatal("passed with the account bucket empty")
	}
	if wait < 2900*time.Millisecond || wait > 3100*time.Millisecond {
		t.Fatalf("retryAfter = %v, want the emptier bucket's 3s", wait)
	}
	// The user bucket was not charged by the refusal: 7 left.
	if ok, _ := spend(t, b, 7, t0, u); !ok {
		t.Fatal("a refused two-bucket spend charged the user bucket")
	}
	// Another user of the same account is held by the account bucket.
	if ok, _ := spend(t, b, 1, t0, user("u2", 1, 10), a); ok {
		t.Fatal("another user passed an empty account bucket")
	}
}

func testDebt(t *testing.T, b budget.Budget) {
	u := user("u1", 1, 4)
	if ok, _ := spend(t, b, 10, t0, u); !ok {
		t.Fatal("a full bucket refused a cost above its burst")
	}
	// 4 - 10 = -6: one token needs 7 s.
	ok, wait := spend(t, b, 1, t0, u)
	if ok {
		t.Fatal("passed while in debt")
	}
	if wait < 6900*time.Millisecond || wait > 7100*time.Millisecond {
		t.Fatalf("retryAfter = %v, want 7s (the debt of 6 plus the token)", wait)
	}
	if ok, _ := spend(t, b, 10, t0.Add(5*time.Second), u); ok {
		t.Fatal("passed with -1 tokens")
	}
	if ok, _ := spend(t, b, 10, t0.Add(10*time.Second), u); !ok {
		t.Fatal("refused a dear request with the bucket full again")
	}
}

func testRefund(t *testing.T, b budget.Budget) {
	u := user("u1", 1, 4)
	spend(t, b, 4, t0, u)
	if ok, _ := spend(t, b, -3, t0, u); !ok {
		t.Fatal("a refund was refused")
	}
	if ok, _ := spend(t, b, 3, t0, u); !ok {
		t.Fatal("the refund did not come back")
	}
	spend(t, b, -100, t0, u)
	if ok, _ := spend(t, b, 4.5, t0, u); !ok || func() bool { ok, _ := spend(t, b, 0.1, t0, u); return ok }() {
		t.Fatal("a refund filled the bucket above its burst")
	}
}

func testKeys(t *testing.T, b budget.Budget) {
	spend(t, b, 5, t0, user("u1", 1, 5))
	if ok, _ := spend(t, b, 5, t0, user("u2", 1, 5)); !ok {
		t.Fatal("spending from u1 emptied u2")
	}
}

func testClockBack(t *testing.T, b budget.Budget) {
	u := user("u1", 1, 2)
	spend(t, b, 2, t0.Add(time.Second), u)
	if ok, _ := spend(t, b, 1, t0, u); ok {
		t.Fatal("a clock going back refilled the bucket")
	}
}

func testConcurrent(t *testing.T, b budget.Budget) {
	const burst = 200
	a := user("acct", 1e-9, burst)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			u := user(fmt.Sprintf("u%d", g), 1e-9, burst)
			for range 100 {
				ok, _, err := b.Spend(context.Background(), 1, t0, u, a)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					passed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := passed.Load(); n != burst {
		t.Fatalf("%d spends of 1 passed a shared bucket of %d", n, burst)
	}
}
