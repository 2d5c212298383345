package media

import (
	"bytes"
	"encoding/binary"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/apperr"
)

// Upload kinds. The kind is chosen by the client (a picture, a recorded voice
// clip, any other file) and decides the size limit and the allow-list.
const (
	KindImage = "image"
	KindVoice = "voice"
	KindFile  = "file"
)

// SniffLen is how many leading bytes Save buffers for Sniff. http.DetectContentType
// looks at 512; the container parsers here (Ogg page, ftyp box, MP3/ADTS frame
// chain, SVG prolog) like a little more.
const SniffLen = 4096

// Allow-lists.
//
//   - image: image/png, image/jpeg, image/gif, image/webp. Nothing else: SVG can
//     carry script, and every image here is something every browser renders.
//   - voice: audio/webm, audio/ogg (Opus/Vorbis/Speex/FLAC in Ogg), audio/mpeg
//     (MP3 with or without ID3), audio/mp4 (M4A), audio/wav, audio/aac (ADTS).
//     Browsers' MediaRecorder labels audio-only WebM as video/webm and Safari
//     writes audio as an ISO-BMFF with generic brands (isom, mp42, iso5...); a
//     voice upload cannot tell an audio-only container from a video one by its
//     first bytes, so a WebM container is stored as audio/webm and any
//     non-QuickTime, non-image ISO-BMFF as audio/mp4.
//   - file: anything except what a browser would run as a document: HTML
//     (text/html, application/xhtml+xml), SVG (image/svg+xml) and XML
//     (text/xml, application/xml, which can be XHTML or SVG by namespace).
//     Those are refused with unsupported_type rather than relabelled, so a
//     stored type never lies. Every other type is stored as sniffed; all but
//     image/audio/video are served as attachments with nosniff (Disposition).
var (
	imageTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}
	voiceTypes = []string{"audio/webm", "audio/ogg", "audio/mpeg", "audio/mp4", "audio/wav", "audio/aac"}
	// refusedTypes are never accepted for any kind.
	refusedTypes = []string{"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml"}
)

// dangerousExts are names that ask a browser to treat text as a document. A
// text upload with one of these names is refused: the name is never used to
// give a file a dangerous type, and storing it as text would silently change
// what the sender meant to share.
var dangerousExts = map[string]string{
	".html": "text/html", ".htm": "text/html", ".shtml": "text/html", ".xhtml": "application/xhtml+xml",
	".xht": "application/xhtml+xml", ".mht": "text/html", ".mhtml": "text/html", ".svg": "image/svg+xml",
	".xml": "text/xml", ".xsl": "text/xml", ".xslt": "text/xml",
}

// textHints refine text/plain by extension. None of them is a type a browser
// executes: JavaScript and CSS stay text/plain on purpose, because with nosniff
// the browser refuses to load text/plain as a script or stylesheet.
var textHints = map[string]string{
	".csv": "text/csv", ".tsv": "text/tab-separated-values", ".md": "text/markdown",
	".markdown": "text/markdown", ".json": "application/json", ".ics": "text/calendar",
	".vcf": "text/vcard",
}

// zipHints refine application/zip for the zip-based document formats.
var zipHints = map[string]string{
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text",
	".ods":  "application/vnd.oasis.opendocument.spreadsheet",
	".odp":  "application/vnd.oasis.opendocument.presentation",
	".epub": "application/epub+zip",
}

func validKind(kind string) bool {
	return kind == KindImage || kind == KindVoice || kind == KindFile
}

// Sniff decides the content type of an upload from its first bytes (up to
// SniffLen are looked at) and checks it against the kind's allow-list. It is
// pure: no I/O. declaredName is the client's file name; only its extension is
// used, and only to refine a type sniffing cannot pin down (text/plain →
// text/csv, application/zip → .docx, an ISO-BMFF → audio/mp4 for .m4a). It can
// never make a file dangerous: a text file named .html/.svg/.xml is refused.
//
// Errors: unknown kind → bad_request; type not allowed → unsupported_type.
func Sniff(head []byte, kind, declaredName string) (string, error) {
	if !validKind(kind) {
		return "", apperr.Invalidf("unknown upload kind %q (want image, voice or file)", kind)
	}
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	ct := detect(head)
	essence := essenceOf(ct)
	if isRefused(essence) {
		return "", unsupported(kind, essence)
	}
	ext := strings.ToLower(path.Ext(SanitizeName(declaredName)))

	switch kind {
	case KindImage:
		if contains(imageTypes, essence) {
			return essence, nil
		}
		return "", unsupported(kind, essence)

	case KindVoice:
		switch essence {
		case "video/webm":
			essence = "audio/webm"
		case "video/mp4":
			essence = "audio/mp4"
		}
		if contains(voiceTypes, essence) {
			return essence, nil
		}
		return "", unsupported(kind, essence)

	default: // KindFile
		switch essence {
		case "text/plain":
			if t, ok := dangerousExts[ext]; ok {
				return "", apperr.New(apperr.Invalid, apperr.CodeUnsupportedType,
					"file upload: detected text/plain named as %s (%s); HTML, SVG and XML are not accepted", t, ext)
			}
			if t, ok := textHints[ext]; ok {
				return withParams(t, ct), nil
			}
		case "application/zip":
			if t, ok := zipHints[ext]; ok {
				return t, nil
			}
		case "video/mp4":
			if ext == ".m4a" {
				return "audio/mp4", nil
			}
		case "video/webm":
			if ext == ".weba" {
				return "audio/webm", nil
			}
		}
		return ct, nil
	}
}

