// Package e2e runs the real parley binary as a separate process and talks
// to it over loopback, as an operator and a user would.
package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pturn "github.com/pion/turn/v5"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/protocol"
	"github.com/parley-chat/parley/protocol/wiretest"
)

var parleyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		panic(err)
	}
	parleyBin = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-race", "-o", parleyBin, "../../cmd/parley")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building parley:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one parley process.
type server struct {
	t       *testing.T
	dataDir string
	addr    string
	cmd     *exec.Cmd
	stdout  *syncBuffer
	exited  chan struct{} // closed when the process has exited
	exitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// parley runs a one-shot subcommand and returns its stdout.
func parley(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(parleyBin, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("parley %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

// start runs `parley serve` on dataDir at a free address and waits until
// /healthz answers.
func start(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	return startAt(t, dataDir, freeAddr(t), extra...)
}

// startAt runs `parley serve` on dataDir at addr (a server restarted on a
// backup keeps the address its clients reconnect to), with TURN and the SFU
// on free ports (the default ones may be taken by another test), and waits
// until /healthz answers.
func startAt(t *testing.T, dataDir, addr string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, addr: addr, stdout: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"serve", "--addr", s.addr, "--data-dir", dataDir, "--log-level", "warn", "--turn-listen", "127.0.0.1:0",
		"--public-url", "http://" + s.addr, "--sfu-udp-addr", "127.0.0.1:0"}, extra...)
	s.cmd = exec.Command(parleyBin, args...)
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = &prefixWriter{t: t}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.exited })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("parley did not answer /healthz: %v\n%s", err, s.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) url() string   { return "http://" + s.addr }
func (s *server) wsURL() string { return "ws://" + s.addr + "/ws" }

type prefixWriter struct{ t *testing.T }

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.t.Logf("parley: %s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// account creates an account in dataDir (before the server starts, as an
// operator would) and returns its id and API key.
func account(t *testing.T, dataDir, name string) (id, key string) {
	out := parley(t, "account", "create", name, "--data-dir", dataDir)
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "account_id="); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "api_key="); ok {
			key = v
		}
	}
	if id == "" || key == "" {
		t.Fatalf("account create printed %q", out)
	}
	return id, key
}

func token(t *testing.T, dataDir, acc, user, role string) string {
	return strings.TrimSpace(parley(t, "token", "--account", acc, "--user", user, "--role", role, "--ttl", "1h", "--data-dir", dataDir))
}

