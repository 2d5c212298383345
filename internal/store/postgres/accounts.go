package postgres

import (
	"context"

	"github.com/parley-chat/parley/internal/store"
)

func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)`,
		a.ID, a.Name, nanos(nowIfZero(a.CreatedAt)))
	return mapErr("create account", err)
}

func scanAccount(sc scanner) (store.Account, error) {
	var a store.Account
	var created int64
	if err := sc.Scan(&a.ID, &a.Name, &created); err != nil {
		return store.Account{}, err
	}
	a.CreatedAt = fromNanos(created)
	return a, nil
}

func (s *Store) GetAccount(ctx context.Context, id string) (store.Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM accounts WHERE id = $1`, id))
	return a, mapErr("get account", err)
}

func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM accounts ORDER BY created_at, id`)
	return collect(rows, err, scanAccount, "list accounts")
}

const apiKeyCols = `id, account_id, secret, created_at, revoked_at`

func scanAPIKey(sc scanner) (store.APIKey, error) {
	var k store.APIKey
	var created int64
	var revoked *int64
	if err := sc.Scan(&k.ID, &k.AccountID, &k.Secret, &created, &revoked); err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt = fromNanos(created)
	k.RevokedAt = fromNull(revoked)
	return k, nil
}

func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.AccountID, k.Secret, nanos(nowIfZero(k.CreatedAt)), nullNanos(k.RevokedAt))
	return mapErr("create api key", err)
}

func (s *Store) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`, id))
	return k, mapErr("get api key", err)
}

func (s *Store) ListAPIKeys(ctx context.Context, accountID string) ([]store.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE account_id = $1 ORDER BY created_at, id`, accountID)
	return collect(rows, err, scanAPIKey, "list api keys")
}

func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	return v, mapErr("get setting "+key, err)
}

func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr("put setting", err)
}

const attachmentCols = `id, account_id, conversation_id, uploader_id, kind, content_type, size, sha256, name, created_at`

func (s *Store) CreateAttachment(ctx context.Context, a store.Attachment) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO attachments (`+attachmentCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		a.ID, a.AccountID, a.ConversationID, a.UploaderID, a.Kind, a.ContentType, a.Size, a.SHA256, a.Name,
		nanos(nowIfZero(a.CreatedAt)))
	return mapErr("create attachment", err)
}

func (s *Store) GetAttachment(ctx context.Context, accountID, id string) (store.Attachment, error) {
	var a store.Attachment
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE account_id = $1 AND id = $2`, accountID, id).
		Scan(&a.ID, &a.AccountID, &a.ConversationID, &a.UploaderID, &a.Kind, &a.ContentType, &a.Size, &a.SHA256, &a.Name, &created)
	if err != nil {
		return store.Attachment{}, mapErr("get attachment", err)
	}
	a.CreatedAt = fromNanos(created)
	return a, nil
}
