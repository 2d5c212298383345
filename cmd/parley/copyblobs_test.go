package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/blob"
	"github.com/parley-chat/parley/internal/blob/s3blob"
	"github.com/parley-chat/parley/internal/s3test"
)

// TestCopyBlobsDiskToS3 moves a data directory's uploads into a bucket:
// every file arrives with its bytes, and a second run copies nothing.
func TestCopyBlobsDiskToS3(t *testing.T) {
	dataDir := t.TempDir()
	disk, err := blob.NewDisk(filepath.Join(dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, b := range [][]byte{[]byte("a photo"), []byte("a voice note"), bytes.Repeat([]byte("file "), 50_000)} {
		up, _ := disk.Create(context.Background(), 0)
		up.Write(b)
		info, err := up.Commit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want[info.Key] = b
	}
	disk.Close()

	bucket := s3test.Bucket(t)
	var out bytes.Buffer
	if err := run([]string{"copy-blobs", "--data-dir", dataDir, "--to", s3test.URL(bucket)}, &out, &out); err != nil {
		t.Fatalf("copy-blobs: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "copied=3 already_there=0") {
		t.Fatalf("first run printed %q", out.String())
	}
	s3, err := s3blob.New(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	for k, b := range want {
		o, err := s3.Open(context.Background(), k)
		if err != nil {
			t.Fatalf("%s not in the bucket: %v", k, err)
		}
		got, _ := io.ReadAll(o)
		o.Close()
		if !bytes.Equal(got, b) {
			t.Fatalf("%s differs in the bucket", k)
		}
	}
	out.Reset()
	if err := run([]string{"copy-blobs", "--from", "file:" + filepath.Join(dataDir, "blobs"), "--to", s3test.URL(bucket)}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "copied=0 already_there=3") {
		t.Fatalf("second run printed %q", out.String())
	}
	if err := run([]string{"copy-blobs", "--from", "file:/x"}, &out, &out); err == nil {
		t.Fatal("copy-blobs without --to succeeded")
	}
}
