package calls_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/calls"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
	"github.com/parley-chat/parley/protocol"
)

func ask(t *testing.T, s *calls.Service, id auth.Identity, conn, event string, req any) (json.RawMessage, error) {
	t.Helper()
	raw, _ := json.Marshal(req)
	res, err := s.Dispatch(context.Background(), id, conn, event, func(v any) error { return json.Unmarshal(raw, v) })
	if err != nil {
		return nil, err
	}
	out, _ := json.Marshal(res)
	return out, nil
}

// twoNodes makes two calls services (node a on w's chat, node b on a chat
// of its own) on w's store and bus, one directory and a relay each.
func twoNodes(t *testing.T, w *world, cfg calls.Config) (*cluster.MemoryDirectory, *calls.Service, *calls.Service) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := cluster.NewMemoryDirectory()
	ra, rb := relay.New(w.bus, "a", log), relay.New(w.bus, "b", log)
	chatB := chat.New(w.st, w.bus, nil, chat.Config{})
	cfg.Directory, cfg.Relay = dir.For("a"), ra
	nodeA := calls.New(w.chat, w.bus, cfg, log)
	cfg.Directory, cfg.Relay = dir.For("b"), rb
	nodeB := calls.New(chatB, w.bus, cfg, log)
	t.Cleanup(func() { nodeB.Close(); nodeA.Close(); chatB.Close(); rb.Close(); ra.Close() })
	return dir, nodeA, nodeB
}

// A call between two nodes (each its own chat and calls services, on one
// store, bus and directory): alice calls from node a, bob accepts on node
// b, their offer, answer and ICE reach exactly the other's device, bob's
// connection drops on b and he rejoins, and the hang-up on b ends the call
// on a, recorded once. Without the forwarding, bob's accept on b was
// not_in_call.
func TestCallAcrossNodes(t *testing.T) {
	w := newWorld(t, calls.Config{})
	_, nodeA, nodeB := twoNodes(t, w, calls.Config{})

	alice, bob := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember)
	conv := w.direct(alice, bob)
	a1 := w.online(alice, "a1")
	b1 := w.online(bob, "b1") // counted by a's chat: presence across nodes is the chat's own work

	raw, err := ask(t, nodeA, alice, "a1", protocol.EvCallInvite, protocol.CallInvite{ConversationID: conv, Media: "audio"})
	if err != nil {
		t.Fatal(err)
	}
	c := decodeCall(t, raw)
	if c.State != "ringing" {
		t.Fatalf("invite: %+v", c)
	}
	b1.next(t, protocol.EvCallIncoming)
	if _, err := ask(t, nodeB, bob, "b1", protocol.EvCallAccept, protocol.CallRef{CallID: c.ID}); err != nil {
		t.Fatalf("accept on the other node: %v", err)
	}
	a1.next(t, protocol.EvCallAccepted)
	if _, err := ask(t, nodeA, alice, "a1", protocol.EvCallOffer, protocol.CallSignal{CallID: c.ID, Description: json.RawMessage(`{"type":"offer","sdp":"v=0"}`)}); err != nil {
		t.Fatal(err)
	}
	b1.next(t, protocol.EvCallOffer)
	if _, err := ask(t, nodeB, bob, "b1", protocol.EvCallAnswer, protocol.CallSignal{CallID: c.ID, Description: json.RawMessage(`{"type":"answer","sdp":"v=0"}`)}); err != nil {
		t.Fatal(err)
	}
	a1.next(t, protocol.EvCallAnswer)

	// Bob's connection drops on b; a's call hears it; he rejoins from b2.
	nodeB.Disconnected("b1")
	b2 := w.online(bob, "b2")
	var rj protocol.Call
	for i := 0; ; i++ { // the drop reaches a's node asynchronously; rejoin works either way
		raw, err = ask(t, nodeB, bob, "b2", protocol.EvCallRejoin, protocol.CallRef{CallID: c.ID})
		if err == nil || i > 100 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &rj)
	a1.next(t, protocol.EvCallRejoined)
	if _, err := ask(t, nodeB, bob, "b2", protocol.EvCallEnd, protocol.CallRef{CallID: c.ID}); err != nil {
		t.Fatal(err)
	}
	a1.next(t, protocol.EvCallEnded)
	b2.next(t, protocol.EvCallEnded)
	if nodeA.Active() != 0 {
		t.Fatal("the call is still active on its node")
	}
	w.wantEvents(conv, "audio:started", "audio:ended+")
	if _, err := ask(t, nodeB, bob, "b2", protocol.EvCallEnd, protocol.CallRef{CallID: c.ID}); err == nil {
		t.Fatal("an ended call ended again")
	}
}

// The callee's node dies during a call: the call's node treats bob's
// device as disconnected, and without a rejoin the call ends.
func TestCallEndsWhenTheCalleesNodeDies(t *testing.T) {
	w := newWorld(t, calls.Config{})
	dir, nodeA, nodeB := twoNodes(t, w, calls.Config{ReconnectGrace: 10 * time.Millisecond, CheckInterval: time.Hour})
	alice, bob := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember)
	conv := w.direct(alice, bob)
	a1 := w.online(alice, "a1")
	b1 := w.online(bob, "b1")
	raw, err := ask(t, nodeA, alice, "a1", protocol.EvCallInvite, protocol.CallInvite{ConversationID: conv, Media: "audio"})
	if err != nil {
		t.Fatal(err)
	}
	c := decodeCall(t, raw)
	b1.next(t, protocol.EvCallIncoming)
	if _, err := ask(t, nodeB, bob, "b1", protocol.EvCallAccept, protocol.CallRef{CallID: c.ID}); err != nil {
		t.Fatal(err)
	}
	a1.next(t, protocol.EvCallAccepted)
	nodeA.CheckNodes(context.Background())
	if nodeA.Active() != 1 {
		t.Fatal("a live node's device was dropped")
	}
	dir.Kill("b")
	nodeA.CheckNodes(context.Background())
	if e := decodeEnded(t, a1.next(t, protocol.EvCallEnded)); e.Reason != protocol.OutcomeEnded {
		t.Fatalf("ended %+v", e)
	}
}
