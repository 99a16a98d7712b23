-- arcade's storage on PostgreSQL, schema version 4: replays (issue 16;
-- ../migrations/0004_replays.sql on SQLite): the replay of a finished match, written by the
-- writer in the same transaction as its record.

-- One row per finished match recorded with a replay. The log's byte format is PROTOCOL.md
-- "Replays".
CREATE TABLE replays (
    match_seq     BIGINT PRIMARY KEY REFERENCES matches (seq) ON DELETE CASCADE,
    game_version  BIGINT NOT NULL, -- the rules' version it was recorded under
    grace_ticks   BIGINT NOT NULL, -- the server's reconnect grace, in ticks
    final_hash    BIGINT NOT NULL, -- the u64 state hash at the end, its bits kept as a signed integer
    players       TEXT   NOT NULL, -- JSON [{"id": "p_…", "name": …}] in order of first join
    log           BYTEA  NOT NULL
);
