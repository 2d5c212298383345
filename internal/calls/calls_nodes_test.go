package calls_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/internal/calls"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster/rediscluster"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/protocol"
)

// A callee connected only to another node is online for the caller's
// node (one rediscluster.Node each, on one Redis prefix) and is rung over
// the bus; once they have left that node too, the call is missed.
func TestCalleeOnAnotherNodeIsRung(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	nodeOf := func(id string) *rediscluster.Node {
		n, err := rediscluster.New(ctx, redistest.Client(t), rediscluster.Config{NodeID: id, Prefix: prefix, Interval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	w := newWorldOn(t, calls.Config{}, chat.Config{Presence: nodeOf("a")})
	chatB := chat.New(w.st, w.bus, nil, chat.Config{Presence: nodeOf("b")})
	t.Cleanup(chatB.Close)
	alice, bob := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember)
	conv := w.direct(alice, bob)
	w.online(alice, "a1")
	if err := chatB.Connected(ctx, bob, "b1"); err != nil {
		t.Fatal(err)
	}
	b1 := w.device(bob, "b1")
	c, err := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "audio"})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "ringing" {
		t.Fatalf("bob is connected to node b, the call is %+v", c)
	}
	if in := decodeCall(t, b1.next(t, protocol.EvCallIncoming)); in.ID != c.ID {
		t.Fatalf("bob was rung for %s, want %s", in.ID, c.ID)
	}
	if err := w.calls.Hangup(alice, "a1", c.ID); err != nil { // cancelled
		t.Fatal(err)
	}
	chatB.Disconnected(ctx, bob, "b1")
	c, err = w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "audio"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Reason != protocol.OutcomeMissed {
		t.Fatalf("bob is connected nowhere, the call is %+v", c)
	}
}
