package sfu

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// simPub sends three simulcast layers of synthetic VP8 whose keyframes the
// test controls.
type simPub struct {
	t      *testing.T
	tracks [3]*webrtc.TrackLocalStaticRTP
	midID  uint8
	ridID  uint8
	mid    string
	seq    [3]uint16
	n      uint32
}

var simSizes = [3][2]int{{160, 90}, {320, 180}, {640, 360}}
var simTS = [3]uint32{1000, 500_000, 9_000_000}

func newSimPub(t *testing.T, c *testClient) *simPub {
	sp := &simPub{t: t}
	for i, rid := range layerRID {
		sp.tracks[i] = vp8Track(t, "cam", "s", rid)
	}
	sender := c.publish(sp.tracks[:]...)
	for _, e := range sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			sp.midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			sp.ridID = uint8(e.ID)
		}
	}
	for _, tr := range c.pub.GetTransceivers() {
		if tr.Sender() == sender {
			sp.mid = tr.Mid()
		}
	}
	if sp.midID == 0 || sp.ridID == 0 || sp.mid == "" {
		t.Fatalf("simulcast publisher: mid ext %d rid ext %d mid %q", sp.midID, sp.ridID, sp.mid)
	}
	return sp
}

// frame sends one frame on every layer; key[i] makes layer i's a keyframe.
func (sp *simPub) frame(key [3]bool) uint32 {
	sp.n++
	for i, tr := range sp.tracks {
		p := &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: sp.seq[i], Timestamp: simTS[i] + sp.n*3000, Marker: true},
			Payload: vp8Sized(key[i], simSizes[i][0], simSizes[i][1], layerRID[i][0], sp.n),
		}
		_ = p.Header.SetExtension(sp.midID, []byte(sp.mid))
		_ = p.Header.SetExtension(sp.ridID, []byte(layerRID[i]))
		if err := tr.WriteRTP(p); err != nil {
			sp.t.Fatal(err)
		}
		sp.seq[i]++
	}
	return sp.n
}

// A subscriber's preference change switches layers only at a keyframe of
// the new layer, and its sequence numbers stay continuous.
func TestSimulcastSwitchOnKeyframe(t *testing.T) {
	deadline(t, 40*time.Second)
	s := newTestSFU(t, Config{PLIInterval: 50 * time.Millisecond})
	pub := join(t, s, "r", "pub", true, clientOptions{})
	sp := newSimPub(t, pub)
	sub := join(t, s, "r", "sub", false, clientOptions{})

	got := make(chan *rtp.Packet, 8192)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readAll(sub.nextTrack(15*time.Second), got, done)
	}()
	defer func() {
		close(done)
		sub.close()
		pub.close()
		wg.Wait()
	}()

	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	var last *rtp.Packet
	check := func(p *rtp.Packet) byte {
		t.Helper()
		tag, _, ok := mark(p.Payload)
		if !ok {
			t.Fatalf("payload %x", p.Payload)
		}
		if last != nil {
			if p.SequenceNumber != last.SequenceNumber+1 {
				t.Fatalf("seq %d after %d", p.SequenceNumber, last.SequenceNumber)
			}
			if d := p.Timestamp - last.Timestamp; d == 0 || d > 90000 {
				t.Fatalf("timestamp step %d", d)
			}
		}
		last = p
		return tag
	}
	// drain reads what arrived; it returns the tags in order.
	drain := func(d time.Duration) []byte {
		var tags []byte
		to := time.After(d)
		for {
			select {
			case p := <-got:
				tags = append(tags, check(p))
			case <-to:
				return tags
			}
		}
	}

	// 1. keyframes everywhere until the subscriber gets the top layer
	deadlineF := time.After(15 * time.Second)
	for gotF := false; !gotF; {
		select {
		case <-tk.C:
			sp.frame([3]bool{sp.n%10 == 0, sp.n%10 == 0, sp.n%10 == 0})
		case p := <-got:
			gotF = check(p) == 'f'
		case <-deadlineF:
			t.Fatal("never got layer f")
		}
	}

	// 2. ask for a thumbnail: nothing changes without a keyframe of q
	if err := sub.p.SetTrackPreference("cam", 160, 90, false); err != nil {
		t.Fatal(err)
	}
	for range 60 {
		<-tk.C
		sp.frame([3]bool{})
	}
	if tags := drain(100 * time.Millisecond); slices.ContainsFunc(tags, func(b byte) bool { return b != 'f' }) {
		t.Fatalf("switched before a keyframe: %q", tags)
	}
	if pub.plis.Load() == 0 {
		t.Error("no keyframe request for the new layer")
	}
	// ... a keyframe of q: the switch happens exactly there
	<-tk.C
	kq := sp.frame([3]bool{true, false, false})
	for range 20 {
		<-tk.C
		sp.frame([3]bool{})
	}
	deadlineQ := time.After(5 * time.Second)
	for {
		var p *rtp.Packet
		select {
		case p = <-got:
		case <-deadlineQ:
			t.Fatal("never switched to q")
		}
		if tag := check(p); tag == 'q' {
			if _, n, _ := mark(p.Payload); n != kq {
				t.Fatalf("switched to q at frame %d, its keyframe was %d", n, kq)
			}
			if k, _, _ := vp8Keyframe(p.Payload); !k {
				t.Fatal("first q packet is not a keyframe")
			}
			break
		}
	}
	if tags := drain(100 * time.Millisecond); slices.ContainsFunc(tags, func(b byte) bool { return b != 'q' }) {
		t.Fatalf("layers after the switch: %q", tags)
	}
	if l := sub.p.Subscriptions(); len(l) != 1 || l[0].Layer != "q" || l[0].Target != "q" {
		t.Fatalf("subscriptions %+v", l)
	}
	// dynacast: only q is watched now
	timeout := time.After(5 * time.Second)
	for wanted := false; !wanted; {
		select {
		case ev := <-pub.events:
			wanted = ev.Type == EventLayersWanted && slices.Equal(ev.Layers, []string{"q"})
		case <-tk.C:
			sp.frame([3]bool{})
		case <-timeout:
			t.Fatal("no layers_wanted [q]")
		}
	}

	// 3. back up to full size, at a keyframe of f
	if err := sub.p.SetTrackPreference("cam", 0, 0, false); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		<-tk.C
		sp.frame([3]bool{true, true, false}) // keyframes of the others do not count
	}
	if tags := drain(100 * time.Millisecond); slices.ContainsFunc(tags, func(b byte) bool { return b != 'q' }) {
		t.Fatalf("switched before a keyframe of f: %q", tags)
	}
	<-tk.C
	kf := sp.frame([3]bool{false, false, true})
	for range 10 {
		<-tk.C
		sp.frame([3]bool{})
	}
	deadlineF = time.After(5 * time.Second)
	for {
		var p *rtp.Packet
		select {
		case p = <-got:
		case <-deadlineF:
			t.Fatal("never switched back to f")
		}
		if check(p) == 'f' {
			if _, n, _ := mark(p.Payload); n != kf {
				t.Fatalf("switched to f at frame %d, its keyframe was %d", n, kf)
			}
			break
		}
	}

	// 4. paused: nothing arrives
	if err := sub.p.SetTrackPreference("cam", 0, 0, true); err != nil {
		t.Fatal(err)
	}
	drain(50 * time.Millisecond)
	for range 20 {
		<-tk.C
		sp.frame([3]bool{true, true, true})
	}
	if tags := drain(100 * time.Millisecond); len(tags) > 0 {
		t.Fatalf("paused, got %q", tags)
	}
}
