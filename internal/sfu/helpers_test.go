package sfu

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/parley-chat/parley/internal/sfu/sfutest"
)

func TestMain(m *testing.M) {
	if os.Getenv("SFU_RELAY_CHILD") != "" { // BenchmarkRelayThroughput's clients
		var once sync.Once
		testing.Benchmark(func(b *testing.B) { once.Do(func() { relayChild(b) }) })
		return
	}
	goleak.VerifyTestMain(m)
}

// deadline fails the test if it runs longer than d, instead of hanging.
func deadline(t testing.TB, d time.Duration) { t.Helper(); sfutest.Deadline(t, d) }

func newTestSFU(t testing.TB, cfg Config) *SFU {
	t.Helper()
	if cfg.UDPAddr == "" {
		cfg.UDPAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// clientOptions shape a test client's pion API.
type clientOptions struct {
	nack bool                  // generate NACKs for lost packets
	drop func(seq uint16) bool // drop incoming video packets for which this says true
}

// testClient is a participant's client: a real pion pub/sub pair on loopback.
type testClient struct {
	t      testing.TB
	id     string
	p      *Participant           // nil when the client runs in another process
	signal func(sig Signal) error // client → SFU
	pub    *webrtc.PeerConnection
	sub    *webrtc.PeerConnection
	sigs   chan Signal
	events chan Event
	tracks chan *webrtc.TrackRemote
	plis   atomic.Int32
	remb   atomic.Uint64 // last REMB bitrate the publisher got
	ready  chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
}

func newClientAPI(t testing.TB, o clientOptions) *webrtc.API {
	me, err := newMediaEngine()
	if err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if o.drop != nil {
		reg.Add(&sfutest.Dropper{Drop: o.drop})
	}
	if o.nack {
		gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(20 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		reg.Add(gen)
		resp, err := nack.NewResponderInterceptor()
		if err != nil {
			t.Fatal(err)
		}
		reg.Add(resp)
	}
	rr, _ := report.NewReceiverInterceptor()
	reg.Add(rr)
	tw, _ := twcc.NewSenderInterceptor()
	reg.Add(tw)
	return sfutest.LoopbackAPI(me, reg)
}

// newClient makes a client's two PeerConnections; signal carries what the
// client sends to the SFU (set it before start).
func newClient(t testing.TB, id string, o clientOptions) *testClient {
	t.Helper()
	api := newClientAPI(t, o)
	c := &testClient{
		t: t, id: id, sigs: make(chan Signal, 1024), events: make(chan Event, 1024),
		tracks: make(chan *webrtc.TrackRemote, 16), ready: make(chan struct{}), done: make(chan struct{}),
	}
	var err error
	if c.pub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if c.sub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	c.pub.OnICECandidate(func(ic *webrtc.ICECandidate) { c.sendCandidate(PCPub, ic) })
	c.sub.OnICECandidate(func(ic *webrtc.ICECandidate) { c.sendCandidate(PCSub, ic) })
	c.sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case c.tracks <- tr:
		case <-c.done:
		}
	})
	return c
}

// start lets the client send signals and apply the SFU's.
func (c *testClient) start() {
	close(c.ready)
	c.wg.Add(1)
	go c.loop()
	c.t.Cleanup(c.close)
}

