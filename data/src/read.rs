//! Reads: a small pool of read-only connections, and the queries that run on them.
//!
//! In WAL mode readers never wait for the writer, and each statement sees the last commit
//! made before it started. A read never uses the writer's connection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use arcade_systems::model::{Game, MatchId, PlayerId, PlayerRef, RecordPlayer};
use arcade_systems::replay::{GAME_VERSION, Replay};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{DataError, sql};
use crate::schema::open_reader;
use crate::sql::{VISITS_COUNTER, player_row, u64_from_sql, u64_to_sql};
use crate::types::{
    Credentials, Cursor, MAX_PAGE_LIMIT, MatchFilter, MatchPage, PlayerRow, SessionId, StoredMatch,
};

/// How many idle read connections the pool keeps; more are opened when all are busy, and
/// closed when they come back to a full pool.
pub(crate) const READ_POOL_IDLE_MAX: usize = 8;

/// Read-only connections to one database file, opened on demand and reused.
pub(crate) struct ReadPool {
    /// The database file.
    path: PathBuf,
    /// Connections not in use right now.
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (or a new one), then gives the connection back.
    pub(crate) fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, DataError>,
    ) -> Result<T, DataError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < READ_POOL_IDLE_MAX {
            idle.push(conn);
        }
        result
    }
}

pub(crate) fn visits(conn: &Connection) -> Result<i64, DataError> {
    conn.prepare_cached("SELECT value FROM counters WHERE name = ?1")
        .and_then(|mut select| {
            select
                .query_row([VISITS_COUNTER], |row| row.get(0))
                .optional()
        })
        .map(|value| value.unwrap_or(0))
        .map_err(sql)
}

/// The columns every match query selects, in the order [`RawMatch::from_row`] reads them.
pub(crate) const MATCH_COLUMNS: &str = "m.seq, m.id, m.game, m.mode, m.options, m.seed, m.started_at, m.ended_at, m.ticks, \
     m.tick_rate, m.reason, \
     (SELECT r.game_version FROM replays r WHERE r.match_seq = m.seq), \
     (SELECT t.tournament_id FROM tournament_matches t WHERE t.match_id = m.id), \
     CAST((SELECT t.round FROM tournament_matches t WHERE t.match_id = m.id) AS BIGINT)";

/// A `matches` row as stored, before its text columns are parsed (both backends).
pub(crate) struct RawMatch {
    /// Insert order.
    pub(crate) seq: i64,
    /// The match id's bits.
    pub(crate) id: i64,
    /// `pong` or `breakout`.
    pub(crate) game: String,
    /// The mode's wire name.
    pub(crate) mode: String,
    /// The options as JSON.
    pub(crate) options: String,
    /// The seed's bits.
    pub(crate) seed: i64,
    /// Unix ms.
    pub(crate) started_at: i64,
    /// Unix ms.
    pub(crate) ended_at: i64,
    /// Ticks played.
    pub(crate) ticks: i64,
    /// Ticks per second.
    pub(crate) tick_rate: i64,
    /// The end reason's wire name.
    pub(crate) reason: String,
    /// The game version of its replay; `None` without one.
    pub(crate) replay_version: Option<i64>,
    /// The tournament that created it (issue 13), and the round; `None` for other matches.
    pub(crate) tournament_id: Option<i64>,
    pub(crate) tournament_round: Option<i64>,
}

impl RawMatch {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawMatch> {
        Ok(RawMatch {
            seq: row.get(0)?,
            id: row.get(1)?,
            game: row.get(2)?,
            mode: row.get(3)?,
            options: row.get(4)?,
            seed: row.get(5)?,
            started_at: row.get(6)?,
            ended_at: row.get(7)?,
            ticks: row.get(8)?,
            tick_rate: row.get(9)?,
            reason: row.get(10)?,
            replay_version: row.get(11)?,
            tournament_id: row.get(12)?,
            tournament_round: row.get(13)?,
        })
    }

