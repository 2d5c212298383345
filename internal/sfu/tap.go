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

func (k *tap) attach(t *pubTrack) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped || k.sinks[t] != nil {
		return
	}
	sink := k.onTrack(t.info())
	if sink == nil {
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
		t.removeSink(ts)
		ts.close()
	}
}
