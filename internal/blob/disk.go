package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Disk keeps blobs as files: <root>/<first 2 hex>/<key>. Uploads in
// progress live in this process's folder under <root>/tmp (see spool.go),
// on the same filesystem, so moving one into place is an atomic rename.
// Several processes may share root (a shared disk).
type Disk struct {
	root string
	tmp  *Spool
}

var _ Store = (*Disk)(nil)

// NewDisk opens (creating if needed) a store under root, and removes what
// uploads cut short by a crash left behind.
func NewDisk(root string) (*Disk, error) {
	if root == "" {
		return nil, errors.New("blob: empty store root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob: store root: %w", err)
	}
	sp, err := ClaimSpool(filepath.Join(root, "tmp"))
	if err != nil {
		return nil, err
	}
	return &Disk{root: root, tmp: sp}, nil
}

// Root returns the store's folder.
func (d *Disk) Root() string { return d.root }

// Close removes the store's upload folder and releases its claim on it.
func (d *Disk) Close() error { d.tmp.Release(); return nil }

func (d *Disk) path(key string) string { return filepath.Join(d.root, key[:2], key) }

// Create starts an upload into this process's upload folder.
func (d *Disk) Create(ctx context.Context, limit int64) (Upload, error) {
	f, err := d.tmp.Create(ctx, limit)
	if err != nil {
		return nil, err
	}
	return &diskUpload{SpoolFile: f, d: d}, nil
}

type diskUpload struct {
	*SpoolFile
	d *Disk
}

func (u *diskUpload) Commit(ctx context.Context) (Info, error) {
	defer u.Remove()
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	f, err := u.Finish()
	if err != nil {
		return Info{}, err
	}
	key := u.Sum()
	final := u.d.path(key)
	if fi, err := os.Lstat(final); err == nil {
		return Info{Key: key, Size: u.Size(), ModTime: fi.ModTime()}, nil // deduplicated
	}
	_ = f.Close()
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	// A concurrent commit of the same bytes may rename first; replacing a
	// file with identical content is harmless, and rename is atomic.
	if err := os.Rename(u.Name(), final); err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	u.Kept()
	syncDir(dir)
	fi, err := os.Lstat(final)
	if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	return Info{Key: key, Size: u.Size(), ModTime: fi.ModTime()}, nil
}

func (u *diskUpload) Abort() { u.Remove() }

// syncDir makes a rename durable; failure only weakens durability, so it is
// not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

type diskObject struct {
	*os.File
	info Info
}

func (o diskObject) Info() Info { return o.info }

// Open opens the file of key. The key is checked before the filesystem
// is touched.
func (d *Disk) Open(ctx context.Context, key string) (Object, error) {
	if !ValidKey(key) {
		return nil, ErrInvalidKey
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: %w", err)
	}
	return diskObject{File: f, info: Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}}, nil
}

// Stat describes the file of key.
func (d *Disk) Stat(ctx context.Context, key string) (Info, error) {
	if !ValidKey(key) {
		return Info{}, ErrInvalidKey
	}
	fi, err := os.Stat(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, ErrNotFound
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the file of key.
func (d *Disk) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return ErrInvalidKey
	}
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// List walks <root>/<2 hex>/ for files named by their key (tmp and
// anything else in root are not blobs).
func (d *Disk) List(ctx context.Context, fn func(Info) error) error {
	dirs, err := os.ReadDir(d.root)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	for _, dir := range dirs {
		if !dir.IsDir() || len(dir.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(d.root, dir.Name()))
		if err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		for _, e := range ents {
			k := e.Name()
			if !e.Type().IsRegular() || !ValidKey(k) || k[:2] != dir.Name() {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(Info{Key: k, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}
