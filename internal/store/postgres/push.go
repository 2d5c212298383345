package postgres

import (
	"context"

	"github.com/parley-chat/parley/internal/store"
)

const pushCols = `endpoint, account_id, user_id, p256dh, auth, created_at`

func (s *Store) PutPushSubscription(ctx context.Context, p store.PushSubscription) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO push_subscriptions (`+pushCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (endpoint) DO UPDATE SET account_id = excluded.account_id, user_id = excluded.user_id,
			p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at`,
		p.Endpoint, p.AccountID, p.UserID, p.P256dh, p.Auth, nanos(nowIfZero(p.CreatedAt)))
	return mapErr("put push subscription", err)
}

func (s *Store) DeletePushSubscription(ctx context.Context, endpoint, userID string) error {
	if userID == "" {
		return s.execOne(ctx, "delete push subscription", `DELETE FROM push_subscriptions WHERE endpoint = $1`, endpoint)
	}
	return s.execOne(ctx, "delete push subscription", `DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2`, endpoint, userID)
}

func (s *Store) ListPushSubscriptions(ctx context.Context, accountID string) ([]store.PushSubscription, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pushCols+` FROM push_subscriptions WHERE account_id = $1 ORDER BY user_id, endpoint`, accountID)
	return collect(rows, err, func(sc scanner) (store.PushSubscription, error) {
		var p store.PushSubscription
		var created int64
		if err := sc.Scan(&p.Endpoint, &p.AccountID, &p.UserID, &p.P256dh, &p.Auth, &created); err != nil {
			return p, err
		}
		p.CreatedAt = fromNanos(created)
		return p, nil
	}, "list push subscriptions")
}
