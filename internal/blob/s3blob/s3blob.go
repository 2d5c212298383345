// Package s3blob keeps blobs in an S3-compatible bucket (AWS S3, SeaweedFS,
// Ceph RGW, Garage, R2, …) through minio-go: object "<prefix><2 hex>/<key>",
// the same names as the disk store's files, so a data directory's blobs
// folder can be synced into a bucket as it is. Uploads are spooled to a
// local temp file while they are hashed (the key is the hash, known only at
// the end), then sent in one PUT (multipart above PartSize).
package s3blob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/parley-chat/parley/internal/blob"
)

// Config says where the bucket is. ParseURL fills it from an s3:// URL.
type Config struct {
	// Endpoint is the S3 API's host[:port], e.g. "s3.eu-west-1.amazonaws.com"
	// or "127.0.0.1:8333".
	Endpoint string
	// Secure selects HTTPS (default in ParseURL) or plain HTTP.
	Secure bool
	// AccessKey and SecretKey sign requests. Empty: taken from the
	// environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or
	// MINIO_ACCESS_KEY/MINIO_SECRET_KEY).
	AccessKey, SecretKey string
	// Region of the bucket. Defaults to us-east-1 (what most S3-compatible
	// servers answer), so no request is spent looking it up.
	Region string
	// Bucket must exist; New does not create it.
	Bucket string
	// Prefix is put before every object name ("" or ending in "/").
	Prefix string
	// PathStyle addresses the bucket as https://endpoint/bucket/… (what
	// most self-hosted servers need); false lets minio-go choose (virtual
	// hosts on AWS).
	PathStyle bool
	// Redirect says browsers can reach Endpoint, so downloads may be
	// redirected to a presigned URL instead of passing through Parley.
	Redirect bool
	// SpoolDir holds uploads while they are hashed. Defaults to a folder
	// in the system's temp directory.
	SpoolDir string
	// PartSize is the multipart part size for large uploads; defaults to
	// 16 MiB (each part is read from the spool file, not held in memory).
	PartSize uint64
}

// ParseURL reads
//
//	s3://[ACCESS_KEY:SECRET_KEY@]HOST[:PORT]/BUCKET[/PREFIX][?region=R&secure=false&path_style=false&redirect=true]
//
// secure defaults to true (HTTPS), path_style to true, redirect to false.
// Keys in the URL are percent-encoded; leave them out to take them from
// the environment.
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("s3 URL: %w", err)
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("s3 URL: scheme %q, want s3://", u.Scheme)
	}
	if u.Host == "" {
		return Config{}, errors.New("s3 URL: no endpoint host (s3://HOST[:PORT]/BUCKET)")
	}
	path := strings.TrimPrefix(u.Path, "/")
	bucket, prefix, _ := strings.Cut(path, "/")
	if bucket == "" {
		return Config{}, errors.New("s3 URL: no bucket (s3://HOST[:PORT]/BUCKET[/PREFIX])")
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	c := Config{Endpoint: u.Host, Bucket: bucket, Prefix: prefix, Secure: true, PathStyle: true}
	if u.User != nil {
		c.AccessKey = u.User.Username()
		c.SecretKey, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "region", "secure", "path_style", "redirect":
		default:
			return Config{}, fmt.Errorf("s3 URL: unknown parameter %q (region, secure, path_style, redirect)", k)
		}
	}
	c.Region = q.Get("region")
	for _, b := range []struct {
		name string
		v    *bool
	}{{"secure", &c.Secure}, {"path_style", &c.PathStyle}, {"redirect", &c.Redirect}} {
		switch q.Get(b.name) {
		case "":
		case "true", "1":
			*b.v = true
		case "false", "0":
			*b.v = false
		default:
			return Config{}, fmt.Errorf("s3 URL: %s=%q, want true or false", b.name, q.Get(b.name))
		}
	}
	return c, nil
}

// Store is a blob.Store on a bucket.
type Store struct {
	c     *minio.Client
	cfg   Config
	spool *blob.Spool
	tr    *http.Transport
}

var (
	_ blob.Store     = (*Store)(nil)
	_ blob.Presigner = (*Store)(nil)
)

