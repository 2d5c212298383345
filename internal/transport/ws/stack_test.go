package ws_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

func TestMain(m *testing.M) {
	if os.Getenv(memClientEnv) != "" {
		memClientMain()
		return
	}
	goleak.VerifyTestMain(m)
}

var secret = []byte("test-secret-that-is-long-enough-0123456789")

// stack is the real server: SQLite on disk, local bus, chat, auth, and the
// WebSocket endpoint on a loopback listener.
type stack struct {
	t     testing.TB
	store *sqlite.Store
	bus   *local.Bus
	chat  *chat.Service
	auth  *auth.Authenticator
	srv   *ws.Server
	http  *httptest.Server
	url   string
	acct  store.Account
}

func newStack(t testing.TB, cfg ws.Config, ccfg chat.Config) *stack {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	cs := chat.New(st, b, nil, ccfg)
	a := auth.New(st, secret, 24*time.Hour)
	acc, _, err := auth.CreateAccount(ctx, st, "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv := ws.New(cfg, a, cs, b, log)
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	hs := httptest.NewServer(mux)
	s := &stack{t: t, store: st, bus: b, chat: cs, auth: a, srv: srv, http: hs,
		url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", acct: acc}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
		cs.Close()
		st.Close()
	})
	return s
}

// token mints a token for a user of the stack's account.
func (s *stack) token(user string) string {
	return s.tokenFor(s.acct.ID, user, protocol.RoleMember, time.Hour)
}

func (s *stack) tokenFor(acct, user, role string, ttl time.Duration) string {
	s.t.Helper()
	tok, err := s.auth.Mint(auth.MintRequest{AccountID: acct, User: user, Role: role, TTL: ttl})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// dial connects user with options and closes the connection at cleanup.
func (s *stack) dial(user string, opt *client.Options) *client.Conn {
	s.t.Helper()
	return s.dialToken(s.token(user), opt)
}

func (s *stack) dialToken(tok string, opt *client.Options) *client.Conn {
	s.t.Helper()
	return s.dialWith(tok, tapped(s.t, opt))
}

// dialUnchecked is dial without checking the server's frames against
// docs/protocol.json, for the extra readers of throughput tests whose
// frames a checked connection of the same test already sees.
func (s *stack) dialUnchecked(user string, opt *client.Options) *client.Conn {
	s.t.Helper()
	return s.dialWith(s.token(user), opt)
}

func (s *stack) dialWith(tok string, opt *client.Options) *client.Conn {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.url, tok, opt)
	if err != nil {
		s.t.Fatalf("dial: %v", err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// group makes a group of the named users (all must have connected once),
// created by the first.
func (s *stack) group(creator *client.Conn, name string, members ...string) protocol.Conversation {
	s.t.Helper()
	cv, err := creator.Create(ctxT(s.t), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: name, Members: members})
	if err != nil {
		s.t.Fatalf("create group: %v", err)
	}
	return cv
}

// tapped returns a copy of opt (nil: the defaults) whose connection checks
// every frame the server sends against docs/protocol.json.
func tapped(t testing.TB, opt *client.Options) *client.Options {
	var o client.Options
	if opt != nil {
		o = *opt
	}
	o.NetDial = wiretest.TapWith(t, o.NetDial)
	return &o
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next returns the next event named name (skipping others), or fails.
func next(t testing.TB, c *client.Conn, name string, within time.Duration) protocol.Envelope {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection closed (code %d) while waiting for %s", c.CloseCode(), name)
			}
			if ev.Event == name {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %s within %s", name, within)
		}
	}
}

// none asserts no event named name arrives within d.
func none(t testing.TB, c *client.Conn, name string, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			if ev.Event == name {
				t.Fatalf("unexpected %s: %s", name, ev.Data)
			}
		case <-timer.C:
			return
		}
	}
}

func waitDone(t testing.TB, c *client.Conn, within time.Duration) {
	t.Helper()
	go func() {
		for range c.Events() { // keep reading so the close frame is seen
		}
	}()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatalf("connection still open after %s", within)
	}
}

func asError(t testing.TB, err error, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *client.Error %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %s (%s), want %s", e.Code, e.Message, code)
	}
	return e
}

func eventually(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxBG() context.Context { return context.Background() }
