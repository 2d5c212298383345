package media

import (
	"mime"
	"net/http"
	"strings"
	"testing"
)

func TestSanitizeName(t *testing.T) {
	cases := map[string]string{
		"photo.png":                    "photo.png",
		"../../etc/passwd":             "passwd",
		`C:\Users\me\report.pdf`:       "report.pdf",
		"a\r\nContent-Type: text/html": "html",
		"a\r\nX-Evil: 1":               "aX-Evil_ 1",
		"evil\u202Etxt.exe":            "eviltxt.exe",
		"  ..hidden.  ":                "hidden",
		"..":                           "",
		"dir/":                         "",
		"bad\xffutf8.txt":              "badutf8.txt",
		`quo"te<>|?*.txt`:              "quo_te_____.txt",
		"zero\x00byte":                 "zerobyte",
		"résumé.pdf":                   "résumé.pdf",
		"tab\there":                    "tabhere",
		"line\u2028sep":                "line sep",
	}
	for in, want := range cases {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 300) + ".pdf"
	got := SanitizeName(long)
	if len(got) > MaxNameBytes || !strings.HasSuffix(got, ".pdf") || !strings.HasPrefix(got, "é") {
		t.Errorf("long name: %d bytes, %q…", len(got), got[:10])
	}
	for _, r := range got {
		if r == '\uFFFD' {
			t.Errorf("long name cut inside a rune")
		}
	}
}

func TestDisposition(t *testing.T) {
	cases := []struct {
		ct, name, want, wantName string
	}{
		{"image/png", "a.png", "inline", ""},
		{"audio/webm", "v.webm", "inline", ""},
		{"video/mp4", "v.mp4", "inline", ""},
		{"image/svg+xml", "a.svg", `attachment; filename="a.svg"`, "a.svg"},
		{"text/plain; charset=utf-8", "notes.txt", `attachment; filename="notes.txt"`, "notes.txt"},
		{"application/pdf", "", "attachment", ""},
		{"not a type", "a.bin", `attachment; filename="a.bin"`, "a.bin"},
		{"application/pdf", `a"; filename="evil.html`, "", `a_; filename=_evil.html`},
		{"application/pdf", "a\r\nSet-Cookie: x=1", "", "aSet-Cookie_ x=1"},
		{"application/pdf", "a\\\"b.pdf", "", `_b.pdf`}, // the backslash is a path separator
		{"application/pdf", "résumé 100%.pdf", "", "résumé 100%.pdf"},
		{"application/pdf", "日本語.pdf", "", "日本語.pdf"},
		{"application/pdf", "a\x00b.pdf", `attachment; filename="ab.pdf"`, "ab.pdf"},
	}
	for _, c := range cases {
		got := Disposition(c.ct, c.name)
		if c.want != "" && got != c.want {
			t.Errorf("Disposition(%q, %q) = %q, want %q", c.ct, c.name, got, c.want)
		}
		checkDisposition(t, got)
		typ, params, err := mime.ParseMediaType(got)
		if err != nil {
			t.Errorf("Disposition(%q, %q) = %q does not parse: %v", c.ct, c.name, got, err)
			continue
		}
		if c.wantName != "" && (typ != "attachment" || params["filename"] != c.wantName) {
			t.Errorf("Disposition(%q, %q) = %q parses to %s %q, want attachment %q", c.ct, c.name, got, typ, params["filename"], c.wantName)
		}
	}
	// The ASCII fallback never carries raw non-ASCII.
	if got := Disposition("application/pdf", "日本語.pdf"); !strings.Contains(got, `filename="___.pdf"`) ||
		!strings.Contains(got, "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf") {
		t.Errorf("non-ASCII: %q", got)
	}
}

func checkDisposition(t testing.TB, v string) {
	t.Helper()
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7F {
			t.Fatalf("Disposition %q has byte %#x at %d", v, c, i)
		}
	}
}

func TestSetDownloadHeaders(t *testing.T) {
	h := http.Header{}
	SetDownloadHeaders(h, "application/pdf", "a.pdf")
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Type") != "application/pdf" ||
		h.Get("Content-Disposition") != `attachment; filename="a.pdf"` || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("headers: %v", h)
	}
	h = http.Header{}
	SetDownloadHeaders(h, "image/png", "a.png")
	if h.Get("Content-Disposition") != "inline" || h.Get("Content-Type") != "image/png" {
		t.Fatalf("headers: %v", h)
	}
	h = http.Header{}
	SetDownloadHeaders(h, "text/html", "a.html")
	if h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("a refused type must not be served as itself: %v", h)
	}
}