    pub(crate) fn into_match(self, players: Vec<RecordPlayer>) -> Result<StoredMatch, DataError> {
        let corrupt = |what: &str, value: &str| {
            DataError::Corrupt(format!("match seq {}: {what} {value:?}", self.seq))
        };
        Ok(StoredMatch {
            id: MatchId(u64_from_sql(self.id)),
            game: self.game.parse().map_err(|_| corrupt("game", &self.game))?,
            mode: self.mode.parse().map_err(|_| corrupt("mode", &self.mode))?,
            options: serde_json::from_str(&self.options)
                .map_err(|_| corrupt("options", &self.options))?,
            seed: u64_from_sql(self.seed),
            started_at_ms: self.started_at,
            ended_at_ms: self.ended_at,
            ticks: u64_from_sql(self.ticks),
            tick_rate: u32::try_from(self.tick_rate)
                .map_err(|_| corrupt("tick_rate", &self.tick_rate.to_string()))?,
            reason: parse_reason(&self.reason).ok_or_else(|| corrupt("reason", &self.reason))?,
            has_replay: self.replay_version == Some(i64::from(GAME_VERSION)),
            tournament: match (self.tournament_id, self.tournament_round) {
                (Some(id), Some(round)) => Some(crate::types::TournamentLink {
                    id: arcade_systems::model::TournamentId(u64_from_sql(id)),
                    round: u32::try_from(round)
                        .map_err(|_| corrupt("round", &round.to_string()))?,
                }),
                _ => None,
            },
            players,
        })
    }
}

/// The wire strings of the model's enums that have no `FromStr`, read back through serde.
fn parse_wire<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn parse_reason(text: &str) -> Option<arcade_systems::model::EndReason> {
    parse_wire(text)
}

/// Loads the seats of every match in `seqs` with one query, grouped by match, in record order.
fn players_of(
    conn: &Connection,
    seqs: &[i64],
) -> Result<HashMap<i64, Vec<RecordPlayer>>, DataError> {
    let mut by_match: HashMap<i64, Vec<RecordPlayer>> = HashMap::new();
    if seqs.is_empty() {
        return Ok(by_match);
    }
    let seq_list = serde_json::to_string(seqs).map_err(|e| DataError::Corrupt(e.to_string()))?;
    let mut select = conn
        .prepare_cached(
            "SELECT match_seq, player_id, name, seat, score, result FROM match_players \
             WHERE match_seq IN (SELECT value FROM json_each(?1)) \
             ORDER BY match_seq, position",
        )
        .map_err(sql)?;
    let rows = select
        .query_map([seq_list], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .map_err(sql)?;
    for row in rows {
        let (seq, id, name, seat, score, result) = row.map_err(sql)?;
        let player = seat_from(seq, id, name, &seat, score, &result)?;
        by_match.entry(seq).or_default().push(player);
    }
    Ok(by_match)
}

/// A seat of match `seq` from its stored columns (both backends).
pub(crate) fn seat_from(
    seq: i64,
    id: i64,
    name: String,
    seat: &str,
    score: i64,
    result: &str,
) -> Result<RecordPlayer, DataError> {
    let corrupt = |what: &str, value: &str| {
        DataError::Corrupt(format!("match seq {seq} seat: {what} {value:?}"))
    };
    Ok(RecordPlayer {
        id: PlayerId(u64_from_sql(id)),
        name,
        seat: seat.parse().map_err(|_| corrupt("seat", seat))?,
        score: u32::try_from(score).map_err(|_| corrupt("score", &score.to_string()))?,
        result: parse_wire(result).ok_or_else(|| corrupt("result", result))?,
    })
}

/// Completes raw rows with their seats, grouped by match seq (both backends).
pub(crate) fn attach_seats(
    raws: Vec<RawMatch>,
    mut players: HashMap<i64, Vec<RecordPlayer>>,
) -> Result<Vec<StoredMatch>, DataError> {
    raws.into_iter()
        .map(|raw| {
            let seats = players.remove(&raw.seq).unwrap_or_default();
            raw.into_match(seats)
        })
        .collect()
}

/// Turns raw rows into matches, loading all their seats with one query.
fn complete(conn: &Connection, raws: Vec<RawMatch>) -> Result<Vec<StoredMatch>, DataError> {
    let seqs: Vec<i64> = raws.iter().map(|raw| raw.seq).collect();
    let players = players_of(conn, &seqs)?;
    attach_seats(raws, players)
}

pub(crate) fn get_match(conn: &Connection, id: MatchId) -> Result<Option<StoredMatch>, DataError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.id = ?1"
        ))
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(id.0)], RawMatch::from_row)
                .optional()
        })
        .map_err(sql)?;
    match raw {
        Some(raw) => Ok(complete(conn, vec![raw])?.pop()),
        None => Ok(None),
    }
}

