package sfu

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Active speakers follow the audio levels: loudest first, re-announced when
// the order changes, empty when everyone is quiet.
func TestActiveSpeakers(t *testing.T) {
	deadline(t, 40*time.Second)
	s := newTestSFU(t, Config{})
	watcher := join(t, s, "r", "w", false, clientOptions{})
	type speaker struct {
		c     *testClient
		track *webrtc.TrackLocalStaticRTP
		ext   uint8
		dBov  atomic.Int32 // 127: silence
	}
	var sp [2]*speaker
	for i, id := range []string{"a", "b"} {
		c := join(t, s, "r", id, true, clientOptions{})
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-"+id, id)
		if err != nil {
			t.Fatal(err)
		}
		sender := c.publish(tr)
		x := &speaker{c: c, track: tr}
		x.dBov.Store(127)
		for _, e := range sender.GetParameters().HeaderExtensions {
			if e.URI == uriAudioLevel {
				x.ext = uint8(e.ID)
			}
		}
		sp[i] = x
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, x := range sp {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(20 * time.Millisecond)
			defer tk.Stop()
			for n := uint32(0); ; n++ {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 960}, Payload: []byte{0xf8, 0xff, 0xfe}}
				_ = p.Header.SetExtension(x.ext, []byte{byte(x.dBov.Load())})
				_ = x.track.WriteRTP(p)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	expect := func(want []string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case ev := <-watcher.events:
				if ev.Type == EventActiveSpeakers && slices.Equal(ev.Speakers, want) {
					return
				}
			case <-timeout:
				t.Fatalf("speakers never became %v", want)
			}
		}
	}
	sp[0].dBov.Store(10)
	sp[1].dBov.Store(40)
	expect([]string{"a", "b"})
	sp[0].dBov.Store(45)
	sp[1].dBov.Store(5)
	expect([]string{"b", "a"})
	sp[0].dBov.Store(127)
	sp[1].dBov.Store(127)
	expect([]string{})
}
