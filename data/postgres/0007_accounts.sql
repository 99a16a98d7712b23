-- arcade's PostgreSQL storage, migration step 7 (the twin of SQLite's step 7, see
-- src/pg/schema.rs and src/accounts.rs): what a session shows of itself, avatars, two-factor
-- secrets and recovery codes, and the sessions of deleted guests.

-- What "your sessions" shows: the client that opened it, from where, and when it was last used.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN address TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;

-- A player's avatar: the 128×128 PNG the server encoded (never an uploaded byte) and its ETag.
CREATE TABLE avatars (
    player_id  BIGINT PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    png        BYTEA  NOT NULL,
    etag       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A player's TOTP secret (RFC 6238): pending until a first code confirms it (`enabled_at`).
-- `last_step` is the last time step a code was accepted for, so no code works twice.
CREATE TABLE totp_secrets (
    player_id  BIGINT PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    secret     BYTEA  NOT NULL,
    enabled_at BIGINT,
    last_step  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- One-time recovery codes, as SHA-256 hex of the code: a row is deleted when it is used.
CREATE TABLE recovery_codes (
    player_id BIGINT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    code_hash TEXT   NOT NULL,
    PRIMARY KEY (player_id, code_hash)
);

-- Sessions of deleted accounts whose token would otherwise stand on its own (a guest's): only
-- the random session id, so the token stays refused and nothing names the account.
CREATE TABLE ended_sessions (
    id       BIGINT PRIMARY KEY,
    ended_at BIGINT NOT NULL
);
