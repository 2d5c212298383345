package api_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

// TestDownloadRanges: a zero-byte suffix range is unsatisfiable (416 with
// the size), and many small ranges are answered with the whole file (200),
// never with a multipart answer larger than it.
func TestDownloadRanges(t *testing.T) {
	e := newEnv(t, api.Config{})
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team"}, 201, &g)
	file := []byte("%PDF-1.4\n" + strings.Repeat("0123456789abcdef", 256) + "\n%%EOF\n")
	var att protocol.Attachment
	mia.mustJSON("POST", "/conversations/"+g.ID+"/attachments?kind=file&name=r.pdf", file, 201, &att)
	path := "/attachments/" + att.ID
	size := strconv.Itoa(len(file))

	for _, rh := range []string{"bytes=-0", "bytes= -0", "bytes=-0,-00"} {
		r := mia.do("GET", path, nil, "Range", rh)
		if r.status != 416 || r.header.Get("Content-Range") != "bytes */"+size {
			t.Fatalf("Range %q: %d, Content-Range %q, want 416 bytes */%s", rh, r.status, r.header.Get("Content-Range"), size)
		}
	}
	// A zero suffix beside a satisfiable range: the satisfiable one is served.
	r := mia.do("GET", path, nil, "Range", "bytes=-0,0-3")
	if r.status != 206 || !bytes.Equal(r.body, file[:4]) || r.header.Get("Content-Range") != "bytes 0-3/"+size {
		t.Fatalf("bytes=-0,0-3: %d %q %q", r.status, r.header.Get("Content-Range"), r.body)
	}
	// With If-Range, Range may not apply at all: ignored, whole file.
	r = mia.do("GET", path, nil, "Range", "bytes=-0", "If-Range", `"`+"x"+`"`)
	if r.status != 200 || !bytes.Equal(r.body, file) {
		t.Fatalf("bytes=-0 with If-Range: %d, %d bytes", r.status, len(r.body))
	}
	// A few ranges still make a multipart answer.
	r = mia.do("GET", path, nil, "Range", "bytes=0-1,10-11")
	if r.status != 206 || !strings.HasPrefix(r.header.Get("Content-Type"), "multipart/byteranges") {
		t.Fatalf("two ranges: %d %q", r.status, r.header.Get("Content-Type"))
	}
	// Hundreds of one-byte ranges: the whole file, no larger.
	var specs []string
	for i := 0; i < len(file); i += 8 {
		specs = append(specs, fmt.Sprintf("%d-%d", i, i))
	}
	r = mia.do("GET", path, nil, "Range", "bytes="+strings.Join(specs, ","))
	if r.status != 200 || !bytes.Equal(r.body, file) {
		t.Fatalf("%d ranges: %d, %d bytes for a %d-byte file", len(specs), r.status, len(r.body), len(file))
	}
	// HEAD agrees.
	r = mia.do("HEAD", path, nil, "Range", "bytes=-0")
	if r.status != 416 {
		t.Fatalf("HEAD bytes=-0: %d", r.status)
	}
}
