package media

import (
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a sanitized file name (most filesystems allow 255).
const MaxNameBytes = 200

// SanitizeName makes a client-supplied file name safe to store and show: it
// keeps only the last path element (either slash), drops invalid UTF-8,
// control and format characters (including bidi overrides such as U+202E that
// disguise "txt.exe" as "exe.txt"), replaces characters Windows forbids in
// names with '_', trims spaces and dots at both ends, and cuts the name to
// MaxNameBytes on a rune boundary, keeping a short extension. It returns ""
// when nothing usable is left.
func SanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			return -1
		case strings.ContainsRune(`<>:"|?*`, r):
			return '_'
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) <= MaxNameBytes {
		return name
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		ext = name[i:]
	}
	base := name[:MaxNameBytes-len(ext)]
	for len(base) > 0 && !utf8.ValidString(base) {
		base = base[:len(base)-1]
	}
	return strings.TrimRight(base, " .") + ext
}

// inlineType reports whether a stored type may be shown inline: images, audio
// and video, never SVG (which is a document, and never stored anyway).
func inlineType(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil || t == "image/svg+xml" {
		return false
	}
	return strings.HasPrefix(t, "image/") || strings.HasPrefix(t, "audio/") || strings.HasPrefix(t, "video/")
}

// Disposition returns the Content-Disposition value for serving a blob:
// "inline" for image/*, audio/* and video/*, otherwise
// `attachment; filename="…"` with name sanitized and reduced to printable
// ASCII without quotes or backslashes, plus an RFC 6266/5987
// `filename*=UTF-8”…` when the name is not plain ASCII. The result never
// contains CR, LF, NUL or any other control byte, and always parses with
// mime.ParseMediaType.
func Disposition(contentType, name string) string {
	if inlineType(contentType) {
		return "inline"
	}
	name = SanitizeName(name)
	if name == "" {
		return "attachment"
	}
	var ascii strings.Builder
	plain := true
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7F: // SanitizeName removed these; belt and braces
			plain = false
		case r == '"' || r == '\\' || r == '%':
			ascii.WriteByte('_')
		case r < utf8.RuneSelf:
			ascii.WriteRune(r)
		default:
			plain = false
			ascii.WriteByte('_')
		}
	}
	v := `attachment; filename="` + ascii.String() + `"`
	if !plain || ascii.String() != name {
		v += "; filename*=UTF-8''" + encodeRFC5987(name)
	}
	return v
}

// encodeRFC5987 percent-encodes s as an RFC 5987 ext-value (attr-char kept).
func encodeRFC5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0F])
	}
	return b.String()
}

// SetDownloadHeaders sets the headers a blob download must carry: its stored
// Content-Type, X-Content-Type-Options: nosniff, Content-Disposition from
// Disposition, and a Content-Security-Policy that keeps anything opened
// directly from running script. The REST layer calls it after checking that
// the caller is a member of the conversation.
func SetDownloadHeaders(h http.Header, contentType, name string) {
	if contentType == "" || isRefused(essenceOf(contentType)) {
		contentType = "application/octet-stream"
	}
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", Disposition(contentType, name))
	// The same policy raw.githubusercontent.com uses: a blob opened directly
	// (a top-level image, audio or video still displays) loads nothing and
	// runs nothing, in an opaque origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
}
