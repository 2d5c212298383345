package ws_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// visitor opens a visitor session through the inbox's address.
func visitor(t *testing.T, s *stack, in *inbox.Service, address string) string {
	t.Helper()
	sess, err := in.OpenSession(ctxBG(), address, protocol.SessionRequest{}, inbox.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return sess.Token
}

func TestRegeneratedAddressClosesItsVisitors(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	in := inbox.New(s.store, s.auth, s.chat, inbox.Config{})
	old, err := in.Ensure(ctxBG(), s.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	oldTok := visitor(t, s, in, old.Address)
	v := s.dialToken(oldTok, nil)
	if st := v.Connected().InboxStatus; st != "offline" {
		t.Fatalf("chat:connected inbox_status = %q, want offline", st)
	}
	agent := s.dialToken(s.tokenFor(s.acct.ID, "ann", protocol.RoleAgent, time.Hour), nil)
	if st := v.Connected().InboxStatus; st == "" {
		t.Fatal("no inbox_status for a visitor")
	}
	if agent.Connected().InboxStatus != "" {
		t.Fatal("inbox_status sent to an agent")
	}
	// The agent came online: the visitor hears the inbox's status change.
	ev := next(t, v, protocol.EvInboxStatus, 5*time.Second)
	var st protocol.InboxStatus
	json.Unmarshal(ev.Data, &st)
	if st.Status != "online" {
		t.Fatalf("inbox:status = %s", ev.Data)
	}

	owner, err := s.auth.Token(ctxBG(), s.tokenFor(s.acct.ID, "boss", protocol.RoleOwner, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := in.RegenerateAddress(ctxBG(), owner)
	if err != nil {
		t.Fatal(err)
	}
	newTok := visitor(t, s, in, fresh.Address)
	v2 := s.dialToken(newTok, nil)

	// The old address's visitor is told and closed; the agents hear the new settings.
	ev = next(t, v, protocol.EvError, 5*time.Second)
	var e protocol.Error
	json.Unmarshal(ev.Data, &e)
	if e.Code != apperr.CodeAddressInvalid {
		t.Fatalf("error = %s", ev.Data)
	}
	waitDone(t, v, 5*time.Second)
	if v.CloseCode() != protocol.CloseAddressInvalid {
		t.Fatalf("close code %d, want %d", v.CloseCode(), protocol.CloseAddressInvalid)
	}
	ev = next(t, agent, protocol.EvInboxSettings, 5*time.Second)
	var set protocol.InboxSettings
	json.Unmarshal(ev.Data, &set)
	if set.Address != fresh.Address {
		t.Fatalf("inbox:settings = %s", ev.Data)
	}
	// Reconnecting with the old session is refused the same way.
	_, err = client.Dial(ctxT(t), s.url, oldTok, tapped(t, nil))
	if ce := asError(t, err, apperr.CodeAddressInvalid); ce.CloseCode != protocol.CloseAddressInvalid {
		t.Fatalf("redial close code %d", ce.CloseCode)
	}
	// The new address's visitor stays connected and chats.
	var conv protocol.Conversation
	if err := v2.Request(ctxT(t), protocol.EvInbox, nil, &conv); err != nil {
		t.Fatalf("the new address's visitor: %v", err)
	}
}
