package blob_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/internal/blob"
	"github.com/parley-chat/parley/internal/blob/blobtest"
)

func TestDiskConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) func() blob.Store {
		root := filepath.Join(t.TempDir(), "blobs")
		return func() blob.Store {
			d, err := blob.NewDisk(root)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	})
}

// TestDiskLayout: blobs stay where earlier versions put them,
// <root>/<2 hex>/<sha256>, so existing installations keep their files; and
// a committed or aborted upload leaves nothing in the upload folder.
func TestDiskLayout(t *testing.T) {
	root := t.TempDir()
	d, err := blob.NewDisk(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	up, _ := d.Create(context.Background(), 0)
	up.Write([]byte("hello"))
	info, err := up.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const sum = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if info.Key != sum {
		t.Fatalf("key %s", info.Key)
	}
	if b, err := os.ReadFile(filepath.Join(root, "2c", sum)); err != nil || string(b) != "hello" {
		t.Fatalf("file at <root>/2c/<sum>: %q, %v", b, err)
	}
	ab, _ := d.Create(context.Background(), 0)
	ab.Write([]byte("dropped"))
	ab.Abort()
	ents, _ := os.ReadDir(filepath.Join(root, "tmp"))
	for _, e := range ents {
		if e.IsDir() {
			if in, _ := os.ReadDir(filepath.Join(root, "tmp", e.Name())); len(in) != 0 {
				t.Fatalf("upload folder holds %v", in)
			}
		}
	}
}

func BenchmarkDiskOneMiB(b *testing.B) {
	d, err := blob.NewDisk(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	blobtest.Bench(b, d, 1<<20)
}
