package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/store"
)

const userCols = `id, account_id, name, display_name, role, status, last_seen, created_at`

func scanUser(sc scanner) (store.User, error) {
	var u store.User
	var created int64
	var seen sql.NullInt64
	if err := sc.Scan(&u.ID, &u.AccountID, &u.Name, &u.DisplayName, &u.Role, &u.Status, &seen, &created); err != nil {
		return store.User{}, err
	}
	u.LastSeen = fromNull(seen)
	u.CreatedAt = fromNanos(created)
	return u, nil
}

// upToDate reports whether ex already has what UpsertUser(u) would set.
func upToDate(ex, u store.User) bool {
	return (u.Role == "" || u.Role == ex.Role) && (u.DisplayName == "" || u.DisplayName == ex.DisplayName)
}

func (s *Store) UpsertUser(ctx context.Context, u store.User) (store.User, error) {
	// Fast path: most upserts (every token use) change nothing.
	if ex, err := s.GetUserByName(ctx, u.AccountID, u.Name); err == nil && upToDate(ex, u) {
		return ex, nil
	}
	var out store.User
	err := s.exec(ctx, func(ctx context.Context, w *wtx) error {
		ex, err := scanUser(w.c.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE account_id = ? AND name = ?`, u.AccountID, u.Name))
		if errors.Is(err, sql.ErrNoRows) {
			n := u
			n.CreatedAt = nowIfZero(u.CreatedAt)
			if n.LastSeen != nil {
				t := n.LastSeen.UTC()
				n.LastSeen = &t
			}
			_, err := w.c.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				n.ID, n.AccountID, n.Name, n.DisplayName, n.Role, n.Status, nullNanos(n.LastSeen), nanos(n.CreatedAt))
			if err != nil {
				return mapErr("upsert user", err)
			}
			out = n
			return nil
		}
		if err != nil {
			return mapErr("upsert user", err)
		}
		if !upToDate(ex, u) {
			if u.Role != "" {
				ex.Role = u.Role
			}
			if u.DisplayName != "" {
				ex.DisplayName = u.DisplayName
			}
			if _, err := w.c.ExecContext(ctx, `UPDATE users SET role = ?, display_name = ? WHERE id = ?`,
				ex.Role, ex.DisplayName, ex.ID); err != nil {
				return mapErr("upsert user", err)
			}
		}
		out = ex
		return nil
	})
	if err != nil {
		return store.User{}, err
	}
	return out, nil
}

func (s *Store) GetUser(ctx context.Context, accountID, id string) (store.User, error) {
	u, err := scanUser(s.rdb.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE account_id = ? AND id = ?`, accountID, id))
	return u, mapErr("get user", err)
}

func (s *Store) GetUserByName(ctx context.Context, accountID, name string) (store.User, error) {
	u, err := scanUser(s.rdb.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE account_id = ? AND name = ?`, accountID, name))
	return u, mapErr("get user by name", err)
}

func (s *Store) ListUsersByRole(ctx context.Context, accountID string, roles ...string) ([]store.User, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(roles)+1)
	args = append(args, accountID)
	for _, r := range roles {
		args = append(args, r)
	}
	q := `SELECT ` + userCols + ` FROM users WHERE account_id = ? AND role IN (?` + strings.Repeat(", ?", len(roles)-1) + `) ORDER BY name`
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr("list users by role", err)
	}
	return collect(rows, scanUser, "list users by role")
}

// updateOne runs a one-row UPDATE and reports ErrNotFound when no row matched.
func (s *Store) updateOne(ctx context.Context, what, q string, args ...any) error {
	return s.exec(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.c.ExecContext(ctx, q, args...)
		if err != nil {
			return mapErr(what, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(what, err)
		} else if n == 0 {
			return mapErr(what, sql.ErrNoRows)
		}
		return nil
	})
}

func (s *Store) SetUserStatus(ctx context.Context, accountID, id, status string) error {
	return s.updateOne(ctx, "set user status", `UPDATE users SET status = ? WHERE account_id = ? AND id = ?`, status, accountID, id)
}

func (s *Store) SetLastSeen(ctx context.Context, accountID, id string, t time.Time) error {
	var lastSeen any // a zero time clears it
	if !t.IsZero() {
		lastSeen = nanos(t)
	}
	return s.updateOne(ctx, "set last seen", `UPDATE users SET last_seen = ? WHERE account_id = ? AND id = ?`, lastSeen, accountID, id)
}
