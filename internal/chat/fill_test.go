package chat_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/protocol"
)

// MessageEvents reads back, from the store, exactly the chat:message events
// Send published (same bytes), for a range of seqs, however wide.
func TestMessageEventsAreThePublishedOnes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, chat.Config{})
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	cv, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "g"})
	if err != nil {
		t.Fatal(err)
	}
	rec := w.listen(chat.ConversationTopic(cv.ID))
	for i := range 6 {
		if _, err := w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: cv.ID, Text: fmt.Sprint("m", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	published := rec.named(protocol.EvMessage)
	for _, c := range []struct {
		after, before int64
		limit         int
		want          []int64
	}{
		{0, 7, 10, []int64{1, 2, 3, 4, 5, 6}},
		{0, 100, 2, []int64{1, 2}}, // the oldest of a wide range, not the newest
		{2, 5, 10, []int64{3, 4}},
		{3, 4, 10, nil},
	} {
		evs, err := w.svc.MessageEvents(ctx, w.acc, cv.ID, c.after, c.before, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != len(c.want) {
			t.Fatalf("(%d, %d) limit %d: %d events, want %v", c.after, c.before, c.limit, len(evs), c.want)
		}
		for i, ev := range evs {
			p := published[c.want[i]-1]
			if ev.Seq != c.want[i] || ev.Name != protocol.EvMessage || ev.ConversationID != cv.ID || !bytes.Equal(ev.Data, p.Data) {
				t.Fatalf("(%d, %d): event %d is %s seq %d %s, want seq %d %s", c.after, c.before, i, ev.Name, ev.Seq, ev.Data, c.want[i], p.Data)
			}
		}
	}
}
