package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

func loadSpec(t *testing.T, b []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes checks that the document describes exactly the
// routes of the route table, and that it is a valid OpenAPI 3.0 document.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadSpec(t, api.OpenAPISpec)
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented = append(documented, method+" "+path)
			if op.OperationID == "" || op.Summary == "" || len(op.Responses.Map()) == 0 {
				t.Errorf("%s %s: needs operationId, summary and responses", method, path)
			}
			// Public operations (security: []) take no credential; those
			// that can still answer 401 (a bad identity or password) say so.
			public := op.Security != nil && len(*op.Security) == 0
			if !public && op.Responses.Value("401") == nil {
				t.Errorf("%s %s: does not document 401", method, path)
			}
		}
	}
	routes := api.Routes()
	slices.Sort(documented)
	slices.Sort(routes)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json documents %s, which is not a route", d)
		}
	}
	for _, name := range []string{"Message", "Conversation", "Attachment", "Error", "ReadState", "Presence", "HistoryReply"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s missing", name)
		}
	}
	for _, name := range []string{"bearerToken", "apiKey"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %s missing", name)
		}
	}
}

// TestOpenAPIErrorCodes checks that the Error schema lists every stable
// code a REST client can get.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc := loadSpec(t, api.OpenAPISpec)
	code := doc.Components.Schemas["Error"].Value.Properties["error"].Value.Properties["code"].Value
	var listed []string
	for _, v := range code.Enum {
		listed = append(listed, v.(string))
	}
	for _, c := range []string{apperr.CodeInternal, apperr.CodeBadRequest, apperr.CodeUnauthenticated, apperr.CodeTokenExpired,
		apperr.CodeForbidden, apperr.CodeNotMember, apperr.CodeNotFound, apperr.CodeNotSender, apperr.CodeMessageDeleted,
		apperr.CodeMessageTooLarge, apperr.CodeRateLimited, apperr.CodeFileTooLarge, apperr.CodeUnsupportedType,
		apperr.CodeConflict, apperr.CodeShuttingDown, apperr.CodeInvalidConversation,
		apperr.CodeAddressInvalid, apperr.CodeBadCredentials, apperr.CodeLinkInvalid, apperr.CodeLoginTaken,
		apperr.CodeURLExpired, apperr.CodeURLInvalid} {
		if !slices.Contains(listed, c) {
			t.Errorf("error code %q is not documented", c)
		}
	}
}

// TestOpenAPIServed checks the served document: valid, with the public URL
// as its server.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, api.Config{PublicURL: "https://chat.example.com/"})
	r := e.as("").do("GET", "/openapi.json", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, %v", r.status, r.header)
	}
	doc := loadSpec(t, r.body)
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "https://chat.example.com" {
		t.Fatalf("servers %+v", doc.Servers)
	}
}

// TestOpenAPIDocsCopy keeps docs/openapi.json identical to the embedded one.
func TestOpenAPIDocsCopy(t *testing.T) {
	b, err := os.ReadFile("../../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, api.OpenAPISpec) {
		t.Fatal("docs/openapi.json differs from internal/transport/api/openapi.json: cp internal/transport/api/openapi.json docs/")
	}
	if !json.Valid(b) {
		t.Fatal("not JSON")
	}
}

// TestOpenAPIMessageTypes checks that the Message schema lists every
// message type history can return, the server's call events included.
func TestOpenAPIMessageTypes(t *testing.T) {
	doc := loadSpec(t, api.OpenAPISpec)
	typ := doc.Components.Schemas["Message"].Value.Properties["type"].Value
	for _, want := range []string{protocol.TypeText, protocol.TypeImage, protocol.TypeVoice, protocol.TypeFile, protocol.TypeCall} {
		if !slices.Contains(typ.Enum, any(want)) {
			t.Errorf("message type %q is not documented", want)
		}
	}
}

// TestProtocolServed: the WebSocket protocol's document is served beside
// this one, byte for byte the embedded copy, and compiles.
func TestProtocolServed(t *testing.T) {
	e := newEnv(t, api.Config{})
	r := e.as("").do("GET", "/protocol.json", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, %v", r.status, r.header)
	}
	if !bytes.Equal(r.body, protocol.JSONSchema) {
		t.Fatal("served protocol.json differs from protocol.JSONSchema")
	}
	if _, err := wiretest.Load(r.body); err != nil {
		t.Fatal(err)
	}
}
