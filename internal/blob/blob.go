// Package blob stores immutable, content-addressed blobs: a blob's key is
// the SHA-256 of its bytes (64 lower-case hex digits). Two implementations
// keep the same names: Disk, files under a folder (one node, or several
// sharing a filesystem), and s3blob, objects in an S3-compatible bucket
// (several nodes). Both are held to one conformance suite, blobtest.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors every implementation returns (wrapped; match with errors.Is).
var (
	ErrNotFound   = errors.New("blob: not found")
	ErrInvalidKey = errors.New("blob: invalid key (want 64 lower-case hex digits)")
	ErrTooLarge   = errors.New("blob: over the size limit")
	ErrClosed     = errors.New("blob: upload already committed or aborted")
)

// Info describes a stored blob.
type Info struct {
	Key     string // the SHA-256 of the bytes, lower-case hex
	Size    int64
	ModTime time.Time // when it was stored (as the backend keeps it)
}

// Store keeps blobs by the hash of their bytes. It is safe for concurrent
// use, also by several processes (nodes) sharing the same folder or bucket.
type Store interface {
	// Create starts an upload of at most limit bytes (≤ 0: no limit). The
	// bytes are written to the Upload, which hashes them as they pass;
	// nothing is visible under any key before Commit.
	Create(ctx context.Context, limit int64) (Upload, error)
	// Open opens a blob for reading, with seeking (HTTP ranges). A missing
	// blob is ErrNotFound, a malformed key ErrInvalidKey.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes a blob without reading it.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every stored blob, in no particular order, until fn
	// returns an error (which List returns).
	List(ctx context.Context, fn func(Info) error) error
	// Close releases what the store holds (its upload folder). Uploads
	// must have ended.
	Close() error
}

// Upload is a blob being written. Write past the limit fails with
// ErrTooLarge (the upload is then only good for Abort).
type Upload interface {
	io.Writer
	// Size is the number of bytes written so far.
	Size() int64
	// Sum is the SHA-256 of the bytes written so far: the key Commit uses.
	Sum() string
	// Commit makes the blob durable under its key, Sum(). If a blob with
	// that key exists already (the same bytes), it is kept and this copy
	// dropped. Only after Commit returns nil is the blob stored.
	Commit(ctx context.Context) (Info, error)
	// Abort drops what was written. It is safe after Commit (then a no-op)
	// and safe to call twice, so `defer up.Abort()` is the usual pattern.
	Abort()
}

// Object is an open blob: read, seek, close.
type Object interface {
	io.ReadSeekCloser
	Info() Info
}

// Presigner is implemented by stores whose blobs a browser can fetch
// straight from the backend (S3) with a URL signed for a short time.
type Presigner interface {
	// PresignGet returns a URL that reads key until ttl has passed, and
	// makes the backend answer with contentType and disposition.
	PresignGet(ctx context.Context, key string, ttl time.Duration, contentType, disposition string) (string, error)
}

// ValidKey reports whether k is a blob key: exactly 64 lower-case hex digits.
func ValidKey(k string) bool {
	if len(k) != 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Path is where a key lives relative to the store's root, in both
// implementations: "<first two hex digits>/<key>".
func Path(key string) string { return key[:2] + "/" + key }

// Copy copies every blob of from that to lacks, and returns how many it
// copied and how many were there already. Keys are content hashes, so a
// key present in to holds the same bytes; a copy cut short can be run
// again.
func Copy(ctx context.Context, from, to Store) (copied, present int, err error) {
	err = from.List(ctx, func(in Info) error {
		if _, err := to.Stat(ctx, in.Key); err == nil {
			present++
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := copyOne(ctx, from, to, in.Key); err != nil {
			return err
		}
		copied++
		return nil
	})
	return copied, present, err
}

func copyOne(ctx context.Context, from, to Store, key string) error {
	src, err := from.Open(ctx, key)
	if err != nil {
		return err
	}
	defer src.Close()
	up, err := to.Create(ctx, 0)
	if err != nil {
		return err
	}
	defer up.Abort()
	if _, err := io.Copy(up, src); err != nil {
		return err
	}
	if up.Sum() != key {
		return errors.New("blob: " + key + " does not hash to its key (corrupt source)")
	}
	_, err = up.Commit(ctx)
	return err
}
