-- Parley's PostgreSQL schema, version 1: the same tables as SQLite's
-- migrations 0001-0003. Times are UTC unix nanoseconds (BIGINT), as in
-- SQLite, so `copy-data` moves rows as they are; optional times are NULL,
-- optional strings ''. Identifiers use COLLATE "C" so every ORDER BY sorts
-- bytewise, as SQLite does, whatever the database's locale.

-- +goose Up
CREATE TABLE accounts (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_account ON api_keys(account_id, created_at);

CREATE TABLE settings (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT '',
    last_seen    BIGINT,
    created_at   BIGINT NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX users_by_role ON users(account_id, role);

-- last_seq is the seq of the newest message. Appends lock the row
-- (FOR NO KEY UPDATE, in id order) for the length of their batch, which is
-- what keeps seqs gapless and unique when several nodes append at once.
-- fillfactor leaves room for HOT updates of last_seq/updated_at.
CREATE TABLE conversations (
    id         TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    key        TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_seq   BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
) WITH (fillfactor = 70);
CREATE UNIQUE INDEX conversations_key ON conversations(account_id, key) WHERE key <> '';
CREATE INDEX conversations_by_kind ON conversations(account_id, kind);

CREATE TABLE members (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_by_user ON members(user_id, conversation_id);

-- Read positions, also for users who are not members (agents reading inboxes).
CREATE TABLE reads (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_seq        BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE TABLE messages (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    id              TEXT COLLATE "C" NOT NULL,
    sender_id       TEXT COLLATE "C" NOT NULL,
    client_id       TEXT COLLATE "C" NOT NULL DEFAULT '',
    type            TEXT NOT NULL DEFAULT '',
    text            TEXT NOT NULL DEFAULT '',
    reply_to        TEXT NOT NULL DEFAULT '',
    attachment_id   TEXT NOT NULL DEFAULT '',
    duration_ms     BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    edited_at       BIGINT,
    deleted_at      BIGINT,
    -- changed_at is the time of the last edit or deletion (NULL for an
    -- untouched message), so the partial index below costs new messages nothing.
    changed_at      BIGINT,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_id ON messages(id);
-- Idempotent resends: one message per (conversation, sender, client id).
CREATE UNIQUE INDEX messages_client_id ON messages(conversation_id, sender_id, client_id) WHERE client_id <> '';
CREATE INDEX messages_changed ON messages(conversation_id, changed_at) WHERE changed_at IS NOT NULL;

CREATE TABLE attachments (
    id              TEXT COLLATE "C" PRIMARY KEY,
    account_id      TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL DEFAULT '',
    uploader_id     TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    content_type    TEXT NOT NULL DEFAULT '',
    size            BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX attachments_by_sha256 ON attachments(sha256);

-- One inbox per account; regenerating the address replaces it in the row.
CREATE TABLE inboxes (
    account_id TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    address    TEXT COLLATE "C" NOT NULL UNIQUE,
    name       TEXT NOT NULL DEFAULT '',
    welcome    TEXT NOT NULL DEFAULT '',
    color      TEXT NOT NULL DEFAULT '',
    position   TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE visitors (
    user_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    page_url   TEXT NOT NULL DEFAULT '',
    page_title TEXT NOT NULL DEFAULT '',
    referrer   TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    timezone   TEXT NOT NULL DEFAULT '',
    locale     TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    identified BOOLEAN NOT NULL DEFAULT false,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);

CREATE TABLE logins (
    login         TEXT COLLATE "C" PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE push_subscriptions (
    endpoint   TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_by_account ON push_subscriptions(account_id, user_id);
