package cascade

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/internal/sfu"
	"github.com/parley-chat/parley/internal/sfu/sfutest"
)

var deadline = sfutest.Deadline

// watch reads a viewer's track, counting packets, keyframes and packets
// whose payload is not what the broadcaster sent.
type watch struct {
	tr                *webrtc.TrackRemote
	packets, keys     atomic.Int64
	bad               atomic.Int64
	lastTag           atomic.Int32
	gotSeqs           chan uint16
	firstKeyDecodable atomic.Bool
}

func watchTrack(tr *webrtc.TrackRemote) *watch {
	w := &watch{tr: tr, gotSeqs: make(chan uint16, 8192)}
	go func() {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			w.check(p)
			select {
			case w.gotSeqs <- p.SequenceNumber:
			default:
			}
		}
	}()
	return w
}

func (w *watch) check(p *rtp.Packet) {
	if w.tr.Kind() == webrtc.RTPCodecTypeAudio {
		if len(p.Payload) != 3 || p.Payload[0] != 'a' {
			w.bad.Add(1)
		}
		w.packets.Add(1)
		return
	}
	tag, _, ok := mark(p.Payload)
	if !ok {
		w.bad.Add(1)
		return
	}
	if w.packets.Load() == 0 && isKey(p.Payload) {
		w.firstKeyDecodable.Store(true)
	}
	if isKey(p.Payload) {
		w.keys.Add(1)
	}
	w.lastTag.Store(int32(tag))
	w.packets.Add(1)
}

// viewer joins an edge room and watches the tracks it is offered.
func viewer(t *testing.T, s *sfu.SFU, room, id string, o clientOptions) (*client, map[string]*watch) {
	c := join(t, s, room, id, false, o)
	got := map[string]*watch{}
	for len(got) < 2 {
		select {
		case tr := <-c.tracks:
			got[tr.Kind().String()] = watchTrack(tr)
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no track (%v %v): %+v %+v", id, c.pc.ICEConnectionState(), c.pc.ConnectionState(), c.p.Subscriptions(), s.Rooms())
		}
	}
	return c, got
}

