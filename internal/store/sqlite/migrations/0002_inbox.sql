-- Parley schema, version 2: the website inbox (its address and widget
-- settings), what the console knows of each visitor, and password logins
-- for the console.

-- +goose Up
-- One inbox per account. address is the 8-character public address
-- (/chat/ADDRESS, data-address=ADDRESS); regenerating it replaces the row's
-- address, so the old one stops resolving at once.
CREATE TABLE inboxes (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    address    TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL DEFAULT '',
    welcome    TEXT NOT NULL DEFAULT '',
    color      TEXT NOT NULL DEFAULT '',
    position   TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Where a visitor is and what they use, as their widget last reported it.
CREATE TABLE visitors (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    page_url   TEXT NOT NULL DEFAULT '',
    page_title TEXT NOT NULL DEFAULT '',
    referrer   TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    timezone   TEXT NOT NULL DEFAULT '',
    locale     TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    identified INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
) WITHOUT ROWID;

-- Console sign-in: a login (an e-mail or a user name, lower-cased, unique
-- across the server) and a password hash for one owner or agent.
CREATE TABLE logins (
    login         TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) WITHOUT ROWID;
