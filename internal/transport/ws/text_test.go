package ws_test

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	gws "github.com/gobwas/ws"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
)

// writeMasked writes one client frame.
func writeMasked(t *testing.T, r *rawR, op gws.OpCode, fin bool, p []byte) {
	t.Helper()
	f := gws.MaskFrameInPlace(gws.NewFrame(op, fin, append([]byte(nil), p...)))
	if err := gws.WriteFrame(r.nc, f); err != nil {
		t.Fatal(err)
	}
}

// TestFramesMustBeUTF8Text: a binary frame closes with 1003 and a text
// message that is not UTF-8 with 1007 (RFC 6455 §7.4.1, §8.1), whole or
// fragmented; a character split across fragments is fine.
func TestFramesMustBeUTF8Text(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	dial := func() *rawR {
		nc, r := rawDial(t, s.url, http.Header{"Authorization": {"Bearer " + s.token("alice")}})
		t.Cleanup(func() { nc.Close() })
		if env := readEnvelope(t, r); env.Event != protocol.EvConnected {
			t.Fatalf("first event %s", env.Event)
		}
		return r
	}

	r := dial()
	writeMasked(t, r, gws.OpBinary, true, []byte(`{"event":"ping","id":"b"}`))
	if code := readCloseAfterStatus(t, r); code != protocol.CloseUnsupportedData {
		t.Fatalf("binary frame: close %d, want 1003", code)
	}

	r = dial()
	writeMasked(t, r, gws.OpText, true, []byte("{\"event\":\"ping\",\"id\":\"\xff\xfe\"}"))
	if code := readCloseAfterStatus(t, r); code != protocol.CloseInvalidPayload {
		t.Fatalf("invalid UTF-8: close %d, want 1007", code)
	}

	r = dial()
	writeMasked(t, r, gws.OpText, false, []byte("{\"event\":\"ping\",\"id\":\"\xed"))
	writeMasked(t, r, gws.OpContinuation, true, []byte("\xa0\x80\"}")) // an encoded surrogate: not UTF-8
	if code := readCloseAfterStatus(t, r); code != protocol.CloseInvalidPayload {
		t.Fatalf("fragmented invalid UTF-8: close %d, want 1007", code)
	}

	r = dial()
	euro := []byte("{\"event\":\"ping\",\"id\":\"€\"}") // € is E2 82 AC
	cut := len(`{"event":"ping","id":"`) + 1
	writeMasked(t, r, gws.OpText, false, euro[:cut])
	writeMasked(t, r, gws.OpContinuation, true, euro[cut:])
	env := readEnvelope(t, r)
	for env.Event == protocol.EvUserStatus { // alice's own presence may come first
		env = readEnvelope(t, r)
	}
	if env.Event != protocol.EvPing || env.ID != "€" {
		t.Fatalf("split character: %s %q %s", env.Event, env.ID, env.Data)
	}
}

// TestTextIsRefusedNotChanged: strings that encoding/json would store
// changed (a lone surrogate becomes U+FFFD) or that hold NUL or another
// control character are refused with invalid_text, in any request and any
// field, and nothing is stored; tab, newline and real emoji pass.
func TestTextIsRefusedNotChanged(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	alice, _ := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "g", "bob")
	for _, text := range []string{`a\u0000b`, `\ud800`, `x\udc00`, `\ud83d`, `bell\u0007`, `\u001b[31mred`} {
		err := alice.Request(ctxT(t), protocol.EvSend, json.RawMessage(`{"conversation_id":"`+cv.ID+`","text":"`+text+`"}`), nil)
		asError(t, err, apperr.CodeInvalidText)
	}
	err := alice.Request(ctxT(t), protocol.EvCreate, json.RawMessage(`{"kind":"group","name":"te\u0000am","members":["bob"]}`), nil)
	asError(t, err, apperr.CodeInvalidText)
	err = alice.Request(ctxT(t), protocol.EvSend, json.RawMessage(`{"conversation_id":"`+cv.ID+`","text":"ok","client_id":"\ud800"}`), nil)
	asError(t, err, apperr.CodeInvalidText)

	h, err := alice.History(ctxT(t), protocol.HistoryRequest{ConversationID: cv.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 0 {
		t.Fatalf("refused text stored: %+v", h.Messages)
	}
	cs, err := alice.Conversations(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("%d conversations, want the one group", len(cs))
	}

	m, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "tab\there\nnew line 😀 \ufffd"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "tab\there\nnew line 😀 \ufffd" {
		t.Fatalf("stored %q", m.Text)
	}
	var pair protocol.Message
	if err := alice.Request(ctxT(t), protocol.EvSend, json.RawMessage(`{"conversation_id":"`+cv.ID+`","text":"\ud83d\ude00"}`), &pair); err != nil || pair.Text != "😀" {
		t.Fatalf("escaped surrogate pair: %q, %v", pair.Text, err)
	}
}

// readCloseAfterStatus reads the close frame, past the chat:user_status
// frames that alice's connections coming and going announce to her own.
func readCloseAfterStatus(t *testing.T, r *rawR) int {
	t.Helper()
	for {
		f := readRaw(t, r)
		if f.Header.OpCode == gws.OpText && strings.Contains(string(f.Payload), `"event":"`+protocol.EvUserStatus+`"`) {
			continue
		}
		if f.Header.OpCode != gws.OpClose || len(f.Payload) < 2 {
			t.Fatalf("frame %v %q, want close", f.Header.OpCode, f.Payload)
		}
		return int(binary.BigEndian.Uint16(f.Payload))
	}
}
