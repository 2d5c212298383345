package redis

import (
	"context"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/bus"
)

// delivery is one event of a topic for the handlers subscribed when it
// arrived.
type delivery struct {
	topic   string
	subs    []*sub
	payload string
	gap     bool
}

// dispatcher calls the handlers from one goroutine, in arrival order. Its
// queue is unbounded so the reader never waits for a handler: a handler
// may Subscribe, which waits for the reader to see Redis's answer.
type dispatcher struct {
	mu     sync.Mutex
	items  []delivery
	closed bool
	wake   chan struct{}
}

func (d *dispatcher) init() { d.wake = make(chan struct{}, 1) }

func (d *dispatcher) put(it delivery) {
	d.mu.Lock()
	d.items = append(d.items, it)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (b *Bus) dispatch() {
	defer close(b.dispDone)
	d := &b.disp
	var spare []delivery
	for {
		d.mu.Lock()
		items, closed := d.items, d.closed
		d.items = spare[:0]
		d.mu.Unlock()
		if closed {
			return // Close: no handler runs after it returns
		}
		if len(items) == 0 {
			<-d.wake
			spare = items
			continue
		}
		for i := range items {
			b.deliver(&items[i])
			items[i] = delivery{}
		}
		spare = items
	}
}

func (b *Bus) deliver(it *delivery) {
	ev := bus.Event{Name: bus.Gap}
	if !it.gap {
		var err error
		if ev, err = decode(it.payload); err != nil {
			// Another version's envelope, or a foreign publisher on our
			// prefix: what it carried is lost to the subscribers.
			b.cfg.Log.Error("redis bus: undecodable event", "topic", it.topic, "err", err)
			ev = bus.Event{Name: bus.Gap}
		}
	}
	for _, s := range it.subs {
		if !s.gone.Load() {
			s.h(it.topic, ev)
		}
	}
}

// outItem is one encoded event waiting for the writer.
type outItem struct {
	topic   string
	payload []byte
}

// outbox is the writer's queue, bounded so that a Redis slower than the
// publishers slows them down rather than filling memory.
type outbox struct {
	mu      sync.Mutex
	notFull sync.Cond
	items   []outItem
	closed  bool
	wake    chan struct{}
}

const (
	outboxMax = 8192    // events queued before Publish waits (a few ms of Redis's work)
	heldMax   = 1 << 16 // events held while Redis is away before the oldest are dropped
	batchMax  = 1024    // events per pipeline
)

func (o *outbox) init() {
	o.notFull.L = &o.mu
	o.wake = make(chan struct{}, 1)
}

func (o *outbox) put(it outItem) error {
	o.mu.Lock()
	for len(o.items) >= outboxMax && !o.closed {
		o.notFull.Wait()
	}
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	o.items = append(o.items, it)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// take removes up to batchMax items; closed reports Close was called.
func (o *outbox) take() (batch []outItem, closed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := min(len(o.items), batchMax)
	batch = append([]outItem(nil), o.items[:n]...)
	rest := copy(o.items, o.items[n:])
	clear(o.items[rest:])
	o.items = o.items[:rest]
	o.notFull.Broadcast()
	return batch, o.closed
}

func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.notFull.Broadcast()
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// write hands queued events to Redis, one pipeline per batch on one
// connection, so they leave in Publish order. A batch Redis did not take
// is dropped (some of it may have gone out: resending could repeat events
// behind later ones) and its topics are owed a Gap, which the writer
// publishes as soon as Redis answers again, before anything newer of
// theirs. Meanwhile it keeps taking events from the outbox into held, so
// publishers do not wait on a Redis that is away; past heldMax held
// events the oldest are dropped into the owed set too.
func (b *Bus) write() {
	defer close(b.writerDone)
	owed := map[string]struct{}{}
	var held []outItem
	backoff := minBackoff
	var nextTry time.Time
	owe := func(items []outItem, err error) {
		if len(owed) == 0 && err != nil {
			b.cfg.Log.Warn("redis bus: publishing failed; the topics will get a gap", "err", err)
		}
		for _, it := range items {
			owed[it.topic] = struct{}{}
		}
	}
	fail := func(items []outItem, err error) {
		owe(items, err)
		nextTry = time.Now().Add(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
	for {
		batch, closed := b.out.take()
		held = append(held, batch...)
		if over := len(held) - heldMax; over > 0 {
			owe(held[:over], nil)
			held = append(held[:0], held[over:]...)
		}
		if len(held) == 0 && (len(owed) == 0 || closed) {
			if closed {
				if len(owed) > 0 {
					b.cfg.Log.Error("redis bus: closed with gaps unannounced", "topics", len(owed))
				}
				return
			}
			<-b.out.wake
			continue
		}
		if len(owed) > 0 {
			if wait := time.Until(nextTry); wait > 0 {
				if closed {
					owe(held, nil)
					held = nil
					continue
				}
				select {
				case <-b.out.wake:
				case <-time.After(wait):
				}
				continue
			}
			gaps := make([]outItem, 0, len(owed))
			gapEv := encode(bus.Event{Name: bus.Gap})
			for t := range owed {
				gaps = append(gaps, outItem{topic: t, payload: gapEv})
			}
			if err := b.send(gaps); err != nil {
				fail(nil, err)
				continue
			}
			clear(owed)
			backoff = minBackoff
			b.cfg.Log.Info("redis bus: publishing again; gaps announced", "topics", len(gaps))
		}
		n := min(len(held), batchMax)
		if err := b.send(held[:n]); err != nil {
			fail(held[:n], err)
		}
		rest := copy(held, held[n:])
		clear(held[rest:])
		held = held[:rest]
	}
}

func (b *Bus) send(items []outItem) error {
	ctx := context.Background()
	pipe := b.pub.Pipeline()
	for _, it := range items {
		if b.sharded {
			pipe.SPublish(ctx, b.cfg.Prefix+it.topic, it.payload)
		} else {
			pipe.Publish(ctx, b.cfg.Prefix+it.topic, it.payload)
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}
