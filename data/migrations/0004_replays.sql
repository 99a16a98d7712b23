-- arcade's storage, replays (issue 16; migration step appended in src/schema.rs): the replay
-- of a finished match, written by the writer in the same transaction as its record.

-- One row per finished match recorded with a replay (matches stored before replays existed
-- have none). The log's byte format is PROTOCOL.md "Replays".
CREATE TABLE replays (
    match_seq     INTEGER PRIMARY KEY REFERENCES matches (seq) ON DELETE CASCADE,
    game_version  INTEGER NOT NULL, -- the rules' version it was recorded under
    grace_ticks   INTEGER NOT NULL, -- the server's reconnect grace, in ticks
    final_hash    INTEGER NOT NULL, -- the u64 state hash at the end, its bits kept as a signed integer
    players       TEXT    NOT NULL, -- JSON [{"id": "p_…", "name": …}] in order of first join
    log           BLOB    NOT NULL
);
