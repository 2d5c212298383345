package sfu

import "sync"

// outQueue delivers a participant's signals and events in order, from one
// goroutine, so a slow callback never blocks the SFU. It is unbounded: the
// items are few and small (SDP, candidates, room events).
type outQueue struct {
	mu     sync.Mutex
	items  []outItem
	closed bool
	wake   chan struct{}
}

type outItem struct {
	sig *Signal
	ev  *Event
}

func newOutQueue() *outQueue { return &outQueue{wake: make(chan struct{}, 1)} }

func (q *outQueue) push(it outItem) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close makes run return once what was pushed before has been delivered.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outQueue) run(onSignal func(Signal), onEvent func(Event)) {
	for range q.wake {
		for {
			q.mu.Lock()
			items, closed := q.items, q.closed
			q.items = nil
			q.mu.Unlock()
			if len(items) == 0 {
				if closed {
					return
				}
				break
			}
			for _, it := range items {
				switch {
				case it.sig != nil && onSignal != nil:
					onSignal(*it.sig)
				case it.ev != nil && onEvent != nil:
					onEvent(*it.ev)
				}
			}
		}
	}
}
