//! Tournaments in storage (migration step 6; issue 13): the rows handed in and out, the one
//! write that saves a tournament whole ([`TournamentWrite`], writer thread), and the SQLite
//! queries (read connections). The PostgreSQL twins are in `crate::pg::tournaments`.
//!
//! The store does not interpret a tournament: its settings and bracket are JSON text the
//! network layer reads and writes; statuses, games and formats are the wire strings.

use arcade_systems::model::{MatchId, PlayerId, TournamentId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{DataError, sql};
use crate::reply::{Ack, Reply, reply};
use crate::sql::{in_savepoint, u64_from_sql, u64_to_sql};
use crate::types::{Cursor, MAX_PAGE_LIMIT};

/// Statuses of a tournament that is not over (a restart resumes them).
pub const OPEN_STATUSES: [&str; 3] = ["registration", "checkin", "running"];
/// The most placings `GET /api/players/{id}` lists (newest first).
pub const MAX_PLACINGS: u32 = 50;

/// A tournament as stored (without its pairings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTournament {
    pub id: TournamentId,
    /// Who created it (and alone may start or cancel it).
    pub host: PlayerId,
    pub name: String,
    /// `pong` or `breakout`.
    pub game: String,
    /// `1v1` or `versus`.
    pub mode: String,
    /// `single_elimination`, `round_robin` or `swiss`.
    pub format: String,
    /// The most entrants.
    pub cap: u32,
    /// `registration`, `checkin`, `running`, `finished` or `cancelled`.
    pub status: String,
    /// The host's choices as a JSON object (the network layer's).
    pub settings: String,
    /// Unix ms of the planned start; `None`: the host starts it.
    pub starts_at_ms: Option<i64>,
    /// The bracket as a JSON object, once running.
    pub bracket: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Who signed up, in registration order (empty in listings).
    pub entries: Vec<EntryRow>,
    /// How many signed up.
    pub entrant_count: u32,
}

/// One sign-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRow {
    pub player: PlayerId,
    /// The player's name when signing up.
    pub name: String,
    /// The name shown in the bracket, if the player chose one.
    pub alias: Option<String>,
    pub registered_at_ms: i64,
    pub checked_in: bool,
    /// Left the tournament once it ran (forfeits the rest).
    pub withdrawn: bool,
    /// The seed from 1, once running.
    pub seed: Option<u32>,
    /// The place, once known.
    pub place: Option<u32>,
}

/// One pairing of a round and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairingRow {
    pub round: u32,
    pub slot: u32,
    pub third_place: bool,
    pub home: Option<PlayerId>,
    pub away: Option<PlayerId>,
    /// `played`, `forfeit`, `double_forfeit` or `bye`; `None` while undecided.
    pub outcome: Option<String>,
    pub home_score: Option<u32>,
    pub away_score: Option<u32>,
    /// The live (or last) match that plays it.
    pub match_id: Option<MatchId>,
}

/// A match a tournament created, linked to its round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TournamentMatch {
    pub match_id: MatchId,
    pub tournament: TournamentId,
    pub round: u32,
    pub slot: u32,
}

/// Everything a save writes: the tournament with its entries, every pairing, and the matches
/// created since the last save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TournamentSave {
    pub tournament: StoredTournament,
    pub pairings: Vec<PairingRow>,
    pub new_matches: Vec<TournamentMatch>,
}

/// Which tournaments a listing shows.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TournamentFilter {
    pub status: Option<String>,
    pub game: Option<String>,
    /// Per page, clamped to 1..=[`MAX_PAGE_LIMIT`].
    pub limit: u32,
    /// The `next` of the previous page.
    pub before: Option<Cursor>,
}

/// A page of tournaments, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TournamentPage {
    pub tournaments: Vec<StoredTournament>,
    pub next: Option<Cursor>,
}

/// A player's place in one tournament.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placing {
    pub tournament: TournamentId,
    pub name: String,
    pub game: String,
    pub format: String,
    pub status: String,
    /// `None` while the player is still in (or for a cancelled tournament).
    pub place: Option<u32>,
    pub entrants: u32,
    pub updated_at_ms: i64,
}

/// A tournament write, as queued for the writer.
pub(crate) enum TournamentWrite {
    /// Writes the tournament whole (creates it the first time); answered after the commit.
    Save(Box<TournamentSave>, Reply<()>),
}

