package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is a chat service on a real SQLite file with users in two accounts.
type world struct {
	t    testing.TB
	st   store.Store
	bus  *local.Bus
	svc  *chat.Service
	auth *auth.Authenticator
	acc  string
	acc2 string
	ids  map[string]auth.Identity
}

func newWorld(t testing.TB, cfg chat.Config) *world {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "chat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := media.NewStore(filepath.Join(t.TempDir(), "blobs"), media.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	w := &world{t: t, st: st, bus: b, svc: chat.New(st, b, blobs, cfg), ids: map[string]auth.Identity{}}
	w.auth = auth.New(st, []byte("0123456789abcdef0123456789abcdef"), time.Hour)
	t.Cleanup(func() { w.svc.Close(); st.Close() })
	a1, _, err := auth.CreateAccount(ctx, st, "one", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a2, _, err := auth.CreateAccount(ctx, st, "two", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.acc, w.acc2 = a1.ID, a2.ID
	return w
}

// user returns the identity of name in account acc, creating it via a token.
func (w *world) user(acc, name, role string) auth.Identity {
	w.t.Helper()
	key := acc + "/" + name
	if id, ok := w.ids[key]; ok {
		return id
	}
	tok, err := w.auth.Mint(auth.MintRequest{AccountID: acc, User: name, Role: role, TTL: time.Hour})
	if err != nil {
		w.t.Fatal(err)
	}
	id, err := w.auth.Token(context.Background(), tok)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[key] = id
	return id
}

// recorder collects events of a topic.
type recorder struct {
	svc *chat.Service
	mu  sync.Mutex
	evs []bus.Event
}

func (w *world) listen(topic string) *recorder {
	r := &recorder{svc: w.svc}
	unsub := w.bus.Subscribe(topic, func(_ string, ev bus.Event) {
		r.mu.Lock()
		r.evs = append(r.evs, ev)
		r.mu.Unlock()
	})
	w.t.Cleanup(unsub)
	return r
}

func (r *recorder) named(name string) []bus.Event {
	r.svc.Flush() // events leave through the publisher goroutine
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []bus.Event
	for _, e := range r.evs {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("want error %q, got %v", code, err)
	}
}

func TestSendIsIdempotentAndOrdered(t *testing.T) {
	w := newWorld(t, chat.Config{})
	ctx := context.Background()
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	bob := w.user(w.acc, "bob", protocol.RoleMember)
	c, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "g", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := w.listen("c:" + c.ID)

	// 200 concurrent sends from two users: events must leave in seq order.
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := alice
			if i%2 == 1 {
				who = bob
			}
			if _, err := w.svc.Send(ctx, who, protocol.SendRequest{ConversationID: c.ID, ClientID: fmt.Sprint("c", i), Text: fmt.Sprint("m", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs := rec.named(protocol.EvMessage)
	if len(evs) != 200 {
		t.Fatalf("got %d chat:message events, want 200", len(evs))
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: events left out of seq order", i, e.Seq)
		}
	}

	// A resend with the same client_id returns the same message, announces nothing.
	first, err := w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: c.ID, ClientID: "c0", Text: "m0"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq > 200 || len(rec.named(protocol.EvMessage)) != 200 {
		t.Fatalf("resend created a new message: %+v", first)
	}
	// The same client_id for different content is a conflict.
	_, err = w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: c.ID, ClientID: "c0", Text: "other"})
	wantCode(t, err, apperr.CodeConflict)
}

func TestMembershipAndTenancy(t *testing.T) {
	w := newWorld(t, chat.Config{})
	ctx := context.Background()
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	w.user(w.acc, "bob", protocol.RoleMember)
	carol := w.user(w.acc, "carol", protocol.RoleMember)
	eve := w.user(w.acc2, "eve", protocol.RoleOwner)
	visitor := w.user(w.acc, "v1", protocol.RoleVisitor)
	agent := w.user(w.acc, "agent", protocol.RoleAgent)

	d, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"bob"}})
	if err != nil || again.ID != d.ID {
		t.Fatalf("second direct create: %v %v, want the existing %s", again.ID, err, d.ID)
	}
	_, err = w.svc.Send(ctx, carol, protocol.SendRequest{ConversationID: d.ID, Text: "hi"})
	wantCode(t, err, apperr.CodeNotMember)
	_, err = w.svc.History(ctx, carol, protocol.HistoryRequest{ConversationID: d.ID})
	wantCode(t, err, apperr.CodeNotMember)
	_, err = w.svc.Send(ctx, eve, protocol.SendRequest{ConversationID: d.ID, Text: "hi"})
	wantCode(t, err, apperr.CodeNotFound)
	_, err = w.svc.CreateConversation(ctx, visitor, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "x"})
	wantCode(t, err, apperr.CodeForbidden)
	_, err = w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"v1"}})
	wantCode(t, err, apperr.CodeForbidden)

	// The inbox: the visitor and every agent; not members, not other visitors.
	in, err := w.svc.OpenInbox(ctx, visitor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Send(ctx, visitor, protocol.SendRequest{ConversationID: in.ID, Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Send(ctx, agent, protocol.SendRequest{ConversationID: in.ID, Text: "how can I help?"}); err != nil {
		t.Fatal(err)
	}
	other := w.user(w.acc, "v2", protocol.RoleVisitor)
	_, err = w.svc.History(ctx, other, protocol.HistoryRequest{ConversationID: in.ID})
	wantCode(t, err, apperr.CodeNotMember)
	_, err = w.svc.History(ctx, alice, protocol.HistoryRequest{ConversationID: in.ID})
	wantCode(t, err, apperr.CodeNotMember)
	list, err := w.svc.ListConversations(ctx, agent, time.Time{}, 0)
	if err != nil || len(list) != 1 || list[0].ID != in.ID {
		t.Fatalf("agent's list = %+v, %v; want the inbox", list, err)
	}
	again2, err := w.svc.OpenInbox(ctx, visitor)
	if err != nil || again2.ID != in.ID {
		t.Fatalf("second OpenInbox = %v %v", again2.ID, err)
	}
}

func TestEditDeleteRules(t *testing.T) {
	w := newWorld(t, chat.Config{})
	ctx := context.Background()
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	bob := w.user(w.acc, "bob", protocol.RoleMember)
	owner := w.user(w.acc, "boss", protocol.RoleOwner)
	g, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "g", Members: []string{"bob", "boss"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := w.listen("c:" + g.ID)
	m, err := w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: g.ID, Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := w.svc.Send(ctx, bob, protocol.SendRequest{ConversationID: g.ID, Text: "hi", ReplyTo: m.ID})
	if err != nil || reply.ReplyTo != m.ID {
		t.Fatalf("reply: %+v %v", reply, err)
	}
	_, err = w.svc.Send(ctx, bob, protocol.SendRequest{ConversationID: g.ID, Text: "x", ReplyTo: "msg_nope"})
	wantCode(t, err, apperr.CodeNotFound)

	_, err = w.svc.Edit(ctx, bob, protocol.EditRequest{ConversationID: g.ID, MessageID: m.ID, Text: "hacked"})
	wantCode(t, err, apperr.CodeNotSender)
	ed, err := w.svc.Edit(ctx, alice, protocol.EditRequest{ConversationID: g.ID, MessageID: m.ID, Text: "hello!"})
	if err != nil || ed.Text != "hello!" || ed.EditedAt == nil {
		t.Fatalf("edit: %+v %v", ed, err)
	}
	_, err = w.svc.Delete(ctx, bob, protocol.DeleteRequest{ConversationID: g.ID, MessageID: m.ID})
	wantCode(t, err, apperr.CodeNotSender)
	del, err := w.svc.Delete(ctx, owner, protocol.DeleteRequest{ConversationID: g.ID, MessageID: m.ID})
	if err != nil || del.DeletedAt == nil || del.Text != "" || del.Seq != m.Seq {
		t.Fatalf("owner delete: %+v %v", del, err)
	}
	_, err = w.svc.Edit(ctx, alice, protocol.EditRequest{ConversationID: g.ID, MessageID: m.ID, Text: "again"})
	wantCode(t, err, apperr.CodeMessageDeleted)
	if len(rec.named(protocol.EvMessageEdited)) != 1 || len(rec.named(protocol.EvMessageDeleted)) != 1 {
		t.Fatalf("edit/delete events: %d/%d", len(rec.named(protocol.EvMessageEdited)), len(rec.named(protocol.EvMessageDeleted)))
	}
	h, err := w.svc.History(ctx, bob, protocol.HistoryRequest{ConversationID: g.ID})
	if err != nil || len(h.Messages) != 2 || h.Messages[0].DeletedAt == nil || h.Messages[0].Text != "" {
		t.Fatalf("history keeps a tombstone: %+v %v", h, err)
	}

	big := bytes.Repeat([]byte("x"), w.svc.Config().MaxMessageBytes+1)
	_, err = w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: g.ID, Text: string(big)})
	wantCode(t, err, apperr.CodeMessageTooLarge)
	_, err = w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: g.ID, Text: "  "})
	wantCode(t, err, apperr.CodeBadRequest)
	_, err = w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: g.ID, Type: protocol.TypeImage})
	wantCode(t, err, apperr.CodeBadRequest)
}

