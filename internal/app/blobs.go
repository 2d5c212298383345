package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/parley-chat/parley/internal/blob"
	"github.com/parley-chat/parley/internal/blob/s3blob"
)

// BlobsDir is where uploads live on local disk when blob_url is empty.
func BlobsDir(dataDir string) string { return filepath.Join(dataDir, "blobs") }

// BlobsKind names the blob store a blob_url picks: "disk" or "s3".
func BlobsKind(blobURL string) string {
	if strings.HasPrefix(blobURL, "s3://") {
		return "s3"
	}
	return "disk"
}

// OpenBlobs opens the blob store a blob_url names: empty → the blobs folder
// of dataDir; file:PATH → that folder; s3://… → the bucket (see
// s3blob.ParseURL), with uploads spooled in dataDir's blobs/tmp folder.
func OpenBlobs(ctx context.Context, blobURL, dataDir string) (blob.Store, error) {
	switch {
	case blobURL == "":
		return blob.NewDisk(BlobsDir(dataDir))
	case strings.HasPrefix(blobURL, "file:"):
		p := strings.TrimPrefix(strings.TrimPrefix(blobURL, "file:"), "//")
		if p == "" {
			return nil, fmt.Errorf("blob_url %q: no path", blobURL)
		}
		return blob.NewDisk(p)
	case strings.HasPrefix(blobURL, "s3://"):
		cfg, err := s3blob.ParseURL(blobURL)
		if err != nil {
			return nil, err
		}
		cfg.SpoolDir = filepath.Join(BlobsDir(dataDir), "tmp")
		return s3blob.New(ctx, cfg)
	}
	return nil, fmt.Errorf("blob_url %q: want file:PATH or s3://…", blobURL)
}
