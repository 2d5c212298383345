package protocol

import _ "embed"

// JSONSchema is the machine-readable form of docs/protocol.md (JSON Schema
// 2020-12): the envelope, the data of every event the server pushes
// ("events"), and of every request and its reply ("requests"). The server
// serves it at /api/v1/protocol.json; docs/protocol.json is a copy, and the
// WebSocket tests check every frame the server sends against it
// (protocol/wiretest).
//
// To change the wire: edit protocol.json (a new event under "events", a new
// request under "requests", a field in its $defs type, a code in
// $defs/Error's enum), copy it to docs/ (TestSchemaDocsCopy says so), and
// say the same in docs/protocol.md.
//
//go:embed protocol.json
var JSONSchema []byte