/// A finished match and its replay (`None` when it was stored without one).
pub(crate) fn get_replay(
    conn: &Connection,
    id: MatchId,
) -> Result<Option<(StoredMatch, Option<Replay>)>, DataError> {
    let Some(stored) = get_match(conn, id)? else {
        return Ok(None);
    };
    let row = conn
        .prepare_cached(
            "SELECT r.game_version, r.grace_ticks, r.final_hash, r.players, r.log \
             FROM replays r JOIN matches m ON m.seq = r.match_seq WHERE m.id = ?1",
        )
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(id.0)], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, Vec<u8>>(4)?,
                    ))
                })
                .optional()
        })
        .map_err(sql)?;
    let Some((version, grace, hash, players, log)) = row else {
        return Ok(Some((stored, None)));
    };
    let players: Vec<PlayerRef> = serde_json::from_str(&players)
        .map_err(|e| DataError::Corrupt(format!("replay of {id}: players: {e}")))?;
    let replay = Replay {
        game_version: u32::try_from(version)
            .map_err(|_| DataError::Corrupt(format!("replay of {id}: version {version}")))?,
        reconnect_grace_ticks: u64_from_sql(grace),
        players,
        log,
        final_hash: u64_from_sql(hash),
    };
    Ok(Some((stored, Some(replay))))
}

/// The ids of every match stored with a replay, oldest first.
pub(crate) fn replayed_matches(conn: &Connection) -> Result<Vec<MatchId>, DataError> {
    conn.prepare_cached(
        "SELECT m.id FROM replays r JOIN matches m ON m.seq = r.match_seq ORDER BY r.match_seq",
    )
    .and_then(|mut select| {
        select
            .query_map([], |row| row.get::<_, i64>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    })
    .map(|ids| {
        ids.into_iter()
            .map(|id| MatchId(u64_from_sql(id)))
            .collect()
    })
    .map_err(sql)
}

/// One page, newest first by insert order. Fetches one match more than the page holds to
/// know whether another page follows.
pub(crate) fn list_matches(
    conn: &Connection,
    filter: &MatchFilter,
) -> Result<MatchPage, DataError> {
    let limit = filter.limit.clamp(1, MAX_PAGE_LIMIT);
    let before = filter.before.map_or(i64::MAX, |cursor| cursor.0);
    let fetch = i64::from(limit) + 1;
    let (sql_text, game, player) = list_sql(filter.game, filter.player);
    let mut raws: Vec<RawMatch> = {
        let mut select = conn.prepare_cached(&sql_text).map_err(sql)?;
        let mut bound = params![before, fetch].to_vec();
        if game.is_some() || player.is_some() {
            bound.push(&game);
        }
        if player.is_some() {
            bound.push(&player);
        }
        select
            .query_map(bound.as_slice(), RawMatch::from_row)
            .and_then(|rows| rows.collect())
            .map_err(sql)?
    };
    let next = end_page(&mut raws, limit, |raw| raw.seq);
    Ok(MatchPage {
        matches: complete(conn, raws)?,
        next,
    })
}

/// Cuts a page fetched with one row more than `limit` down to `limit` rows, and returns where
/// the next page starts (the last kept row's seq), or `None` when there was no extra row.
pub(crate) fn end_page<T>(
    rows: &mut Vec<T>,
    limit: u32,
    seq: impl Fn(&T) -> i64,
) -> Option<Cursor> {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|row| Cursor(seq(row)))
    } else {
        None
    }
}

/// The statement of a listing, with its game and player parameters (`?3`, `?4`); `?1` is the
/// cursor's seq and `?2` the number of rows to fetch.
fn list_sql(
    game: Option<Game>,
    player: Option<PlayerId>,
) -> (String, Option<&'static str>, Option<i64>) {
    // Each shape of filter has its own statement, so each can walk its own index backwards:
    // matches (seq), matches_by_game (game, seq), match_players_by_player (player_id, seq).
    match (game, player) {
        (None, None) => (
            format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.seq < ?1 \
                 ORDER BY m.seq DESC LIMIT ?2"
            ),
            None,
            None,
        ),
        (Some(game), None) => (
            format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.game = ?3 AND m.seq < ?1 \
                 ORDER BY m.seq DESC LIMIT ?2"
            ),
            Some(game.as_str()),
            None,
        ),
        (None, Some(player)) => (
            format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.seq IN ( \
                   SELECT DISTINCT mp.match_seq FROM match_players mp \
                   WHERE mp.player_id = ?4 AND mp.match_seq < ?1 \
                   ORDER BY mp.match_seq DESC LIMIT ?2) \
                 ORDER BY m.seq DESC"
            ),
            None,
            Some(u64_to_sql(player.0)),
        ),
        (Some(game), Some(player)) => (
            format!(
                "SELECT {MATCH_COLUMNS} FROM matches m WHERE m.seq IN ( \
                   SELECT DISTINCT mp.match_seq FROM match_players mp \
                   JOIN matches g ON g.seq = mp.match_seq \
                   WHERE mp.player_id = ?4 AND g.game = ?3 AND mp.match_seq < ?1 \
                   ORDER BY mp.match_seq DESC LIMIT ?2) \
                 ORDER BY m.seq DESC"
            ),
            Some(game.as_str()),
            Some(u64_to_sql(player.0)),
        ),
    }
}

