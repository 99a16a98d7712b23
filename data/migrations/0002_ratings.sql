-- arcade's storage, schema version 2 (migration step 2, see src/schema.rs): per-game player
-- statistics and Glicko-2 ratings, kept up to date by the writer in the same transaction as
-- each match record (src/ratings.rs).

-- One row per player and game ('pong', 'breakout') the player has a finished match of.
-- `player_id` has no foreign key, like match_players: it follows the records.
CREATE TABLE player_stats (
    player_id  INTEGER NOT NULL,
    game       TEXT    NOT NULL,
    name       TEXT    NOT NULL, -- the player's name in their last match of the game
    played     INTEGER NOT NULL DEFAULT 0, -- finished matches, aborted ones excepted
    wins       INTEGER NOT NULL DEFAULT 0,
    losses     INTEGER NOT NULL DEFAULT 0,
    draws      INTEGER NOT NULL DEFAULT 0,
    -- Glicko-2 on the Glicko scale; NULL until the player's first rated match
    rating     REAL,
    rd         REAL,
    volatility REAL,
    rated      INTEGER NOT NULL DEFAULT 0, -- rated matches played
    best       INTEGER, -- best breakout solo score; NULL when none
    PRIMARY KEY (player_id, game)
) WITHOUT ROWID;

-- The leaderboards walk these backwards from the top: by rating (pong), by best score
-- (breakout); ties go to the smaller player id.
CREATE INDEX player_stats_by_rating ON player_stats (game, rating DESC, player_id)
    WHERE rating IS NOT NULL;
CREATE INDEX player_stats_by_best ON player_stats (game, best DESC, player_id)
    WHERE best IS NOT NULL;