// One broadcaster on the origin; two edges pull the room once each;
// viewers on the edges get decodable media, the origin sends one copy per
// edge however many viewers an edge has, keyframe requests reach the
// broadcaster through the edge, and a viewer's losses are repaired from
// the edge's cache.
func TestCascade(t *testing.T) {
	deadline(t, 90*time.Second)
	origin, edge1, edge2 := newSFU(t), newSFU(t), newSFU(t)
	b := newBroadcaster(t, origin, "live")
	e1, sub1 := pull(t, origin, edge1, "live", "live-e1")
	e2, sub2 := pull(t, origin, edge2, "live", "live-e2")

	var seen atomic.Int32
	var dropped atomic.Int32 // seq+1 of the video packet dropped on the way to v1a
	v1a, w1a := viewer(t, edge1, "live-e1", "v1a", clientOptions{drop: func(seq uint16) bool {
		if seen.Add(1) == 60 {
			dropped.Store(int32(seq) + 1)
			return true
		}
		return false
	}})
	_, w1b := viewer(t, edge1, "live-e1", "v1b", clientOptions{})
	v2, w2 := viewer(t, edge2, "live-e2", "v2", clientOptions{})

	// Decodable: each viewer's video starts with a keyframe (the edge's
	// request reached the broadcaster, which sends none unasked), of the
	// top layer, and every payload is the broadcaster's.
	for name, w := range map[string]map[string]*watch{"v1a": w1a, "v1b": w1b, "v2": w2} {
		eventually(t, name+" gets video and audio", func() bool {
			return w["video"].keys.Load() > 0 && w["video"].packets.Load() > 20 && w["audio"].packets.Load() > 20
		})
		if !w["video"].firstKeyDecodable.Load() {
			t.Errorf("%s: video did not start with a keyframe", name)
		}
		if tag := byte(w["video"].lastTag.Load()); tag != 'f' {
			t.Errorf("%s: gets layer %q, want f", name, tag)
		}
		if bad := w["video"].bad.Load() + w["audio"].bad.Load(); bad != 0 {
			t.Errorf("%s: %d packets with a payload the broadcaster did not send", name, bad)
		}
	}

	// One copy per edge: the origin forwards nothing to downtracks of its
	// own, and each link carries at most what was published, although
	// edge 1 has two viewers.
	st := origin.Stats()
	if st.Subscriptions != 0 || st.Forwarded != 0 {
		t.Errorf("origin has %d downtracks, forwarded %d packets; want none (edges only)", st.Subscriptions, st.Forwarded)
	}
	if st.Participants != 3 {
		t.Errorf("origin has %d participants, want 3 (broadcaster, two edges)", st.Participants)
	}
	sent := b.sent.Load()
	p1, _ := sub1.Sent()
	p2, _ := sub2.Sent()
	if p1 == 0 || p2 == 0 || p1 > sent || p2 > sent {
		t.Errorf("links carried %d and %d packets for %d published; want each 0 < n ≤ published", p1, p2, sent)
	}
	if st := origin.Stats(); st.Mirrored < p1+p2 {
		t.Errorf("origin Stats.Mirrored %d < %d", st.Mirrored, p1+p2)
	}
	if st := edge1.Stats(); st.Forwarded == 0 || st.Subscriptions != 4 {
		t.Errorf("edge 1: %d downtracks, forwarded %d; want 4 (2 viewers × 2 tracks) and > 0", st.Subscriptions, st.Forwarded)
	}

	// NACK: the packet dropped before v1a comes back, resent by edge 1
	// from its cache; the origin resent nothing.
	eventually(t, "v1a's lost packet resent", func() bool { return dropped.Load() != 0 && edge1.Stats().Resent > 0 })
	lost := uint16(dropped.Load() - 1)
	eventually(t, "v1a gets the lost packet", func() bool {
		for {
			select {
			case s := <-w1a["video"].gotSeqs:
				if s == lost {
					return true
				}
			default:
				return false
			}
		}
	})
	if n := sub1.Resent(); n != 0 {
		t.Errorf("the origin resent %d packets; the edge should have", n)
	}

	// PLI: a viewer's keyframe request on edge 2 reaches the broadcaster's
	// top layer, and a keyframe comes back.
	time.Sleep(200 * time.Millisecond)
	plis, keys := b.c.pliCount(b.ssrcs[2]), w2["video"].keys.Load()
	eventually(t, "the broadcaster gets v2's PLI", func() bool {
		_ = v2.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(w2["video"].tr.SSRC())}})
		return b.c.pliCount(b.ssrcs[2]) > plis
	})
	eventually(t, "v2 gets a new keyframe", func() bool { return w2["video"].keys.Load() > keys })

	// A track published later reaches the edges' viewers; unpublished, it
	// leaves them.
	screen := b.addTrack("screen")
	tr := v1a.nextTrack()
	if tr.ID() != "screen" || tr.StreamID() != "host" {
		t.Errorf("late track %q of %q, want screen of host", tr.ID(), tr.StreamID())
	}
	ws := watchTrack(tr)
	eventually(t, "v1a gets the late track", func() bool { return ws.keys.Load() > 0 && byte(ws.lastTag.Load()) == 'x' })
	b.removeTrack("screen", screen)
	if ev := v1a.waitEvent(sfu.EventTrackUnpublished); ev.Track.ID != "screen" {
		t.Errorf("unpublished %q, want screen", ev.Track.ID)
	}

	// Closing an edge ends its subscription on the origin.
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub2.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the origin kept the closed edge's subscription")
	}
	eventually(t, "the origin forgets edge 2", func() bool { return origin.Stats().Participants == 2 })
	if e2.Err() != nil {
		t.Errorf("closed edge: Err %v, want nil", e2.Err())
	}

	// The origin's room ends: edge 1 says the origin is gone, and its
	// viewers lose the tracks.
	origin.CloseRoom("live")
	select {
	case <-e1.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("edge 1 did not notice the origin room closed")
	}
	if !errors.Is(e1.Err(), ErrOriginGone) {
		t.Errorf("edge Err %v, want ErrOriginGone", e1.Err())
	}
	v1a.waitEvent(sfu.EventTrackUnpublished)
}

// The origin node shutting down (its SFU closed) ends the edge with
// ErrOriginGone and unpublishes the broadcast from the edge's room.
func TestOriginShutdown(t *testing.T) {
	deadline(t, 60*time.Second)
	origin, edge := newSFU(t), newSFU(t)
	newBroadcaster(t, origin, "live")
	e, _ := pull(t, origin, edge, "live", "local")
	eventually(t, "the edge publishes the broadcast", func() bool { return edge.Stats().Tracks == 2 })
	if err := origin.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the edge did not notice the origin shut down")
	}
	if !errors.Is(e.Err(), ErrOriginGone) {
		t.Errorf("Err %v, want ErrOriginGone", e.Err())
	}
	eventually(t, "the edge room empties", func() bool { return edge.Stats().Tracks == 0 })
}

// A Signal that fails makes Pull fail with its error, leaving nothing
// behind in the local SFU.
func TestPullSignalFails(t *testing.T) {
	deadline(t, 30*time.Second)
	edge := newSFU(t)
	boom := errors.New("no route to the origin")
	_, err := Pull(context.Background(), edge, "local", func(context.Context, string) (string, error) { return "", boom }, Options{Logger: quiet})
	if !errors.Is(err, boom) {
		t.Fatalf("Pull: %v, want the signal's error", err)
	}
	if _, _, err := Accept(context.Background(), edge, "live", "not sdp"); err == nil {
		t.Fatal("Accept took an offer that is not SDP")
	}
	if st := edge.Stats(); st.Rooms != 0 || st.Participants != 0 {
		t.Fatalf("left behind: %+v", st)
	}
}

