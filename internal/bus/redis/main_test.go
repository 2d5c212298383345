package redis_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Close stops every goroutine a bus started (the tests close their
// clients, relays and buses in Cleanup).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
