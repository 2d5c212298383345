// Package local is the in-process Bus: a map from topic to handlers.
package local

import (
	"sync"

	"github.com/parley-chat/parley/internal/bus"
)

// Bus delivers events to handlers in the same process, synchronously, on
// the publisher's goroutine. Handler lists are copy-on-write, so Publish
// holds no lock while handlers run and handlers may (un)subscribe.
type Bus struct {
	mu     sync.RWMutex
	topics map[string][]*sub
}

var _ bus.Bus = (*Bus)(nil)

type sub struct{ h bus.Handler }

func New() *Bus { return &Bus{topics: make(map[string][]*sub)} }

func (b *Bus) Publish(topic string, ev bus.Event) error {
	b.mu.RLock()
	subs := b.topics[topic]
	b.mu.RUnlock()
	for _, s := range subs {
		s.h(topic, ev)
	}
	return nil
}

func (b *Bus) Subscribe(topic string, h bus.Handler) func() {
	s := &sub{h: h}
	b.mu.Lock()
	old := b.topics[topic]
	subs := make([]*sub, len(old), len(old)+1)
	copy(subs, old)
	b.topics[topic] = append(subs, s)
	b.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { b.remove(topic, s) }) }
}

func (b *Bus) remove(topic string, s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.topics[topic]
	subs := make([]*sub, 0, len(old))
	for _, o := range old {
		if o != s {
			subs = append(subs, o)
		}
	}
	if len(subs) == 0 {
		delete(b.topics, topic)
	} else {
		b.topics[topic] = subs
	}
}

func (b *Bus) Close() error { return nil }
