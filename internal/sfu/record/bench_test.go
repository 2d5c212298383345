package record

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// loop hands out the clip's packets over and over, as one endless stream:
// sequence numbers run on and timestamps continue after each pass.
type loop struct {
	pkts  []*rtp.Packet
	span  uint32 // timestamp ticks of one pass
	i     int
	cur   rtp.Packet
	bytes int64 // payload bytes per pass
}

func newLoop(pkts []*rtp.Packet, frameTicks uint32) *loop {
	l := &loop{pkts: pkts, span: pkts[len(pkts)-1].Timestamp - pkts[0].Timestamp + frameTicks}
	for _, p := range pkts {
		l.bytes += int64(len(p.Payload))
	}
	return l
}

func (l *loop) next() *rtp.Packet {
	p := l.pkts[l.i%len(l.pkts)]
	pass := uint32(l.i / len(l.pkts))
	l.cur.Header = p.Header
	l.cur.SequenceNumber = p.SequenceNumber + uint16(l.i/len(l.pkts)*len(l.pkts))
	l.cur.Timestamp = p.Timestamp + pass*l.span
	l.cur.Payload = p.Payload
	l.i++
	return &l.cur
}

func (l *loop) avgPayload() int64 { return l.bytes / int64(len(l.pkts)) }

// BenchmarkWriteRTP is the cost to the caller (the SFU's forwarding loop):
// copy into a pooled packet and queue. The writer's goroutine runs alongside;
// the clock stops while the queue drains whenever it is half full, since a
// tight loop outruns the disk (dropped/op would show any packet dropped).
func BenchmarkWriteRTP(b *testing.B) {
	for _, tc := range []struct {
		name  string
		o     Options
		pkts  func(testing.TB) []*rtp.Packet
		ticks uint32
	}{
		{"vp8", Options{Codec: CodecVP8}, vp8RTP, 3000},
		{"opus", Options{Codec: CodecOpus}, opusRTP, 960},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLoop(tc.pkts(b), tc.ticks)
			w, err := NewTrackWriter(filepath.Join(b.TempDir(), "b.webm"), tc.o)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(l.avgPayload())
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := w.WriteRTP(l.next()); err != nil {
					b.Fatal(err)
				}
				if w.queued.Load() > queueLen/2 {
					b.StopTimer()
					for w.queued.Load() > 0 {
						time.Sleep(100 * time.Microsecond)
					}
					b.StartTimer()
				}
			}
			b.StopTimer()
			for tc.o.Codec == CodecVP8 && !l.cur.Marker { // end on a whole frame
				w.WriteRTP(l.next())
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			st := w.Stats()
			b.ReportMetric(float64(st.Dropped)/float64(st.Packets), "dropped/op")
		})
	}
}

// BenchmarkWriter is the whole per-packet cost on the writer's side, run
// synchronously: copy, jitter buffer, depacketizing, WebM muxing and the
// buffered write to the file (page cache; Close's fsync not included).
func BenchmarkWriter(b *testing.B) {
	for _, tc := range []struct {
		name  string
		o     Options
		pkts  func(testing.TB) []*rtp.Packet
		ticks uint32
	}{
		{"vp8", Options{Codec: CodecVP8}, vp8RTP, 3000},
		{"opus", Options{Codec: CodecOpus}, opusRTP, 960},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLoop(tc.pkts(b), tc.ticks)
			w, err := newTrackWriter(filepath.Join(b.TempDir(), "b.webm"), tc.o)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(l.avgPayload())
			b.ReportAllocs()
			b.ResetTimer()
			push := func() bool {
				p := l.next()
				c := packetPool.Get().(*packet)
				c.ssrc, c.seq, c.timestamp, c.marker = p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker
				c.payload = c.buf[:copy(c.buf[:], p.Payload)]
				w.push(c)
				return p.Marker
			}
			for b.Loop() {
				push()
			}
			b.StopTimer()
			for tc.o.Codec == CodecVP8 && !push() { // end on a whole frame
			}
			w.finish()
			if e := w.err.Load(); e != nil {
				b.Fatal(*e)
			}
			if st := w.Stats(); st.Dropped > 0 {
				b.Fatalf("dropped %d packets", st.Dropped)
			}
		})
	}
}
