package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
)

// DownloadPrefix is where signed download URLs live:
// DownloadPrefix + "{account id}/{attachment id}?expires={unix seconds}&sig={signature}".
const DownloadPrefix = "/api/v1/downloads/"

// DefaultLinkTTL is how long a signed download URL works at least.
const DefaultLinkTTL = 5 * time.Minute

// Links signs download URLs of attachments, so a browser can load one in
// an <img>, <audio> or a link without a bearer token: the signature
// (HMAC-SHA256 under a key derived from the server's secret, over the path
// and the expiry) is the permission, granted by whoever could read the
// conversation when the URL was made. Expiries are rounded up to the
// minute, so every URL made for an attachment within a minute is the same
// (one cache entry in the browser, one encoding of a message for every
// member).
type Links struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewLinks returns a signer. ttl ≤ 0 means DefaultLinkTTL.
func NewLinks(secret []byte, ttl time.Duration) *Links {
	if ttl <= 0 {
		ttl = DefaultLinkTTL
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("parley download URL v1")) // a key of its own: no token verifies as a link
	return &Links{key: m.Sum(nil), ttl: ttl, now: time.Now}
}

// SetClock replaces time.Now (tests).
func (l *Links) SetClock(now func() time.Time) { l.now = now }

// TTL is how long a fresh URL works at least.
func (l *Links) TTL() time.Duration { return l.ttl }

// Sign returns the relative URL of an attachment's download and when it
// stops working.
func (l *Links) Sign(accountID, attachmentID string) (string, time.Time) {
	exp := l.now().Add(l.ttl + time.Minute - 1).Truncate(time.Minute)
	path := DownloadPrefix + url.PathEscape(accountID) + "/" + url.PathEscape(attachmentID)
	e := strconv.FormatInt(exp.Unix(), 10)
	return path + "?expires=" + e + "&sig=" + l.sig(path, e), exp
}

func (l *Links) sig(path, expires string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(path))
	m.Write([]byte{'\n'})
	m.Write([]byte(expires))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check verifies a download request's account and attachment ids (from its
// path) against its expires and sig parameters: url_invalid (403) when the
// signature does not match them, url_expired (403) when it does but the
// expiry has passed.
func (l *Links) Check(accountID, attachmentID, expires, sig string) error {
	path := DownloadPrefix + url.PathEscape(accountID) + "/" + url.PathEscape(attachmentID)
	want := l.sig(path, expires)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return apperr.New(apperr.Forbidden, apperr.CodeURLInvalid, "this download URL is not valid")
	}
	e, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return apperr.New(apperr.Forbidden, apperr.CodeURLInvalid, "this download URL is not valid")
	}
	if !l.now().Before(time.Unix(e, 0)) {
		return apperr.New(apperr.Forbidden, apperr.CodeURLExpired, "this download URL has expired: ask for a fresh one")
	}
	return nil
}
