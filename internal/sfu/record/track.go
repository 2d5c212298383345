// Package record writes the RTP packets of published tracks to files as they
// arrive: VP8 video and Opus audio, each track to its own WebM file.
//
// A TrackWriter turns one track's packets into one file. Its WebM is written
// as a live stream: Segment and Clusters of unknown size, a cluster at least
// every second, what is buffered handed to the OS every 250 ms or so, and the
// Duration in the header kept up to date. A recording cut short by the
// server stopping therefore plays up to the cut, less the last 0.3 s at most
// (packets still queued or buffered). Close adds what a finished file has:
// the sizes, the final duration and the cues (a seek index).
//
// A file's 0 s is when its TrackWriter was made: the Recorder's manifest
// gives that time as the track's started_at, and the file's DateUTC holds it
// too. Each stream (SSRC) is placed by when its first packet arrived, then
// timed by its RTP timestamps, so the tracks of a room line up.
//
// Opus goes to WebM rather than Ogg: one muxer for both kinds, the same
// crash behaviour, files browsers play in a <video> or <audio> element, and
// one naming scheme (<room>-<start>-<participant>-<track>.webm).
//
// A Recorder records a room: one TrackWriter per track and a JSON manifest.
// List and Open serve an owner's listing and download.
package record

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/parley-chat/parley/internal/apperr"
)

// Codec names, as in SDP.
const (
	CodecVP8  = "video/VP8"
	CodecOpus = "audio/opus"
)

// Options describe the track a TrackWriter records.
type Options struct {
	// Codec is the track's codec as SDP names it: "video/VP8" or
	// "audio/opus" (case does not matter). Anything else is refused.
	Codec string
	// ClockRate is the RTP clock rate in Hz. Defaults to 90000 for VP8 and
	// 48000 for Opus.
	ClockRate uint32
	// Channels is Opus's channel count, 1 or 2. Defaults to 2, what SDP
	// always announces for Opus.
	Channels uint16
	// Width and Height are the video size written in the file header.
	// 0 takes them from the first keyframe.
	Width, Height int
	// RequestKeyframe, if set, is called when video waits for a keyframe (at
	// the start, after a loss or a new SSRC), then at most once a second
	// while it still waits; the SFU sends the publisher a PLI. It is called
	// from the writer's goroutine and must not block.
	RequestKeyframe func()
}

// Stats count what a TrackWriter has done so far.
type Stats struct {
	Packets  uint64        // packets WriteRTP took (before Close)
	Dropped  uint64        // packets not written: queue full, late, duplicate, malformed, lost frame parts, before a keyframe
	Frames   uint64        // frames (VP8) or Opus packets written
	Bytes    uint64        // frame bytes written (the file adds 1-5% of headers)
	Duration time.Duration // file time to the end of the last frame written
}

// ErrClosed is returned by WriteRTP after Close.
var ErrClosed = errors.New("record: track writer closed")

const (
	queueLen      = 1024                   // packets WriteRTP may queue ahead of the file writer
	drainInterval = 50 * time.Millisecond  // how often the writer takes the queue (sooner when half full)
	flushInterval = 250 * time.Millisecond // buffered bytes reach the OS within about this
	keyframeRetry = time.Second
)

var packetPool = sync.Pool{New: func() any { return new(packet) }}

// TrackWriter writes one track's RTP packets to a WebM file. WriteRTP only
// copies the packet into a queue; a goroutine of its own takes the queue
// every drainInterval, reorders, reassembles frames and writes the file, so a
// slow disk never stalls the caller (packets beyond the queue are dropped and
// counted) and the caller never pays for waking the writer per packet.
// WriteRTP and Stats may be called from any goroutine; TrackWriter satisfies
// TrackSink.
type TrackWriter struct {
	mu       sync.Mutex // guards closed, pending and lastSSRC
	closed   bool
	pending  []*packet
	lastSSRC uint32        // of the last packet WriteRTP took
	seen     bool          // WriteRTP took a packet
	kick     chan struct{} // wakes the writer early: queue half full, or Close
	done     chan struct{}
	queued   atomic.Int64          // packets queued and not yet handled by the writer
	err      atomic.Pointer[error] // the writer's first error

	packets, dropped, frames, bytes atomic.Uint64
	durationMS                      atomic.Int64

	// Owned by the writer goroutine.
	f       *os.File
	webm    *webmWriter
	o       Options
	video   bool
	track   webmTrack
	started time.Time
	ro      reorder
	emit    func(*packet)

	now      time.Time // when the writer took the batch it is handling
	ssrc     uint32
	haveSSRC bool

	// The frame being assembled.
	frame        []byte
	frameTS      uint32
	inFrame      bool
	frameBad     bool
	frameKey     bool
	framePackets uint64

	headerDone   bool
	needKey      bool
	lastAsk      time.Time
	tl           timeline
	lastFrameLen int64 // ms, the last frame's duration, for the file's Duration
}

