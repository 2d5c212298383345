package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/protocol"
)

// nextEvent returns the data of the next event named name on c for which
// match is true, or fails after 40 s (a killed node's users go offline
// once its 15 s TTL has passed and a live node's 5 s sweep has run).
func nextEvent(t *testing.T, c *client.Conn, name string, match func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	timer := time.NewTimer(40 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection closed (code %d) while waiting for %s", c.CloseCode(), name)
			}
			if ev.Event == name && match(ev.Data) {
				return ev.Data
			}
		case <-timer.C:
			t.Fatalf("no %s within 40 s", name)
		}
	}
}

// statusEvent matches a user_status of user with status.
func statusEvent(user, status string) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var p protocol.Presence
		json.Unmarshal(d, &p)
		return p.UserID == user && p.Status == status
	}
}

// TestPresenceAcrossNodes runs two parley processes on one PostgreSQL and
// one Redis. Bob, connected to node B only, is online for Alice on node
// A; connected to both, he goes offline only when his last connection
// closes; his typing on B reaches Alice on A; the per-account connection
// cap counts both nodes' connections; and when node B dies (killed, no
// goodbye) node A announces Bob offline once B's heartbeat has expired.
func TestPresenceAcrossNodes(t *testing.T) {
	t.Setenv("PARLEY_CONNS_PER_ACCOUNT", "4") // read by every node
	c := newCluster(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	ctx := context.Background()
	alice := listen(t, a, c.token("alice"))
	bobTok := c.token("bob")
	bob := listen(t, b, bobTok)
	bobID := bob.Connected().User.ID
	if n := bob.Connected().ConnectedUsers; n != 2 {
		t.Fatalf("connected_users on node B = %d, want 2 (alice on A, bob on B)", n)
	}
	d, err := alice.Create(ctx, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := alice.Presence(ctx, bobID)
	if err != nil || len(ps) != 1 || ps[0].Status != protocol.StatusOnline {
		t.Fatalf("bob on node B, node A says %+v (%v)", ps, err)
	}

	// Typing on B reaches A.
	if err := bob.Request(ctx, protocol.EvTypingSet, protocol.TypingRequest{ConversationID: d.ID, IsTyping: true}, nil); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, alice, protocol.EvTyping, func(data json.RawMessage) bool {
		var ty protocol.Typing
		json.Unmarshal(data, &ty)
		return ty.SenderID == bobID && ty.ConversationID == d.ID && ty.IsTyping
	})

	// The account's cap of 4 counts both nodes: alice (A), bob (B), bob's
	// second device (A), one more on B; a fifth is refused wherever it
	// connects.
	bob2 := listen(t, a, bobTok)
	carol := listen(t, b, c.token("carol"))
	for _, s := range []*server{a, b} {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := client.Dial(dctx, s.wsURL(), bobTok, nil)
		cancel()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.CloseCode != protocol.CloseTooManyConns {
			t.Fatalf("a fifth connection of the account: %v, want close %d", err, protocol.CloseTooManyConns)
		}
	}
	carol.Close()

	// Bob on both nodes: leaving B keeps him online; leaving A too does not.
	bob.Close()
	if ps, err := alice.Presence(ctx, bobID); err != nil || ps[0].Status != protocol.StatusOnline {
		t.Fatalf("bob still on node A, node A says %+v (%v)", ps, err)
	}
	bob2.Close()
	nextEvent(t, alice, protocol.EvUserStatus, statusEvent(bobID, protocol.StatusOffline))

	// Node B dies with bob connected: node A sweeps it and announces him.
	listen(t, b, bobTok)
	nextEvent(t, alice, protocol.EvUserStatus, statusEvent(bobID, protocol.StatusOnline))
	b.cmd.Process.Kill()
	<-b.exited
	nextEvent(t, alice, protocol.EvUserStatus, statusEvent(bobID, protocol.StatusOffline))
	ps, err = alice.Presence(ctx, bobID)
	if err != nil || ps[0].Status != protocol.StatusOffline || ps[0].LastSeen == nil {
		t.Fatalf("node B is dead, node A says %+v (%v)", ps, err)
	}
}
