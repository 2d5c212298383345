package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/apperr"
)

// A broadcast cascade links two SFUs: on the origin, a Mirror gets every
// layer of every track of a room as published; on an edge, a Feed
// publishes what arrives into the local room, so local viewers are served
// by the edge's own downtracks (layer choice, NACKs from the edge's cache,
// bandwidth estimation). Package cascade carries the packets between them
// over a PeerConnection from NewPeerConnection.

// NewPeerConnection makes a PeerConnection on the SFU's UDP port, with its
// codecs and interceptors (NACKs, reports), for a link to another SFU.
func (s *SFU) NewPeerConnection() (*webrtc.PeerConnection, error) {
	return s.api.NewPeerConnection(webrtc.Configuration{})
}

// Feed is a publisher whose packets come from the caller instead of a
// client's PeerConnection: on an edge SFU, the origin's publisher. It has
// no PeerConnection and subscribes to nothing.
type Feed struct {
	p          *Participant
	onKeyframe func(trackID, rid string)
}

// FeedTrack describes a track a Feed publishes.
type FeedTrack struct {
	ID        string
	Kind      webrtc.RTPCodecType
	Codec     webrtc.RTPCodecParameters
	Source    string // "camera", "microphone", "screen"; "" guesses
	Simulcast bool   // its layers are simulcast encodings (by RID)
	// AudioLevelExt is the header extension ID of the audio level in the
	// packets written (0: none), for active speakers.
	AudioLevelExt uint8
}

// JoinFeed adds a feed to a room as participant o.ID (OnSignal is never
// called; OnEvent gets the room's events and layers_wanted). onKeyframe is
// called when a subscriber needs a keyframe of a layer (at most once per
// PLIInterval per layer); the caller asks its source for one.
func (s *SFU) JoinFeed(roomID string, o ParticipantOptions, onKeyframe func(trackID, rid string)) (*Feed, error) {
	f := &Feed{onKeyframe: onKeyframe}
	o.CanPublish = true
	p, err := s.join(roomID, o, func(p *Participant) { p.feed = f })
	if err != nil {
		return nil, err
	}
	f.p = p
	return f, nil
}

func (f *Feed) keyframe(trackID, rid string) {
	if f.onKeyframe != nil {
		f.onKeyframe(trackID, rid)
	}
}

// ID is the feed's participant ID.
func (f *Feed) ID() string { return f.p.opts.ID }

var errLayerKnown = apperr.New(apperr.Conflict, apperr.CodeConflict, "the track has this layer already, or has ended")

// AddLayer starts a layer (a simulcast RID, or "") of a track, publishing
// the track with its first layer.
func (f *Feed) AddLayer(ft FeedTrack, rid string) (*FeedLayer, error) {
	p := f.p
	if ft.ID == "" {
		return nil, apperr.Invalidf("track ID is required")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	if ft.Source != "" {
		p.sources[ft.ID] = ft.Source
	}
	p.mu.Unlock()
	t, isNew := p.room.trackOrNew(p, ft.ID, func() *pubTrack {
		return p.initTrack(&pubTrack{
			room: p.room, pub: p, id: ft.ID, stream: p.opts.ID, kind: ft.Kind,
			codec: ft.Codec, simul: ft.Simulcast, wantedMask: -1,
		})
	})
	if t == nil {
		return nil, errRoomClosed
	}
	l := t.newLayer(rid)
	l.extAudioLvl = ft.AudioLevelExt
	if !t.insertLayer(l) {
		return nil, errLayerKnown
	}
	if isNew {
		p.room.published(t)
	} else {
		p.room.allocate(t)
		p.room.layerAdded(t)
	}
	return &FeedLayer{t: t, l: l}, nil
}

// SetMuted records that the source muted or unmuted a track.
func (f *Feed) SetMuted(trackID string, muted bool) error { return f.p.SetMuted(trackID, muted) }

// Leave unpublishes the feed's tracks and removes it from the room.
func (f *Feed) Leave() { f.p.Leave() }

// FeedLayer is one layer of a Feed's track.
type FeedLayer struct {
	t *pubTrack
	l *layer

	mu     sync.Mutex
	closed bool
}

var errLayerClosed = apperr.New(apperr.Conflict, "layer_closed", "the layer has ended")

// WriteRTP forwards one RTP packet, as received, to the room's
// subscribers; it is cached for their NACKs. Call it from one goroutine at
// a time. b may be reused once it returns.
func (fl *FeedLayer) WriteRTP(b []byte) error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed {
		return errLayerClosed
	}
	if len(b) > maxPacket {
		return apperr.Invalidf("packet of %d bytes", len(b))
	}
	n := copy(fl.l.cache.spare.buf[:], b)
	fl.t.receive(fl.l, n)
	return nil
}

