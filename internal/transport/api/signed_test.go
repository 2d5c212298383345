package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/blob/s3blob"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/s3test"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/protocol"
)

// fetch GETs a URL the API handed out (relative, under /api/v1), with no
// credential, as an <img> would.
func (e *env) fetch(u string, hdr ...string) reply {
	e.t.Helper()
	if !strings.HasPrefix(u, "/api/v1/") {
		e.t.Fatalf("not a URL of the API: %q", u)
	}
	return e.as("").do("GET", strings.TrimPrefix(u, "/api/v1"), nil, hdr...)
}

// imageMessage sends an image into a new group of mia and olivia.
func imageMessage(t *testing.T, e *env) (protocol.Message, []byte) {
	mia := e.user(e.acc, "mia", protocol.RoleMember)
	e.user(e.acc, "olivia", protocol.RoleOwner)
	var g protocol.Conversation
	mia.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "team", Members: []string{"olivia"}}, 201, &g)
	img := pngBytes(t)
	body, ct := multipartBody(t, nil, "image", "dot.png", img)
	var m protocol.Message
	mia.mustJSON("POST", "/conversations/"+g.ID+"/messages", body, 201, &m, "Content-Type", ct)
	return m, img
}

func TestSignedDownload(t *testing.T) {
	e := newEnv(t, api.Config{})
	m, img := imageMessage(t, e)
	att := m.Attachment
	if att.URLExpiresAt == nil || time.Until(*att.URLExpiresAt) < media.DefaultLinkTTL-time.Second {
		t.Fatalf("url_expires_at %v, want at least %v ahead", att.URLExpiresAt, media.DefaultLinkTTL)
	}
	// No credential: the URL is the permission.
	r := e.fetch(att.URL)
	if r.status != 200 || !bytes.Equal(r.body, img) {
		t.Fatalf("signed download: %d %s", r.status, r.body)
	}
	h := r.header
	if h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "inline") || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
		h.Get("ETag") == "" || h.Get("Referrer-Policy") != "no-referrer" || !strings.HasPrefix(h.Get("Cache-Control"), "private, max-age=") {
		t.Fatalf("headers %v", h)
	}
	if r = e.fetch(att.URL, "Range", "bytes=1-3"); r.status != 206 || !bytes.Equal(r.body, img[1:4]) {
		t.Fatalf("range: %d %q", r.status, r.body)
	}
	// History gives the same URL within the minute (one cache entry).
	var hist protocol.HistoryReply
	e.user(e.acc, "olivia", protocol.RoleOwner).mustJSON("GET", "/conversations/"+m.ConversationID+"/messages", nil, 200, &hist)
	if len(hist.Messages) != 1 || hist.Messages[0].Attachment == nil || !strings.HasPrefix(hist.Messages[0].Attachment.URL, media.DownloadPrefix) {
		t.Fatalf("history %+v", hist.Messages)
	}

	// Expired: the same URL once its time has passed.
	e.links.SetClock(func() time.Time { return att.URLExpiresAt.Add(time.Second) })
	e.fetch(att.URL).wantCode(t, 403, "url_expired")
	e.links.SetClock(time.Now)

	// Tampered: each part of the URL changed.
	u, _ := url.Parse(att.URL)
	q := u.Query()
	sig, exp := q.Get("sig"), q.Get("expires")
	flip := map[byte]byte{'A': 'B'}
	other := []byte(sig)
	if b, ok := flip[other[0]]; ok {
		other[0] = b
	} else {
		other[0] = 'A'
	}
	for name, bad := range map[string]string{
		"signature":        u.Path + "?expires=" + exp + "&sig=" + string(other),
		"no signature":     u.Path + "?expires=" + exp,
		"later expiry":     u.Path + "?expires=" + exp + "0&sig=" + sig,
		"other attachment": strings.Replace(u.Path, att.ID, "att_00000000000000000000000000", 1) + "?" + u.RawQuery,
		"other account":    strings.Replace(u.Path, e.acc.ID, e.accB.ID, 1) + "?" + u.RawQuery,
	} {
		r := e.fetch(bad)
		if r.status != 403 || r.code() != "url_invalid" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
}