impl TournamentWrite {
    pub(crate) fn name(&self) -> &'static str {
        "save_tournament"
    }

    pub(crate) fn refuse(self, error: DataError) {
        let TournamentWrite::Save(_, reply) = self;
        drop(reply.send(Err(error)));
    }

    /// Applies the write inside its own savepoint of the writer's transaction.
    pub(crate) fn apply(self, tx: &mut rusqlite::Transaction<'_>) -> Ack {
        let TournamentWrite::Save(save, to) = self;
        reply(to, in_savepoint(tx, |conn| save_tournament(conn, &save)))
    }
}

fn opt_u32(value: Option<u32>) -> Option<i64> {
    value.map(i64::from)
}

fn opt_id(value: Option<u64>) -> Option<i64> {
    value.map(u64_to_sql)
}

fn save_tournament(conn: &Connection, save: &TournamentSave) -> Result<(), DataError> {
    let t = &save.tournament;
    let id = u64_to_sql(t.id.0);
    conn.prepare_cached(
        "INSERT INTO tournaments (id, host_id, name, game, mode, format, cap, status, settings, \
         starts_at, bracket, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, cap = excluded.cap, \
         status = excluded.status, settings = excluded.settings, \
         starts_at = excluded.starts_at, bracket = excluded.bracket, \
         updated_at = excluded.updated_at",
    )
    .and_then(|mut upsert| {
        upsert.execute(params![
            id,
            u64_to_sql(t.host.0),
            t.name,
            t.game,
            t.mode,
            t.format,
            i64::from(t.cap),
            t.status,
            t.settings,
            t.starts_at_ms,
            t.bracket,
            t.created_at_ms,
            t.updated_at_ms
        ])
    })
    .map_err(sql)?;
    conn.prepare_cached("DELETE FROM tournament_entries WHERE tournament_id = ?1")
        .and_then(|mut delete| delete.execute([id]))
        .map_err(sql)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO tournament_entries (tournament_id, player_id, name, alias, \
             registered_at, checked_in, withdrawn, seed, place) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(sql)?;
    for entry in &t.entries {
        insert
            .execute(params![
                id,
                u64_to_sql(entry.player.0),
                entry.name,
                entry.alias,
                entry.registered_at_ms,
                entry.checked_in,
                entry.withdrawn,
                opt_u32(entry.seed),
                opt_u32(entry.place)
            ])
            .map_err(sql)?;
    }
    conn.prepare_cached("DELETE FROM tournament_pairings WHERE tournament_id = ?1")
        .and_then(|mut delete| delete.execute([id]))
        .map_err(sql)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO tournament_pairings (tournament_id, round, slot, third_place, home_id, \
             away_id, outcome, home_score, away_score, match_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(sql)?;
    for p in &save.pairings {
        insert
            .execute(params![
                id,
                i64::from(p.round),
                i64::from(p.slot),
                p.third_place,
                opt_id(p.home.map(|h| h.0)),
                opt_id(p.away.map(|a| a.0)),
                p.outcome,
                opt_u32(p.home_score),
                opt_u32(p.away_score),
                opt_id(p.match_id.map(|m| m.0))
            ])
            .map_err(sql)?;
    }
    let mut link = conn
        .prepare_cached(
            "INSERT INTO tournament_matches (match_id, tournament_id, round, slot) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )
        .map_err(sql)?;
    for m in &save.new_matches {
        link.execute(params![
            u64_to_sql(m.match_id.0),
            u64_to_sql(m.tournament.0),
            i64::from(m.round),
            i64::from(m.slot)
        ])
        .map_err(sql)?;
    }
    Ok(())
}

/// The columns of a tournament row, in the order [`tournament_from`] reads them; the last is
/// the number of entries.
pub(crate) const TOURNAMENT_COLUMNS: &str = "t.seq, t.id, t.host_id, t.name, t.game, t.mode, \
     t.format, t.cap, t.status, t.settings, t.starts_at, t.bracket, t.created_at, t.updated_at, \
     (SELECT count(*) FROM tournament_entries e WHERE e.tournament_id = t.id)";

/// The raw values of a tournament row (shared with PostgreSQL's reads).
pub(crate) struct RawTournament {
    pub seq: i64,
    pub id: i64,
    pub host: i64,
    pub name: String,
    pub game: String,
    pub mode: String,
    pub format: String,
    pub cap: i64,
    pub status: String,
    pub settings: String,
    pub starts_at: Option<i64>,
    pub bracket: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub entrants: i64,
}

impl RawTournament {
    pub(crate) fn into_stored(self) -> (i64, StoredTournament) {
        (
            self.seq,
            StoredTournament {
                id: TournamentId(u64_from_sql(self.id)),
                host: PlayerId(u64_from_sql(self.host)),
                name: self.name,
                game: self.game,
                mode: self.mode,
                format: self.format,
                cap: self.cap as u32,
                status: self.status,
                settings: self.settings,
                starts_at_ms: self.starts_at,
                bracket: self.bracket,
                created_at_ms: self.created_at,
                updated_at_ms: self.updated_at,
                entries: Vec::new(),
                entrant_count: self.entrants as u32,
            },
        )
    }
}

fn tournament_from(row: &Row<'_>) -> rusqlite::Result<RawTournament> {
    Ok(RawTournament {
        seq: row.get(0)?,
        id: row.get(1)?,
        host: row.get(2)?,
        name: row.get(3)?,
        game: row.get(4)?,
        mode: row.get(5)?,
        format: row.get(6)?,
        cap: row.get(7)?,
        status: row.get(8)?,
        settings: row.get(9)?,
        starts_at: row.get(10)?,
        bracket: row.get(11)?,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
        entrants: row.get(14)?,
    })
}

/// The entry columns, in the order [`entry_from`] reads them.
pub(crate) const ENTRY_COLUMNS: &str =
    "player_id, name, alias, registered_at, checked_in, withdrawn, seed, place";

fn entry_from(row: &Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok(EntryRow {
        player: PlayerId(u64_from_sql(row.get(0)?)),
        name: row.get(1)?,
        alias: row.get(2)?,
        registered_at_ms: row.get(3)?,
        checked_in: row.get(4)?,
        withdrawn: row.get(5)?,
        seed: row.get::<_, Option<i64>>(6)?.map(|v| v as u32),
        place: row.get::<_, Option<i64>>(7)?.map(|v| v as u32),
    })
}

/// The pairing columns, in the order [`pairing_from`] reads them.
pub(crate) const PAIRING_COLUMNS: &str =
    "round, slot, third_place, home_id, away_id, outcome, home_score, away_score, match_id";

fn pairing_from(row: &Row<'_>) -> rusqlite::Result<PairingRow> {
    Ok(PairingRow {
        round: row.get::<_, i64>(0)? as u32,
        slot: row.get::<_, i64>(1)? as u32,
        third_place: row.get(2)?,
        home: row
            .get::<_, Option<i64>>(3)?
            .map(|v| PlayerId(u64_from_sql(v))),
        away: row
            .get::<_, Option<i64>>(4)?
            .map(|v| PlayerId(u64_from_sql(v))),
        outcome: row.get(5)?,
        home_score: row.get::<_, Option<i64>>(6)?.map(|v| v as u32),
        away_score: row.get::<_, Option<i64>>(7)?.map(|v| v as u32),
        match_id: row
            .get::<_, Option<i64>>(8)?
            .map(|v| MatchId(u64_from_sql(v))),
    })
}

fn load_details(
    conn: &Connection,
    mut tournament: StoredTournament,
) -> Result<(StoredTournament, Vec<PairingRow>), DataError> {
    let id = u64_to_sql(tournament.id.0);
    tournament.entries = conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = ?1 \
             ORDER BY registered_at, player_id"
        ))
        .and_then(|mut select| select.query_map([id], entry_from)?.collect())
        .map_err(sql)?;
    let pairings = conn
        .prepare_cached(&format!(
            "SELECT {PAIRING_COLUMNS} FROM tournament_pairings WHERE tournament_id = ?1 \
             ORDER BY round, third_place, slot"
        ))
        .and_then(|mut select| select.query_map([id], pairing_from)?.collect())
        .map_err(sql)?;
    Ok((tournament, pairings))
}

