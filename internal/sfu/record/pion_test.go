package record

import (
	"errors"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// loopbackAPI is pion with its default codecs and interceptors (NACK, RTCP
// reports, TWCC), on 127.0.0.1 only.
func loopbackAPI(t *testing.T) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// TestPionPeers records what a pion receiver gets from a pion sender over
// loopback (SRTP, pion's default interceptors), the way the SFU will: a
// TrackWriter per remote track, fed from ReadRTP, asking for keyframes with
// a PLI. One video packet is lost for good halfway: the sender gets a PLI
// (it sends from a file, so the clip's next keyframe ends the wait). Both
// files play for about as long as was sent.
func TestPionPeers(t *testing.T) {
	t.Parallel()
	frames := vp8Frames(t, vp8Clip(t))
	opus := opusPackets(t, opusClip(t))
	dir := t.TempDir()
	api := loopbackAPI(t)

	send, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	recv, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()

	var plisSent atomic.Int32
	video, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "p1")
	audio, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", "p1")
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		s, err := send.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		go func() { // read RTCP (or the interceptors stall), count PLIs
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						plisSent.Add(1)
					}
				}
			}
		}()
	}

	var (
		mu      sync.Mutex
		writers = map[string]*TrackWriter{}
		readers sync.WaitGroup
		plis    int
	)
	recv.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		codec := tr.Codec()
		ssrc := uint32(tr.SSRC())
		w, err := NewTrackWriter(filepath.Join(dir, tr.ID()+".webm"), Options{
			Codec: codec.MimeType, ClockRate: codec.ClockRate, Channels: codec.Channels,
			RequestKeyframe: func() {
				mu.Lock()
				plis++
				mu.Unlock()
				recv.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
			},
		})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		writers[tr.ID()] = w
		mu.Unlock()
		readers.Add(1)
		defer readers.Done()
		for n := 0; ; n++ {
			p, _, err := tr.ReadRTP()
			if errors.Is(err, io.EOF) || err != nil {
				return
			}
			if codec.MimeType == webrtc.MimeTypeVP8 && n == 60 {
				continue // lost for good: the writer asks for a keyframe
			}
			if err := w.WriteRTP(p); err != nil {
				t.Error(err)
				return
			}
		}
	})
	if _, err := recv.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}

	connected := make(chan struct{})
	var once sync.Once
	send.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})

	// Signaling in process, candidates gathered in full.
	offer, err := send.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(send)
	send.SetLocalDescription(offer)
	<-gathered
	if err := recv.SetRemoteDescription(*send.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := recv.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(recv)
	recv.SetLocalDescription(answer)
	<-gathered
	if err := send.SetRemoteDescription(*recv.LocalDescription()); err != nil {
		t.Fatal(err)
	}

	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the peers did not connect")
	}

	// Send both tracks in real time.
	var senders sync.WaitGroup
	senders.Go(func() {
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for _, f := range frames {
			<-tick.C
			video.WriteSample(media.Sample{Data: f, Duration: time.Second / 30})
		}
	})
	senders.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for _, p := range opus {
			<-tick.C
			audio.WriteSample(media.Sample{Data: p, Duration: 20 * time.Millisecond})
		}
	})
	senders.Wait()
	time.Sleep(200 * time.Millisecond) // the last packets' way over loopback
	send.Close()
	recv.Close()
	readers.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(writers) != 2 {
		t.Fatalf("%d tracks recorded, want 2", len(writers))
	}
	for id, w := range writers {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		st := w.Stats()
		t.Logf("%s: %+v", id, st)
		out := filepath.Join(dir, id+".webm")
		near(t, id+" ffprobe duration", formatDuration(t, probe(t, out)), 4, 1)
		near(t, id+" decoded duration", decode(t, out), 4, 1)
	}
	t.Logf("keyframe requests: %d; PLIs at the sender: %d", plis, plisSent.Load())
	if plis < 1 || plisSent.Load() < 1 {
		t.Errorf("%d keyframe requests, %d PLIs at the sender; want at least one each", plis, plisSent.Load())
	}
	if st := writers["cam"].Stats(); st.Frames >= 120 || st.Frames < 90 {
		t.Errorf("video: %d frames written, want those up to the keyframe after the loss left out", st.Frames)
	}
}
