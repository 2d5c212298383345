package inbox_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/protocol"
)

func TestNewAddress(t *testing.T) {
	const n = 20000
	seen := make(map[string]bool, n)
	counts := map[rune]int{}
	for range n {
		a := inbox.NewAddress()
		if !inbox.ValidAddress(a) {
			t.Fatalf("NewAddress() = %q: not 8 characters of A-Z a-z 0-9", a)
		}
		if seen[a] {
			t.Fatalf("NewAddress() repeated %q", a)
		}
		seen[a] = true
		for _, r := range a {
			counts[r]++
		}
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters used, want all 62", len(counts))
	}
	// Every character equally likely: a chi-squared test with 61 degrees of
	// freedom; 120 is far past its 0.9999 quantile (~107), so a fair
	// generator fails this about once in ten thousand runs, a biased one
	// (e.g. b%62 over all bytes: 4/256 extra for the first 8) always.
	exp := float64(n*inbox.AddressLen) / 62
	chi := 0.0
	for _, c := range counts {
		chi += math.Pow(float64(c)-exp, 2) / exp
	}
	if chi > 120 {
		t.Fatalf("character counts are not uniform: chi² = %.1f", chi)
	}
}

func TestValidAddress(t *testing.T) {
	for s, want := range map[string]bool{
		"Ab3dE5gH": true, "00000000": true, "zzzzzzzz": true,
		"Ab3dE5g": false, "Ab3dE5gHi": false, "Ab3dE5g!": false, "Ab3dE5g ": false, "": false, "Ab3dÉ5gH": false,
	} {
		if got := inbox.ValidAddress(s); got != want {
			t.Errorf("ValidAddress(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestBrowser(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36":                         "Chrome 131 on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0":           "Edge 131 on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15":                      "Safari 17 on macOS",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari 17 on iOS",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0":                                                                  "Firefox 133 on Linux",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36":                   "Chrome 131 on Android",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36":                           "Chrome 156 on Linux",
		"curl/8.5.0": "",
		"":           "",
	} {
		if got := inbox.Browser(ua); got != want {
			t.Errorf("Browser(%q) = %q, want %q", ua, got, want)
		}
	}
}

type fixture struct {
	st    *sqlite.Store
	auth  *auth.Authenticator
	chat  *chat.Service
	inbox *inbox.Service
	acc   store.Account
	owner auth.Identity
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	c := chat.New(st, b, nil, chat.Config{})
	a := auth.New(st, []byte(auth.NewSecret(32)), 720*time.Hour)
	in := inbox.New(st, a, c, inbox.Config{PublicURL: "https://chat.example/"})
	t.Cleanup(func() {
		c.Close()
		st.Close()
	})
	acc, _, err := auth.CreateAccount(ctx, st, "Acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{st: st, auth: a, chat: c, inbox: in, acc: acc}
	f.owner = f.identity(t, "boss", protocol.RoleOwner)
	return f
}

func (f fixture) identity(t *testing.T, name, role string) auth.Identity {
	t.Helper()
	tok, err := f.auth.Mint(auth.MintRequest{AccountID: f.acc.ID, User: name, Role: role, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.auth.Token(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEnsureIsIdempotentAndNamesTheInboxAfterTheAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.inbox.Ensure(ctx, f.acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.inbox.Ensure(ctx, f.acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != b.Address || a.Name != "Acme" || a.Welcome != inbox.DefaultWelcome || a.Color != inbox.DefaultColor || a.Position != "right" {
		t.Fatalf("Ensure: %+v then %+v", a, b)
	}
	if got := f.inbox.Snippet(a.Address); got != `<script src="https://chat.example/widget.js" data-address="`+a.Address+`" async></script>` {
		t.Fatalf("Snippet = %s", got)
	}
}

func TestSessionSanitizesWhatTheWidgetReports(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in, _ := f.inbox.Ensure(ctx, f.acc.ID)
	long := "https://shop.example/" + strings.Repeat("é", 3000)
	s, err := f.inbox.OpenSession(ctx, in.Address, protocol.SessionRequest{
		PageURL: "javascript:alert(1)", Referrer: long, PageTitle: strings.Repeat("t", 400),
		Timezone: "Europe/Sofia; drop table", Locale: "<b>",
	}, inbox.Client{IP: "192.0.2.7", UserAgent: strings.Repeat("u", 1000)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.st.GetVisitor(ctx, f.acc.ID, s.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.PageURL != "" || v.Timezone != "" || v.Locale != "" || len(v.PageTitle) != 300 || len(v.UserAgent) != 512 ||
		len(v.Referrer) > 2048 || !strings.HasPrefix(v.Referrer, "https://shop.example/") || !utf8Valid(v.Referrer) || v.IP != "192.0.2.7" {
		t.Fatalf("stored visitor: url=%q tz=%q locale=%q title=%d ua=%d ref=%d", v.PageURL, v.Timezone, v.Locale, len(v.PageTitle), len(v.UserAgent), len(v.Referrer))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestRegenerateRevokesVisitorTokensAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in, _ := f.inbox.Ensure(ctx, f.acc.ID)
	s, err := f.inbox.OpenSession(ctx, in.Address, protocol.SessionRequest{}, inbox.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Token(ctx, s.Token); err != nil {
		t.Fatalf("a fresh visitor token: %v", err)
	}
	agent := f.identity(t, "ann", protocol.RoleAgent)
	if _, err := f.inbox.RegenerateAddress(ctx, agent); !apperr.Is(err, apperr.CodeForbidden) {
		t.Fatalf("an agent regenerated the address: %v", err)
	}
	out, err := f.inbox.RegenerateAddress(ctx, f.owner)
	if err != nil {
		t.Fatal(err)
	}
	if out.Address == in.Address {
		t.Fatal("the address did not change")
	}
	if _, err := f.auth.Token(ctx, s.Token); !apperr.Is(err, apperr.CodeAddressInvalid) {
		t.Fatalf("a token of the old address: %v, want address_invalid", err)
	}
	if _, err := f.inbox.Widget(ctx, in.Address); !apperr.Is(err, apperr.CodeAddressInvalid) {
		t.Fatalf("the old address: %v", err)
	}
	// A server restarted since (an empty cache) refuses it too.
	fresh := inbox.New(f.st, f.auth, f.chat, inbox.Config{})
	if err := fresh.CheckAddress(ctx, f.acc.ID, in.Address); !apperr.Is(err, apperr.CodeAddressInvalid) {
		t.Fatalf("CheckAddress after restart: %v", err)
	}
	if err := fresh.CheckAddress(ctx, f.acc.ID, out.Address); err != nil {
		t.Fatalf("CheckAddress(new) after restart: %v", err)
	}
}

func TestInboxStatusFollowsTheTeam(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in, _ := f.inbox.Ensure(ctx, f.acc.ID)
	status := func() string {
		w, err := f.inbox.Widget(ctx, in.Address)
		if err != nil {
			t.Fatal(err)
		}
		return w.Status
	}
	if got := status(); got != "offline" {
		t.Fatalf("nobody connected: %s", got)
	}
	agent := f.identity(t, "ann", protocol.RoleAgent)
	if err := f.chat.Connected(ctx, agent, "con_ann"); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "online" {
		t.Fatalf("an agent online: %s", got)
	}
	if _, err := f.chat.SetStatus(ctx, agent, "away"); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "away" {
		t.Fatalf("the only agent away: %s", got)
	}
	if err := f.chat.Connected(ctx, f.owner, "con_owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.chat.SetStatus(ctx, f.owner, "busy"); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "away" {
		t.Fatalf("away and busy: %s, want away (the most available)", got)
	}
	f.chat.Disconnected(ctx, agent, "con_ann")
	if got := status(); got != "busy" {
		t.Fatalf("only the busy owner left: %s", got)
	}
	f.chat.Disconnected(ctx, f.owner, "con_owner")
	if got := status(); got != "offline" {
		t.Fatalf("everyone gone: %s", got)
	}
}

// Two nodes (two inbox services on one store and one bus): an address
// regenerated on one stops working on the other, whose cache held it.
func TestRegeneratedAddressFailsOnEveryNode(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	secret := []byte(auth.NewSecret(32))
	var nodes []*inbox.Service
	var chats []*chat.Service
	for range 2 {
		c := chat.New(st, b, nil, chat.Config{})
		chats = append(chats, c)
		nodes = append(nodes, inbox.New(st, auth.New(st, secret, 720*time.Hour), c, inbox.Config{Bus: b}))
	}
	t.Cleanup(func() {
		for _, c := range chats {
			c.Close()
		}
		st.Close()
	})
	acc, _, err := auth.CreateAccount(ctx, st, "Acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in, err := nodes[0].Ensure(ctx, acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].CheckAddress(ctx, acc.ID, in.Address); err != nil { // now cached on node 1
		t.Fatal(err)
	}
	a := auth.New(st, secret, 720*time.Hour)
	tok, err := a.Mint(auth.MintRequest{AccountID: acc.ID, User: "boss", Role: protocol.RoleOwner, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := a.Token(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	out, err := nodes[0].RegenerateAddress(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].CheckAddress(ctx, acc.ID, in.Address); !apperr.Is(err, apperr.CodeAddressInvalid) {
		t.Fatalf("the old address on the other node: %v, want address_invalid", err)
	}
	if err := nodes[1].CheckAddress(ctx, acc.ID, out.Address); err != nil {
		t.Fatalf("the new address on the other node: %v", err)
	}
}
