package ws_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	gws "github.com/gobwas/ws"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/calls"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// Tests of what docs/protocol.md promises a client written from it alone.

// TestConversationListHasMembersAndReads: chat:conversations lists members
// and reads of small conversations, as chat:create's reply does.
func TestConversationListHasMembersAndReads(t *testing.T) {
	tr := newTrio(t, ws.Config{}, chat.Config{})
	ctx := ctxT(t)
	if _, err := tr.alice.Send(ctx, protocol.SendRequest{ConversationID: tr.conv.ID, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.bob.MarkRead(ctx, tr.conv.ID, 1); err != nil {
		t.Fatal(err)
	}
	list, err := tr.carol.Conversations(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("conversations %+v, %v", list, err)
	}
	cv := list[0]
	for _, c := range []*client.Conn{tr.alice, tr.bob, tr.carol} {
		if !slices.Contains(cv.Members, c.Connected().User.ID) {
			t.Fatalf("members %v lack %s", cv.Members, c.Connected().User.Name)
		}
	}
	if cv.Reads == nil || cv.Reads[tr.bob.Connected().User.ID] != 1 {
		t.Fatalf("reads %v", cv.Reads)
	}
}

// TestEmptyFieldsArePresent: unread 0 and an empty truncated list are
// sent, not left out.
func TestEmptyFieldsArePresent(t *testing.T) {
	tr := newTrio(t, ws.Config{}, chat.Config{})
	ctx := ctxT(t)
	var read, sync json.RawMessage
	if err := tr.bob.Request(ctx, protocol.EvMarkRead, protocol.ReadRequest{ConversationID: tr.conv.ID}, &read); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(read), `"unread":0`) {
		t.Fatalf("chat:read reply %s lacks unread", read)
	}
	if err := tr.bob.Request(ctx, protocol.EvSync, protocol.SyncRequest{Cursors: map[string]int64{tr.conv.ID: 0}}, &sync); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sync), `"truncated":[]`) {
		t.Fatalf("chat:sync reply %s lacks truncated", sync)
	}
}

// TestTypingNotEchoed: the typer's own connections do not hear their
// chat:typing; the others do.
func TestTypingNotEchoed(t *testing.T) {
	tr := newTrio(t, ws.Config{}, chat.Config{})
	ctx := ctxT(t)
	if err := tr.alice.Typing(ctx, tr.conv.ID, true); err != nil {
		t.Fatal(err)
	}
	next(t, tr.bob, protocol.EvTyping, 3*time.Second)
	// Events of one conversation arrive in order: alice's chat:typing, had
	// it been sent to her, would come before her chat:message.
	if _, err := tr.alice.Send(ctx, protocol.SendRequest{ConversationID: tr.conv.ID, Text: "done"}); err != nil {
		t.Fatal(err)
	}
	for ev := range tr.alice.Events() {
		if ev.Event == protocol.EvTyping {
			t.Fatalf("alice heard her own typing: %s", ev.Data)
		}
		if ev.Event == protocol.EvMessage {
			break
		}
	}
}

// TestSyncOfLeftConversationReported: a chat:sync naming a conversation
// the user left replays the others and reports that one in refused,
// instead of replaying part and then failing without saying which.
func TestSyncOfLeftConversationReported(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	alice, bob := s.dial("alice", nil), s.dial("bob", nil)
	ctx := ctxT(t)
	var convs []protocol.Conversation
	for _, name := range []string{"one", "two", "three"} {
		cv := s.group(alice, name, "bob")
		if _, err := bob.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: "hi " + name}); err != nil {
			t.Fatal(err)
		}
		convs = append(convs, cv)
	}
	// Leave the one sorting in the middle: a server replaying in order
	// meets it after replaying one conversation and before another.
	slices.SortFunc(convs, func(a, b protocol.Conversation) int { return strings.Compare(a.ID, b.ID) })
	left := convs[1].ID
	if err := alice.Leave(ctx, left); err != nil {
		t.Fatal(err)
	}
	again := s.dial("alice", nil)
	cursors := map[string]int64{}
	for _, cv := range convs {
		cursors[cv.ID] = 0
	}
	msgs, reply, err := again.Sync(ctx, cursors)
	if err != nil {
		t.Fatal(err)
	}
	if len(reply.Refused) != 1 || reply.Refused[left] != apperr.CodeNotMember {
		t.Fatalf("refused %v, want %s: %s", reply.Refused, left, apperr.CodeNotMember)
	}
	if _, ok := reply.Seqs[left]; ok || len(reply.Seqs) != 2 || len(msgs) != 2 {
		t.Fatalf("seqs %v, %d messages", reply.Seqs, len(msgs))
	}
	if cur := again.Cursors(); cur[left] != 0 || len(cur) != 2 {
		t.Fatalf("cursors %v: the left conversation was replayed", cur)
	}
}