/// A tournament with its entries and pairings, or `None`.
pub(crate) fn get_tournament(
    conn: &Connection,
    id: TournamentId,
) -> Result<Option<(StoredTournament, Vec<PairingRow>)>, DataError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {TOURNAMENT_COLUMNS} FROM tournaments t WHERE t.id = ?1"
        ))
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(id.0)], tournament_from)
                .optional()
        })
        .map_err(sql)?;
    match found {
        None => Ok(None),
        Some(raw) => load_details(conn, raw.into_stored().1).map(Some),
    }
}

/// Every tournament not finished nor cancelled, with entries and pairings, oldest first.
pub(crate) fn open_tournaments(
    conn: &Connection,
) -> Result<Vec<(StoredTournament, Vec<PairingRow>)>, DataError> {
    let raws: Vec<RawTournament> = conn
        .prepare_cached(&format!(
            "SELECT {TOURNAMENT_COLUMNS} FROM tournaments t \
             WHERE t.status IN ('registration', 'checkin', 'running') ORDER BY t.seq"
        ))
        .and_then(|mut select| select.query_map([], tournament_from)?.collect())
        .map_err(sql)?;
    raws.into_iter()
        .map(|raw| load_details(conn, raw.into_stored().1))
        .collect()
}

/// A page of tournaments, newest first, by status and game.
pub(crate) fn list_tournaments(
    conn: &Connection,
    filter: &TournamentFilter,
) -> Result<TournamentPage, DataError> {
    let limit = filter.limit.clamp(1, MAX_PAGE_LIMIT);
    let before = filter.before.map_or(i64::MAX, |cursor| cursor.0);
    let mut rows: Vec<(i64, StoredTournament)> = conn
        .prepare_cached(&format!(
            "SELECT {TOURNAMENT_COLUMNS} FROM tournaments t WHERE t.seq < ?1 \
             AND (?3 IS NULL OR t.status = ?3) AND (?4 IS NULL OR t.game = ?4) \
             ORDER BY t.seq DESC LIMIT ?2"
        ))
        .and_then(|mut select| {
            select
                .query_map(
                    params![before, i64::from(limit) + 1, filter.status, filter.game],
                    tournament_from,
                )?
                .map(|raw| raw.map(RawTournament::into_stored))
                .collect()
        })
        .map_err(sql)?;
    let next = crate::read::end_page(&mut rows, limit, |(seq, _)| *seq);
    Ok(TournamentPage {
        tournaments: rows.into_iter().map(|(_, t)| t).collect(),
        next,
    })
}

