package cascade

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/parley-chat/parley/internal/sfu"
	"github.com/parley-chat/parley/internal/sfu/sfutest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newSFU(t testing.TB) *sfu.SFU {
	t.Helper()
	s, err := sfu.New(sfu.Config{UDPAddr: "127.0.0.1:0", PLIInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// pull links an edge SFU's room to the origin's room, in process: the
// Signal calls Accept directly (the bus carries it in production).
func pull(t testing.TB, origin, edge *sfu.SFU, room, localRoom string) (*Edge, *Subscription) {
	t.Helper()
	var sub *Subscription
	e, err := Pull(context.Background(), edge, localRoom, func(ctx context.Context, offer string) (string, error) {
		ans, s, err := Accept(ctx, origin, room, offer)
		sub = s
		return ans, err
	}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(); sub.Close(); <-sub.Done() })
	return e, sub
}

// client is a pion PeerConnection joined to an SFU as one participant:
// pub for a publisher, sub for a viewer.
type client struct {
	t      testing.TB
	p      *sfu.Participant
	pc     *webrtc.PeerConnection
	pcName string
	events chan sfu.Event
	tracks chan *webrtc.TrackRemote
	plis   sync.Map // media SSRC → *atomic.Int32
	wg     sync.WaitGroup
	done   chan struct{}
}

type clientOptions struct {
	drop func(seq uint16) bool // drop incoming video packets (then NACK them)
}

func clientAPI(t testing.TB, o clientOptions) *webrtc.API {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
	for _, c := range []struct {
		c webrtc.RTPCodecParameters
		k webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		// RTX: a resend of a packet the dropper removed after SRTP would
		// otherwise be refused by SRTP's replay check
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"}, PayloadType: 97}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	} {
		if err := me.RegisterCodec(c.c, c.k); err != nil {
			t.Fatal(err)
		}
	}
	for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	reg := &interceptor.Registry{}
	if o.drop != nil {
		reg.Add(&sfutest.Dropper{Drop: o.drop})
		gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(20 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		reg.Add(gen)
	}
	return sfutest.LoopbackAPI(me, reg)
}

// join connects a client: a publisher (pub PC, which it offers) or a
// viewer (sub PC, which the SFU offers).
func join(t testing.TB, s *sfu.SFU, room, id string, publish bool, o clientOptions) *client {
	t.Helper()
	c := &client{t: t, pcName: sfu.PCSub, events: make(chan sfu.Event, 1024), tracks: make(chan *webrtc.TrackRemote, 16), done: make(chan struct{})}
	if publish {
		c.pcName = sfu.PCPub
	}
	var err error
	if c.pc, err = clientAPI(t, o).NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan sfu.Signal, 1024)
	c.p, err = s.Join(room, sfu.ParticipantOptions{
		ID: id, Name: id, CanPublish: publish, Hidden: !publish,
		OnSignal: func(sig sfu.Signal) { sigs <- sig },
		OnEvent: func(ev sfu.Event) {
			select {
			case c.events <- ev:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic != nil {
			init := ic.ToJSON()
			_ = c.p.HandleSignal(sfu.Signal{PC: c.pcName, Kind: sfu.SignalCandidate, Candidate: &init})
		}
	})
	c.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case c.tracks <- tr:
		case <-c.done:
		}
	})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.done:
				return
			case sig := <-sigs:
				c.apply(sig)
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *client) apply(sig sfu.Signal) {
	switch sig.Kind {
	case sfu.SignalCandidate:
		if err := c.pc.AddICECandidate(*sig.Candidate); err != nil {
			c.t.Logf("candidate %v", err)
		}
	case sfu.SignalAnswer:
		_ = c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP})
	case sfu.SignalOffer:
		// pion starts ICE after the first answer asynchronously; a second
		// offer before then looks like an ICE restart to it (new ufrag)
		for end := time.Now().Add(5 * time.Second); c.pc.CurrentRemoteDescription() != nil &&
			c.pc.ICEConnectionState() == webrtc.ICEConnectionStateNew && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sig.SDP}); err != nil {
			c.t.Logf("offer %v", err)
			return
		}
		ans, err := c.pc.CreateAnswer(nil)
		if err != nil || c.pc.SetLocalDescription(ans) != nil {
			return
		}
		_ = c.p.HandleSignal(sfu.Signal{PC: sfu.PCSub, Kind: sfu.SignalAnswer, SDP: ans.SDP})
	}
}

