package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/parley-chat/parley/internal/apperr"
)

func newStore(t *testing.T, lim Limits) *Store {
	t.Helper()
	s, err := NewStore(filepath.Join(t.TempDir(), "blobs"), lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// files lists every regular file under root (relative paths).
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == filepath.Join(root, "tmp") {
			return filepath.SkipDir // upload folders and their locks; see temps
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertNoFiles(t *testing.T, s *Store) {
	t.Helper()
	if fs := files(t, s.Root()); len(fs) != 0 {
		t.Fatalf("store holds files after a refused upload: %v", fs)
	}
	if tmp, _ := uploading(t, s); len(tmp) != 0 {
		t.Fatalf("upload folder holds %d files after a refused upload", len(tmp))
	}
}

// uploading lists the uploads in progress: the files in the store's
// upload folders (<root>/tmp/<process>/).
func uploading(t *testing.T, s *Store) ([]string, error) {
	t.Helper()
	var out []string
	base := filepath.Join(s.Root(), "tmp")
	dirs, err := os.ReadDir(base)
	for _, d := range dirs {
		if d.IsDir() {
			in, _ := os.ReadDir(filepath.Join(base, d.Name()))
			for _, e := range in {
				out = append(out, e.Name())
			}
		}
	}
	return out, err
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestDefaultLimits(t *testing.T) {
	if got := DefaultLimits(); got != (Limits{Image: 10 << 20, Voice: 20 << 20, File: 25 << 20}) {
		t.Fatalf("DefaultLimits = %+v", got)
	}
	s := newStore(t, Limits{Image: 5})
	if got := s.Limits(); got.Image != 5 || got.Voice != 20<<20 || got.File != 25<<20 {
		t.Fatalf("zero limits not defaulted: %+v", got)
	}
	if _, err := NewStore(t.TempDir(), Limits{File: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}

func TestSaveEachAllowedType(t *testing.T) {
	s := newStore(t, DefaultLimits())
	cases := []struct {
		kind, name string
		data       []byte
		want       string
	}{
		{KindImage, "a.png", pngBytes(t), "image/png"},
		{KindImage, "a.jpg", jpegBytes(t), "image/jpeg"},
		{KindImage, "a.gif", gifBytes(t), "image/gif"},
		{KindImage, "a.webp", webpBytes(), "image/webp"},
		{KindVoice, "v.webm", webmHeader("webm"), "audio/webm"},
		{KindVoice, "v.ogg", opusBytes(), "audio/ogg"},
		{KindVoice, "v.ogg", vorbisBytes(), "audio/ogg"},
		{KindVoice, "v.mp3", id3MP3(), "audio/mpeg"},
		{KindVoice, "v.mp3", mp3Frames(4), "audio/mpeg"},
		{KindVoice, "v.m4a", m4aBytes(), "audio/mp4"},
		{KindVoice, "v.mp4", isoBytes(), "audio/mp4"},
		{KindVoice, "v.wav", wavBytes(), "audio/wav"},
		{KindVoice, "v.aac", adtsFrames(4), "audio/aac"},
		{KindFile, "a.pdf", pdfBytes(), "application/pdf"},
		{KindFile, "a.txt", []byte("plain text\n"), "text/plain; charset=utf-8"},
		{KindFile, "a.zip", zipBytes(), "application/zip"},
	}
	for _, c := range cases {
		st, err := s.Save(context.Background(), c.kind, bytes.NewReader(c.data), c.name)
		if err != nil {
			t.Fatalf("%s %s: %v", c.kind, c.want, err)
		}
		want := Stored{SHA256: hashOf(c.data), Size: int64(len(c.data)), ContentType: c.want, Kind: c.kind}
		if st != want {
			t.Fatalf("Save = %+v, want %+v", st, want)
		}
		p := filepath.Join(s.Root(), st.SHA256[:2], st.SHA256)
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, c.data) {
			t.Fatalf("blob at %s: err %v, equal %v", p, err, bytes.Equal(got, c.data))
		}
		f, err := s.Open(context.Background(), st.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, c.data) {
			t.Fatal("Open returned other bytes")
		}
	}
	if tmp, _ := uploading(t, s); len(tmp) != 0 {
		t.Fatalf("temp files left: %d", len(tmp))
	}
}

func TestSaveRefusedLeavesNothing(t *testing.T) {
	s := newStore(t, DefaultLimits())
	cases := []struct {
		kind, name string
		data       []byte
	}{
		{KindImage, "a.svg", []byte(svgDoc)},
		{KindImage, "a.png", []byte(htmlDoc)},
		{KindImage, "a.png", pdfBytes()},
		{KindVoice, "a.webm", pngBytes(t)},
		{KindVoice, "a.mov", movBytes()},
		{KindFile, "a.html", []byte(htmlDoc)},
		{KindFile, "a.svg", []byte(svgProlog)},
		{KindFile, "a.xml", []byte(xmlDoc)},
		{KindFile, "a.html", []byte("words")},
	}
	for _, c := range cases {
		// Big enough that refusing after the head must not stream the rest.
		data := append(append([]byte{}, c.data...), bytes.Repeat([]byte(" "), 100<<10)...)
		cr := &countingReader{r: bytes.NewReader(data)}
		_, err := s.Save(context.Background(), c.kind, cr, c.name)
		if !apperr.Is(err, apperr.CodeUnsupportedType) {
			t.Fatalf("%s %s: err = %v, want unsupported_type", c.kind, c.name, err)
		}
		if cr.n > SniffLen {
			t.Fatalf("read %d bytes before refusing; want at most %d", cr.n, SniffLen)
		}
		assertNoFiles(t, s)
	}
	if _, err := s.Save(context.Background(), "video", bytes.NewReader(pngBytes(t)), "a.png"); !apperr.Is(err, apperr.CodeBadRequest) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := s.Save(context.Background(), KindFile, bytes.NewReader(nil), "a.txt"); !apperr.Is(err, apperr.CodeBadRequest) {
		t.Fatalf("empty upload: %v", err)
	}
	assertNoFiles(t, s)
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// lazyReader yields a header then filler bytes up to size, without ever
// holding them, and counts what was read.
type lazyReader struct {
	head []byte
	size int64
	off  int64
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.off >= l.size {
		return 0, io.EOF
	}
	if rem := l.size - l.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	for i := range p {
		if o := l.off + int64(i); o < int64(len(l.head)) {
			p[i] = l.head[o]
		} else {
			p[i] = byte(o * 7)
		}
	}
	l.off += int64(len(p))
	return len(p), nil
}

func TestSaveOverLimit(t *testing.T) {
	const limit = 100 << 10
	s := newStore(t, Limits{Image: limit, Voice: limit, File: limit})
	for _, kind := range []string{KindImage, KindVoice, KindFile} {
		head := map[string][]byte{KindImage: pngBytes(t), KindVoice: webmHeader("webm"), KindFile: pdfBytes()}[kind]

		// Exactly at the limit is fine.
		st, err := s.Save(context.Background(), kind, &lazyReader{head: head, size: limit}, "x")
		if err != nil || st.Size != limit {
			t.Fatalf("%s at limit: %+v, %v", kind, st, err)
		}
		if err := s.Remove(context.Background(), st.SHA256); err != nil {
			t.Fatal(err)
		}

		// One byte over is refused, and the reader is not drained.
		r := &lazyReader{head: head, size: 1 << 40}
		_, err = s.Save(context.Background(), kind, r, "x")
		if !apperr.Is(err, apperr.CodeFileTooLarge) || apperr.KindOf(err) != apperr.TooLarge {
			t.Fatalf("%s over limit: err = %v", kind, err)
		}
		if !strings.Contains(err.Error(), "102400 bytes") {
			t.Fatalf("message does not name the limit: %v", err)
		}
		if r.off > limit+1 {
			t.Fatalf("%s: read %d bytes for a %d-byte limit", kind, r.off, limit)
		}
		assertNoFiles(t, s)
	}

	// A limit smaller than the sniffing head.
	tiny := newStore(t, Limits{Image: 10})
	if _, err := tiny.Save(context.Background(), KindImage, bytes.NewReader(pngBytes(t)), "a.png"); !apperr.Is(err, apperr.CodeFileTooLarge) {
		t.Fatalf("tiny limit: %v", err)
	}
	assertNoFiles(t, tiny)
}

func TestSaveDeduplicates(t *testing.T) {
	s := newStore(t, DefaultLimits())
	data := pngBytes(t)
	a, err := s.Save(context.Background(), KindImage, bytes.NewReader(data), "a.png")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Save(context.Background(), KindImage, bytes.NewReader(data), "b.png")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("%+v != %+v", a, b)
	}
	if fs := files(t, s.Root()); len(fs) != 1 || fs[0] != filepath.Join(a.SHA256[:2], a.SHA256) {
		t.Fatalf("files = %v, want the one blob", fs)
	}
}

func TestSaveConcurrentSameContent(t *testing.T) {
	s := newStore(t, DefaultLimits())
	data := append(pdfBytes(), bytes.Repeat([]byte("x"), 300<<10)...)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := s.Save(context.Background(), KindFile, bytes.NewReader(data), "a.pdf")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if fs := files(t, s.Root()); len(fs) != 1 {
		t.Fatalf("files = %v", fs)
	}
	got, _ := os.ReadFile(filepath.Join(s.Root(), hashOf(data)[:2], hashOf(data)))
	if !bytes.Equal(got, data) {
		t.Fatal("blob content differs")
	}
}

type failingReader struct {
	head []byte
	err  error
	done bool
}

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.done {
		f.done = true
		return copy(p, f.head), nil
	}
	return 0, f.err
}

func TestSaveReadErrorAndCancel(t *testing.T) {
	s := newStore(t, DefaultLimits())
	head := append(pdfBytes(), bytes.Repeat([]byte("y"), SniffLen)...)
	boom := errors.New("connection reset")
	_, err := s.Save(context.Background(), KindFile, &failingReader{head: head, err: boom}, "a.pdf")
	if !apperr.Is(err, apperr.CodeBadRequest) || !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
	assertNoFiles(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{lazyReader: lazyReader{head: pdfBytes(), size: 10 << 20}, at: 1 << 20, cancel: cancel}
	_, err = s.Save(ctx, KindFile, r, "a.pdf")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	assertNoFiles(t, s)
}

type cancelAfter struct {
	lazyReader
	at     int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.off >= c.at {
		c.cancel()
	}
	return c.lazyReader.Read(p)
}

func TestOpenRejectsBadHashes(t *testing.T) {
	s := newStore(t, DefaultLimits())
	// A file a traversal would reach, to be sure nothing is opened.
	if err := os.WriteFile(filepath.Join(filepath.Dir(s.Root()), "x"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := hashOf([]byte("nothing"))
	for _, h := range []string{
		"", "../x", "../../etc/passwd", "tmp", strings.ToUpper(good), good[:63], good + "0",
		good[:62] + "/x", "..%2fx", good[:63] + "\x00", strings.Repeat(".", 64), "/" + good[1:],
		good[:2] + "/" + good[3:],
	} {
		if f, err := s.Open(context.Background(), h); err == nil || !apperr.Is(err, apperr.CodeBadRequest) {
			if f != nil {
				f.Close()
			}
			t.Fatalf("Open(%q): err = %v, want bad_request", h, err)
		}
		if err := s.Remove(context.Background(), h); !apperr.Is(err, apperr.CodeBadRequest) {
			t.Fatalf("Remove(%q): %v", h, err)
		}
	}
	if _, err := s.Open(context.Background(), good); !apperr.Is(err, apperr.CodeNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	if err := s.Remove(context.Background(), good); err != nil {
		t.Fatalf("Remove missing: %v", err)
	}
}

func newStoreAt(t *testing.T, root string) *Store {
	t.Helper()
	s, err := NewStore(root, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestSaveStreamsWithoutBuffering saves a 20 MB voice upload and checks
// that Save allocated a small fraction of that: the body is never held in
// memory.
func TestSaveStreamsWithoutBuffering(t *testing.T) {
	s := newStore(t, DefaultLimits())
	const size = 20 << 20 // exactly the voice limit
	r := &lazyReader{head: webmHeader("webm"), size: size}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st, err := s.Save(context.Background(), KindVoice, r, "voice.webm")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.ContentType != "audio/webm" {
		t.Fatalf("stored %+v", st)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	var growth int64
	if after.HeapAlloc > before.HeapAlloc {
		growth = int64(after.HeapAlloc - before.HeapAlloc)
	}
	t.Logf("20 MiB upload: %d bytes allocated in total, heap grew %d bytes", allocated, growth)
	if allocated > 4<<20 || growth > 4<<20 {
		t.Fatalf("Save allocated %d bytes (heap +%d) for a %d-byte upload", allocated, growth, size)
	}
	info, err := os.Stat(filepath.Join(s.Root(), st.SHA256[:2], st.SHA256))
	if err != nil || info.Size() != size {
		t.Fatalf("blob: %v, %v", info, err)
	}
}
