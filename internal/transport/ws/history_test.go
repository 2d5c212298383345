package ws_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// chat:history without a cursor answers the newest page of a conversation
// longer than a page (docs/protocol.md), the same pages as the REST API
// (internal/transport/api's TestHistoryWithoutCursorIsTheNewestPage), and
// paging back with before reaches seq 1 with no gap or repeat.
func TestHistoryWithoutCursorIsTheNewestPage(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	alice, bob := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "long", "bob")
	id, err := s.auth.Token(context.Background(), s.token("alice"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 130
	for i := 1; i <= n; i++ {
		if _, err := s.chat.Send(context.Background(), id, protocol.SendRequest{ConversationID: cv.ID, Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	page := func(r protocol.HistoryRequest) protocol.HistoryReply {
		t.Helper()
		r.ConversationID = cv.ID
		h, err := bob.History(ctxT(t), r)
		if err != nil {
			t.Fatalf("history %+v: %v", r, err)
		}
		return h
	}
	checkPage(t, "no cursor", page(protocol.HistoryRequest{}), 81, 130, true)
	checkPage(t, "no cursor, limit 100", page(protocol.HistoryRequest{Limit: 100}), 31, 130, true)
	checkPage(t, "before 81", page(protocol.HistoryRequest{Before: 81}), 31, 80, true)
	checkPage(t, "before 31", page(protocol.HistoryRequest{Before: 31}), 1, 30, false)
	after := func(seq int64) *int64 { return &seq }
	checkPage(t, "after 120", page(protocol.HistoryRequest{After: after(120)}), 121, 130, false)
	checkPage(t, "after 10 limit 5", page(protocol.HistoryRequest{After: after(10), Limit: 5}), 11, 15, true)
	checkPage(t, "after 0: the first page", page(protocol.HistoryRequest{After: after(0)}), 1, 50, true)
	checkPage(t, "after 0 before 20", page(protocol.HistoryRequest{After: after(0), Before: 20}), 1, 19, false)
	checkPage(t, "after 100 before 110 limit 5", page(protocol.HistoryRequest{After: after(100), Before: 110, Limit: 5}), 101, 105, true)
	checkPage(t, "first page by before limit+1", page(protocol.HistoryRequest{Before: 51}), 1, 50, false)

	h := page(protocol.HistoryRequest{Limit: 17})
	var got []int64
	for {
		got = append(seqsOf(h), got...)
		if !h.HasMore {
			break
		}
		h = page(protocol.HistoryRequest{Limit: 17, Before: h.Messages[0].Seq})
	}
	for i, q := range got {
		if q != int64(i+1) {
			t.Fatalf("paging back: seqs %v", got)
		}
	}
	if len(got) != n {
		t.Fatalf("paging back: %d messages, want %d", len(got), n)
	}
	// alice is a member too, and gets the same newest page.
	ha, err := alice.History(ctxT(t), protocol.HistoryRequest{ConversationID: cv.ID})
	if err != nil {
		t.Fatal(err)
	}
	checkPage(t, "alice, no cursor", ha, 81, 130, true)
}

func checkPage(t *testing.T, name string, h protocol.HistoryReply, first, last int64, more bool) {
	t.Helper()
	s := seqsOf(h)
	if len(s) != int(last-first+1) || h.HasMore != more {
		t.Fatalf("%s: seqs %v has_more %v, want %d..%d has_more %v", name, s, h.HasMore, first, last, more)
	}
	for i, q := range s {
		if q != first+int64(i) || h.Messages[i].Text != fmt.Sprint(q) {
			t.Fatalf("%s: seqs %v, want %d..%d in order", name, s, first, last)
		}
	}
}

func seqsOf(h protocol.HistoryReply) []int64 {
	out := make([]int64, len(h.Messages))
	for i, m := range h.Messages {
		out[i] = m.Seq
	}
	return out
}