func (c *client) close() {
	select {
	case <-c.done:
		return
	default:
	}
	c.p.Leave()
	close(c.done)
	_ = c.pc.Close()
	c.wg.Wait()
}

// offer sends the pub PC's tracks to the SFU and waits for the answer.
func (c *client) offer() {
	c.t.Helper()
	offer, err := c.pc.CreateOffer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err == nil {
		err = c.p.HandleSignal(sfu.Signal{PC: sfu.PCPub, Kind: sfu.SignalOffer, SDP: offer.SDP})
	}
	if err != nil {
		c.t.Fatal(err)
	}
	eventually(c.t, "a pub answer", func() bool { return c.pc.SignalingState() == webrtc.SignalingStateStable })
}

// publish adds a track (with its simulcast encodings) and reads its RTCP,
// counting keyframe requests by SSRC.
func (c *client) publish(tracks ...*webrtc.TrackLocalStaticRTP) *webrtc.RTPSender {
	c.t.Helper()
	sender := sfutest.AddTrack(c.t, c.pc, tracks...)
	for i, tr := range tracks {
		read := sender.ReadRTCP
		if i > 0 { // pion hands each encoding's RTCP out by its RID
			rid := tr.RID()
			read = func() ([]rtcp.Packet, interceptor.Attributes, error) { return sender.ReadSimulcastRTCP(rid) }
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				pkts, _, err := read()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if p, ok := p.(*rtcp.PictureLossIndication); ok {
						n, _ := c.plis.LoadOrStore(p.MediaSSRC, new(atomic.Int32))
						n.(*atomic.Int32).Add(1)
					}
				}
			}
		}()
	}
	c.offer()
	return sender
}

func (c *client) pliCount(ssrc uint32) int32 {
	if n, ok := c.plis.Load(ssrc); ok {
		return n.(*atomic.Int32).Load()
	}
	return 0
}

func (c *client) nextTrack() *webrtc.TrackRemote {
	c.t.Helper()
	select {
	case tr := <-c.tracks:
		return tr
	case <-time.After(20 * time.Second):
		c.t.Fatal("no track")
		return nil
	}
}

func (c *client) waitEvent(typ string) sfu.Event {
	c.t.Helper()
	to := time.After(20 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev.Type == typ {
				return ev
			}
		case <-to:
			c.t.Fatalf("no %s event", typ)
			return sfu.Event{}
		}
	}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never: %s", what)
		}
	}
}

var vp8, mark = sfutest.VP8, sfutest.Mark

func isKey(payload []byte) bool {
	return len(payload) > 3 && payload[0]&0x10 != 0 && payload[3]&0x01 == 0
}

func staticTrack(t testing.TB, mime string, clock uint32, channels uint16, id, rid string) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	var opts []func(*webrtc.TrackLocalStaticRTP)
	if rid != "" {
		opts = append(opts, webrtc.WithRTPStreamID(rid))
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: clock, Channels: channels}, id, "s", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// broadcaster publishes simulcast VP8 (q, h, f) and Opus to an SFU and
// keeps sending frames; a layer's keyframe is sent only when asked for
// (the first frame, and after a PLI), so a viewer that decodes anything
// proves keyframe requests travel back.
type broadcaster struct {
	c      *client
	video  [3]*webrtc.TrackLocalStaticRTP
	audio  *webrtc.TrackLocalStaticRTP
	vsend  *webrtc.RTPSender
	midID  uint8
	ridID  uint8
	mid    string
	ssrcs  [3]uint32
	seq    [3]uint16
	aseq   uint16
	n      uint32
	sent   atomic.Uint64 // packets, all layers and audio
	plis   [3]int32      // PLIs seen per layer when its last keyframe went
	extra  map[string]*webrtc.TrackLocalStaticRTP
	mu     sync.Mutex
	stop   chan struct{}
	wg     sync.WaitGroup
	rids   [3]string
	sizes  [3][2]int
	frameT time.Duration
}

