package chat_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/protocol"
)

// Two nodes (two chat services on one store and one bus): a member who
// leaves through one can no longer write through the other, whose
// membership cache had them as a member; joining again works on both.
func TestMembershipChangesReachEveryNode(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, chat.Config{})
	blobs, err := media.NewStore(t.TempDir(), media.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	other := chat.New(w.st, w.bus, blobs, chat.Config{})
	t.Cleanup(other.Close)
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	bob := w.user(w.acc, "bob", protocol.RoleMember)
	cv, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "g", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(svc *chat.Service, text string) error {
		_, err := svc.Send(ctx, bob, protocol.SendRequest{ConversationID: cv.ID, Text: text})
		return err
	}
	if err := send(other, "hello from the other node"); err != nil { // caches bob as a member there
		t.Fatal(err)
	}
	if err := w.svc.Leave(ctx, bob, cv.ID); err != nil {
		t.Fatal(err)
	}
	w.svc.Flush()
	if err := send(other, "after leaving"); !apperr.Is(err, apperr.CodeNotMember) {
		t.Fatalf("sending through the other node after leaving: %v, want not_member", err)
	}
	if _, err := w.svc.Join(ctx, bob, cv.ID); err != nil {
		t.Fatal(err)
	}
	w.svc.Flush()
	if err := send(other, "back"); err != nil {
		t.Fatalf("sending through the other node after joining again: %v", err)
	}
}
