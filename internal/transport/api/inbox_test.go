package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

// settingsOf reads the inbox settings as the account's owner.
func (e *env) ownerSettings() (*client, protocol.InboxSettings) {
	e.t.Helper()
	owner := e.user(e.acc, "boss", protocol.RoleOwner)
	var s protocol.InboxSettings
	owner.mustJSON("GET", "/inbox/settings", nil, 200, &s)
	return owner, s
}

func TestWidgetAndSessionThroughAnAddress(t *testing.T) {
	e := newEnv(t, api.Config{})
	_, s := e.ownerSettings()
	if len(s.Address) != 8 || !strings.Contains(s.Snippet, `data-address="`+s.Address+`"`) ||
		s.ChatURL != "https://chat.example/chat/"+s.Address || s.WidgetURL != "https://chat.example/widget.js" {
		t.Fatalf("settings = %+v", s)
	}
	anon := e.as("")
	var w protocol.WidgetConfig
	anon.mustJSON("GET", "/widget/"+s.Address, nil, 200, &w)
	if w.Address != s.Address || w.Color == "" || w.Position != "right" || w.Status != "offline" {
		t.Fatalf("widget = %+v", w)
	}
	anon.wantErr("GET", "/widget/Zz9Zz9Zz", nil, 404, "address_invalid")
	anon.wantErr("GET", "/widget/not-an-address", nil, 404, "address_invalid")

	// A new visitor: no sign-up, a ticket to come back with.
	var first protocol.Session
	anon.mustJSON("POST", "/widget/"+s.Address+"/session", protocol.SessionRequest{PageURL: "https://shop.example/p/1"}, 200, &first)
	if first.Token == "" || first.User.Role != "visitor" || first.Visitor == nil || first.Identified || first.ConversationID != "" {
		t.Fatalf("first session = %+v", first)
	}
	v := e.as(first.Token)
	var conv protocol.Conversation
	v.mustJSON("POST", "/inbox", nil, 200, &conv)
	v.send(conv.ID, "hello")

	// Coming back with the ticket: the same visitor and their conversation.
	var again protocol.Session
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	anon.mustJSON("POST", "/widget/"+s.Address+"/session", protocol.SessionRequest{Visitor: first.Visitor,
		PageURL: "https://shop.example/p/2", PageTitle: "Shoes", Timezone: "Europe/Sofia", Locale: "bg-BG"}, 200, &again, "User-Agent", chrome)
	if again.User.ID != first.User.ID || again.ConversationID != conv.ID {
		t.Fatalf("returning visitor: %+v, want user %s in %s", again, first.User.ID, conv.ID)
	}
	// A forged ticket is a new visitor, never someone else.
	var forged protocol.Session
	anon.mustJSON("POST", "/widget/"+s.Address+"/session", protocol.SessionRequest{
		Visitor: &protocol.VisitorTicket{ID: first.Visitor.ID, Ticket: "AAAA" + first.Visitor.Ticket[4:]}}, 200, &forged)
	if forged.User.ID == first.User.ID || forged.ConversationID != "" {
		t.Fatalf("a forged ticket opened %+v", forged)
	}

	// The console sees where the visitor is.
	agent := e.user(e.acc, "ann", protocol.RoleAgent)
	var d protocol.VisitorDetails
	agent.mustJSON("GET", "/conversations/"+conv.ID+"/visitor", nil, 200, &d)
	if d.UserID != first.User.ID || d.PageURL != "https://shop.example/p/2" || d.PageTitle != "Shoes" || d.Timezone != "Europe/Sofia" ||
		d.Locale != "bg-BG" || d.Browser != "Chrome 131 on Windows" || d.IP != "127.0.0.1" || d.DisplayName != first.User.DisplayName {
		t.Fatalf("visitor details = %+v", d)
	}
	v.wantErr("GET", "/conversations/"+conv.ID+"/visitor", nil, 403, "forbidden")
	e.user(e.accB, "ann", protocol.RoleAgent).wantErr("GET", "/conversations/"+conv.ID+"/visitor", nil, 404, "not_found")
}

