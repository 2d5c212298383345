package blob

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A child process started by TestUploadLeftByKilledProcessIsRemoved: it
// opens the store, leaves an upload half-written and waits to be killed.
func init() {
	root := os.Getenv("PARLEY_BLOB_TEST_CHILD")
	if root == "" {
		return
	}
	s, err := NewDisk(root)
	if err != nil {
		os.Exit(3)
	}
	f, err := os.CreateTemp(s.tmp.Path(), "upload-*")
	if err != nil {
		os.Exit(4)
	}
	_, _ = f.WriteString("half an upload")
	_, _ = os.Stdout.WriteString(f.Name() + "\n")
	select {} // until SIGKILL
}

// TestUploadLeftByKilledProcessIsRemoved SIGKILLs a process in the middle
// of an upload and starts a store on the same folder: the partial upload,
// however young, is gone.
func TestUploadLeftByKilledProcessIsRemoved(t *testing.T) {
	root := filepath.Join(t.TempDir(), "blobs")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PARLEY_BLOB_TEST_CHILD="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := out.Read(buf)
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("child said nothing: %v", err)
	}
	partial := strings.TrimSpace(string(buf[:n]))
	_ = cmd.Process.Kill() // SIGKILL
	_ = cmd.Wait()
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("the killed upload should still be on disk before the restart: %v", err)
	}

	s := newStoreAt(t, root)
	if _, err := os.Stat(partial); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("partial upload of a killed process kept after start: %v", err)
	}
	if got := temps(t, root); len(got) != 2 { // our folder and its lock
		t.Fatalf("tmp holds %v, want only this store's folder and lock", got)
	}
	_ = s
}

// TestStartClearsLeftoversButNotLiveUploads: loose files (the layout before
// per-process folders) and folders without an owner go; the folder of a
// store still running on the same root, with its upload, stays.
func TestStartClearsLeftoversButNotLiveUploads(t *testing.T) {
	root := filepath.Join(t.TempDir(), "blobs")
	live := newStoreAt(t, root)
	inProgress := filepath.Join(live.tmp.Path(), "upload-live")
	base := filepath.Join(root, "tmp")
	loose := filepath.Join(base, "upload-123")
	orphan := filepath.Join(base, "0123456789abcdef")
	unlocked := filepath.Join(base, "fedcba9876543210")
	for _, d := range []string{orphan, unlocked} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{inProgress, loose, filepath.Join(orphan, "upload-1"),
		filepath.Join(unlocked, "upload-2"), unlocked + lockSuffix} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	s := newStoreAt(t, root)
	for _, p := range []string{loose, orphan, unlocked, unlocked + lockSuffix} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s kept at start: %v", p, err)
		}
	}
	if _, err := os.Stat(inProgress); err != nil {
		t.Fatalf("a running store's upload was removed: %v", err)
	}
	if got := temps(t, root); len(got) != 4 {
		t.Fatalf("tmp holds %v, want two folders and their locks", got)
	}

	s.Close()
	live.Close()
	if got := temps(t, root); len(got) != 0 {
		t.Fatalf("tmp holds %v after Close", got)
	}
}

func temps(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func newStoreAt(t *testing.T, root string) *Disk {
	t.Helper()
	d, err := NewDisk(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
