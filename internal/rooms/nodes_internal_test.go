package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
	"github.com/parley-chat/parley/protocol"
)

// twoNodes is two rooms services, each on its own (fake) SFU, sharing one
// bus and one directory as two nodes share Redis.
type twoNodes struct {
	dir    *cluster.MemoryDirectory
	a, b   *Service
	ma, mb *fakeMedia
	ra, rb *relay.Relay
	in     map[string]*inbox
}

func newTwoNodes(t *testing.T) *twoNodes { return newTwoNodesWith(t, nil) }

// newTwoNodesWith lets mod change each node's Config.
func newTwoNodesWith(t *testing.T, mod func(node string, c *Config)) *twoNodes {
	bs := local.New()
	t.Cleanup(func() { bs.Close() })
	n := &twoNodes{dir: cluster.NewMemoryDirectory(), ma: newFake(), mb: newFake(), in: map[string]*inbox{}}
	for _, u := range []string{"usr_alice", "usr_bob", "usr_carol", "usr_vic"} {
		in := &inbox{}
		n.in[u] = in
		bs.Subscribe(chat.UserTopic(u), func(_ string, ev bus.Event) {
			in.mu.Lock()
			in.evs = append(in.evs, ev)
			in.mu.Unlock()
		})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n.ra, n.rb = relay.New(bs, "a", log), relay.New(bs, "b", log)
	cfg := func(node string, r *relay.Relay) Config {
		c := Config{Directory: n.dir.For(node), Relay: r, CheckInterval: time.Hour}
		if mod != nil {
			mod(node, &c)
		}
		return c
	}
	n.a = New(n.ma, nil, bs, cfg("a", n.ra), log)
	n.b = New(n.mb, nil, bs, cfg("b", n.rb), log)
	t.Cleanup(func() { n.a.Shutdown(); n.b.Shutdown() })
	return n
}

func ask(t *testing.T, s *Service, id auth.Identity, conn, event string, req any) (json.RawMessage, error) {
	t.Helper()
	raw, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := s.Dispatch(ctx, id, conn, event, relay.Decoder(raw))
	if err != nil {
		return nil, err
	}
	out, _ := json.Marshal(res)
	return out, nil
}

func joined(t *testing.T, s *Service, id auth.Identity, conn, event string, req any) protocol.RoomJoined {
	t.Helper()
	raw, err := ask(t, s, id, conn, event, req)
	if err != nil {
		t.Fatal(err)
	}
	var j protocol.RoomJoined
	if err := json.Unmarshal(raw, &j); err != nil || j.ParticipantID == "" {
		t.Fatalf("joined %s: %v", raw, err)
	}
	return j
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 5s", what)
}

func (f *fakeMedia) count(room string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rooms[room])
}

func (in *inbox) has(device, name string) bool {
	for _, n := range in.names(device) {
		if n == name {
			return true
		}
	}
	return false
}

