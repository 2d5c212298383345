-- Parley schema, version 3: Web Push subscriptions of the console, so an
-- owner or agent hears of a visitor's message while the console is closed.

-- +goose Up
CREATE TABLE push_subscriptions (
    endpoint   TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX push_by_account ON push_subscriptions(account_id, user_id);
