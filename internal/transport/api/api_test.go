package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

func TestTokensAndMe(t *testing.T) {
	e := newEnv(t, api.Config{})
	svc := e.as(e.key)

	var me struct {
		User      *protocol.User `json:"user"`
		AccountID string         `json:"account_id"`
		Role      string         `json:"role"`
		APIKeyID  string         `json:"api_key_id"`
	}
	svc.mustJSON("GET", "/me", nil, 200, &me)
	if me.User != nil || me.AccountID != e.acc.ID || me.Role != "service" || me.APIKeyID == "" {
		t.Fatalf("API key /me = %+v", me)
	}

	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	before := time.Now()
	svc.mustJSON("POST", "/tokens", map[string]any{"user": "ann", "role": "member", "display_name": "Ann", "ttl": "1h"}, 200, &tok)
	if d := tok.ExpiresAt.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expires_at %v is not an hour away", tok.ExpiresAt)
	}
	me.User = nil
	e.as(tok.Token).mustJSON("GET", "/me", nil, 200, &me)
	if me.User == nil || me.User.Name != "ann" || me.User.DisplayName != "Ann" || me.Role != "member" || me.AccountID != e.acc.ID {
		t.Fatalf("token /me = %+v", me)
	}
	// Default TTL.
	svc.mustJSON("POST", "/tokens", map[string]any{"user": "ann", "role": "member"}, 200, &tok)
	if d := time.Until(tok.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("default ttl: expires_at %v", tok.ExpiresAt)
	}
	// Bad requests.
	svc.wantErr("POST", "/tokens", map[string]any{"user": "ann", "role": "king"}, 400, "bad_request")
	svc.wantErr("POST", "/tokens", map[string]any{"user": "", "role": "member"}, 400, "bad_request")
	svc.wantErr("POST", "/tokens", map[string]any{"user": "ann", "role": "member", "ttl": "forever"}, 400, "bad_request")
	svc.wantErr("POST", "/tokens", map[string]any{"user": "ann", "role": "member", "ttl": "10000h"}, 400, "bad_request")
	svc.wantErr("POST", "/tokens", []byte(`{"user":`), 400, "bad_request")
	svc.wantErr("POST", "/tokens", []byte(`{"user":"a","role":"member"} {}`), 400, "bad_request")

	// A token the site's backend signs itself with its API key.
	kid, secret, _ := strings.Cut(e.key, ".")
	own, err := auth.Mint(kid, []byte(secret), auth.MintRequest{AccountID: e.acc.ID, User: "sam", Role: "agent", TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.as(own).mustJSON("GET", "/me", nil, 200, &me)
	if me.User == nil || me.User.Name != "sam" || me.Role != "agent" {
		t.Fatalf("self-signed token /me = %+v", me)
	}
	// ...but not for another account.
	forged, _ := auth.Mint(kid, []byte(secret), auth.MintRequest{AccountID: e.accB.ID, User: "sam", Role: "owner", TTL: time.Hour}, time.Now())
	e.as(forged).wantErr("GET", "/me", nil, 401, "unauthenticated")
}

func TestConversations(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	olivia := e.user(e.acc, "olivia", protocol.RoleOwner)
	max := e.user(e.acc, "max", protocol.RoleMember)

	// Group: 201.
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"olivia"}}, 201, &g)
	if g.Kind != "group" || g.Name != "team" || g.MemberCount != 2 {
		t.Fatalf("group = %+v", g)
	}
	// Direct: 201, then 200 with the same one (either side asking).
	var d1, d2, d3 protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "direct", Members: []string{"olivia"}}, 201, &d1)
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "direct", Members: []string{"olivia"}}, 200, &d2)
	olivia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "direct", Members: []string{"mia"}}, 200, &d3)
	if d1.ID != d2.ID || d1.ID != d3.ID {
		t.Fatalf("direct ids %s %s %s", d1.ID, d2.ID, d3.ID)
	}
	mia.wantErr("POST", "/conversations", protocol.CreateConversationRequest{Kind: "direct", Members: []string{"mia"}}, 400, "invalid_conversation")
	mia.wantErr("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group"}, 400, "bad_request")
	mia.wantErr("POST", "/conversations", protocol.CreateConversationRequest{Kind: "direct", Members: []string{"nobody"}}, 404, "not_found")

	// GET one.
	var got protocol.Conversation
	olivia.mustJSON("GET", "/conversations/"+g.ID, nil, 200, &got)
	if got.ID != g.ID || got.Name != "team" {
		t.Fatalf("get = %+v", got)
	}

	// List with last message and unread.
	mia.send(g.ID, "hello team")
	time.Sleep(2 * time.Millisecond)
	mia.send(d1.ID, "hi olivia")
	var list protocol.ConversationsReply
	olivia.mustJSON("GET", "/conversations", nil, 200, &list)
	if len(list.Conversations) != 2 || list.Conversations[0].ID != d1.ID {
		t.Fatalf("list = %+v", list)
	}
	if c := list.Conversations[0]; c.LastMessage == nil || c.LastMessage.Text != "hi olivia" || c.Unread != 1 {
		t.Fatalf("first = %+v", c)
	}
	// Members and reads, as docs/protocol.md promises for up to 50 members.
	if c := list.Conversations[0]; len(c.Members) != 2 || c.Reads == nil {
		t.Fatalf("listed without members and reads: %+v", c)
	}
	// Paging by before.
	var page protocol.ConversationsReply
	olivia.mustJSON("GET", "/conversations?limit=1", nil, 200, &page)
	if len(page.Conversations) != 1 || page.Conversations[0].ID != d1.ID {
		t.Fatalf("page 1 = %+v", page)
	}
	before := page.Conversations[0].UpdatedAt.Format(time.RFC3339Nano)
	olivia.mustJSON("GET", "/conversations?limit=1&before="+url.QueryEscape(before), nil, 200, &page)
	if len(page.Conversations) != 1 || page.Conversations[0].ID != g.ID {
		t.Fatalf("page 2 = %+v", page)
	}
	olivia.wantErr("GET", "/conversations?before=yesterday", nil, 400, "bad_request")
	olivia.wantErr("GET", "/conversations?limit=101", nil, 400, "bad_request")
	olivia.wantErr("GET", "/conversations?limit=0", nil, 400, "bad_request")

	// Join and leave.
	var joined protocol.Conversation
	max.mustJSON("POST", "/conversations/"+g.ID+"/join", nil, 200, &joined)
	if joined.MemberCount != 3 {
		t.Fatalf("joined = %+v", joined)
	}
	r := max.do("POST", "/conversations/"+g.ID+"/leave", nil)
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	max.wantErr("GET", "/conversations/"+g.ID, nil, 403, "not_member")
	max.wantErr("POST", "/conversations/"+d1.ID+"/join", nil, 400, "invalid_conversation")

	// Inbox: visitors only.
	vera := e.user(e.acc, "vera", protocol.RoleVisitor)
	var in1, in2 protocol.Conversation
	vera.mustJSON("POST", "/inbox", nil, 200, &in1)
	vera.mustJSON("POST", "/inbox", nil, 200, &in2)
	if in1.Kind != "inbox" || in1.ID != in2.ID {
		t.Fatalf("inbox %+v %+v", in1, in2)
	}
	mia.wantErr("POST", "/inbox", nil, 403, "forbidden")
	// Staff see inboxes.
	vera.send(in1.ID, "help?")
	olivia.mustJSON("GET", "/conversations/"+in1.ID, nil, 200, &got)
}