// A room made on node a is joined from a connection on node b: the join,
// its negotiation and its leaving run on a's SFU; b lists it; the answer
// reaches b's connection through the bus.
func TestRoomJoinedFromAnotherNode(t *testing.T) {
	n := newTwoNodes(t)
	alice, bob := who("usr_alice", protocol.RoleMember), who("usr_bob", protocol.RoleAgent)
	rm, err := n.a.Create(alice, protocol.CreateRoom{Name: "Standup", Invite: []string{"usr_vic"}})
	if err != nil {
		t.Fatal(err)
	}
	joined(t, n.a, alice, "con_a", protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true})
	jb := joined(t, n.b, bob, "con_b", protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true})
	if jb.Room.ID != rm.ID || len(jb.Room.Participants) != 2 {
		t.Fatalf("joined through b: %+v", jb.Room)
	}
	if n.ma.count(rm.ID) != 2 || n.mb.count(rm.ID) != 0 {
		t.Fatalf("participants on a's SFU %d, on b's %d: want 2 and 0", n.ma.count(rm.ID), n.mb.count(rm.ID))
	}
	if _, err := ask(t, n.b, bob, "con_b", protocol.EvRoomSignal, protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer", SDP: "v=0"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the answer reaches bob's connection", func() bool { return n.in["usr_bob"].has("con_b", protocol.EvRoomSignal) })
	if !n.in["usr_alice"].has("con_a", protocol.EvRoomParticipantJoined) {
		t.Fatal("alice did not hear bob join")
	}
	// Both nodes list it; a room of b's is listed on a.
	rb, err := n.b.Create(bob, protocol.CreateRoom{Name: "On b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Service{n.a, n.b} {
		if l := s.List(alice); len(l) != 2 || l[0].ID != rm.ID || l[1].ID != rb.ID || l[0].Name != "Standup" {
			t.Fatalf("list: %+v", l)
		}
	}
	if g, err := n.b.Get(alice, rm.ID); err != nil || len(g.Participants) != 2 {
		t.Fatalf("get through b: %+v %v", g, err)
	}
	// Bob's connection closes on b: a's room hears it.
	n.b.Disconnected("con_b")
	eventually(t, "bob leaves a's SFU", func() bool { return n.ma.count(rm.ID) == 1 })
	_, err = ask(t, n.b, bob, "con_b", protocol.EvRoomSignal, protocol.RoomSignal{Room: rm.ID, PC: "pub", Kind: "offer", SDP: "v=0"})
	code(t, err, CodeNotInRoom)
	// Closing through b closes it on a.
	if err := n.b.Close(alice, rm.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := n.a.Get(alice, rm.ID); err == nil {
		t.Fatal("closed through b, still there on a")
	}
}

// Node a dies: bob, in its room through b, is told to join again; joining
// again brings the room back on b's SFU, with its name and invitees.
func TestRoomComesBackWhenItsNodeDies(t *testing.T) {
	n := newTwoNodes(t)
	alice, bob := who("usr_alice", protocol.RoleMember), who("usr_bob", protocol.RoleAgent)
	rm, _ := n.a.Create(alice, protocol.CreateRoom{Name: "Standup", Invite: []string{"usr_vic"}})
	joined(t, n.b, bob, "con_b", protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true})
	n.dir.Kill("a")
	n.ra.Close() // it answers no more
	n.b.CheckNodes(context.Background())
	raw := n.in["usr_bob"].last("con_b", protocol.EvRoomClosed)
	var ev protocol.RoomEvent
	if json.Unmarshal(raw, &ev) != nil || ev.Room != rm.ID || ev.Reason != ReasonMoved {
		t.Fatalf("room:closed to bob: %s", raw)
	}
	j := joined(t, n.b, bob, "con_b", protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true})
	if j.Room.ID != rm.ID || j.Room.Name != "Standup" || n.mb.count(rm.ID) != 1 {
		t.Fatalf("back on b: %+v (b's SFU has %d)", j.Room, n.mb.count(rm.ID))
	}
	if g, err := n.b.Get(alice, rm.ID); err != nil || len(g.Invited) != 1 {
		t.Fatalf("invitees after the move: %+v %v", g, err)
	}
}

// Node b dies: its connections' participants leave a's rooms.
func TestParticipantsOfADeadNodeLeave(t *testing.T) {
	n := newTwoNodes(t)
	alice, vic := who("usr_alice", protocol.RoleMember), who("usr_vic", protocol.RoleVisitor)
	joined(t, n.a, alice, "con_a", protocol.EvChannelPublish, protocol.ChannelRef{Channel: "live"})
	w := joined(t, n.b, vic, "con_v", protocol.EvChannelSubscribe, protocol.ChannelRef{Channel: "live"})
	if n.ma.count(w.Room.ID) != 2 || n.mb.count(w.Room.ID) != 0 {
		t.Fatal("the viewer on b is not on the channel's SFU (a)")
	}
	if ch := n.b.Channels(vic); len(ch) != 1 || ch[0].Name != "live" {
		t.Fatalf("channels on b: %+v", ch)
	}
	n.dir.Kill("b")
	n.a.CheckNodes(context.Background())
	if n.ma.count(w.Room.ID) != 1 {
		t.Fatal("the dead node's viewer is still in the channel")
	}
}

