// Package textcheck refuses text that cannot be stored as the person wrote
// it. Go's encoding/json silently replaces invalid UTF-8 and lone UTF-16
// surrogate escapes ("\ud800") with U+FFFD, and passes NUL and other
// control characters through; rather than store something changed, or a
// NUL that breaks other systems, a request carrying such a string is
// refused with invalid_text. The transports run JSON over every request
// body before decoding it, so every field of every request is covered.
package textcheck

import (
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/apperr"
)

// allowedControl reports whether the C0 control character c may appear in
// text: tab, line feed and carriage return. The others (NUL included) may not.
func allowedControl(c rune) bool { return c == '\t' || c == '\n' || c == '\r' }

func refused(format string, args ...any) error {
	return apperr.New(apperr.Invalid, apperr.CodeInvalidText, format, args...)
}

// String checks a string that did not come through JSON (a multipart
// field, a query parameter): valid UTF-8 and no control character other
// than tab, line feed and carriage return.
func String(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return refused("text is not valid UTF-8 (byte %d)", i)
			}
		case r < 0x20 && !allowedControl(r):
			return refused("text contains the control character U+%04X (byte %d)", r, i)
		}
	}
	return nil
}

// JSON checks every string (keys and values) of a JSON document as String
// does, after unescaping: an escaped NUL ("\u0000") is refused like a raw
// one, and so is a "\u" escape of a lone surrogate. It does not otherwise
// validate the JSON: a malformed document passes here and fails to decode.
func JSON(b []byte) error {
	if !utf8.Valid(b) {
		return refused("the JSON is not valid UTF-8")
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		end, err := jsonString(b, i+1)
		if err != nil {
			return err
		}
		i = end
	}
	return nil
}

// jsonString checks the string whose body starts at b[i] and returns the
// index of its closing quote (len(b) if unterminated).
func jsonString(b []byte, i int) (int, error) {
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i, nil
		case c < 0x20:
			// Raw control bytes are invalid JSON; the decoder says so.
		case c == '\\' && i+1 < len(b):
			i++
			switch b[i] {
			case 'b', 'f':
				return 0, refused("text contains a control character (\\%c)", b[i])
			case 'u':
				r, ok := hex4(b, i+1)
				if !ok {
					continue // malformed: the decoder refuses it
				}
				i += 4
				switch {
				case r < 0x20 && !allowedControl(r):
					return 0, refused("text contains the control character U+%04X", r)
				case 0xD800 <= r && r < 0xDC00: // must pair with a low surrogate
					lo, ok := rune(0), i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u'
					if ok {
						lo, ok = hex4(b, i+3)
					}
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return 0, refused("text contains a lone UTF-16 surrogate \\u%04X", r)
					}
					i += 6
				case 0xDC00 <= r && r < 0xE000:
					return 0, refused("text contains a lone UTF-16 surrogate \\u%04X", r)
				}
			}
		}
	}
	return i, nil
}

// hex4 reads the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
