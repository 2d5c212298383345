package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/store"
)

// One-time links: the owner's sign-in link printed at first start (and by
// `parley signin-link`), and the invitations an owner sends to agents.
// Only a hash of the code is stored, so a copy of the database holds no
// working link, and a link works once.

// Kinds of one-time link.
const (
	LinkSignin = "signin" // signs in an existing user
	LinkInvite = "invite" // lets a new agent choose a login and password
)

// Grant is what a one-time link gives whoever redeems it first.
type Grant struct {
	Kind        string    `json:"kind"`
	AccountID   string    `json:"account_id"`
	User        string    `json:"user,omitempty"` // sign-in: the user's name in the account
	Role        string    `json:"role"`
	DisplayName string    `json:"display_name,omitempty"`
	Expires     time.Time `json:"expires"`
	Used        bool      `json:"used"`
}

const settingLink = "link:" // + sha256(code)

var errLinkInvalid = apperr.New(apperr.Forbidden, apperr.CodeLinkInvalid,
	"this link is not valid: it was already used, has expired, or was mistyped")

func linkKey(code string) string {
	h := sha256.Sum256([]byte(code))
	return settingLink + hex.EncodeToString(h[:])
}

// CreateLink stores g under a new random code and returns the code.
func (a *Authenticator) CreateLink(ctx context.Context, g Grant, ttl time.Duration) (string, error) {
	if g.Kind != LinkSignin && g.Kind != LinkInvite {
		return "", apperr.Invalidf("unknown link kind %q", g.Kind)
	}
	if err := ValidRole(g.Role); err != nil {
		return "", err
	}
	code := NewSecret(24)
	g.Expires, g.Used = a.now().Add(ttl).UTC(), false
	b, _ := json.Marshal(g)
	if err := a.st.PutSetting(ctx, linkKey(code), string(b)); err != nil {
		return "", apperr.Wrap("auth.CreateLink", err)
	}
	return code, nil
}

// PeekLink returns the grant of a usable link without using it up.
func (a *Authenticator) PeekLink(ctx context.Context, code string) (Grant, error) {
	g, _, err := a.loadLink(ctx, code)
	return g, err
}

func (a *Authenticator) loadLink(ctx context.Context, code string) (Grant, string, error) {
	var g Grant
	if code == "" || len(code) > 200 {
		return g, "", errLinkInvalid
	}
	key := linkKey(code)
	v, err := a.st.GetSetting(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return g, "", errLinkInvalid
	}
	if err != nil {
		return g, "", apperr.Wrap("auth.link", err)
	}
	if json.Unmarshal([]byte(v), &g) != nil || g.Used || a.now().After(g.Expires) {
		return Grant{}, "", errLinkInvalid
	}
	return g, key, nil
}

// Claimer makes a one-time action happen once across nodes
// (cluster.Claims: Claim reports true to exactly one of racing callers of
// a key until ttl has passed).
type Claimer interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// SetClaims makes RedeemLink take a claim on the link, so that of racing
// redemptions on several nodes (sharing a store, which has no
// compare-and-set for settings) exactly one succeeds. One node needs none.
func (a *Authenticator) SetClaims(c Claimer) { a.claims = c }

// RedeemLink uses a link up and returns its grant. Of racing redemptions
// of one code exactly one succeeds: on one node through a mutex, across
// nodes through the claims of SetClaims.
func (a *Authenticator) RedeemLink(ctx context.Context, code, kind string) (Grant, error) {
	a.redeemMu.Lock()
	defer a.redeemMu.Unlock()
	g, key, err := a.loadLink(ctx, code)
	if err != nil {
		return g, err
	}
	if g.Kind != kind {
		return Grant{}, errLinkInvalid
	}
	if a.claims != nil {
		// Held until the link has expired (and a minute more), so a claim
		// never lapses while the link could still be read as unused. A
		// write that fails after it leaves the link burned: fails closed.
		ok, err := a.claims.Claim(ctx, key, g.Expires.Sub(a.now())+time.Minute)
		if err != nil {
			return Grant{}, apperr.Wrap("auth.RedeemLink", err)
		}
		if !ok {
			return Grant{}, errLinkInvalid
		}
	}
	g.Used = true
	b, _ := json.Marshal(g)
	if err := a.st.PutSetting(ctx, key, string(b)); err != nil {
		return Grant{}, apperr.Wrap("auth.RedeemLink", err)
	}
	return g, nil
}