// Close ends the layer; the track is unpublished with its last layer.
func (fl *FeedLayer) Close() {
	fl.mu.Lock()
	if fl.closed {
		fl.mu.Unlock()
		return
	}
	fl.closed = true
	fl.mu.Unlock()
	if fl.t.endLayer() {
		fl.t.room.unpublish(fl.t)
	}
}

// Mirror is a hidden member of a room that gets every layer of every
// published track as published (the publisher's sequence numbers and
// timestamps): an origin SFU's side of a link to an edge. It counts as one
// participant, and keeps every layer it gets turned on (dynacast) unless
// SetIdle says nobody downstream watches it.
type Mirror struct {
	p       *Participant
	onLayer func(MirrorLayer) TrackSink

	packets, bytes atomic.Uint64

	mu      sync.Mutex
	stopped bool
	sinks   map[*layer]*mirrored // nil value: being attached
}

type mirrored struct {
	t  *pubTrack
	ts *tapSink
}

// MirrorOptions configure a Mirror.
type MirrorOptions struct {
	ID string // its participant ID in the room
	// OnLayer is called for each layer of each track, now and later; the
	// sink it returns (nil: skip the layer) gets the layer's packets, as a
	// tap's sink does, padding-only ones included (Payload empty). Close is
	// called when the track ends or the mirror leaves.
	OnLayer func(MirrorLayer) TrackSink
	// OnEvent gets the room's events (room_closed when the room ends).
	OnEvent func(Event)
}