// An owner that does not answer gives node_unavailable.
func TestUnansweredOwner(t *testing.T) {
	n := newTwoNodes(t)
	alice := who("usr_alice", protocol.RoleMember)
	rm, _ := n.a.Create(alice, protocol.CreateRoom{})
	n.ra.Close()
	raw, _ := json.Marshal(protocol.RoomJoin{Room: rm.ID})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := n.b.Dispatch(ctx, who("usr_bob", protocol.RoleAgent), "con_b", protocol.EvRoomJoin, relay.Decoder(raw))
	code(t, err, relay.CodeNodeUnavailable)
}

// Node a stalls, b takes its room over; when a is back, it closes its own
// copy (moved), so the room runs on one node only.
func TestStalledOwnerGivesUpItsRoom(t *testing.T) {
	n := newTwoNodes(t)
	alice, bob := who("usr_alice", protocol.RoleMember), who("usr_bob", protocol.RoleAgent)
	rm, _ := n.a.Create(alice, protocol.CreateRoom{Name: "Standup"})
	joined(t, n.a, alice, "con_a", protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true})
	n.dir.Kill("a")
	joined(t, n.b, bob, "con_b", protocol.EvRoomJoin, protocol.RoomJoin{Room: rm.ID, Publish: true})
	if n.mb.count(rm.ID) != 1 {
		t.Fatal("b did not take the room over")
	}
	n.a.CheckNodes(context.Background())
	if _, err := n.a.getHere(alice, rm.ID); err == nil {
		t.Fatal("a still runs the room b took over")
	}
	raw := n.in["usr_alice"].last("con_a", protocol.EvRoomClosed)
	var ev protocol.RoomEvent
	if json.Unmarshal(raw, &ev) != nil || ev.Reason != ReasonMoved {
		t.Fatalf("alice heard %s", raw)
	}
	if e, alive, _, _ := n.dir.For("b").Lookup(context.Background(), rm.ID); !alive || e.Node != "b" {
		t.Fatalf("a's close changed the directory: %+v", e)
	}
}

// fakeCascade makes edge rooms as the cascade would: it sends an offer
// through signal and names a local room.
type fakeCascade struct {
	mu       sync.Mutex
	edges    []string // origin/key of each Edge
	answers  []string
	released int
	ended    []chan struct{} // of each Edge: close one to end that pull
}

