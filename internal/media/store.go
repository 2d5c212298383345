// Package media handles chat attachments: uploads are streamed into the
// blob store (never held whole in memory), size-limited per kind, typed by
// sniffing their bytes against a per-kind allow-list, and stored by content
// hash. Downloads are
// served with nosniff and an attachment disposition for anything that is not
// an image, audio or video (see SetDownloadHeaders); who may download is the
// REST layer's business.
package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/blob"
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

// Store saves uploads into a blob.Store (files on disk, or S3), named by
// the SHA-256 of their bytes. Uploads are spooled by the blob store (a
// temp file on local disk), never held in memory. A Store is safe for
// concurrent use, also by several processes sharing the blobs.
type Store struct {
	blobs blob.Store
	disk  *blob.Disk // set by NewStore
	lim   Limits
}

// NewStore opens (creating if needed) a store on local disk under root:
// <root>/<first 2 hex>/<sha256 hex> (see blob.Disk). A zero field in lim
// takes its default; a negative one is an error. Close releases it.
func NewStore(root string, lim Limits) (*Store, error) {
	if root == "" {
		return nil, errors.New("media: empty store root")
	}
	if err := fillLimits(&lim); err != nil {
		return nil, err
	}
	d, err := blob.NewDisk(root)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return &Store{blobs: d, disk: d, lim: lim}, nil
}

// New returns a Store on blobs (which Close then closes).
func New(blobs blob.Store, lim Limits) (*Store, error) {
	if err := fillLimits(&lim); err != nil {
		return nil, err
	}
	return &Store{blobs: blobs, lim: lim}, nil
}

func fillLimits(lim *Limits) error {
	def := DefaultLimits()
	for _, f := range []struct {
		v   *int64
		def int64
		n   string
	}{{&lim.Image, def.Image, "image"}, {&lim.Voice, def.Voice, "voice"}, {&lim.File, def.File, "file"}} {
		if *f.v < 0 {
			return fmt.Errorf("media: negative %s upload limit %d", f.n, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return nil
}

// Close releases the blob store. Saves must have returned.
func (s *Store) Close() { _ = s.blobs.Close() }

// Root returns the folder of a store on local disk ("" on another backend).
func (s *Store) Root() string {
	if s.disk == nil {
		return ""
	}
	return s.disk.Root()
}

// Blobs is the blob store underneath.
func (s *Store) Blobs() blob.Store { return s.blobs }

// Limits returns the limits in force (defaults filled in).
func (s *Store) Limits() Limits { return s.lim }

const copyBuf = 32 << 10

// Save streams r into the store as an upload of kind. It writes to a blob
// upload (which hashes as it goes), stops reading at the kind's limit + 1
// byte (→ file_too_large), sniffs the type from the first SniffLen bytes,
// the only part held in memory, before reading further (→
// unsupported_type), and commits the blob under its hash. If that blob
// already exists the new copy is dropped. Whatever goes wrong, the upload
// is aborted: a refused upload leaves nothing behind. declaredName is only an extension hint (see Sniff).
//
// A read error from r (a client that went away) is bad_request; a cancelled
// ctx stops the copy and is returned wrapped (errors.Is works).
func (s *Store) Save(ctx context.Context, kind string, r io.Reader, declaredName string) (Stored, error) {
	const op = "media.Save"
	limit, ok := s.lim.For(kind)
	if !ok {
		return Stored{}, apperr.Invalidf("unknown upload kind %q (want image, voice or file)", kind)
	}
	if err := ctx.Err(); err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}

	up, err := s.blobs.Create(ctx, limit)
	if err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	defer up.Abort() // a refused upload leaves nothing behind

	readMax := limit // read one byte past the limit to know it was exceeded
	if readMax < math.MaxInt64 {
		readMax++
	}
	src := &ctxReader{ctx: ctx, r: io.LimitReader(r, readMax)}
	w := io.Writer(up)

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

	if err := ctx.Err(); err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	info, err := up.Commit(ctx)
	if err != nil {
		return Stored{}, apperr.Wrap(op, err)
	}
	return Stored{SHA256: info.Key, Size: size, ContentType: ct, Kind: kind}, nil
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
func ValidHash(h string) bool { return blob.ValidKey(h) }

// Open opens the blob named sum for reading (and seeking). sum is checked
// to be 64 lower-case hex digits before the store is touched
// (bad_request); a missing blob is not_found. The caller closes it.
func (s *Store) Open(ctx context.Context, sum string) (blob.Object, error) {
	o, err := s.blobs.Open(ctx, sum)
	if err != nil {
		return nil, blobErr("media.Open", err)
	}
	return o, nil
}

// Remove deletes the blob named sum (for retention limits). Removing a blob
// that does not exist is not an error. The caller makes sure no message still
// refers to it.
func (s *Store) Remove(ctx context.Context, sum string) error {
	return blobErr("media.Remove", s.blobs.Delete(ctx, sum))
}

// blobErr maps the blob store's errors to the kinds callers answer with.
func blobErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrInvalidKey):
		return apperr.Invalidf("invalid blob id")
	case errors.Is(err, blob.ErrNotFound):
		return apperr.NotFoundf("no such blob")
	}
	return apperr.Wrap(op, err)
}

// redirector is a blob store whose blobs browsers may fetch themselves.
type redirector interface {
	blob.Presigner
	Redirect() bool
}

// Redirect returns a URL of the blob store that serves sum with the given
// type and disposition for ttl, or "" when the store's blobs are served
// through this server (a disk store, or S3 not reachable by browsers).
func (s *Store) Redirect(ctx context.Context, sum string, ttl time.Duration, contentType, disposition string) (string, error) {
	r, ok := s.blobs.(redirector)
	if !ok || !r.Redirect() {
		return "", nil
	}
	u, err := r.PresignGet(ctx, sum, ttl, contentType, disposition)
	return u, blobErr("media.Redirect", err)
}

// RedirectOrigin is the origin ("https://s3.example.com") that Redirect's
// URLs point to, or "" when downloads are not redirected: pages that show
// attachments must allow it as a source of images and audio.
func (s *Store) RedirectOrigin(ctx context.Context) string {
	u, err := s.Redirect(ctx, strings.Repeat("0", 64), time.Minute, "", "")
	if err != nil || u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}
