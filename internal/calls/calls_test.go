package calls_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/calls"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is the calls service over a real chat service and SQLite, with
// users who are "online" (connected) and devices that record what reaches them.
type world struct {
	t     *testing.T
	st    *sqlite.Store
	bus   *local.Bus
	chat  *chat.Service
	calls *calls.Service
	auth  *auth.Authenticator
	acc   string
	ids   map[string]auth.Identity
}

func newWorld(t *testing.T, cfg calls.Config) *world {
	t.Helper()
	return newWorldOn(t, cfg, chat.Config{})
}

// newWorldOn is newWorld with the chat service's config (its presence).
func newWorldOn(t *testing.T, cfg calls.Config, chatCfg chat.Config) *world {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	w := &world{t: t, st: st, bus: b, chat: chat.New(st, b, nil, chatCfg), ids: map[string]auth.Identity{}}
	w.calls = calls.New(w.chat, b, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.auth = auth.New(st, []byte("0123456789abcdef0123456789abcdef"), time.Hour)
	acc, _, err := auth.CreateAccount(ctx, st, "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.acc = acc.ID
	t.Cleanup(func() { w.calls.Close(); w.chat.Close(); st.Close() })
	return w
}

func (w *world) user(name, role string) auth.Identity {
	w.t.Helper()
	if id, ok := w.ids[name]; ok {
		return id
	}
	tok, err := w.auth.Mint(auth.MintRequest{AccountID: w.acc, User: name, Role: role, TTL: time.Hour})
	if err != nil {
		w.t.Fatal(err)
	}
	id, err := w.auth.Token(context.Background(), tok)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[name] = id
	return id
}

// online connects a user (for presence) and returns a device listening to them.
func (w *world) online(id auth.Identity, conn string) *device {
	w.t.Helper()
	if err := w.chat.Connected(context.Background(), id, conn); err != nil {
		w.t.Fatal(err)
	}
	return w.device(id, conn)
}

// device returns a device of id listening to them, connected or not.
func (w *world) device(id auth.Identity, conn string) *device {
	w.t.Helper()
	d := &device{conn: conn}
	unsub := w.bus.Subscribe(chat.UserTopic(id.UserID), func(_ string, ev bus.Event) {
		if ev.Device != "" && ev.Device != conn {
			return
		}
		d.mu.Lock()
		d.got = append(d.got, ev)
		d.mu.Unlock()
	})
	w.t.Cleanup(unsub)
	return d
}

type device struct {
	conn string
	mu   sync.Mutex
	got  []bus.Event
}

// next waits for an event named name (and returns its data), failing after a while.
func (d *device) next(t *testing.T, name string) json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		d.mu.Lock()
		for i, ev := range d.got {
			if ev.Name == name {
				d.got = append(d.got[:i:i], d.got[i+1:]...)
				d.mu.Unlock()
				return ev.Data
			}
		}
		d.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("device %s: no %s (got %v)", d.conn, name, d.names())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *device) none(t *testing.T, name string) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	for _, n := range d.names() {
		if n == name {
			t.Fatalf("device %s got %s", d.conn, name)
		}
	}
}

func (d *device) names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, ev := range d.got {
		out = append(out, ev.Name)
	}
	return out
}

func (w *world) direct(a, b auth.Identity) string {
	w.t.Helper()
	c, err := w.chat.CreateConversation(context.Background(), a, protocol.CreateConversationRequest{Kind: protocol.KindDirect, Members: []string{b.UserName}})
	if err != nil {
		w.t.Fatal(err)
	}
	return c.ID
}

// events lists the call events written into a conversation, "media:outcome/seconds".
func (w *world) events(conv string) []string {
	w.t.Helper()
	w.chat.Flush()
	ms, err := w.st.ListMessages(context.Background(), conv, 0, 0, 100)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Type == protocol.TypeCall {
			s := m.Text
			if m.DurationMS > 0 {
				s += "+"
			}
			out = append(out, s)
		}
	}
	return out
}

