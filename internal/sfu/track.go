package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Simulcast layers by quality, from the RIDs clients commonly use (Parley's
// SDK uses q, h, f). A track without simulcast has one layer, 0.
var ridLayer = map[string]int32{
	"": 0, "q": 0, "h": 1, "f": 2,
	"l": 0, "m": 1, "low": 0, "mid": 1, "high": 2, "0": 0, "1": 1, "2": 2,
}

var layerRID = [3]string{"q", "h", "f"}

const maxLayers = 3

// nominalBitrate guesses a layer's bitrate before it is measured.
var nominalBitrate = [3]int{150_000, 500_000, 1_500_000}

// layer is one received RTP stream of a published track: a simulcast
// encoding, or the whole track.
type layer struct {
	idx    int32
	rid    string
	ssrc   uint32
	remote *webrtc.TrackRemote
	cache  *packetCache

	lastPLI      atomic.Int64 // unix nanoseconds
	lastArrival  atomic.Int64
	bytes        atomic.Uint64
	width        atomic.Int32
	height       atomic.Int32
	bitrate      atomic.Int64 // bps, measured by the room's ticker
	prevBytes    uint64       // ticker only
	extAudioLvl  uint8
	videoVP8     bool
	videoOtherKF bool // not VP8: every packet may start a switch

	mirrors atomic.Pointer[[]*tapSink] // copy-on-write, like pubTrack.downs
}

// pubTrack is a track a participant publishes: its layers, the downtracks
// it feeds and the taps recording it.
type pubTrack struct {
	room   *room
	pub    *Participant
	id     string
	stream string
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	source string
	simul  bool

	mu      sync.Mutex
	layers  [maxLayers]*layer
	running int // read loops alive
	ended   bool

	downs atomic.Pointer[[]*downTrack]
	sinks atomic.Pointer[[]*tapSink]
	muted atomic.Bool

	// audio level, dBov as 127-level summed over packets since the last tick
	levelSum, levelN atomic.Int64
	smoothed         float64 // room ticker only

	wantedMask int32        // layers last announced as wanted (-1: none announced), room ticker only
	unwanted   atomic.Int32 // layers announced as not wanted
}

func (t *pubTrack) layer(i int32) *layer {
	if i < 0 || i >= maxLayers {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.layers[i]
}

// topLayer is the highest layer received so far, or -1.
func (t *pubTrack) topLayer() int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := maxLayers - 1; i >= 0; i-- {
		if t.layers[i] != nil {
			return int32(i)
		}
	}
	return -1
}

// addDown and removeDown update the copy-on-write list the read loops range over.
func (t *pubTrack) addDown(d *downTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cowAdd(&t.downs, d)
}

func (t *pubTrack) removeDown(d *downTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cowRemove(&t.downs, d)
}

func (t *pubTrack) addSink(s *tapSink) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cowAdd(&t.sinks, s)
}

func (t *pubTrack) removeSink(s *tapSink) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return cowRemove(&t.sinks, s)
}

// cowAdd appends x to a copy-on-write list; the writer holds a lock.
func cowAdd[T any](p *atomic.Pointer[[]T], x T) {
	var l []T
	if old := p.Load(); old != nil {
		l = append(l, *old...)
	}
	l = append(l, x)
	p.Store(&l)
}

// cowRemove drops x from a copy-on-write list and reports whether it was there.
func cowRemove[T comparable](p *atomic.Pointer[[]T], x T) (found bool) {
	old := p.Load()
	if old == nil {
		return false
	}
	l := make([]T, 0, len(*old))
	for _, y := range *old {
		if y != x {
			l = append(l, y)
		} else {
			found = true
		}
	}
	p.Store(&l)
	return found
}

// requestKeyframe asks the publisher for a keyframe on a layer, at most once
// per PLIInterval.
func (t *pubTrack) requestKeyframe(i int32) {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	l := t.layer(i)
	if l == nil {
		return
	}
	now := time.Now().UnixNano()
	last := l.lastPLI.Load()
	if now-last < int64(t.room.s.cfg.PLIInterval) || !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if f := t.pub.feed; f != nil {
		f.keyframe(t.id, l.rid)
		return
	}
	_ = t.pub.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
}

// addLayer registers a newly arrived stream of the track; it reports false
// if the track has already ended or the layer is known.
func (t *pubTrack) addLayer(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) (*layer, bool) {
	l := t.newLayer(remote.RID())
	l.ssrc, l.remote = uint32(remote.SSRC()), remote
	if t.kind == webrtc.RTPCodecTypeAudio {
		for _, e := range receiver.GetParameters().HeaderExtensions {
			if e.URI == uriAudioLevel {
				l.extAudioLvl = uint8(e.ID)
			}
		}
	}
	return l, t.insertLayer(l)
}

