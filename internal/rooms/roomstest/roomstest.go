// Package roomstest helps tests of rooms with real pion clients: loopback
// PeerConnections, a synthetic VP8 camera, and reading a remote track.
package roomstest

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
)

// LoopbackAPI makes pion PeerConnections that talk over loopback only.
func LoopbackAPI(t testing.TB) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{LoggerFactory: &logging.DefaultLoggerFactory{Writer: io.Discard}}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// VP8Frame is a synthetic one-packet VP8 frame (a 640×360 keyframe header,
// or an interframe) ending with a counter.
func VP8Frame(key bool, n uint32) []byte {
	b := []byte{0x10, 0x01, 0x00, 0x00}
	if key {
		b = []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	}
	return binary.BigEndian.AppendUint32(b, n)
}

// Camera is a VP8 track (id and stream id) sending 50 frames a second, a
// keyframe every 25, from sequence number firstSeq, until t ends.
func Camera(t testing.TB, id string, firstSeq uint16) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	tr, _ := Stream(t, id, firstSeq, 20*time.Millisecond, 25, 0)
	return tr
}

// Stream is a Camera sending a one-packet frame every period, a keyframe
// every keyEvery, each VP8Frame padded with zeros to size bytes; written
// counts the packets it wrote.
func Stream(t testing.TB, id string, firstSeq uint16, period time.Duration, keyEvery uint32, size int) (tr *webrtc.TrackLocalStaticRTP, written *atomic.Int64) {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, id, id)
	if err != nil {
		t.Fatal(err)
	}
	written = &atomic.Int64{}
	ticks := uint32(period * 90000 / time.Second) // RTP timestamp per frame
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for n := uint32(0); ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			payload := VP8Frame(n%keyEvery == 0, n)
			if len(payload) < size {
				payload = append(payload, make([]byte, size-len(payload))...)
			}
			if tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: firstSeq + uint16(n), Timestamp: n * ticks, Marker: true},
				Payload: payload}) == nil {
				written.Add(1)
			}
		}
	}()
	return tr, written
}

// Receives waits on r for the remote track named id and reads n packets
// from it, failing t if they do not come.
func Receives(t testing.TB, ctx context.Context, r *client.Room, id string, n int) *webrtc.TrackRemote {
	t.Helper()
	for {
		select {
		case tr := <-r.Tracks:
			if tr.ID() != id {
				continue
			}
			for k := 0; k < n; k++ {
				tr.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, _, err := tr.ReadRTP(); err != nil {
					t.Fatalf("track %s: %v after %d packets", id, err, k)
				}
			}
			return tr
		case <-ctx.Done():
			t.Fatalf("no track %s", id)
		}
	}
}
