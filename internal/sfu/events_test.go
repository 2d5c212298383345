package sfu

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/apperr"
)

// countSink is a TrackSink that checks packets come as published.
type countSink struct {
	info    TrackInfo
	packets atomic.Int32
	ssrc    atomic.Uint32
	closed  atomic.Bool
}

func (k *countSink) WriteRTP(p *rtp.Packet) error {
	k.packets.Add(1)
	k.ssrc.Store(p.SSRC)
	return nil
}

func (k *countSink) Close() error {
	k.closed.Store(true)
	return nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never: %s", what)
		}
	}
}

// Join, leave, publish, unpublish, mute and speakers reach the others; a tap
// gets packets as published; CloseRoom ends everyone.
func TestEventsTapAndClose(t *testing.T) {
	deadline(t, 40*time.Second)
	s := newTestSFU(t, Config{})
	var mu sync.Mutex
	var sinks []*countSink
	stopTap, err := s.Tap("r", func(ti TrackInfo) TrackSink {
		mu.Lock()
		defer mu.Unlock()
		k := &countSink{info: ti}
		sinks = append(sinks, k)
		return k
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopTap()

	a := join(t, s, "r", "a", true, clientOptions{})
	b := join(t, s, "r", "b", true, clientOptions{})
	if ev := a.waitEvent(EventParticipantJoined, 5*time.Second); ev.Participant.ID != "b" || ev.Participant.Name != "B" || ev.Room != "r" {
		t.Fatalf("joined: %+v", ev.Participant)
	}
	if _, err := s.Join("r", ParticipantOptions{ID: "a"}); apperr.KindOf(err) != apperr.Conflict {
		t.Fatalf("duplicate join: %v", err)
	}

	video := vp8Track(t, "cam", "a-stream", "")
	vs := a.publish(video)
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "a-stream")
	if err != nil {
		t.Fatal(err)
	}
	as := a.publish(audio)
	var alID uint8
	for _, e := range as.GetParameters().HeaderExtensions {
		if e.URI == uriAudioLevel {
			alID = uint8(e.ID)
		}
	}
	if alID == 0 {
		t.Fatal("audio level extension not negotiated")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // media: video frames and loud audio
		defer wg.Done()
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for n := uint32(0); ; n++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: vp8(n%10 == 0, 'v', n)})
			ap := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 480}, Payload: []byte{0xf8, 0xff, 0xfe}}
			_ = ap.Header.SetExtension(alID, []byte{0x80 | 10}) // voice activity, -10 dBov
			_ = audio.WriteRTP(ap)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	kinds := map[string]bool{}
	for len(kinds) < 2 {
		ev := b.waitEvent(EventTrackPublished, 10*time.Second)
		if ev.Track.ParticipantID != "a" {
			t.Fatalf("published by %q", ev.Track.ParticipantID)
		}
		kinds[ev.Track.Kind+"/"+ev.Track.Source] = true
	}
	if !kinds["video/camera"] || !kinds["audio/microphone"] {
		t.Fatalf("published: %v", kinds)
	}
	if ev := b.waitEvent(EventActiveSpeakers, 5*time.Second); len(ev.Speakers) != 1 || ev.Speakers[0] != "a" {
		t.Fatalf("speakers %v", ev.Speakers)
	}
	if err := a.p.SetMuted("mic", true); err != nil {
		t.Fatal(err)
	}
	if ev := b.waitEvent(EventTrackMuted, 5*time.Second); ev.Track.ID != "mic" || !ev.Track.Muted {
		t.Fatalf("muted: %+v", ev.Track)
	}

	// the tap sees both tracks, as published
	videoSSRC := uint32(vs.GetParameters().Encodings[0].SSRC)
	eventually(t, "tap gets both tracks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(sinks) != 2 {
			return false
		}
		for _, k := range sinks {
			if k.packets.Load() < 10 {
				return false
			}
		}
		return true
	})
	var videoSink *countSink
	mu.Lock()
	for _, k := range sinks {
		if k.info.Kind == "video" {
			videoSink = k
		}
	}
	mu.Unlock()
	if videoSink == nil || videoSink.ssrc.Load() != videoSSRC {
		t.Fatalf("tap SSRC %d, published %d", videoSink.ssrc.Load(), videoSSRC)
	}

	ri, ok := s.Room("r")
	if !ok || len(ri.Participants) != 2 || ri.Participants[0].ID != "a" || len(ri.Participants[0].Tracks) != 2 {
		t.Fatalf("room info: %+v", ri)
	}
	if rs := s.Rooms(); len(rs) != 1 || rs[0].ID != "r" {
		t.Fatalf("rooms: %+v", rs)
	}

	// unpublish the camera: renegotiate without it
	if err := a.pub.RemoveTrack(vs); err != nil {
		t.Fatal(err)
	}
	a.offer()
	if ev := b.waitEvent(EventTrackUnpublished, 10*time.Second); ev.Track.ID != "cam" {
		t.Fatalf("unpublished %+v", ev.Track)
	}
	eventually(t, "video sink closed", videoSink.closed.Load)
	close(stop)

	b.close()
	if ev := a.waitEvent(EventParticipantLeft, 5*time.Second); ev.Participant.ID != "b" {
		t.Fatalf("left: %+v", ev.Participant)
	}

	c := join(t, s, "r", "c", false, clientOptions{})
	a.waitEvent(EventParticipantJoined, 5*time.Second)
	// a hidden viewer comes and goes unannounced
	h := newClient(t, "h", clientOptions{})
	hp, err := s.Join("r", ParticipantOptions{ID: "h", Hidden: true, OnSignal: func(sig Signal) { h.sigs <- sig }})
	if err != nil {
		t.Fatal(err)
	}
	h.p, h.signal = hp, hp.HandleSignal
	h.start()
	if ri, _ := s.Room("r"); len(ri.Participants) != 3 {
		t.Fatalf("room lists %d participants, want a, c and the hidden h", len(ri.Participants))
	}
	h.close()
	time.Sleep(100 * time.Millisecond)
	for len(a.events) > 0 {
		if ev := <-a.events; ev.Type == EventParticipantJoined || ev.Type == EventParticipantLeft {
			t.Fatalf("hidden participant announced: %s %s", ev.Type, ev.Participant.ID)
		}
	}
	if !s.CloseRoom("r") {
		t.Fatal("CloseRoom: no room")
	}
	a.waitEvent(EventRoomClosed, 5*time.Second)
	c.waitEvent(EventRoomClosed, 5*time.Second)
	if _, ok := s.Room("r"); ok {
		t.Fatal("room still there")
	}
	if err := a.p.HandleSignal(Signal{PC: PCPub, Kind: SignalOffer, SDP: "x"}); !errors.Is(err, errClosed) {
		t.Fatalf("signal after close: %v", err)
	}
	mu.Lock()
	for _, k := range sinks {
		if !k.closed.Load() {
			t.Errorf("sink of %s not closed", k.info.ID)
		}
	}
	mu.Unlock()
	if s.CloseRoom("r") {
		t.Fatal("CloseRoom twice")
	}
}

