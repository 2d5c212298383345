package rooms

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/cluster/rediscluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/protocol"
)

// What forwarding costs a room request: room:subscribe (the SFU part is a
// fake that answers at once) from a connection on the room's node, and
// from one on another node (the relay over the Redis bus, both ways), two
// nodes each with its own Redis clients, bus and directory node.
func BenchmarkRoomRequest(b *testing.B) {
	ctx := context.Background()
	prefix := redistest.Prefix(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var svc [2]*Service
	for i, node := range []string{"a", "b"} {
		bs, err := redisbus.New(ctx, redistest.Client(b), redisbus.Config{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bs.Close() })
		dir, err := rediscluster.New(ctx, redistest.Client(b), rediscluster.Config{NodeID: node, Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { dir.Close() })
		r := relay.New(bs, node, log)
		b.Cleanup(r.Close)
		svc[i] = New(newFake(), nil, bs, Config{Directory: dir, Relay: r}, log)
		b.Cleanup(svc[i].Shutdown)
	}
	alice, bob := who("usr_alice", protocol.RoleMember), who("usr_bob", protocol.RoleAgent)
	rm, err := svc[0].Create(alice, protocol.CreateRoom{})
	if err != nil {
		b.Fatal(err)
	}
	join, _ := json.Marshal(protocol.RoomJoin{Room: rm.ID})
	if _, err := svc[0].Dispatch(ctx, alice, "con_a", protocol.EvRoomJoin, relay.Decoder(join)); err != nil {
		b.Fatal(err)
	}
	if _, err := svc[1].Dispatch(ctx, bob, "con_b", protocol.EvRoomJoin, relay.Decoder(join)); err != nil {
		b.Fatal(err)
	}
	sub, _ := json.Marshal(protocol.RoomSubscribe{Room: rm.ID, Track: "TR_1", Width: 640, Height: 360})
	for _, bc := range []struct {
		name string
		s    *Service
		conn string
	}{{"local", svc[0], "con_a"}, {"forwarded", svc[1], "con_b"}} {
		id := alice
		if bc.conn == "con_b" {
			id = bob
		}
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.s.Dispatch(ctx, id, bc.conn, protocol.EvRoomSubscribe, relay.Decoder(sub)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
