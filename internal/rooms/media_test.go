package rooms_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/internal/rooms/roomstest"
	"github.com/parley-chat/parley/protocol"
)

// Over the whole server, as Go clients (package client's Room): a
// broadcaster's VP8 reaches three viewers of its channel, each packet once
// and in order with continuous sequence numbers; a viewer's room lists the
// broadcaster only; REST lists the channel live with its resolution.
func TestMediaThroughTheServer(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.SFUPublicIP = "127.0.0.1" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := roomstest.LoopbackAPI(t)

	track := roomstest.Camera(t, "cam", 1000) // 50 frames a second, a keyframe every 25
	pubConn := s.dial(s.token(s.acc, "studio", protocol.RoleMember))
	pubRooms := client.NewRooms(pubConn)
	pub, err := pubRooms.Publish(ctx, pubConn, "live", client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{track}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
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
