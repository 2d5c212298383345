package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recordWriter keeps the headers a downtrack writes.
type recordWriter struct{ hdrs []rtp.Header }

func (w *recordWriter) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	w.hdrs = append(w.hdrs, *h)
	return 0, nil
}

func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

// rewriteRig is a simulcast track with one bound downtrack, no network.
type rewriteRig struct {
	t   *pubTrack
	d   *downTrack
	w   *recordWriter
	seq [3]uint16
	ts  [3]uint32
	now int64
}

func newRewriteRig(t *testing.T, seq0 [3]uint16) *rewriteRig {
	s := &SFU{cfg: Config{PLIInterval: time.Hour}}
	r := newRoom(s, "rw")
	pub := &Participant{s: s, room: r, opts: ParticipantOptions{ID: "pub"}}
	tr := &pubTrack{room: r, pub: pub, id: "cam", kind: webrtc.RTPCodecTypeVideo, simul: true, wantedMask: -1,
		codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
	for i := range tr.layers {
		tr.layers[i] = &layer{idx: int32(i), cache: newPacketCache(64), videoVP8: true}
	}
	d := newDownTrack(tr, &Participant{s: s, room: r})
	w := &recordWriter{}
	d.bound, d.ssrc, d.pt, d.writer = true, 77, 96, w
	tr.addDown(d)
	return &rewriteRig{t: tr, d: d, w: w, seq: seq0, ts: [3]uint32{4_000_000_000, 10, 2_000_000}, now: 1e18}
}

// send pushes one packet of a layer through the fan-out; payload "" is a
// padding-only packet.
func (g *rewriteRig) send(layer int, key bool, padding bool) {
	s := g.t.layers[layer].cache.spare
	s.pkt.Header = rtp.Header{Version: 2, SequenceNumber: g.seq[layer], Timestamp: g.ts[layer], Marker: true, SSRC: uint32(layer + 1)}
	s.pkt.Payload = vp8(key, byte('0'+layer), uint32(g.seq[layer]))
	if padding {
		s.pkt.Payload = s.pkt.Payload[:0]
	}
	g.seq[layer]++
	g.ts[layer] += 3000
	g.now += int64(33 * time.Millisecond)
	g.t.fanout(g.t.layers[layer], g.t.layers[layer].cache.commit(), g.now)
}

// Rewritten sequence numbers and timestamps stay continuous across the
// 16-bit wrap, layer switches, padding and late packets.
func TestRewriteContinuity(t *testing.T) {
	g := newRewriteRig(t, [3]uint16{65530, 200, 65000})
	g.d.target.Store(0)
	for i := range 10 { // wraps the input seq of layer 0
		g.send(0, i == 0, false)
	}
	g.send(0, false, true) // padding: not forwarded, no gap
	g.send(0, false, false)
	g.d.target.Store(2)
	g.send(2, false, false) // not a keyframe: no switch
	g.send(0, false, false)
	g.send(2, true, false) // switch here
	g.send(0, false, false)
	for range 3 {
		g.send(2, false, false)
	}
	// a late packet of layer 2 from before the switch is dropped
	late := g.t.layers[2].cache.spare
	late.pkt.Header = rtp.Header{Version: 2, SequenceNumber: g.seq[2] - 6, Timestamp: 1}
	late.pkt.Payload = vp8(false, 'x', 0)
	g.t.fanout(g.t.layers[2], g.t.layers[2].cache.commit(), g.now)

	h := g.w.hdrs
	if len(h) != 16 {
		t.Fatalf("%d packets forwarded, want 16", len(h))
	}
	for i := 1; i < len(h); i++ {
		if h[i].SequenceNumber != h[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, h[i].SequenceNumber, h[i-1].SequenceNumber)
		}
		if d := h[i].Timestamp - h[i-1].Timestamp; d == 0 || d > 90000 {
			t.Fatalf("packet %d: timestamp step %d", i, d)
		}
		if h[i].SSRC != 77 || h[i].PayloadType != 96 {
			t.Fatalf("packet %d: SSRC %d PT %d", i, h[i].SSRC, h[i].PayloadType)
		}
	}
	if h[0].SequenceNumber != 65530 {
		t.Errorf("first seq %d: the first layer keeps its numbering", h[0].SequenceNumber)
	}
	// NACK for a packet before the switch maps back to layer 0
	e := g.d.hist[h[5].SequenceNumber&(histSize-1)]
	if !e.ok || e.layer != 0 || e.out != h[5].SequenceNumber {
		t.Fatalf("history for %d: %+v", h[5].SequenceNumber, e)
	}
}

// A packet that arrives late, after padding was skipped, takes the number
// its gap left, not one already used.
func TestRewriteLateAfterPadding(t *testing.T) {
	g := newRewriteRig(t, [3]uint16{100, 0, 0})
	g.d.target.Store(0)
	g.send(0, true, false)  // 100
	g.seq[0]++              // 101 is lost for now
	g.send(0, false, false) // 102
	g.send(0, false, false) // 103
	g.send(0, false, true)  // 104: padding, skipped
	g.send(0, false, false) // 105
	g.send(0, false, true)  // 106: padding, skipped
	g.send(0, false, false) // 107
	// 101 arrives at last
	late := g.t.layers[0].cache.spare
	late.pkt.Header = rtp.Header{Version: 2, SequenceNumber: 101, Timestamp: 1, Marker: true}
	late.pkt.Payload = vp8(false, 'l', 101)
	g.t.fanout(g.t.layers[0], g.t.layers[0].cache.commit(), g.now)

	seen := map[uint16]bool{}
	var outs []uint16
	for _, h := range g.w.hdrs {
		if seen[h.SequenceNumber] {
			t.Fatalf("seq %d used twice: %v", h.SequenceNumber, outs)
		}
		seen[h.SequenceNumber] = true
		outs = append(outs, h.SequenceNumber)
	}
	want := []uint16{100, 102, 103, 104, 105, 101}
	if len(outs) != len(want) {
		t.Fatalf("forwarded %v, want %v", outs, want)
	}
	for i := range want {
		if outs[i] != want[i] {
			t.Fatalf("forwarded %v, want %v", outs, want)
		}
	}
}
