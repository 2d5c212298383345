package protocol

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeEnvelope checks that the decoder never panics and that what it
// accepts is what the server relies on: a well-formed event name, an id
// within the limit, and data that is either absent or valid JSON.
// protocol/testdata/fuzz/FuzzDecodeEnvelope holds more seeds, run by go test.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"event":"chat:send","id":"1","data":{"conversation_id":"cnv_1","text":"hi"}}`,
		`{"event":"ping"}`,
		`{"event":"auth","id":"a","data":{"token":"x.y.z"}}`,
		`{"event":"chat:sync","id":"2","data":{"cursors":{"cnv_1":10}}}`,
		`{"event":"","id":"1"}`,
		`{"event":"Chat:Send"}`,
		`{"event":"a:b:c"}`,
		`{"event":":x"}`,
		`{"event":"x:"}`,
		`{"event":"chat:send","id":1}`,
		`{"event":"chat:send","data":null}`,
		`{"event":"chat:send","id":"\u0000\"\\"}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"event":"ping","event":"chat:send"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			if e.Event != "" || e.ID != "" || e.Data != nil {
				t.Fatalf("rejected envelope is not empty: %+v", e)
			}
			return
		}
		if !validEvent(e.Event) || e.Event == "" || len(e.Event) > MaxEventLen {
			t.Fatalf("accepted bad event %q", e.Event)
		}
		for i := 0; i < len(e.Event); i++ {
			c := e.Event[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ':') {
				t.Fatalf("accepted event %q with byte %q", e.Event, c)
			}
		}
		if e.Event[0] == ':' || e.Event[len(e.Event)-1] == ':' {
			t.Fatalf("accepted event %q", e.Event)
		}
		if len(e.ID) > MaxIDLen {
			t.Fatalf("accepted id of %d bytes", len(e.ID))
		}
		if e.Data != nil && (!json.Valid(e.Data) || string(e.Data) == "null") {
			t.Fatalf("accepted data %q", e.Data)
		}
		// What was accepted encodes and decodes to the same envelope.
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := DecodeEnvelope(out)
		if err != nil || e2.Event != e.Event || e2.ID != e.ID {
			t.Fatalf("round trip: %+v → %s → %+v, %v", e, out, e2, err)
		}
	})
}
