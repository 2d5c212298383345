package sfu

import (
	"math"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// allocateDown picks the layer a subscriber gets of a track: the smallest
// that covers the size it asked for, stepped down while it does not fit the
// subscriber's share of its estimated bandwidth or Config.MaxBitrate. The
// switch itself happens at the next keyframe of that layer, which is
// requested here.
func (r *room) allocateDown(d *downTrack) {
	want := r.chooseLayer(d)
	d.mu.Lock()
	d.target.Store(want)
	if want < 0 {
		d.current.Store(-1) // paused: stop now, resume at a keyframe
	}
	cur := d.current.Load()
	d.mu.Unlock()
	if want >= 0 && want != cur {
		d.track.requestKeyframe(want)
	}
}

// chooseLayer is the layer d should get now, or -1 for none.
func (r *room) chooseLayer(d *downTrack) int32 {
	d.prefMu.Lock()
	w, h, paused := d.prefW, d.prefH, d.paused
	d.prefMu.Unlock()
	if paused {
		d.sized.Store(-1)
		return -1
	}
	t := d.track
	if t.kind == webrtc.RTPCodecTypeAudio {
		return 0
	}
	now := time.Now().UnixNano()
	unwanted := t.unwanted.Load()
	var views, known [maxLayers]layerView
	t.mu.Lock()
	for i, l := range t.layers {
		if l == nil {
			continue
		}
		known[i] = layerView{ok: true, width: int(l.width.Load()), height: int(l.height.Load()), bitrate: int(l.bitrate.Load())}
		// a layer can be chosen if it is sending, or if dynacast paused it
		// (the publisher resumes it once it is wanted again)
		if l.lastArrival.Load() == 0 || now-l.lastArrival.Load() < int64(1500*time.Millisecond) || unwanted&(1<<i) != 0 {
			views[i] = known[i]
		}
	}
	t.mu.Unlock()
	// What the size asks for among the layers a simulcast publisher may
	// send, arriving or not, is what dynacast keeps on: a layer the browser
	// never started or stopped by itself (Chromium leaves its top layer off
	// when short of CPU or bandwidth) is asked for instead of being written
	// off for good.
	if t.simul {
		for i := range known {
			known[i].ok = true
		}
	}
	d.sized.Store(pickLayer(known, w, h, math.MaxInt, r.s.cfg.MaxBitrate))
	budget := d.sub.videoBudget()
	want := pickLayer(views, w, h, budget, r.s.cfg.MaxBitrate)
	if want < 0 {
		return d.current.Load() // nothing to choose from: keep what it gets
	}
	sized := pickLayer(views, w, h, math.MaxInt, r.s.cfg.MaxBitrate)
	cur := d.current.Load()
	if cur > want && now < d.probeUntil.Load() {
		return cur // a probe up: give the estimate time to follow
	}
	if up := probeUp(views, cur, want, sized, budget); up > want {
		d.probeUntil.Store(now + int64(probeHold))
		return up
	}
	return want
}

// probeHold is how long a layer tried by probeUp is kept before the
// estimate may take it back.
const probeHold = 4 * time.Second

// probeUp is the layer above cur to try, or -1. gcc never estimates more
// than 1.5× what it sees arrive, so a subscriber held to a low layer (by
// congestion that has passed, or by a publisher that paused the others)
// would never be allowed back up. When the budget sits near that ceiling
// (the estimate is limited by the flow, not by delay or loss), the next
// layer up, no higher than the size asks for, is tried; if the link cannot
// carry it, the estimate drops and allocateDown steps back after probeHold.
func probeUp(views [maxLayers]layerView, cur, want, sized int32, budget int) int32 {
	if cur < 0 || cur != want || cur >= sized {
		return -1
	}
	br := views[cur].bitrate
	if br <= 0 {
		br = nominalBitrate[cur]
	}
	if budget < br*14/10 {
		return -1
	}
	for i := cur + 1; i <= sized; i++ {
		if views[i].ok {
			return i
		}
	}
	return -1
}

// layerView is what pickLayer knows of a layer: whether it can be chosen,
// its size (0 if no keyframe seen yet) and measured bitrate (0 if unknown).
type layerView struct {
	ok                     bool
	width, height, bitrate int
}

// pickLayer chooses among the available layers: the smallest covering
// w×h (0×0: the top one), then lower while its bitrate exceeds budget or
// max (0: no max), down to the lowest available. Unknown sizes are guessed
// by halving from the top layer's (1280×720 if that is unknown too),
// unknown bitrates from nominalBitrate. It returns -1 if no layer is
// available.
func pickLayer(views [maxLayers]layerView, w, h, budget, max int) int32 {
	top, low := int32(-1), int32(-1)
	for i := int32(maxLayers - 1); i >= 0; i-- {
		if views[i].ok {
			if top < 0 {
				top = i
			}
			low = i
		}
	}
	if top < 0 {
		return -1
	}
	want := top
	if w > 0 || h > 0 {
		tw, th := views[top].width, views[top].height
		if tw == 0 {
			tw, th = 1280, 720
		}
		for i := low; i <= top; i++ {
			v := views[i]
			if !v.ok {
				continue
			}
			lw, lh := v.width, v.height
			if lw == 0 { // not seen yet: assume each layer halves the size
				lw, lh = tw>>(top-i), th>>(top-i)
			}
			if lw >= w && lh >= h {
				want = i
				break
			}
		}
	}
	for want > low {
		v := views[want]
		br := nominalBitrate[want]
		if v.bitrate > 0 {
			br = v.bitrate
		}
		if v.ok && br <= budget && (max == 0 || br <= max) {
			break
		}
		want--
	}
	return want
}

// videoBudget is the subscriber's estimated bandwidth shared among the video
// tracks it watches.
func (p *Participant) videoBudget() int {
	est := initialBitrate
	if p.bwe != nil {
		est = p.bwe.GetTargetBitrate()
	}
	n := 0
	p.mu.Lock()
	for t, d := range p.downs {
		if t.kind == webrtc.RTPCodecTypeVideo && d.target.Load() >= 0 {
			n++
		}
	}
	p.mu.Unlock()
	if n == 0 {
		return est
	}
	return est / n
}

// dynacast tells a simulcast publisher which layers somebody watches, when
// that set changes, so its client can stop encoding the others.
func (r *room) dynacast(t *pubTrack) {
	if !t.simul {
		return
	}
	var known, mask int32
	t.mu.Lock()
	for i, l := range t.layers {
		if l != nil {
			known |= 1 << i
		}
	}
	t.mu.Unlock()
	if downs := t.downs.Load(); downs != nil {
		for _, d := range *downs {
			if l := d.target.Load(); l >= 0 {
				mask |= 1 << l
			}
			if l := d.current.Load(); l >= 0 {
				mask |= 1 << l
			}
			if l := d.sized.Load(); l >= 0 {
				mask |= 1 << l
			}
		}
	}
	if sinks := t.sinks.Load(); sinks != nil && len(*sinks) > 0 {
		if top := t.topLayer(); top >= 0 {
			mask |= 1 << top
		}
	}
	mask |= t.mirroredLayers()
	// mask may hold a layer asked for but never seen (named below by the
	// usual RIDs)
	prev := t.wantedMask
	if prev < 0 {
		prev = known
	}
	if mask == prev {
		return
	}
	t.wantedMask = mask
	t.unwanted.Store(known &^ mask)
	rids := []string{}
	t.mu.Lock()
	for i, l := range t.layers {
		switch {
		case mask&(1<<i) == 0:
		case l != nil:
			rids = append(rids, l.rid)
		default:
			rids = append(rids, layerRID[i])
		}
	}
	t.mu.Unlock()
	ti := t.info()
	t.pub.event(Event{Type: EventLayersWanted, Room: r.id, Track: &ti, Layers: rids})
}

// remb sends Config.MaxBitrate to a video publisher as its REMB ceiling.
func (r *room) remb(t *pubTrack) {
	max := r.s.cfg.MaxBitrate
	if max <= 0 || t.kind != webrtc.RTPCodecTypeVideo || t.pub.pub == nil {
		return
	}
	var ssrcs []uint32
	t.mu.Lock()
	for _, l := range t.layers {
		if l != nil {
			ssrcs = append(ssrcs, l.ssrc)
		}
	}
	t.mu.Unlock()
	if len(ssrcs) == 0 {
		return
	}
	_ = t.pub.pub.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(max), SSRCs: ssrcs}})
}
