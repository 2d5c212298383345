package api_test

import (
	"testing"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

// TestTextIsRefusedNotChanged: a JSON body with invalid UTF-8, a lone
// surrogate escape, NUL or another control character in any string is
// refused with 400 invalid_text (encoding/json would store U+FFFD, or the
// NUL), and so is a multipart text field; nothing is stored.
func TestTextIsRefusedNotChanged(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	e.user(e.acc, "olivia", protocol.RoleMember)
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"olivia"}}, 201, &g)
	path := "/conversations/" + g.ID + "/messages"
	for _, body := range []string{
		"{\"text\":\"caf\xe9\"}", // Latin-1, not UTF-8
		"{\"text\":\"\xed\xa0\x80\"}",
		`{"text":"a\u0000b"}`, `{"text":"\ud800"}`, `{"text":"\udfff"}`, `{"text":"\u001b[2J"}`,
		`{"text":"ok","client_id":"\u0000"}`,
	} {
		mia.wantErr("POST", path, []byte(body), 400, apperr.CodeInvalidText, "Content-Type", "application/json")
	}
	mia.wantErr("POST", "/conversations", []byte(`{"kind":"group","name":"t\u0000"}`), 400, apperr.CodeInvalidText, "Content-Type", "application/json")
	b, ct := multipartBody(t, map[string]string{"text": "cap\x00tion"}, "image", "dot.png", pngBytes(t))
	mia.wantErr("POST", path, b, 400, apperr.CodeInvalidText, "Content-Type", ct)
	b, ct = multipartBody(t, map[string]string{"text": "caf\xe9"}, "image", "dot.png", pngBytes(t))
	mia.wantErr("POST", path, b, 400, apperr.CodeInvalidText, "Content-Type", ct)
	if ms := e.messages(g.ID); len(ms) != 0 {
		t.Fatalf("refused text stored: %+v", ms)
	}

	var m protocol.Message
	mia.mustJSON("POST", path, []byte(`{"text":"line\none\ttab \ud83d\ude00"}`), 201, &m, "Content-Type", "application/json")
	if m.Text != "line\none\ttab 😀" {
		t.Fatalf("stored %q", m.Text)
	}
}
