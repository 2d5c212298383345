package sfu

import (
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
	old := d.target.Swap(want)
	if want < 0 {
		d.current.Store(-1)
	}
	cur := d.current.Load()
	d.mu.Unlock()
	if want >= 0 && want != cur {
		d.track.requestKeyframe(want)
	}
	_ = old
}

func (r *room) chooseLayer(d *downTrack) int32 {
	d.prefMu.Lock()
	w, h, paused := d.prefW, d.prefH, d.paused
	d.prefMu.Unlock()
	if paused {
		return -1
	}
	t := d.track
	if t.kind == webrtc.RTPCodecTypeAudio {
		return 0
	}
	now := time.Now().UnixNano()
	unwanted := t.unwanted.Load()
	var avail [maxLayers]*layer
	t.mu.Lock()
	for i, l := range t.layers {
		// a layer counts if it is sending, or if dynacast paused it (the
		// publisher resumes it once it is wanted again)
		if l != nil && (l.lastArrival.Load() == 0 || now-l.lastArrival.Load() < int64(1500*time.Millisecond) || unwanted&(1<<i) != 0) {
			avail[i] = l
		}
	}
	t.mu.Unlock()
	top, low := int32(-1), int32(-1)
	for i := int32(maxLayers - 1); i >= 0; i-- {
		if avail[i] != nil {
			if top < 0 {
				top = i
			}
			low = i
		}
	}
	if top < 0 {
		return d.current.Load() // nothing to choose from: keep what it gets
	}
	want := top
	if w > 0 || h > 0 {
		tw, th := int(avail[top].width.Load()), int(avail[top].height.Load())
		for i := low; i <= top; i++ {
			l := avail[i]
			if l == nil {
				continue
			}
			lw, lh := int(l.width.Load()), int(l.height.Load())
			if lw == 0 && tw > 0 { // not seen yet: assume each layer halves the size
				lw, lh = tw>>(top-i), th>>(top-i)
			}
			if lw == 0 || (lw >= w && lh >= h) {
				want = i
				break
			}
		}
	}
	budget := d.sub.videoBudget()
	max := r.s.cfg.MaxBitrate
	for want > low {
		l := avail[want]
		br := nominalBitrate[want]
		if l != nil && l.bitrate.Load() > 0 {
			br = int(l.bitrate.Load())
		}
		if l != nil && br <= budget && (max == 0 || br <= max) {
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
		}
	}
	if sinks := t.sinks.Load(); sinks != nil && len(*sinks) > 0 {
		if top := t.topLayer(); top >= 0 {
			mask |= 1 << top
		}
	}
	mask &= known
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
		if l != nil && mask&(1<<i) != 0 {
			rids = append(rids, l.rid)
		}
	}
	t.mu.Unlock()
	ti := t.info()
	t.pub.event(Event{Type: EventLayersWanted, Room: r.id, Track: &ti, Layers: rids})
}

// remb sends Config.MaxBitrate to a video publisher as its REMB ceiling.
func (r *room) remb(t *pubTrack) {
	max := r.s.cfg.MaxBitrate
	if max <= 0 || t.kind != webrtc.RTPCodecTypeVideo {
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