pub(crate) fn get_player(conn: &Connection, id: PlayerId) -> Result<Option<PlayerRow>, DataError> {
    conn.prepare_cached("SELECT id, name, guest, created_at FROM players WHERE id = ?1")
        .and_then(|mut select| select.query_row([u64_to_sql(id.0)], player_row).optional())
        .map_err(sql)
}

pub(crate) fn find_credentials(
    conn: &Connection,
    name: &str,
) -> Result<Option<Credentials>, DataError> {
    conn.prepare_cached(
        "SELECT id, name, guest, created_at, password_hash FROM players \
         WHERE name_key = ?1 AND password_hash IS NOT NULL",
    )
    .and_then(|mut select| {
        select
            .query_row([name.to_lowercase()], |row| {
                Ok(Credentials {
                    player: player_row(row)?,
                    password_hash: row.get(4)?,
                })
            })
            .optional()
    })
    .map_err(sql)
}

pub(crate) fn session_valid(
    conn: &Connection,
    session: SessionId,
    player: PlayerId,
) -> Result<bool, DataError> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM sessions \
         WHERE id = ?1 AND player_id = ?2 AND revoked_at IS NULL)",
    )
    .and_then(|mut select| {
        select.query_row(
            params![u64_to_sql(session.0), u64_to_sql(player.0)],
            |row| row.get(0),
        )
    })
    .map_err(sql)
}

pub(crate) fn ping(conn: &Connection) -> Result<bool, DataError> {
    conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
        .map(|one| one == 1)
        .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of a listing, as SQLite explains it.
    fn plan(conn: &Connection, filter: &MatchFilter) -> String {
        let _ = list_matches(conn, filter).unwrap();
        let text = list_sql(filter.game, filter.player).0;
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
        let (game, player) = (
            filter.game.map(Game::as_str),
            filter.player.map(|p| p.0 as i64),
        );
        let detail = |row: &Row<'_>| row.get::<_, String>(3);
        let rows = match (game, player) {
            (None, None) => explain.query_map(params![1, 2], detail),
            (_, None) => explain.query_map(params![1, 2, game], detail),
            _ => explain.query_map(params![1, 2, game, player], detail),
        };
        rows.unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("\n")
    }

    #[test]
    fn every_listing_walks_an_index_and_sorts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arcade.db");
        let mut writer = crate::schema::open_writer(&path).unwrap();
        crate::schema::migrate(&mut writer).unwrap();
        let conn = open_reader(&path).unwrap();
        let player = Some(PlayerId(5));
        let cases = [
            (None, None, "INTEGER PRIMARY KEY (rowid<?)"),
            (
                Some(Game::Pong),
                None,
                "INDEX matches_by_game (game=? AND seq<?)",
            ),
            (
                None,
                player,
                "INDEX match_players_by_player (player_id=? AND match_seq<?)",
            ),
            (
                Some(Game::Pong),
                player,
                "INDEX match_players_by_player (player_id=? AND match_seq<?)",
            ),
        ];
        for (game, player, index) in cases {
            let filter = MatchFilter {
                game,
                player,
                ..Default::default()
            };
            let plan = plan(&conn, &filter);
            assert!(
                plan.contains(index) || index == "matches",
                "{index} in:\n{plan}"
            );
            assert!(
                !plan.contains("SCAN m\n") && !plan.ends_with("SCAN m"),
                "no full scan:\n{plan}"
            );
            assert!(
                !plan.contains("USE TEMP B-TREE FOR ORDER BY"),
                "no sort:\n{plan}"
            );
        }
    }
}
