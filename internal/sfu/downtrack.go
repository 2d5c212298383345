package sfu

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Header extension URIs the SFU negotiates.
const (
	uriAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
	uriTWCC       = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
	uriMid        = "urn:ietf:params:rtp-hdrext:sdes:mid"
	uriRID        = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
	uriRRID       = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
)

const histSize = 1024 // rewritten sequence numbers remembered for NACKs; power of two

// histEntry maps a rewritten sequence number back to the packet it came from.
type histEntry struct {
	out, in uint16
	layer   int8
	ok      bool
	ts      uint32 // rewritten timestamp
}

// downTrack is one published track as one subscriber receives it: its own
// SSRC, sequence numbers and timestamps. It is a webrtc.TrackLocal added to
// the subscriber's sub PeerConnection; the publisher's read loops call
// forward for every packet of every layer.
type downTrack struct {
	track *pubTrack
	sub   *Participant

	sender *webrtc.RTPSender // set once added to the sub PC

	// target is the layer the subscriber should get (-1: none, paused);
	// current the layer it gets now. forward switches current to target at
	// a keyframe of target. Both are read without the lock to skip other
	// layers' packets cheaply.
	target  atomic.Int32
	current atomic.Int32
	// probeUntil (unix ns) holds a layer tried above the estimate's (probeUp)
	probeUntil atomic.Int64
	// sized is the layer the subscriber's size asks for among all the
	// publisher has (-1: paused), whatever the bandwidth: dynacast keeps it on
	sized atomic.Int32

	// preference from SetTrackPreference, guarded by prefMu
	prefMu         sync.Mutex
	prefW, prefH   int
	paused         bool
	packets, bytes atomic.Uint64
	resent         atomic.Uint64 // packets sent again after a NACK

	mu      sync.Mutex // guards everything below
	bound   bool
	ssrc    uint32
	pt      uint8
	rtxSSRC uint32
	rtxPT   uint8
	extTWCC uint8
	extAL   uint8
	writer  webrtc.TrackLocalWriter
	out     interceptor.RTPWriter // through the bandwidth estimator, or nil
	attrs   interceptor.Attributes

	started   bool
	switchSeq uint16 // first input seq of the current numbering
	lastIn    uint16 // newest input seq forwarded or dropped
	seqOff    uint16 // out = in - seqOff
	tsOff     uint32 // out = in - tsOff
	lastOut   uint16
	lastTS    uint32
	lastAt    int64 // unix nanoseconds of the last forwarded packet
	rtxSeq    uint16
	skips     [16]uint16 // input seqs of padding skipped since the switch, a ring
	nskips    int
	hist      [histSize]histEntry

	hdr     rtp.Header
	exts    [2]rtp.Extension
	twccBuf [2]byte
	alBuf   [1]byte
	rtxBuf  [maxPacket]byte
}

func newDownTrack(t *pubTrack, sub *Participant) *downTrack {
	d := &downTrack{track: t, sub: sub, attrs: interceptor.Attributes{}}
	d.target.Store(-1)
	d.current.Store(-1)
	d.sized.Store(-1)
	return d
}

var _ webrtc.TrackLocal = (*downTrack)(nil)

// ID is the publisher's track ID; StreamID the publisher's participant ID,
// so the subscriber's client can tell whose track it is from the msid.
func (d *downTrack) ID() string       { return d.track.id }
func (d *downTrack) RID() string      { return "" }
func (d *downTrack) StreamID() string { return d.track.pub.opts.ID }
func (d *downTrack) Kind() webrtc.RTPCodecType {
	return d.track.kind
}