// wantEvents waits until the conversation's call events are want (they are
// written just after the events that announce them).
func (w *world) wantEvents(conv string, want ...string) {
	w.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := w.events(conv)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("conversation events %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func decodeCall(t *testing.T, b json.RawMessage) protocol.Call {
	var c protocol.Call
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func decodeEnded(t *testing.T, b json.RawMessage) protocol.CallEnded {
	var c protocol.CallEnded
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func TestRingAcceptSignalEnd(t *testing.T) {
	w := newWorld(t, calls.Config{})
	ctx := context.Background()
	alice, bob := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember)
	conv := w.direct(alice, bob)
	a1 := w.online(alice, "a1")
	b1, b2 := w.online(bob, "b1"), w.online(bob, "b2") // bob's laptop and phone

	c, err := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "video"})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "ringing" || c.Polite || c.CallerID != alice.UserID {
		t.Fatalf("invite = %+v", c)
	}
	// Both of bob's devices ring.
	for _, d := range []*device{b1, b2} {
		if in := decodeCall(t, d.next(t, protocol.EvCallIncoming)); in.ID != c.ID || in.Media != "video" || !in.Polite {
			t.Fatalf("incoming = %+v", in)
		}
	}
	// Negotiation before the answer goes nowhere.
	wantCode(t, w.calls.Signal(alice, "a1", protocol.EvCallOffer, protocol.CallSignal{CallID: c.ID}), calls.CodeNotInCall)

	// Bob answers on his phone: alice's device hears it, both of bob's stop ringing.
	got, err := w.calls.Accept(ctx, bob, "b2", c.ID)
	if err != nil || got.State != "active" || !got.Polite {
		t.Fatalf("accept = %+v, %v", got, err)
	}
	if acc := decodeCall(t, a1.next(t, protocol.EvCallAccepted)); acc.CalleeID != bob.UserID || acc.Polite {
		t.Fatalf("accepted = %+v", acc)
	}
	b1.next(t, protocol.EvCallAnswered)
	b2.next(t, protocol.EvCallAnswered)
	// A second answer (the laptop, late) is refused.
	_, err = w.calls.Accept(ctx, bob, "b1", c.ID)
	wantCode(t, err, calls.CodeNotInCall)

	// The offer goes to the phone only; the answer and a candidate back to alice's device.
	desc := json.RawMessage(`{"type":"offer","sdp":"v=0..."}`)
	if err := w.calls.Signal(alice, "a1", protocol.EvCallOffer, protocol.CallSignal{CallID: c.ID, Description: desc}); err != nil {
		t.Fatal(err)
	}
	var sig protocol.CallSignal
	json.Unmarshal(b2.next(t, protocol.EvCallOffer), &sig)
	if sig.From != alice.UserID || string(sig.Description) != string(desc) {
		t.Fatalf("relayed offer = %+v", sig)
	}
	b1.none(t, protocol.EvCallOffer)
	if err := w.calls.Signal(bob, "b2", protocol.EvCallICE, protocol.CallSignal{CallID: c.ID, Candidate: json.RawMessage(`{"candidate":"a=..."}`)}); err != nil {
		t.Fatal(err)
	}
	a1.next(t, protocol.EvCallICE)
	// Not from the other device of a party, nor from anyone else.
	wantCode(t, w.calls.Signal(bob, "b1", protocol.EvCallAnswer, protocol.CallSignal{CallID: c.ID}), calls.CodeNotInCall)
	carol := w.user("carol", protocol.RoleMember)
	wantCode(t, w.calls.Signal(carol, "c1", protocol.EvCallAnswer, protocol.CallSignal{CallID: c.ID}), calls.CodeNotInCall)

	time.Sleep(20 * time.Millisecond)
	if err := w.calls.Hangup(bob, "b2", c.ID); err != nil {
		t.Fatal(err)
	}
	end := decodeEnded(t, a1.next(t, protocol.EvCallEnded))
	if end.Reason != "ended" || end.DurationMS < 20 {
		t.Fatalf("ended = %+v", end)
	}
	b2.next(t, protocol.EvCallEnded)
	w.wantEvents(conv, "video:started", "video:ended+")
	if w.calls.Active() != 0 {
		t.Fatal("a call is left")
	}
}

