package ws_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gobwas/ws"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

func TestAuthMethods(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	for _, m := range []struct {
		name string
		auth client.AuthMethod
	}{{"header", client.AuthHeader}, {"subprotocol", client.AuthSubprotocol}, {"frame", client.AuthFrame}} {
		t.Run(m.name, func(t *testing.T) {
			c := s.dial("alice", &client.Options{Auth: m.auth})
			got := c.Connected()
			if got.User.Name != "alice" || got.AccountID != s.acct.ID || got.ConnectionID == "" || got.Status != protocol.StatusOnline {
				t.Fatalf("connected = %+v", got)
			}
			if got.ConnectedUsers < 1 || got.Limits.MaxFrameBytes != 64<<10 || got.Limits.MessagesPerSecond != 10 {
				t.Fatalf("connected = %+v", got)
			}
			if _, err := c.Ping(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSubprotocolIsEchoed(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	d := gws.Dialer{NetDial: wiretest.Tap(t), Protocols: []string{protocol.Subprotocol, protocol.BearerSubprotocol + s.token("alice")}}
	nc, br, hs, err := d.Dial(ctxT(t), s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if hs.Protocol != protocol.Subprotocol {
		t.Fatalf("negotiated %q", hs.Protocol)
	}
	r := rawReader(nc, br)
	if env := readEnvelope(t, r); env.Event != protocol.EvConnected {
		t.Fatalf("first event %s", env.Event)
	}
}

func TestNoTokenInQuery(t *testing.T) {
	s := newStack(t, ws.Config{AuthTimeout: 200 * time.Millisecond}, chat.Config{})
	nc, r := rawDial(t, s.url+"?token="+s.token("alice")+"&access_token="+s.token("alice"), nil)
	defer nc.Close()
	env := readEnvelope(t, r)
	if env.Event != protocol.EvError || errCode(env) != apperr.CodeUnauthenticated {
		t.Fatalf("got %s %s", env.Event, env.Data)
	}
	if code := readClose(t, r); code != protocol.CloseUnauthorized {
		t.Fatalf("close %d", code)
	}
}

func TestAuthTimeout(t *testing.T) {
	s := newStack(t, ws.Config{AuthTimeout: 200 * time.Millisecond}, chat.Config{})
	nc, r := rawDial(t, s.url, nil)
	defer nc.Close()
	start := time.Now()
	env := readEnvelope(t, r)
	if env.Event != protocol.EvError || errCode(env) != apperr.CodeUnauthenticated {
		t.Fatalf("got %s %s", env.Event, env.Data)
	}
	if code := readClose(t, r); code != protocol.CloseUnauthorized {
		t.Fatalf("close %d", code)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed after %s", d)
	}
}

func TestFirstFrameMustBeAuth(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	_, err := client.Dial(ctxT(t), s.url, "", tapped(t, &client.Options{Auth: client.AuthFrame}))
	e := asError(t, err, apperr.CodeUnauthenticated)
	if e.CloseCode != protocol.CloseUnauthorized {
		t.Fatalf("close code %d", e.CloseCode)
	}
}

func TestBadAndExpiredTokens(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	for _, m := range []client.AuthMethod{client.AuthHeader, client.AuthSubprotocol, client.AuthFrame} {
		_, err := client.Dial(ctxT(t), s.url, "not-a-token", tapped(t, &client.Options{Auth: m}))
		if e := asError(t, err, apperr.CodeUnauthenticated); e.CloseCode != protocol.CloseUnauthorized {
			t.Fatalf("auth %d: close code %d", m, e.CloseCode)
		}
	}
	// A token minted two hours ago for one hour.
	past := auth.New(s.store, secret, 24*time.Hour)
	past.SetClock(func() time.Time { return time.Now().Add(-2 * time.Hour) })
	tok, err := past.Mint(auth.MintRequest{AccountID: s.acct.ID, User: "alice", Role: protocol.RoleMember, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Dial(ctxT(t), s.url, tok, tapped(t, nil))
	if e := asError(t, err, apperr.CodeTokenExpired); e.CloseCode != protocol.CloseUnauthorized {
		t.Fatalf("close code %d", e.CloseCode)
	}
}

func TestTokenExpiresWhileConnected(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	// exp is in whole seconds (rounded down), so a token of 2 s lives 1 to
	// 2 s: the first ping is well within it. A request after exp is refused
	// with token_expired, unless the expiry sweep closed the connection
	// first; either way it closes with 4003.
	c := s.dialToken(s.tokenFor(s.acct.ID, "alice", protocol.RoleMember, 2*time.Second), nil)
	if _, err := c.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := c.Ping(ctxT(t)); err == nil {
		t.Fatal("a request after the token's exp was answered")
	}
	waitDone(t, c, 3*time.Second)
	if c.CloseCode() != protocol.CloseTokenExpired {
		t.Fatalf("close code %d", c.CloseCode())
	}
}

// A connection is closed at its token's expiry, not at the next ping tick
// (30 s here): the server sends error token_expired, then close 4003.
func TestTokenExpiryClosesAtExp(t *testing.T) {
	s := newStack(t, ws.Config{PingInterval: 30 * time.Second}, chat.Config{})
	c := s.dialToken(s.tokenFor(s.acct.ID, "alice", protocol.RoleMember, 2*time.Second), nil)
	other := s.dialToken(s.tokenFor(s.acct.ID, "bob", protocol.RoleMember, time.Hour), nil)
	ev := next(t, c, protocol.EvError, 10*time.Second)
	var e protocol.Error
	if err := json.Unmarshal(ev.Data, &e); err != nil || e.Code != apperr.CodeTokenExpired || ev.ID != "" {
		t.Fatalf("error event %+v (%v), want token_expired without id", ev, err)
	}
	waitDone(t, c, 5*time.Second)
	if c.CloseCode() != protocol.CloseTokenExpired {
		t.Fatalf("close code %d", c.CloseCode())
	}
	if _, err := other.Ping(ctxT(t)); err != nil {
		t.Fatalf("a connection with a valid token was closed: %v", err)
	}
}

func TestConnsPerIP(t *testing.T) {
	s := newStack(t, ws.Config{ConnsPerIP: 2}, chat.Config{})
	s.dial("a", nil)
	s.dial("b", nil)
	_, err := client.Dial(ctxT(t), s.url, s.token("c"), tapped(t, nil))
	if e := asError(t, err, apperr.CodeTooManyConns); e.CloseCode != protocol.CloseTooManyConns {
		t.Fatalf("close code %d", e.CloseCode)
	}
}

func TestConnsPerAccount(t *testing.T) {
	s := newStack(t, ws.Config{ConnsPerAccount: 2}, chat.Config{})
	a := s.dial("a", nil)
	s.dial("b", nil)
	_, err := client.Dial(ctxT(t), s.url, s.token("c"), tapped(t, nil))
	if e := asError(t, err, apperr.CodeTooManyConns); e.CloseCode != protocol.CloseTooManyConns {
		t.Fatalf("close code %d", e.CloseCode)
	}
	// Another account is not affected; a freed slot can be reused.
	acc2, _, err := auth.CreateAccount(context.Background(), s.store, "other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.dialToken(s.tokenFor(acc2.ID, "x", protocol.RoleMember, time.Hour), nil)
	a.Close()
	eventually(t, 3*time.Second, "slot freed", func() bool { return s.srv.Conns() == 2 }) // b and x
	s.dial("c", nil)
}

func TestOriginCheck(t *testing.T) {
	s := newStack(t, ws.Config{AllowedOrigins: []string{"https://chat.example.com"}}, chat.Config{})
	_, err := client.Dial(ctxT(t), s.url, s.token("a"), tapped(t, &client.Options{Header: http.Header{"Origin": {"https://evil.example"}}}))
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("err = %v, want 403", err)
	}
	s.dial("a", &client.Options{Header: http.Header{"Origin": {"https://chat.example.com"}}})
	s.dial("b", nil) // no Origin: not a browser
}

// trio connects alice, bob and carol in one group, plus dave (same account,
// not a member) and eve (another account).
type trio struct {
	s                            *stack
	alice, bob, carol, dave, eve *client.Conn
	conv                         protocol.Conversation
}

func newTrio(t *testing.T, cfg ws.Config, ccfg chat.Config) *trio {
	s := newStack(t, cfg, ccfg)
	tr := &trio{s: s}
	tr.alice, tr.bob, tr.carol, tr.dave = s.dial("alice", nil), s.dial("bob", nil), s.dial("carol", nil), s.dial("dave", nil)
	acc2, _, err := auth.CreateAccount(context.Background(), s.store, "other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr.eve = s.dialToken(s.tokenFor(acc2.ID, "alice", protocol.RoleMember, time.Hour), nil)
	tr.conv = s.group(tr.alice, "team", "bob", "carol")
	for _, c := range []*client.Conn{tr.alice, tr.bob, tr.carol} {
		next(t, c, protocol.EvConversation, 3*time.Second)
	}
	return tr
}

func TestSendFanout(t *testing.T) {
	tr := newTrio(t, ws.Config{}, chat.Config{})
	m, err := tr.alice.Send(ctxT(t), protocol.SendRequest{ConversationID: tr.conv.ID, Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 1 || m.Text != "hello" {
		t.Fatalf("reply %+v", m)
	}
	for _, c := range []*client.Conn{tr.alice, tr.bob, tr.carol} {
		ev := next(t, c, protocol.EvMessage, 3*time.Second)
		var got protocol.Message
		json.Unmarshal(ev.Data, &got)
		if got.ID != m.ID || got.Text != "hello" || got.Seq != 1 {
			t.Fatalf("event %s", ev.Data)
		}
	}
	none(t, tr.dave, protocol.EvMessage, 200*time.Millisecond)
	none(t, tr.eve, protocol.EvMessage, 50*time.Millisecond)
	if cur := tr.bob.Cursors(); cur[tr.conv.ID] != 1 {
		t.Fatalf("cursors %v", cur)
	}
}

func TestEditDeleteReadStatusTyping(t *testing.T) {
	tr := newTrio(t, ws.Config{}, chat.Config{TypingTimeout: 300 * time.Millisecond})
	ctx := ctxT(t)
	m, err := tr.alice.Send(ctx, protocol.SendRequest{ConversationID: tr.conv.ID, Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	next(t, tr.bob, protocol.EvMessage, 3*time.Second)

	if _, err := tr.alice.Edit(ctx, protocol.EditRequest{ConversationID: tr.conv.ID, MessageID: m.ID, Text: "hello!"}); err != nil {
		t.Fatal(err)
	}
	ev := next(t, tr.bob, protocol.EvMessageEdited, 3*time.Second)
	if !strings.Contains(string(ev.Data), `"hello!"`) {
		t.Fatalf("edited %s", ev.Data)
	}
	_, err = tr.bob.Edit(ctx, protocol.EditRequest{ConversationID: tr.conv.ID, MessageID: m.ID, Text: "mine"})
	asError(t, err, apperr.CodeNotSender)

	if _, err := tr.alice.Delete(ctx, tr.conv.ID, m.ID); err != nil {
		t.Fatal(err)
	}
	next(t, tr.carol, protocol.EvMessageDeleted, 3*time.Second)

	if _, err := tr.bob.MarkRead(ctx, tr.conv.ID, 1); err != nil {
		t.Fatal(err)
	}
	ev = next(t, tr.alice, protocol.EvRead, 3*time.Second)
	var rs protocol.ReadState
	json.Unmarshal(ev.Data, &rs)
	if rs.Seq != 1 || rs.UserID != tr.bob.Connected().User.ID {
		t.Fatalf("read %s", ev.Data)
	}

	if _, err := tr.carol.SetStatus(ctx, protocol.StatusAway); err != nil {
		t.Fatal(err)
	}
	for {
		ev = next(t, tr.alice, protocol.EvUserStatus, 3*time.Second)
		var p protocol.Presence
		json.Unmarshal(ev.Data, &p)
		if p.UserID == tr.carol.Connected().User.ID && p.Status == protocol.StatusAway {
			break
		}
	}

	if err := tr.alice.Typing(ctx, tr.conv.ID, true); err != nil {
		t.Fatal(err)
	}
	var ty protocol.Typing
	json.Unmarshal(next(t, tr.bob, protocol.EvTyping, 3*time.Second).Data, &ty)
	if !ty.IsTyping || ty.SenderID != tr.alice.Connected().User.ID {
		t.Fatalf("typing %+v", ty)
	}
	start := time.Now()
	json.Unmarshal(next(t, tr.bob, protocol.EvTyping, 3*time.Second).Data, &ty)
	if ty.IsTyping || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("typing %+v after %s", ty, time.Since(start))
	}
	none(t, tr.dave, protocol.EvTyping, 100*time.Millisecond)
	none(t, tr.eve, protocol.EvTyping, 10*time.Millisecond)
}

func TestMembershipFollowsLiveEvents(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	alice, bob := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "later", "bob") // bob's connection subscribes on chat:conversation
	next(t, bob, protocol.EvConversation, 3*time.Second)
	if _, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "1"}); err != nil {
		t.Fatal(err)
	}
	next(t, bob, protocol.EvMessage, 3*time.Second)
	if err := bob.Leave(ctxT(t), cv.ID); err != nil {
		t.Fatal(err)
	}
	next(t, bob, protocol.EvMemberLeft, 3*time.Second)
	if _, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "2"}); err != nil {
		t.Fatal(err)
	}
	none(t, bob, protocol.EvMessage, 200*time.Millisecond)
	none(t, bob, protocol.EvMemberLeft, 10*time.Millisecond) // heard once, not twice
}

func TestUnknownEventAndMalformed(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	c := s.dial("alice", nil)
	err := c.Request(ctxT(t), "chat:nope", nil, nil)
	asError(t, err, apperr.CodeUnknownEvent)

	for _, bad := range []string{`{not json`, `[]`, `{"id":"q0"}`, `{"event":"Bad Event","id":"q1"}`, `{"event":"chat:send","id":"` + strings.Repeat("x", 65) + `"}`} {
		if err := c.WriteText([]byte(bad)); err != nil {
			t.Fatal(err)
		}
		ev := next(t, c, protocol.EvError, 3*time.Second)
		if errCode(ev) != apperr.CodeBadRequest {
			t.Fatalf("%s → %s", bad, ev.Data)
		}
		if want := map[string]string{`{"id":"q0"}`: "q0", `{"event":"Bad Event","id":"q1"}`: "q1"}[bad]; ev.ID != want {
			t.Fatalf("%s → id %q, want %q", bad, ev.ID, want)
		}
	}
	err = c.Request(ctxT(t), protocol.EvSend, map[string]any{"conversation_id": 5}, nil)
	asError(t, err, apperr.CodeBadRequest)
	if _, err := c.Ping(ctxT(t)); err != nil {
		t.Fatalf("connection unusable: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	s := newStack(t, ws.Config{MessagesPerSecond: 1, MessagesBurst: 3}, chat.Config{})
	alice, _ := s.dial("alice", nil), s.dial("bob", nil)
	cv := s.group(alice, "g", "bob")
	limited := 0
	for i := 0; i < 6; i++ {
		_, err := alice.Send(ctxT(t), protocol.SendRequest{ConversationID: cv.ID, Text: "x"})
		if err != nil {
			asError(t, err, apperr.CodeRateLimited)
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 6 limited", limited)
	}
	if _, err := alice.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestFrameTooBig(t *testing.T) {
	s := newStack(t, ws.Config{MaxFrameBytes: 1024}, chat.Config{})
	c := s.dial("alice", nil)
	c.WriteText([]byte(`{"event":"ping","id":"1","data":"` + strings.Repeat("x", 2000) + `"}`))
	waitDone(t, c, 5*time.Second)
	if c.CloseCode() != protocol.CloseTooBig {
		t.Fatalf("close code %d", c.CloseCode())
	}
}

func TestPingTimeout(t *testing.T) {
	s := newStack(t, ws.Config{PingInterval: 100 * time.Millisecond}, chat.Config{})
	live := s.dial("alice", nil) // answers pings
	nc, r := rawDial(t, s.url, http.Header{"Authorization": {"Bearer " + s.token("bob")}})
	defer nc.Close()
	readEnvelope(t, r) // chat:connected; then it stays silent
	eventually(t, 3*time.Second, "silent connection closed", func() bool { return s.srv.Conns() == 1 })
	time.Sleep(300 * time.Millisecond)
	if _, err := live.Ping(ctxT(t)); err != nil {
		t.Fatalf("live connection: %v", err)
	}
}

func TestShutdownGoingAway(t *testing.T) {
	s := newStack(t, ws.Config{}, chat.Config{})
	cs := []*client.Conn{s.dial("a", nil), s.dial("b", &client.Options{Auth: client.AuthFrame}), s.dial("c", nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range cs {
		go func() {
			for range c.Events() {
			}
		}()
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		<-c.Done()
		if c.CloseCode() != protocol.CloseGoingAway {
			t.Fatalf("close code %d", c.CloseCode())
		}
	}
	if s.srv.Conns() != 0 {
		t.Fatalf("%d connections after shutdown", s.srv.Conns())
	}
	if _, err := client.Dial(ctx, s.url, s.token("d"), tapped(t, nil)); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("dial after shutdown: %v", err)
	}
}

// --- raw WebSocket helpers, for what the client package does not do ---

type rawR struct {
	r  *bufio.Reader
	nc net.Conn
}

func rawReader(nc net.Conn, br *bufio.Reader) *rawR {
	if br == nil {
		br = bufio.NewReader(nc)
	}
	return &rawR{r: br, nc: nc}
}

func rawDial(t *testing.T, url string, h http.Header) (net.Conn, *rawR) {
	t.Helper()
	d := gws.Dialer{NetDial: wiretest.Tap(t)}
	if h != nil {
		d.Header = gws.HandshakeHeaderHTTP(h)
	}
	nc, br, _, err := d.Dial(ctxT(t), url)
	if err != nil {
		t.Fatal(err)
	}
	return nc, rawReader(nc, br)
}

func readRaw(t *testing.T, r *rawR) gws.Frame {
	t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := gws.ReadFrame(r.r)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if f.Header.OpCode == gws.OpPing {
			continue
		}
		return f
	}
}

func readEnvelope(t *testing.T, r *rawR) protocol.Envelope {
	t.Helper()
	f := readRaw(t, r)
	if f.Header.OpCode != gws.OpText {
		t.Fatalf("opcode %v, want text", f.Header.OpCode)
	}
	env, err := protocol.DecodeEnvelope(f.Payload)
	if err != nil {
		t.Fatalf("%s: %v", f.Payload, err)
	}
	return env
}

func readClose(t *testing.T, r *rawR) int {
	t.Helper()
	f := readRaw(t, r)
	if f.Header.OpCode != gws.OpClose || len(f.Payload) < 2 {
		t.Fatalf("frame %v %q, want close", f.Header.OpCode, f.Payload)
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}

func errCode(env protocol.Envelope) string {
	var e protocol.Error
	json.Unmarshal(env.Data, &e)
	return e.Code
}

var _ sync.Mutex

// TestCoalescedWritesArriveInOrder runs the flushers in their coalescing
// mode (every rate counts as heavy here) and checks that lingering loses,
// duplicates and reorders nothing.
func TestCoalescedWritesArriveInOrder(t *testing.T) {
	tr := newTrio(t, ws.Config{CoalesceRate: 0.001, CoalesceDelay: 5 * time.Millisecond, MessagesPerSecond: 1e6, MessagesBurst: 1e6}, chat.Config{})
	ctx := ctxT(t)
	const n = 300
	// Warm the rate window, then send a burst without waiting for replies.
	time.Sleep(150 * time.Millisecond)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := tr.alice.Send(ctx, protocol.SendRequest{ConversationID: tr.conv.ID, ClientID: fmt.Sprint("c", i), Text: "x"})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*client.Conn{tr.bob, tr.carol} {
		for want := int64(1); want <= n; want++ {
			ev := next(t, c, protocol.EvMessage, 5*time.Second)
			var m protocol.Message
			json.Unmarshal(ev.Data, &m)
			if m.Seq != want {
				t.Fatalf("got seq %d, want %d", m.Seq, want)
			}
		}
	}
	none(t, tr.bob, protocol.EvMessage, 100*time.Millisecond)
}
