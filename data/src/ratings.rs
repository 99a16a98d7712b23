//! Per-game player statistics and Glicko-2 ratings.
//!
//! The writer calls [`apply_match`] in the same savepoint as it stores a match record, so a
//! record and the statistics it changes commit together or not at all. What counts:
//!
//! - `played`, `wins`, `losses`, `draws`: every finished match of the game the player had a
//!   seat in, whatever the mode; aborted matches (result `none`) do not count.
//! - the rating: Glicko-2 ([Glickman, "Example of the Glicko-2 system"][paper]), one rating
//!   period per match, from the rated modes only: pong `1v1` and `2v2`, breakout `versus`
//!   (`vs_bot` and `solo` are not rated). In `2v2` each player plays against the other team
//!   as one composite opponent (mean rating, root-mean-square RD).
//! - `best`: the best score of a breakout `solo` match.
//!
//! Also the reads over them: a player's statistics and the leaderboards.
//!
//! [paper]: http://www.glicko.net/glicko/glicko2.pdf

use arcade_systems::model::{
    EndReason, Game, MatchRecord, Mode, PlayerId, PlayerResult, RecordPlayer, Seat,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{DataError, sql};
use crate::sql::{u64_from_sql, u64_to_sql};

/// A new player's rating (Glicko scale).
pub const DEFAULT_RATING: f64 = 1500.0;
/// A new player's rating deviation; an RD never grows above it.
pub const DEFAULT_RD: f64 = 350.0;
/// A new player's volatility.
pub const DEFAULT_VOLATILITY: f64 = 0.06;
/// The system constant τ: how much the volatility may change (0.3..=1.2 in the paper).
const TAU: f64 = 0.5;
/// Converts between the Glicko scale and the Glicko-2 scale.
const GLICKO2_SCALE: f64 = 173.7178;
/// The convergence tolerance of the volatility iteration.
const CONVERGENCE: f64 = 1e-6;
/// The most rows one leaderboard page holds.
pub const MAX_LEADERBOARD_LIMIT: u32 = 100;
/// The leaderboard length when the caller gives none.
pub const DEFAULT_LEADERBOARD_LIMIT: u32 = 20;

/// One player's Glicko-2 rating on the Glicko scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    pub rating: f64,
    pub rd: f64,
    pub volatility: f64,
}

impl Default for Rating {
    fn default() -> Self {
        Rating {
            rating: DEFAULT_RATING,
            rd: DEFAULT_RD,
            volatility: DEFAULT_VOLATILITY,
        }
    }
}

/// The rating after one rating period in which the player met each `(opponent, score)`
/// (score 1 for a win, 0.5 for a draw, 0 for a loss). Steps 2 to 8 of the paper.
pub fn glicko2_update(player: Rating, results: &[(Rating, f64)]) -> Rating {
    let mu = (player.rating - DEFAULT_RATING) / GLICKO2_SCALE;
    let phi = player.rd / GLICKO2_SCALE;
    let sigma = player.volatility;
    if results.is_empty() {
        let phi_star = (phi * phi + sigma * sigma).sqrt();
        return Rating {
            rd: (phi_star * GLICKO2_SCALE).min(DEFAULT_RD),
            ..player
        };
    }
    let g = |phi_j: f64| 1.0 / (1.0 + 3.0 * phi_j * phi_j / (std::f64::consts::PI.powi(2))).sqrt();
    let mut v_inverse = 0.0;
    let mut improvement = 0.0;
    for (opponent, score) in results {
        let mu_j = (opponent.rating - DEFAULT_RATING) / GLICKO2_SCALE;
        let g_j = g(opponent.rd / GLICKO2_SCALE);
        let expected = 1.0 / (1.0 + (-g_j * (mu - mu_j)).exp());
        v_inverse += g_j * g_j * expected * (1.0 - expected);
        improvement += g_j * (score - expected);
    }
    let v = 1.0 / v_inverse;
    let delta = v * improvement;
    let sigma = new_volatility(phi, sigma, v, delta);
    let phi_star = (phi * phi + sigma * sigma).sqrt();
    let phi_new = 1.0 / (1.0 / (phi_star * phi_star) + 1.0 / v).sqrt();
    let mu_new = mu + phi_new * phi_new * improvement;
    Rating {
        rating: GLICKO2_SCALE * mu_new + DEFAULT_RATING,
        rd: (GLICKO2_SCALE * phi_new).min(DEFAULT_RD),
        volatility: sigma,
    }
}

