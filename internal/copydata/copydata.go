// Package copydata moves a single-node installation's SQLite database into
// PostgreSQL (`parley copy-data`), so the same data serves several nodes.
//
// The copy is driven by the schemas, not by per-table code: every Parley
// table of the target (after migrating it) must exist in the source with
// the same columns, and is copied row for row, values as they are (times
// are unix nanoseconds on both sides; SQLite's 0/1 becomes a boolean where
// PostgreSQL has one). Ids, seqs, idempotency keys, read positions and the
// server's secret therefore stay the same, and clients' cursors resume.
//
// The source is read in one read transaction (one consistent snapshot);
// the target is written in one transaction, table by table in foreign-key
// order, by COPY in batches, and verified before it commits: row counts
// per table, and each conversation's last_seq, newest seq and message
// count, must equal the source's. A failed or refused copy leaves the
// target as it was.
package copydata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	"github.com/parley-chat/parley/internal/store/postgres"
	"github.com/parley-chat/parley/internal/store/sqlite"
)

// ErrTargetNotEmpty is returned when the target already holds Parley data
// and Options.Force is not set.
var ErrTargetNotEmpty = errors.New("copy-data: the target database is not empty")

// ErrSchemaMismatch is returned when a table or column exists on one side
// only: this parley's two schemas have drifted apart, and the generic copy
// would lose data.
var ErrSchemaMismatch = errors.New("copy-data: the SQLite and PostgreSQL schemas differ")

// ErrVerify is returned when the copied target does not match the source;
// nothing is committed.
var ErrVerify = errors.New("copy-data: verification failed")

// Options tunes a copy; the zero value is fine.
type Options struct {
	// Force empties the target's Parley tables first (in the same
	// transaction) instead of refusing a non-empty target.
	Force bool
	// BatchRows is how many rows one COPY carries (default 10,000).
	BatchRows int
	// Progress, when set, gets a line per table as it is copied.
	Progress io.Writer
}

// TableCount is one table's copied row count.
type TableCount struct {
	Table string
	Rows  int64
}

// Summary is what a copy moved and verified.
type Summary struct {
	Tables        []TableCount // in copy order
	Conversations int          // conversations whose seqs were verified
	Messages      int64
	Elapsed       time.Duration
}

// Rows is the total number of rows copied.
func (s Summary) Rows() int64 {
	var n int64
	for _, t := range s.Tables {
		n += t.Rows
	}
	return n
}

// Print writes the summary for an operator (the tables' counts are in the
// progress lines).
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "verified: the row counts of %d tables and the last seq of %d conversations (%d messages) match the source\n",
		len(s.Tables), s.Conversations, s.Messages)
	fmt.Fprintf(w, "copied %d rows in %s\n", s.Rows(), s.Elapsed.Round(time.Millisecond))
}

