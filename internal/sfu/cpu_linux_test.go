package sfu

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU(tb testing.TB) time.Duration { return rusage(tb, unix.RUSAGE_THREAD) }

// processCPU is the CPU time this process has used.
func processCPU(tb testing.TB) time.Duration { return rusage(tb, unix.RUSAGE_SELF) }

func rusage(tb testing.TB, who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
