package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Subscribers' keyframe requests reach the publisher, at most one per
// PLIInterval.
func TestPLIForwardedAndLimited(t *testing.T) {
	deadline(t, 30*time.Second)
	s := newTestSFU(t, Config{PLIInterval: 200 * time.Millisecond})
	pub := join(t, s, "r", "pub", true, clientOptions{})
	track := vp8Track(t, "cam", "s", "")
	pub.publish(track)
	sub := join(t, s, "r", "sub", false, clientOptions{})
	var tr *webrtc.TrackRemote
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	n := uint32(0)
	for tr == nil {
		select {
		case tr = <-sub.tracks:
		case <-tk.C:
			n++
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(true, 'p', n)})
		case <-time.After(10 * time.Second):
			t.Fatal("no track")
		}
	}
	time.Sleep(300 * time.Millisecond)
	before := pub.plis.Load()
	start := time.Now()
	for time.Since(start) < time.Second {
		<-tk.C
		n++
		_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(false, 'p', n)})
		if err := sub.sub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	got := pub.plis.Load() - before
	// one per 200 ms over a second: 5, give or take one at either end
	if got < 3 || got > 7 {
		t.Fatalf("publisher got %d PLIs in 1 s for ~200 requests, want about 5", got)
	}

	// A recorder's request goes the same way, under the same limit.
	time.Sleep(250 * time.Millisecond)
	before = pub.plis.Load()
	if !s.RequestKeyframe("r", "pub", "cam") || !s.RequestKeyframe("r", "pub", "cam") {
		t.Fatal("RequestKeyframe did not find the track")
	}
	if s.RequestKeyframe("r", "pub", "nope") || s.RequestKeyframe("r", "sub", "cam") || s.RequestKeyframe("nope", "pub", "cam") {
		t.Fatal("RequestKeyframe found a track that is not there")
	}
	eventually(t, "a PLI for the recorder", func() bool { return pub.plis.Load() > before })
	time.Sleep(100 * time.Millisecond)
	if got := pub.plis.Load() - before; got != 1 {
		t.Fatalf("two requests within PLIInterval made %d PLIs, want 1", got)
	}
	sub.close()
	pub.close()
}

// Config.MaxBitrate reaches video publishers as their REMB ceiling.
func TestMaxBitrateREMB(t *testing.T) {
	deadline(t, 30*time.Second)
	s := newTestSFU(t, Config{MaxBitrate: 400_000})
	pub := join(t, s, "r", "pub", true, clientOptions{})
	track := vp8Track(t, "cam", "s", "")
	pub.publish(track)
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	end := time.After(10 * time.Second)
	for n := uint32(0); pub.remb.Load() == 0; n++ {
		select {
		case <-tk.C:
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(n%10 == 0, 'm', n)})
		case <-end:
			t.Fatal("no REMB")
		}
	}
	if got := pub.remb.Load(); got != 400_000 {
		t.Fatalf("REMB %d, want 400000", got)
	}
	pub.close()
}
