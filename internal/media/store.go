// Package media handles chat attachments: uploads are streamed to disk (never
// held whole in memory), size-limited per kind, typed by sniffing their bytes
// against a per-kind allow-list, and stored by content hash. Downloads are
// served with nosniff and an attachment disposition for anything that is not
// an image, audio or video (see SetDownloadHeaders); who may download is the
// REST layer's business.
package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/parley-chat/parley/internal/apperr"
)

// Limits are the maximum upload sizes per kind, in bytes.
type Limits struct{ Image, Voice, File int64 }

// DefaultLimits returns image 10 MiB, voice 20 MiB, file 25 MiB.
func DefaultLimits() Limits {
	return Limits{Image: 10 << 20, Voice: 20 << 20, File: 25 << 20}
}

// For returns the limit for kind, and false for an unknown kind.
func (l Limits) For(kind string) (int64, bool) {
	switch kind {
	case KindImage:
		return l.Image, true
	case KindVoice:
		return l.Voice, true
	case KindFile:
		return l.File, true
	}
	return 0, false
}

// Stored describes a saved blob.
type Stored struct {
	SHA256      string // 64 lower-case hex digits; the blob's name
	Size        int64
	ContentType string // sniffed; what downloads are served as
	Kind        string
}

// Store is a content-addressed blob store on local disk. A blob lives at
// <root>/<first 2 hex>/<sha256 hex>; uploads in progress live in this
// process's folder under <root>/tmp (see tempdir.go), on the same
// filesystem, so moving one into place is an atomic rename. A Store is safe
// for concurrent use, also by several processes sharing root.
type Store struct {
	root string
	tmp  string // this process's upload folder
	own  *tempDir
	lim  Limits
}