// Bad signals return errors and leave the connection as it was.
func TestBadSignals(t *testing.T) {
	deadline(t, 30*time.Second)
	s := newTestSFU(t, Config{})
	a := join(t, s, "r", "a", true, clientOptions{})
	viewer := join(t, s, "r", "v", false, clientOptions{})

	bad := []struct {
		name string
		p    *Participant
		sig  Signal
		kind apperr.Kind
	}{
		{"garbage offer", a.p, Signal{PC: PCPub, Kind: SignalOffer, SDP: "v=0 garbage"}, apperr.Invalid},
		{"empty offer", a.p, Signal{PC: PCPub, Kind: SignalOffer}, apperr.Invalid},
		{"wrong pc", a.p, Signal{PC: "both", Kind: SignalOffer, SDP: "v=0"}, apperr.Invalid},
		{"answer on pub", a.p, Signal{PC: PCPub, Kind: SignalAnswer, SDP: "v=0"}, apperr.Invalid},
		{"offer on sub", a.p, Signal{PC: PCSub, Kind: SignalOffer, SDP: "v=0"}, apperr.Invalid},
		{"unasked answer", a.p, Signal{PC: PCSub, Kind: SignalAnswer, SDP: "v=0"}, apperr.Conflict},
		{"no candidate", a.p, Signal{PC: PCPub, Kind: SignalCandidate}, apperr.Invalid},
		{"unknown kind", a.p, Signal{PC: PCPub, Kind: "bye"}, apperr.Invalid},
		{"viewer publishes", viewer.p, Signal{PC: PCPub, Kind: SignalOffer, SDP: "v=0"}, apperr.Forbidden},
	}
	for _, b := range bad {
		err := b.p.HandleSignal(b.sig)
		if err == nil || apperr.KindOf(err) != b.kind {
			t.Errorf("%s: %v, want a %v error", b.name, err, b.kind)
		}
	}
	if st := a.p.pub.SignalingState(); st != webrtc.SignalingStateStable || a.p.pub.RemoteDescription() != nil {
		t.Fatalf("pub PC changed: %v", st)
	}
	if err := a.p.SetTrackPreference("nope", 0, 0, false); apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("preference for an unknown track: %v", err)
	}
	if err := a.p.SetTrackSource("cam", "tv"); err == nil {
		t.Fatal("unknown source accepted")
	}

	// a good offer still works after all that
	video := vp8Track(t, "cam", "s", "")
	a.publish(video)
	eventually(t, "pub answered", func() bool {
		return a.pub.SignalingState() == webrtc.SignalingStateStable && a.pub.RemoteDescription() != nil
	})
	if _, err := New(Config{UDPAddr: "nowhere:x"}); err == nil {
		t.Fatal("bad UDPAddr accepted")
	}
	if _, err := New(Config{UDPAddr: "127.0.0.1:0", PublicIP: "host"}); err == nil {
		t.Fatal("bad PublicIP accepted")
	}
	viewer.close()
	a.close()
}
