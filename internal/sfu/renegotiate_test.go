package sfu

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Tracks come and go: the SFU renegotiates the subscriber's sub connection
// each time, and media of the new track flows.
func TestRepublish(t *testing.T) {
	deadline(t, 40*time.Second)
	s := newTestSFU(t, Config{})
	pub := join(t, s, "r", "pub", true, clientOptions{})
	sub := join(t, s, "r", "sub", true, clientOptions{})

	for round := range 3 {
		id := string(rune('a'+round)) + "-cam"
		track := vp8Track(t, id, "s", "")
		sender := pub.publish(track)
		var tr *webrtc.TrackRemote
		tk := time.NewTicker(5 * time.Millisecond)
		for n := uint32(0); tr == nil; n++ {
			select {
			case tr = <-sub.tracks:
			case <-tk.C:
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(true, 'r', n)})
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: no track", round)
			}
		}
		tk.Stop()
		if tr.ID() != id {
			t.Fatalf("round %d: got track %q", round, tr.ID())
		}
		if _, _, err := tr.ReadRTP(); err != nil {
			t.Fatal(err)
		}
		if err := pub.pub.RemoveTrack(sender); err != nil {
			t.Fatal(err)
		}
		pub.offer()
		if ev := sub.waitEvent(EventTrackUnpublished, 10*time.Second); ev.Track.ID != id {
			t.Fatalf("round %d: unpublished %q", round, ev.Track.ID)
		}
	}
	// an ICE restart of the sub connection: new credentials, media flows on
	ufrag := func() string {
		d := sub.sub.RemoteDescription()
		if d == nil {
			return ""
		}
		for _, line := range strings.Split(d.SDP, "\r\n") {
			if u, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
				return u
			}
		}
		return ""
	}
	before := ufrag()
	track := vp8Track(t, "last-cam", "s", "")
	pub.publish(track)
	if err := sub.p.RestartICE(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new sub offer with new ICE credentials", func() bool {
		return ufrag() != before && sub.sub.SignalingState() == webrtc.SignalingStateStable
	})
	var tr *webrtc.TrackRemote
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for n := uint32(0); tr == nil; n++ {
		select {
		case tr = <-sub.tracks:
		case <-tk.C:
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(true, 'r', n)})
		case <-time.After(10 * time.Second):
			t.Fatal("no track after the ICE restart")
		}
	}
	if n := len(sub.p.sub.GetTransceivers()); n > 2 {
		t.Errorf("sub connection has %d transceivers after 3 rounds of one track", n)
	}
	sub.close()
	pub.close()
}

// A participant cannot publish more than Config.MaxTracks tracks.
func TestMaxTracks(t *testing.T) {
	deadline(t, 30*time.Second)
	s := newTestSFU(t, Config{MaxTracks: 1})
	pub := join(t, s, "r", "pub", true, clientOptions{})
	tracks := []*webrtc.TrackLocalStaticRTP{vp8Track(t, "one", "s", ""), vp8Track(t, "two", "s", "")}
	for _, tr := range tracks {
		pub.publish(tr)
	}
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for n := uint32(0); n < 100; n++ {
		<-tk.C
		for _, tr := range tracks {
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(true, 'm', n)})
		}
	}
	ri, _ := s.Room("r")
	if len(ri.Participants) != 1 || len(ri.Participants[0].Tracks) != 1 {
		t.Fatalf("published: %+v", ri.Participants)
	}
	pub.close()
}
