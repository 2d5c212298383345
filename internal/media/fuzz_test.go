package media

import (
	"mime"
	"net/http"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/apperr"
)

// Seeds live in testdata/fuzz/<FuzzName>/ and in the f.Add calls below; both
// run as ordinary tests under `go test`.

func FuzzSniff(f *testing.F) {
	for _, s := range []struct {
		head       []byte
		kind, name string
	}{
		{pngBytes(f), KindImage, "a.png"},
		{jpegBytes(f), KindImage, "a.jpg"},
		{gifBytes(f), KindImage, "a.gif"},
		{webpBytes(), KindImage, "a.webp"},
		{webmHeader("webm"), KindVoice, "v.webm"},
		{webmHeader("matroska"), KindFile, "v.mkv"},
		{opusBytes(), KindVoice, "v.ogg"},
		{vorbisBytes(), KindVoice, "v.ogg"},
		{theoraBytes(), KindFile, "v.ogv"},
		{id3MP3(), KindVoice, "v.mp3"},
		{mp3Frames(3), KindVoice, "v.mp3"},
		{adtsFrames(3), KindVoice, "v.aac"},
		{m4aBytes(), KindVoice, "v.m4a"},
		{isoBytes(), KindFile, "v.m4a"},
		{movBytes(), KindVoice, "v.mov"},
		{avifBytes(), KindImage, "a.avif"},
		{wavBytes(), KindVoice, "v.wav"},
		{pdfBytes(), KindFile, "a.pdf"},
		{zipBytes(), KindFile, "a.docx"},
		{[]byte(htmlDoc), KindFile, "a.html"},
		{[]byte(svgDoc), KindImage, "a.svg"},
		{[]byte(svgProlog), KindFile, "a.txt"},
		{[]byte(xmlDoc), KindFile, "a.xml"},
		{[]byte("\xEF\xBB\xBF<html>"), KindFile, "a.txt"},
		{utf16LE("<svg>"), KindFile, "a.txt"},
		{[]byte("a,b\n"), KindFile, "t.csv"},
		{[]byte("words"), KindFile, "a.svg"},
		{nil, KindFile, ""},
		{[]byte{0xFF, 0xFB, 0x90, 0x64}, KindVoice, ""},
		{[]byte("x"), "bogus", "x"},
	} {
		f.Add(s.head, s.kind, s.name)
	}
	f.Fuzz(func(t *testing.T, head []byte, kind, name string) {
		ct, err := Sniff(head, kind, name)
		if !validKind(kind) {
			if err == nil || !apperr.Is(err, apperr.CodeBadRequest) {
				t.Fatalf("kind %q: ct %q, err %v; want bad_request", kind, ct, err)
			}
			return
		}
		if err != nil {
			if !apperr.Is(err, apperr.CodeUnsupportedType) || apperr.KindOf(err) != apperr.Invalid {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		essence, _, perr := mime.ParseMediaType(ct)
		if perr != nil {
			t.Fatalf("Sniff returned %q, which does not parse: %v", ct, perr)
		}
		if isRefused(essence) || strings.Contains(essence, "html") || strings.Contains(essence, "svg") || strings.HasSuffix(essence, "xml") {
			t.Fatalf("Sniff accepted a document type %q", ct)
		}
		switch kind {
		case KindImage:
			if !contains(imageTypes, ct) {
				t.Fatalf("image upload sniffed as %q", ct)
			}
		case KindVoice:
			if !contains(voiceTypes, ct) {
				t.Fatalf("voice upload sniffed as %q", ct)
			}
		}
		// Whatever net/http would call a document is never let through.
		switch essenceOf(http.DetectContentType(head)) {
		case "text/html", "text/xml":
			t.Fatalf("net/http sees a document, Sniff accepted it as %q", ct)
		}
		// A text file named as a document is refused.
		if _, ok := dangerousExts[strings.ToLower(path.Ext(SanitizeName(name)))]; ok && essenceOf(ct) == "text/plain" {
			t.Fatalf("text named %q accepted", name)
		}
		// Only the head counts.
		if len(head) > SniffLen {
			if ct2, err2 := Sniff(head[:SniffLen], kind, name); ct2 != ct || err2 != nil {
				t.Fatalf("Sniff depends on bytes past SniffLen: %q vs %q (%v)", ct, ct2, err2)
			}
		}
	})
}

func FuzzDisposition(f *testing.F) {
	for _, s := range [][2]string{
		{"application/pdf", "a.pdf"},
		{"image/png", "a.png"},
		{"image/svg+xml", "a.svg"},
		{"text/plain; charset=utf-8", `a"; filename="x.html`},
		{"application/pdf", "a\r\nSet-Cookie: x=1"},
		{"application/pdf", "résumé 100%.pdf"},
		{"application/pdf", "日本語\x00.pdf"},
		{"application/pdf", "\\\\server\\share\\..\\x"},
		{"", ""},
		{"audio/webm; codecs=opus", "v.webm"},
		{"video/", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, contentType, name string) {
		v := Disposition(contentType, name)
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c >= 0x7F {
				t.Fatalf("Disposition(%q, %q) = %q has byte %#x", contentType, name, v, c)
			}
		}
		typ, params, err := mime.ParseMediaType(v)
		if err != nil {
			t.Fatalf("Disposition(%q, %q) = %q does not parse: %v", contentType, name, v, err)
		}
		if inlineType(contentType) {
			if typ != "inline" || len(params) != 0 {
				t.Fatalf("Disposition(%q, …) = %q, want inline", contentType, v)
			}
			return
		}
		if typ != "attachment" {
			t.Fatalf("Disposition(%q, …) = %q, want attachment", contentType, v)
		}
		if got, want := params["filename"], SanitizeName(name); got != want {
			t.Fatalf("Disposition(%q, %q) = %q: filename %q, want %q", contentType, name, v, got, want)
		}
	})
}

func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"a.png", "../../x", `C:\a\b.txt`, "a\r\nb", "\u202Eexe.txt", " . ", strings.Repeat("é", 200) + ".pdf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := SanitizeName(name)
		if !utf8.ValidString(got) || len(got) > MaxNameBytes {
			t.Fatalf("SanitizeName(%q) = %q: invalid or too long", name, got)
		}
		if strings.ContainsAny(got, "/\\\"\x00\r\n") || got == "." || got == ".." {
			t.Fatalf("SanitizeName(%q) = %q", name, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) {
				t.Fatalf("SanitizeName(%q) = %q has control %U", name, got, r)
			}
		}
		if again := SanitizeName(got); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", name, got, again)
		}
	})
}
