-- arcade's storage on PostgreSQL, schema version 2: per-game statistics and Glicko-2 ratings
-- (../migrations/0002_ratings.sql on SQLite; src/ratings.rs).

CREATE TABLE player_stats (
    player_id  BIGINT NOT NULL,
    game       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    played     BIGINT NOT NULL DEFAULT 0,
    wins       BIGINT NOT NULL DEFAULT 0,
    losses     BIGINT NOT NULL DEFAULT 0,
    draws      BIGINT NOT NULL DEFAULT 0,
    rating     DOUBLE PRECISION,
    rd         DOUBLE PRECISION,
    volatility DOUBLE PRECISION,
    rated      BIGINT NOT NULL DEFAULT 0,
    best       BIGINT,
    PRIMARY KEY (player_id, game)
);
CREATE INDEX player_stats_by_rating ON player_stats (game, rating DESC, player_id)
    WHERE rating IS NOT NULL;
CREATE INDEX player_stats_by_best ON player_stats (game, best DESC, player_id)
    WHERE best IS NOT NULL;
