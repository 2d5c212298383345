package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

// A conversation longer than a page opens at its newest page (GET without a
// cursor, docs/protocol.md), and paging back with before reaches seq 1 with
// no gap or repeat. internal/transport/ws checks chat:history the same way.
func TestHistoryWithoutCursorIsTheNewestPage(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	olivia := e.user(e.acc, "olivia", protocol.RoleOwner)
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "long", Members: []string{"olivia"}}, 201, &g)
	id, err := e.auth.Token(context.Background(), mia.tok)
	if err != nil {
		t.Fatal(err)
	}
	const n = 130
	for i := 1; i <= n; i++ {
		if _, err := e.chat.Send(context.Background(), id, protocol.SendRequest{ConversationID: g.ID, Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	base := "/conversations/" + g.ID + "/messages"
	page := func(query string) protocol.HistoryReply {
		t.Helper()
		var h protocol.HistoryReply
		olivia.mustJSON("GET", base+query, nil, 200, &h)
		return h
	}
	checkPage(t, "no cursor", page(""), 81, 130, true)
	checkPage(t, "no cursor, limit 100", page("?limit=100"), 31, 130, true)
	checkPage(t, "before=81", page("?before=81"), 31, 80, true)
	checkPage(t, "before=31", page("?before=31"), 1, 30, false)
	checkPage(t, "after=120", page("?after=120"), 121, 130, false)
	checkPage(t, "after=10&limit=5", page("?after=10&limit=5"), 11, 15, true)
	checkPage(t, "after=0: the first page", page("?after=0"), 1, 50, true)
	checkPage(t, "after=0&before=20", page("?after=0&before=20"), 1, 19, false)
	checkPage(t, "first page by before=limit+1", page("?before=51"), 1, 50, false)

	// Paging back from the newest page reaches seq 1 with every seq once.
	h := page("?limit=17")
	got := seqsOf(h)
	for h.HasMore {
		h = page(fmt.Sprintf("?limit=17&before=%d", h.Messages[0].Seq))
		got = append(seqsOf(h), got...)
	}
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("paging back: seqs %v", got)
		}
	}
	if len(got) != n {
		t.Fatalf("paging back: %d messages, want %d", len(got), n)
	}
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
