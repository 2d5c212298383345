// Package schema is what the SQLite and PostgreSQL stores share about
// migrating with goose: a node never runs on a schema newer than the
// migrations built into it.
package schema

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// ErrTooNew is returned when the database was migrated by a newer Parley
// than this one.
var ErrTooNew = errors.New("database schema is newer than this parley")

// Up refuses a database whose schema version is past p's newest migration
// (saying which versions, and what to do), then applies what is missing.
func Up(ctx context.Context, p *goose.Provider) error {
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	srcs := p.ListSources()
	known := srcs[len(srcs)-1].Version
	if current > known {
		return fmt.Errorf("%w: the database is at schema version %d but this parley knows versions up to %d; "+
			"run the parley release that migrated it (or a newer one), never an older one", ErrTooNew, current, known)
	}
	_, err = p.Up(ctx)
	return err
}

// Dir roots a store's embedded migrations/*.sql where goose looks for them.
func Dir(embedded fs.FS) fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}
