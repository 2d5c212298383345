package api_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

// call is one request of the permission matrix.
type call struct {
	name   string
	method string
	path   string
	body   func(t *testing.T) (any, []string) // body and extra headers
}

func jsonBody(v any) func(*testing.T) (any, []string) {
	return func(*testing.T) (any, []string) { return v, nil }
}

// convCalls are the routes that read, write or download something of
// conversation conv (message msg, attachment att).
func convCalls(conv, msg, att string) []call {
	c := "/conversations/" + conv
	return []call{
		{"get conversation", "GET", c, nil},
		{"history", "GET", c + "/messages?limit=10", nil},
		{"send", "POST", c + "/messages", jsonBody(protocol.SendRequest{ClientID: "intrude", Text: "intrusion"})},
		{"send multipart", "POST", c + "/messages", func(t *testing.T) (any, []string) {
			b, ct := multipartBody(t, map[string]string{"text": "intrusion"}, "image", "x.png", pngBytes(t))
			return b, []string{"Content-Type", ct}
		}},
		{"edit", "PATCH", c + "/messages/" + msg, jsonBody(map[string]string{"text": "hacked"})},
		{"delete", "DELETE", c + "/messages/" + msg, nil},
		{"read", "POST", c + "/read", jsonBody(map[string]int64{"seq": 1})},
		{"typing", "POST", c + "/typing", jsonBody(map[string]bool{"is_typing": true})},
		{"upload", "POST", c + "/attachments?kind=image", func(t *testing.T) (any, []string) { return pngBytes(t), nil }},
		{"upload multipart", "POST", c + "/attachments", func(t *testing.T) (any, []string) {
			b, ct := multipartBody(t, nil, "image", "x.png", pngBytes(t))
			return b, []string{"Content-Type", ct}
		}},
		{"download", "GET", "/attachments/" + att, nil},
		{"leave", "POST", c + "/leave", nil},
		{"join", "POST", c + "/join", nil},
	}
}

// globalCalls are the routes not scoped to one conversation.
func globalCalls() []call {
	return []call{
		{"me", "GET", "/me", nil},
		{"tokens", "POST", "/tokens", jsonBody(map[string]string{"user": "x", "role": "owner"})},
		{"list conversations", "GET", "/conversations", nil},
		{"create group", "POST", "/conversations", jsonBody(protocol.CreateConversationRequest{Kind: "group", Name: "g"})},
		{"inbox", "POST", "/inbox", nil},
		{"set presence", "PUT", "/presence", jsonBody(protocol.StatusRequest{Status: "busy"})},
		{"get presence", "GET", "/presence?user_ids=usr_x", nil},
	}
}