func TestIdentityFromTheSite(t *testing.T) {
	e := newEnv(t, api.Config{})
	_, s := e.ownerSettings()
	anon := e.as("")
	path := "/widget/" + s.Address + "/session"
	// The site's backend signs its customer with its API key.
	id := e.siteToken(e.key, e.acc.ID, "customer-42", "visitor", "Jane")
	var js protocol.Session
	anon.mustJSON("POST", path, protocol.SessionRequest{Identity: id}, 200, &js)
	if !js.Identified || js.User.Name != "customer-42" || js.User.DisplayName != "Jane" || js.Visitor != nil {
		t.Fatalf("identified session = %+v", js)
	}
	anon.wantErr("POST", path, protocol.SessionRequest{Identity: e.siteToken(e.keyB, e.accB.ID, "x", "visitor", "X")}, 401, "unauthenticated")
	anon.wantErr("POST", path, protocol.SessionRequest{Identity: id[:len(id)-3] + "abc"}, 401, "unauthenticated")
	// An identity naming a member is refused and changes nothing.
	e.user(e.acc, "mia", protocol.RoleMember)
	anon.wantErr("POST", path, protocol.SessionRequest{Identity: e.siteToken(e.key, e.acc.ID, "mia", "visitor", "Mia")}, 403, "forbidden")
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	var me struct{ Role string }
	mia.mustJSON("GET", "/me", nil, 200, &me)
	if me.Role != "member" {
		t.Fatalf("mia's role became %q", me.Role)
	}
}

func TestInboxSettingsPermissionsAndValidation(t *testing.T) {
	e := newEnv(t, api.Config{})
	owner, before := e.ownerSettings()
	agent := e.user(e.acc, "ann", protocol.RoleAgent)
	member := e.user(e.acc, "mo", protocol.RoleMember)
	visitor := e.user(e.acc, "vic", protocol.RoleVisitor)
	service := e.as(e.key)
	color := "#10B981"
	patch := protocol.InboxSettingsPatch{Color: &color}

	agent.mustJSON("GET", "/inbox/settings", nil, 200, nil)
	service.mustJSON("GET", "/inbox/settings", nil, 200, nil)
	for _, c := range []*client{member, visitor} {
		c.wantErr("GET", "/inbox/settings", nil, 403, "forbidden")
	}
	for _, c := range []*client{agent, member, visitor, service} {
		c.wantErr("PATCH", "/inbox/settings", patch, 403, "forbidden")
		c.wantErr("POST", "/inbox/address", nil, 403, "forbidden")
	}
	e.as("").wantErr("GET", "/inbox/settings", nil, 401, "unauthenticated")

	bad := []protocol.InboxSettingsPatch{
		{Color: ptr("red")}, {Color: ptr("#12345")}, {Position: ptr("top")},
		{Name: ptr("  ")}, {Name: ptr(strings.Repeat("n", 81))}, {Welcome: ptr(strings.Repeat("w", 1001))},
	}
	for _, p := range bad {
		owner.wantErr("PATCH", "/inbox/settings", p, 400, "bad_request")
	}
	var now protocol.InboxSettings
	owner.mustJSON("GET", "/inbox/settings", nil, 200, &now)
	if now.Color != before.Color || now.Name != before.Name || now.Welcome != before.Welcome || now.Position != before.Position {
		t.Fatalf("refused patches changed the settings: %+v → %+v", before, now)
	}
	var after protocol.InboxSettings
	owner.mustJSON("PATCH", "/inbox/settings", protocol.InboxSettingsPatch{Color: &color, Position: ptr("left"),
		Name: ptr("Acme Support"), Welcome: ptr("Welcome to Acme!")}, 200, &after)
	if after.Color != "#10b981" || after.Position != "left" || after.Name != "Acme Support" || after.Welcome != "Welcome to Acme!" || after.Address != before.Address {
		t.Fatalf("after patch: %+v", after)
	}
	var w protocol.WidgetConfig
	e.as("").mustJSON("GET", "/widget/"+after.Address, nil, 200, &w)
	if w.Name != "Acme Support" || w.Color != "#10b981" || w.Position != "left" {
		t.Fatalf("the widget did not follow: %+v", w)
	}
	// Another account's settings are its own.
	var other protocol.InboxSettings
	e.user(e.accB, "boss", protocol.RoleOwner).mustJSON("GET", "/inbox/settings", nil, 200, &other)
	if other.Address == after.Address || other.Name == "Acme Support" {
		t.Fatalf("account B sees %+v", other)
	}
}

