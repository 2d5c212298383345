package chat_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// BenchmarkListConversations lists a page of 50 groups of 10 members, each
// with a message and read positions: the members and reads of the whole
// page come from one batch (two queries), not a query per conversation.
func BenchmarkListConversations(b *testing.B) {
	w := newWorld(b, chat.Config{})
	ctx := context.Background()
	me := w.user(w.acc, "me", protocol.RoleMember)
	var names []string
	for i := range 9 {
		n := fmt.Sprintf("u%d", i)
		names = append(names, n)
		w.user(w.acc, n, protocol.RoleMember)
	}
	for i := range 50 {
		cv, err := w.svc.CreateConversation(ctx, me, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: fmt.Sprint("g", i), Members: names})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.svc.Send(ctx, me, protocol.SendRequest{ConversationID: cv.ID, Text: "hi"}); err != nil {
			b.Fatal(err)
		}
		if _, err := w.svc.MarkRead(ctx, w.ids[w.acc+"/u0"], protocol.ReadRequest{ConversationID: cv.ID, Seq: 1}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		list, err := w.svc.ListConversations(ctx, me, time.Time{}, 50)
		if err != nil || len(list) != 50 {
			b.Fatalf("%d conversations, %v", len(list), err)
		}
	}
}
