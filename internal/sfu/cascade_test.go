package sfu

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// mirrorSink records what a mirror gets of one layer.
type mirrorSink struct {
	mu     sync.Mutex
	seqs   []uint16
	empty  int // padding-only packets
	closed bool
}

func (k *mirrorSink) WriteRTP(p *rtp.Packet) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seqs = append(k.seqs, p.SequenceNumber)
	if len(p.Payload) == 0 {
		k.empty++
	}
	return nil
}

func (k *mirrorSink) Close() error {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	return nil
}

func (k *mirrorSink) state() (seqs []uint16, empty int, closed bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.seqs), k.empty, k.closed
}

// A Feed's packets reach a Mirror of the same room as published (sequence
// numbers kept, padding included), layer by layer, whether the mirror came
// before or after the layers; keyframe requests reach the feed's source;
// sinks close when the layer's track ends or the mirror leaves.
func TestFeedToMirror(t *testing.T) {
	deadline(t, 20*time.Second)
	s := newTestSFU(t, Config{PLIInterval: time.Millisecond})
	var mu sync.Mutex
	var asked []string
	f, err := s.JoinFeed("r", ParticipantOptions{ID: "host", Name: "Host"}, func(track, rid string) {
		mu.Lock()
		asked = append(asked, track+"/"+rid)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	vp8c := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	ft := FeedTrack{ID: "cam", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8c, Simulcast: true}
	q, err := f.AddLayer(ft, "q")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddLayer(ft, "q"); err == nil {
		t.Fatal("the same layer twice was accepted")
	}

	sinks := map[string]*mirrorSink{}
	m, err := s.JoinMirror("r", MirrorOptions{ID: "edge", OnLayer: func(ml MirrorLayer) TrackSink {
		k := &mirrorSink{}
		mu.Lock()
		sinks[ml.Track().ID+"/"+ml.RID()] = k
		mu.Unlock()
		if p := ml.Participant(); p.ID != "host" || p.Name != "Host" {
			t.Errorf("mirrored layer of %+v", p)
		}
		return k
	}})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := f.AddLayer(ft, "f") // after the mirror joined
	if err != nil {
		t.Fatal(err)
	}
	sink := func(key string) *mirrorSink {
		mu.Lock()
		defer mu.Unlock()
		return sinks[key]
	}
	if sink("cam/q") == nil || sink("cam/f") == nil {
		t.Fatalf("mirror sinks %v, want cam/q and cam/f", sinks)
	}
	eventually(t, "keyframe requests for both layers", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(asked, "cam/q") && slices.Contains(asked, "cam/f")
	})

	write := func(l *FeedLayer, seq uint16, payload []byte, padding bool) {
		t.Helper()
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 7}, Payload: payload}
		if padding {
			p.Padding, p.PaddingSize, p.Payload = true, 4, nil
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.WriteRTP(b); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint16(1000); seq < 1010; seq++ {
		write(fl, seq, vp8(seq == 1000, 'f', uint32(seq)), seq == 1005)
		write(q, seq+5000, vp8(seq == 1000, 'q', uint32(seq)), false)
	}
	seqs, empty, _ := sink("cam/f").state()
	if want := []uint16{1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009}; !slices.Equal(seqs, want) || empty != 1 {
		t.Errorf("layer f mirrored %v (%d padding-only), want %v (1)", seqs, empty, want)
	}
	if seqs, _, _ := sink("cam/q").state(); len(seqs) != 10 || seqs[0] != 6000 {
		t.Errorf("layer q mirrored %v, want 6000…6009", seqs)
	}
	if st := s.Stats(); st.Mirrored != 20 || st.Participants != 2 || st.Tracks != 1 {
		t.Errorf("stats %+v, want 20 mirrored, 2 participants, 1 track", st)
	}

	// The track ends with its last layer; its sinks close.
	fl.Close()
	if err := fl.WriteRTP([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7}); err == nil {
		t.Error("a closed layer took a packet")
	}
	if _, _, closed := sink("cam/f").state(); closed {
		t.Error("a layer's sink closed while the track lives on")
	}
	q.Close()
	for _, key := range []string{"cam/q", "cam/f"} {
		if _, _, closed := sink(key).state(); !closed {
			t.Errorf("%s: sink open after the track ended", key)
		}
	}
	if st := s.Stats(); st.Tracks != 0 {
		t.Errorf("%d tracks after the feed's last layer closed", st.Tracks)
	}

	// A mirror joining later gets the layers there are; leaving closes them.
	a, err := f.AddLayer(FeedTrack{ID: "mic", Kind: webrtc.RTPCodecTypeAudio,
		Codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}}, "")
	if err != nil {
		t.Fatal(err)
	}
	late := &mirrorSink{}
	m2, err := s.JoinMirror("r", MirrorOptions{ID: "edge2", OnLayer: func(ml MirrorLayer) TrackSink {
		if ml.Track().ID != "mic" || ml.RID() != "" {
			t.Errorf("late mirror got %s/%s", ml.Track().ID, ml.RID())
		}
		return late
	}})
	if err != nil {
		t.Fatal(err)
	}
	write(a, 1, []byte{1, 2, 3}, false)
	m2.Leave()
	if seqs, _, closed := late.state(); len(seqs) != 1 || !closed {
		t.Errorf("late mirror: %v, closed %v; want one packet, closed", seqs, closed)
	}
	if st := s.Stats(); st.Mirrored != 21+1 { // the first mirror got it too
		t.Errorf("%d mirrored, want 22", st.Mirrored)
	}
	m.Leave()
	f.Leave()
}