func dial(t *testing.T, s *server, tok string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Every frame the server sends is checked against docs/protocol.json.
	c, err := client.Dial(ctx, s.wsURL(), tok, &client.Options{OnFrame: func([]byte) {}, NetDial: wiretest.Tap(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFirstStartPrintsSigninLinkAndAPIKey(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	var out string
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out, "API key") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		out = s.stdout.String()
	}
	if !strings.Contains(out, "open "+s.url()) {
		t.Fatalf("first start does not say where to open it:\n%s", out)
	}
	link := regexp.MustCompile(`http://\S+/console/#signin=(\S+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`(key_\S+\.\S+)`).FindString(out)
	chatLink := regexp.MustCompile(`(http://\S+/chat/[A-Za-z0-9]{8})\b`).FindString(out)
	if link == nil || key == "" || chatLink == "" {
		t.Fatalf("no sign-in link, chat link or API key in:\n%s", out)
	}
	// The link's code is redeemed by the console with a POST (a GET of the
	// link uses nothing up). Five racing redemptions: exactly one signs in.
	redeem := func() (int, protocol.ConsoleSession) {
		resp, err := http.Post(s.url()+"/api/v1/auth/link", "application/json", strings.NewReader(`{"code":"`+link[1]+`"}`))
		if err != nil {
			t.Error(err)
			return 0, protocol.ConsoleSession{}
		}
		defer resp.Body.Close()
		var cs protocol.ConsoleSession
		json.NewDecoder(resp.Body).Decode(&cs)
		return resp.StatusCode, cs
	}
	if resp, err := http.Get(link[0]); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the console page: %v %v", resp, err)
	}
	var session protocol.ConsoleSession
	var mu sync.Mutex
	var wg sync.WaitGroup
	wins := 0
	for range 5 {
		wg.Go(func() {
			st, cs := redeem()
			mu.Lock()
			defer mu.Unlock()
			if st == 200 {
				wins++
				session = cs
			} else if st != http.StatusForbidden {
				t.Errorf("sign-in link answered %d", st)
			}
		})
	}
	wg.Wait()
	if wins != 1 || session.Token == "" || !session.NeedsPassword {
		t.Fatalf("%d of 5 racing uses of the one-time link signed in, want 1 (%+v)", wins, session)
	}
	c := dial(t, s, session.Token)
	if got := c.Connected().User.Role; got != "owner" {
		t.Fatalf("the sign-in link signed in a %q, want owner", got)
	}
	if st, _ := redeem(); st != http.StatusForbidden {
		t.Fatalf("second use of the one-time link: %d, want 403", st)
	}
	// The chat link opens the full-page chat.
	if resp, err := http.Get(chatLink); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", chatLink, resp, err)
	}
	// An owner who lost the link gets a new one from the command line.
	again := regexp.MustCompile(`/console/#signin=(\S+)`).FindStringSubmatch(parley(t, "signin-link", "--data-dir", dir, "--public-url", s.url()))
	if again == nil {
		t.Fatal("parley signin-link printed no link")
	}
	link = again
	if st, cs := redeem(); st != 200 || cs.User.Role != "owner" {
		t.Fatalf("the signin-link command's link: %d %+v", st, cs)
	}

	// The API key mints tokens for the site's users.
	req, _ := http.NewRequest("POST", s.url()+"/api/v1/tokens", strings.NewReader(`{"user":"alice","role":"member","ttl":"1h"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	if resp.StatusCode != 200 || minted.Token == "" {
		t.Fatalf("POST /api/v1/tokens: %d", resp.StatusCode)
	}
	if got := dial(t, s, minted.Token).Connected().User.Name; got != "alice" {
		t.Fatalf("minted token is for %q", got)
	}

	// A restart is not a first start: no new account, no new link.
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	s2 := start(t, dir)
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(s2.stdout.String(), "First start") {
		t.Fatalf("second start claims a first start:\n%s", s2.stdout)
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	out := parley(t, "--help")
	for _, want := range []string{"--addr", "PARLEY_ADDR", ":8080", "--data-dir", "./parley-data", "--upload-file-max", "account create", "token --account"} {
		if !strings.Contains(out, want) {
			t.Errorf("parley --help lacks %q", want)
		}
	}
	dir := t.TempDir()
	if out := parley(t, "migrate", "--data-dir", dir); !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "parley.db")); err != nil {
		t.Fatal(err)
	}
	// A bad setting is refused with its name.
	cmd := exec.Command(parleyBin, "serve", "--max-message-bytes", "lots", "--data-dir", dir)
	out2, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "max_message_bytes") {
		t.Fatalf("bad setting: err=%v out=%s", err, out2)
	}
}

// TestKilledAfterAckLosesNothing: every message acknowledged before a
// SIGKILL is there after restart, with the same id and seq.
func TestKilledAfterAckLosesNothing(t *testing.T) {
	dir := t.TempDir()
	acc, _ := account(t, dir, "durable")
	aliceTok := token(t, dir, acc, "alice", "member")
	bobTok := token(t, dir, acc, "bob", "member")
	s := start(t, dir, "--messages-per-second", "100000", "--messages-burst", "1000", "--account-budget-per-second", "0")
	dial(t, s, bobTok) // bob exists once his token has been used
	alice := dial(t, s, aliceTok)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conv, err := alice.Create(ctx, protocol.CreateConversationRequest{Kind: "direct", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}

	// 8 senders keep sending; the server is killed the moment 400 acks are in.
	const want = 400
	type ack struct {
		id  string
		seq int64
	}
	var mu sync.Mutex
	acked := map[string]ack{}
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var once sync.Once
	var lastErr error
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				m, err := alice.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, ClientID: fmt.Sprintf("g%d-%d", g, i), Text: "durable"})
				if err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
					return // the server is gone
				}
				mu.Lock()
				acked[m.ClientID] = ack{m.ID, m.Seq}
				n := len(acked)
				mu.Unlock()
				if n >= want {
					once.Do(func() {
						s.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < want {
		t.Fatalf("only %d acks before the senders stopped: %v", len(acked), lastErr)
	}
	<-s.exited

	s2 := start(t, dir)
	alice2 := dial(t, s2, aliceTok)
	stored := map[string]ack{}
	var after int64
	for {
		h, err := alice2.History(ctx, protocol.HistoryRequest{ConversationID: conv.ID, After: &after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			if m.Seq != after+1 {
				t.Fatalf("seq %d follows %d: a gap", m.Seq, after)
			}
			after = m.Seq
			stored[m.ClientID] = ack{m.ID, m.Seq}
		}
		if !h.HasMore {
			break
		}
	}
	for cid, a := range acked {
		if got, ok := stored[cid]; !ok || got != a {
			t.Fatalf("acknowledged message %s (%+v) after restart: %+v, present=%v", cid, a, got, ok)
		}
	}
	t.Logf("%d acknowledged before SIGKILL, %d stored after restart (unacknowledged in-flight sends may also be stored)", len(acked), len(stored))
}

// TestSIGTERMDrains: connections are told to go away (1001), the process
// exits cleanly, and what was sent is there after restart.
func TestSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	acc, _ := account(t, dir, "drain")
	tok := token(t, dir, acc, "carol", "member")
	other := token(t, dir, acc, "dave", "member")
	s := start(t, dir)
	dial(t, s, other)
	c := dial(t, s, tok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conv, err := c.Create(ctx, protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"dave"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, ClientID: "x1", Text: "before shutdown"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed after SIGTERM")
	}
	if code := c.CloseCode(); code != 1001 {
		t.Fatalf("close code %d, want 1001 going away", code)
	}
	select {
	case <-s.exited:
		if s.exitErr != nil {
			t.Fatalf("parley exited with %v after SIGTERM", s.exitErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("parley did not exit after SIGTERM")
	}
	t.Logf("drained and exited in %v", time.Since(t0).Round(time.Millisecond))
	s2 := start(t, dir)
	c2 := dial(t, s2, tok)
	h, err := c2.History(ctx, protocol.HistoryRequest{ConversationID: conv.ID, Limit: 10})
	if err != nil || len(h.Messages) != 1 || h.Messages[0].ID != m.ID {
		t.Fatalf("after restart: %+v %v", h, err)
	}
}

// Each connection gets STUN/TURN servers with a credential of its own, and
// the credential allocates a relay on the embedded TURN server; `parley
// turn-secret` prints the secret an external coturn would need to agree.
func TestConnectionsGetWorkingTURNCredentials(t *testing.T) {
	dir := t.TempDir()
	acc, _ := account(t, dir, "acme")
	s := start(t, dir, "--turn-public-ip", "127.0.0.1", "--turn-allow-private-peers")
	c := dial(t, s, strings.TrimSpace(parley(t, "token", "--account", acc, "--user", "ann", "--role", "agent", "--data-dir", dir)))
	ice := c.Connected().ICEServers
	var turnURL, user, pass string
	for _, srv := range ice {
		for _, u := range srv.URLs {
			if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport=udp") {
				turnURL, user, pass = u, srv.Username, srv.Credential
			}
		}
	}
	if turnURL == "" || !strings.HasSuffix(user, ":"+c.Connected().User.ID) || pass == "" {
		t.Fatalf("ice_servers = %+v", ice)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(turnURL, "turn:"), "?transport=udp")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "parley"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocate with the connection's credential: %v", err)
	}
	relay.Close()
	// The password is the TURN REST one for the printed secret.
	secret := strings.TrimSpace(parley(t, "turn-secret", "--data-dir", dir))
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(user))
	if base64.StdEncoding.EncodeToString(mac.Sum(nil)) != pass {
		t.Fatal("the credential is not HMAC-SHA1(turn-secret, username)")
	}
}

// WebSocket and REST requests of a user spend from one budget: what the
// WebSocket spent is gone for REST, and REST's refusal is the documented
// 429 rate_limited with Retry-After and retry_after_ms.
func TestRESTAndWebSocketShareTheBudget(t *testing.T) {
	dir := t.TempDir()
	acc, _ := account(t, dir, "budget")
	aliceTok := token(t, dir, acc, "alice", "member")
	bobTok := token(t, dir, acc, "bob", "member")
	// 8 units that do not refill within the test.
	s := start(t, dir, "--messages-per-second", "0.0001", "--messages-burst", "8")
	dial(t, s, bobTok)
	alice := dial(t, s, aliceTok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conv, err := alice.Create(ctx, protocol.CreateConversationRequest{Kind: "direct", Members: []string{"bob"}}) // 5 units
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // ~1.02 each: the conversation has two members
		if _, err := alice.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: fmt.Sprint("ws ", i)}); err != nil {
			t.Fatalf("send %d over WebSocket: %v", i, err)
		}
	}
	req, _ := http.NewRequest("POST", s.url()+"/api/v1/conversations/"+conv.ID+"/messages", strings.NewReader(`{"text":"rest"}`))
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"code":"rate_limited"`) ||
		!strings.Contains(string(body), `"retry_after_ms":`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("REST send after the WebSocket spent the budget: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}
