package media

import (
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/apperr"
)

func TestSniffAccepts(t *testing.T) {
	cases := []struct {
		name, kind, file string
		data             []byte
		want             string
	}{
		{"png", KindImage, "a.png", pngBytes(t), "image/png"},
		{"jpeg", KindImage, "a.jpg", jpegBytes(t), "image/jpeg"},
		{"gif", KindImage, "a.gif", gifBytes(t), "image/gif"},
		{"webp", KindImage, "a.webp", webpBytes(), "image/webp"},
		{"png named .svg", KindImage, "a.svg", pngBytes(t), "image/png"},

		{"webm", KindVoice, "clip.webm", webmHeader("webm"), "audio/webm"},
		{"ogg opus", KindVoice, "clip.ogg", opusBytes(), "audio/ogg"},
		{"ogg vorbis", KindVoice, "clip.ogg", vorbisBytes(), "audio/ogg"},
		{"mp3 id3", KindVoice, "clip.mp3", id3MP3(), "audio/mpeg"},
		{"mp3 bare", KindVoice, "clip.mp3", mp3Frames(3), "audio/mpeg"},
		{"mp3 one frame", KindVoice, "", mp3Frames(1), "audio/mpeg"},
		{"m4a", KindVoice, "clip.m4a", m4aBytes(), "audio/mp4"},
		{"isom (Safari)", KindVoice, "clip.mp4", isoBytes(), "audio/mp4"},
		{"wav", KindVoice, "clip.wav", wavBytes(), "audio/wav"},
		{"aac adts", KindVoice, "clip.aac", adtsFrames(3), "audio/aac"},

		{"file png", KindFile, "a.png", pngBytes(t), "image/png"},
		{"file pdf", KindFile, "a.pdf", pdfBytes(), "application/pdf"},
		{"file text", KindFile, "notes.txt", []byte("hello\nworld\n"), "text/plain; charset=utf-8"},
		{"file text with tags later", KindFile, "a.txt", []byte("hi <script>x</script>"), "text/plain; charset=utf-8"},
		{"file js stays text", KindFile, "app.js", []byte("alert(1)"), "text/plain; charset=utf-8"},
		{"file css stays text", KindFile, "a.css", []byte("body{}"), "text/plain; charset=utf-8"},
		{"file csv hint", KindFile, "t.CSV", []byte("a,b\n1,2\n"), "text/csv; charset=utf-8"},
		{"file zip", KindFile, "a.zip", zipBytes(), "application/zip"},
		{"file docx hint", KindFile, "a.docx", zipBytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"file binary", KindFile, "a.bin", []byte{0, 1, 2, 3, 0xFE}, "application/octet-stream"},
		{"file binary named html", KindFile, "a.html", []byte{0, 1, 2, 3, 0xFE}, "application/octet-stream"},
		{"file webm", KindFile, "v.webm", webmHeader("webm"), "video/webm"},
		{"file mkv", KindFile, "v.mkv", webmHeader("matroska"), "video/x-matroska"},
		{"file mp4", KindFile, "v.mp4", isoBytes(), "video/mp4"},
		{"file mp4 named m4a", KindFile, "v.m4a", isoBytes(), "audio/mp4"},
		{"file mov", KindFile, "v.mov", movBytes(), "video/quicktime"},
		{"file avif", KindFile, "a.avif", avifBytes(), "image/avif"},
		{"file theora", KindFile, "v.ogv", theoraBytes(), "video/ogg"},
		{"file wav", KindFile, "a.wav", wavBytes(), "audio/wav"},
		{"file utf16 text", KindFile, "a.txt", utf16LE("hello"), "text/plain; charset=utf-16le"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Sniff(c.data, c.kind, c.file)
			if err != nil {
				t.Fatalf("Sniff: %v", err)
			}
			if got != c.want {
				t.Fatalf("Sniff = %q, want %q", got, c.want)
			}
		})
	}
}

func TestSniffRefuses(t *testing.T) {
	cases := []struct {
		name, kind, file string
		data             []byte
	}{
		{"svg as image", KindImage, "a.svg", []byte(svgDoc)},
		{"svg named png", KindImage, "a.png", []byte(svgDoc)},
		{"html as image", KindImage, "a.png", []byte(htmlDoc)},
		{"pdf as image", KindImage, "a.png", pdfBytes()},
		{"avif as image", KindImage, "a.avif", avifBytes()},
		{"mp3 as image", KindImage, "a.png", id3MP3()},
		{"png as voice", KindVoice, "a.webm", pngBytes(t)},
		{"mov as voice", KindVoice, "a.m4a", movBytes()},
		{"mkv as voice", KindVoice, "a.webm", webmHeader("matroska")},
		{"theora as voice", KindVoice, "a.ogg", theoraBytes()},
		{"text as voice", KindVoice, "a.mp3", []byte("not audio")},
		{"html", KindFile, "a.txt", []byte(htmlDoc)},
		{"html lower no doctype", KindFile, "a.txt", []byte("  <html><body>hi")},
		{"html after BOM", KindFile, "a.txt", []byte("\xEF\xBB\xBF<html><script>alert(1)</script>")},
		{"html in utf-16", KindFile, "a.txt", utf16LE("<html><script>alert(1)</script></html>")},
		{"svg", KindFile, "a.txt", []byte(svgDoc)},
		{"svg with prolog", KindFile, "a.txt", []byte(svgProlog)},
		{"svg after BOM", KindFile, "a.txt", []byte("\xEF\xBB\xBF" + svgDoc)},
		{"xml", KindFile, "a.txt", []byte(xmlDoc)},
		{"text named html", KindFile, "a.HTML", []byte("just words")},
		{"text named svg", KindFile, "dir/a.svg", []byte("just words")},
		{"text named xml", KindFile, "a.xml", []byte("just words")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Sniff(c.data, c.kind, c.file)
			if err == nil {
				t.Fatalf("Sniff = %q, want unsupported_type", got)
			}
			if !apperr.Is(err, apperr.CodeUnsupportedType) || apperr.KindOf(err) != apperr.Invalid {
				t.Fatalf("err = %v, want Invalid/unsupported_type", err)
			}
			if !strings.Contains(err.Error(), "detected") {
				t.Fatalf("message %q does not say what was detected", err)
			}
		})
	}
}

func TestSniffUnknownKind(t *testing.T) {
	_, err := Sniff(pngBytes(t), "video", "a.png")
	if !apperr.Is(err, apperr.CodeBadRequest) {
		t.Fatalf("err = %v, want bad_request", err)
	}
}

func TestSniffMP3FalsePositive(t *testing.T) {
	// A valid-looking first header whose next "frame" does not sync.
	b := mp3Frames(2)
	b[417] = 0x00
	if got, _ := Sniff(b, KindFile, "x.bin"); got == "audio/mpeg" {
		t.Fatalf("broken frame chain sniffed as audio/mpeg")
	}
}