/// The SQL of a player's placings (`?1` the player, `?2` the limit).
pub(crate) const PLACINGS_SQL: &str = "SELECT t.id, t.name, t.game, t.format, t.status, e.place, \
     (SELECT count(*) FROM tournament_entries c WHERE c.tournament_id = t.id), t.updated_at \
     FROM tournament_entries e JOIN tournaments t ON t.id = e.tournament_id \
     WHERE e.player_id = ?1 ORDER BY t.seq DESC LIMIT ?2";

/// A player's tournaments and places, newest first (at most [`MAX_PLACINGS`]).
pub(crate) fn placings(conn: &Connection, player: PlayerId) -> Result<Vec<Placing>, DataError> {
    conn.prepare_cached(PLACINGS_SQL)
        .and_then(|mut select| {
            select
                .query_map(
                    params![u64_to_sql(player.0), i64::from(MAX_PLACINGS)],
                    |row| {
                        Ok(Placing {
                            tournament: TournamentId(u64_from_sql(row.get(0)?)),
                            name: row.get(1)?,
                            game: row.get(2)?,
                            format: row.get(3)?,
                            status: row.get(4)?,
                            place: row.get::<_, Option<i64>>(5)?.map(|v| v as u32),
                            entrants: row.get::<_, i64>(6)? as u32,
                            updated_at_ms: row.get(7)?,
                        })
                    },
                )?
                .collect()
        })
        .map_err(sql)
}

