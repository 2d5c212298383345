package ws_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// A budget that does not refill within a test: what passes is the burst.
const slow = 1e-6

// countPassed runs req up to n times and counts those not refused with
// rate_limited, stopping at the first refusal when stopAtRefusal (a
// refused connection is not read for up to a second). A refusal must carry
// a retry hint.
func countPassed(t *testing.T, n int, stopAtRefusal bool, req func(i int) error) int {
	t.Helper()
	passed := 0
	for i := range n {
		err := req(i)
		e := asErrorAny(err)
		if err == nil || e == nil || e.Code != apperr.CodeRateLimited {
			passed++ // done, or refused for another reason (not a member, no call): it still ran
			continue
		}
		if e.RetryAfter <= 0 {
			t.Fatalf("rate_limited without retry_after_ms: %+v", e)
		}
		if stopAtRefusal {
			break
		}
	}
	return passed
}

func asErrorAny(err error) *client.Error {
	if e, ok := err.(*client.Error); ok {
		return e
	}
	return nil
}

// One user's connections share one budget: 20 connections cannot send 20
// times what one can.
func TestBudgetIsPerUserNotPerConnection(t *testing.T) {
	s := newStack(t, ws.Config{MessagesPerSecond: slow, MessagesBurst: 10}, chat.Config{})
	alice := s.dial("alice", nil)
	s.dial("bob", nil)
	cv := s.group(alice, "g", "bob") // costs 5 of alice's 10
	conns := []*client.Conn{alice}
	for range 19 {
		conns = append(conns, s.dial("alice", nil))
	}
	passed := countPassed(t, len(conns), false, func(i int) error { // one send on each connection
		_, err := conns[i].Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "x"})
		return err
	})
	// 5 units left; a send into a group of 2 members costs 1 + 2/100 ×
	// (1 + size/2048) ≈ 1.02 however many connections they have: four pass.
	if passed < 3 || passed > 5 {
		t.Fatalf("%d sends over 20 connections passed a budget of 5 units", passed)
	}
	bob := s.dial("bob", nil)
	if _, err := bob.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "bob has his own"}); err != nil {
		t.Fatalf("another user was limited: %v", err)
	}
}

// Every kind of request spends from the budget, not only chat:send.
func TestBudgetCountsEveryRequest(t *testing.T) {
	s := newStack(t, ws.Config{MessagesPerSecond: slow, MessagesBurst: 6}, chat.Config{})
	owner := s.dial("owner", nil)
	for _, u := range []string{"m-edit", "m-typing", "m-create", "m-status", "m-join", "m-read", "m-history", "m-call", "m-room", "m-unknown"} {
		s.dial(u, nil)
	}
	open := s.group(owner, "open", "m-edit", "m-typing", "m-status", "m-read", "m-history", "m-call", "m-room", "m-unknown")
	cases := []struct {
		user string
		n    int // requests tried; far more than the burst allows
		req  func(c *client.Conn, i int) error
	}{
		{"m-edit", 40, func() func(*client.Conn, int) error {
			var id string
			return func(c *client.Conn, i int) error {
				if id == "" {
					m, err := c.Send(ctxT(t), protocol.SendRequest{ConversationID: open.ID, Text: "first"})
					if err != nil {
						return err
					}
					id = m.ID
				}
				return c.Request(ctxT(t), protocol.EvEdit, protocol.EditRequest{ConversationID: open.ID, MessageID: id, Text: strings.Repeat("e", 4096)}, nil)
			}
		}()},
		{"m-typing", 200, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), protocol.EvTypingSet, protocol.TypingRequest{ConversationID: open.ID, IsTyping: true}, nil)
		}},
		{"m-create", 40, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), protocol.EvCreate, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "spam", Members: []string{"owner"}}, nil)
		}},
		{"m-status", 40, func(c *client.Conn, i int) error {
			st := []string{protocol.StatusAway, protocol.StatusOnline}[i%2]
			return c.Request(ctxT(t), protocol.EvSetStatus, protocol.StatusRequest{Status: st}, nil)
		}},
		{"m-join", 40, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), protocol.EvJoin, protocol.ConversationRef{ConversationID: open.ID}, nil)
		}},
		{"m-read", 200, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), protocol.EvMarkRead, protocol.ReadRequest{ConversationID: open.ID, Seq: 1}, nil)
		}},
		{"m-history", 200, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), protocol.EvHistory, protocol.HistoryRequest{ConversationID: open.ID}, nil)
		}},
		{"m-call", 200, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), protocol.EvCallICE, map[string]any{"call_id": "cal_none", "candidate": map[string]any{}}, nil)
		}},
		{"m-room", 200, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), protocol.EvRoomSignal, map[string]any{"room_id": "rom_none"}, nil)
		}},
		{"m-unknown", 200, func(c *client.Conn, i int) error {
			return c.Request(ctxT(t), "chat:nonsense", map[string]any{}, nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			c := s.dial(tc.user, nil)
			passed := countPassed(t, tc.n, true, func(i int) error { return tc.req(c, i) })
			if passed == tc.n {
				t.Fatalf("all %d requests passed a budget of 6 units", tc.n)
			}
		})
	}
}

// The account budget caps the sum of its users, however many there are.
func TestBudgetPerAccount(t *testing.T) {
	g := budget.NewGuard(budget.NewMemory(), budget.Rate{PerSecond: slow, Burst: 100}, budget.Rate{PerSecond: slow, Burst: 12},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := newStack(t, ws.Config{Budget: g}, chat.Config{})
	var users []*client.Conn
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		users = append(users, s.dial(u, nil))
	}
	passed := countPassed(t, 30, false, func(i int) error { // 24 pass, then one refusal each
		return users[i%len(users)].Request(ctxT(t), protocol.EvHistory, protocol.HistoryRequest{ConversationID: "cnv_none"}, nil)
	})
	// History costs 0.5: 24 fit in 12 units, spread over six users.
	if passed != 24 {
		t.Fatalf("%d reads by six users passed an account budget of 12 units, want 24", passed)
	}
}

// A refusal says rate_limited with retry_after_ms, keeps the connection
// open, and leaves nothing behind.
func TestBudgetRefusal(t *testing.T) {
	s := newStack(t, ws.Config{MessagesPerSecond: 0.001, MessagesBurst: 8}, chat.Config{})
	alice := s.dial("alice", nil)
	s.dial("bob", nil)
	cv := s.group(alice, "g", "bob") // 5: three units are left
	for range 2 {
		if _, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, ClientID: "refused", Text: "refused"})
	e := asError(t, err, apperr.CodeRateLimited)
	// Two sends of ~1.02 left ~0.96 units, short of a third: the hint is
	// above zero and below the ~1020 s a whole send takes at 0.001/s.
	if e.RetryAfter <= 0 || e.RetryAfter > 1000*time.Second {
		t.Fatalf("retry_after = %v", e.RetryAfter)
	}
	if _, err := alice.Ping(ctxT(t)); err != nil {
		t.Fatalf("connection unusable after a refusal: %v", err)
	}
	h, err := alice.History(ctxT(t), protocol.HistoryRequest{ConversationID: cv.ID})
	if err == nil {
		for _, m := range h.Messages {
			if m.Text == "refused" {
				t.Fatal("a refused message was stored")
			}
		}
	}
}
