package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/parley-chat/parley/internal/store/schema"
)

// ErrSchemaTooNew is returned by Open and Migrate when the database was
// migrated by a newer Parley than this one.
var ErrSchemaTooNew = schema.ErrTooNew

//go:embed migrations/*.sql
var migrationFS embed.FS

// legacyTable is where Parley recorded applied migrations before goose
// ("0001_init", ...); see adoptLegacy.
const legacyTable = "schema_migrations"

// migrate brings the schema up to date with goose, after adopting a
// database made by the old runner and refusing a schema newer than the
// embedded migrations. db must be able to hand goose a connection (the
// store calls it before it holds its write connection).
func migrate(ctx context.Context, db *sql.DB) error {
	if err := adoptLegacy(ctx, db); err != nil {
		return fmt.Errorf("sqlite: migrate: adopt %s: %w", legacyTable, err)
	}
	// SQLite has no advisory lock for goose to hold, so processes starting
	// together on one file (a server and `parley account create`) may race
	// to apply the same migration; the loser fails on "already exists".
	// While the version moves on between attempts, someone is migrating:
	// try again, and find less or nothing to do.
	for attempt := 0; ; attempt++ {
		p, err := goose.NewProvider(goose.DialectSQLite3, db, schema.Dir(migrationFS))
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		before, _ := p.GetDBVersion(ctx)
		err = schema.Up(ctx, p)
		if err == nil {
			return nil
		}
		if after, verr := p.GetDBVersion(ctx); errors.Is(err, schema.ErrTooNew) || verr != nil || after <= before || attempt == 10 {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
}

// adoptLegacy hands a database migrated by Parley's old runner to goose:
// in one transaction it creates goose's version table holding the versions
// the old runner recorded (its "0002_inbox" is goose's version 2), so goose
// runs only what is missing, and drops the old table, so the version lives
// in one place (an older parley then fails at once on "table already
// exists" rather than running on a schema it may not know). A database
// goose already manages, or a new one, is left alone.
func adoptLegacy(ctx context.Context, db *sql.DB) error {
	has := func(table string) (bool, error) {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
		return n > 0, err
	}
	legacy, err := has(legacyTable)
	if err != nil || !legacy {
		return err
	}
	if adopted, err := has(goose.DefaultTablename); err != nil || adopted {
		return err
	}
	gs, err := database.NewStore(database.DialectSQLite3, goose.DefaultTablename)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	versions, err := legacyVersions(ctx, tx)
	if err != nil {
		return err
	}
	if err := gs.CreateVersionTable(ctx, tx); err != nil {
		return err
	}
	for _, v := range append([]int64{0}, versions...) { // goose's table always starts with version 0
		if err := gs.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE `+legacyTable); err != nil {
		return err
	}
	return tx.Commit()
}

// legacyVersions reads the old runner's versions ("0001_init" → 1) in
// ascending order.
func legacyVersions(ctx context.Context, tx *sql.Tx) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+legacyTable+` ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("unexpected version %q", name)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
