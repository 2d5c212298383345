package push_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/hkdf"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/push"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/protocol"
)

// pushService is a stand-in for a browser vendor's push service (which
// cannot be reached from here): it records what it is sent.
type pushService struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
}

func newPushService(t *testing.T) *pushService {
	p := &pushService{status: http.StatusCreated}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.got = append(p.got, r)
		p.bodies = append(p.bodies, b)
		st := p.status
		p.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) requests() ([]*http.Request, [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.got...), append([][]byte(nil), p.bodies...)
}

// browser is a subscribing browser: its key pair and auth secret.
type browser struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t *testing.T) browser {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, 16)
	rand.Read(a)
	return browser{key: k, auth: a}
}

func (b browser) subscription(endpoint string) protocol.PushSubscription {
	var s protocol.PushSubscription
	s.Endpoint = endpoint
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(b.key.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(b.auth)
	return s
}

// decrypt opens an aes128gcm Web Push message as the browser does (RFC 8291, RFC 8188).
func (b browser) decrypt(t *testing.T, body []byte) []byte {
	t.Helper()
	if len(body) < 21 {
		t.Fatalf("body of %d bytes", len(body))
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	senderPub, ct := body[21:21+idlen], body[21+idlen:]
	if rs < 18 || uint32(len(ct)) > rs {
		t.Fatalf("record size %d for %d bytes", rs, len(ct))
	}
	as, err := ecdh.P256().NewPublicKey(senderPub)
	if err != nil {
		t.Fatalf("sender key: %v", err)
	}
	secret, err := b.key.ECDH(as)
	if err != nil {
		t.Fatal(err)
	}
	info := append(append([]byte("WebPush: info\x00"), b.key.PublicKey().Bytes()...), senderPub...)
	ikm := read(t, hkdf.New(sha256.New, secret, b.auth, info), 32)
	cek := read(t, hkdf.New(sha256.New, ikm, salt, []byte("Content-Encoding: aes128gcm\x00")), 16)
	nonce := read(t, hkdf.New(sha256.New, ikm, salt, []byte("Content-Encoding: nonce\x00")), 12)
	blk, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(blk)
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	i := bytes.LastIndexByte(plain, 2) // the last record's delimiter, then zero padding
	if i < 0 || strings.Trim(string(plain[i+1:]), "\x00") != "" {
		t.Fatalf("no padding delimiter in %q", plain)
	}
	return plain[:i]
}

func read(t *testing.T, r io.Reader, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

type env struct {
	st     *sqlite.Store
	push   *push.Service
	online map[string]bool
	ask    push.Online // when set, asked instead of online
	mu     sync.Mutex
	acc    store.Account
	ann    auth.Identity // an agent
}

func newEnv(t *testing.T, ps *pushService, allowPrivate bool) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, online: map[string]bool{}}
	e.acc, _, err = auth.CreateAccount(ctx, st, "Acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UpsertUser(ctx, store.User{ID: "usr_ann", AccountID: e.acc.ID, Name: "ann", Role: protocol.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	e.ann = auth.Identity{AccountID: e.acc.ID, UserID: u.ID, UserName: u.Name, Role: u.Role}
	tr := ps.srv.Client().Transport.(*http.Transport).Clone() // trusts the test server's certificate
	e.push, err = push.New(ctx, st, push.Config{Subject: "mailto:ops@acme.example", PublicURL: "https://chat.example",
		AllowPrivate: allowPrivate, Transport: tr}, func(ctx context.Context, uids ...string) ([]bool, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.ask != nil {
			return e.ask(ctx, uids...)
		}
		on := make([]bool, len(uids))
		for i, u := range uids {
			on[i] = e.online[u]
		}
		return on, nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.push.Close()
		st.Close()
	})
	return e
}

func TestVisitorMessageReachesAClosedConsole(t *testing.T) {
	ps := newPushService(t)
	e := newEnv(t, ps, true)
	ctx := context.Background()
	b := newBrowser(t)
	endpoint := ps.srv.URL + "/push/abc123"
	if err := e.push.Subscribe(ctx, e.ann, b.subscription(endpoint)); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("Is the blue one still in stock? ", 10)
	e.push.VisitorMessage(e.acc.ID, "cnv_42", "Visitor K3QX", protocol.Message{Type: protocol.TypeText, Text: text})
	e.push.Wait()
	reqs, bodies := ps.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d deliveries, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.URL.Path != "/push/abc123" || r.Header.Get("Content-Encoding") != "aes128gcm" ||
		r.Header.Get("TTL") != "3600" || r.Header.Get("Urgency") != "high" || r.Header.Get("Topic") != "cnv_42" {
		t.Fatalf("request: %s %s %v", r.Method, r.URL, r.Header)
	}
	// VAPID (RFC 8292): a JWT for this push service, signed with the key browsers subscribed with.
	var tok, k string
	for _, part := range strings.Split(strings.TrimPrefix(r.Header.Get("Authorization"), "vapid "), ",") {
		part = strings.TrimSpace(part)
		switch {
		case strings.HasPrefix(part, "t="):
			tok = part[2:]
		case strings.HasPrefix(part, "k="):
			k = part[2:]
		}
	}
	if k != e.push.PublicKey() {
		t.Fatalf("k = %q, want the server's public key %q", k, e.push.PublicKey())
	}
	pubBytes, _ := base64.RawURLEncoding.DecodeString(k)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(pubBytes[1:33]), Y: new(big.Int).SetBytes(pubBytes[33:])}
	var c jwt.MapClaims
	if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"ES256"})); err != nil {
		t.Fatalf("VAPID JWT: %v", err)
	}
	if c["aud"] != ps.srv.URL || c["sub"] != "mailto:ops@acme.example" {
		t.Fatalf("VAPID claims %v", c)
	}
	// The payload, as the service worker reads it.
	var p protocol.PushPayload
	if err := json.Unmarshal(b.decrypt(t, bodies[0]), &p); err != nil {
		t.Fatal(err)
	}
	if p.Title != "Visitor K3QX" || p.ConversationID != "cnv_42" || p.URL != "https://chat.example/console/#c=cnv_42" ||
		!strings.HasPrefix(p.Body, "Is the blue one") || len([]rune(p.Body)) != 180 || !strings.HasSuffix(p.Body, "…") {
		t.Fatalf("payload = %+v", p)
	}
}