// Bind is called by pion once the sub PC has negotiated the track.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.track.codec
	var codec webrtc.RTPCodecParameters
	found := false
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, want.MimeType) && c.ClockRate == want.ClockRate {
			codec, found = c, true
			break
		}
	}
	if !found {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ssrc = uint32(ctx.SSRC())
	d.pt = uint8(codec.PayloadType)
	d.rtxSSRC = uint32(ctx.SSRCRetransmission())
	d.rtxPT = 0
	apt := "apt=" + strconv.Itoa(int(codec.PayloadType))
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && strings.Contains(c.SDPFmtpLine, apt) {
			d.rtxPT = uint8(c.PayloadType)
		}
	}
	d.extTWCC, d.extAL = 0, 0
	var exts []interceptor.RTPHeaderExtension
	for _, e := range ctx.HeaderExtensions() {
		switch e.URI {
		case uriTWCC:
			// video only: the estimate serves layer choice, and audio's
			// packets would cost the estimator as much as video's
			if d.track.kind == webrtc.RTPCodecTypeVideo {
				d.extTWCC = uint8(e.ID)
				exts = append(exts, interceptor.RTPHeaderExtension{URI: e.URI, ID: e.ID})
			}
		case uriAudioLevel:
			d.extAL = uint8(e.ID)
		}
	}
	d.writer = ctx.WriteStream()
	d.out = nil
	if bwe := d.sub.bwe; bwe != nil && d.extTWCC != 0 {
		w := d.writer
		d.out = bwe.AddStream(&interceptor.StreamInfo{SSRC: d.ssrc, RTPHeaderExtensions: exts},
			interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
				return w.WriteRTP(h, p)
			}))
	}
	d.bound = true
	d.started = false
	return codec, nil
}

// Unbind is called by pion when the track is removed or the PC closes.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound = false
	d.writer, d.out = nil, nil
	d.mu.Unlock()
	return nil
}

// forward sends one packet of a layer of the published track to this
// subscriber, rewritten, if that layer is the one it gets. key says the
// packet starts a keyframe (always true for audio), now is the arrival
// time in Unix nanoseconds. It runs on the
// publisher's read loop for that layer: no allocation, one short lock.
func (d *downTrack) forward(layer int32, s *slot, key bool, audioLevel []byte, now int64) {
	cur := d.current.Load()
	if layer != cur && (layer != d.target.Load() || !key) {
		return
	}
	p := &s.pkt
	d.mu.Lock()
	if !d.bound {
		d.mu.Unlock()
		return
	}
	in := p.SequenceNumber
	if layer != d.current.Load() { // switch at this keyframe
		if layer != d.target.Load() || !key {
			d.mu.Unlock()
			return
		}
		d.switchTo(layer, in, p.Timestamp, now)
	}
	var out uint16
	if seqBefore(in, d.lastIn) || in == d.lastIn {
		// late or repeated packet: forward it in its place if it belongs
		// to the current numbering, else drop it
		off, ok := d.offsetAt(in)
		if !ok {
			d.mu.Unlock()
			return
		}
		out = in - off
	} else {
		d.lastIn = in
		out = in - d.seqOff
		d.lastOut = out
		d.lastTS = p.Timestamp - d.tsOff
		d.lastAt = now
	}
	ts := p.Timestamp - d.tsOff
	d.hist[out&(histSize-1)] = histEntry{out: out, in: in, layer: int8(layer), ok: true, ts: ts}
	d.write(p.Marker, out, ts, p.CSRC, p.Payload, audioLevel)
	d.mu.Unlock()
	d.packets.Add(1)
	d.bytes.Add(uint64(len(p.Payload)))
}

// skip closes the gap a dropped packet (padding, say) of the current layer
// would leave in this subscriber's sequence numbers. Only a packet right
// after the newest one is skipped, so a gap from a loss stays a gap (the
// subscriber NACKs it).
func (d *downTrack) skip(layer int32, in uint16) {
	if d.current.Load() != layer {
		return
	}
	d.mu.Lock()
	if d.started && layer == d.current.Load() && in-d.lastIn == 1 {
		d.lastIn = in
		d.seqOff++
		d.skips[d.nskips%len(d.skips)] = in
		d.nskips++
	}
	d.mu.Unlock()
}

// offsetAt is the sequence offset that applied when input packet in was
// due: the current one, less one for each padding packet skipped after it.
// ok is false if in precedes the current numbering or more skips than the
// ring remembers. d.mu is held.
func (d *downTrack) offsetAt(in uint16) (off uint16, ok bool) {
	if seqBefore(in, d.switchSeq) {
		return 0, false
	}
	off = d.seqOff
	n := min(d.nskips, len(d.skips))
	for i := 1; i <= n; i++ {
		s := d.skips[(d.nskips-i)%len(d.skips)]
		if seqBefore(s, in) {
			return off, true
		}
		off--
	}
	return off, d.nskips <= len(d.skips)
}

