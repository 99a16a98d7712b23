-- arcade's storage, migration step 6 (see src/schema.rs): tournaments (issue 13;
-- src/tournaments.rs). No foreign key to players: a tournament is history and outlives them.

-- One tournament. `seq` is the creation order (listings page by it); `id` the public id.
-- `settings` is the host's choices as a JSON object (match options, third place, Swiss rounds,
-- check-in window); `bracket` the whole bracket as a JSON object once it runs (what a restart
-- resumes from). Times are Unix milliseconds.
CREATE TABLE tournaments (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          INTEGER NOT NULL UNIQUE,
    host_id     INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    game        TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    cap         INTEGER NOT NULL,
    status      TEXT    NOT NULL, -- registration, checkin, running, finished, cancelled
    settings    TEXT    NOT NULL,
    starts_at   INTEGER,          -- NULL: the host starts it
    bracket     TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX tournaments_by_status ON tournaments (status, seq);

-- Who signed up, with the alias shown in the bracket, the check-in, the seed and the final
-- place once known.
CREATE TABLE tournament_entries (
    tournament_id INTEGER NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    player_id     INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    alias         TEXT,
    registered_at INTEGER NOT NULL,
    checked_in    INTEGER NOT NULL DEFAULT 0,
    withdrawn     INTEGER NOT NULL DEFAULT 0,
    seed          INTEGER,
    place         INTEGER,
    PRIMARY KEY (tournament_id, player_id)
) WITHOUT ROWID;
CREATE INDEX tournament_entries_by_player ON tournament_entries (player_id, tournament_id);

-- Every pairing of every round and its result.
CREATE TABLE tournament_pairings (
    tournament_id INTEGER NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    round         INTEGER NOT NULL,
    slot          INTEGER NOT NULL,
    third_place   INTEGER NOT NULL DEFAULT 0,
    home_id       INTEGER,
    away_id       INTEGER,
    outcome       TEXT,             -- played, forfeit, double_forfeit, bye; NULL: undecided
    home_score    INTEGER,
    away_score    INTEGER,
    match_id      INTEGER,          -- the live (or last) match playing it
    PRIMARY KEY (tournament_id, round, slot, third_place)
) WITHOUT ROWID;

-- Every match a tournament created (replays of a draw included): the link from a match's
-- history record to its tournament and round.
CREATE TABLE tournament_matches (
    match_id      INTEGER PRIMARY KEY,
    tournament_id INTEGER NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    round         INTEGER NOT NULL,
    slot          INTEGER NOT NULL
);
CREATE INDEX tournament_matches_by_tournament ON tournament_matches (tournament_id, round);
