package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/push"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Small upload limits so "over the limit" needs no big bodies.
var testLimits = media.Limits{Image: 8 << 10, Voice: 8 << 10, File: 8 << 10}

type env struct {
	t       *testing.T
	srv     *httptest.Server
	st      *sqlite.Store
	auth    *auth.Authenticator
	chat    *chat.Service
	inbox   *inbox.Service
	secret  []byte
	blobDir string
	links   *media.Links  // signs the chat's download URLs
	acc     store.Account // account A
	key     string        // A's API key
	accB    store.Account
	keyB    string
}

func newEnv(t *testing.T, cfg api.Config) *env {
	t.Helper()
	return newEnvBlobs(t, cfg, nil)
}

// newEnvBlobs is newEnv on a blob store of the caller's (nil: a folder in
// the test's temp dir).
func newEnvBlobs(t *testing.T, cfg api.Config, blobs *media.Store) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blobDir := filepath.Join(dir, "blobs")
	if blobs == nil {
		if blobs, err = media.NewStore(blobDir, testLimits); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(blobs.Close)
	b := local.New()
	secret := []byte(auth.NewSecret(32))
	links := media.NewLinks(secret, 0)
	c := chat.New(st, b, blobs, chat.Config{MaxMessageBytes: 1000, Links: links})
	a := auth.New(st, secret, 720*time.Hour)
	if cfg.MessagesPerSecond == 0 {
		cfg.MessagesPerSecond, cfg.MessagesBurst = 10000, 10000
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://chat.example"
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = 8 << 10
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a.SetBcryptCost(4) // the cheapest: these tests check behaviour, not hashing cost
	in := inbox.New(st, a, c, inbox.Config{PublicURL: "https://chat.example"})
	pu, err := push.New(ctx, st, push.Config{PublicURL: cfg.PublicURL}, c.Online, log)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(cfg, a, c, in, pu, log)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", h.Handler())
	srv := httptest.NewServer(mux)
	e := &env{t: t, srv: srv, st: st, auth: a, chat: c, inbox: in, secret: secret, blobDir: blobDir, links: links}
	t.Cleanup(func() {
		srv.Close()
		c.Close()
		pu.Close()
		_ = b.Close()
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	e.acc, e.key, err = auth.CreateAccount(ctx, st, "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.accB, e.keyB, err = auth.CreateAccount(ctx, st, "other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// user mints a token for name in account acc and makes sure the user exists.
func (e *env) user(acc store.Account, name, role string) *client {
	e.t.Helper()
	tok, err := e.auth.Mint(auth.MintRequest{AccountID: acc.ID, User: name, Role: role, DisplayName: strings.ToUpper(name[:1]) + name[1:], TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	c := &client{e: e, tok: tok}
	var me struct {
		User protocol.User `json:"user"`
	}
	c.mustJSON("GET", "/me", nil, 200, &me)
	c.id = me.User.ID
	c.name = name
	return c
}

// expiredToken is a validly signed token whose exp has passed.
func (e *env) expiredToken(name, role string) string {
	tok, err := auth.Mint(auth.ServerKeyID, e.secret, auth.MintRequest{AccountID: e.acc.ID, User: name, Role: role, TTL: time.Hour}, time.Now().Add(-2*time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// client calls the API with one credential.
type client struct {
	e    *env
	tok  string
	id   string // user id ("" for API keys and anonymous)
	name string
}

func (e *env) as(tok string) *client { return &client{e: e, tok: tok} }

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) code() string {
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &eb)
	return eb.Error.Code
}

// do sends a request. body is JSON-encoded unless it is an io.Reader or []byte.
func (c *client) do(method, path string, body any, hdr ...string) reply {
	c.e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.e.srv.URL+"/api/v1"+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.e.srv.Client().Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

// mustJSON calls and checks the status, decoding the body into out.
func (c *client) mustJSON(method, path string, body any, want int, out any, hdr ...string) reply {
	c.e.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.status != want {
		c.e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.e.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

// wantErr calls and checks status and error code.
func (c *client) wantErr(method, path string, body any, status int, code string, hdr ...string) reply {
	c.e.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.status != status || r.code() != code {
		c.e.t.Fatalf("%s %s: got %d %q, want %d %q: %s", method, path, r.status, r.code(), status, code, r.body)
	}
	return r
}

func (c *client) send(convID, text string) protocol.Message {
	c.e.t.Helper()
	var m protocol.Message
	c.mustJSON("POST", "/conversations/"+convID+"/messages", protocol.SendRequest{Text: text}, 201, &m)
	return m
}

// multipartBody builds a multipart/form-data body: fields first, then one
// file part (skipped when fileField is "").
func multipartBody(t testing.TB, fields map[string]string, fileField, fileName string, data []byte) (io.Reader, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := w.WriteField(k, fields[k]); err != nil {
			t.Fatal(err)
		}
	}
	if fileField != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+fileField+`"; filename="`+fileName+`"`)
		h.Set("Content-Type", "application/octet-stream")
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = p.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &b, w.FormDataContentType()
}

func pngBytes(t testing.TB) []byte {
	m := image.NewRGBA(image.Rect(0, 0, 2, 2))
	m.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webmVoice is the EBML header MediaRecorder writes for audio/webm, then a
// Segment of unknown size with an empty Info, as a live recording starts.
func webmVoice() []byte {
	docType := "webm"
	body := []byte{
		0x42, 0x86, 0x81, 0x01, // EBMLVersion 1
		0x42, 0xF7, 0x81, 0x01, // EBMLReadVersion 1
		0x42, 0xF2, 0x81, 0x04, // EBMLMaxIDLength 4
		0x42, 0xF3, 0x81, 0x08, // EBMLMaxSizeLength 8
		0x42, 0x82, 0x80 | byte(len(docType)),
	}
	body = append(body, docType...)
	body = append(body, 0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02)
	out := []byte{0x1A, 0x45, 0xDF, 0xA3, 0x80 | byte(len(body))}
	out = append(out, body...)
	return append(out, 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x15, 0x49, 0xA9, 0x66, 0x80)
}

// oggOpus is a beginning-of-stream Ogg page carrying an OpusHead packet.
func oggOpus() []byte {
	head := []byte("OpusHead")
	head = append(head, 1, 1)
	head = binary.LittleEndian.AppendUint16(head, 312)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0)
	p := []byte("OggS")
	p = append(p, 0, 0x02)
	p = append(p, make([]byte, 8)...)
	p = binary.LittleEndian.AppendUint32(p, 0x1234)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = append(p, 1, byte(len(head)))
	return append(p, head...)
}

// blobFiles lists the regular files under the blob directory, but for the
// lock file that claims the store's upload folder.
func (e *env) blobFiles() []string {
	var out []string
	_ = filepath.WalkDir(e.blobDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".lock") {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// messages lists a conversation's stored messages straight from the store.
func (e *env) messages(convID string) []store.Message {
	e.t.Helper()
	ms, err := e.st.ListMessages(context.Background(), convID, 0, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func (e *env) members(convID string) []string {
	e.t.Helper()
	ms, err := e.st.ListMembers(context.Background(), convID)
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(ms)
	return ms
}