func unsupported(kind, detected string) error {
	var allowed string
	switch kind {
	case KindImage:
		allowed = strings.Join(imageTypes, ", ")
	case KindVoice:
		allowed = strings.Join(voiceTypes, ", ")
	default:
		allowed = "anything except HTML, SVG and XML"
	}
	return apperr.New(apperr.Invalid, apperr.CodeUnsupportedType,
		"%s upload: detected %s, allowed %s", kind, detected, allowed)
}

func isRefused(essence string) bool { return contains(refusedTypes, essence) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// essenceOf returns the lower-case type/subtype without parameters.
func essenceOf(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// withParams puts the parameters of from (e.g. "; charset=utf-8") on t.
func withParams(t, from string) string {
	if _, params, err := mime.ParseMediaType(from); err == nil && len(params) > 0 {
		return mime.FormatMediaType(t, params)
	}
	return t
}

// detect names the type of head: first the signatures net/http does not know
// (or knows too coarsely), then documents hiding behind a byte-order mark,
// then http.DetectContentType.
func detect(head []byte) string {
	if ct := detectMedia(head); ct != "" {
		return ct
	}
	if ct := detectMarkup(head); ct != "" {
		return ct
	}
	ct := http.DetectContentType(head)
	switch ct {
	case "audio/wave":
		return "audio/wav"
	case "application/x-gzip":
		return "application/gzip"
	}
	return ct
}

func detectMedia(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x1A\x45\xDF\xA3")):
		return detectEBML(b)
	case bytes.HasPrefix(b, []byte("OggS\x00")):
		return detectOgg(b)
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return detectFtyp(b)
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return "audio/wav"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "audio/flac"
	case bytes.HasPrefix(b, []byte("#!AMR\n")):
		return "audio/amr"
	case isADTS(b):
		return "audio/aac"
	case isMPEGAudio(b):
		return "audio/mpeg"
	}
	return ""
}

// detectEBML reads the DocType of a Matroska/WebM EBML header.
func detectEBML(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	if i := bytes.Index(b, []byte{0x42, 0x82}); i >= 0 && i+3 <= len(b) {
		size := b[i+2]
		if size&0x80 != 0 { // one-byte vint
			n := int(size & 0x7F)
			if i+3+n <= len(b) {
				switch string(bytes.TrimRight(b[i+3:i+3+n], "\x00")) {
				case "webm":
					return "video/webm"
				case "matroska":
					return "video/x-matroska"
				}
			}
		}
	}
	return "application/octet-stream"
}

// detectOgg looks at the codec header in the first page.
func detectOgg(b []byte) string {
	if len(b) < 27 {
		return "application/ogg"
	}
	start := 27 + int(b[26])
	if start >= len(b) {
		return "application/ogg"
	}
	p := b[start:]
	switch {
	case bytes.HasPrefix(p, []byte("OpusHead")), bytes.HasPrefix(p, []byte("\x01vorbis")),
		bytes.HasPrefix(p, []byte("Speex   ")), bytes.HasPrefix(p, []byte("\x7FFLAC")):
		return "audio/ogg"
	case bytes.HasPrefix(p, []byte("\x80theora")):
		return "video/ogg"
	}
	return "application/ogg"
}

// detectFtyp classifies an ISO base media file by its ftyp brands.
func detectFtyp(b []byte) string {
	size := int(binary.BigEndian.Uint32(b[:4]))
	if size < 16 || size%4 != 0 {
		return ""
	}
	if size > len(b) {
		size = len(b) - len(b)%4
	}
	brands := []string{string(b[8:12])}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, string(b[i:i+4]))
	}
	for _, br := range brands {
		switch br {
		case "M4A ", "M4B ", "M4P ", "F4A ", "F4B ":
			return "audio/mp4"
		case "avif", "avis":
			return "image/avif"
		case "heic", "heix", "heim", "heis", "hevc", "hevx":
			return "image/heic"
		case "mif1", "msf1":
			return "image/heif"
		case "qt  ":
			return "video/quicktime"
		case "3gp4", "3gp5", "3gp6", "3gp7", "3gg6":
			return "video/3gpp"
		case "3g2a", "3g2b", "3g2c":
			return "video/3gpp2"
		case "crx ":
			return "image/x-canon-cr3"
		}
	}
	return "video/mp4"
}

// isADTS matches an AAC ADTS frame header (and the next one when it is in b).
func isADTS(b []byte) bool {
	if len(b) < 7 || b[0] != 0xFF || b[1]&0xF6 != 0xF0 {
		return false
	}
	if (b[2]>>2)&0x0F > 12 { // sampling frequency index
		return false
	}
	n := int(b[3]&0x03)<<11 | int(b[4])<<3 | int(b[5])>>5
	if n < 7 {
		return false
	}
	if n+2 <= len(b) {
		return b[n] == 0xFF && b[n+1]&0xF6 == 0xF0
	}
	return true
}

