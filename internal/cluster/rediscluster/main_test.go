package rediscluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No heartbeat loop outlives its node's Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
