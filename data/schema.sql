-- arcade's storage, schema version 1 (applied by migration step 1, see src/schema.rs).
-- Times are Unix milliseconds (INTEGER). Ids are random positive integers below 2^53 that the
-- server draws; on the wire they are `p_…` / `m_…` strings.

-- Everyone who ever played: guests and registered players.
CREATE TABLE players (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- lowercase name of a registered player (unique); NULL for guests, whose names may repeat
    name_key      TEXT    UNIQUE,
    guest         INTEGER NOT NULL CHECK (guest IN (0, 1)),
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    CHECK (guest = 1 OR (name_key IS NOT NULL AND password_hash IS NOT NULL))
);

-- One row per issued token, so that a token can be revoked (logout) before it expires.
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    player_id  INTEGER NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_by_player ON sessions (player_id);

-- Finished matches. `seq` is the insert order: lists are newest first by it and page by it.
CREATE TABLE matches (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         INTEGER NOT NULL UNIQUE,
    game       TEXT    NOT NULL,
    mode       TEXT    NOT NULL,
    options    TEXT    NOT NULL, -- the MatchOptions as a JSON object
    seed       INTEGER NOT NULL, -- the u64 seed, its bits kept as a signed integer
    started_at INTEGER NOT NULL,
    ended_at   INTEGER NOT NULL,
    ticks      INTEGER NOT NULL,
    tick_rate  INTEGER NOT NULL,
    reason     TEXT    NOT NULL
);
CREATE INDEX matches_by_game ON matches (game, seq);

-- The seats of a finished match, in the record's order (`position`). `player_id` has no
-- foreign key: a record is history and is kept whatever happens to the players table.
CREATE TABLE match_players (
    match_seq INTEGER NOT NULL REFERENCES matches (seq) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    player_id INTEGER NOT NULL,
    name      TEXT    NOT NULL, -- the name at the time of the match
    seat      TEXT    NOT NULL,
    score     INTEGER NOT NULL,
    result    TEXT    NOT NULL,
    PRIMARY KEY (match_seq, position)
) WITHOUT ROWID;
CREATE INDEX match_players_by_player ON match_players (player_id, match_seq);

-- Named counters (`visits`).
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
