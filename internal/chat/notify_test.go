package chat_test

import (
	"context"
	"sync"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// OnVisitorMessage hears exactly the new messages visitors send to their
// inbox: not the agents' answers, not resends, not other conversations.
func TestOnVisitorMessage(t *testing.T) {
	var mu sync.Mutex
	var heard []string
	w := newWorld(t, chat.Config{OnVisitorMessage: func(acc, conv, name string, m protocol.Message) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, acc+"|"+conv+"|"+name+"|"+m.Text)
	}})
	ctx := context.Background()
	v := w.user(w.acc, "vic", protocol.RoleVisitor)
	agent := w.user(w.acc, "ann", protocol.RoleAgent)
	in, err := w.svc.OpenInbox(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Send(ctx, v, protocol.SendRequest{ConversationID: in.ID, ClientID: "c1", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Send(ctx, v, protocol.SendRequest{ConversationID: in.ID, ClientID: "c1", Text: "hello"}); err != nil {
		t.Fatal(err) // a resend: the same message, no second notice
	}
	if _, err := w.svc.Send(ctx, agent, protocol.SendRequest{ConversationID: in.ID, Text: "hi, how can I help?"}); err != nil {
		t.Fatal(err)
	}
	m1 := w.user(w.acc, "m1", protocol.RoleMember)
	w.user(w.acc, "m2", protocol.RoleMember)
	g, err := w.svc.CreateConversation(ctx, m1, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "team", Members: []string{"m2"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Send(ctx, m1, protocol.SendRequest{ConversationID: g.ID, Text: "internal"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := w.acc + "|" + in.ID + "|" + v.DisplayName + "|hello"
	if len(heard) != 1 || heard[0] != want {
		t.Fatalf("heard %q, want [%q]", heard, want)
	}
}