func TestMessages(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	olivia := e.user(e.acc, "olivia", protocol.RoleOwner)
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"olivia"}}, 201, &g)
	base := "/conversations/" + g.ID + "/messages"

	// Idempotent send by client_id: 201 then 200 with the same message.
	var m1, m1again protocol.Message
	mia.mustJSON("POST", base, protocol.SendRequest{ClientID: "c-1", Text: "one"}, 201, &m1)
	mia.mustJSON("POST", base, protocol.SendRequest{ClientID: "c-1", Text: "one"}, 200, &m1again)
	if m1.ID != m1again.ID || m1.Seq != 1 || m1.SenderID != mia.id || m1.ConversationID != g.ID {
		t.Fatalf("m1 %+v again %+v", m1, m1again)
	}
	mia.wantErr("POST", base, protocol.SendRequest{ClientID: "c-1", Text: "different"}, 409, "conflict")
	// Idempotency-Key header instead of client_id.
	var m2, m2again protocol.Message
	mia.mustJSON("POST", base, protocol.SendRequest{Text: "two"}, 201, &m2, "Idempotency-Key", "k-2")
	mia.mustJSON("POST", base, protocol.SendRequest{Text: "two"}, 200, &m2again, "Idempotency-Key", "k-2")
	if m2.ID != m2again.ID || m2.ClientID != "k-2" {
		t.Fatalf("m2 %+v again %+v", m2, m2again)
	}
	mia.wantErr("POST", base, protocol.SendRequest{ClientID: "a", Text: "x"}, 400, "bad_request", "Idempotency-Key", "b")
	mia.wantErr("POST", base, protocol.SendRequest{ConversationID: "cnv_other", Text: "x"}, 400, "bad_request")
	mia.wantErr("POST", base, protocol.SendRequest{Text: ""}, 400, "bad_request")
	mia.wantErr("POST", base, protocol.SendRequest{Text: strings.Repeat("x", 1001)}, 413, "message_too_large")
	var reply protocol.Message
	olivia.mustJSON("POST", base, protocol.SendRequest{Text: "re: one", ReplyTo: m1.ID}, 201, &reply)
	if reply.ReplyTo != m1.ID {
		t.Fatalf("reply %+v", reply)
	}
	for i := 4; i <= 10; i++ {
		mia.send(g.ID, "n"+strconv.Itoa(i))
	}

	// History with cursors.
	var h protocol.HistoryReply
	olivia.mustJSON("GET", base, nil, 200, &h)
	if len(h.Messages) != 10 || h.HasMore || h.Messages[0].Seq != 1 || h.Messages[9].Seq != 10 {
		t.Fatalf("history: %d messages, more %v", len(h.Messages), h.HasMore)
	}
	olivia.mustJSON("GET", base+"?before=11&limit=3", nil, 200, &h)
	if len(h.Messages) != 3 || !h.HasMore || h.Messages[0].Seq != 8 || h.Messages[2].Seq != 10 {
		t.Fatalf("before page: %+v", h)
	}
	olivia.mustJSON("GET", base+"?after=8", nil, 200, &h)
	if len(h.Messages) != 2 || h.HasMore || h.Messages[0].Seq != 9 {
		t.Fatalf("after page: %+v", h)
	}
	olivia.mustJSON("GET", base+"?after=2&limit=3", nil, 200, &h)
	if len(h.Messages) != 3 || !h.HasMore || h.Messages[0].Seq != 3 {
		t.Fatalf("after+limit page: %+v", h)
	}
	olivia.wantErr("GET", base+"?limit=101", nil, 400, "bad_request")
	olivia.wantErr("GET", base+"?before=-1", nil, 400, "bad_request")
	olivia.wantErr("GET", base+"?before=x", nil, 400, "bad_request")

	// Edit: only text, only the sender.
	var ed protocol.Message
	mia.mustJSON("PATCH", base+"/"+m1.ID, map[string]string{"text": "one (edited)"}, 200, &ed)
	if ed.Text != "one (edited)" || ed.EditedAt == nil {
		t.Fatalf("edit %+v", ed)
	}
	// Delete: a tombstone.
	var del protocol.Message
	mia.mustJSON("DELETE", base+"/"+m2.ID, nil, 200, &del)
	if del.DeletedAt == nil || del.Text != "" || del.ID != m2.ID {
		t.Fatalf("delete %+v", del)
	}
	mia.wantErr("PATCH", base+"/"+m2.ID, map[string]string{"text": "zombie"}, 409, "message_deleted")
	mia.wantErr("PATCH", base+"/msg_nope", map[string]string{"text": "x"}, 404, "not_found")

	// Read state.
	var rs protocol.ReadState
	olivia.mustJSON("POST", "/conversations/"+g.ID+"/read", map[string]int64{"seq": 5}, 200, &rs)
	if rs.Seq != 5 || rs.UserID != olivia.id || rs.Unread != 5 { // seqs 6..10, all mia's
		t.Fatalf("read state %+v", rs)
	}
	olivia.wantErr("POST", "/conversations/"+g.ID+"/read", map[string]any{}, 400, "bad_request")

	// Typing.
	r := mia.do("POST", "/conversations/"+g.ID+"/typing", map[string]bool{"is_typing": true})
	if r.status != 204 {
		t.Fatalf("typing: %d %s", r.status, r.body)
	}
	r = mia.do("POST", "/conversations/"+g.ID+"/typing", map[string]bool{"is_typing": false})
	if r.status != 204 {
		t.Fatalf("typing off: %d %s", r.status, r.body)
	}
	mia.wantErr("POST", "/conversations/"+g.ID+"/typing", map[string]any{}, 400, "bad_request")
}

