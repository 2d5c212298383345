// Package auth turns credentials into identities: signed access tokens for
// people, API keys for a site's backend. Who a request comes from is decided
// here and nowhere else; nothing in a body or query names the sender.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/protocol"
)

// ServerKeyID is the "kid" of tokens the server signs with its own secret.
// Tokens a site's backend mints carry its API key id as "kid" instead.
const ServerKeyID = "parley"

// Claims are what an access token says. The JSON names are short so that
// site backends can mint tokens with any JWT library.
type Claims struct {
	AccountID   string `json:"acc"`
	Role        string `json:"role"`
	DisplayName string `json:"name,omitempty"`
	// Address is the inbox address a visitor session was opened through;
	// the token stops working when the address is regenerated.
	Address string `json:"adr,omitempty"`
	jwt.RegisteredClaims
}

// MintRequest describes a token to sign.
type MintRequest struct {
	AccountID   string
	User        string // the account's own name for the user; becomes "sub"
	Role        string
	DisplayName string
	Address     string // inbox address, for visitor sessions
	TTL         time.Duration
}

// Mint signs a token with secret under key id kid (HS256).
func Mint(kid string, secret []byte, r MintRequest, now time.Time) (string, error) {
	if err := ValidRole(r.Role); err != nil {
		return "", err
	}
	if r.User == "" || r.AccountID == "" {
		return "", apperr.Invalidf("account and user are required")
	}
	if r.TTL <= 0 {
		return "", apperr.Invalidf("ttl must be positive")
	}
	c := Claims{
		AccountID:   r.AccountID,
		Role:        r.Role,
		DisplayName: r.DisplayName,
		Address:     r.Address,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   r.User,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(r.TTL)),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = kid
	return t.SignedString(secret)
}

// ValidRole accepts the four roles.
func ValidRole(role string) error {
	switch role {
	case protocol.RoleOwner, protocol.RoleAgent, protocol.RoleMember, protocol.RoleVisitor:
		return nil
	}
	return apperr.Invalidf("role must be owner, agent, member or visitor, not %q", role)
}

// KeyLookup returns the secret for a key id and the account it is bound to
// ("" for the server key, which may sign for any account).
type KeyLookup func(kid string) (secret []byte, accountID string, err error)

// Parse verifies a token's signature and expiry. maxTTL bounds how far in
// the future exp may lie (tokens that live for years are refused).
func Parse(token string, lookup KeyLookup, now time.Time, maxTTL time.Duration) (Claims, error) {
	var c Claims
	var boundAccount string
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
	)
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		secret, acc, err := lookup(kid)
		if err != nil {
			return nil, err
		}
		boundAccount = acc
		return secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeTokenExpired, "the token has expired")
	case err != nil:
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the token is not valid")
	}
	if boundAccount != "" && c.AccountID != boundAccount {
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the token's key belongs to another account")
	}
	if c.Subject == "" || c.AccountID == "" || len(c.Subject) > 200 {
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the token names no user or account")
	}
	if ValidRole(c.Role) != nil {
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the token's role is not valid")
	}
	if maxTTL > 0 && c.ExpiresAt.Sub(now) > maxTTL+time.Minute {
		return Claims{}, apperr.New(apperr.Unauthorized, apperr.CodeUnauthenticated, "the token lives longer than the server allows (%s)", maxTTL)
	}
	return c, nil
}

// NewSecret returns n random bytes, base64url-encoded.
func NewSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the OS has no randomness: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// APIKeyString joins a key id and secret into the one string operators copy:
// "<key id>.<secret>". Key ids never contain a dot.
func APIKeyString(id, secret string) string { return id + "." + secret }

// SplitAPIKey is the inverse of APIKeyString.
func SplitAPIKey(s string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(s, ".")
	if !ok || !strings.HasPrefix(id, "key_") || secret == "" {
		return "", "", false
	}
	return id, secret, true
}
