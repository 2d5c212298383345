//go:build loadtest

// A measurement, not a test: built only with -tags loadtest (BENCHMARKS.md),
// so make test neither runs nor skips it.

package cascade

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"golang.org/x/sys/unix"

	"github.com/parley-chat/parley/internal/sfu"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func threadCPU(t testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadFeed is a broadcaster without a client: a Feed on the origin that
// the test writes simulcast VP8 (q, h, f, one packet per frame at 30 fps,
// 250/600/1100 bytes) and Opus (50 packets/s, 100 bytes) into, from one
// goroutine locked to its OS thread, so that thread's CPU time is the
// origin's forwarding cost (SRTP and the UDP writes happen on it).
type loadFeed struct {
	layers [3]*sfu.FeedLayer
	audio  *sfu.FeedLayer
	key    [3]atomic.Bool // a keyframe was asked for
	vseq   [3]uint16
	aseq   uint16
	n      uint32 // frames written
}

var loadSizes = [3]int{250, 600, 1100}

func newLoadFeed(t *testing.T, s *sfu.SFU, room string) *loadFeed {
	lf := &loadFeed{}
	rids := [3]string{"q", "h", "f"}
	f, err := s.JoinFeed(room, sfu.ParticipantOptions{ID: "host"}, func(_, rid string) {
		for i, r := range rids {
			if r == rid {
				lf.key[i].Store(true)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Leave)
	vp8c := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	for i, rid := range rids {
		if lf.layers[i], err = f.AddLayer(sfu.FeedTrack{ID: "cam", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8c, Simulcast: true}, rid); err != nil {
			t.Fatal(err)
		}
	}
	opus := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	if lf.audio, err = f.AddLayer(sfu.FeedTrack{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Codec: opus}, ""); err != nil {
		t.Fatal(err)
	}
	for i := range lf.key {
		lf.key[i].Store(true)
	}
	return lf
}

// run writes media (30 video frames and 50 audio packets per second of
// media) for d and returns the writing thread's CPU time and
// the media time written (less than d when the thread falls behind).
func (lf *loadFeed) run(t *testing.T, d time.Duration) (cpu, media time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU(t)
	var buf [1500]byte
	start := time.Now()
	next, n0 := start, lf.n
	for time.Since(start) < d {
		lf.n++
		n := lf.n
		for i, l := range lf.layers {
			h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: lf.vseq[i], Timestamp: n * 3000, SSRC: uint32(10 + i), Marker: true}
			hn, _ := h.MarshalTo(buf[:])
			copy(buf[hn:], vp8(lf.key[i].Swap(false), 160<<i, 90<<i, 'L', n))
			_ = l.WriteRTP(buf[:hn+loadSizes[i]])
			lf.vseq[i]++
		}
		// Opus every 20 ms of media: 50 packets per 30 frames
		for ; int(lf.aseq)*3 < int(n)*5; lf.aseq++ {
			h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: lf.aseq, Timestamp: uint32(lf.aseq) * 960, SSRC: 20}
			hn, _ := h.MarshalTo(buf[:])
			_ = lf.audio.WriteRTP(buf[:hn+100])
		}
		next = next.Add(33 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
	return threadCPU(t) - cpu0, time.Duration(lf.n-n0) * 33 * time.Millisecond
}

// viewers joins n viewers to a room; each reads what it gets and counts
// itself in ready once it has both tracks.
func viewers(t *testing.T, s *sfu.SFU, room, prefix string, n int, ready *atomic.Int64) (cs []*client) {
	for i := range n {
		c := join(t, s, room, fmt.Sprint(prefix, i), false, clientOptions{})
		cs = append(cs, c)
		go func() {
			for k := range 2 {
				select {
				case tr := <-c.tracks:
					go func() {
						buf := make([]byte, 1500)
						for {
							if _, _, err := tr.Read(buf); err != nil {
								return
							}
						}
					}()
					if k == 1 {
						ready.Add(1)
					}
				case <-c.done:
					return
				}
			}
		}()
	}
	return cs
}

// TestCascadeLoad measures the origin's upload and forwarding cost with
// CASCADE_EDGES edges × CASCADE_VIEWERS viewers, against the same number
// of viewers on the origin alone (CASCADE_EDGES=0). It is a measurement,
// not a test: built only with -tags loadtest, it asserts nothing timed.
func TestCascadeLoad(t *testing.T) {
	edges, perEdge := envInt("CASCADE_EDGES", 3), envInt("CASCADE_VIEWERS", 100)
	secs := envInt("CASCADE_SECONDS", 10)
	if os.Getenv("CASCADE_EDGES") == "0" {
		edges = 0
	}
	origin := newSFU(t)
	lf := newLoadFeed(t, origin, "live")
	var subs []*Subscription
	var ready atomic.Int64
	total := perEdge * max(edges, 1)
	var cs []*client
	if edges == 0 {
		cs = viewers(t, origin, "live", "v", perEdge, &ready)
	}
	for i := range edges {
		e := newSFU(t)
		_, sub := pull(t, origin, e, "live", "local")
		subs = append(subs, sub)
		viewers(t, e, "local", fmt.Sprint("e", i, "v"), perEdge, &ready)
	}
	for end := time.Now().Add(120 * time.Second); ready.Load() < int64(total); {
		if time.Now().After(end) {
			t.Fatalf("%d of %d viewers got both tracks", ready.Load(), total)
		}
		_, _ = lf.run(t, time.Second)
	}
	_, _ = lf.run(t, 2*time.Second) // settle on layer f
	st0 := origin.Stats()
	d := time.Duration(secs) * time.Second
	cpu, media := lf.run(t, d)
	st := origin.Stats()
	pk := (st.Forwarded - st0.Forwarded) + (st.Mirrored - st0.Mirrored)
	by := (st.Bytes - st0.Bytes) + (st.MirroredBytes - st0.MirroredBytes)
	res := st.Resent - st0.Resent
	for _, s := range subs {
		res += s.Resent()
	}
	layers := map[string]int{}
	for _, c := range cs {
		for _, si := range c.p.Subscriptions() {
			if si.Kind == "video" {
				layers[si.Layer]++
			}
		}
	}
	t.Logf("edges=%d viewers=%d×%d: %.1f s of media in %.0f s; origin sent %.0f packets/s, %.1f Mbit/s of payload per second of media (resent %d; %d downtracks, video layers %v); forwarding thread %.3f CPU-s for %d packets = %.0f packets/CPU-s",
		edges, max(edges, 1), perEdge, media.Seconds(), d.Seconds(), float64(pk)/media.Seconds(), float64(by)*8/media.Seconds()/1e6,
		res, st.Subscriptions, layers, cpu.Seconds(), pk, float64(pk)/cpu.Seconds())
}
