package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
)

// gooseVersions lists goose's applied versions, ascending.
func gooseVersions(t *testing.T, path string) []int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	for range 2 {
		if err := Migrate(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
	if got := gooseVersions(t, path); len(got) != 4 || got[3] != 3 {
		t.Fatalf("goose versions %v, want [0 1 2 3]", got)
	}
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, _ := newFixture(t, s, 1)
	if m, _, err := s.AppendMessage(ctx, newMsg(f.convID, f.userID, 1), nil); err != nil || m.Seq != 1 {
		t.Fatalf("append: %d %v", m.Seq, err)
	}
}

// legacyDB builds a database the way Parley's runner did before goose: the
// first upTo migration files executed as they are, each recorded in
// schema_migrations by name, with some data in it.
func legacyDB(t *testing.T, upTo int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_foreign_keys=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`)
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil || len(names) < upTo {
		t.Fatal(names, err)
	}
	for _, name := range names[:upTo] {
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body)) // goose's annotations are SQL comments
		exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			strings.TrimSuffix(filepath.Base(name), ".sql"), time.Now().UnixNano())
	}
	now := time.Now().UnixNano()
	exec(`INSERT INTO accounts (id, name, created_at) VALUES ('acc_1', 'old', ?)`, now)
	exec(`INSERT INTO users (id, account_id, name, role, created_at) VALUES ('usr_1', 'acc_1', 'ann', 'member', ?)`, now)
	exec(`INSERT INTO conversations (id, account_id, kind, created_at, last_seq, updated_at) VALUES ('cnv_1', 'acc_1', 'group', ?, 2, ?)`, now, now)
	exec(`INSERT INTO members (conversation_id, user_id) VALUES ('cnv_1', 'usr_1')`)
	for seq, id := range []string{"msg_1", "msg_2"} {
		exec(`INSERT INTO messages (conversation_id, seq, id, sender_id, client_id, type, text, created_at)
			VALUES ('cnv_1', ?, ?, 'usr_1', ?, 'text', 'before goose', ?)`, seq+1, id, id, now)
	}
	return path
}

// TestAdoptsLegacyDatabase: a database migrated by the old runner keeps its
// data, goose records the versions it had, runs only the missing ones, and
// the old table is gone.
func TestAdoptsLegacyDatabase(t *testing.T) {
	ctx := context.Background()
	for _, upTo := range []int{2, 3} {
		path := legacyDB(t, upTo)
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("open a database migrated up to %d by the old runner: %v", upTo, err)
		}
		msgs, err := s.ListMessages(ctx, "cnv_1", 0, 0, 10)
		if err != nil || len(msgs) != 2 || msgs[1].Seq != 2 || msgs[1].Text != "before goose" {
			t.Fatalf("messages after adoption: %+v, %v", msgs, err)
		}
		m, created, err := s.AppendMessage(ctx, store.Message{ID: "msg_3", ConversationID: "cnv_1", SenderID: "usr_1",
			ClientID: "msg_2", Type: "text", Text: "resend", CreatedAt: time.Now()}, nil)
		if err != nil || created || m.ID != "msg_2" {
			t.Fatalf("idempotent resend after adoption: %+v created=%v %v", m, created, err)
		}
		// 0003 (push subscriptions) ran if it was missing.
		if err := s.PutPushSubscription(ctx, store.PushSubscription{Endpoint: "https://push.example/1",
			AccountID: "acc_1", UserID: "usr_1", P256dh: "k", Auth: "a", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		var legacy int
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'`).Scan(&legacy); err != nil || legacy != 0 {
			t.Fatalf("schema_migrations still there (%d, %v)", legacy, err)
		}
		s.Close()
		if got := gooseVersions(t, path); len(got) != 4 || got[1] != 1 || got[3] != 3 {
			t.Fatalf("goose versions %v, want [0 1 2 3]", got)
		}
		if err := Migrate(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRefusesNewerSchema: a node must not run on a schema migrated by a
// newer Parley; Open and Migrate say so plainly and change nothing.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	if err := Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path, Options{}); !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version 9999") {
		t.Fatalf("Open on a newer schema: %v, want ErrSchemaTooNew naming version 9999", err)
	}
	if err := Migrate(ctx, path); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Migrate on a newer schema: %v", err)
	}
	if got := gooseVersions(t, path); got[len(got)-1] != 9999 || len(got) != 5 {
		t.Fatalf("versions changed: %v", got)
	}
}

// TestConcurrentFirstMigrate: processes starting together on a new file
// (a server and `parley account create`, say) all end up migrated; none
// fails because another applied a migration first.
func TestConcurrentFirstMigrate(t *testing.T) {
	for round := range 2 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("parley%d.db", round))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = Migrate(context.Background(), path) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, migrator %d: %v", round, i, err)
			}
		}
		if got := gooseVersions(t, path); len(got) != 4 {
			t.Fatalf("goose versions %v, want [0 1 2 3]", got)
		}
	}
}
