package site_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/bus/local"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/internal/transport/site"
)

type fixture struct {
	srv     *httptest.Server
	address string
	limited bool // the limiter refuses everything
}

func newSite(t *testing.T) *fixture {
	t.Helper()
	return newSiteWith(t, site.Config{PublicURL: "https://chat.example"})
}

func newSiteWith(t *testing.T, cfg site.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := chat.New(st, local.New(), nil, chat.Config{})
	a := auth.New(st, []byte(auth.NewSecret(32)), time.Hour)
	in := inbox.New(st, a, c, inbox.Config{PublicURL: "https://chat.example"})
	acc, _, err := auth.CreateAccount(ctx, st, "Acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ib, err := in.Ensure(ctx, acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{address: ib.Address}
	limit := func(*http.Request) error {
		if f.limited {
			return errors.New("limited")
		}
		return nil
	}
	s := site.New(cfg, st, in, limit, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		f.srv.Close()
		c.Close()
		st.Close()
	})
	return f
}

func (f *fixture) get(t *testing.T, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	tr := &http.Transport{DisableCompression: true}
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestWidgetFilesAreServedToOtherSites(t *testing.T) {
	f := newSite(t)
	for _, p := range []string{"/widget.js", "/widget/parley-chat.js", "/sdk/index.js", "/sdk/client.js", "/ui/thread.js"} {
		resp, body := f.get(t, p)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
			resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("ETag") == "" || len(body) < 100 {
			t.Fatalf("GET %s: %d %v", p, resp.StatusCode, resp.Header)
		}
		// Unchanged: a 304 without a body.
		again, b2 := f.get(t, p, "If-None-Match", resp.Header.Get("ETag"))
		if again.StatusCode != 304 || b2 != "" {
			t.Fatalf("revalidating %s: %d", p, again.StatusCode)
		}
		// Compressed for those who take it, the same bytes once inflated.
		gz, zbody := f.get(t, p, "Accept-Encoding", "gzip")
		if gz.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s not gzipped", p)
		}
		zr, err := gzip.NewReader(strings.NewReader(zbody))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if string(plain) != body {
			t.Fatalf("%s: gzip body differs", p)
		}
	}
	if resp, _ := f.get(t, "/widget/nope.js"); resp.StatusCode != 404 {
		t.Fatalf("a missing file: %d", resp.StatusCode)
	}
}

func TestPages(t *testing.T) {
	f := newSite(t)
	resp, body := f.get(t, "/")
	if resp.StatusCode != 200 || !strings.Contains(body, `data-address="`+f.address+`"`) ||
		!strings.Contains(body, "&lt;script src=&#34;https://chat.example/widget.js&#34;") {
		t.Fatalf("landing: %d\n%s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("landing CSP: %s", csp)
	}

	resp, body = f.get(t, "/chat/"+f.address)
	if resp.StatusCode != 200 || !strings.Contains(body, `<parley-chat address="`+f.address+`" mode="page">`) {
		t.Fatalf("chat page: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors") {
		t.Fatal("the chat page must be embeddable in a site's iframe")
	}
	for _, bad := range []string{"Zz9Yy8Xx", "short", "<script>"} {
		resp, body = f.get(t, "/chat/"+bad)
		if resp.StatusCode != 404 || !strings.Contains(body, "This chat address is no longer valid") || strings.Contains(body, "<script>") {
			t.Fatalf("chat page of %q: %d\n%s", bad, resp.StatusCode, body)
		}
	}
	f.limited = true
	resp, body = f.get(t, "/chat/"+f.address)
	if resp.StatusCode != 429 || !strings.Contains(body, "Too many") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a limited chat page: %d\n%s", resp.StatusCode, body)
	}
	f.limited = false

	// A broadcast's public page: the inbox's address and the channel, for
	// watch.js; a bad name or address is a 404, and the limit applies.
	resp, body = f.get(t, "/watch/"+f.address+"/launch-day_2")
	if resp.StatusCode != 200 || !strings.Contains(body, `data-address="`+f.address+`" data-channel="launch-day_2"`) ||
		!strings.Contains(body, `src="/ui/watch.js"`) {
		t.Fatalf("watch page: %d\n%s", resp.StatusCode, body)
	}
	for _, bad := range []string{"/watch/Zz9Yy8Xx/launch", "/watch/" + f.address + "/%3Cb%3E", "/watch/" + f.address + "/" + strings.Repeat("x", 65)} {
		resp, body = f.get(t, bad)
		if resp.StatusCode != 404 || strings.Contains(body, "<b>") || strings.Contains(body, "watch.js") {
			t.Fatalf("watch page %s: %d\n%s", bad, resp.StatusCode, body)
		}
	}
	f.limited = true
	if resp, _ = f.get(t, "/watch/"+f.address+"/launch"); resp.StatusCode != 429 {
		t.Fatalf("a limited watch page: %d", resp.StatusCode)
	}
	f.limited = false

	resp, body = f.get(t, "/console/")
	if resp.StatusCode != 200 || !strings.Contains(body, `rel="manifest"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("console: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := f.get(t, "/console"); resp.StatusCode != 301 || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("/console: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := f.get(t, "/nothing/here"); resp.StatusCode != 404 || !strings.Contains(body, "Not found") {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	if resp, _ := f.get(t, "/console/index.html"); resp.StatusCode != 404 {
		t.Fatalf("the console's HTML is served only at /console/: %d", resp.StatusCode)
	}
}

func TestIcons(t *testing.T) {
	f := newSite(t)
	for path, size := range map[string]int{"/console/icons/192.png": 192, "/console/icons/512.png": 512, "/console/icons/maskable-512.png": 512, "/favicon.ico": 32} {
		resp, body := f.get(t, path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		img, err := png.Decode(bytes.NewReader([]byte(body)))
		if err != nil || img.Bounds().Dx() != size || img.Bounds().Dy() != size {
			t.Fatalf("%s: %v %v", path, err, img.Bounds())
		}
		// The corner of a rounded icon is transparent; a maskable one is full bleed.
		_, _, _, a := img.At(0, 0).RGBA()
		if (a == 0) == strings.Contains(path, "maskable") {
			t.Fatalf("%s: corner alpha %d", path, a)
		}
	}
	if resp, _ := f.get(t, "/console/icons/7.png"); resp.StatusCode != 404 {
		t.Fatalf("an unknown icon size: %d", resp.StatusCode)
	}
}

// TestPagesAllowMediaOrigins: with downloads redirected to an S3 endpoint,
// the pages may load images and audio from it (and nothing else from it).
func TestPagesAllowMediaOrigins(t *testing.T) {
	f := newSiteWith(t, site.Config{PublicURL: "https://chat.example", MediaOrigins: []string{"https://s3.example"}})
	for _, p := range []string{"/", "/chat/" + f.address, "/console/"} {
		resp, _ := f.get(t, p)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "img-src 'self' blob: https://s3.example data:") || !strings.Contains(csp, "media-src 'self' blob: https://s3.example;") ||
			strings.Contains(csp, "script-src 'self' https://s3.example") {
			t.Errorf("%s CSP: %s", p, csp)
		}
	}
	resp, _ := newSite(t).get(t, "/")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' blob: data:;") {
		t.Errorf("CSP without media origins: %s", csp)
	}
}