func TestPresence(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	olivia := e.user(e.acc, "olivia", protocol.RoleOwner)
	var p protocol.Presence
	mia.mustJSON("PUT", "/presence", protocol.StatusRequest{Status: "away"}, 200, &p)
	if p.UserID != mia.id {
		t.Fatalf("presence %+v", p)
	}
	mia.wantErr("PUT", "/presence", protocol.StatusRequest{Status: "asleep"}, 400, "bad_request")
	var pr protocol.PresenceReply
	olivia.mustJSON("GET", "/presence?user_ids="+mia.id+","+olivia.id, nil, 200, &pr)
	if len(pr.Users) != 2 || pr.Users[0].UserID != mia.id || pr.Users[0].Status != "offline" {
		t.Fatalf("presence reply %+v", pr) // no connection: offline whatever was chosen
	}
	olivia.wantErr("GET", "/presence", nil, 400, "bad_request")
	// Other tenants' users are not found.
	bob := e.user(e.accB, "bob", protocol.RoleMember)
	bob.wantErr("GET", "/presence?user_ids="+mia.id, nil, 404, "not_found")
}

func TestAttachmentsAndMultipart(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	olivia := e.user(e.acc, "olivia", protocol.RoleOwner)
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"olivia"}}, 201, &g)
	base := "/conversations/" + g.ID

	// Multipart send with an image and a caption.
	img := pngBytes(t)
	body, ct := multipartBody(t, map[string]string{"client_id": "img-1", "text": "look"}, "image", "dot.png", img)
	var mi protocol.Message
	mia.mustJSON("POST", base+"/messages", body, 201, &mi, "Content-Type", ct)
	if mi.Type != "image" || mi.Text != "look" || mi.Attachment == nil || mi.Attachment.ContentType != "image/png" ||
		mi.Attachment.Size != int64(len(img)) || mi.Attachment.Name != "dot.png" || mi.ClientID != "img-1" {
		t.Fatalf("image message %+v (attachment %+v)", mi, mi.Attachment)
	}
	// Multipart voice note with duration; the text fields after the file.
	voice := webmVoice()
	var b bytes.Buffer
	body2, ct2 := multipartBody(t, nil, "voice", "clip.webm", voice)
	b.ReadFrom(body2)
	raw := b.String()
	end := strings.LastIndex(raw, "--"+strings.TrimPrefix(ct2, "multipart/form-data; boundary="))
	boundary := strings.TrimPrefix(ct2, "multipart/form-data; boundary=")
	raw = raw[:end] + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"duration_ms\"\r\n\r\n4200\r\n--" + boundary + "--\r\n"
	var mv protocol.Message
	mia.mustJSON("POST", base+"/messages", strings.NewReader(raw), 201, &mv, "Content-Type", ct2)
	if mv.Type != "voice" || mv.DurationMS != 4200 || mv.Attachment == nil || mv.Attachment.ContentType != "audio/webm" {
		t.Fatalf("voice message %+v (attachment %+v)", mv, mv.Attachment)
	}
	// Ogg Opus voice too.
	body3, ct3 := multipartBody(t, map[string]string{"duration_ms": "900"}, "voice", "clip.ogg", oggOpus())
	var mo protocol.Message
	mia.mustJSON("POST", base+"/messages", body3, 201, &mo, "Content-Type", ct3)
	if mo.Attachment == nil || mo.Attachment.ContentType != "audio/ogg" {
		t.Fatalf("ogg message %+v", mo)
	}

	// The download, as another member sees it.
	r := olivia.do("GET", "/attachments/"+mi.Attachment.ID, nil)
	sum := sha256.Sum256(img)
	wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
	if r.status != 200 || !bytes.Equal(r.body, img) {
		t.Fatalf("download: %d, %d bytes", r.status, len(r.body))
	}
	checkDownloadHeaders(t, r, "image/png", "inline", wantETag)
	// Ranges and conditional requests.
	r = olivia.do("GET", "/attachments/"+mi.Attachment.ID, nil, "Range", "bytes=0-3")
	if r.status != 206 || !bytes.Equal(r.body, img[:4]) {
		t.Fatalf("range: %d %q", r.status, r.body)
	}
	r = olivia.do("GET", "/attachments/"+mi.Attachment.ID, nil, "If-None-Match", wantETag)
	if r.status != 304 {
		t.Fatalf("If-None-Match: %d", r.status)
	}
	r = olivia.do("GET", "/attachments/"+mv.Attachment.ID, nil)
	if r.status != 200 || !bytes.Equal(r.body, voice) {
		t.Fatalf("voice download: %d", r.status)
	}
	checkDownloadHeaders(t, r, "audio/webm", "inline", "")

	// Upload first (raw body, Content-Type ignored), then send by id.
	pdf := []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
	var att protocol.Attachment
	mia.mustJSON("POST", base+"/attachments?kind=file&name="+url.QueryEscape("report \"Q1\".pdf"), pdf, 201, &att, "Content-Type", "image/png")
	if att.ContentType != "application/pdf" || att.Kind != "file" || !strings.HasPrefix(att.URL, "/api/v1/downloads/"+e.acc.ID+"/"+att.ID+"?") {
		t.Fatalf("attachment %+v", att)
	}
	var mf protocol.Message
	mia.mustJSON("POST", base+"/messages", protocol.SendRequest{Type: "file", AttachmentID: att.ID, Text: "the report"}, 201, &mf)
	if mf.Attachment == nil || mf.Attachment.ID != att.ID {
		t.Fatalf("file message %+v", mf)
	}
	r = olivia.do("GET", "/attachments/"+att.ID, nil)
	checkDownloadHeaders(t, r, "application/pdf", "attachment", "")
	if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, "filename=") || strings.ContainsAny(cd, "\r\n") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	// Multipart upload, kind from the part name.
	body4, ct4 := multipartBody(t, map[string]string{"note": "ignored"}, "image", "x.png", img)
	mia.mustJSON("POST", base+"/attachments", body4, 201, &att, "Content-Type", ct4)
	if att.Kind != "image" || att.ContentType != "image/png" {
		t.Fatalf("multipart attachment %+v", att)
	}
	// Only the uploader may send it.
	olivia.wantErr("POST", base+"/messages", protocol.SendRequest{Type: "image", AttachmentID: att.ID}, 404, "not_found")
	mia.wantErr("POST", base+"/attachments", img, 400, "bad_request") // no kind
	mia.wantErr("POST", base+"/attachments?kind=sticker", img, 400, "bad_request")
	body5, ct5 := multipartBody(t, map[string]string{"text": "no file"}, "", "", nil)
	mia.wantErr("POST", base+"/messages", body5, 400, "bad_request", "Content-Type", ct5)
}

