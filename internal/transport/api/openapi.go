package api

import (
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/protocol"
)

// openAPISpec is the hand-written OpenAPI 3.0 document of this package's
// routes; TestOpenAPIMatchesRoutes keeps it and the route table in step.
// docs/openapi.json is a copy of it.
//
//go:embed openapi.json
var openAPISpec []byte

// openAPIDocument returns the document to serve, naming publicURL as its
// server when one is configured.
func openAPIDocument(publicURL string) []byte {
	if publicURL == "" {
		return openAPISpec
	}
	var doc map[string]any
	if err := json.Unmarshal(openAPISpec, &doc); err != nil {
		panic("api: embedded openapi.json does not parse: " + err.Error()) // a test catches this first
	}
	doc["servers"] = []map[string]string{{"url": publicURL}}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("api: openapi.json: " + err.Error())
	}
	return append(b, '\n')
}

func (a *API) serveOpenAPI(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	serveJSONDocument(w, a.openapi)
	return nil
}

// serveProtocol serves the WebSocket protocol's JSON Schema document, the
// one copy embedded in package protocol.
func (a *API) serveProtocol(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	serveJSONDocument(w, protocol.JSONSchema)
	return nil
}

func serveJSONDocument(w http.ResponseWriter, doc []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(doc)
}