/// Step 5 of the paper: the new volatility, by the Illinois algorithm.
fn new_volatility(phi: f64, sigma: f64, v: f64, delta: f64) -> f64 {
    let a = (sigma * sigma).ln();
    let f = |x: f64| {
        let ex = x.exp();
        let denominator = phi * phi + v + ex;
        ex * (delta * delta - phi * phi - v - ex) / (2.0 * denominator * denominator)
            - (x - a) / (TAU * TAU)
    };
    let mut big_a = a;
    let mut big_b = if delta * delta > phi * phi + v {
        (delta * delta - phi * phi - v).ln()
    } else {
        let mut k = 1.0;
        while f(a - k * TAU) < 0.0 {
            k += 1.0;
        }
        a - k * TAU
    };
    let (mut f_a, mut f_b) = (f(big_a), f(big_b));
    while (big_b - big_a).abs() > CONVERGENCE {
        let big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a);
        let f_c = f(big_c);
        if f_c * f_b <= 0.0 {
            big_a = big_b;
            f_a = f_b;
        } else {
            f_a /= 2.0;
        }
        big_b = big_c;
        f_b = f_c;
    }
    (big_a / 2.0).exp()
}

/// Whether a mode's matches change ratings.
pub fn is_rated(mode: Mode) -> bool {
    matches!(mode, Mode::OneVsOne | Mode::TwoVsTwo | Mode::Versus)
}

/// Which side a seat plays on: `false` for left / p1, `true` for right / p2.
fn side(seat: Seat) -> bool {
    matches!(
        seat,
        Seat::Right | Seat::RightBack | Seat::RightFront | Seat::P2
    )
}

fn score_of(result: PlayerResult) -> Option<f64> {
    match result {
        PlayerResult::Win => Some(1.0),
        PlayerResult::Draw => Some(0.5),
        PlayerResult::Loss => Some(0.0),
        PlayerResult::None => None,
    }
}

/// A team's composite rating: the mean rating and the root-mean-square RD of its members.
fn composite(members: &[Rating]) -> Rating {
    let n = members.len() as f64;
    Rating {
        rating: members.iter().map(|r| r.rating).sum::<f64>() / n,
        rd: (members.iter().map(|r| r.rd * r.rd).sum::<f64>() / n).sqrt(),
        volatility: members.iter().map(|r| r.volatility).sum::<f64>() / n,
    }
}

/// The seats of `record` that count in statistics: none for an aborted match, else those with
/// a result.
pub(crate) fn counted_seats(record: &MatchRecord) -> Vec<&RecordPlayer> {
    if record.reason == EndReason::Aborted {
        return Vec::new();
    }
    record
        .players
        .iter()
        .filter(|p| p.result != PlayerResult::None)
        .collect()
}

/// The new rating of each counted seat (`None`: unchanged), given their ratings `before` the
/// match (in the same order). Every new rating is computed from the ratings before the match.
pub(crate) fn new_ratings(counted: &[&RecordPlayer], before: &[Rating]) -> Vec<Option<Rating>> {
    let team = |right: bool| -> Vec<Rating> {
        counted
            .iter()
            .zip(before)
            .filter(|(p, _)| side(p.seat) == right)
            .map(|(_, r)| *r)
            .collect()
    };
    let (left, right) = (team(false), team(true));
    if left.is_empty() || right.is_empty() {
        return vec![None; counted.len()];
    }
    let (left, right) = (composite(&left), composite(&right));
    counted
        .iter()
        .zip(before)
        .map(|(player, rating)| {
            let score = score_of(player.result)?;
            let opponent = if side(player.seat) { left } else { right };
            Some(glicko2_update(*rating, &[(opponent, score)]))
        })
        .collect()
}

