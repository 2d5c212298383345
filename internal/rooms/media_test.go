package rooms_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/protocol"
)

// loopbackAPI makes pion PeerConnections that talk over loopback only.
func loopbackAPI(t *testing.T) *webrtc.API {
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

// vp8Frame is a synthetic one-packet VP8 frame (a 640×360 keyframe header,
// or an interframe) ending with a counter.
func vp8Frame(key bool, n uint32) []byte {
	b := []byte{0x10, 0x01, 0x00, 0x00}
	if key {
		b = []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	}
	return binary.BigEndian.AppendUint32(b, n)
}

// Over the whole server, as Go clients (package client's Room): a
// broadcaster's VP8 reaches three viewers of its channel, each packet once
// and in order with continuous sequence numbers; a viewer's room lists the
// broadcaster only; REST lists the channel live with its resolution.
func TestMediaThroughTheServer(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.SFUPublicIP = "127.0.0.1" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := loopbackAPI(t)

	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "studio")
	if err != nil {
		t.Fatal(err)
	}
	pubConn := s.dial(s.token(s.acc, "studio", protocol.RoleMember))
	pubRooms := client.NewRooms(pubConn)
	pub, err := pubRooms.Publish(ctx, pubConn, "live", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{track}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // 50 frames a second, a keyframe every 25
		seq, n := uint16(1000), uint32(0)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: n * 1800, Marker: true}, Payload: vp8Frame(n%25 == 0, n)}
			track.WriteRTP(p)
			seq++
			n++
		}
	}()

	var viewers []*client.Room
	for i, role := range []string{protocol.RoleMember, protocol.RoleVisitor, protocol.RoleAgent} {
		c := s.dial(s.token(s.acc, "viewer"+string(rune('a'+i)), role))
		v, err := client.NewRooms(c).Watch(ctx, c, "live", client.RoomOptions{API: api})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if len(v.Info.Participants) != 1 {
			t.Fatalf("a viewer's room lists %+v", v.Info.Participants)
		}
		viewers = append(viewers, v)
	}
	for i, v := range viewers {
		var tr *webrtc.TrackRemote
		select {
		case tr = <-v.Tracks:
		case <-ctx.Done():
			t.Fatalf("viewer %d got no track", i)
		}
		if tr.ID() != "cam" {
			t.Fatalf("viewer %d: track %q", i, tr.ID())
		}
		// 40 packets, counters increasing by one and sequence numbers continuous.
		var lastSeq uint16
		var lastN uint32
		for k := 0; k < 40; k++ {
			tr.SetReadDeadline(time.Now().Add(5 * time.Second))
			p, _, err := tr.ReadRTP()
			if err != nil {
				t.Fatalf("viewer %d: %v after %d packets", i, err, k)
			}
			n := binary.BigEndian.Uint32(p.Payload[len(p.Payload)-4:])
			if k > 0 && (p.SequenceNumber != lastSeq+1 || n != lastN+1) {
				t.Fatalf("viewer %d: packet %d seq %d after %d, frame %d after %d", i, k, p.SequenceNumber, lastSeq, n, lastN)
			}
			lastSeq, lastN = p.SequenceNumber, n
		}
	}
	var ch struct {
		Channels []protocol.Channel `json:"channels"`
	}
	s.want(s.do("GET", "/channels", s.key, nil), 200, "", &ch)
	if len(ch.Channels) != 1 || !ch.Channels[0].Live || ch.Channels[0].Viewers != 3 || ch.Channels[0].Width != 640 || ch.Channels[0].Height != 360 {
		t.Fatalf("channels %+v", ch.Channels)
	}
	for _, v := range viewers {
		if err := v.Leave(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Leave(ctx); err != nil {
		t.Fatal(err)
	}
}
