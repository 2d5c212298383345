package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/cascade"
	"github.com/parley-chat/parley/internal/rooms"
	"github.com/parley-chat/parley/internal/sfu"
	"github.com/parley-chat/parley/protocol"
)

// startRooms starts the SFU on sfu_udp_addr and the rooms service over it,
// and routes room:* and channel:* to it. An empty sfu_udp_addr leaves
// rooms and channels off.
func (a *App) startRooms(iceFor func(auth.Identity) []protocol.ICEServer) error {
	cfg := a.Cfg
	if cfg.SFUUDPAddr == "" {
		return nil
	}
	s, err := sfu.New(sfu.Config{
		UDPAddr:    cfg.SFUUDPAddr,
		PublicIP:   cfg.SFUPublicIP,
		MaxBitrate: cfg.SFUMaxBitrate * 1000,
		Logger:     a.Log.With("component", "sfu"),
	})
	if err != nil {
		return fmt.Errorf("sfu: %w", err)
	}
	a.SFU = s
	a.Recordings = rooms.Recordings{Dir: filepath.Join(cfg.DataDir, "recordings")}
	rec := rooms.SFURecorder{S: s, Recs: a.Recordings, Log: a.Log.With("component", "recording")}
	rc := rooms.Config{
		MaxParticipants: cfg.RoomMaxParticipants,
		ICEServers:      iceFor,
	}
	if a.cluster != nil { // rooms of every node: forwarded to the node that runs them
		rc.Directory, rc.Relay, rc.CheckInterval = a.cluster, a.Relay, cfg.ClusterTTL/3
		// Broadcasts cascade: a node pulls another node's channel once
		// and serves its own viewers; the origin admits each edge.
		rc.Cascade = cascadeEdges{cascade.NewPool(s, "cascade:", cascade.Options{Logger: a.Log.With("component", "cascade")})}
		rc.EdgeAccept = cascade.AcceptFunc(s)
	}
	a.Rooms = rooms.New(rooms.SFUMedia{S: s}, rec, a.Bus, rc, a.Log.With("component", "rooms"))
	a.WS.SetRooms(a.Rooms)
	return nil
}

// cascadeEdges adapts cascade.Pool to rooms.Cascade.
type cascadeEdges struct{ p *cascade.Pool }

func (c cascadeEdges) Edge(ctx context.Context, origin, key string, signal rooms.EdgeSignal) (string, <-chan struct{}, func(), error) {
	return c.p.Edge(ctx, origin, key, cascade.Signal(signal))
}