// JoinMirror adds a mirror to a room, creating the room if absent.
func (s *SFU) JoinMirror(roomID string, o MirrorOptions) (*Mirror, error) {
	if o.OnLayer == nil {
		return nil, apperr.Invalidf("OnLayer is required")
	}
	m := &Mirror{onLayer: o.OnLayer, sinks: map[*layer]*mirrored{}}
	_, err := s.join(roomID, ParticipantOptions{ID: o.ID, Name: o.ID, Hidden: true, OnEvent: o.OnEvent},
		func(p *Participant) { p.mirror = m; m.p = p })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// SetIdle stops (or resumes) giving a layer to the mirror's sink, for a
// layer nobody watches downstream: dynacast may then turn it off at the
// publisher. A resumed layer asks the publisher for a keyframe.
func (m *Mirror) SetIdle(ml MirrorLayer, idle bool) {
	m.mu.Lock()
	x := m.sinks[ml.l]
	m.mu.Unlock()
	if x == nil || x.ts.idle.Swap(idle) == idle {
		return
	}
	if !idle {
		ml.RequestKeyframe()
	}
}

// Leave closes every sink and removes the mirror from the room.
func (m *Mirror) Leave() { m.p.Leave() }

// Sent counts the packets and payload bytes given to the mirror's sinks.
func (m *Mirror) Sent() (packets, bytes uint64) { return m.packets.Load(), m.bytes.Load() }

// MirrorLayer is one layer of a published track, as a Mirror gets it.
type MirrorLayer struct {
	t *pubTrack
	l *layer
}

// Track describes the layer's track.
func (ml MirrorLayer) Track() TrackInfo { return ml.t.info() }

// Participant describes the track's publisher.
func (ml MirrorLayer) Participant() ParticipantInfo {
	p := ml.t.pub
	return ParticipantInfo{ID: p.opts.ID, UserID: p.opts.UserID, Name: p.opts.Name, Joined: p.joined}
}

// RID is the layer's simulcast RID ("" for a plain track).
func (ml MirrorLayer) RID() string { return ml.l.rid }

// Codec is the track's codec as published.
func (ml MirrorLayer) Codec() webrtc.RTPCodecParameters { return ml.t.codec }

// AudioLevel is the packet's audio level extension, or nil.
func (ml MirrorLayer) AudioLevel(p *rtp.Packet) []byte {
	if ml.l.extAudioLvl == 0 {
		return nil
	}
	return p.GetExtension(ml.l.extAudioLvl)
}

// Packet copies the payload of cached packet seq into dst, for a NACK;
// ok is false if it is no longer cached.
func (ml MirrorLayer) Packet(seq uint16, dst []byte) (n int, ts uint32, marker bool, ok bool) {
	return ml.l.cache.get(seq, dst)
}

// RTX copies cached packet seq into dst as an RTX payload (RFC 4588: the
// original sequence number, then the payload), for a NACK.
func (ml MirrorLayer) RTX(seq uint16, dst []byte) (n int, ts uint32, marker bool, ok bool) {
	if len(dst) < 2 {
		return 0, 0, false, false
	}
	n, ts, marker, ok = ml.l.cache.get(seq, dst[2:])
	dst[0], dst[1] = byte(seq>>8), byte(seq)
	return n + 2, ts, marker, ok
}

// RequestKeyframe asks the publisher for a keyframe of this layer, at most
// once per PLIInterval.
func (ml MirrorLayer) RequestKeyframe() { ml.t.requestKeyframe(ml.l.idx) }

// attach asks OnLayer for a sink for each layer of t not yet mirrored.
func (m *Mirror) attach(t *pubTrack) {
	for _, l := range t.present() {
		m.mu.Lock()
		if _, ok := m.sinks[l]; ok || m.stopped {
			m.mu.Unlock()
			continue
		}
		m.sinks[l] = nil // claimed
		m.mu.Unlock()
		sink := m.onLayer(MirrorLayer{t: t, l: l})
		m.mu.Lock()
		_, still := m.sinks[l]
		if sink == nil || m.stopped || !still {
			if sink == nil || !still {
				delete(m.sinks, l)
			}
			m.mu.Unlock()
			if sink != nil {
				_ = sink.Close()
			}
			continue
		}
		ts := &tapSink{sink: &countingSink{TrackSink: sink, m: m}}
		m.sinks[l] = &mirrored{t: t, ts: ts}
		m.mu.Unlock()
		t.addMirror(l, ts)
		t.requestKeyframe(l.idx)
	}
}

// detach closes the sinks of t's layers.
func (m *Mirror) detach(t *pubTrack) {
	for _, l := range t.present() {
		m.mu.Lock()
		x := m.sinks[l]
		delete(m.sinks, l)
		m.mu.Unlock()
		if x != nil {
			t.removeMirror(l, x.ts)
			x.ts.close()
		}
	}
}

func (m *Mirror) stop() {
	m.mu.Lock()
	m.stopped = true
	sinks := m.sinks
	m.sinks = map[*layer]*mirrored{}
	m.mu.Unlock()
	for l, x := range sinks {
		if x != nil {
			x.t.removeMirror(l, x.ts)
			x.ts.close()
		}
	}
	m.p.s.gone.mirrored.Add(m.packets.Load())
	m.p.s.gone.mirroredBytes.Add(m.bytes.Load())
}

// countingSink counts what a mirror sends, for Stats.
type countingSink struct {
	TrackSink
	m *Mirror
}

func (c *countingSink) WriteRTP(p *rtp.Packet) error {
	c.m.packets.Add(1)
	c.m.bytes.Add(uint64(len(p.Payload)))
	return c.TrackSink.WriteRTP(p)
}

func (t *pubTrack) addMirror(l *layer, ts *tapSink) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cowAdd(&l.mirrors, ts)
}

func (t *pubTrack) removeMirror(l *layer, ts *tapSink) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cowRemove(&l.mirrors, ts)
}

// present lists the layers t has.
func (t *pubTrack) present() []*layer {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := make([]*layer, 0, maxLayers)
	for _, x := range t.layers {
		if x != nil {
			l = append(l, x)
		}
	}
	return l
}

// mirror hands one received packet to the mirrors of its layer, batching
// their socket writes like a fan-out's.
func (t *pubTrack) mirror(ms []*tapSink, s *slot) {
	b := t.room.s.batch()
	b.hold()
	for _, k := range ms {
		if !k.idle.Load() {
			k.write(&s.pkt)
		}
	}
	b.release()
}

// mirroredLayers is the mask of t's layers that a mirror gets.
func (t *pubTrack) mirroredLayers() int32 {
	var mask int32
	for _, l := range t.present() {
		if ms := l.mirrors.Load(); ms != nil {
			for _, k := range *ms {
				if !k.idle.Load() {
					mask |= 1 << l.idx
				}
			}
		}
	}
	return mask
}

func (m *Mirror) isStopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopped
}
