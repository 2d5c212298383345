// Package s3test gives tests a bucket of their own on the real
// S3-compatible server the tests run against (PARLEY_TEST_S3_ENDPOINT,
// default 127.0.0.1:9333, plain HTTP; keys PARLEY_TEST_S3_ACCESS_KEY /
// PARLEY_TEST_S3_SECRET_KEY, default parley/parley-test-secret). That
// server is what scripts/deps-s3.sh builds and starts (`make deps`). A
// server that does not answer fails the test with how to start one; no
// test skips.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/parley-chat/parley/internal/blob/s3blob"
)

// Defaults match scripts/deps-s3.sh.
const (
	DefaultEndpoint  = "127.0.0.1:9333"
	DefaultAccessKey = "parley"
	DefaultSecretKey = "parley-test-secret"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Endpoint is the host:port of the test server.
func Endpoint() string { return env("PARLEY_TEST_S3_ENDPOINT", DefaultEndpoint) }

func keys() (string, string) {
	return env("PARLEY_TEST_S3_ACCESS_KEY", DefaultAccessKey), env("PARLEY_TEST_S3_SECRET_KEY", DefaultSecretKey)
}

// client returns a client of the test server whose connections close
// when t ends (goroutine-leak checks).
func client(t testing.TB) *minio.Client {
	t.Helper()
	ak, sk := keys()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := minio.New(Endpoint(), &minio.Options{Creds: credentials.NewStaticV4(ak, sk, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath, Transport: tr})
	if err != nil {
		t.Fatalf("PARLEY_TEST_S3_ENDPOINT=%q: %v", Endpoint(), err)
	}
	return c
}

// Bucket creates a fresh bucket, "t-<random>", emptied and removed when t
// ends, and returns a Config of it (its spool folder in t's temp dir).
func Bucket(t testing.TB) s3blob.Config {
	t.Helper()
	c := client(t)
	var b [8]byte
	rand.Read(b[:])
	name := "t-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("the S3 test server does not answer at %s (%v). Start it with scripts/deps-s3.sh "+
			"(or `make deps`), which builds tools/s3server and runs it on 127.0.0.1:9333; "+
			"or point PARLEY_TEST_S3_ENDPOINT (and _ACCESS_KEY, _SECRET_KEY) at another S3-compatible server.", Endpoint(), err)
	}
	t.Cleanup(func() { removeBucket(c, name) })
	ak, sk := keys()
	return s3blob.Config{Endpoint: Endpoint(), AccessKey: ak, SecretKey: sk, Bucket: name,
		PathStyle: true, Region: "us-east-1", SpoolDir: t.TempDir()}
}

// URL is cfg as a --blob-url value.
func URL(cfg s3blob.Config) string {
	u := url.URL{Scheme: "s3", User: url.UserPassword(cfg.AccessKey, cfg.SecretKey), Host: cfg.Endpoint,
		Path: "/" + cfg.Bucket + "/" + cfg.Prefix, RawQuery: "secure=false"}
	return u.String()
}

func removeBucket(c *minio.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for o := range c.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err == nil {
			_ = c.RemoveObject(ctx, name, o.Key, minio.RemoveObjectOptions{})
		}
	}
	_ = c.RemoveBucket(ctx, name)
}