// Copy migrates both databases to this parley's schema, then copies every
// Parley table from the SQLite database at srcPath into the PostgreSQL
// database at dstURL. Stop the server that uses srcPath first: what it
// writes after the snapshot is not copied.
func Copy(ctx context.Context, srcPath, dstURL string, opt Options) (Summary, error) {
	start := time.Now()
	if opt.BatchRows <= 0 {
		opt.BatchRows = 10_000
	}
	if opt.Progress == nil {
		opt.Progress = io.Discard
	}
	if fi, err := os.Stat(srcPath); err != nil {
		return Summary{}, fmt.Errorf("copy-data: source: %w", err)
	} else if !fi.Mode().IsRegular() {
		return Summary{}, fmt.Errorf("copy-data: source %s is not a SQLite database file", srcPath)
	}
	if err := sqlite.Migrate(ctx, srcPath); err != nil {
		return Summary{}, fmt.Errorf("copy-data: source: %w", err)
	}
	// The last connection to close removes the WAL; one still there after
	// Migrate closed its own means another process has the file open.
	if _, err := os.Stat(srcPath + "-wal"); err == nil {
		fmt.Fprintf(opt.Progress, "warning: %s-wal exists: is a parley still running on it? What it writes after this snapshot is not copied\n", srcPath)
	}
	if err := postgres.Migrate(ctx, dstURL); err != nil {
		return Summary{}, fmt.Errorf("copy-data: target: %w", err)
	}

	src, err := openSource(ctx, srcPath)
	if err != nil {
		return Summary{}, err
	}
	defer src.close()
	dst, err := pgx.Connect(ctx, dstURL)
	if err != nil {
		return Summary{}, fmt.Errorf("copy-data: target: %w", err)
	}
	defer dst.Close(context.WithoutCancel(ctx))
	tx, err := dst.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return Summary{}, fmt.Errorf("copy-data: target: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	tables, err := targetTables(ctx, tx)
	if err != nil {
		return Summary{}, fmt.Errorf("copy-data: target schema: %w", err)
	}
	if err := matchSchemas(ctx, src, tables); err != nil {
		return Summary{}, err
	}
	if err := prepareTarget(ctx, tx, tables, opt.Force); err != nil {
		return Summary{}, err
	}
	var sum Summary
	for _, t := range tables {
		n, err := copyTable(ctx, src, tx, t, opt.BatchRows)
		if err != nil {
			return Summary{}, fmt.Errorf("copy-data: copy %s: %w", t.name, err)
		}
		fmt.Fprintf(opt.Progress, "copied %s: %d rows\n", t.name, n)
		sum.Tables = append(sum.Tables, TableCount{Table: t.name, Rows: n})
	}
	if sum.Conversations, sum.Messages, err = verify(ctx, src, tx, sum.Tables); err != nil {
		return Summary{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Summary{}, fmt.Errorf("copy-data: commit: %w", err)
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// source is the SQLite database held in one read transaction, so every
// query sees the same snapshot.
type source struct {
	db   *sql.DB
	conn *sql.Conn
}

func openSource(ctx context.Context, path string) (*source, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("copy-data: source: %w", err)
	}
	s := &source{db: db}
	if s.conn, err = db.Conn(ctx); err == nil {
		// DEFERRED: the snapshot is taken by the first read and held to the end.
		_, err = s.conn.ExecContext(ctx, "BEGIN DEFERRED")
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("copy-data: source: %w", err)
	}
	return s, nil
}

func (s *source) close() {
	if s.conn != nil {
		s.conn.ExecContext(context.Background(), "ROLLBACK")
		s.conn.Close()
	}
	s.db.Close()
}

// table is one target table: its columns in order and which of them are
// booleans (SQLite stores those as 0/1).
type table struct {
	name    string
	columns []string
	isBool  []bool
}

// targetTables lists the target's Parley tables (all of schema public but
// goose's) in foreign-key order: a table comes after the tables it
// references.
func targetTables(ctx context.Context, tx pgx.Tx) ([]table, error) {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, data_type
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> $1
		ORDER BY table_name, ordinal_position`, goose.DefaultTablename)
	if err != nil {
		return nil, err
	}
	byName := map[string]*table{}
	for rows.Next() {
		var name, col, typ string
		if err := rows.Scan(&name, &col, &typ); err != nil {
			return nil, err
		}
		t := byName[name]
		if t == nil {
			t = &table{name: name}
			byName[name] = t
		}
		t.columns = append(t.columns, col)
		t.isBool = append(t.isBool, typ == "boolean")
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(byName) == 0 {
		return nil, errors.New("no tables (was it migrated?)")
	}
	deps := map[string][]string{}
	rows, err = tx.Query(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
		FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			return nil, err
		}
		if from != to {
			deps[from] = append(deps[from], to)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Kahn's algorithm, taking ready tables in name order so the order is stable.
	var out []table
	done := map[string]bool{}
	for len(out) < len(byName) {
		progressed := false
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			if done[name] || slices.ContainsFunc(deps[name], func(d string) bool { return !done[d] }) {
				continue
			}
			done[name], progressed = true, true
			out = append(out, *byName[name])
		}
		if !progressed {
			return nil, errors.New("foreign keys form a cycle")
		}
	}
	return out, nil
}

// matchSchemas checks that the source has exactly the target's tables and
// columns (in any order).
func matchSchemas(ctx context.Context, src *source, tables []table) error {
	rows, err := src.conn.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ?`, goose.DefaultTablename)
	if err != nil {
		return fmt.Errorf("copy-data: source schema: %w", err)
	}
	names, err := readStrings(rows)
	rows.Close()
	if err != nil {
		return fmt.Errorf("copy-data: source schema: %w", err)
	}
	srcTables := map[string]bool{}
	for _, name := range names {
		srcTables[name] = true
	}
	var diffs []string
	for _, t := range tables {
		if !srcTables[t.name] {
			diffs = append(diffs, "table "+t.name+" is missing in SQLite")
			continue
		}
		delete(srcTables, t.name)
		cols, err := sourceColumns(ctx, src, t.name)
		if err != nil {
			return fmt.Errorf("copy-data: source schema: %w", err)
		}
		for _, c := range t.columns {
			if !cols[c] {
				diffs = append(diffs, fmt.Sprintf("column %s.%s is missing in SQLite", t.name, c))
			}
			delete(cols, c)
		}
		for _, c := range slices.Sorted(maps.Keys(cols)) {
			diffs = append(diffs, fmt.Sprintf("column %s.%s is missing in PostgreSQL", t.name, c))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(srcTables)) {
		diffs = append(diffs, "table "+name+" is missing in PostgreSQL")
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", ErrSchemaMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

func sourceColumns(ctx context.Context, src *source, table string) (map[string]bool, error) {
	rows, err := src.conn.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	names, err := readStrings(rows)
	rows.Close()
	cols := map[string]bool{}
	for _, c := range names {
		cols[c] = true
	}
	return cols, err
}

// readStrings reads a one-column result.
func readStrings(r resultRows) ([]string, error) {
	var out []string
	for r.Next() {
		var v string
		if err := r.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, r.Err()
}

// prepareTarget refuses a target holding any row, or with force empties it.
func prepareTarget(ctx context.Context, tx pgx.Tx, tables []table, force bool) error {
	var names []string
	for _, t := range tables {
		names = append(names, pgx.Identifier{t.name}.Sanitize())
	}
	if force {
		if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
			return fmt.Errorf("copy-data: empty the target: %w", err)
		}
		return nil
	}
	var used []string
	for i, t := range tables {
		var any bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+names[i]+")").Scan(&any); err != nil {
			return fmt.Errorf("copy-data: target: %w", err)
		}
		if any {
			used = append(used, t.name)
		}
	}
	if len(used) > 0 {
		return fmt.Errorf("%w (rows in %s); copy into a new database, or pass --force to replace everything in it",
			ErrTargetNotEmpty, strings.Join(used, ", "))
	}
	return nil
}

// copyTable streams t from the source snapshot into the target, one COPY
// per batch of rows.
func copyTable(ctx context.Context, src *source, tx pgx.Tx, t table, batch int) (int64, error) {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = `"` + c + `"`
	}
	rows, err := src.conn.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+` FROM "`+t.name+`"`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	b := &batchSource{rows: rows, t: t, max: batch, vals: make([]any, len(t.columns)), ptrs: make([]any, len(t.columns))}
	for i := range b.vals {
		b.ptrs[i] = &b.vals[i]
	}
	var total int64
	for !b.eof {
		b.n = 0
		n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, b)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// batchSource hands one batch of source rows to pgx's CopyFrom.
type batchSource struct {
	rows *sql.Rows
	t    table
	max  int
	n    int
	eof  bool
	vals []any
	ptrs []any
	err  error
}

func (b *batchSource) Next() bool {
	if b.n >= b.max || b.eof {
		return false
	}
	if !b.rows.Next() {
		b.eof, b.err = true, b.rows.Err()
		return false
	}
	b.n++
	return true
}

func (b *batchSource) Values() ([]any, error) {
	if err := b.rows.Scan(b.ptrs...); err != nil {
		return nil, err
	}
	out := make([]any, len(b.vals))
	for i, v := range b.vals {
		switch x := v.(type) {
		case int64:
			if b.t.isBool[i] {
				v = x != 0
			}
		case []byte:
			v = string(x)
		}
		out[i] = v
	}
	return out, nil
}

func (b *batchSource) Err() error { return b.err }

// convSeqs is what verify compares per conversation.
type convSeqs struct{ lastSeq, maxSeq, count int64 }

const convSeqsQuery = `SELECT c.id, c.last_seq, COALESCE(MAX(m.seq), 0), COUNT(m.seq)
	FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id, c.last_seq`

// verify compares the target, inside the copy's transaction, with the
// source snapshot: each table's row count, and each conversation's
// last_seq, newest seq and message count.
func verify(ctx context.Context, src *source, tx pgx.Tx, copied []TableCount) (convs int, msgs int64, err error) {
	var diffs []string
	for _, c := range copied {
		var s, d int64
		if err := src.conn.QueryRowContext(ctx, `SELECT count(*) FROM "`+c.Table+`"`).Scan(&s); err != nil {
			return 0, 0, fmt.Errorf("copy-data: verify: %w", err)
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{c.Table}.Sanitize()).Scan(&d); err != nil {
			return 0, 0, fmt.Errorf("copy-data: verify: %w", err)
		}
		if s != d || d != c.Rows {
			diffs = append(diffs, fmt.Sprintf("%s: %d rows in SQLite, %d in PostgreSQL", c.Table, s, d))
		}
	}
	srows, err := src.conn.QueryContext(ctx, convSeqsQuery)
	if err != nil {
		return 0, 0, fmt.Errorf("copy-data: verify: %w", err)
	}
	want, err := readConvSeqs(srows)
	srows.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("copy-data: verify: %w", err)
	}
	prows, err := tx.Query(ctx, convSeqsQuery)
	if err != nil {
		return 0, 0, fmt.Errorf("copy-data: verify: %w", err)
	}
	got, err := readConvSeqs(prows)
	prows.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("copy-data: verify: %w", err)
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[id]; !ok || g != want[id] {
			diffs = append(diffs, fmt.Sprintf("conversation %s: last_seq/newest seq/messages %v in SQLite, %v in PostgreSQL", id, want[id], g))
		}
	}
	if len(got) != len(want) {
		diffs = append(diffs, fmt.Sprintf("%d conversations in SQLite, %d in PostgreSQL", len(want), len(got)))
	}
	if len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("and %d more", len(diffs)-10))
		}
		return 0, 0, fmt.Errorf("%w (nothing was committed): %s", ErrVerify, strings.Join(diffs, "; "))
	}
	for _, c := range want {
		msgs += c.count
	}
	return len(want), msgs, nil
}

// resultRows is what database/sql's and pgx's query results have in common.
type resultRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

func readConvSeqs(r resultRows) (map[string]convSeqs, error) {
	out := map[string]convSeqs{}
	for r.Next() {
		var id string
		var c convSeqs
		if err := r.Scan(&id, &c.lastSeq, &c.maxSeq, &c.count); err != nil {
			return nil, err
		}
		out[id] = c
	}
	return out, r.Err()
}