// switchTo starts forwarding layer at input packet (in, ts), continuing the
// subscriber's sequence numbers and timestamps. d.mu is held.
func (d *downTrack) switchTo(layer int32, in uint16, ts uint32, now int64) {
	if !d.started {
		d.seqOff, d.tsOff = 0, 0
		d.started = true
	} else {
		d.seqOff = in - (d.lastOut + 1)
		elapsed := now - d.lastAt
		ticks := uint32(1)
		if elapsed > 0 {
			if t := uint64(elapsed) * uint64(d.track.codec.ClockRate) / uint64(time.Second); t > 0 {
				ticks = uint32(t)
			}
		}
		d.tsOff = ts - (d.lastTS + ticks)
	}
	d.switchSeq = in
	d.lastIn = in - 1
	d.nskips = 0
	d.current.Store(layer)
}

// write sends one rewritten packet. d.mu is held.
func (d *downTrack) write(marker bool, seq uint16, ts uint32, csrc []uint32, payload, audioLevel []byte) {
	h := &d.hdr
	*h = rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    d.pt,
		SequenceNumber: seq,
		Timestamp:      ts,
		SSRC:           d.ssrc,
		CSRC:           csrc,
		Extensions:     d.exts[:0],
	}
	if d.extAL != 0 && len(audioLevel) == 1 {
		d.alBuf[0] = audioLevel[0]
		_ = h.SetExtension(d.extAL, d.alBuf[:])
	}
	if d.extTWCC != 0 {
		n := uint16(d.sub.twccSeq.Add(1) - 1)
		d.twccBuf[0], d.twccBuf[1] = byte(n>>8), byte(n)
		_ = h.SetExtension(d.extTWCC, d.twccBuf[:])
	}
	if d.out != nil {
		_, _ = d.out.Write(h, payload, d.attrs)
	} else if d.writer != nil {
		_, _ = d.writer.WriteRTP(h, payload)
	}
}

// handleNACK resends the packets a subscriber reports lost, from the
// publisher's cache: as RTX if negotiated, else as they were sent.
func (d *downTrack) handleNACK(n *rtcp.TransportLayerNack) {
	for i := range n.Nacks {
		n.Nacks[i].Range(func(seq uint16) bool {
			d.resend(seq)
			return true
		})
	}
}

func (d *downTrack) resend(seq uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.hist[seq&(histSize-1)]
	if !d.bound || !e.ok || e.out != seq {
		return
	}
	l := d.track.layer(int32(e.layer))
	if l == nil {
		return
	}
	if d.rtxSSRC != 0 && d.rtxPT != 0 {
		n, _, marker, ok := l.cache.get(e.in, d.rtxBuf[2:])
		if !ok {
			return
		}
		d.rtxBuf[0], d.rtxBuf[1] = byte(seq>>8), byte(seq)
		d.hdr = rtp.Header{
			Version: 2, Marker: marker, PayloadType: d.rtxPT, SequenceNumber: d.rtxSeq,
			Timestamp: e.ts, SSRC: d.rtxSSRC, Extensions: d.exts[:0],
		}
		d.rtxSeq++
		_, _ = d.writer.WriteRTP(&d.hdr, d.rtxBuf[:n+2])
		d.resent.Add(1)
		return
	}
	n, _, marker, ok := l.cache.get(e.in, d.rtxBuf[:])
	if !ok {
		return
	}
	d.hdr = rtp.Header{
		Version: 2, Marker: marker, PayloadType: d.pt, SequenceNumber: seq,
		Timestamp: e.ts, SSRC: d.ssrc, Extensions: d.exts[:0],
	}
	_, _ = d.writer.WriteRTP(&d.hdr, d.rtxBuf[:n])
	d.resent.Add(1)
}

// readRTCP handles the subscriber's RTCP for this track until the sender
// stops: NACKs, keyframe requests and congestion feedback.
func (d *downTrack) readRTCP() {
	ReadRTCP(d.sender, func(pkts []rtcp.Packet) {
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				d.handleNACK(p)
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if l := d.current.Load(); l >= 0 {
					d.track.requestKeyframe(l)
				}
			}
		}
		if bwe := d.sub.bwe; bwe != nil {
			_ = bwe.WriteRTCP(pkts, nil)
		}
	})
}

// ReadRTCP reads the RTCP a sender receives until it stops, and hands
// handle each compound packet (for links to other SFUs, as for
// subscribers).
func ReadRTCP(sender *webrtc.RTPSender, handle func([]rtcp.Packet)) {
	buf := make([]byte, maxPacket)
	for {
		n, attrs, err := sender.Read(buf)
		if err != nil {
			return
		}
		// the sender-report interceptor has parsed the packets already
		if pkts, err := attrs.GetRTCPPackets(buf[:n]); err == nil {
			handle(pkts)
		}
	}
}