// New connects to the bucket and checks that it exists.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 16 << 20
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = filepath.Join(os.TempDir(), "parley-blob-spool")
	}
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	if cfg.AccessKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: creds, Secure: cfg.Secure, Region: cfg.Region, BucketLookup: lookup, Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("s3: bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("s3: bucket %q does not exist at %s (create it first)", cfg.Bucket, cfg.Endpoint)
	}
	sp, err := blob.ClaimSpool(cfg.SpoolDir)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return &Store{c: c, cfg: cfg, spool: sp, tr: tr}, nil
}

// Redirect reports whether downloads may be redirected to the bucket.
func (s *Store) Redirect() bool { return s.cfg.Redirect }

// Close releases the spool folder and idle connections.
func (s *Store) Close() error {
	s.spool.Release()
	s.tr.CloseIdleConnections()
	return nil
}

func (s *Store) object(key string) string { return s.cfg.Prefix + blob.Path(key) }

// notFound reports whether err is S3's answer for a missing object.
func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	if notFound(err) {
		return blob.ErrNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("s3: %w", err)
}

// Create starts an upload spooled to a local temp file.
func (s *Store) Create(ctx context.Context, limit int64) (blob.Upload, error) {
	f, err := s.spool.Create(ctx, limit)
	if err != nil {
		return nil, err
	}
	return &upload{SpoolFile: f, s: s}, nil
}

type upload struct {
	*blob.SpoolFile
	s *Store
}

func (u *upload) Commit(ctx context.Context) (blob.Info, error) {
	defer u.Remove()
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	f, err := u.Finish()
	if err != nil {
		return blob.Info{}, err
	}
	key := u.Sum()
	if in, err := u.s.Stat(ctx, key); err == nil {
		return in, nil // deduplicated
	} else if !errors.Is(err, blob.ErrNotFound) {
		return blob.Info{}, err
	}
	_, err = u.s.c.PutObject(ctx, u.s.cfg.Bucket, u.s.object(key), f, u.Size(), minio.PutObjectOptions{
		ContentType: "application/octet-stream", PartSize: u.s.cfg.PartSize,
	})
	if err != nil {
		return blob.Info{}, wrap(err)
	}
	return u.s.Stat(ctx, key)
}

func (u *upload) Abort() { u.Remove() }

type object struct {
	*minio.Object
	info blob.Info
}

func (o object) Info() blob.Info { return o.info }

// Open returns the object; reads after a Seek are ranged GETs.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if !blob.ValidKey(key) {
		return nil, blob.ErrInvalidKey
	}
	o, err := s.c.GetObject(ctx, s.cfg.Bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, wrap(err)
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		return nil, wrap(err)
	}
	return object{Object: o, info: blob.Info{Key: key, Size: st.Size, ModTime: st.LastModified}}, nil
}

// Stat asks for the object's head.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if !blob.ValidKey(key) {
		return blob.Info{}, blob.ErrInvalidKey
	}
	st, err := s.c.StatObject(ctx, s.cfg.Bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, wrap(err)
	}
	return blob.Info{Key: key, Size: st.Size, ModTime: st.LastModified}, nil
}

// Delete removes the object (S3 answers a missing one with success).
func (s *Store) Delete(ctx context.Context, key string) error {
	if !blob.ValidKey(key) {
		return blob.ErrInvalidKey
	}
	return wrap(s.c.RemoveObject(ctx, s.cfg.Bucket, s.object(key), minio.RemoveObjectOptions{}))
}

// List lists the objects under the prefix that are named as blobs.
func (s *Store) List(ctx context.Context, fn func(blob.Info) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn stops early
	for o := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.cfg.Prefix, Recursive: true}) {
		if o.Err != nil {
			return wrap(o.Err)
		}
		name := strings.TrimPrefix(o.Key, s.cfg.Prefix)
		dir, key, ok := strings.Cut(name, "/")
		if !ok || !blob.ValidKey(key) || dir != key[:2] {
			continue
		}
		if err := fn(blob.Info{Key: key, Size: o.Size, ModTime: o.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// PresignGet signs a GET of key for ttl, with the response's type and
// disposition overridden (the object itself is stored untyped).
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration, contentType, disposition string) (string, error) {
	if !blob.ValidKey(key) {
		return "", blob.ErrInvalidKey
	}
	q := url.Values{}
	q.Set("response-content-type", contentType)
	q.Set("response-content-disposition", disposition)
	q.Set("response-cache-control", "private")
	u, err := s.c.PresignedGetObject(ctx, s.cfg.Bucket, s.object(key), ttl, q)
	if err != nil {
		return "", wrap(err)
	}
	return u.String(), nil
}
