-- arcade's storage, migration step 8 (issue 14, moderation; src/moderation.rs): roles, mutes,
-- bans, reports, the audit log, and chat messages with ids and a soft delete.
-- Steps 6 and 7 are other branches' (tournaments, accounts); this file only adds.

-- A player's role when it is not `player` (no row: a player).
CREATE TABLE roles (
    player_id  INTEGER PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('moderator', 'admin')),
    granted_at INTEGER NOT NULL -- Unix milliseconds
);

-- A player's mute: chat is refused until `until_ms`. One row per player (a new mute replaces
-- the old one); a row whose time has passed is no mute.
CREATE TABLE mutes (
    player_id  INTEGER PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    until_ms   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    by_id      INTEGER NOT NULL, -- the moderator (no foreign key: the row outlives them)
    created_at INTEGER NOT NULL
);

-- A player's ban: no login, no connection until `until_ms` (NULL: for good).
CREATE TABLE bans (
    player_id  INTEGER PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    until_ms   INTEGER,
    reason     TEXT    NOT NULL,
    by_id      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- A player's report of a player, or of one of their chat messages. Open while `resolved_at`
-- is NULL.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter_id INTEGER NOT NULL,
    player_id   INTEGER NOT NULL, -- the reported player (the message's sender for a message)
    message_id  INTEGER,          -- chat_messages.msg_id, or NULL for a player
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    resolved_by INTEGER,
    resolution  TEXT
);
CREATE INDEX reports_open ON reports (resolved_at, id);

-- Every moderator and admin action, newest last. `target` is the id acted on (`p_…`, `c_…`,
-- `m_…`, `r_…`) or NULL; `detail` is for humans.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_id   INTEGER NOT NULL,
    actor_name TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT,
    detail     TEXT    NOT NULL
);
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_by_action ON audit_log (action, seq);

-- Chat messages carry an id from now on (`c_` and 16 hex digits on the wire); older messages
-- get their insert order as theirs. A deleted message keeps its row (for reports and the
-- audit) and leaves history.
ALTER TABLE chat_messages ADD COLUMN msg_id INTEGER;
ALTER TABLE chat_messages ADD COLUMN deleted_at INTEGER;
UPDATE chat_messages SET msg_id = seq;
CREATE UNIQUE INDEX chat_messages_by_id ON chat_messages (msg_id);
