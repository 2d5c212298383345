// Package sqlite is Parley's default store: one SQLite file in WAL mode.
//
// Writes go through one connection owned by a single writer goroutine, which
// groups whatever requests are queued when the previous commit finishes into
// one transaction and one fsync (group commit). Reads use a separate pool of
// read-only connections, so they never wait on the writer (WAL readers see
// the last committed state).
//
// The schema is migrated with goose from the embedded migrations/*.sql (see
// migrate.go); a node refuses a database whose schema is newer than it knows.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ store.Store = (*Store)(nil)

// ErrClosed is returned by writes submitted after Close.
var ErrClosed = errors.New("sqlite: store closed")

// Options tunes the store; the zero value is fine.
type Options struct {
	// MaxBatch bounds how many queued writes share one transaction
	// (default 512).
	MaxBatch int
	// ReadConns is the size of the read-only connection pool
	// (default max(4, 2*GOMAXPROCS)).
	ReadConns int
	// BusyTimeout is how long a connection waits for a lock held by another
	// process (default 5s). Within one process the writer never waits.
	BusyTimeout time.Duration
}

func (o *Options) defaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
}

// Store implements store.Store on one SQLite database file.
type Store struct {
	opt Options

	wdb   *sql.DB   // MaxOpenConns=1; only the writer goroutine uses it
	wconn *sql.Conn // the one write connection, held for the store's life
	ws    writeStmts
	rdb   *sql.DB // read-only pool
	rs    readStmts

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
	reqs   chan *request
	done   chan struct{} // closed when the writer goroutine has exited

	// Writer-goroutine state.
	batch   []*request
	fast    []*request
	slow    []*request
	seen    map[clientKey]struct{}
	seqs    map[string]int64
	args    []any
	lastSeq map[string]int64 // cached conversations.last_seq
	pending map[string]convUpdate
	created []*request

	// Counters, for benchmarks and metrics.
	batches atomic.Int64
	writes  atomic.Int64
}

// Stats reports how many transactions the writer committed and how many
// write requests they carried (Writes/Batches is the mean batch size).
type Stats struct{ Batches, Writes int64 }

func (s *Store) Stats() Stats { return Stats{Batches: s.batches.Load(), Writes: s.writes.Load()} }

// walCheckpointPages is the writer's wal_autocheckpoint. The checkpoint runs
// inside a COMMIT, so it delays one group commit; a larger WAL makes them
// rarer and cheaper per message (a page rewritten by many commits is copied
// back once). With appends spread over 1000 conversations, 16384 pages wrote
// ~25% fewer bytes per message than 4000 and gave ~15% more appends/s on the
// 2-core dev machine. A background checkpointer connection did worse: under
// steady writes the WAL never restarts, and it competes for the same CPU and
// disk.
const walCheckpointPages = 16384 // 64 MiB with 4 KiB pages

func dsn(path string, opt Options, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(opt.BusyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
		// The writer touches index pages all over the file; keep them.
		q.Add("_pragma", "cache_size(-32768)")
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages))
	}
	q.Add("_pragma", "temp_store(memory)")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func openWriteDB(ctx context.Context, path string, opt Options) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, opt, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Open opens (creating if needed) the database at path and applies pending
// migrations.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	opt.defaults()
	wdb, err := openWriteDB(ctx, path, opt)
	if err != nil {
		return nil, err
	}
	s := &Store{
		opt:     opt,
		wdb:     wdb,
		reqs:    make(chan *request, opt.MaxBatch),
		done:    make(chan struct{}),
		lastSeq: make(map[string]int64),
		pending: make(map[string]convUpdate),
		seen:    make(map[clientKey]struct{}),
		seqs:    make(map[string]int64),
	}
	fail := func(err error) (*Store, error) {
		s.closeDBs()
		return nil, err
	}
	// Migrate before taking the one write connection: goose borrows it.
	if err := migrate(ctx, wdb); err != nil {
		return fail(err)
	}
	if s.wconn, err = wdb.Conn(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", path, err))
	}
	if err := s.ws.prepare(ctx, s.wconn); err != nil {
		return fail(err)
	}
	// Readers are opened after the writer has put the file in WAL mode.
	if s.rdb, err = sql.Open("sqlite", dsn(path, opt, true)); err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", path, err))
	}
	s.rdb.SetMaxOpenConns(opt.ReadConns)
	s.rdb.SetMaxIdleConns(opt.ReadConns)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.rs.prepare(ctx, s.rdb); err != nil {
		return fail(err)
	}
	go s.writer()
	return s, nil
}

// Migrate applies pending migrations to the database at path (for
// `parley migrate`).
func Migrate(ctx context.Context, path string) error {
	opt := Options{}
	opt.defaults()
	db, err := openWriteDB(ctx, path, opt)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db)
}

// Close stops accepting writes, finishes every write already queued, and
// closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	var errs []error
	s.rs.close()
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	s.ws.close()
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close()) // the last connection out checkpoints and removes the WAL
	}
	return errors.Join(errs...)
}