func checkDownloadHeaders(t *testing.T, r reply, ctype, disp, etag string) {
	t.Helper()
	h := r.header
	if got := h.Get("Content-Type"); got != ctype {
		t.Errorf("Content-Type %q, want %q", got, ctype)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", got)
	}
	if got := h.Get("Content-Disposition"); !strings.HasPrefix(got, disp) {
		t.Errorf("Content-Disposition %q, want %s", got, disp)
	}
	if got := h.Get("Cache-Control"); got != "private" {
		t.Errorf("Cache-Control %q", got)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges %q", h.Get("Accept-Ranges"))
	}
	if etag != "" && h.Get("ETag") != etag {
		t.Errorf("ETag %q, want %q", h.Get("ETag"), etag)
	}
}

func TestRejectedUploadsLeaveNothing(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team"}, 201, &g)
	base := "/conversations/" + g.ID
	html := []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
	big := append(pngBytes(t), make([]byte, int(testLimits.Image))...)
	cases := []struct {
		name         string
		path, field  string
		data         []byte
		multipart    bool
		status       int
		code         string
		contentType  string
		sendTextLast bool
	}{
		{"raw html as image", "/attachments?kind=image", "", html, false, 400, "unsupported_type", "image/png", false},
		{"raw html as file", "/attachments?kind=file&name=a.txt", "", html, false, 400, "unsupported_type", "", false},
		{"raw svg as image", "/attachments?kind=image", "", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), false, 400, "unsupported_type", "", false},
		{"raw png as voice", "/attachments?kind=voice", "", pngBytes(t), false, 400, "unsupported_type", "", false},
		{"raw over the limit", "/attachments?kind=image", "", big, false, 413, "file_too_large", "", false},
		{"raw over the body cap", "/attachments?kind=file", "", bytes.Repeat([]byte("a"), 8<<10+2<<20), false, 413, "file_too_large", "", false},
		{"multipart html image", "/messages", "image", html, true, 400, "unsupported_type", "", false},
		{"multipart over the limit", "/messages", "image", big, true, 413, "file_too_large", "", false},
		{"multipart voice that is a png", "/messages", "voice", pngBytes(t), true, 400, "unsupported_type", "", false},
		{"multipart upload over the limit", "/attachments", "file", bytes.Repeat([]byte("b"), 9<<10), true, 413, "file_too_large", "", false},
		{"empty upload", "/attachments?kind=file", "", nil, false, 400, "bad_request", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r reply
			if c.multipart {
				body, ct := multipartBody(t, map[string]string{"text": "caption"}, c.field, "f.bin", c.data)
				r = mia.do("POST", base+c.path, body, "Content-Type", ct)
			} else {
				hdr := []string{}
				if c.contentType != "" {
					hdr = append(hdr, "Content-Type", c.contentType)
				}
				r = mia.do("POST", base+c.path, c.data, hdr...)
			}
			if r.status != c.status || r.code() != c.code {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.code(), c.status, c.code, r.body)
			}
			if files := e.blobFiles(); len(files) != 0 {
				t.Fatalf("blob dir not empty: %v", files)
			}
			if ms := e.messages(g.ID); len(ms) != 0 {
				t.Fatalf("messages stored: %+v", ms)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, api.Config{MessagesPerSecond: 0.001, MessagesBurst: 8})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	max := e.user(e.acc, "max", protocol.RoleMember)
	var g protocol.Conversation
	// Of the 8 units, e.user spent 0.2 (a read), creating spends 5 and a
	// send 1 (no WebSocket audience here): a third send is refused.
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"max"}}, 201, &g)
	mia.send(g.ID, "1")
	mia.send(g.ID, "2")
	r := mia.wantErr("POST", "/conversations/"+g.ID+"/messages", protocol.SendRequest{Text: "3"}, 429, "rate_limited")
	if s, _ := strconv.Atoi(r.header.Get("Retry-After")); s < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if !strings.Contains(string(r.body), `"retry_after_ms":`) {
		t.Fatalf("no retry_after_ms in %s", r.body)
	}
	// Every request spends from the same budget; reads cost less: one
	// history page (0.5) still fits in the 0.8 left, a second does not.
	mia.mustJSON("GET", "/conversations/"+g.ID+"/messages", nil, 200, nil)
	mia.wantErr("GET", "/conversations/"+g.ID+"/messages", nil, 429, "rate_limited")
	mia.wantErr("PUT", "/presence", protocol.StatusRequest{Status: protocol.StatusAway}, 429, "rate_limited")
	if n := len(e.messages(g.ID)); n != 2 {
		t.Fatalf("%d messages stored", n)
	}
	max.send(g.ID, "another user has their own bucket")
}

