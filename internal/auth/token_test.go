package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-chat/parley/internal/apperr"
)

var (
	srvSecret = []byte("server-secret-0123456789abcdef0123456789")
	keySecret = []byte("site-key-secret-0123456789abcdef01234567")
	t0        = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func lookup(kid string) ([]byte, string, error) {
	switch kid {
	case ServerKeyID:
		return srvSecret, "", nil
	case "key_site":
		return keySecret, "acc_site", nil
	}
	return nil, "", errors.New("unknown key")
}

func mint(t *testing.T, kid string, secret []byte, r MintRequest) string {
	t.Helper()
	tok, err := Mint(kid, secret, r, t0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestParse(t *testing.T) {
	good := MintRequest{AccountID: "acc_site", User: "alice", Role: "member", DisplayName: "Alice", TTL: time.Hour}
	cases := []struct {
		name  string
		token string
		now   time.Time
		code  string // "" = accepted
	}{
		{"server key", mint(t, ServerKeyID, srvSecret, good), t0, ""},
		{"site key for its own account", mint(t, "key_site", keySecret, good), t0, ""},
		{"expired", mint(t, ServerKeyID, srvSecret, good), t0.Add(2 * time.Hour), apperr.CodeTokenExpired},
		{"wrong HMAC", mint(t, ServerKeyID, []byte("another-secret-0123456789abcdef0123456"), good), t0, apperr.CodeUnauthenticated},
		{"unknown key", mint(t, "key_nope", keySecret, good), t0, apperr.CodeUnauthenticated},
		{"site key for another account", mint(t, "key_site", keySecret, MintRequest{AccountID: "acc_other", User: "mallory", Role: "owner", TTL: time.Hour}), t0, apperr.CodeUnauthenticated},
		{"lives too long", mint(t, ServerKeyID, srvSecret, MintRequest{AccountID: "acc_site", User: "a", Role: "member", TTL: 1000 * time.Hour}), t0, apperr.CodeUnauthenticated},
		{"garbage", "not.a.token", t0, apperr.CodeUnauthenticated},
		{"tampered payload", tamper(mint(t, ServerKeyID, srvSecret, good)), t0, apperr.CodeUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.token, lookup, tc.now, 720*time.Hour)
			if tc.code == "" {
				if err != nil || c.Subject != "alice" || c.AccountID != "acc_site" || c.Role != "member" || c.DisplayName != "Alice" {
					t.Fatalf("Parse = %+v, %v", c, err)
				}
				return
			}
			if !apperr.Is(err, tc.code) {
				t.Fatalf("Parse error %v, want %s", err, tc.code)
			}
		})
	}
}

// tamper swaps the payload for one naming another user, keeping the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{AccountID: "acc_site", Role: "owner",
		RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour))}}).SigningString()
	return strings.Split(other, ".")[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
}

func TestNoneAlgorithmIsRefused(t *testing.T) {
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{AccountID: "acc_site", Role: "owner",
		RegisteredClaims: jwt.RegisteredClaims{Subject: "eve", ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour))}})
	tok.Header["kid"] = ServerKeyID
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(s, lookup, t0, time.Hour*720); !apperr.Is(err, apperr.CodeUnauthenticated) {
		t.Fatalf("alg none: %v", err)
	}
}

func TestMintValidates(t *testing.T) {
	for _, r := range []MintRequest{
		{AccountID: "a", User: "u", Role: "admin", TTL: time.Hour},
		{AccountID: "a", User: "", Role: "member", TTL: time.Hour},
		{AccountID: "a", User: "u", Role: "member", TTL: 0},
	} {
		if _, err := Mint(ServerKeyID, srvSecret, r, t0); err == nil {
			t.Errorf("Mint(%+v) succeeded", r)
		}
	}
}

func TestAPIKeyStrings(t *testing.T) {
	s := APIKeyString("key_abc", "s3cr.et")
	id, secret, ok := SplitAPIKey(s)
	if !ok || id != "key_abc" || secret != "s3cr.et" {
		t.Fatalf("SplitAPIKey(%q) = %q %q %v", s, id, secret, ok)
	}
	for _, bad := range []string{"", "key_abc", "nokey.secret", "key_abc."} {
		if _, _, ok := SplitAPIKey(bad); ok {
			t.Errorf("SplitAPIKey(%q) accepted", bad)
		}
	}
}
