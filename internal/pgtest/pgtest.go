// Package pgtest gives tests a PostgreSQL database of their own on the
// server the tests run against (PARLEY_TEST_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/test), so tests and CI runs sharing
// that server never share a database. A server that does not answer fails
// the test with how to start one; no test skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the maintenance database the tests create theirs from
// when PARLEY_TEST_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminURL is the database the tests create theirs from.
func AdminURL() string {
	if u := os.Getenv("PARLEY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Database creates a database of t's own (parley_test_<random>) and returns
// its URL. It is dropped, with whatever still uses it, when t ends: after
// the cleanups t registers later, such as the stores or servers using it.
func Database(t testing.TB) string {
	t.Helper()
	admin := AdminURL()
	name := "parley_test_" + strings.ToLower(rand.Text()[:12])
	if err := exec(admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("PostgreSQL at %s: %v\n"+
			"Start it (installing Debian's postgresql if missing) with scripts/deps-postgres.sh or `make deps`, "+
			"or point PARLEY_TEST_POSTGRES_URL at a server where this user may CREATE DATABASE.", admin, err)
	}
	t.Cleanup(func() {
		if err := exec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// exec runs one statement on its own connection to admin.
func exec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