// A Pool pulls a channel once for all its local viewers, lets it go with
// the last release, and pulls again into the same local room after the
// origin went away, so viewers who stayed get the broadcast back.
func TestPool(t *testing.T) {
	deadline(t, 60*time.Second)
	origin, edge := newSFU(t), newSFU(t)
	b := newBroadcaster(t, origin, "live")
	var accepts atomic.Int32
	accept := AcceptFunc(origin)
	signal := func(ctx context.Context, offer string) (string, error) {
		accepts.Add(1)
		ans, _, err := accept(ctx, "live", offer)
		return ans, err
	}
	pool := NewPool(edge, "chan:", Options{Logger: quiet})
	t.Cleanup(pool.Close)
	ctx := context.Background()
	room1, ended1, release1, err := pool.Edge(ctx, "node-a", "k1", signal)
	if err != nil {
		t.Fatal(err)
	}
	room2, _, release2, err := pool.Edge(ctx, "node-a", "k1", signal)
	if err != nil {
		t.Fatal(err)
	}
	if room1 != "chan:k1" || room2 != room1 || accepts.Load() != 1 {
		t.Fatalf("rooms %q %q after %d pulls; want chan:k1 twice, one pull", room1, room2, accepts.Load())
	}
	v := join(t, edge, room1, "v", false, clientOptions{})
	v.nextTrack()
	release1()
	release1() // a second call does nothing
	if origin.Stats().Participants != 2 {
		t.Fatalf("the pull ended with a viewer left: %+v", origin.Stats())
	}

	// The broadcast ends on its origin and starts again (a new broadcaster):
	// the pool pulls again into the same room, and the viewer gets it back.
	b.close()
	eventually(t, "the edge room loses the broadcast", func() bool { return edge.Stats().Tracks == 0 })
	origin.CloseRoom("live")
	eventually(t, "the pool's edge ends", func() bool {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		return pool.pulls["k1"].stale("node-a")
	})
	select {
	case <-ended1:
	default:
		t.Fatal("the pull ended; its ended channel is open")
	}
	newBroadcaster(t, origin, "live")
	_, _, release3, err := pool.Edge(ctx, "node-a", "k1", signal)
	if err != nil {
		t.Fatal(err)
	}
	if accepts.Load() != 2 {
		t.Fatalf("%d pulls, want a second one after the origin ended", accepts.Load())
	}
	eventually(t, "the viewer gets the broadcast back", func() bool { return len(v.p.Subscriptions()) == 2 })
	release2()
	release3()
	eventually(t, "the last release lets the pull go", func() bool { return origin.Stats().Participants == 1 })
}

// An edge can be another edge's origin (a tree of nodes), and a mute on
// the origin reaches viewers two hops away.
func TestCascadeTree(t *testing.T) {
	deadline(t, 60*time.Second)
	origin, mid, leaf := newSFU(t), newSFU(t), newSFU(t)
	b := newBroadcaster(t, origin, "live")
	pull(t, origin, mid, "live", "mid")
	pull(t, mid, leaf, "mid", "leaf")
	_, w := viewer(t, leaf, "leaf", "v", clientOptions{})
	eventually(t, "the leaf's viewer gets video and audio", func() bool {
		return w["video"].keys.Load() > 0 && w["video"].packets.Load() > 10 && w["audio"].packets.Load() > 10
	})
	if bad := w["video"].bad.Load() + w["audio"].bad.Load(); bad != 0 {
		t.Errorf("%d packets with a payload the broadcaster did not send", bad)
	}
	if err := b.c.p.SetMuted("mic", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mute reaches the leaf", func() bool {
		info, _ := leaf.Room("leaf")
		for _, p := range info.Participants {
			for _, tr := range p.Tracks {
				if tr.ID == "mic" && tr.Muted {
					return true
				}
			}
		}
		return false
	})
}

// Dynacast crosses the link: when the edge's viewers want only the small
// layer, the origin stops sending the others to that edge and, nobody else
// wanting them, the broadcaster is told to stop encoding them; when a
// viewer wants the top layer again, it comes back.
func TestEdgeDynacast(t *testing.T) {
	deadline(t, 60*time.Second)
	origin, edge := newSFU(t), newSFU(t)
	b := newBroadcaster(t, origin, "live")
	pull(t, origin, edge, "live", "local")
	v, w := viewer(t, edge, "local", "v", clientOptions{})
	eventually(t, "the viewer gets layer f", func() bool { return byte(w["video"].lastTag.Load()) == 'f' })
	wanted := func(want ...string) {
		t.Helper()
		for {
			ev := b.c.waitEvent(sfu.EventLayersWanted)
			if slices.Equal(ev.Layers, want) {
				return
			}
		}
	}
	if err := v.p.SetTrackPreference("cam", 160, 90, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the viewer gets layer q", func() bool { return byte(w["video"].lastTag.Load()) == 'q' })
	wanted("q")
	if err := v.p.SetTrackPreference("cam", 0, 0, false); err != nil {
		t.Fatal(err)
	}
	wanted("q", "f")
	eventually(t, "the viewer gets layer f again", func() bool { return byte(w["video"].lastTag.Load()) == 'f' })
}