// TestSignedURLOtherAccount: a user of another account gets no link for an
// attachment that is not theirs, and a link made for their own attachment
// does not open this one.
func TestSignedURLOtherAccount(t *testing.T) {
	e := newEnv(t, api.Config{})
	m, _ := imageMessage(t, e)
	bob := e.user(e.accB, "bob", protocol.RoleMember)
	bob.wantErr("GET", "/attachments/"+m.Attachment.ID+"/link", nil, 404, "not_found")

	var g protocol.Conversation
	bob.mustJSON("POST", "/conversations", protocol.CreateConversationRequest{Kind: "group", Name: "b"}, 201, &g)
	body, ct := multipartBody(t, nil, "image", "b.png", pngBytes(t))
	var mb protocol.Message
	bob.mustJSON("POST", "/conversations/"+g.ID+"/messages", body, 201, &mb, "Content-Type", ct)
	if e.fetch(mb.Attachment.URL).status != 200 {
		t.Fatal("bob's own signed URL does not work")
	}
	// Bob's signature on A's account and attachment ids.
	u, _ := url.Parse(mb.Attachment.URL)
	forged := media.DownloadPrefix + e.acc.ID + "/" + m.Attachment.ID + "?" + u.RawQuery
	e.fetch(forged).wantCode(t, 403, "url_invalid")
}

// TestAttachmentLink: a member gets a fresh URL; a non-member of the
// conversation does not.
func TestAttachmentLink(t *testing.T) {
	e := newEnv(t, api.Config{})
	m, img := imageMessage(t, e)
	later := time.Now().Add(10 * time.Minute)
	e.links.SetClock(func() time.Time { return later })
	var fresh protocol.Attachment
	e.user(e.acc, "olivia", protocol.RoleOwner).mustJSON("GET", "/attachments/"+m.Attachment.ID+"/link", nil, 200, &fresh)
	if fresh.ID != m.Attachment.ID || fresh.URL == m.Attachment.URL || fresh.URLExpiresAt == nil || !fresh.URLExpiresAt.After(later) {
		t.Fatalf("fresh link %+v (was %+v)", fresh, m.Attachment)
	}
	e.fetch(m.Attachment.URL).wantCode(t, 403, "url_expired")
	if r := e.fetch(fresh.URL); r.status != 200 || !bytes.Equal(r.body, img) {
		t.Fatalf("fresh link: %d", r.status)
	}
	stranger := e.user(e.acc, "sam", protocol.RoleMember)
	r := stranger.do("GET", "/attachments/"+m.Attachment.ID+"/link", nil)
	if r.status != 403 && r.status != 404 {
		t.Fatalf("a non-member got a link: %d %s", r.status, r.body)
	}
}

// TestSignedDownloadRedirectsToS3: with an S3 store whose endpoint
// browsers reach (redirect=true), a signed URL answers with a presigned
// URL of the bucket, which serves the bytes with the attachment's type.
func TestSignedDownloadRedirectsToS3(t *testing.T) {
	cfg := s3test.Bucket(t)
	cfg.Redirect = true
	s3, err := s3blob.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := media.New(s3, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if o := blobs.RedirectOrigin(context.Background()); o != "http://"+cfg.Endpoint {
		t.Fatalf("RedirectOrigin = %q, want the endpoint (the pages' CSP allows it)", o)
	}
	e := newEnvBlobs(t, api.Config{}, blobs)
	m, img := imageMessage(t, e)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	noFollow := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(e.srv.URL + m.Attachment.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "http://"+cfg.Endpoint+"/"+cfg.Bucket+"/") ||
		!strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("%d, Location %q", resp.StatusCode, loc)
	}
	got, err := (&http.Client{Transport: tr}).Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(got.Body)
	if got.StatusCode != 200 || !bytes.Equal(b.Bytes(), img) || got.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("bucket answered %d %q, %d bytes", got.StatusCode, got.Header.Get("Content-Type"), b.Len())
	}
	// A bad signature is refused before anything is presigned.
	e.fetch(strings.Replace(m.Attachment.URL, "sig=", "sig=x", 1)).wantCode(t, 403, "url_invalid")
}

func (r reply) wantCode(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
}
