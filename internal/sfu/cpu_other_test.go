//go:build !linux

package sfu

import (
	"testing"
	"time"
)

// CPU time per thread or process is measured on Linux only; elsewhere the
// figures that need it are left out.
func threadCPU(testing.TB) time.Duration  { return 0 }
func processCPU(testing.TB) time.Duration { return 0 }