/// The tournament and round a match was created for, if any.
pub(crate) fn match_tournament(
    conn: &Connection,
    id: MatchId,
) -> Result<Option<TournamentMatch>, DataError> {
    conn.prepare_cached(
        "SELECT tournament_id, round, slot FROM tournament_matches WHERE match_id = ?1",
    )
    .and_then(|mut select| {
        select
            .query_row([u64_to_sql(id.0)], |row| {
                Ok(TournamentMatch {
                    match_id: id,
                    tournament: TournamentId(u64_from_sql(row.get(0)?)),
                    round: row.get::<_, i64>(1)? as u32,
                    slot: row.get::<_, i64>(2)? as u32,
                })
            })
            .optional()
    })
    .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::each_store;

    fn tournament(id: u64, status: &str, game: &str) -> StoredTournament {
        StoredTournament {
            id: TournamentId(id),
            host: PlayerId(1),
            name: format!("cup {id}"),
            game: game.into(),
            mode: "1v1".into(),
            format: "single_elimination".into(),
            cap: 8,
            status: status.into(),
            settings: "{}".into(),
            starts_at_ms: None,
            bracket: None,
            created_at_ms: 1_000,
            updated_at_ms: 1_000,
            entries: vec![
                EntryRow {
                    player: PlayerId(1),
                    name: "ann".into(),
                    alias: Some("The Ace".into()),
                    registered_at_ms: 1_000,
                    checked_in: true,
                    withdrawn: false,
                    seed: Some(1),
                    place: Some(1),
                },
                EntryRow {
                    player: PlayerId(2),
                    name: "bob".into(),
                    alias: None,
                    registered_at_ms: 1_001,
                    checked_in: false,
                    withdrawn: true,
                    seed: Some(2),
                    place: None,
                },
            ],
            entrant_count: 2,
        }
    }

    fn pairing() -> PairingRow {
        PairingRow {
            round: 1,
            slot: 0,
            third_place: false,
            home: Some(PlayerId(1)),
            away: Some(PlayerId(2)),
            outcome: Some("played".into()),
            home_score: Some(3),
            away_score: Some(1),
            match_id: Some(MatchId(77)),
        }
    }

    #[test]
    fn a_saved_tournament_reads_back_whole_and_saves_again() {
        each_store(|store| {
            let mut t = tournament(5, "running", "pong");
            let save = TournamentSave {
                tournament: t.clone(),
                pairings: vec![pairing()],
                new_matches: vec![TournamentMatch {
                    match_id: MatchId(77),
                    tournament: TournamentId(5),
                    round: 1,
                    slot: 0,
                }],
            };
            store.save_tournament(save.clone()).unwrap();
            let (back, pairings) = store.get_tournament(TournamentId(5)).unwrap().unwrap();
            assert_eq!(back, t);
            assert_eq!(pairings, vec![pairing()]);
            // Saving again replaces entries and pairings; the match link is kept once.
            t.status = "finished".into();
            t.entries.pop();
            t.entrant_count = 1;
            store
                .save_tournament(TournamentSave {
                    tournament: t.clone(),
                    pairings: Vec::new(),
                    new_matches: save.new_matches.clone(),
                })
                .unwrap();
            let (back, pairings) = store.get_tournament(TournamentId(5)).unwrap().unwrap();
            assert_eq!(back, t);
            assert!(pairings.is_empty());
            assert_eq!(
                store.match_tournament(MatchId(77)).unwrap().unwrap().round,
                1
            );
            assert_eq!(store.match_tournament(MatchId(78)).unwrap(), None);
            assert_eq!(store.get_tournament(TournamentId(6)).unwrap(), None);
        });
    }

    #[test]
    fn listings_page_by_status_and_game_and_placings_name_the_place() {
        each_store(|store| {
            for (id, status, game) in [
                (1, "registration", "pong"),
                (2, "running", "pong"),
                (3, "finished", "breakout"),
                (4, "finished", "pong"),
            ] {
                store
                    .save_tournament(TournamentSave {
                        tournament: tournament(id, status, game),
                        pairings: Vec::new(),
                        new_matches: Vec::new(),
                    })
                    .unwrap();
            }
            let ids = |page: &TournamentPage| -> Vec<u64> {
                page.tournaments.iter().map(|t| t.id.0).collect()
            };
            let mut filter = TournamentFilter {
                limit: 2,
                ..Default::default()
            };
            let first = store.list_tournaments(&filter).unwrap();
            assert_eq!(ids(&first), vec![4, 3]);
            assert_eq!(first.tournaments[0].entrant_count, 2);
            filter.before = first.next;
            let second = store.list_tournaments(&filter).unwrap();
            assert_eq!(ids(&second), vec![2, 1]);
            assert_eq!(second.next, None);
            let finished_pong = store
                .list_tournaments(&TournamentFilter {
                    status: Some("finished".into()),
                    game: Some("pong".into()),
                    limit: 10,
                    before: None,
                })
                .unwrap();
            assert_eq!(ids(&finished_pong), vec![4]);
            let open: Vec<u64> = store
                .open_tournaments()
                .unwrap()
                .iter()
                .map(|(t, _)| t.id.0)
                .collect();
            assert_eq!(open, vec![1, 2]);
            let placings = store.placings(PlayerId(1)).unwrap();
            assert_eq!(placings.len(), 4);
            assert_eq!(placings[0].tournament, TournamentId(4));
            assert_eq!(placings[0].place, Some(1));
            assert_eq!(placings[0].entrants, 2);
            assert!(store.placings(PlayerId(3)).unwrap().is_empty());
        });
    }
}
