package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/internal/rooms"
	"github.com/parley-chat/parley/internal/rooms/roomstest"
	"github.com/parley-chat/parley/protocol"
)

// startNodes starts n whole nodes on one PostgreSQL database and one Redis
// prefix, each with its own SFU; the accounts are made once.
func startNodes(t *testing.T, n int) []*server {
	t.Helper()
	db, prefix := pgtest.Database(t), redistest.Prefix(t)
	var out []*server
	for i := range n {
		out = append(out, startNode(t, func(c *config.Config) {
			c.DatabaseURL, c.RedisURL, c.RedisPrefix = db, redistest.URL(), prefix
			c.NodeID, c.SFUPublicIP, c.ClusterTTL = fmt.Sprintf("node%d", i), "127.0.0.1", 3*time.Second
		}))
	}
	ctx := context.Background()
	acc, key, err := auth.CreateAccount(ctx, out[0].a.Store, "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out {
		s.acc, s.key = acc.ID, key
	}
	return out
}

func roomEvent(t *testing.T, r *client.Room, name string) protocol.RoomEvent {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case env := <-r.Events:
			if env.Event == name {
				var ev protocol.RoomEvent
				json.Unmarshal(env.Data, &ev)
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %s within 10s", name)
		}
	}
}

// Two nodes on one PostgreSQL and one Redis: a room made on node 0 is
// joined from a connection on node 1, and media flows both ways through
// node 0's SFU; both nodes list the rooms of both. Node 0 stops: the
// participant on node 1 is told (moved), joins again through node 1, and
// the room (its id and name) is back on node 1's SFU, where media flows.
func TestRoomAcrossNodes(t *testing.T) {
	ns := startNodes(t, 2)
	a, b := ns[0], ns[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := roomstest.LoopbackAPI(t)
	var rm protocol.Room
	a.want(a.do("POST", "/rooms", a.key, protocol.CreateRoom{Name: "Standup"}), 201, "", &rm)

	alice, bob := a.dial(a.token(a.acc, "alice", protocol.RoleMember)), b.dial(b.token(b.acc, "bob", protocol.RoleMember))
	ta, tb := roomstest.Camera(t, "alice-cam", 1), roomstest.Camera(t, "bob-cam", 1)
	ra, err := client.NewRooms(alice).Join(ctx, alice, rm.ID, client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{ta}})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := client.NewRooms(bob).Join(ctx, bob, rm.ID, client.RoomOptions{API: api, Tracks: []webrtc.TrackLocal{tb}})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	roomstest.Receives(t, ctx, rb, "alice-cam", 10)
	roomstest.Receives(t, ctx, ra, "bob-cam", 10)
	if _, ok := a.a.SFU.Room(rm.ID); !ok {
		t.Fatal("the room is not on node 0's SFU")
	}
	if _, ok := b.a.SFU.Room(rm.ID); ok {
		t.Fatal("the room is on node 1's SFU too")
	}

	var rm2 protocol.Room
	b.want(b.do("POST", "/rooms", b.key, protocol.CreateRoom{Name: "Other"}), 201, "", &rm2)
	for _, s := range ns {
		if l := roomList(s, s.key); len(l) != 2 || l[0].ID != rm.ID || l[1].ID != rm2.ID {
			t.Fatalf("%s lists %+v", s.url, l)
		}
	}

	a.stop()
	if ev := roomEvent(t, rb, protocol.EvRoomClosed); ev.Reason != rooms.ReasonMoved {
		t.Fatalf("room:closed %+v", ev)
	}
	select { // the client joins again by itself
	case <-rb.Rejoined:
	case <-ctx.Done():
		t.Fatal("bob did not join the moved room again")
	}
	var back protocol.Room
	b.want(b.do("GET", "/rooms/"+rm.ID, b.key, nil), 200, "", &back)
	if back.Name != "Standup" || len(back.Participants) != 1 || back.Participants[0].UserID != bob.Connected().User.ID {
		t.Fatalf("back on node 1: %+v", back)
	}
	carol := b.dial(b.token(b.acc, "carol", protocol.RoleMember))
	rc, err := client.NewRooms(carol).Join(ctx, carol, rm.ID, client.RoomOptions{API: api})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	roomstest.Receives(t, ctx, rc, "bob-cam", 10)
	if _, ok := b.a.SFU.Room(rm.ID); !ok {
		t.Fatal("the room is not back on node 1's SFU")
	}
}
