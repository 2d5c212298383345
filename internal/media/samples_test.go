package media

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Real minimal files, built from their formats' headers (images through the
// standard library's encoders), used by the tests and as fuzz seeds.

func tinyImage() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 2, 2))
	m.Set(0, 0, color.RGBA{255, 0, 0, 255})
	return m
}

func pngBytes(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, tinyImage()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, tinyImage(), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifBytes(t testing.TB) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, tinyImage(), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func riff(form string, chunks ...[]byte) []byte {
	body := []byte(form)
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	return append(out, body...)
}

func chunk(id string, data []byte) []byte {
	out := []byte(id)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// webpBytes is a lossless 1×1 WebP.
func webpBytes() []byte {
	vp8l := []byte{0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07}
	return riff("WEBP", chunk("VP8L", vp8l))
}

func wavBytes() []byte {
	fmtc := make([]byte, 0, 16)
	fmtc = binary.LittleEndian.AppendUint16(fmtc, 1)     // PCM
	fmtc = binary.LittleEndian.AppendUint16(fmtc, 1)     // mono
	fmtc = binary.LittleEndian.AppendUint32(fmtc, 8000)  // rate
	fmtc = binary.LittleEndian.AppendUint32(fmtc, 16000) // byte rate
	fmtc = binary.LittleEndian.AppendUint16(fmtc, 2)     // block align
	fmtc = binary.LittleEndian.AppendUint16(fmtc, 16)    // bits
	return riff("WAVE", chunk("fmt ", fmtc), chunk("data", make([]byte, 64)))
}

// webmHeader is the EBML header MediaRecorder writes for audio/webm.
func webmHeader(docType string) []byte {
	body := []byte{
		0x42, 0x86, 0x81, 0x01, // EBMLVersion 1
		0x42, 0xF7, 0x81, 0x01, // EBMLReadVersion 1
		0x42, 0xF2, 0x81, 0x04, // EBMLMaxIDLength 4
		0x42, 0xF3, 0x81, 0x08, // EBMLMaxSizeLength 8
		0x42, 0x82, 0x80 | byte(len(docType)),
	}
	body = append(body, docType...)
	body = append(body, 0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02) // DocTypeVersion 4, ReadVersion 2
	out := []byte{0x1A, 0x45, 0xDF, 0xA3, 0x80 | byte(len(body))}
	out = append(out, body...)
	// Segment (unknown size) with an empty Info, as a live recording starts.
	return append(out, 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x15, 0x49, 0xA9, 0x66, 0x80)
}

// oggPage builds a beginning-of-stream Ogg page carrying one packet.
func oggPage(packet []byte) []byte {
	p := []byte("OggS")
	p = append(p, 0, 0x02)            // version, BOS
	p = append(p, make([]byte, 8)...) // granule
	p = binary.LittleEndian.AppendUint32(p, 0x1234)
	p = binary.LittleEndian.AppendUint32(p, 0) // sequence
	p = binary.LittleEndian.AppendUint32(p, 0) // CRC (not checked by sniffing)
	p = append(p, 1, byte(len(packet)))
	return append(p, packet...)
}

func opusBytes() []byte {
	head := []byte("OpusHead")
	head = append(head, 1, 1)                            // version, channels
	head = binary.LittleEndian.AppendUint16(head, 312)   // pre-skip
	head = binary.LittleEndian.AppendUint32(head, 48000) // input rate
	head = append(head, 0, 0, 0)                         // gain, mapping family
	return oggPage(head)
}

func vorbisBytes() []byte {
	head := []byte("\x01vorbis")
	head = append(head, 0, 0, 0, 0, 2)
	head = binary.LittleEndian.AppendUint32(head, 44100)
	head = append(head, make([]byte, 12)...)
	head = append(head, 0xB8, 0x01)
	return oggPage(head)
}

func theoraBytes() []byte {
	return oggPage(append([]byte("\x80theora"), make([]byte, 34)...))
}

// mp3Frames returns n MPEG-1 Layer III frames, 128 kbit/s, 44.1 kHz
// (417 bytes each, no padding).
func mp3Frames(n int) []byte {
	var out []byte
	for range n {
		f := make([]byte, 417)
		copy(f, []byte{0xFF, 0xFB, 0x90, 0x64})
		out = append(out, f...)
	}
	return out
}

func id3MP3() []byte {
	tag := []byte("ID3\x04\x00\x00\x00\x00\x00\x0A") // v2.4, size 10 (syncsafe)
	tag = append(tag, make([]byte, 10)...)
	return append(tag, mp3Frames(2)...)
}

// adtsFrames returns n AAC-LC ADTS frames, 44.1 kHz stereo, 32 bytes each.
func adtsFrames(n int) []byte {
	const size = 32
	var out []byte
	for range n {
		f := make([]byte, size)
		f[0] = 0xFF
		f[1] = 0xF1                  // MPEG-4, layer 0, no CRC
		f[2] = 0x50                  // AAC LC, 44.1 kHz, channel bits high 0
		f[3] = 0x80 | byte(size>>11) // 2 channels
		f[4] = byte(size >> 3)
		f[5] = byte(size&7)<<5 | 0x1F
		f[6] = 0xFC
		out = append(out, f...)
	}
	return out
}

func ftyp(major string, compat ...string) []byte {
	size := 16 + 4*len(compat)
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = append(b, "ftyp"+major...)
	b = binary.BigEndian.AppendUint32(b, 0x200)
	for _, c := range compat {
		b = append(b, c...)
	}
	// a free box and the start of an mdat, as a real file goes on
	b = append(b, 0, 0, 0, 8, 'f', 'r', 'e', 'e', 0, 0, 0, 16, 'm', 'd', 'a', 't')
	return append(b, make([]byte, 8)...)
}

func m4aBytes() []byte  { return ftyp("M4A ", "M4A ", "isom", "iso2", "mp42") }
func isoBytes() []byte  { return ftyp("isom", "isom", "iso2", "mp41") }
func movBytes() []byte  { return ftyp("qt  ", "qt  ") }
func avifBytes() []byte { return ftyp("avif", "avif", "mif1", "miaf") }

func pdfBytes() []byte {
	return []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
}

func zipBytes() []byte {
	return []byte("PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00a")
}

const (
	htmlDoc   = "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
	svgDoc    = `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>`
	svgProlog = "\n<!-- made by hand -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\">\n<svg><script>alert(1)</script></svg>"
	xmlDoc    = `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>`
)

func utf16LE(s string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, r := range s {
		out = binary.LittleEndian.AppendUint16(out, uint16(r))
	}
	return out
}
