package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-chat/parley/internal/app"
	"github.com/parley-chat/parley/internal/blob"
)

const copyBlobsUsage = `Usage: parley copy-blobs [--from URL] --to URL [--data-dir DIR]

Copies every uploaded file from one blob store to another, e.g. a single
node's data directory into the S3 bucket its nodes will share:

  parley copy-blobs --from file:/var/lib/parley/blobs --to 's3://KEY:SECRET@s3.example.com/parley-media'

A URL is file:PATH or s3://[KEY:SECRET@]HOST[:PORT]/BUCKET[/PREFIX][?region=…&secure=false&path_style=false]
(docs/operations.md). Files are named by their SHA-256, so a file already at
the destination is skipped, each copy is checked against its name, and a
copy cut short can simply be run again. Stop the server first (or run it
again after the last upload); then start the nodes with --blob-url set to --to.

`

// copyBlobs is `parley copy-blobs`.
func copyBlobs(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("copy-blobs", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(stdout, copyBlobsUsage); fs.PrintDefaults() }
	from := fs.String("from", "", "blob store to copy from (empty = data-dir's blobs folder)")
	to := fs.String("to", "", "blob store to copy to (required)")
	dataDir := fs.String("data-dir", "./parley-data", "data directory (its blobs folder is the default --from; S3 uploads are spooled under it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("copy-blobs needs --to (and no other arguments)")
	}
	if *from == *to {
		return errors.New("--from and --to are the same store")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	src, err := app.OpenBlobs(ctx, *from, *dataDir)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := app.OpenBlobs(ctx, *to, *dataDir)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	copied, present, err := blob.Copy(ctx, src, dst)
	fmt.Fprintf(stdout, "copied=%d already_there=%d\n", copied, present)
	return err
}