// join makes a client and joins it to a room.
func join(t testing.TB, s *SFU, roomID, id string, canPublish bool, o clientOptions) *testClient {
	t.Helper()
	c := newClient(t, id, o)
	var err error
	c.p, err = s.Join(roomID, ParticipantOptions{
		ID: id, UserID: "u-" + id, Name: strings.ToUpper(id), CanPublish: canPublish,
		OnSignal: func(sig Signal) { c.sigs <- sig },
		OnEvent: func(ev Event) {
			select {
			case c.events <- ev:
			default:
				t.Errorf("%s: event queue full", id)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.signal = c.p.HandleSignal
	c.start()
	return c
}

func (c *testClient) sendCandidate(pc string, ic *webrtc.ICECandidate) {
	if ic == nil {
		return
	}
	<-c.ready
	init := ic.ToJSON()
	if err := c.signal(Signal{PC: pc, Kind: SignalCandidate, Candidate: &init}); err != nil && !isClosed(err) {
		c.t.Errorf("%s: candidate: %v", c.id, err)
	}
}

func isClosed(err error) bool { return errors.Is(err, errClosed) }

func (c *testClient) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// loop applies the SFU's signals, answering sub offers.
func (c *testClient) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case sig := <-c.sigs:
			if err := c.apply(sig); err != nil && !isClosed(err) && !c.closing() {
				c.t.Errorf("%s: %s %s: %v", c.id, sig.PC, sig.Kind, err)
			}
		}
	}
}

func (c *testClient) apply(sig Signal) error {
	pc := c.pub
	if sig.PC == PCSub {
		pc = c.sub
	}
	switch sig.Kind {
	case SignalCandidate:
		return pc.AddICECandidate(*sig.Candidate)
	case SignalAnswer:
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP})
	case SignalOffer:
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sig.SDP}); err != nil {
			return err
		}
		ans, err := pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := pc.SetLocalDescription(ans); err != nil {
			return err
		}
		return c.signal(Signal{PC: PCSub, Kind: SignalAnswer, SDP: ans.SDP})
	}
	return nil
}

// publish adds tracks (the first of a simulcast set, then its encodings)
// to the pub PC and offers them.
func (c *testClient) publish(tracks ...*webrtc.TrackLocalStaticRTP) *webrtc.RTPSender {
	c.t.Helper()
	sender := sfutest.AddTrack(c.t, c.pub, tracks...)
	c.wg.Add(1)
	go func() { // read RTCP so interceptors run; count keyframe requests
		defer c.wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p := p.(type) {
				case *rtcp.PictureLossIndication:
					c.plis.Add(1)
				case *rtcp.ReceiverEstimatedMaximumBitrate:
					c.remb.Store(uint64(p.Bitrate))
				}
			}
		}
	}()
	c.offer()
	return sender
}

func (c *testClient) offer() {
	c.t.Helper()
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	if err := c.signal(Signal{PC: PCPub, Kind: SignalOffer, SDP: offer.SDP}); err != nil {
		c.t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); c.pub.SignalingState() != webrtc.SignalingStateStable; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			c.t.Fatalf("%s: no pub answer", c.id)
		}
	}
}

func (c *testClient) close() {
	select {
	case <-c.done:
		return
	default:
	}
	if c.p != nil {
		c.p.Leave()
	}
	close(c.done)
	_ = c.pub.Close()
	_ = c.sub.Close()
	c.wg.Wait()
}

// nextTrack waits for a track on the sub PC.
func (c *testClient) nextTrack(d time.Duration) *webrtc.TrackRemote {
	c.t.Helper()
	select {
	case tr := <-c.tracks:
		return tr
	case <-time.After(d):
		c.t.Fatalf("%s: no track within %v", c.id, d)
		return nil
	}
}

// waitEvent waits for an event of a type, skipping others.
func (c *testClient) waitEvent(typ string, d time.Duration) Event {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-c.events:
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			c.t.Fatalf("%s: no %s event within %v", c.id, typ, d)
			return Event{}
		}
	}
}

// vp8 builds a synthetic one-packet VP8 frame: a keyframe (with a 640x360
// header) or an interframe, carrying a tag and a counter after the header.
func vp8(key bool, tag byte, n uint32) []byte { return vp8Sized(key, 640, 360, tag, n) }

func vp8Sized(key bool, w, h int, tag byte, n uint32) []byte { return sfutest.VP8(key, w, h, tag, n) }

// mark reads back the tag and counter vp8 wrote.
func mark(payload []byte) (tag byte, n uint32, ok bool) { return sfutest.Mark(payload) }

func vp8Track(t testing.TB, id, stream, rid string) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	var opts []func(*webrtc.TrackLocalStaticRTP)
	if rid != "" {
		opts = append(opts, webrtc.WithRTPStreamID(rid))
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, id, stream, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// readAll reads RTP from a track into a channel until it ends.
func readAll(tr *webrtc.TrackRemote, out chan<- *rtp.Packet, done <-chan struct{}) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		select {
		case out <- p:
		case <-done:
			return
		}
	}
}
