package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/internal/app"
	"github.com/parley-chat/parley/internal/copydata"
)

const copyDataUsage = `usage: parley copy-data [--from sqlite:PATH] --to postgres://... [--force] [--data-dir DIR]

Copies every table of a single-node installation's SQLite database into a
PostgreSQL database (migrating both first), keeping ids and seqs, then
verifies row counts and each conversation's last seq. Stop the server first.
--from sqlite:PATH names the database file or a data directory (its
parley.db); without --from, the SQLite file in --data-dir (PARLEY_DATA_DIR)
is copied. Uploaded files are not copied: see parley copy-blobs.
`

// copyData moves the SQLite database into PostgreSQL (docs/operations.md,
// "Moving to PostgreSQL"). Its own flags are picked out of args; the rest
// are server settings (so --data-dir finds the default source).
func copyData(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copy-data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "source: sqlite:PATH, a database file or a data directory (default: the one in --data-dir)")
	to := fs.String("to", "", "target: a postgres:// URL (required)")
	force := fs.Bool("force", false, "replace everything in a target that already holds Parley data")
	batch := fs.Int("batch", 10_000, "rows per COPY batch")
	fs.Usage = func() { fmt.Fprint(stderr, copyDataUsage); fs.PrintDefaults() }
	own, rest := splitFlags(args, fs)
	for _, a := range rest {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.Usage()
			return flag.ErrHelp
		}
	}
	if err := fs.Parse(own); err != nil {
		return err
	}
	if *to == "" || !(strings.HasPrefix(*to, "postgres://") || strings.HasPrefix(*to, "postgresql://")) {
		fs.Usage()
		return errors.New("copy-data: --to must be a postgres:// URL")
	}
	src, err := copySource(*from, rest, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Fprintf(stdout, "copying %s to %s\n", src, describeURL(*to))
	sum, err := copydata.Copy(ctx, src, *to, copydata.Options{Force: *force, BatchRows: *batch, Progress: stdout})
	if err != nil {
		return err
	}
	sum.Print(stdout)
	fmt.Fprintln(stdout, "now start parley with --database-url set to the target (and copy the files with parley copy-blobs)")
	return nil
}

// copySource resolves --from: "sqlite:PATH" or a bare PATH, each a
// database file or a data directory; empty means the data directory of
// the server settings in rest.
func copySource(from string, rest []string, stdout io.Writer) (string, error) {
	if from == "" {
		cfg, _, err := loadConfig(rest, stdout)
		if err != nil {
			return "", err
		}
		return app.DBPath(cfg.DataDir), nil
	}
	if len(rest) > 0 {
		return "", fmt.Errorf("copy-data: unexpected arguments %q", rest)
	}
	path := strings.TrimPrefix(from, "sqlite:")
	if strings.Contains(path, "://") {
		return "", fmt.Errorf("copy-data: --from %q: want sqlite:PATH", from)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = app.DBPath(path)
	}
	return path, nil
}

// describeURL names a database without its password.
func describeURL(url string) string {
	c, err := pgx.ParseConfig(url)
	if err != nil {
		return "the PostgreSQL database"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}