// TestAuthFrameAnsweredWithItsID: chat:connected answers an auth frame
// with the frame's id, like any reply.
func TestAuthFrameAnsweredWithItsID(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	nc, r := rawDial(t, s.url, nil)
	defer nc.Close()
	b, _ := json.Marshal(protocol.Envelope{Event: protocol.EvAuth, ID: "sign-in-7", Data: json.RawMessage(`{"token":"` + s.token("alice") + `"}`)})
	if err := gws.WriteFrame(nc, gws.MaskFrame(gws.NewTextFrame(b))); err != nil {
		t.Fatal(err)
	}
	env := readEnvelope(t, r)
	if env.Event != protocol.EvConnected || env.ID != "sign-in-7" {
		t.Fatalf("got %s id %q", env.Event, env.ID)
	}
}

// TestResumeHoldsEveryEventUntilSyncReply: with ?resume=1 nothing, not even
// presence, comes between connecting and the first chat:sync's reply.
func TestResumeHoldsEveryEventUntilSyncReply(t *testing.T) {
	tr := newTrio(t, ws.Config{}, chat.Config{})
	ctx := ctxT(t)
	// The sync is written by hand: a reply to an id the client did not
	// send reaches OnEvent in order with the events around it.
	order := make(chan protocol.Envelope, 64)
	again := tr.s.dial("alice", &client.Options{Resume: true, OnEvent: func(env protocol.Envelope) { order <- env }})
	userTopic := chat.UserTopic(tr.alice.Connected().User.ID)
	eventually(t, 5*time.Second, "alice's second connection registered", func() bool { return tr.s.srv.TopicConns(userTopic) == 2 })
	// Carol's status reaches alice's new connection before alice syncs.
	if _, err := tr.carol.SetStatus(ctx, protocol.StatusAway); err != nil {
		t.Fatal(err)
	}
	if err := again.WriteText([]byte(`{"event":"chat:sync","id":"s1","data":{"cursors":{"` + tr.conv.ID + `":0}}}`)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		select {
		case env := <-order:
			got = append(got, env.Event+" "+env.ID)
			switch {
			case env.Event == protocol.EvUserStatus && !slices.Contains(got, protocol.EvSync+" s1"):
				t.Fatalf("chat:user_status before the sync reply: %v", got)
			case env.Event == protocol.EvUserStatus:
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no sync reply and status; got %v", got)
		}
	}
}

// TestTourOfTheRest runs the requests and events the other tests do not,
// so that the tap (protocol/wiretest) checks their shapes against
// docs/protocol.json too.
func TestTourOfTheRest(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	cs := calls.New(s.chat, s.bus, calls.Config{ReconnectGrace: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(cs.Close)
	s.srv.SetCalls(cs)
	ctx := ctxT(t)
	const within = 5 * time.Second
	alice, bob, carol := s.dial("alice", nil), s.dial("bob", nil), s.dial("carol", nil)

	// Conversations: join, member_joined, history, presence.
	g := s.group(alice, "tour", "bob")
	if _, err := carol.Join(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	next(t, alice, protocol.EvMemberJoined, within)
	if _, err := alice.Send(ctx, protocol.SendRequest{ConversationID: g.ID, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if h, err := alice.History(ctx, protocol.HistoryRequest{ConversationID: g.ID}); err != nil || len(h.Messages) != 1 {
		t.Fatalf("history %+v %v", h, err)
	}
	if _, err := alice.Presence(ctx, bob.Connected().User.ID, carol.Connected().User.ID); err != nil {
		t.Fatal(err)
	}

	// Calls: declined, cancelled, busy, relayed negotiation, rejoin, end.
	direct := func(a *client.Conn, with string) string {
		cv, err := a.Create(ctx, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{with}})
		if err != nil {
			t.Fatal(err)
		}
		return cv.ID
	}
	invite := func(a *client.Conn, conv string) protocol.Call {
		var c protocol.Call
		if err := a.Request(ctx, protocol.EvCallInvite, protocol.CallInvite{ConversationID: conv, Media: "audio"}, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ab, cb := direct(alice, "bob"), direct(carol, "bob")
	c := invite(alice, ab)
	next(t, bob, protocol.EvCallIncoming, within)
	if err := bob.Request(ctx, protocol.EvCallReject, protocol.CallRef{CallID: c.ID}, nil); err != nil {
		t.Fatal(err)
	}
	next(t, alice, protocol.EvCallEnded, within)
	c = invite(alice, ab)
	next(t, bob, protocol.EvCallIncoming, within)
	if err := alice.Request(ctx, protocol.EvCallCancel, protocol.CallRef{CallID: c.ID}, nil); err != nil {
		t.Fatal(err)
	}
	next(t, bob, protocol.EvCallEnded, within)
	c = invite(alice, ab)
	next(t, bob, protocol.EvCallIncoming, within)
	if err := bob.Request(ctx, protocol.EvCallAccept, protocol.CallRef{CallID: c.ID}, nil); err != nil {
		t.Fatal(err)
	}
	next(t, alice, protocol.EvCallAccepted, within)
	if busy := invite(carol, cb); busy.State != "ended" || busy.Reason != protocol.OutcomeBusy {
		t.Fatalf("call to someone in a call: %+v", busy)
	}
	next(t, carol, protocol.EvCallBusy, within)
	if err := bob.Request(ctx, protocol.EvCallAnswer, protocol.CallSignal{CallID: c.ID, Description: json.RawMessage(`{"type":"answer","sdp":"v=0"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	next(t, alice, protocol.EvCallAnswer, within)
	if err := alice.Request(ctx, protocol.EvCallICE, protocol.CallSignal{CallID: c.ID, Candidate: json.RawMessage(`{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	next(t, bob, protocol.EvCallICE, within)
	bobAgain := s.dial("bob", nil)
	if err := bobAgain.Request(ctx, protocol.EvCallRejoin, protocol.CallRef{CallID: c.ID}, nil); err != nil {
		t.Fatal(err)
	}
	next(t, alice, protocol.EvCallRejoined, within)
	if err := alice.Request(ctx, protocol.EvCallEnd, protocol.CallRef{CallID: c.ID}, nil); err != nil {
		t.Fatal(err)
	}
	next(t, bobAgain, protocol.EvCallEnded, within)

	// The inbox: a visitor, the staff, a settings change, a returning visitor.
	in := inbox.New(s.store, s.auth, s.chat, inbox.Config{})
	box, err := in.Ensure(ctx, s.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := in.OpenSession(ctx, box.Address, protocol.SessionRequest{}, inbox.Client{})
	if err != nil {
		t.Fatal(err)
	}
	v := s.dialToken(sess.Token, nil)
	agent := s.dialToken(s.tokenFor(s.acct.ID, "ann", protocol.RoleAgent, time.Hour), nil)
	cv, err := v.Inbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Send(ctx, protocol.SendRequest{ConversationID: cv.ID, Text: "hello?"}); err != nil {
		t.Fatal(err)
	}
	next(t, agent, protocol.EvMessage, within)
	owner, err := s.auth.Token(ctx, s.tokenFor(s.acct.ID, "boss", protocol.RoleOwner, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	welcome := "Hi there"
	if _, err := in.UpdateSettings(ctx, owner, protocol.InboxSettingsPatch{Welcome: &welcome}); err != nil {
		t.Fatal(err)
	}
	next(t, v, protocol.EvInboxUpdated, within)
	next(t, agent, protocol.EvInboxSettings, within)
	if _, err := in.OpenSession(ctx, box.Address, protocol.SessionRequest{Visitor: sess.Visitor, PageURL: "https://shop.example/cart"}, inbox.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0"}); err != nil {
		t.Fatal(err)
	}
	next(t, agent, protocol.EvInboxVisitor, within)
}