func TestPermissionMatrix(t *testing.T) {
	e := newEnv(t, api.Config{})
	ctx := context.Background()
	olivia := e.user(e.acc, "olivia", protocol.RoleOwner)
	adam := e.user(e.acc, "adam", protocol.RoleAgent)
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	max := e.user(e.acc, "max", protocol.RoleMember)
	vera := e.user(e.acc, "vera", protocol.RoleVisitor)
	victor := e.user(e.acc, "victor", protocol.RoleVisitor)
	bob := e.user(e.accB, "bob", protocol.RoleOwner)
	everyone := []*client{olivia, adam, mia, max, vera, victor, bob}

	// Group G: mia, olivia, adam. max is not in it.
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"olivia", "adam"}}, 201, &g)
	gMsg := mia.send(g.ID, "hello team")
	body, ct := multipartBody(t, map[string]string{"text": "pic"}, "image", "a.png", pngBytes(t))
	var gImg protocol.Message
	mia.mustJSON("POST", "/conversations/"+g.ID+"/messages", body, 201, &gImg, "Content-Type", ct)
	// Vera's inbox I.
	var in protocol.Conversation
	vera.mustJSON("POST", "/inbox", nil, 200, &in)
	iMsg := vera.send(in.ID, "hello, anyone?")
	body, ct = multipartBody(t, nil, "voice", "v.webm", webmVoice())
	var iVoice protocol.Message
	vera.mustJSON("POST", "/conversations/"+in.ID+"/messages", body, 201, &iVoice, "Content-Type", ct)

	snapshot := func() string {
		s := fmt.Sprintf("G %+v\nI %+v\nGm %v\nIm %v\nblobs %v\n", e.messages(g.ID), e.messages(in.ID), e.members(g.ID), e.members(in.ID), e.blobFiles())
		for _, c := range everyone {
			acc := e.acc.ID
			if c == bob {
				acc = e.accB.ID
			}
			u, err := e.st.GetUser(ctx, acc, c.id)
			if err != nil {
				t.Fatal(err)
			}
			rg, _ := e.st.GetReadSeq(ctx, g.ID, c.id)
			ri, _ := e.st.GetReadSeq(ctx, in.ID, c.id)
			s += fmt.Sprintf("%s status=%q read G=%d I=%d\n", c.name, u.Status, rg, ri)
		}
		convs, err := e.st.ListConversations(ctx, e.acc.ID, olivia.id, true, time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		return s + fmt.Sprintf("conversations %d", len(convs))
	}

	type refusal struct {
		who    string
		caller *client
		calls  []call
		status int
		code   string
		except map[string][2]any // call name → {status, code} when it differs
	}
	expired := e.as(e.expiredToken("mia", protocol.RoleMember))
	none := e.as("")
	garbage := e.as("not.a.token")
	badKey := e.as("key_nope.secret")
	all := func(conv, msg, att string) []call { return append(convCalls(conv, msg, att), globalCalls()...) }
	gCalls := convCalls(g.ID, gMsg.ID, gImg.Attachment.ID)
	iCalls := convCalls(in.ID, iMsg.ID, iVoice.Attachment.ID)
	keyA := e.as(e.key)
	keyB := e.as(e.keyB)
	writes := map[string]bool{"send": true, "send multipart": true, "edit": true, "delete": true, "read": true,
		"typing": true, "upload": true, "upload multipart": true, "leave": true, "join": true}
	var keyWrites []call
	for _, c := range gCalls {
		if writes[c.name] {
			keyWrites = append(keyWrites, c)
		}
	}

	keyWriteForbidden := map[string][2]any{}
	for name := range writes {
		keyWriteForbidden[name] = [2]any{403, "forbidden"}
	}

	cases := []refusal{
		{who: "non-member of a group", caller: max, calls: gCalls, status: 403, code: "not_member",
			except: map[string][2]any{"join": {0, ""}}}, // anyone of the account may join a group
		{who: "another visitor on an inbox", caller: victor, calls: iCalls, status: 403, code: "not_member",
			except: map[string][2]any{"join": {403, "forbidden"}}},
		{who: "member on an inbox", caller: mia, calls: iCalls, status: 403, code: "not_member",
			except: map[string][2]any{"join": {400, "invalid_conversation"}}},
		{who: "visitor on a group", caller: vera, calls: gCalls, status: 403, code: "not_member",
			except: map[string][2]any{"join": {403, "forbidden"}}},
		{who: "other account on a group", caller: bob, calls: gCalls, status: 404, code: "not_found"},
		{who: "other account on an inbox", caller: bob, calls: iCalls, status: 404, code: "not_found"},
		// An API key writes nothing anywhere (forbidden before any lookup,
		// so that reveals nothing either); its reads of other tenants' ids
		// are not_found.
		{who: "other account's API key", caller: keyB, calls: gCalls, status: 404, code: "not_found", except: keyWriteForbidden},
		{who: "API key writing", caller: keyA, calls: keyWrites, status: 403, code: "forbidden"},
		{who: "expired token", caller: expired, calls: all(g.ID, gMsg.ID, gImg.Attachment.ID), status: 401, code: "token_expired"},
		{who: "no token", caller: none, calls: all(g.ID, gMsg.ID, gImg.Attachment.ID), status: 401, code: "unauthenticated"},
		{who: "garbage token", caller: garbage, calls: all(in.ID, iMsg.ID, iVoice.Attachment.ID), status: 401, code: "unauthenticated"},
		{who: "unknown API key", caller: badKey, calls: all(g.ID, gMsg.ID, gImg.Attachment.ID), status: 401, code: "unauthenticated"},
		{who: "visitor creating conversations", caller: vera, status: 403, code: "forbidden", calls: []call{
			{"create group", "POST", "/conversations", jsonBody(protocol.CreateConversationRequest{Kind: "group", Name: "mine"})},
			{"create direct", "POST", "/conversations", jsonBody(protocol.CreateConversationRequest{Kind: "direct", Members: []string{"adam"}})},
		}},
		{who: "adding a visitor to a group", caller: mia, status: 403, code: "forbidden", calls: []call{
			{"create group", "POST", "/conversations", jsonBody(protocol.CreateConversationRequest{Kind: "group", Name: "x", Members: []string{"vera"}})},
		}},
		{who: "visitor minting tokens", caller: vera, status: 403, code: "forbidden", calls: globalCalls()[1:2]},
		{who: "member minting tokens", caller: mia, status: 403, code: "forbidden", calls: globalCalls()[1:2]},
		{who: "agent minting tokens", caller: adam, status: 403, code: "forbidden", calls: globalCalls()[1:2]},
		{who: "owner minting tokens with a user token", caller: olivia, status: 403, code: "forbidden", calls: globalCalls()[1:2]},
		{who: "staff opening an inbox", caller: adam, status: 403, code: "forbidden", calls: globalCalls()[4:5]},
		{who: "visitor asking a member's presence", caller: vera, status: 404, code: "not_found", calls: []call{
			{"get presence", "GET", "/presence?user_ids=" + url.QueryEscape(mia.id), nil}}},
		{who: "owner editing another's message", caller: olivia, status: 403, code: "not_sender", calls: []call{gCalls[4]}},
		{who: "agent editing or deleting another's message", caller: adam, status: 403, code: "not_sender", calls: []call{gCalls[4], gCalls[5]}},
		{who: "agent editing or deleting a visitor's message", caller: adam, status: 403, code: "not_sender", calls: []call{iCalls[4], iCalls[5]}},
		{who: "visitor deleting a group message", caller: vera, status: 403, code: "not_member",
			calls: []call{gCalls[5]}},
	}

	for _, rc := range cases {
		for _, c := range rc.calls {
			status, code := rc.status, rc.code
			if ex, ok := rc.except[c.name]; ok {
				if ex[0].(int) == 0 {
					continue
				}
				status, code = ex[0].(int), ex[1].(string)
			}
			t.Run(rc.who+"/"+c.name, func(t *testing.T) {
				before := snapshot()
				var body any
				var hdr []string
				if c.body != nil {
					body, hdr = c.body(t)
				}
				r := rc.caller.do(c.method, c.path, body, hdr...)
				if r.status != status || r.code() != code {
					t.Fatalf("%s %s: got %d %q, want %d %q: %s", c.method, c.path, r.status, r.code(), status, code, r.body)
				}
				if after := snapshot(); after != before {
					t.Fatalf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			})
		}
	}

	// The owner may delete others' messages; staff may read and answer an inbox.
	t.Run("owner deletes another's message", func(t *testing.T) {
		var tomb protocol.Message
		olivia.mustJSON("DELETE", "/conversations/"+g.ID+"/messages/"+gMsg.ID, nil, 200, &tomb)
		if tomb.DeletedAt == nil {
			t.Fatalf("tombstone %+v", tomb)
		}
	})
	t.Run("staff answer an inbox", func(t *testing.T) {
		adam.send(in.ID, "how can I help?")
		r := adam.do("GET", "/attachments/"+iVoice.Attachment.ID, nil)
		if r.status != 200 || !reflect.DeepEqual(r.body, webmVoice()) {
			t.Fatalf("agent download: %d", r.status)
		}
		var h protocol.HistoryReply
		keyA.mustJSON("GET", "/conversations/"+in.ID+"/messages", nil, 200, &h) // API keys read
		if len(h.Messages) != 3 {
			t.Fatalf("history via API key: %d messages", len(h.Messages))
		}
	})
}