func TestRegenerateAddressRevokesTheOldOne(t *testing.T) {
	e := newEnv(t, api.Config{})
	owner, s := e.ownerSettings()
	anon := e.as("")
	var sess protocol.Session
	anon.mustJSON("POST", "/widget/"+s.Address+"/session", nil, 200, &sess)
	visitor := e.as(sess.Token)
	visitor.mustJSON("POST", "/inbox", nil, 200, nil)

	var fresh protocol.InboxSettings
	owner.mustJSON("POST", "/inbox/address", nil, 200, &fresh)
	if fresh.Address == s.Address || len(fresh.Address) != 8 || !strings.Contains(fresh.Snippet, fresh.Address) {
		t.Fatalf("regenerated: %+v (was %s)", fresh, s.Address)
	}
	r := anon.wantErr("GET", "/widget/"+s.Address, nil, 404, "address_invalid")
	if !strings.Contains(string(r.body), "no longer valid") {
		t.Fatalf("the old address's message: %s", r.body)
	}
	anon.wantErr("POST", "/widget/"+s.Address+"/session", nil, 404, "address_invalid")
	// Sessions opened through the old address stop at once.
	visitor.wantErr("POST", "/inbox", nil, 401, "address_invalid")
	// The same visitor comes back through the new address.
	var back protocol.Session
	anon.mustJSON("POST", "/widget/"+fresh.Address+"/session", protocol.SessionRequest{Visitor: sess.Visitor}, 200, &back)
	if back.User.ID != sess.User.ID || back.ConversationID == "" {
		t.Fatalf("through the new address: %+v", back)
	}
	e.as(back.Token).mustJSON("POST", "/inbox", nil, 200, nil)
}

func TestAddressAttemptsAreLimitedPerIP(t *testing.T) {
	e := newEnv(t, api.Config{AddressAttemptsPerMinute: 3})
	_, s := e.ownerSettings()
	anon := e.as("")
	anon.mustJSON("GET", "/widget/"+s.Address, nil, 200, nil)
	anon.mustJSON("POST", "/widget/"+s.Address+"/session", nil, 200, nil)
	anon.wantErr("GET", "/widget/Aa1Aa1Aa", nil, 404, "address_invalid") // wrong guesses count too
	r := anon.wantErr("GET", "/widget/"+s.Address, nil, 429, "rate_limited")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("429 without Retry-After: %v", r.header)
	}
	anon.wantErr("POST", "/widget/"+s.Address+"/session", nil, 429, "rate_limited")
	// Another address (behind a trusted proxy) has its own budget; this
	// server does not trust X-Forwarded-For, so a spoofed header does not help.
	anon.wantErr("GET", "/widget/"+s.Address, nil, 429, "rate_limited", "X-Forwarded-For", "203.0.113.9")
}

func TestTrustedProxyGivesEachClientItsBudget(t *testing.T) {
	e := newEnv(t, api.Config{AddressAttemptsPerMinute: 1, TrustProxyHeaders: true})
	_, s := e.ownerSettings()
	anon := e.as("")
	anon.mustJSON("GET", "/widget/"+s.Address, nil, 200, nil, "X-Forwarded-For", "203.0.113.1")
	anon.wantErr("GET", "/widget/"+s.Address, nil, 429, "rate_limited", "X-Forwarded-For", "203.0.113.1")
	anon.mustJSON("GET", "/widget/"+s.Address, nil, 200, nil, "X-Forwarded-For", "203.0.113.2")
}

func ptr(s string) *string { return &s }

func (e *env) siteToken(apiKey, accountID, sub, role, name string) string {
	e.t.Helper()
	return signWithKey(e.t, apiKey, accountID, sub, role, name)
}

// signWithKey signs a token the way a site's backend does, with its API key.
func signWithKey(t *testing.T, apiKey, accountID, sub, role, name string) string {
	t.Helper()
	kid, secret, ok := auth.SplitAPIKey(apiKey)
	if !ok {
		t.Fatalf("bad API key %q", apiKey)
	}
	tok, err := auth.Mint(kid, []byte(secret), auth.MintRequest{AccountID: accountID, User: sub, Role: role, DisplayName: name, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
