// Package bustest is the conformance suite every bus.Bus implementation
// runs (local today, Redis in a later issue): Run(t, newBus).
package bustest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/bus"
)

// Run runs every test against buses made by open (a fresh one per test;
// implementations that share a server should isolate topics per test).
func Run(t *testing.T, open func(t *testing.T) bus.Bus) {
	tests := []struct {
		name string
		fn   func(*testing.T, bus.Bus)
	}{
		{"DeliversToSubscribersOfTheTopicOnly", testTopics},
		{"KeepsPublishOrderWithinATopic", testOrder},
		{"UnsubscribeStopsDelivery", testUnsubscribe},
		{"HandlersMaySubscribe", testSubscribeFromHandler},
		{"ConcurrentPublishers", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() { b.Close() })
			tc.fn(t, b)
		})
	}
}

// collector records events; wait blocks until it has n.
type collector struct {
	mu  sync.Mutex
	evs []bus.Event
	ch  chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1<<16)} }

func (c *collector) handle(_ string, ev bus.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *collector) wait(t *testing.T, n int) []bus.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.evs)
		c.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("got %d events, want %d", got, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bus.Event(nil), c.evs...)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

func testTopics(t *testing.T, b bus.Bus) {
	a, a2, other := newCollector(), newCollector(), newCollector()
	defer b.Subscribe("c:a", a.handle)()
	defer b.Subscribe("c:a", a2.handle)()
	defer b.Subscribe("c:b", other.handle)()
	if err := b.Publish("c:a", bus.Event{Name: "chat:message", ConversationID: "a", Seq: 7, Data: []byte(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*collector{a, a2} {
		ev := c.wait(t, 1)[0]
		if ev.Name != "chat:message" || ev.ConversationID != "a" || ev.Seq != 7 || string(ev.Data) != `{"x":1}` {
			t.Fatalf("event arrived as %+v", ev)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if other.count() != 0 {
		t.Fatal("a subscriber of another topic got the event")
	}
}

func testOrder(t *testing.T, b bus.Bus) {
	c := newCollector()
	defer b.Subscribe("c:o", c.handle)()
	for i := range 500 {
		b.Publish("c:o", bus.Event{Name: "e", Seq: int64(i)})
	}
	for i, ev := range c.wait(t, 500) {
		if ev.Seq != int64(i) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
}

func testUnsubscribe(t *testing.T, b bus.Bus) {
	c, stay := newCollector(), newCollector()
	unsub := b.Subscribe("c:u", c.handle)
	defer b.Subscribe("c:u", stay.handle)()
	b.Publish("c:u", bus.Event{Name: "first"})
	c.wait(t, 1)
	unsub()
	unsub() // twice is harmless
	b.Publish("c:u", bus.Event{Name: "second"})
	stay.wait(t, 2)
	time.Sleep(50 * time.Millisecond)
	if n := c.count(); n != 1 {
		t.Fatalf("%d events after unsubscribing, want 1", n)
	}
}

// A handler that subscribes (the WebSocket hub does, when a user joins a
// conversation) must not deadlock, and the new subscriber hears what
// follows.
func testSubscribeFromHandler(t *testing.T, b bus.Bus) {
	later := newCollector()
	var unsub func()
	var once sync.Once
	done := make(chan struct{})
	defer b.Subscribe("u:1", func(string, bus.Event) {
		once.Do(func() {
			unsub = b.Subscribe("c:new", later.handle)
			close(done)
		})
	})()
	b.Publish("u:1", bus.Event{Name: "chat:conversation"})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("subscribing from a handler deadlocked")
	}
	defer unsub()
	b.Publish("c:new", bus.Event{Name: "chat:message"})
	later.wait(t, 1)
}

func testConcurrent(t *testing.T, b bus.Bus) {
	c := newCollector()
	defer b.Subscribe("c:many", c.handle)()
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			for i := range 100 {
				b.Publish("c:many", bus.Event{Name: fmt.Sprint(p), Seq: int64(i)})
			}
		})
	}
	wg.Wait()
	evs := c.wait(t, 800)
	last := map[string]int64{}
	for _, ev := range evs {
		if prev, ok := last[ev.Name]; ok && ev.Seq <= prev {
			t.Fatalf("publisher %s: seq %d after %d", ev.Name, ev.Seq, prev)
		}
		last[ev.Name] = ev.Seq
	}
}
