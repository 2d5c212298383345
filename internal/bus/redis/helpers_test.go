package redis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/bus"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
)

// open starts a bus closed when t ends.
func open(t testing.TB, c *goredis.Client, cfg redisbus.Config) *redisbus.Bus {
	t.Helper()
	b, err := redisbus.New(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// recorder keeps what a handler got.
type recorder struct {
	mu   sync.Mutex
	evs  []bus.Event
	wake chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) handle(_ string, ev bus.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) events() []bus.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Event(nil), r.evs...)
}

// waitFor waits until done(events) holds, failing t after 10 s.
func (r *recorder) waitFor(t testing.TB, what string, done func([]bus.Event) bool) []bus.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		evs := r.events()
		if done(evs) {
			return evs
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("waiting for %s; got %d events: %+v", what, len(evs), names(evs))
		}
	}
}

func names(evs []bus.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Name
	}
	return out
}

// has reports whether evs holds an event named name.
func has(name string) func([]bus.Event) bool {
	return func(evs []bus.Event) bool {
		for _, ev := range evs {
			if ev.Name == name {
				return true
			}
		}
		return false
	}
}