func TestReadsAndUnread(t *testing.T) {
	w := newWorld(t, chat.Config{})
	ctx := context.Background()
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	bob := w.user(w.acc, "bob", protocol.RoleMember)
	d, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := w.listen("c:" + d.ID)
	for i := range 5 {
		if _, err := w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: d.ID, Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := w.svc.ListConversations(ctx, bob, time.Time{}, 0)
	if len(list) != 1 || list[0].Unread != 5 || list[0].LastMessage == nil || list[0].LastMessage.Text != "4" {
		t.Fatalf("bob's list: %+v", list)
	}
	st, err := w.svc.MarkRead(ctx, bob, protocol.ReadRequest{ConversationID: d.ID, Seq: 3})
	if err != nil || st.Seq != 3 || st.Unread != 2 {
		t.Fatalf("mark read 3: %+v %v", st, err)
	}
	st, _ = w.svc.MarkRead(ctx, bob, protocol.ReadRequest{ConversationID: d.ID, Seq: 1})
	if st.Seq != 3 {
		t.Fatalf("read position went back to %d", st.Seq)
	}
	st, _ = w.svc.MarkRead(ctx, bob, protocol.ReadRequest{ConversationID: d.ID, Seq: 999})
	if st.Seq != 5 || st.Unread != 0 {
		t.Fatalf("read past the end: %+v", st)
	}
	reads := rec.named(protocol.EvRead)
	if len(reads) != 2 {
		t.Fatalf("chat:read events = %d, want 2 (the backwards one changes nothing)", len(reads))
	}
	desc, err := w.svc.Conversation(ctx, alice, d.ID)
	if err != nil || desc.Reads[bob.UserID] != 5 || desc.Unread != 0 {
		t.Fatalf("alice sees bob's read position as %v (%v)", desc.Reads, err)
	}
	var last protocol.ReadState
	json.Unmarshal(reads[1].Data, &last)
	if last.UserID != bob.UserID || last.Seq != 5 {
		t.Fatalf("chat:read data %+v", last)
	}
}

func TestTypingExpires(t *testing.T) {
	w := newWorld(t, chat.Config{TypingTimeout: 150 * time.Millisecond})
	ctx := context.Background()
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	d, _ := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{w.user(w.acc, "bob", protocol.RoleMember).UserName}})
	rec := w.listen("c:" + d.ID)
	for range 3 { // refreshes announce nothing new
		if err := w.svc.Typing(ctx, alice, protocol.TypingRequest{ConversationID: d.ID, IsTyping: true}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(rec.named(protocol.EvTyping)); n != 1 {
		t.Fatalf("%d typing events while typing, want 1", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(rec.named(protocol.EvTyping)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	evs := rec.named(protocol.EvTyping)
	var ty protocol.Typing
	if len(evs) != 2 || json.Unmarshal(evs[1].Data, &ty) != nil || ty.IsTyping {
		t.Fatalf("typing did not expire: %d events", len(evs))
	}
	// Sending stops typing at once.
	w.svc.Typing(ctx, alice, protocol.TypingRequest{ConversationID: d.ID, IsTyping: true})
	w.svc.Send(ctx, alice, protocol.SendRequest{ConversationID: d.ID, Text: "done"})
	if n := len(rec.named(protocol.EvTyping)); n != 4 {
		t.Fatalf("%d typing events after send, want 4", n)
	}
}

func TestPresence(t *testing.T) {
	w := newWorld(t, chat.Config{})
	ctx := context.Background()
	alice := w.user(w.acc, "alice", protocol.RoleMember)
	bob := w.user(w.acc, "bob", protocol.RoleMember)
	d, _ := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{"bob"}})
	rec := w.listen("c:" + d.ID)
	status := func() string {
		ps, err := w.svc.Presence(ctx, bob, []string{alice.UserID})
		if err != nil {
			t.Fatal(err)
		}
		return ps[0].Status
	}
	if s := status(); s != protocol.StatusOffline {
		t.Fatalf("before connecting: %s", s)
	}
	mustConnect(t, w.svc, alice, "con_1")
	mustConnect(t, w.svc, alice, "con_2") // a second device announces nothing
	w.svc.Flush()                         // announced in the background: one at a time here, or the latest state only
	if s := status(); s != protocol.StatusOnline {
		t.Fatalf("connected: %s", s)
	}
	if _, err := w.svc.SetStatus(ctx, alice, protocol.StatusBusy); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != protocol.StatusBusy {
		t.Fatalf("after busy: %s", s)
	}
	w.svc.Flush()
	w.svc.Disconnected(ctx, alice, "con_1")
	if s := status(); s != protocol.StatusBusy {
		t.Fatalf("one device left: %s", s)
	}
	w.svc.Disconnected(ctx, alice, "con_2")
	w.svc.Flush() // last_seen is stamped in the background
	ps, _ := w.svc.Presence(ctx, bob, []string{alice.UserID})
	if ps[0].Status != protocol.StatusOffline || ps[0].LastSeen == nil {
		t.Fatalf("after last disconnect: %+v", ps[0])
	}
	if n := len(rec.named(protocol.EvUserStatus)); n != 3 {
		t.Fatalf("%d presence events, want 3 (online, busy, offline)", n)
	}
	_, err := w.svc.SetStatus(ctx, alice, "sleeping")
	wantCode(t, err, apperr.CodeBadRequest)
	// Visitors see agents, not other visitors.
	v := w.user(w.acc, "v", protocol.RoleVisitor)
	_, err = w.svc.Presence(ctx, v, []string{alice.UserID})
	wantCode(t, err, apperr.CodeNotFound)
}

// TestPresenceGroupLimit: presence changes reach groups up to
// PresenceMaxMembers members and no bigger ones; a negative limit (the
// setting's 0) pushes to no group at all.
func TestPresenceGroupLimit(t *testing.T) {
	for _, tc := range []struct {
		limit      int
		small, big int // events expected on a 3-member and a 4-member group
	}{{3, 1, 0}, {-1, 0, 0}} {
		w := newWorld(t, chat.Config{PresenceMaxMembers: tc.limit})
		ctx := context.Background()
		alice := w.user(w.acc, "alice", protocol.RoleMember)
		for _, n := range []string{"b", "c", "d"} {
			w.user(w.acc, n, protocol.RoleMember)
		}
		small, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "small", Members: []string{"b", "c"}})
		if err != nil {
			t.Fatal(err)
		}
		big, err := w.svc.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "big", Members: []string{"b", "c", "d"}})
		if err != nil {
			t.Fatal(err)
		}
		rs, rb := w.listen("c:"+small.ID), w.listen("c:"+big.ID)
		mustConnect(t, w.svc, alice, "con_1")
		if n := len(rs.named(protocol.EvUserStatus)); n != tc.small {
			t.Errorf("limit %d: %d presence events on a 3-member group, want %d", tc.limit, n, tc.small)
		}
		if n := len(rb.named(protocol.EvUserStatus)); n != tc.big {
			t.Errorf("limit %d: %d presence events on a 4-member group, want %d", tc.limit, n, tc.big)
		}
		w.svc.Disconnected(ctx, alice, "con_1")
	}
}

func mustConnect(t *testing.T, svc *chat.Service, id auth.Identity, conn string) {
	t.Helper()
	if err := svc.Connected(context.Background(), id, conn); err != nil {
		t.Fatal(err)
	}
}
