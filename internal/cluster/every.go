package cluster

import (
	"sync"
	"time"
)

// Every runs f every d on a goroutine of its own (the liveness checks of
// rooms and calls across nodes) until stop, which waits for a run under
// way to end.
func Every(d time.Duration, f func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return sync.OnceFunc(func() {
		close(quit)
		<-done
	})
}