var mp3Bitrates = [2][3][16]int{ // [mpeg1?][layer-1][index], kbit/s
	{ // MPEG-2 and 2.5
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
	},
	{ // MPEG-1
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
	},
}

var mp3Rates = [4][3]int{ // [version bits][index]
	{11025, 12000, 8000},  // MPEG-2.5
	{0, 0, 0},             // reserved
	{22050, 24000, 16000}, // MPEG-2
	{44100, 48000, 32000}, // MPEG-1
}

// mp3FrameLen returns the length of the MPEG audio frame whose header starts
// b, or 0 if b does not start with a valid header.
func mp3FrameLen(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return 0
	}
	version := (b[1] >> 3) & 3
	layerBits := (b[1] >> 1) & 3
	bi := b[2] >> 4
	si := (b[2] >> 2) & 3
	if version == 1 || layerBits == 0 || bi == 0 || bi == 15 || si == 3 || b[3]&3 == 2 {
		return 0
	}
	layer := 4 - int(layerBits) // 1, 2 or 3
	mpeg1 := 0
	if version == 3 {
		mpeg1 = 1
	}
	bitrate := mp3Bitrates[mpeg1][layer-1][bi] * 1000
	rate := mp3Rates[version][si]
	pad := int(b[2]>>1) & 1
	switch {
	case layer == 1:
		return (12*bitrate/rate + pad) * 4
	case layer == 3 && mpeg1 == 0:
		return 72*bitrate/rate + pad
	default:
		return 144*bitrate/rate + pad
	}
}

// isMPEGAudio matches an MPEG audio (MP3) frame without an ID3 tag, and the
// next frame's header too when it is within b, which keeps random binary
// files starting with 0xFFE… from passing as audio.
func isMPEGAudio(b []byte) bool {
	if len(b) >= 2 && b[1] == 0xFE {
		// FF FE is the UTF-16LE byte-order mark; as audio it would be
		// MPEG-1 Layer I with CRC, which nobody uploads. Text wins.
		return false
	}
	n := mp3FrameLen(b)
	if n == 0 {
		return false
	}
	if n+4 <= len(b) {
		return mp3FrameLen(b[n:]) != 0
	}
	return true
}

// detectMarkup finds HTML, XML and SVG documents that http.DetectContentType
// misses: text behind a UTF-8 or UTF-16 byte-order mark, and SVG (an XML
// document whose root element is <svg>, optionally after comments and a
// doctype).
func detectMarkup(b []byte) string {
	text := b
	bom := false
	switch {
	case bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")):
		text, bom = b[3:], true
	case bytes.HasPrefix(b, []byte("\xFE\xFF")), bytes.HasPrefix(b, []byte("\xFF\xFE")):
		text, bom = decodeUTF16(b), true
	}
	if bom {
		// A second BOM is legal-looking noise; drop any number of them.
		for bytes.HasPrefix(text, []byte("\xEF\xBB\xBF")) {
			text = text[3:]
		}
		switch ct := essenceOf(http.DetectContentType(text)); ct {
		case "text/html", "text/xml":
			return ct
		}
	}
	if isSVG(text) {
		return "image/svg+xml"
	}
	return ""
}

func decodeUTF16(b []byte) []byte {
	order := binary.ByteOrder(binary.BigEndian)
	if b[0] == 0xFF {
		order = binary.LittleEndian
	}
	b = b[2:]
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, order.Uint16(b[i:]))
	}
	out := make([]byte, 0, len(u))
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

// isSVG reports whether b is markup whose first element is <svg>. It skips
// leading whitespace (and BOMs), <?xml …?>/processing instructions, comments
// and doctypes; a DOCTYPE naming svg is enough.
func isSVG(b []byte) bool {
	for {
		b = bytes.TrimLeft(b, "\t\n\f\r \xEF\xBB\xBF")
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			i := bytes.Index(b, []byte("?>"))
			if i < 0 {
				return false
			}
			b = b[i+2:]
		case bytes.HasPrefix(b, []byte("<!--")):
			i := bytes.Index(b[4:], []byte("-->"))
			if i < 0 {
				return false
			}
			b = b[4+i+3:]
		case hasPrefixFold(b, "<!DOCTYPE"):
			i := bytes.IndexByte(b, '>')
			if i < 0 {
				i = len(b)
			}
			if bytes.Contains(bytes.ToLower(b[:i]), []byte("svg")) {
				return true
			}
			if i == len(b) {
				return false
			}
			b = b[i+1:]
		default:
			if !hasPrefixFold(b, "<svg") && !hasPrefixFold(b, "<svg:svg") {
				return false
			}
			if len(b) == 4 {
				return true
			}
			// <svg followed by a tag-terminating byte, or a namespace prefix.
			switch c := b[4]; c {
			case ' ', '\t', '\n', '\f', '\r', '>', '/', ':':
				return true
			}
			return false
		}
	}
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}
