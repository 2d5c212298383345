// Package postgres is Parley's store on PostgreSQL, for several nodes
// sharing one database: open it with Open(ctx, "postgres://...").
//
// Reads and most writes go straight to a pgx connection pool. Message
// appends go through a few writer goroutines per store (each owning a share
// of the conversations) that group whatever is queued into one transaction
// and one commit (group commit, as the SQLite store does); each append is
// acknowledged only after that commit. Seqs
// stay gapless and unique across nodes because a batch row-locks the
// conversations it appends to (in id order, so two nodes' batches cannot
// deadlock) and reads their last_seq under the lock; see writer.go.
//
// The schema is migrated with goose from the embedded migrations/*.sql; a
// node refuses to open a database whose schema is newer than it knows.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/schema"
)

var _ store.Store = (*Store)(nil)

// ErrClosed is returned by appends submitted after Close.
var ErrClosed = errors.New("postgres: store closed")

// ErrSchemaTooNew is returned by Open and Migrate when the database was
// migrated by a newer Parley than this one.
var ErrSchemaTooNew = schema.ErrTooNew

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options tunes the store; the zero value is fine.
type Options struct {
	// MaxBatch bounds how many queued appends share one transaction
	// (default 1024).
	MaxBatch int
	// Writers is how many writer goroutines commit appends at once, each
	// for its own share of the conversations (by a hash of the id), so one
	// conversation's appends are still committed and announced in order
	// (default 2).
	Writers int
	// MaxConns is the pool size (default: the URL's pool_max_conns, else 8).
	MaxConns int32
}

// Store implements store.Store on a PostgreSQL database.
type Store struct {
	opt  Options
	pool *pgxpool.Pool

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
	reqs   []chan *request // one queue per writer
	done   chan struct{}   // closed when every writer goroutine has exited

	batches atomic.Int64
	writes  atomic.Int64
}

// Stats reports how many append transactions the writer committed and how
// many appends they carried.
type Stats struct{ Batches, Writes int64 }

func (s *Store) Stats() Stats { return Stats{Batches: s.batches.Load(), Writes: s.writes.Load()} }

// Open connects to the database at url (a postgres:// URL or a libpq
// key=value string), applies pending migrations and starts the writer.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, opt Options) (*Store, error) {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 1024
	}
	if opt.Writers <= 0 {
		opt.Writers = 2
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	} else if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s@%s:%d/%s: %w",
			cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{
		opt:  opt,
		pool: pool,
		reqs: make([]chan *request, opt.Writers),
		done: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for i := range s.reqs {
		s.reqs[i] = make(chan *request, opt.MaxBatch)
		wg.Go(func() { s.writer(s.reqs[i]) })
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	return s, nil
}

// Migrate applies pending migrations to the database at url (for
// `parley migrate`).
func Migrate(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// migrate brings the schema up to date under goose's session lock (an
// advisory lock, so nodes starting together migrate once), after refusing
// a schema newer than the embedded migrations.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	// Nodes starting together: one migrates, the others retry every second
	// (for up to 5 minutes) and then find nothing to do.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, schema.Dir(migrationFS), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if err := schema.Up(ctx, p); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Close stops accepting appends, finishes every append already queued, and
// closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	for _, q := range s.reqs {
		close(q)
	}
	s.mu.Unlock()
	<-s.done
	s.pool.Close()
	return nil
}

// ---- helpers shared by the files of this package ----

// mapErr turns "no row" and constraint violations into store errors and
// wraps the rest.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return err
	}
	if code := pgCode(err); code != "" {
		switch code {
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: %w (%v)", what, store.ErrNotFound, err)
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w (%v)", what, store.ErrConflict, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// pgCode is the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// constraint reports whether err is an integrity constraint violation
// (class 23): bad input for one request, not a broken database.
func constraint(err error) bool {
	c := pgCode(err)
	return len(c) == 5 && c[:2] == "23"
}

type scanner interface{ Scan(dest ...any) error }

func nanos(t time.Time) int64 { return t.UnixNano() }

// nowIfZero returns t in UTC, or the current time when t is zero.
func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t.UTC()
}

func nullNanos(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNull(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := fromNanos(*n)
	return &t
}

// collect scans every row with scan and closes rows.
func collect[T any](rows pgx.Rows, err error, scan func(scanner) (T, error), what string) ([]T, error) {
	if err != nil {
		return nil, mapErr(what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(what, err)
	}
	return out, nil
}

// execOne runs a one-row statement and reports ErrNotFound when no row matched.
func (s *Store) execOne(ctx context.Context, what, q string, args ...any) error {
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return mapErr(what, err)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(what, pgx.ErrNoRows)
	}
	return nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}
