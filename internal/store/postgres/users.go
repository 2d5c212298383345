package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/internal/store"
)

const userCols = `id, account_id, name, display_name, role, status, last_seen, created_at`

func scanUser(sc scanner) (store.User, error) {
	var u store.User
	var created int64
	var seen *int64
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n := u
		n.CreatedAt = nowIfZero(u.CreatedAt)
		if n.LastSeen != nil {
			t := n.LastSeen.UTC()
			n.LastSeen = &t
		}
		// ON CONFLICT on the name only: a taken id is still a conflict.
		tag, err := tx.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (account_id, name) DO NOTHING`,
			n.ID, n.AccountID, n.Name, n.DisplayName, n.Role, n.Status, nullNanos(n.LastSeen), nanos(n.CreatedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			out = n
			return nil
		}
		ex, err := scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE account_id = $1 AND name = $2 FOR UPDATE`,
			u.AccountID, u.Name))
		if err != nil {
			return err
		}
		if !upToDate(ex, u) {
			if u.Role != "" {
				ex.Role = u.Role
			}
			if u.DisplayName != "" {
				ex.DisplayName = u.DisplayName
			}
			if _, err := tx.Exec(ctx, `UPDATE users SET role = $1, display_name = $2 WHERE id = $3`,
				ex.Role, ex.DisplayName, ex.ID); err != nil {
				return err
			}
		}
		out = ex
		return nil
	})
	if err != nil {
		return store.User{}, mapErr("upsert user", err)
	}
	return out, nil
}

func (s *Store) GetUser(ctx context.Context, accountID, id string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE account_id = $1 AND id = $2`, accountID, id))
	return u, mapErr("get user", err)
}

func (s *Store) GetUserByName(ctx context.Context, accountID, name string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE account_id = $1 AND name = $2`, accountID, name))
	return u, mapErr("get user by name", err)
}

func (s *Store) ListUsersByRole(ctx context.Context, accountID string, roles ...string) ([]store.User, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE account_id = $1 AND role = ANY($2::text[]) ORDER BY name`,
		accountID, roles)
	return collect(rows, err, scanUser, "list users by role")
}

func (s *Store) SetUserStatus(ctx context.Context, accountID, id, status string) error {
	return s.execOne(ctx, "set user status", `UPDATE users SET status = $1 WHERE account_id = $2 AND id = $3`, status, accountID, id)
}

func (s *Store) SetLastSeen(ctx context.Context, accountID, id string, t time.Time) error {
	var lastSeen *int64 // a zero time clears it
	if !t.IsZero() {
		n := nanos(t)
		lastSeen = &n
	}
	return s.execOne(ctx, "set last seen", `UPDATE users SET last_seen = $1 WHERE account_id = $2 AND id = $3`, lastSeen, accountID, id)
}

var errNoRows = pgx.ErrNoRows

// isNoRows reports whether err is "no row".
func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
