package budget_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/internal/budget/budgettest"
)

func TestMemory(t *testing.T) {
	budgettest.Run(t, func(*testing.T) budget.Budget { return budget.NewMemory() })
}

// Full buckets are forgotten, so memory follows the active keys only.
func TestMemoryForgetsFullBuckets(t *testing.T) {
	m := budget.NewMemory()
	now := time.Unix(1000, 0)
	r := budget.Rate{PerSecond: 10, Burst: 10}
	for i := range 5000 {
		m.Spend(context.Background(), 1, now, budget.Bucket{Key: fmt.Sprint("u", i), Rate: r})
	}
	later := now.Add(2 * time.Second) // every bucket has refilled
	for i := range 5000 {
		m.Spend(context.Background(), 1, later, budget.Bucket{Key: fmt.Sprint("v", i), Rate: r})
	}
	if n := m.Len(); n > 5000+1024 {
		t.Fatalf("%d buckets held for 5000 active keys", n)
	}
}
