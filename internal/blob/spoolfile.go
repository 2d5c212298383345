package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
)

// SpoolFile is an upload being written to a temp file in a Spool: it
// counts and hashes what passes and refuses bytes past its limit. Both
// implementations write uploads this way (Disk renames the file into
// place; s3blob sends it), so neither holds an upload in memory.
type SpoolFile struct {
	f     *os.File
	name  string
	h     hash.Hash
	size  int64
	limit int64
	err   error // sticky: a write past the limit or a failed write
}

// Create opens a new temp file in the spool for an upload of at most limit
// bytes (≤ 0: no limit), unless ctx is done.
func (t *Spool) Create(ctx context.Context, limit int64) (*SpoolFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(t.path, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("blob: upload file: %w", err)
	}
	return &SpoolFile{f: f, name: f.Name(), h: sha256.New(), limit: limit}, nil
}

// Write appends p, or fails with ErrTooLarge when it would pass the limit.
func (s *SpoolFile) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil {
		return 0, ErrClosed
	}
	if s.limit > 0 && s.size+int64(len(p)) > s.limit {
		s.err = ErrTooLarge
		return 0, s.err
	}
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	s.size += int64(n)
	if err != nil {
		s.err = err
	}
	return n, err
}

// Size is the number of bytes written.
func (s *SpoolFile) Size() int64 { return s.size }

// Sum is the SHA-256 of the bytes written, lower-case hex.
func (s *SpoolFile) Sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

// Finish flushes the file to disk and returns it, rewound, for the commit
// to read or rename; the SpoolFile then takes no more writes. The caller
// still calls Remove (or Keep after a rename).
func (s *SpoolFile) Finish() (*os.File, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.f == nil {
		return nil, ErrClosed
	}
	if err := s.f.Sync(); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, 0); err != nil {
		return nil, err
	}
	s.err = ErrClosed
	return s.f, nil
}

// Name is the temp file's path.
func (s *SpoolFile) Name() string { return s.name }

// Kept tells the SpoolFile its file was renamed away: Remove only closes.
func (s *SpoolFile) Kept() { s.name = "" }

// Remove closes and deletes the temp file; safe to call twice.
func (s *SpoolFile) Remove() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	if s.name != "" {
		_ = os.Remove(s.name)
		s.name = ""
	}
	if s.err == nil {
		s.err = ErrClosed
	}
}
