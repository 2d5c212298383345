package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/internal/store"
)

const inboxCols = `account_id, address, name, welcome, color, position, created_at, updated_at`

func scanInbox(sc scanner) (store.Inbox, error) {
	var in store.Inbox
	var created, updated int64
	if err := sc.Scan(&in.AccountID, &in.Address, &in.Name, &in.Welcome, &in.Color, &in.Position, &created, &updated); err != nil {
		return store.Inbox{}, err
	}
	in.CreatedAt, in.UpdatedAt = fromNanos(created), fromNanos(updated)
	return in, nil
}

func (s *Store) CreateInbox(ctx context.Context, in store.Inbox) error {
	created := nowIfZero(in.CreatedAt)
	updated := in.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO inboxes (`+inboxCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		in.AccountID, in.Address, in.Name, in.Welcome, in.Color, in.Position, nanos(created), nanos(updated))
	return mapErr("create inbox", err)
}

func (s *Store) GetInbox(ctx context.Context, accountID string) (store.Inbox, error) {
	in, err := scanInbox(s.pool.QueryRow(ctx, `SELECT `+inboxCols+` FROM inboxes WHERE account_id = $1`, accountID))
	return in, mapErr("get inbox", err)
}

func (s *Store) GetInboxByAddress(ctx context.Context, address string) (store.Inbox, error) {
	in, err := scanInbox(s.pool.QueryRow(ctx, `SELECT `+inboxCols+` FROM inboxes WHERE address = $1`, address))
	return in, mapErr("get inbox by address", err)
}

func (s *Store) UpdateInbox(ctx context.Context, in store.Inbox) error {
	return s.execOne(ctx, "update inbox", `UPDATE inboxes SET name = $1, welcome = $2, color = $3, position = $4, updated_at = $5
		WHERE account_id = $6`,
		in.Name, in.Welcome, in.Color, in.Position, nanos(nowIfZero(in.UpdatedAt)), in.AccountID)
}

// ReplaceInboxAddress is a compare-and-set on the address column: of two
// racing regenerations (on any nodes) the second finds the address changed.
func (s *Store) ReplaceInboxAddress(ctx context.Context, accountID, old, address string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE inboxes SET address = $1, updated_at = $2 WHERE account_id = $3 AND address = $4`,
		address, nanos(nowIfZero(at)), accountID, old)
	if err != nil {
		return mapErr("replace inbox address", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Tell "no inbox" from "the address changed meanwhile".
	var cur string
	if err := s.pool.QueryRow(ctx, `SELECT address FROM inboxes WHERE account_id = $1`, accountID).Scan(&cur); err != nil {
		return mapErr("replace inbox address", err)
	}
	return mapErr("replace inbox address", store.ErrConflict)
}

const visitorCols = `user_id, account_id, page_url, page_title, referrer, user_agent, timezone, locale, ip, identified, first_seen, last_seen`

func (s *Store) PutVisitor(ctx context.Context, v store.Visitor) error {
	last := nowIfZero(v.LastSeen)
	first := v.FirstSeen
	if first.IsZero() {
		first = last
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO visitors (`+visitorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (user_id) DO UPDATE SET page_url = excluded.page_url, page_title = excluded.page_title,
			referrer = excluded.referrer, user_agent = excluded.user_agent, timezone = excluded.timezone,
			locale = excluded.locale, ip = excluded.ip, identified = excluded.identified, last_seen = excluded.last_seen
		WHERE visitors.account_id = excluded.account_id`,
		v.UserID, v.AccountID, v.PageURL, v.PageTitle, v.Referrer, v.UserAgent, v.Timezone, v.Locale, v.IP,
		v.Identified, nanos(first), nanos(last))
	return mapErr("put visitor", err)
}

func (s *Store) GetVisitor(ctx context.Context, accountID, userID string) (store.Visitor, error) {
	var v store.Visitor
	var first, last int64
	err := s.pool.QueryRow(ctx, `SELECT `+visitorCols+` FROM visitors WHERE account_id = $1 AND user_id = $2`, accountID, userID).
		Scan(&v.UserID, &v.AccountID, &v.PageURL, &v.PageTitle, &v.Referrer, &v.UserAgent, &v.Timezone, &v.Locale, &v.IP,
			&v.Identified, &first, &last)
	if err != nil {
		return store.Visitor{}, mapErr("get visitor", err)
	}
	v.FirstSeen, v.LastSeen = fromNanos(first), fromNanos(last)
	return v, nil
}

const loginCols = `login, user_id, account_id, password_hash, created_at, updated_at`

func scanLogin(sc scanner) (store.Login, error) {
	var l store.Login
	var created, updated int64
	if err := sc.Scan(&l.Login, &l.UserID, &l.AccountID, &l.PasswordHash, &created, &updated); err != nil {
		return store.Login{}, err
	}
	l.CreatedAt, l.UpdatedAt = fromNanos(created), fromNanos(updated)
	return l, nil
}

func (s *Store) PutLogin(ctx context.Context, l store.Login) error {
	updated := nowIfZero(l.UpdatedAt)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		created := updated
		var prev int64
		err := tx.QueryRow(ctx, `DELETE FROM logins WHERE user_id = $1 RETURNING created_at`, l.UserID).Scan(&prev)
		switch {
		case err == nil:
			created = fromNanos(prev)
		case !isNoRows(err):
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO logins (`+loginCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			l.Login, l.UserID, l.AccountID, l.PasswordHash, nanos(created), nanos(updated))
		return err
	})
	return mapErr("put login", err)
}

func (s *Store) GetLogin(ctx context.Context, login string) (store.Login, error) {
	l, err := scanLogin(s.pool.QueryRow(ctx, `SELECT `+loginCols+` FROM logins WHERE login = $1`, login))
	return l, mapErr("get login", err)
}

func (s *Store) GetLoginByUser(ctx context.Context, accountID, userID string) (store.Login, error) {
	l, err := scanLogin(s.pool.QueryRow(ctx, `SELECT `+loginCols+` FROM logins WHERE account_id = $1 AND user_id = $2`, accountID, userID))
	return l, mapErr("get login by user", err)
}
