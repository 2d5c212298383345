package s3blob_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/internal/blob"
	"github.com/parley-chat/parley/internal/blob/blobtest"
	"github.com/parley-chat/parley/internal/blob/s3blob"
	"github.com/parley-chat/parley/internal/s3test"
)

func TestS3Conformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) func() blob.Store {
		cfg := s3test.Bucket(t)
		return func() blob.Store {
			c := cfg
			c.SpoolDir = t.TempDir()
			s, err := s3blob.New(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestPrefix: two stores on one bucket under different prefixes do not
// see each other's blobs.
func TestPrefix(t *testing.T) {
	cfg := s3test.Bucket(t)
	a, b := cfg, cfg
	a.Prefix, b.Prefix = "one/", "two/"
	sa, err := s3blob.New(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	b.SpoolDir = t.TempDir()
	sb, err := s3blob.New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	up, _ := sa.Create(context.Background(), 0)
	up.Write([]byte("in one"))
	info, err := up.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Stat(context.Background(), info.Key); err != blob.ErrNotFound {
		t.Fatalf("a blob under one/ is seen under two/: %v", err)
	}
	n := 0
	sb.List(context.Background(), func(blob.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("two/ lists %d blobs", n)
	}
}

func TestParseURL(t *testing.T) {
	c, err := s3blob.ParseURL("s3://AK:S%2Fk@s3.example.com:9000/media/parley/a?region=eu-west-1&secure=false&redirect=true")
	if err != nil {
		t.Fatal(err)
	}
	want := s3blob.Config{Endpoint: "s3.example.com:9000", AccessKey: "AK", SecretKey: "S/k", Bucket: "media",
		Prefix: "parley/a/", Region: "eu-west-1", Secure: false, PathStyle: true, Redirect: true}
	if c != want {
		t.Fatalf("ParseURL = %+v\nwant %+v", c, want)
	}
	c, err = s3blob.ParseURL("s3://s3.amazonaws.com/b?path_style=false")
	if err != nil || c.Bucket != "b" || c.Prefix != "" || !c.Secure || c.PathStyle || c.AccessKey != "" {
		t.Fatalf("ParseURL = %+v, %v", c, err)
	}
	for _, bad := range []string{"file:/x", "s3:///b", "s3://host", "s3://host/", "s3://h/b?secure=maybe", "s3://h/b?acl=public"} {
		if _, err := s3blob.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

func BenchmarkS3OneMiB(b *testing.B) {
	s, err := s3blob.New(context.Background(), s3test.Bucket(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	blobtest.Bench(b, s, 1<<20)
}
