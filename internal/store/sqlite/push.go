package sqlite

import (
	"context"

	"github.com/parley-chat/parley/internal/store"
)

const pushCols = `endpoint, account_id, user_id, p256dh, auth, created_at`

func (s *Store) PutPushSubscription(ctx context.Context, p store.PushSubscription) error {
	return s.exec(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.c.ExecContext(ctx, `INSERT INTO push_subscriptions (`+pushCols+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (endpoint) DO UPDATE SET account_id = excluded.account_id, user_id = excluded.user_id,
				p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at`,
			p.Endpoint, p.AccountID, p.UserID, p.P256dh, p.Auth, nanos(nowIfZero(p.CreatedAt)))
		return mapErr("put push subscription", err)
	})
}

func (s *Store) DeletePushSubscription(ctx context.Context, endpoint, userID string) error {
	if userID == "" {
		return s.updateOne(ctx, "delete push subscription", `DELETE FROM push_subscriptions WHERE endpoint = ?`, endpoint)
	}
	return s.updateOne(ctx, "delete push subscription", `DELETE FROM push_subscriptions WHERE endpoint = ? AND user_id = ?`, endpoint, userID)
}

func (s *Store) ListPushSubscriptions(ctx context.Context, accountID string) ([]store.PushSubscription, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+pushCols+` FROM push_subscriptions WHERE account_id = ? ORDER BY user_id, endpoint`, accountID)
	if err != nil {
		return nil, mapErr("list push subscriptions", err)
	}
	return collect(rows, func(sc scanner) (store.PushSubscription, error) {
		var p store.PushSubscription
		var created int64
		if err := sc.Scan(&p.Endpoint, &p.AccountID, &p.UserID, &p.P256dh, &p.Auth, &created); err != nil {
			return p, err
		}
		p.CreatedAt = fromNanos(created)
		return p, nil
	}, "list push subscriptions")
}