// newLayer makes the layer of a RID, with its cache.
func (t *pubTrack) newLayer(rid string) *layer {
	idx, ok := ridLayer[rid]
	if !ok {
		idx = 0
	}
	l := &layer{idx: idx, rid: rid}
	if t.kind == webrtc.RTPCodecTypeVideo {
		l.cache = newPacketCache(512)
		l.videoVP8 = strings.EqualFold(t.codec.MimeType, webrtc.MimeTypeVP8)
		l.videoOtherKF = !l.videoVP8
	} else {
		l.cache = newPacketCache(64)
	}
	return l
}

// insertLayer adds l unless the track has ended or has that layer already.
func (t *pubTrack) insertLayer(l *layer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended || t.layers[l.idx] != nil {
		return false
	}
	t.layers[l.idx] = l
	t.running++
	return true
}

// readLoop reads one layer until it ends and forwards each packet to the
// downtracks and, for the top layer, to the taps. It reports whether this
// was the track's last layer to end.
func (t *pubTrack) readLoop(l *layer) (last bool) {
	c := l.cache
	for {
		s := c.spare
		n, _, err := l.remote.Read(s.buf[:])
		if err != nil {
			break
		}
		t.receive(l, n)
	}
	return t.endLayer()
}

// receive parses the n-byte packet read into l's spare cache slot, caches
// it and forwards it.
func (t *pubTrack) receive(l *layer, n int) {
	c := l.cache
	s := c.spare
	hn, err := s.pkt.Header.Unmarshal(s.buf[:n])
	if err != nil {
		return
	}
	end := n
	if s.pkt.Padding {
		if pad := int(s.buf[n-1]); pad <= n-hn {
			end -= pad
		}
	}
	s.pkt.Payload = s.buf[hn:end]
	now := time.Now().UnixNano()
	l.lastArrival.Store(now)
	l.bytes.Add(uint64(n))
	t.fanout(l, c.commit(), now)
}

// endLayer counts a layer that stopped; it reports whether it was the
// track's last.
func (t *pubTrack) endLayer() (last bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.running--
	if t.running == 0 && !t.ended {
		t.ended = true
		return true
	}
	return false
}

// fanout forwards one received packet of layer l to every downtrack and,
// for the top layer, to the taps. This is the SFU's per-packet path: it
// must not allocate.
func (t *pubTrack) fanout(l *layer, s *slot, now int64) {
	if ms := l.mirrors.Load(); ms != nil && len(*ms) > 0 {
		t.mirror(*ms, s) // every packet, padding too: mirrors keep the numbering
	}
	downs := t.downs.Load()
	if len(s.pkt.Payload) == 0 { // padding only: not forwarded
		if downs != nil {
			for _, d := range *downs {
				d.skip(l.idx, s.pkt.SequenceNumber)
			}
		}
		return
	}
	key := true
	var level []byte
	if t.kind == webrtc.RTPCodecTypeAudio {
		if l.extAudioLvl != 0 {
			if level = s.pkt.GetExtension(l.extAudioLvl); len(level) == 1 {
				t.levelSum.Add(int64(127 - level[0]&0x7f))
				t.levelN.Add(1)
			}
		}
	} else if l.videoVP8 {
		var w, h int
		key, w, h = vp8Keyframe(s.pkt.Payload)
		if w > 0 {
			l.width.Store(int32(w))
			l.height.Store(int32(h))
		}
	}
	if downs != nil && len(*downs) > 0 {
		b := t.room.s.batch()
		b.hold()
		for _, d := range *downs {
			d.forward(l.idx, s, key, level, now)
		}
		b.release()
	}
	if sinks := t.sinks.Load(); sinks != nil && len(*sinks) > 0 && t.topLayer() == l.idx {
		for _, k := range *sinks {
			k.write(&s.pkt)
		}
	}
}

// info describes the track.
func (t *pubTrack) info() TrackInfo {
	ti := TrackInfo{
		ID: t.id, ParticipantID: t.pub.opts.ID, Kind: t.kind.String(), Source: t.source,
		Codec: t.codec.MimeType, Simulcast: t.simul, Muted: t.muted.Load(), Layers: []LayerInfo{},
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now().UnixNano()
	for _, l := range t.layers {
		if l == nil {
			continue
		}
		li := LayerInfo{
			RID: l.rid, Width: int(l.width.Load()), Height: int(l.height.Load()),
			Bitrate: int(l.bitrate.Load()), Active: now-l.lastArrival.Load() < int64(time.Second),
		}
		ti.Layers = append(ti.Layers, li)
		ti.Bitrate += li.Bitrate
		if li.Width > 0 {
			ti.Width, ti.Height = li.Width, li.Height
		}
	}
	return ti
}