func TestDeclineCancelTimeout(t *testing.T) {
	w := newWorld(t, calls.Config{RingTimeout: 100 * time.Millisecond})
	ctx := context.Background()
	alice, bob := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember)
	conv := w.direct(alice, bob)
	a1, b1 := w.online(alice, "a1"), w.online(bob, "b1")

	c, _ := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "audio"})
	b1.next(t, protocol.EvCallIncoming)
	if err := w.calls.Reject(bob, c.ID); err != nil {
		t.Fatal(err)
	}
	if e := decodeEnded(t, a1.next(t, protocol.EvCallEnded)); e.Reason != "declined" {
		t.Fatalf("declined: %+v", e)
	}
	b1.next(t, protocol.EvCallEnded) // bob's other devices stop ringing too

	c, _ = w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "audio"})
	b1.next(t, protocol.EvCallIncoming)
	if err := w.calls.Hangup(alice, "a1", c.ID); err != nil { // cancel while it rings
		t.Fatal(err)
	}
	if e := decodeEnded(t, b1.next(t, protocol.EvCallEnded)); e.Reason != "missed" {
		t.Fatalf("cancelled: %+v", e)
	}

	c, _ = w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "audio"})
	b1.next(t, protocol.EvCallIncoming)
	if e := decodeEnded(t, b1.next(t, protocol.EvCallEnded)); e.Reason != "missed" || e.CallID != c.ID {
		t.Fatalf("timed out: %+v", e)
	}
	a1.next(t, protocol.EvCallEnded)
	w.wantEvents(conv, "audio:declined", "audio:missed", "audio:missed")
	// The caller may call again once it ended.
	if _, err := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "audio"}); err != nil {
		t.Fatal(err)
	}
}

func TestBusyUnavailableAndInCall(t *testing.T) {
	w := newWorld(t, calls.Config{})
	ctx := context.Background()
	alice, bob, carol := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember), w.user("carol", protocol.RoleMember)
	ab, cb := w.direct(alice, bob), w.direct(carol, bob)
	a1, c1 := w.online(alice, "a1"), w.online(carol, "c1")
	w.online(bob, "b1")

	// Bob is in a call with alice: carol's call to him is busy.
	c, _ := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: ab, Media: "audio"})
	if _, err := w.calls.Accept(ctx, bob, "b1", c.ID); err != nil {
		t.Fatal(err)
	}
	a1.next(t, protocol.EvCallAccepted)
	busy, err := w.calls.Invite(ctx, carol, "c1", protocol.CallInvite{ConversationID: cb, Media: "video"})
	if err != nil || busy.State != "ended" || busy.Reason != "busy" {
		t.Fatalf("busy invite = %+v, %v", busy, err)
	}
	c1.next(t, protocol.EvCallBusy)
	// Alice cannot start a second call while in one.
	_, err = w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: ab, Media: "audio"})
	wantCode(t, err, calls.CodeInCall)

	// Dave is offline: his call is missed at once, nothing rings.
	dave := w.user("dave", protocol.RoleMember)
	cd := w.direct(carol, dave)
	missed, err := w.calls.Invite(ctx, carol, "c1", protocol.CallInvite{ConversationID: cd, Media: "audio"})
	if err != nil || missed.State != "ended" || missed.Reason != "missed" {
		t.Fatalf("offline callee = %+v, %v", missed, err)
	}
	w.wantEvents(cb, "video:busy")
	w.wantEvents(cd, "audio:missed")
}

func TestGlare(t *testing.T) {
	w := newWorld(t, calls.Config{})
	ctx := context.Background()
	alice, bob := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember)
	conv := w.direct(alice, bob)
	a1, b1 := w.online(alice, "a1"), w.online(bob, "b1")
	first, _ := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "video"})
	// Bob calls alice at the same moment: that answers her call, one call results.
	second, err := w.calls.Invite(ctx, bob, "b1", protocol.CallInvite{ConversationID: conv, Media: "video"})
	if err != nil || second.ID != first.ID || second.State != "active" || !second.Polite {
		t.Fatalf("glare = %+v, %v", second, err)
	}
	a1.next(t, protocol.EvCallAccepted)
	b1.next(t, protocol.EvCallIncoming)
	if w.calls.Active() != 1 {
		t.Fatalf("%d calls, want 1", w.calls.Active())
	}
}

