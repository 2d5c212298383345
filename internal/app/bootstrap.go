package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

const (
	settingSecret    = "token_secret"
	settingSignin    = "signin:" // + sha256(code): a one-time sign-in link
	signinLinkTTL    = 24 * time.Hour
	signinTokenTTL   = 12 * time.Hour
	defaultOwnerName = "owner"
)

// Secret returns the token signing secret: the configured one, or the one
// generated on first start and kept in the database.
func Secret(ctx context.Context, st store.Store, cfg config.Config) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	s, err := st.GetSetting(ctx, settingSecret)
	if errors.Is(err, store.ErrNotFound) {
		s = auth.NewSecret(32)
		err = st.PutSetting(ctx, settingSecret, s)
	}
	if err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	return []byte(s), nil
}

// FirstStart describes what Bootstrap created.
type FirstStart struct {
	Account    store.Account
	APIKey     string
	SigninLink string
}

// Bootstrap creates, on a fresh database only, the default account, its
// owner and API key, and a one-time sign-in link for the owner. It returns
// nil when the database already has an account.
func (a *App) Bootstrap(ctx context.Context) (*FirstStart, error) {
	accts, err := a.Store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	if len(accts) > 0 {
		return nil, nil
	}
	now := time.Now()
	acc, key, err := auth.CreateAccount(ctx, a.Store, "Default", now)
	if err != nil {
		return nil, err
	}
	owner, err := a.Store.UpsertUser(ctx, store.User{ID: ids.New(ids.User), AccountID: acc.ID, Name: defaultOwnerName,
		DisplayName: "Owner", Role: protocol.RoleOwner, CreatedAt: now.UTC()})
	if err != nil {
		return nil, err
	}
	link, err := a.SigninLink(ctx, owner)
	if err != nil {
		return nil, err
	}
	return &FirstStart{Account: acc, APIKey: key, SigninLink: link}, nil
}

type signinGrant struct {
	AccountID string    `json:"account_id"`
	User      string    `json:"user"`
	Role      string    `json:"role"`
	Expires   time.Time `json:"expires"`
	Used      bool      `json:"used"`
}

// SigninLink makes a one-time link that signs u in. Only the code's hash is
// stored, so a copy of the database does not hold working links.
func (a *App) SigninLink(ctx context.Context, u store.User) (string, error) {
	code := auth.NewSecret(24)
	g, _ := json.Marshal(signinGrant{AccountID: u.AccountID, User: u.Name, Role: u.Role, Expires: time.Now().Add(signinLinkTTL)})
	if err := a.Store.PutSetting(ctx, settingSignin+hashCode(code), string(g)); err != nil {
		return "", err
	}
	return a.Cfg.PublicURLOrDefault() + "/signin?code=" + code, nil
}

func hashCode(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

var signinPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Parley sign-in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
code,textarea{font:13px ui-monospace,monospace}textarea{width:100%;height:7rem}.err{color:#b42318}</style></head>
<body><h1>Parley</h1>
{{if .Error}}<p class="err">{{.Error}}</p>
{{else}}<p>Signed in as <strong>{{.User}}</strong> ({{.Role}}). This access token is valid until {{.Until}}; use it as <code>Authorization: Bearer …</code> for the API and WebSocket.</p>
<textarea readonly>{{.Token}}</textarea>
<script>try{localStorage.setItem("parley.token",{{.Token}})}catch(e){}</script>{{end}}
</body></html>`))

// signin redeems a one-time link: the code works once, then never again.
func (a *App) signin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := map[string]string{}
	token, g, err := a.redeem(r.Context(), r.URL.Query().Get("code"))
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		data["Error"] = "Sorry: " + err.Error()
	} else {
		data["User"], data["Role"], data["Token"] = g.User, g.Role, token
		data["Until"] = time.Now().Add(signinTokenTTL).UTC().Format(time.RFC1123)
	}
	signinPage.Execute(w, data)
}

func (a *App) redeem(ctx context.Context, code string) (string, signinGrant, error) {
	// One redemption at a time, so two racing requests cannot both see the
	// link unused (one node; a shared store would need a compare-and-set).
	a.redeemMu.Lock()
	defer a.redeemMu.Unlock()
	var g signinGrant
	invalid := errors.New("this sign-in link is not valid: it was already used, has expired, or was mistyped")
	if code == "" {
		return "", g, invalid
	}
	key := settingSignin + hashCode(code)
	v, err := a.Store.GetSetting(ctx, key)
	if err != nil || json.Unmarshal([]byte(v), &g) != nil || g.Used || time.Now().After(g.Expires) {
		return "", g, invalid
	}
	g.Used = true
	used, _ := json.Marshal(g)
	if err := a.Store.PutSetting(ctx, key, string(used)); err != nil {
		return "", g, err
	}
	token, err := a.Auth.Mint(auth.MintRequest{AccountID: g.AccountID, User: g.User, Role: g.Role, TTL: signinTokenTTL})
	return token, g, err
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Parley</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2433}code{font:14px ui-monospace,monospace}</style></head>
<body><h1>Parley is running</h1>
<p>Real-time chat over <code>{{.WS}}/ws</code> and REST under <code>{{.HTTP}}/api/v1</code>
(<a href="/api/v1/openapi.json">OpenAPI document</a>, <a href="/healthz">health</a>).</p>
</body></html>`))

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	base := a.Cfg.PublicURLOrDefault()
	ws := "ws" + strings.TrimPrefix(base, "http") // http→ws, https→wss
	homePage.Execute(w, map[string]string{"HTTP": base, "WS": ws})
}