/// Updates the statistics (and, for a rated mode, the ratings) of every player of `record`.
/// Runs inside the writer's savepoint for the record.
pub(crate) fn apply_match(conn: &Connection, record: &MatchRecord) -> Result<(), DataError> {
    let game = record.game.as_str();
    let counted = counted_seats(record);
    {
        let mut upsert = conn
            .prepare_cached(
                "INSERT INTO player_stats (player_id, game, name, played, wins, losses, draws, \
                 best) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (player_id, game) DO UPDATE SET name = excluded.name, \
                 played = played + 1, wins = wins + excluded.wins, \
                 losses = losses + excluded.losses, draws = draws + excluded.draws, \
                 best = CASE WHEN excluded.best IS NULL THEN best WHEN best IS NULL \
                 THEN excluded.best ELSE max(best, excluded.best) END",
            )
            .map_err(sql)?;
        for player in &counted {
            let best = (record.mode == Mode::Solo).then_some(player.score);
            upsert
                .execute(params![
                    u64_to_sql(player.id.0),
                    game,
                    player.name,
                    player.result == PlayerResult::Win,
                    player.result == PlayerResult::Loss,
                    player.result == PlayerResult::Draw,
                    best,
                ])
                .map_err(sql)?;
        }
    }
    if !is_rated(record.mode) {
        return Ok(());
    }
    let mut before = Vec::with_capacity(counted.len());
    {
        let mut select = conn
            .prepare_cached(
                "SELECT rating, rd, volatility FROM player_stats \
                 WHERE player_id = ?1 AND game = ?2 AND rating IS NOT NULL",
            )
            .map_err(sql)?;
        for player in &counted {
            let rating = select
                .query_row(params![u64_to_sql(player.id.0), game], |row| {
                    Ok(Rating {
                        rating: row.get(0)?,
                        rd: row.get(1)?,
                        volatility: row.get(2)?,
                    })
                })
                .optional()
                .map_err(sql)?
                .unwrap_or_default();
            before.push(rating);
        }
    }
    let mut update = conn
        .prepare_cached(
            "UPDATE player_stats SET rating = ?1, rd = ?2, volatility = ?3, rated = rated + 1 \
             WHERE player_id = ?4 AND game = ?5",
        )
        .map_err(sql)?;
    for (player, new) in counted.iter().zip(new_ratings(&counted, &before)) {
        let Some(new) = new else { continue };
        update
            .execute(params![
                new.rating,
                new.rd,
                new.volatility,
                u64_to_sql(player.id.0),
                game
            ])
            .map_err(sql)?;
    }
    Ok(())
}

/// A player's record in one game: the `stats.<game>` object of `GET /api/players/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GameStats {
    pub played: u64,
    pub wins: u64,
    pub losses: u64,
    pub draws: u64,
    /// The Glicko-2 rating ([`DEFAULT_RATING`] before the first rated match).
    pub rating: f64,
    /// The rating deviation ([`DEFAULT_RD`] before the first rated match).
    pub rd: f64,
    /// Rated matches played.
    pub rated_matches: u64,
    /// The best breakout solo score; `None` when there is none.
    pub best: Option<u32>,
}

impl Default for GameStats {
    fn default() -> Self {
        GameStats {
            played: 0,
            wins: 0,
            losses: 0,
            draws: 0,
            rating: DEFAULT_RATING,
            rd: DEFAULT_RD,
            rated_matches: 0,
            best: None,
        }
    }
}

/// One row of a leaderboard.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderboardRow {
    pub player: PlayerId,
    /// The player's name (from the players table; else their name in their last match).
    pub name: String,
    /// Whether the player is a guest (`false` when the player row is gone).
    pub guest: bool,
    pub stats: GameStats,
}

pub(crate) const STATS_COLUMNS: &str =
    "s.played, s.wins, s.losses, s.draws, s.rating, s.rd, s.rated, s.best";

/// The columns of [`STATS_COLUMNS`] as stored, in that order.
pub(crate) type StatsColumns = (
    i64,
    i64,
    i64,
    i64,
    Option<f64>,
    Option<f64>,
    i64,
    Option<i64>,
);

/// A [`GameStats`] from its stored columns (NULL rating and RD read as the defaults).
pub(crate) fn stats_from(columns: StatsColumns) -> GameStats {
    let (played, wins, losses, draws, rating, rd, rated, best) = columns;
    let count = |n: i64| n.max(0) as u64;
    GameStats {
        played: count(played),
        wins: count(wins),
        losses: count(losses),
        draws: count(draws),
        rating: rating.unwrap_or(DEFAULT_RATING),
        rd: rd.unwrap_or(DEFAULT_RD),
        rated_matches: count(rated),
        best: best.map(|b| u32::try_from(b).unwrap_or(u32::MAX)),
    }
}

fn stats_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<GameStats> {
    Ok(stats_from((
        row.get(first)?,
        row.get(first + 1)?,
        row.get(first + 2)?,
        row.get(first + 3)?,
        row.get(first + 4)?,
        row.get(first + 5)?,
        row.get(first + 6)?,
        row.get(first + 7)?,
    )))
}

