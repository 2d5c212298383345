package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

// signinCode makes a one-time sign-in link code for a user, as first start does.
func (e *env) signinCode(name, role string) (store.User, string) {
	e.t.Helper()
	u := e.user(e.acc, name, role)
	su, err := e.st.GetUser(context.Background(), e.acc.ID, u.id)
	if err != nil {
		e.t.Fatal(err)
	}
	code, err := e.auth.SigninCode(context.Background(), su, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return su, code
}

func TestSigninLinkThenPasswordThenLogin(t *testing.T) {
	e := newEnv(t, api.Config{LoginAttemptsPerMinute: 1000})
	owner, code := e.signinCode("boss", protocol.RoleOwner)
	anon := e.as("")

	// Racing redemptions of one link: exactly one signs in.
	var mu sync.Mutex
	var wins []protocol.ConsoleSession
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			r := anon.do("POST", "/auth/link", map[string]string{"code": code})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.status == 200:
				var s protocol.ConsoleSession
				mustUnmarshal(t, r.body, &s)
				wins = append(wins, s)
			case r.status != 403 || r.code() != "link_invalid":
				t.Errorf("redeem: %d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d racing redemptions signed in, want 1", len(wins))
	}
	s := wins[0]
	if s.User.ID != owner.ID || s.User.Role != "owner" || !s.NeedsPassword || s.Login != "" {
		t.Fatalf("link session = %+v", s)
	}
	anon.wantErr("POST", "/auth/link", map[string]string{"code": code}, 403, "link_invalid")
	anon.wantErr("POST", "/auth/link", map[string]string{"code": "nope"}, 403, "link_invalid")

	// Choose a login and password.
	me := e.as(s.Token)
	me.wantErr("PUT", "/auth/password", map[string]string{"login": "boss@acme.example", "password": "short"}, 400, "bad_request")
	me.wantErr("PUT", "/auth/password", map[string]string{"login": "has space", "password": "long enough"}, 400, "bad_request")
	var withLogin protocol.ConsoleSession
	me.mustJSON("PUT", "/auth/password", map[string]string{"login": " Boss@Acme.example ", "password": "correct horse"}, 200, &withLogin)
	if withLogin.Login != "boss@acme.example" || withLogin.NeedsPassword {
		t.Fatalf("after choosing a login: %+v", withLogin)
	}

	// Sign in with it (any case), not with a wrong password or an unknown login.
	var in protocol.ConsoleSession
	anon.mustJSON("POST", "/auth/login", map[string]string{"login": "BOSS@acme.example", "password": "correct horse"}, 200, &in)
	if in.User.ID != owner.ID || in.AccountID != e.acc.ID {
		t.Fatalf("login session = %+v", in)
	}
	anon.wantErr("POST", "/auth/login", map[string]string{"login": "boss@acme.example", "password": "wrong horse"}, 401, "bad_credentials")
	anon.wantErr("POST", "/auth/login", map[string]string{"login": "nobody@acme.example", "password": "correct horse"}, 401, "bad_credentials")
	anon.wantErr("POST", "/auth/login", map[string]string{"login": "boss@acme.example", "password": strings.Repeat("x", 100)}, 401, "bad_credentials")

	// Changing the password needs the current one.
	signedIn := e.as(in.Token)
	signedIn.wantErr("PUT", "/auth/password", map[string]string{"login": "boss@acme.example", "password": "battery staple"}, 403, "bad_credentials")
	signedIn.wantErr("PUT", "/auth/password", map[string]string{"login": "boss@acme.example", "password": "battery staple", "current_password": "nope"}, 403, "bad_credentials")
	signedIn.mustJSON("PUT", "/auth/password", map[string]string{"login": "boss@acme.example", "password": "battery staple", "current_password": "correct horse"}, 200, nil)
	anon.wantErr("POST", "/auth/login", map[string]string{"login": "boss@acme.example", "password": "correct horse"}, 401, "bad_credentials")
	anon.mustJSON("POST", "/auth/login", map[string]string{"login": "boss@acme.example", "password": "battery staple"}, 200, nil)

	// A session renews itself while valid.
	var renewed protocol.ConsoleSession
	signedIn.mustJSON("POST", "/auth/refresh", nil, 200, &renewed)
	if renewed.Token == "" || renewed.User.ID != owner.ID {
		t.Fatalf("refresh = %+v", renewed)
	}
	e.as(e.expiredToken("boss", protocol.RoleOwner)).wantErr("POST", "/auth/refresh", nil, 401, "token_expired")
	// Members and visitors have no console.
	e.user(e.acc, "mo", protocol.RoleMember).wantErr("PUT", "/auth/password", map[string]string{"login": "mo", "password": "long enough"}, 403, "forbidden")
	e.user(e.acc, "vic", protocol.RoleVisitor).wantErr("POST", "/auth/refresh", nil, 403, "forbidden")
}