var _ TrackSink = (*TrackWriter)(nil)

// NewTrackWriter creates the file at path (it must not exist) and starts
// writing the track described by o into it. Close it when the track ends.
func NewTrackWriter(path string, o Options) (*TrackWriter, error) {
	w, err := newTrackWriter(path, o)
	if err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// newTrackWriter is NewTrackWriter without the goroutine.
func newTrackWriter(path string, o Options) (*TrackWriter, error) {
	w := &TrackWriter{o: o}
	switch strings.ToLower(o.Codec) {
	case strings.ToLower(CodecVP8):
		w.video = true
		if w.o.ClockRate == 0 {
			w.o.ClockRate = 90000
		}
		if o.Width < 0 || o.Height < 0 {
			return nil, apperr.Invalidf("record: bad video size %dx%d", o.Width, o.Height)
		}
		w.track = webmTrack{video: true, codecID: "V_VP8", width: o.Width, height: o.Height}
		w.needKey = true
	case strings.ToLower(CodecOpus):
		if w.o.ClockRate == 0 {
			w.o.ClockRate = 48000
		}
		if w.o.Channels == 0 {
			w.o.Channels = 2
		}
		if w.o.Channels > 2 {
			return nil, apperr.Invalidf("record: %d Opus channels, at most 2 are supported", o.Channels)
		}
		w.track = webmTrack{
			codecID:      "A_OPUS",
			sampleRate:   48000,
			channels:     int(w.o.Channels),
			codecPrivate: opusHead(w.o.Channels),
			seekPreRoll:  80_000_000, // 80 ms, as WebM asks for Opus
		}
		w.lastFrameLen = 20
	default:
		return nil, apperr.New(apperr.Invalid, apperr.CodeUnsupportedType,
			"record: codec %q is not recorded (only %s and %s)", o.Codec, CodecVP8, CodecOpus)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	w.f = f
	w.webm = newWebmWriter(f)
	w.started = time.Now()
	w.kick = make(chan struct{}, 1)
	w.done = make(chan struct{})
	w.emit = w.onPacket
	return w, nil
}

// WriteRTP queues a copy of p for the file; it never blocks on the disk and
// does not keep p. It returns ErrClosed after Close, or the error that
// stopped the writer (a full disk, say); a packet dropped because the queue
// is full is only counted in Stats.
func (w *TrackWriter) WriteRTP(p *rtp.Packet) error {
	if p == nil {
		return nil
	}
	if e := w.err.Load(); e != nil {
		return *e
	}
	c := packetPool.Get().(*packet)
	c.ssrc, c.seq, c.timestamp, c.marker = p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker
	if len(p.Payload) <= len(c.buf) {
		c.payload = c.buf[:copy(c.buf[:], p.Payload)]
	} else {
		c.payload = append([]byte(nil), p.Payload...)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		packetPool.Put(c)
		return ErrClosed
	}
	w.packets.Add(1)
	c.arrival = time.Time{}
	if !w.seen || p.SSRC != w.lastSSRC {
		// A stream's first packet: when it came places it in the file.
		c.arrival, w.lastSSRC, w.seen = time.Now(), p.SSRC, true
	}
	n := len(w.pending)
	if n >= queueLen {
		w.mu.Unlock()
		packetPool.Put(c)
		w.dropped.Add(1)
		return nil
	}
	w.pending = append(w.pending, c)
	w.queued.Add(1)
	w.mu.Unlock()
	if n+1 == queueLen/2 {
		w.wake()
	}
	return nil
}

func (w *TrackWriter) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Close writes what is still queued, finishes the file (cluster sizes, cues,
// duration) and closes it. It returns the first error the writer met.
// Calling it again returns ErrClosed.
func (w *TrackWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	w.mu.Unlock()
	w.wake()
	<-w.done
	if e := w.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Stats returns counts so far; safe to call at any time.
func (w *TrackWriter) Stats() Stats {
	return Stats{
		Packets:  w.packets.Load(),
		Dropped:  w.dropped.Load(),
		Frames:   w.frames.Load(),
		Bytes:    w.bytes.Load(),
		Duration: time.Duration(w.durationMS.Load()) * time.Millisecond,
	}
}

func (w *TrackWriter) fail(err error) {
	if err != nil {
		err = fmt.Errorf("record: writing %s: %w", w.f.Name(), err)
		w.err.CompareAndSwap(nil, &err)
	}
}

func (w *TrackWriter) failed() bool { return w.err.Load() != nil }

func (w *TrackWriter) run() {
	defer close(w.done)
	t := time.NewTicker(drainInterval)
	defer t.Stop()
	var batch []*packet
	lastFlush := time.Now()
	for {
		select {
		case <-t.C:
		case <-w.kick:
		}
		w.mu.Lock()
		batch, w.pending = w.pending, batch[:0]
		closed := w.closed
		w.mu.Unlock()
		w.now = time.Now()
		for i, p := range batch {
			w.push(p)
			batch[i] = nil
		}
		w.queued.Add(-int64(len(batch)))
		w.ro.expire(w.now, w.emit)
		if closed {
			w.finish()
			return
		}
		if w.now.Sub(lastFlush) >= flushInterval && !w.failed() {
			lastFlush = w.now
			w.fail(w.webm.flush())
		}
	}
}

func (w *TrackWriter) push(p *packet) {
	if w.failed() {
		packetPool.Put(p)
		w.dropped.Add(1)
		return
	}
	if !w.haveSSRC || p.ssrc != w.ssrc {
		// A new stream: the first, or the publisher restarted or switched
		// layers. Finish the old one, and place the new one on the file's
		// timeline by when its first packet arrived.
		arrived := p.arrival
		if arrived.IsZero() {
			arrived = w.now
		}
		at := arrived.Sub(w.started).Milliseconds()
		if w.haveSSRC {
			w.ro.flush(w.emit)
			w.dropFrame()
			if w.video {
				w.waitKeyframe(arrived)
			}
			at = max(at, w.tl.lastMS+w.lastFrameLen)
		}
		w.tl.anchor(p.timestamp, max(at, 0))
		w.ssrc, w.haveSSRC = p.ssrc, true
	}
	if !w.ro.push(p, w.now, w.emit) {
		packetPool.Put(p)
		w.dropped.Add(1)
	}
}

// onPacket takes the next packet in sequence order, or nil for a lost one.
func (w *TrackWriter) onPacket(p *packet) {
	if p == nil {
		if w.inFrame {
			w.frameBad = true
		}
		if w.video {
			// What was lost may be a whole frame others refer to: wait for
			// a keyframe rather than write frames that decode to garbage.
			w.waitKeyframe(time.Now())
		}
		return
	}
	defer packetPool.Put(p)
	if len(p.payload) == 0 {
		return // padding only (bandwidth probes); it only fills the sequence
	}
	if !w.video {
		// An Opus RTP packet is one Opus packet (RFC 7587).
		w.frameTS, w.frame = p.timestamp, append(w.frame[:0], p.payload...)
		w.writeFrame(true, 1)
		return
	}
	if w.inFrame && p.timestamp != w.frameTS {
		// A new frame with no marker on the last one: it is whole unless
		// a packet went missing (then frameBad is set).
		w.endFrame()
	}
	var vp codecs.VP8Packet
	data, err := vp.Unmarshal(p.payload)
	if err != nil {
		w.dropped.Add(1)
		if w.inFrame {
			w.frameBad = true
		}
		return
	}
	if !w.inFrame {
		w.inFrame, w.frameTS, w.frame, w.framePackets = true, p.timestamp, w.frame[:0], 0
		// A frame starts at the start of partition 0.
		w.frameBad = vp.S != 1 || vp.PID != 0 || len(data) == 0
		w.frameKey = !w.frameBad && data[0]&0x01 == 0
	}
	w.framePackets++
	w.frame = append(w.frame, data...)
	if p.marker {
		w.endFrame()
	}
}

// endFrame writes the frame assembled so far, or drops it if a part is
// missing.
func (w *TrackWriter) endFrame() {
	if w.frameBad {
		w.dropFrame()
		return
	}
	w.inFrame = false
	w.writeFrame(w.frameKey, w.framePackets)
}

// dropFrame abandons the frame being assembled.
func (w *TrackWriter) dropFrame() {
	if w.inFrame {
		w.dropped.Add(w.framePackets)
		w.inFrame = false
		if w.video {
			w.waitKeyframe(time.Now())
		}
	}
}

func (w *TrackWriter) waitKeyframe(now time.Time) {
	if !w.needKey {
		w.needKey = true
		w.askKeyframe(now)
	}
}

func (w *TrackWriter) askKeyframe(now time.Time) {
	if w.o.RequestKeyframe != nil {
		w.lastAsk = now
		w.o.RequestKeyframe()
	}
}

// writeFrame writes w.frame, made of n packets.
func (w *TrackWriter) writeFrame(key bool, n uint64) {
	if w.video {
		if key {
			width, height, ok := vp8KeyframeSize(w.frame)
			if !ok {
				w.dropped.Add(n)
				w.needKey = true
				return
			}
			if w.track.width == 0 || w.track.height == 0 {
				w.track.width, w.track.height = width, height
			}
			w.needKey = false
		} else if w.needKey {
			w.dropped.Add(n)
			if now := time.Now(); now.Sub(w.lastAsk) >= keyframeRetry {
				w.askKeyframe(now)
			}
			return
		}
	}
	if !w.headerDone {
		w.headerDone = true
		if err := w.webm.writeHeader(w.track, w.started); err != nil {
			w.fail(err)
			return
		}
	}
	prev := w.tl.lastMS
	ms := w.tl.ms(w.frameTS, w.o.ClockRate)
	if w.video {
		if w.frames.Load() > 0 && ms > prev {
			w.lastFrameLen = ms - prev
		} else if w.lastFrameLen == 0 {
			w.lastFrameLen = 33
		}
	} else if d := opusDuration(w.frame); d > 0 {
		w.lastFrameLen = int64(d)
	}
	if err := w.webm.writeFrame(ms, key, w.frame); err != nil {
		w.fail(err)
		return
	}
	w.frames.Add(1)
	w.bytes.Add(uint64(len(w.frame)))
	w.durationMS.Store(ms + w.lastFrameLen)
	w.webm.duration = float64(ms + w.lastFrameLen)
}

// finish writes what the jitter buffer holds and finalizes the file.
func (w *TrackWriter) finish() {
	w.o.RequestKeyframe = nil // too late for one
	w.ro.flush(w.emit)
	w.dropFrame()
	if !w.failed() {
		if !w.headerDone {
			w.headerDone = true
			w.fail(w.webm.writeHeader(w.track, w.started))
		}
	}
	if !w.failed() {
		w.fail(w.webm.finish(float64(w.durationMS.Load())))
	}
	if !w.failed() {
		w.fail(w.f.Sync())
	}
	if err := w.f.Close(); err != nil {
		w.fail(err)
	}
}

// timeline maps RTP timestamps to file time in ms. Each stream (SSRC) is
// anchored where its first packet arrived, in wall-clock time since the file
// started (but after the last frame written); from there its RTP timestamps,
// unwrapped across 2^32, give the time. Time never goes backwards.
type timeline struct {
	lastTS   uint32
	ticks    int64 // RTP ticks since the anchor
	anchorMS int64
	lastMS   int64
}

func (t *timeline) anchor(ts uint32, ms int64) {
	t.lastTS, t.ticks, t.anchorMS = ts, 0, ms
}

func (t *timeline) ms(ts uint32, rate uint32) int64 {
	t.ticks += int64(int32(ts - t.lastTS))
	t.lastTS = ts
	ms := max(t.anchorMS+t.ticks*1000/int64(rate), t.lastMS)
	t.lastMS = ms
	return ms
}

// vp8KeyframeSize reads the size from a VP8 keyframe's header (RFC 6386 9.1).
func vp8KeyframeSize(f []byte) (width, height int, ok bool) {
	if len(f) < 10 || f[0]&0x01 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	width = int(uint16(f[6])|uint16(f[7])<<8) & 0x3fff
	height = int(uint16(f[8])|uint16(f[9])<<8) & 0x3fff
	return width, height, width > 0 && height > 0
}

// opusHead is the OpusHead (RFC 7845 5.1) WebM's CodecPrivate carries. RTP
// does not say the encoder's pre-skip, so it is 0.
func opusHead(channels uint16) []byte {
	return []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd',
		1, byte(channels), 0, 0, // version, channels, pre-skip
		0x80, 0xbb, 0, 0, // input sample rate 48000, little-endian
		0, 0, 0} // output gain, mapping family 0
}

// opusDuration is the length of an Opus packet in ms (RFC 6716 3.1), 0 if
// it cannot tell.
func opusDuration(p []byte) float64 {
	if len(p) == 0 {
		return 0
	}
	config := p[0] >> 3
	var frame float64 // ms
	switch {
	case config < 12:
		frame = [4]float64{10, 20, 40, 60}[config%4]
	case config < 16:
		frame = [2]float64{10, 20}[config%2]
	default:
		frame = [4]float64{2.5, 5, 10, 20}[config%4]
	}
	switch p[0] & 0x03 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	}
	if len(p) < 2 {
		return 0
	}
	return float64(p[1]&0x3f) * frame
}
