package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// tap hands a room's published tracks to a recorder.
type tap struct {
	r       *room
	onTrack func(TrackInfo) TrackSink

	mu      sync.Mutex
	stopped bool
	sinks   map[*pubTrack]*tapSink
}

// tapSink wraps a TrackSink: it stops writing after the first error and
// closes the sink exactly once.
type tapSink struct {
	sink   TrackSink
	failed atomic.Bool
	idle   atomic.Bool // a mirror's layer nobody downstream watches: skipped
	once   sync.Once
}

func (k *tapSink) write(p *rtp.Packet) {
	if k.failed.Load() {
		return
	}
	if err := k.sink.WriteRTP(p); err != nil {
		k.failed.Store(true)
	}
}

func (k *tapSink) close() { k.once.Do(func() { _ = k.sink.Close() }) }

// attach asks the recorder for a sink for t. onTrack runs without the
// tap's lock, so it may call stop.
func (k *tap) attach(t *pubTrack) {
	k.mu.Lock()
	if _, ok := k.sinks[t]; ok || k.stopped {
		k.mu.Unlock()
		return
	}
	k.sinks[t] = nil // claimed: a concurrent attach of t backs off
	k.mu.Unlock()
	sink := k.onTrack(t.info())
	k.mu.Lock()
	defer k.mu.Unlock()
	if sink == nil || k.stopped {
		delete(k.sinks, t)
		if sink != nil {
			_ = sink.Close()
		}
		return
	}
	if _, ok := k.sinks[t]; !ok { // the track ended meanwhile
		_ = sink.Close()
		return
	}
	ts := &tapSink{sink: sink}
	k.sinks[t] = ts
	t.addSink(ts)
	t.requestKeyframe(t.topLayer())
}

func (k *tap) detach(t *pubTrack) {
	k.mu.Lock()
	ts := k.sinks[t]
	delete(k.sinks, t)
	k.mu.Unlock()
	if ts != nil {
		t.removeSink(ts)
		ts.close()
	}
}

func (k *tap) stop() {
	k.mu.Lock()
	k.stopped = true
	sinks := k.sinks
	k.sinks = map[*pubTrack]*tapSink{}
	k.mu.Unlock()
	for t, ts := range sinks {
		if ts != nil {
			t.removeSink(ts)
			ts.close()
		}
	}
}
