package blob

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Uploads in progress live in a folder of their own per running process,
// <root>/tmp/<id>/, next to a lock file <root>/tmp/<id>.lock that the process
// holds locked for as long as it runs. The kernel releases the lock when the
// process dies, however it dies (SIGKILL included), so at start a process
// can tell the folders of dead processes, which it removes whole, from those
// of processes still running on a shared root, which it leaves alone. Nothing
// in a dead process's folder is worth keeping: an upload is only acknowledged
// once its file has been renamed out of it.

const lockSuffix = ".lock"

// Spool is this process's upload folder and the lock that claims it.
type Spool struct {
	path string
	lock *os.File
}

// ClaimSpool creates (if needed) base, removes from it the folders of
// processes that no longer run, and claims a fresh folder in it for this
// process's uploads. Release gives it back.
func ClaimSpool(base string) (*Spool, error) {
	if err := os.MkdirAll(base, 0o750); err != nil {
		return nil, fmt.Errorf("blob: upload folder: %w", err)
	}
	own, err := claimTempDir(base)
	if err != nil {
		return nil, fmt.Errorf("blob: upload folder: %w", err)
	}
	sweepTempDirs(base, own.path)
	return own, nil
}

// Path is the folder uploads in progress are written to.
func (t *Spool) Path() string { return t.path }

// claimTempDir creates and locks a fresh upload folder under base.
func claimTempDir(base string) (*Spool, error) {
	for range 8 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		dir := filepath.Join(base, hex.EncodeToString(b[:]))
		lock, err := os.OpenFile(dir+lockSuffix, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ok, err := tryLock(lock)
		if err != nil || !ok || !stillNamed(lock, dir+lockSuffix) {
			// Another process's sweep took the fresh lock file between our
			// create and our lock: pick another name.
			_ = lock.Close()
			if err != nil {
				return nil, err
			}
			continue
		}
		if err := os.Mkdir(dir, 0o750); err != nil {
			_ = lock.Close()
			_ = os.Remove(dir + lockSuffix)
			return nil, err
		}
		return &Spool{path: dir, lock: lock}, nil
	}
	return nil, fmt.Errorf("no free upload folder name under %s", base)
}

// stillNamed reports whether f is still the file at name (not unlinked or
// replaced since it was opened).
func stillNamed(f *os.File, name string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(name)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// Release removes the folder (what is in it is abandoned) and drops the lock.
func (t *Spool) Release() {
	_ = os.RemoveAll(t.path)
	_ = os.Remove(t.path + lockSuffix)
	_ = t.lock.Close()
}

// sweepTempDirs removes from base everything that belongs to no running
// process: upload folders whose lock nobody holds, folders without a lock
// file, and loose files (the layout before per-process folders). keep is the
// caller's own folder.
func sweepTempDirs(base, keep string) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(base, e.Name())
		switch {
		case p == keep || p == keep+lockSuffix:
		case strings.HasSuffix(e.Name(), lockSuffix):
			sweepLocked(strings.TrimSuffix(p, lockSuffix))
		case e.IsDir():
			// A folder is created only after its lock file, and its lock
			// file removed only after it: no lock file means a dead owner.
			if _, err := os.Lstat(p + lockSuffix); errors.Is(err, fs.ErrNotExist) {
				_ = os.RemoveAll(p)
			}
		default:
			_ = os.Remove(p)
		}
	}
}

// sweepLocked removes dir and its lock file if no process holds the lock.
func sweepLocked(dir string) {
	lock, err := os.OpenFile(dir+lockSuffix, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer lock.Close()
	if ok, err := tryLock(lock); err != nil || !ok || !stillNamed(lock, dir+lockSuffix) {
		return
	}
	_ = os.RemoveAll(dir)
	_ = os.Remove(dir + lockSuffix)
}
