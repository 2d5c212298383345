package protocol_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

// TestSchemaDocsCopy keeps docs/protocol.json identical to the embedded one.
func TestSchemaDocsCopy(t *testing.T) {
	b, err := os.ReadFile("../docs/protocol.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, protocol.JSONSchema) {
		t.Fatal("docs/protocol.json differs from protocol/protocol.json: cp protocol/protocol.json docs/")
	}
}

// TestSchemaCoversEveryEvent checks that every event name of this package
// is in the document: the server's events under "events", the client's
// requests under "requests".
func TestSchemaCoversEveryEvent(t *testing.T) {
	v, err := wiretest.Load(protocol.JSONSchema)
	if err != nil {
		t.Fatal(err)
	}
	events, requests := v.Events(), v.Requests()
	f, err := parser.ParseFile(token.NewFileSet(), "protocol.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Ev") || name.Name == "EvInboxRevoked" { // internal: never reaches a client
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				ev, _ := strconv.Unquote(lit.Value)
				n++
				if !slices.Contains(events, ev) && !slices.Contains(requests, ev) {
					t.Errorf("%s (%q) is neither in protocol.json#/events nor in #/requests", name.Name, ev)
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("found only %d event constants: has protocol.go changed shape?", n)
	}
}

// TestValidatorNamesEventAndPointer: a mismatch names the event, the part
// of the document and the JSON pointer into the frame.
func TestValidatorNamesEventAndPointer(t *testing.T) {
	v := wiretest.Default()
	good := `{"event":"chat:typing","data":{"conversation_id":"cnv_1","sender_id":"usr_1","is_typing":true}}`
	if err := v.Check([]byte(good), ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ frame, request, want string }{
		{`{"event":"chat:typing","data":{"conversation_id":"cnv_1","sender_id":"usr_1","is_typing":"yes"}}`, "",
			"chat:typing does not match protocol.json#/events/chat:typing/data:\n  at /data/is_typing: got string, want boolean"},
		{`{"event":"chat:read","id":"7","data":{"conversation_id":"c","user_id":"u","seq":1}}`, "chat:read",
			"chat:read (reply to chat:read) does not match protocol.json#/requests/chat:read/reply:\n  at /data: missing property 'unread'"},
		{`{"event":"chat:sent","data":{}}`, "", "event chat:sent is not in protocol.json#/events"},
		{`{"event":"chat:send","id":"8","data":{}}`, "chat:edit", "reply to chat:edit is chat:send"},
		{`{"event":"ping","id":"9","data":{"time":"2026-01-01T00:00:00Z"}}`, "", "a reply with id \"9\" to no request"},
		{`{"event":"error","id":"9","data":{"code":"no_such_code","message":"x"}}`, "ping", "at /data/code: value must be one of"},
		{`{"event":"Chat","data":{}}`, "", "envelope does not match"},
	} {
		err := v.Check([]byte(c.frame), c.request)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.frame, err, c.want)
		}
	}
}