func (c *fakeCascade) Edge(ctx context.Context, origin, key string, signal EdgeSignal) (string, <-chan struct{}, func(), error) {
	answer, err := signal(ctx, "offer-from-b")
	if err != nil {
		return "", nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.edges = append(c.edges, origin+"/"+key)
	c.answers = append(c.answers, answer)
	ended := make(chan struct{})
	c.ended = append(c.ended, ended)
	return fmt.Sprint("edge_", len(c.edges)), ended, func() { c.mu.Lock(); c.released++; c.mu.Unlock() }, nil
}

// With a cascade, viewers on node b of a channel of node a watch one local
// edge room on b's SFU, pulled once from a (a's EdgeAccept answers the
// edge's offer for the channel's room); the edge room ends with its last
// viewer, and a's subscription ends with the channel.
func TestViewersOfAnotherNodesChannelWatchAnEdge(t *testing.T) {
	casc := &fakeCascade{}
	var accepted []string
	stops := 0
	var mu sync.Mutex
	n := newTwoNodesWith(t, func(node string, c *Config) {
		if node == "b" {
			c.Cascade = casc
			return
		}
		c.EdgeAccept = func(_ context.Context, room, offer string) (string, func(), error) {
			mu.Lock()
			defer mu.Unlock()
			accepted = append(accepted, room+":"+offer)
			return "answer-from-a", func() { mu.Lock(); stops++; mu.Unlock() }, nil
		}
	})
	alice, vic, carol := who("usr_alice", protocol.RoleMember), who("usr_vic", protocol.RoleVisitor), who("usr_carol", protocol.RoleOwner)
	pub := joined(t, n.a, alice, "con_a", protocol.EvChannelPublish, protocol.ChannelRef{Channel: "live"})
	w1 := joined(t, n.b, vic, "con_v", protocol.EvChannelSubscribe, protocol.ChannelRef{Channel: "live"})
	w2 := joined(t, n.b, carol, "con_c", protocol.EvChannelSubscribe, protocol.ChannelRef{Channel: "live"})
	if w1.Room.ID != "edge_1" || w2.Room.ID != "edge_1" || w1.Room.Channel != "live" {
		t.Fatalf("viewers on b watch %q and %q, want the edge room edge_1", w1.Room.ID, w2.Room.ID)
	}
	if n.mb.count("edge_1") != 2 || n.ma.count(pub.Room.ID) != 1 {
		t.Fatalf("b's edge room has %d viewers, a's channel %d participants: want 2 and 1 (the broadcaster)", n.mb.count("edge_1"), n.ma.count(pub.Room.ID))
	}
	casc.mu.Lock()
	if len(casc.edges) != 1 || casc.edges[0] != "a/ch:acc_a/live" || casc.answers[0] != "answer-from-a" {
		t.Fatalf("edges %v, answers %v", casc.edges, casc.answers)
	}
	casc.mu.Unlock()
	mu.Lock()
	if len(accepted) != 1 || accepted[0] != pub.Room.ID+":offer-from-b" {
		t.Fatalf("a accepted %v", accepted)
	}
	mu.Unlock()
	if _, err := ask(t, n.b, vic, "con_v", protocol.EvRoomSignal, protocol.RoomSignal{Room: "edge_1", PC: "sub", Kind: "answer", SDP: "v=0"}); err != nil {
		t.Fatalf("a viewer's signal goes to b's SFU: %v", err)
	}
	if _, err := ask(t, n.b, vic, "con_v", protocol.EvChannelLeave, protocol.ChannelRef{Channel: "live"}); err != nil {
		t.Fatal(err)
	}
	n.b.Disconnected("con_c")
	casc.mu.Lock()
	if casc.released != 1 {
		t.Fatalf("the edge room was released %d times after its last viewer left", casc.released)
	}
	casc.mu.Unlock()
	if _, err := ask(t, n.a, alice, "con_a", protocol.EvChannelLeave, protocol.ChannelRef{Channel: "live"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if stops != 1 {
		t.Fatalf("the edge's subscription on a stopped %d times when the channel closed", stops)
	}
}

// An edge's pull that ends by itself (the origin closed the channel, whose
// only viewers were on b, or stopped answering) closes b's edge room: its
// viewers hear moved and watch again, through a new pull.
func TestEdgeRoomClosesWhenItsPullEnds(t *testing.T) {
	casc := &fakeCascade{}
	n := newTwoNodesWith(t, func(node string, c *Config) {
		if node == "b" {
			c.Cascade = casc
			return
		}
		c.EdgeAccept = func(context.Context, string, string) (string, func(), error) { return "answer", func() {}, nil }
	})
	alice, vic := who("usr_alice", protocol.RoleMember), who("usr_vic", protocol.RoleVisitor)
	joined(t, n.a, alice, "con_a", protocol.EvChannelPublish, protocol.ChannelRef{Channel: "live"})
	w := joined(t, n.b, vic, "con_v", protocol.EvChannelSubscribe, protocol.ChannelRef{Channel: "live"})
	casc.mu.Lock()
	close(casc.ended[0])
	casc.mu.Unlock()
	eventually(t, "the viewer hears moved", func() bool { return n.in["usr_vic"].has("con_v", protocol.EvRoomClosed) })
	var ev protocol.RoomEvent
	if json.Unmarshal(n.in["usr_vic"].last("con_v", protocol.EvRoomClosed), &ev) != nil || ev.Reason != ReasonMoved || ev.Room != w.Room.ID {
		t.Fatalf("the viewer heard %+v", ev)
	}
	eventually(t, "the edge room is released", func() bool { casc.mu.Lock(); defer casc.mu.Unlock(); return casc.released == 1 })
	if w2 := joined(t, n.b, vic, "con_v", protocol.EvChannelSubscribe, protocol.ChannelRef{Channel: "live"}); w2.Room.ID != "edge_2" {
		t.Fatalf("watching again gives %q, want a new pull's edge_2", w2.Room.ID)
	}
}