func TestInviteAnAgent(t *testing.T) {
	e := newEnv(t, api.Config{LoginAttemptsPerMinute: 1000})
	owner := e.user(e.acc, "boss", protocol.RoleOwner)
	agent := e.user(e.acc, "ann", protocol.RoleAgent)
	agent.wantErr("POST", "/team/invites", nil, 403, "forbidden")
	e.user(e.acc, "mo", protocol.RoleMember).wantErr("GET", "/team", nil, 403, "forbidden")

	var inv protocol.Invite
	owner.mustJSON("POST", "/team/invites", map[string]string{"display_name": "Bob"}, 201, &inv)
	prefix := "https://chat.example/console/#invite="
	if !strings.HasPrefix(inv.URL, prefix) || inv.ExpiresAt.Before(time.Now().Add(6*24*time.Hour)) {
		t.Fatalf("invite = %+v", inv)
	}
	code := strings.TrimPrefix(inv.URL, prefix)
	anon := e.as("")
	// A taken login leaves the invitation usable.
	owner.mustJSON("PUT", "/auth/password", map[string]string{"login": "boss", "password": "long enough"}, 200, nil)
	anon.wantErr("POST", "/auth/invite", map[string]string{"code": code, "login": "BOSS", "password": "bob's password"}, 409, "login_taken")
	anon.wantErr("POST", "/auth/invite", map[string]string{"code": code, "login": "bob", "password": "short"}, 400, "bad_request")
	// A sign-in link is not an invitation.
	_, signin := e.signinCode("carol", protocol.RoleAgent)
	anon.wantErr("POST", "/auth/invite", map[string]string{"code": signin, "login": "carol", "password": "long enough"}, 403, "link_invalid")

	var s protocol.ConsoleSession
	anon.mustJSON("POST", "/auth/invite", map[string]string{"code": code, "login": "bob@acme.example", "password": "bob's password"}, 200, &s)
	if s.User.Role != "agent" || s.User.DisplayName != "Bob" || s.Login != "bob@acme.example" || s.AccountID != e.acc.ID {
		t.Fatalf("invited agent = %+v", s)
	}
	anon.wantErr("POST", "/auth/invite", map[string]string{"code": code, "login": "bob2", "password": "bob's password"}, 403, "link_invalid")
	anon.mustJSON("POST", "/auth/login", map[string]string{"login": "bob@acme.example", "password": "bob's password"}, 200, nil)

	var team struct{ Members []protocol.TeamMember }
	e.as(s.Token).mustJSON("GET", "/team", nil, 200, &team)
	names := map[string]string{}
	for _, m := range team.Members {
		names[m.User.DisplayName] = m.Login
	}
	if len(team.Members) != 4 || names["Bob"] != "bob@acme.example" || names["Boss"] != "boss" {
		t.Fatalf("team = %+v", team.Members)
	}
	// The new agent answers the account's inboxes.
	v := e.user(e.acc, "vic", protocol.RoleVisitor)
	var conv protocol.Conversation
	v.mustJSON("POST", "/inbox", nil, 200, &conv)
	v.send(conv.ID, "hi")
	e.as(s.Token).send(conv.ID, "hello, I'm Bob")
}

func TestSigninAttemptsAreLimitedPerIP(t *testing.T) {
	e := newEnv(t, api.Config{LoginAttemptsPerMinute: 2})
	anon := e.as("")
	for range 2 {
		anon.wantErr("POST", "/auth/login", map[string]string{"login": "x@y.z", "password": "guess guess"}, 401, "bad_credentials")
	}
	r := anon.wantErr("POST", "/auth/login", map[string]string{"login": "x@y.z", "password": "guess guess"}, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// One budget for every way in: links and invitations too.
	anon.wantErr("POST", "/auth/link", map[string]string{"code": "guess"}, 429, "rate_limited")
	anon.wantErr("POST", "/auth/invite", map[string]string{"code": "guess"}, 429, "rate_limited")
}

func TestLinksExpire(t *testing.T) {
	e := newEnv(t, api.Config{})
	u := e.user(e.acc, "boss", protocol.RoleOwner)
	su, _ := e.st.GetUser(context.Background(), e.acc.ID, u.id)
	code, err := e.auth.SigninCode(context.Background(), su, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.auth.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	defer e.auth.SetClock(time.Now)
	e.as("").wantErr("POST", "/auth/link", map[string]string{"code": code}, 403, "link_invalid")
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}