func TestCORS(t *testing.T) {
	e := newEnv(t, api.Config{AllowedOrigins: []string{"https://site.example"}})
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/api/v1/conversations/x/messages", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := pre("https://site.example")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://site.example" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	allowH := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "idempotency-key", "content-type"} {
		if !strings.Contains(allowH, h) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowH, h)
		}
	}
	for _, m := range []string{"PATCH", "DELETE", "PUT"} {
		if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), m) {
			t.Errorf("Access-Control-Allow-Methods lacks %s", m)
		}
	}
	if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed")
	}
	resp = pre("https://evil.example")
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", resp.StatusCode, resp.Header)
	}
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	r := mia.do("GET", "/me", nil, "Origin", "https://site.example")
	if r.header.Get("Access-Control-Allow-Origin") != "https://site.example" || !strings.Contains(r.header.Get("Vary"), "Origin") {
		t.Fatalf("simple request headers %v", r.header)
	}
	r = mia.do("GET", "/me", nil, "Origin", "https://evil.example")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", r.header)
	}

	// Empty list: any origin.
	e2 := newEnv(t, api.Config{})
	v := e2.user(e2.acc, "v", protocol.RoleVisitor)
	r = v.do("GET", "/me", nil, "Origin", "https://anywhere.example")
	if r.header.Get("Access-Control-Allow-Origin") != "https://anywhere.example" {
		t.Fatalf("any origin: %v", r.header)
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	mia.wantErr("GET", "/nope", nil, 404, "not_found")
	r := mia.wantErr("DELETE", "/me", nil, 405, "bad_request")
	if r.header.Get("Allow") != "GET" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	// JSON error shape and no caching.
	r = e.as("").wantErr("GET", "/me", nil, 401, "unauthenticated")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("headers %v", r.header)
	}
	e.as("").wantErr("GET", "/me", nil, 401, "unauthenticated", "Authorization", "Basic abc")
	mia.wantErr("POST", "/tokens", nil, 403, "forbidden")
	// The OpenAPI document needs no credential.
	r = e.as("").do("GET", "/openapi.json", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"openapi"`)) {
		t.Fatalf("openapi.json: %d", r.status)
	}
}
