package textcheck

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/apperr"
)

func TestJSON(t *testing.T) {
	ok := []string{
		`{"text":"hello"}`, `{"text":"tab\tline\nreturn\r"}`, `{"text":"😀 \ud83d\ude00 \u00e9 é"}`,
		`{"text":"\"quoted\" \\ \/"}`, `{"text":"\ufffd is a character too"}`, `[1, true, null, "x"]`,
		`{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`, `{"text":"\u2028 \u007f \u0085"}`,
	}
	for _, s := range ok {
		if err := JSON([]byte(s)); err != nil {
			t.Errorf("JSON(%s) = %v, want nil", s, err)
		}
	}
	bad := []string{
		"{\"text\":\"a\xffb\"}", "{\"text\":\"\xed\xa0\x80\"}", `{"text":"a\u0000b"}`, `{"text":"\u0001"}`,
		`{"text":"\ud800"}`, `{"text":"\udc00x"}`, `{"text":"\ud800\u0041"}`, `{"text":"\ud83d"}`,
		`{"te\u0000xt":"key"}`, `{"text":"\b"}`, `{"text":"\f"}`, `{"text":"\u001F"}`,
	}
	for _, s := range bad {
		if err := JSON([]byte(s)); !apperr.Is(err, apperr.CodeInvalidText) {
			t.Errorf("JSON(%q) = %v, want invalid_text", s, err)
		}
	}
}

func TestString(t *testing.T) {
	for _, s := range []string{"", "hello", "line\nbreak\ttab\r", "é😀", "\ufffd"} {
		if err := String(s); err != nil {
			t.Errorf("String(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"a\x00b", "\x1b[31m", "a\xffb", "\xed\xa0\x80"} {
		if err := String(s); !apperr.Is(err, apperr.CodeInvalidText) {
			t.Errorf("String(%q) = %v, want invalid_text", s, err)
		}
	}
}

// FuzzJSON: whatever JSON accepts and encoding/json decodes holds only
// strings String accepts, and no U+FFFD the document did not spell.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `"\ud800"`, `"\u0000"`, "\"\xff\"", `"\ud83d\ude00"`, `["\ufffd", "x"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if JSON(b) != nil || json.Unmarshal(b, &v) != nil {
			return
		}
		spelled := bytes.Count(b, []byte("\ufffd")) + strings.Count(strings.ToLower(string(b)), `\ufffd`)
		found := 0
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				if err := String(x); err != nil {
					t.Fatalf("%q passed JSON but decodes to %q: %v", b, x, err)
				}
				found += strings.Count(x, string(utf8.RuneError))
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				for k, e := range x {
					walk(k)
					walk(e)
				}
			}
		}
		walk(v)
		if found > spelled {
			t.Fatalf("%q passed JSON but decodes with %d U+FFFD (%d spelled)", b, found, spelled)
		}
	})
}