// NewStore opens (creating if needed) a store under root. A zero field in lim
// takes its default; a negative one is an error. It removes what uploads
// cut short by a crash left behind: the upload folders of processes that no
// longer run. Close releases the store's own folder.
func NewStore(root string, lim Limits) (*Store, error) {
	def := DefaultLimits()
	for _, f := range []struct {
		v   *int64
		def int64
		n   string
	}{{&lim.Image, def.Image, "image"}, {&lim.Voice, def.Voice, "voice"}, {&lim.File, def.File, "file"}} {
		if *f.v < 0 {
			return nil, fmt.Errorf("media: negative %s upload limit %d", f.n, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if root == "" {
		return nil, errors.New("media: empty store root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("media: store root: %w", err)
	}
	base := filepath.Join(root, "tmp")
	if err := os.MkdirAll(base, 0o750); err != nil {
		return nil, fmt.Errorf("media: create store: %w", err)
	}
	own, err := claimTempDir(base)
	if err != nil {
		return nil, fmt.Errorf("media: upload folder: %w", err)
	}
	sweepTempDirs(base, own.path)
	return &Store{root: root, tmp: own.path, own: own, lim: lim}, nil
}

// Close removes the store's upload folder and releases its claim on it.
// Saves must have returned; a Save after Close fails.
func (s *Store) Close() { s.own.release() }

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// Limits returns the limits in force (defaults filled in).
func (s *Store) Limits() Limits { return s.lim }

const copyBuf = 32 << 10

// Save streams r into the store as an upload of kind. It hashes while it
// writes to a temp file, stops reading at the kind's limit + 1 byte (→
// file_too_large), sniffs the type from the first SniffLen bytes, the only
// part held in memory, before reading further (→ unsupported_type), fsyncs,
// and renames the file to its hash. If that blob already exists the new copy
// is dropped. Whatever goes wrong, the temp file is removed: a refused upload
// leaves nothing behind. declaredName is only an extension hint (see Sniff).
//
// A read error from r (a client that went away) is bad_request; a cancelled
// ctx stops the copy and is returned wrapped (errors.Is works).
func (s *Store) Save(ctx context.Context, kind string, r io.Reader, declaredName string) (st Stored, err error) {
	const op = "media.Save"
	limit, ok := s.lim.For(kind)
	if !ok {
		return Stored{}, apperr.Invalidf("unknown upload kind %q (want image, voice or file)", kind)
	}
	if err := ctx.Err(); err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}

	f, err := os.CreateTemp(s.tmp, "upload-*")
	if err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	tmpName := f.Name()
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if tmpName != "" {
			_ = os.Remove(tmpName)
		}
	}()

	readMax := limit // read one byte past the limit to know it was exceeded
	if readMax < math.MaxInt64 {
		readMax++
	}
	src := &ctxReader{ctx: ctx, r: io.LimitReader(r, readMax)}
	h := sha256.New()
	w := io.MultiWriter(f, h)

	// The head: read it whole, decide the type, then stream the rest.
	head := make([]byte, SniffLen)
	n, rerr := io.ReadFull(src, head)
	head = head[:n]
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
		return Stored{}, readErr(op, rerr)
	}
	if int64(n) > limit {
		return Stored{}, tooLarge(kind, limit)
	}
	if n == 0 {
		return Stored{}, apperr.Invalidf("empty upload")
	}
	ct, err := Sniff(head, kind, declaredName)
	if err != nil {
		return Stored{}, err
	}
	if _, err := w.Write(head); err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	size := int64(n)

	if rerr == nil { // the head filled up: there may be more
		buf := make([]byte, copyBuf)
		for {
			m, err := src.Read(buf)
			if m > 0 {
				size += int64(m)
				if size > limit {
					return Stored{}, tooLarge(kind, limit)
				}
				if _, werr := w.Write(buf[:m]); werr != nil {
					return Stored{}, apperr.Wrap(op, werr)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return Stored{}, readErr(op, err)
			}
		}
	}

	if err := f.Sync(); err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	if err := f.Close(); err != nil {
		f = nil
		return Stored{}, apperr.Wrap(op, err)
	}
	f = nil

	sum := hex.EncodeToString(h.Sum(nil))
	st = Stored{SHA256: sum, Size: size, ContentType: ct, Kind: kind}
	dir := filepath.Join(s.root, sum[:2])
	final := filepath.Join(dir, sum)
	if _, err := os.Lstat(final); err == nil {
		return st, nil // deduplicated; the deferred cleanup drops the temp
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	// A concurrent Save of the same bytes may rename first; replacing a file
	// with identical content is harmless, and rename is atomic.
	if err := os.Rename(tmpName, final); err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	tmpName = ""
	syncDir(dir)
	return st, nil
}

func tooLarge(kind string, limit int64) error {
	return apperr.New(apperr.TooLarge, apperr.CodeFileTooLarge,
		"%s upload is over the limit of %d bytes", kind, limit)
}

func readErr(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return apperr.Wrap(op, err)
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	return &apperr.Error{Kind: apperr.Invalid, Code: apperr.CodeBadRequest,
		Message: "upload interrupted", Op: op, Err: err}
}

// syncDir makes a rename durable; failure only weakens durability, so it is
// not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ValidHash reports whether h is a blob name: exactly 64 lower-case hex digits.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Store) path(sum string) string {
	return filepath.Join(s.root, sum[:2], sum)
}

// Open opens the blob named sum for reading. sum is checked to be 64
// lower-case hex digits before the filesystem is touched (bad_request);
// a missing blob is not_found. The caller closes the file.
func (s *Store) Open(sum string) (*os.File, error) {
	if !ValidHash(sum) {
		return nil, apperr.Invalidf("invalid blob id")
	}
	f, err := os.Open(s.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apperr.NotFoundf("no such blob")
	}
	if err != nil {
		return nil, apperr.Wrap("media.Open", err)
	}
	return f, nil
}

// Remove deletes the blob named sum (for retention limits). Removing a blob
// that does not exist is not an error. The caller makes sure no message still
// refers to it.
func (s *Store) Remove(sum string) error {
	if !ValidHash(sum) {
		return apperr.Invalidf("invalid blob id")
	}
	if err := os.Remove(s.path(sum)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return apperr.Wrap("media.Remove", err)
	}
	return nil
}
