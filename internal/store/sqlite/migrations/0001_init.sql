-- Parley schema, version 1. Times are UTC unix nanoseconds (INTEGER);
-- optional times are NULL. Optional strings are '' rather than NULL.

-- +goose Up
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_by_account ON api_keys(account_id, created_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT '',
    last_seen    INTEGER,
    created_at   INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX users_by_role ON users(account_id, role);

-- WITHOUT ROWID: one b-tree, so the per-batch last_seq update and the
-- foreign-key check of every appended message are one seek each.
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    key        TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX conversations_key ON conversations(account_id, key) WHERE key <> '';
-- Not on updated_at: it changes with every message, and no query reads
-- conversations in updated_at order through an index.
CREATE INDEX conversations_by_kind ON conversations(account_id, kind);

CREATE TABLE members (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id, conversation_id);

-- Read positions, also for users who are not members (agents reading inboxes).
CREATE TABLE reads (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_seq        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;

-- Clustered by (conversation_id, seq): an append writes to the tail of its
-- conversation's range, and history pages are read in order. Besides the
-- table there are only two b-trees per message: the id index and the
-- client-id index (only for messages that have a client id).
CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL DEFAULT '',
    text            TEXT NOT NULL DEFAULT '',
    reply_to        TEXT NOT NULL DEFAULT '',
    attachment_id   TEXT NOT NULL DEFAULT '',
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    deleted_at      INTEGER,
    -- changed_at is the time of the last edit or deletion (NULL for an
    -- untouched message), so the partial index below costs new messages nothing.
    changed_at      INTEGER,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_id ON messages(id);
-- Idempotent resends: one message per (conversation, sender, client id).
CREATE UNIQUE INDEX messages_client_id ON messages(conversation_id, sender_id, client_id) WHERE client_id <> '';
CREATE INDEX messages_changed ON messages(conversation_id, changed_at) WHERE changed_at IS NOT NULL;

CREATE TABLE attachments (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL DEFAULT '',
    uploader_id     TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    content_type    TEXT NOT NULL DEFAULT '',
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);
CREATE INDEX attachments_by_sha256 ON attachments(sha256);