/// Every game's statistics of a player (a game the player never played gets the defaults).
pub(crate) fn player_stats(
    conn: &Connection,
    player: PlayerId,
) -> Result<Vec<(Game, GameStats)>, DataError> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT s.game, {STATS_COLUMNS} FROM player_stats s WHERE s.player_id = ?1"
        ))
        .map_err(sql)?;
    let rows: Vec<(String, GameStats)> = select
        .query_map([u64_to_sql(player.0)], |row| {
            Ok((row.get(0)?, stats_at(row, 1)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(sql)?;
    Ok(every_game(&rows))
}

/// Every game's statistics from the rows a player has (defaults for the games without one).
pub(crate) fn every_game(rows: &[(String, GameStats)]) -> Vec<(Game, GameStats)> {
    Game::ALL
        .iter()
        .map(|&game| {
            let stats = rows
                .iter()
                .find(|(name, _)| name == game.as_str())
                .map(|(_, stats)| stats.clone())
                .unwrap_or_default();
            (game, stats)
        })
        .collect()
}

/// The statement of a leaderboard: pong by rating, breakout by best solo score.
fn leaderboard_sql(game: Game) -> String {
    let order = match game {
        Game::Pong => "s.rating IS NOT NULL ORDER BY s.rating DESC, s.player_id",
        Game::Breakout => "s.best IS NOT NULL ORDER BY s.best DESC, s.player_id",
    };
    format!(
        "SELECT s.player_id, coalesce(p.name, s.name), coalesce(p.guest, 0), {STATS_COLUMNS} \
         FROM player_stats s LEFT JOIN players p ON p.id = s.player_id \
         WHERE s.game = ?1 AND {order} LIMIT ?2"
    )
}

/// The top `limit` (clamped to 1..=[`MAX_LEADERBOARD_LIMIT`]) players of `game`.
pub(crate) fn leaderboard(
    conn: &Connection,
    game: Game,
    limit: u32,
) -> Result<Vec<LeaderboardRow>, DataError> {
    let limit = limit.clamp(1, MAX_LEADERBOARD_LIMIT);
    let mut select = conn.prepare_cached(&leaderboard_sql(game)).map_err(sql)?;
    select
        .query_map(params![game.as_str(), limit], |row| {
            Ok(LeaderboardRow {
                player: PlayerId(u64_from_sql(row.get(0)?)),
                name: row.get(1)?,
                guest: row.get(2)?,
                stats: stats_at(row, 3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcade_systems::model::RecordPlayer;

    #[test]
    fn glicko2_matches_the_worked_example_of_the_paper() {
        let player = Rating {
            rating: 1500.0,
            rd: 200.0,
            volatility: 0.06,
        };
        let opponent = |rating, rd| Rating {
            rating,
            rd,
            volatility: 0.06,
        };
        let results = [
            (opponent(1400.0, 30.0), 1.0),
            (opponent(1550.0, 100.0), 0.0),
            (opponent(1700.0, 300.0), 0.0),
        ];
        let new = glicko2_update(player, &results);
        assert!((new.rating - 1464.06).abs() < 0.01, "{new:?}");
        assert!((new.rd - 151.52).abs() < 0.01, "{new:?}");
        assert!((new.volatility - 0.05999).abs() < 0.00001, "{new:?}");
    }

    #[test]
    fn equal_players_move_by_equal_amounts() {
        let fresh = Rating::default();
        let winner = glicko2_update(fresh, &[(fresh, 1.0)]);
        let loser = glicko2_update(fresh, &[(fresh, 0.0)]);
        assert!(winner.rating > DEFAULT_RATING && loser.rating < DEFAULT_RATING);
        assert!((winner.rating + loser.rating - 2.0 * DEFAULT_RATING).abs() < 1e-9);
        assert!(winner.rd < DEFAULT_RD);
        let draw = glicko2_update(fresh, &[(fresh, 0.5)]);
        assert!((draw.rating - DEFAULT_RATING).abs() < 1e-9);
    }

    #[test]
    fn no_games_only_widens_the_deviation() {
        let player = Rating {
            rating: 1600.0,
            rd: 50.0,
            volatility: 0.06,
        };
        let idle = glicko2_update(player, &[]);
        assert_eq!(idle.rating, 1600.0);
        assert!(idle.rd > 50.0);
    }

    fn seat(id: u64, seat: Seat, score: u32, result: PlayerResult) -> RecordPlayer {
        RecordPlayer {
            id: PlayerId(id),
            name: format!("p{id}"),
            seat,
            score,
            result,
        }
    }

    fn record(id: u64, game: Game, mode: Mode, players: Vec<RecordPlayer>) -> MatchRecord {
        MatchRecord {
            id: arcade_systems::model::MatchId(id),
            game,
            mode,
            options: Default::default(),
            seed: id,
            started_at_ms: 0,
            ticks: 10,
            tick_rate: 60,
            reason: EndReason::ScoreLimit,
            players,
            replay: None,
        }
    }

    fn stats(store: &crate::Store, id: u64, game: Game) -> GameStats {
        store
            .player_stats(PlayerId(id))
            .unwrap()
            .into_iter()
            .find(|(g, _)| *g == game)
            .unwrap()
            .1
    }

    #[test]
    fn records_move_stats_and_ratings_as_the_rules_say() {
        use PlayerResult::{Loss, Win};
        crate::store::each_store(|store| {
            let pong = |id, players| record(id, Game::Pong, Mode::OneVsOne, players);
            store.record_match(
                pong(
                    1,
                    vec![seat(1, Seat::Left, 11, Win), seat(2, Seat::Right, 3, Loss)],
                ),
                1,
            );
            let two = vec![
                seat(1, Seat::LeftBack, 11, Win),
                seat(3, Seat::RightBack, 5, Loss),
                seat(2, Seat::LeftFront, 11, Win),
                seat(4, Seat::RightFront, 5, Loss),
            ];
            store.record_match(record(2, Game::Pong, Mode::TwoVsTwo, two), 2);
            store.record_match(
                record(
                    3,
                    Game::Pong,
                    Mode::VsBot,
                    vec![seat(5, Seat::Left, 11, Win)],
                ),
                3,
            );
            store.record_match(
                record(
                    4,
                    Game::Breakout,
                    Mode::Solo,
                    vec![seat(5, Seat::P1, 700, Loss)],
                ),
                4,
            );
            store.record_match(
                record(
                    5,
                    Game::Breakout,
                    Mode::Solo,
                    vec![seat(5, Seat::P1, 300, Loss)],
                ),
                5,
            );
            let mut aborted = pong(6, vec![seat(1, Seat::Left, 0, PlayerResult::None)]);
            aborted.reason = EndReason::Aborted;
            store.record_match(aborted, 6);
            store.flush().unwrap();

            let one = stats(store, 1, Game::Pong);
            assert_eq!(
                (one.played, one.wins, one.losses, one.rated_matches),
                (2, 2, 0, 2)
            );
            let two = stats(store, 2, Game::Pong);
            assert_eq!((two.played, two.wins, two.losses), (2, 1, 1));
            assert!(one.rating > DEFAULT_RATING && one.rd < DEFAULT_RD);
            let (three, four) = (stats(store, 3, Game::Pong), stats(store, 4, Game::Pong));
            assert_eq!(
                three.rating, four.rating,
                "same team, same history, same rating"
            );
            assert!(three.rating < DEFAULT_RATING);
            let bot = stats(store, 5, Game::Pong);
            assert_eq!((bot.played, bot.wins, bot.rated_matches), (1, 1, 0));
            assert_eq!(bot.rating, DEFAULT_RATING, "vs_bot is not rated");
            let solo = stats(store, 5, Game::Breakout);
            assert_eq!((solo.played, solo.best), (2, Some(700)));

            let board = store.leaderboard(Game::Pong, 10).unwrap();
            let ids: Vec<u64> = board.iter().map(|row| row.player.0).collect();
            assert_eq!(ids[0], 1, "{board:?}");
            assert_eq!(ids.len(), 4, "player 5 has no rated match");
            assert_eq!(board[0].name, "p1");
            let breakout = store.leaderboard(Game::Breakout, 10).unwrap();
            assert_eq!(breakout.len(), 1);
            assert_eq!(breakout[0].stats.best, Some(700));
        });
    }

    #[test]
    fn leaderboards_walk_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arcade.db");
        let mut writer = crate::schema::open_writer(&path).unwrap();
        crate::schema::migrate(&mut writer).unwrap();
        for (game, index) in [
            (Game::Pong, "player_stats_by_rating"),
            (Game::Breakout, "player_stats_by_best"),
        ] {
            let plan: Vec<String> = writer
                .prepare(&format!("EXPLAIN QUERY PLAN {}", leaderboard_sql(game)))
                .unwrap()
                .query_map(params![game.as_str(), 10], |row| row.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains(index), "{index} in:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "no sort:\n{plan}");
        }
    }
}