func TestOnlyClosedConsolesAndLiveSubscriptionsArePushed(t *testing.T) {
	ps := newPushService(t)
	e := newEnv(t, ps, true)
	ctx := context.Background()
	if err := e.push.Subscribe(ctx, e.ann, newBrowser(t).subscription(ps.srv.URL+"/push/1")); err != nil {
		t.Fatal(err)
	}
	// Connected: the console tells them itself.
	e.mu.Lock()
	e.online[e.ann.UserID] = true
	e.mu.Unlock()
	e.push.VisitorMessage(e.acc.ID, "cnv_1", "V", protocol.Message{Type: protocol.TypeText, Text: "hi"})
	e.push.Wait()
	if reqs, _ := ps.requests(); len(reqs) != 0 {
		t.Fatalf("pushed to a connected agent: %d", len(reqs))
	}
	// Disconnected, and the browser has dropped the subscription (410): it is forgotten.
	e.mu.Lock()
	e.online[e.ann.UserID] = false
	e.mu.Unlock()
	ps.mu.Lock()
	ps.status = http.StatusGone
	ps.mu.Unlock()
	e.push.VisitorMessage(e.acc.ID, "cnv_1", "V", protocol.Message{Type: protocol.TypeImage})
	e.push.Wait()
	if reqs, _ := ps.requests(); len(reqs) != 1 {
		t.Fatalf("%d deliveries, want 1", len(reqs))
	}
	subs, err := e.st.ListPushSubscriptions(ctx, e.acc.ID)
	if err != nil || len(subs) != 0 {
		t.Fatalf("a gone subscription was kept: %v %v", subs, err)
	}
	// Another account's visitors never reach this account's staff.
	e.push.VisitorMessage("acc_other", "cnv_9", "V", protocol.Message{Type: protocol.TypeText, Text: "x"})
	e.push.Wait()
	if reqs, _ := ps.requests(); len(reqs) != 1 {
		t.Fatalf("pushed across accounts: %d", len(reqs))
	}
}

func TestPrivateEndpointsAreRefused(t *testing.T) {
	ps := newPushService(t) // on 127.0.0.1
	e := newEnv(t, ps, false)
	if err := e.push.Subscribe(context.Background(), e.ann, newBrowser(t).subscription(ps.srv.URL+"/push/1")); err != nil {
		t.Fatal(err)
	}
	e.push.VisitorMessage(e.acc.ID, "cnv_1", "V", protocol.Message{Type: protocol.TypeText, Text: "hi"})
	e.push.Wait()
	if reqs, _ := ps.requests(); len(reqs) != 0 {
		t.Fatalf("the server connected to a loopback endpoint: %d requests", len(reqs))
	}
}

func TestSubscribeValidates(t *testing.T) {
	ps := newPushService(t)
	e := newEnv(t, ps, true)
	ctx := context.Background()
	good := newBrowser(t).subscription("https://push.example/x")
	if err := e.push.Subscribe(ctx, auth.Identity{AccountID: e.acc.ID, UserID: "usr_v", Role: protocol.RoleVisitor}, good); !apperr.Is(err, apperr.CodeForbidden) {
		t.Fatalf("a visitor subscribed: %v", err)
	}
	bad := []func(*protocol.PushSubscription){
		func(s *protocol.PushSubscription) { s.Endpoint = "http://push.example/x" },
		func(s *protocol.PushSubscription) { s.Endpoint = "https://user:pw@push.example/x" },
		func(s *protocol.PushSubscription) { s.Endpoint = "https://push.example/" + strings.Repeat("x", 3000) },
		func(s *protocol.PushSubscription) { s.Keys.P256dh = "short" },
		func(s *protocol.PushSubscription) {
			s.Keys.Auth = base64.RawURLEncoding.EncodeToString(make([]byte, 8))
		},
	}
	for i, f := range bad {
		s := good
		f(&s)
		if err := e.push.Subscribe(ctx, e.ann, s); !apperr.Is(err, apperr.CodeBadRequest) {
			t.Fatalf("bad subscription %d: %v", i, err)
		}
	}
	if err := e.push.Subscribe(ctx, e.ann, good); err != nil {
		t.Fatal(err)
	}
	if err := e.push.Unsubscribe(ctx, auth.Identity{AccountID: e.acc.ID, UserID: "usr_other", Role: protocol.RoleAgent}, good.Endpoint); !apperr.Is(err, apperr.CodeNotFound) {
		t.Fatalf("another agent removed it: %v", err)
	}
	if err := e.push.Unsubscribe(ctx, e.ann, good.Endpoint); err != nil {
		t.Fatal(err)
	}
}

func TestKeysSurviveARestart(t *testing.T) {
	ps := newPushService(t)
	e := newEnv(t, ps, true)
	again, err := push.New(context.Background(), e.st, push.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.PublicKey() != e.push.PublicKey() || len(e.push.PublicKey()) != 87 {
		t.Fatalf("public key %q then %q", e.push.PublicKey(), again.PublicKey())
	}
}
