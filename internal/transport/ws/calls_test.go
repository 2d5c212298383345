package ws_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/calls"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// A call over real WebSockets: invite rings the callee's connection,
// accept reaches the caller's, negotiation goes between exactly those two,
// and a callee whose connection drops ends the call after the grace.
func TestCallOverWebSockets(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	cs := calls.New(s.chat, s.bus, calls.Config{ReconnectGrace: 200 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(cs.Close)
	s.srv.SetCalls(cs)
	alice, bob := s.dial("alice", nil), s.dial("bob", nil)
	bobPhone := s.dial("bob", nil)
	var conv protocol.Conversation
	if err := alice.Request(ctxT(t), protocol.EvCreate, protocol.CreateConversationRequest{Kind: "direct", Members: []string{"bob"}}, &conv); err != nil {
		t.Fatal(err)
	}
	var call protocol.Call
	if err := alice.Request(ctxT(t), protocol.EvCallInvite, protocol.CallInvite{ConversationID: conv.ID, Media: "video"}, &call); err != nil {
		t.Fatal(err)
	}
	next(t, bob, protocol.EvCallIncoming, 5*time.Second)
	next(t, bobPhone, protocol.EvCallIncoming, 5*time.Second)
	var acc protocol.Call
	if err := bob.Request(ctxT(t), protocol.EvCallAccept, protocol.CallRef{CallID: call.ID}, &acc); err != nil || acc.State != "active" {
		t.Fatalf("accept: %+v %v", acc, err)
	}
	next(t, alice, protocol.EvCallAccepted, 5*time.Second)
	next(t, bobPhone, protocol.EvCallAnswered, 5*time.Second)
	if err := alice.Request(ctxT(t), protocol.EvCallOffer, protocol.CallSignal{CallID: call.ID, Description: json.RawMessage(`{"type":"offer","sdp":"x"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	ev := next(t, bob, protocol.EvCallOffer, 5*time.Second)
	var sig protocol.CallSignal
	json.Unmarshal(ev.Data, &sig)
	if sig.From != alice.Connected().User.ID || string(sig.Description) != `{"type":"offer","sdp":"x"}` {
		t.Fatalf("offer = %s", ev.Data)
	}
	none(t, bobPhone, protocol.EvCallOffer, 100*time.Millisecond)
	// The phone is not a party: its signalling is refused with a code.
	err := bobPhone.Request(ctxT(t), protocol.EvCallAnswer, protocol.CallSignal{CallID: call.ID}, nil)
	asError(t, err, calls.CodeNotInCall)
	bob.Kill()
	ev = next(t, alice, protocol.EvCallEnded, 5*time.Second)
	var end protocol.CallEnded
	json.Unmarshal(ev.Data, &end)
	if end.Reason != "ended" || end.DurationMS <= 0 {
		t.Fatalf("ended = %s", ev.Data)
	}
	// The call is written into the conversation (next() skipped "started").
	msg := next(t, alice, protocol.EvMessage, 5*time.Second)
	var m protocol.Message
	json.Unmarshal(msg.Data, &m)
	if m.Type != protocol.TypeCall || m.Text != "video:ended" || m.DurationMS <= 0 {
		t.Fatalf("call event message = %s", msg.Data)
	}
}