func newBroadcaster(t testing.TB, s *sfu.SFU, room string) *broadcaster {
	t.Helper()
	b := &broadcaster{
		c: join(t, s, room, "host", true, clientOptions{}), stop: make(chan struct{}), extra: map[string]*webrtc.TrackLocalStaticRTP{},
		rids: [3]string{"q", "h", "f"}, sizes: [3][2]int{{160, 90}, {320, 180}, {640, 360}}, frameT: 20 * time.Millisecond,
	}
	for i, rid := range b.rids {
		b.video[i] = staticTrack(t, webrtc.MimeTypeVP8, 90000, 0, "cam", rid)
	}
	b.audio = staticTrack(t, webrtc.MimeTypeOpus, 48000, 2, "mic", "")
	b.vsend = b.c.publish(b.video[:]...)
	b.c.publish(b.audio)
	for _, e := range b.vsend.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			b.midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			b.ridID = uint8(e.ID)
		}
	}
	for _, tr := range b.c.pc.GetTransceivers() {
		if tr.Sender() == b.vsend {
			b.mid = tr.Mid()
		}
	}
	for i, enc := range b.vsend.GetParameters().Encodings {
		b.ssrcs[i] = uint32(enc.SSRC)
	}
	if b.midID == 0 || b.ridID == 0 || b.mid == "" {
		t.Fatal("no mid/rid extension on the simulcast sender")
	}
	for i := range b.plis {
		b.plis[i] = -1 // the first frame is a keyframe
	}
	b.wg.Add(1)
	go b.run()
	t.Cleanup(b.close)
	return b
}

func (b *broadcaster) close() {
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	b.wg.Wait()
	b.c.close()
}

func (b *broadcaster) run() {
	defer b.wg.Done()
	tk := time.NewTicker(b.frameT)
	defer tk.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tk.C:
			b.frame()
		}
	}
}

func (b *broadcaster) frame() {
	b.n++
	for i, tr := range b.video {
		plis := b.c.pliCount(b.ssrcs[i])
		key := plis != b.plis[i]
		b.plis[i] = plis
		p := &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: b.seq[i], Timestamp: b.n * 1800, Marker: true},
			Payload: vp8(key, b.sizes[i][0], b.sizes[i][1], b.rids[i][0], b.n),
		}
		_ = p.Header.SetExtension(b.midID, []byte(b.mid))
		_ = p.Header.SetExtension(b.ridID, []byte(b.rids[i]))
		if tr.WriteRTP(p) == nil {
			b.sent.Add(1)
		}
		b.seq[i]++
	}
	b.aseq++
	if b.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: b.aseq, Timestamp: b.n * 960}, Payload: []byte{'a', byte(b.n >> 8), byte(b.n)}}) == nil {
		b.sent.Add(1)
	}
	b.mu.Lock()
	for _, tr := range b.extra {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(b.n), Timestamp: b.n * 1800, Marker: true}, Payload: vp8(b.n%10 == 1, 320, 240, 'x', b.n)}
		if tr.WriteRTP(p) == nil {
			b.sent.Add(1)
		}
	}
	b.mu.Unlock()
}

// addTrack publishes a plain VP8 track (keyframe every 10 frames, tag x).
func (b *broadcaster) addTrack(id string) *webrtc.RTPSender {
	tr := staticTrack(b.c.t, webrtc.MimeTypeVP8, 90000, 0, id, "")
	sender, err := b.c.pc.AddTrack(tr)
	if err != nil {
		b.c.t.Fatal(err)
	}
	b.c.offer()
	b.mu.Lock()
	b.extra[id] = tr
	b.mu.Unlock()
	return sender
}

func (b *broadcaster) removeTrack(id string, sender *webrtc.RTPSender) {
	b.mu.Lock()
	delete(b.extra, id)
	b.mu.Unlock()
	if err := b.c.pc.RemoveTrack(sender); err != nil {
		b.c.t.Fatal(err)
	}
	b.c.offer()
}
