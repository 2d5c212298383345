package sfu

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// marshalWriter stands in for pion's SRTP writer: it marshals the header
// and drops the packet.
type marshalWriter struct{ buf [maxPacket]byte }

func (w *marshalWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.buf[:])
	return n + len(payload), err
}

func (w *marshalWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchTrack is a published VP8 track with n bound downtracks writing to
// marshalWriters, with or without a gcc estimator per subscriber.
func benchTrack(b *testing.B, n int, withBWE bool) (*pubTrack, *layer) {
	s := &SFU{cfg: Config{PLIInterval: time.Hour}}
	r := newRoom(s, "bench")
	pub := &Participant{s: s, room: r, opts: ParticipantOptions{ID: "pub"}}
	t := &pubTrack{room: r, pub: pub, id: "cam", kind: webrtc.RTPCodecTypeVideo, wantedMask: -1,
		codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
	l := &layer{idx: 0, cache: newPacketCache(512), videoVP8: true}
	t.layers[0] = l
	for i := range n {
		sub := &Participant{s: s, room: r, opts: ParticipantOptions{ID: fmt.Sprint("sub", i)}}
		d := newDownTrack(t, sub)
		d.bound, d.ssrc, d.pt, d.extTWCC = true, uint32(1000+i), 96, 3
		d.writer = &marshalWriter{}
		if withBWE {
			bwe, err := gcc.NewSendSideBWE(gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = bwe.Close() })
			sub.bwe = bwe
			w := d.writer
			d.out = bwe.AddStream(&interceptor.StreamInfo{SSRC: d.ssrc, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: uriTWCC, ID: 3}}},
				interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return w.WriteRTP(h, p) }))
		}
		d.target.Store(0)
		t.addDown(d)
	}
	return t, l
}

// benchSlot is a 1,100-byte VP8 packet; the first is a keyframe.
func benchSlot() *slot {
	s := &slot{}
	s.pkt.Header = rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Marker: true}
	p := vp8(true, 'b', 0)
	p = append(p, make([]byte, 1100-len(p))...)
	s.pkt.Payload = p
	return s
}

// BenchmarkForward is the per-packet path without the network: one packet
// rewritten for N subscribers and marshalled. allocs/op must be 0 without
// the gcc estimator (pion's gcc allocates in its send history).
func BenchmarkForward(b *testing.B) {
	for _, withBWE := range []bool{false, true} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("subs=%d/gcc=%v", n, withBWE), func(b *testing.B) {
				t, l := benchTrack(b, n, withBWE)
				s := benchSlot()
				t.fanout(l, s, time.Now().UnixNano()) // keyframe: every downtrack starts
				s.pkt.Payload[1] = 0x01
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					s.pkt.SequenceNumber++
					s.pkt.Timestamp += 3000
					t.fanout(l, s, time.Now().UnixNano())
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "fwd/s")
			})
		}
	}
}

// BenchmarkForwardSRTP is the same path through real pion PeerConnections:
// SRTP encryption and a UDP write per subscriber on loopback, with the
// subscribers' clients (decrypting) on the same machine.
func BenchmarkForwardSRTP(b *testing.B) {
	for _, c := range []struct {
		n     int
		batch bool
	}{{1, true}, {10, false}, {10, true}, {25, false}, {25, true}} {
		n := c.n
		b.Run(fmt.Sprintf("subs=%d/batch=%v", n, c.batch), func(b *testing.B) {
			noBatch = !c.batch
			s := newTestSFU(b, Config{})
			noBatch = false
			pub := join(b, s, "bench", "pub", true, clientOptions{})
			track := vp8Track(b, "cam", "s", "")
			pub.publish(track)
			done := make(chan struct{})
			var wg sync.WaitGroup
			ready := make(chan struct{}, n)
			for i := range n {
				c := join(b, s, "bench", fmt.Sprint("sub", i), false, clientOptions{})
				wg.Add(1)
				go func() {
					defer wg.Done()
					tr := c.nextTrack(30 * time.Second)
					ready <- struct{}{}
					buf := make([]byte, 1500)
					for {
						if _, _, err := tr.Read(buf); err != nil {
							return
						}
					}
				}()
			}
			tk := time.NewTicker(5 * time.Millisecond)
			var seq uint16
			for waiting := n; waiting > 0; {
				select {
				case <-ready:
					waiting--
				case <-tk.C:
					seq++
					_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}, Payload: vp8(true, 'w', uint32(seq))})
				}
			}
			tk.Stop()
			time.Sleep(50 * time.Millisecond)
			var t *pubTrack
			for _, x := range s.rooms["bench"].allTracks() {
				t = x
			}
			l := t.layer(0)
			sl := benchSlot()
			sl.pkt.SequenceNumber = seq + 1
			sl.pkt.Timestamp = uint32(seq+1) * 3000
			// the forwarding runs on this goroutine: pin it to its thread and
			// count that thread's CPU time, which leaves the clients' out
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU(b)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sl.pkt.SequenceNumber++
				sl.pkt.Timestamp += 3000
				t.fanout(l, sl, time.Now().UnixNano())
			}
			b.StopTimer()
			cpu := threadCPU(b) - cpu0
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "fwd/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N*n)/cpu.Seconds(), "fwd/cpu-s")
			}
			close(done)
			s.CloseRoom("bench")
			wg.Wait()
		})
	}
}