func TestPartyDisconnects(t *testing.T) {
	w := newWorld(t, calls.Config{ReconnectGrace: 150 * time.Millisecond})
	ctx := context.Background()
	alice, bob := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember)
	conv := w.direct(alice, bob)
	a1, b1 := w.online(alice, "a1"), w.online(bob, "b1")
	b2 := w.online(bob, "b2")

	// Dropped, then back within the grace on a new connection: the call goes on.
	c, _ := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "video"})
	w.calls.Accept(ctx, bob, "b1", c.ID)
	a1.next(t, protocol.EvCallAccepted)
	w.calls.Disconnected("b1")
	if _, err := w.calls.Rejoin(bob, "b2", c.ID); err != nil {
		t.Fatal(err)
	}
	a1.next(t, protocol.EvCallRejoined)
	time.Sleep(250 * time.Millisecond)
	if w.calls.Active() != 1 {
		t.Fatal("the call ended although bob came back")
	}
	if err := w.calls.Signal(alice, "a1", protocol.EvCallOffer, protocol.CallSignal{CallID: c.ID}); err != nil {
		t.Fatal(err)
	}
	b2.next(t, protocol.EvCallOffer) // negotiation now reaches the new device

	// Dropped and not back: it ends, with the time it lasted.
	w.calls.Disconnected("b2")
	if e := decodeEnded(t, a1.next(t, protocol.EvCallEnded)); e.Reason != "ended" || e.DurationMS <= 0 {
		t.Fatalf("ended = %+v", e)
	}
	// A caller who drops while it rings: missed.
	c2, _ := w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "audio"})
	b1.next(t, protocol.EvCallIncoming)
	w.calls.Disconnected("a1")
	if e := decodeEnded(t, b1.next(t, protocol.EvCallEnded)); e.Reason != "missed" || e.CallID != c2.ID {
		t.Fatalf("caller dropped: %+v", e)
	}
	w.wantEvents(conv, "video:started", "video:ended+", "audio:missed")
}

func TestInboxCallsRingTheTeam(t *testing.T) {
	w := newWorld(t, calls.Config{})
	ctx := context.Background()
	vic := w.user("vic", protocol.RoleVisitor)
	ann, ben, owner := w.user("ann", protocol.RoleAgent), w.user("ben", protocol.RoleAgent), w.user("boss", protocol.RoleOwner)
	in, err := w.chat.OpenInbox(ctx, vic)
	if err != nil {
		t.Fatal(err)
	}
	v1, a1, b1 := w.online(vic, "v1"), w.online(ann, "a1"), w.online(ben, "b1")
	_ = owner // offline: not rung

	c, err := w.calls.Invite(ctx, vic, "v1", protocol.CallInvite{ConversationID: in.ID, Media: "video"})
	if err != nil {
		t.Fatal(err)
	}
	a1.next(t, protocol.EvCallIncoming)
	b1.next(t, protocol.EvCallIncoming)
	// Ann declines: it rings on for Ben, who answers.
	if err := w.calls.Reject(ann, c.ID); err != nil {
		t.Fatal(err)
	}
	v1.none(t, protocol.EvCallEnded)
	if _, err := w.calls.Accept(ctx, ben, "b1", c.ID); err != nil {
		t.Fatal(err)
	}
	v1.next(t, protocol.EvCallAccepted)
	// Ann, who declined, cannot take it back.
	_, err = w.calls.Accept(ctx, ann, "a1", c.ID)
	wantCode(t, err, calls.CodeNotInCall)
	// An agent calls a visitor back in their inbox.
	w.calls.Hangup(vic, "v1", c.ID)
	c2, err := w.calls.Invite(ctx, ann, "a1", protocol.CallInvite{ConversationID: in.ID, Media: "audio"})
	if err != nil || c2.State != "ringing" {
		t.Fatalf("agent's call = %+v, %v", c2, err)
	}
	v1.next(t, protocol.EvCallIncoming)
}

func TestWhoMayCall(t *testing.T) {
	w := newWorld(t, calls.Config{})
	ctx := context.Background()
	alice, bob, eve := w.user("alice", protocol.RoleMember), w.user("bob", protocol.RoleMember), w.user("eve", protocol.RoleMember)
	conv := w.direct(alice, bob)
	w.online(alice, "a1")
	_, err := w.calls.Invite(ctx, eve, "e1", protocol.CallInvite{ConversationID: conv, Media: "audio"})
	wantCode(t, err, apperr.CodeNotMember)
	_, err = w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: conv, Media: "hologram"})
	wantCode(t, err, apperr.CodeBadRequest)
	g, err := w.chat.CreateConversation(ctx, alice, protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "team", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: g.ID, Media: "audio"})
	wantCode(t, err, apperr.CodeInvalidConversation)
	_, err = w.calls.Invite(ctx, alice, "a1", protocol.CallInvite{ConversationID: "cnv_nope", Media: "audio"})
	wantCode(t, err, apperr.CodeNotFound)
	// Call events cannot be forged or edited by clients.
	_, err = w.chat.Send(ctx, alice, protocol.SendRequest{ConversationID: conv, Type: protocol.TypeCall, Text: "video:ended"})
	wantCode(t, err, apperr.CodeBadRequest)
}
