package ws_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster/rediscluster"
	"github.com/parley-chat/parley/internal/redistest"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// A connection the presence registry cannot count (its Redis does not
// answer) is refused like one over a full cap, 4029: accepted, its user
// would look offline and get Web Push while connected.
func TestPresenceUnavailableRefusesConnection(t *testing.T) {
	client0 := redistest.Client(t)
	n, err := rediscluster.New(context.Background(), client0, rediscluster.Config{NodeID: "a", Prefix: redistest.Prefix(t), Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	s := newStack(t, ws.Config{}, chat.Config{Presence: n})
	s.dial("alice", nil).Close() // counted while Redis answers
	client0.Close()
	_, err = client.Dial(ctxT(t), s.url, s.token("bob"), tapped(t, nil))
	if e := asError(t, err, apperr.CodeTooManyConns); e.CloseCode != protocol.CloseTooManyConns {
		t.Fatalf("presence unavailable: close code %d, want %d", e.CloseCode, protocol.CloseTooManyConns)
	}
}

// A message's fan-out is priced by its conversation's members, wherever
// (and whether) they are connected: into a group of 150 members with only
// the sender connected to this node, a send costs about 1 + 150/100 = 2.5,
// not the 1.01 this node's one connection would make it.
func TestFanOutPricedByMembers(t *testing.T) {
	s := newStack(t, ws.Config{MessagesPerSecond: slow, MessagesBurst: 10}, chat.Config{})
	alice := s.dial("alice", nil)
	names := make([]string, 149)
	for i := range names {
		names[i] = fmt.Sprintf("m%03d", i)
		if _, err := s.store.UpsertUser(context.Background(), store.User{ID: "usr_" + names[i], AccountID: s.acct.ID,
			Name: names[i], Role: protocol.RoleMember}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := s.auth.Token(context.Background(), s.token("alice"))
	if err != nil {
		t.Fatal(err)
	}
	cv, err := s.chat.CreateConversation(context.Background(), id, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "big", Members: names})
	if err != nil {
		t.Fatal(err)
	}
	passed := countPassed(t, 10, true, func(int) error {
		_, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "x"})
		return err
	})
	if passed > 4 {
		t.Fatalf("%d sends into a 150-member group passed a budget of 10 units, want at most 4", passed)
	}
}
