//! Tournaments on PostgreSQL (migration step 6): the twins of `crate::tournaments`' save
//! (writer thread, inside the batch's transaction) and queries (the backend's runtime).

use arcade_systems::model::{MatchId, PlayerId, TournamentId};
use deadpool_postgres::{Object, Transaction};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::pg;
use crate::error::DataError;
use crate::sql::{u64_from_sql, u64_to_sql};
use crate::tournaments::{
    ENTRY_COLUMNS, EntryRow, MAX_PLACINGS, PAIRING_COLUMNS, PairingRow, Placing, RawTournament,
    StoredTournament, TOURNAMENT_COLUMNS, TournamentFilter, TournamentMatch, TournamentPage,
    TournamentSave,
};
use crate::types::MAX_PAGE_LIMIT;

async fn exec(
    tx: &Transaction<'_>,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, DataError> {
    let prepared = tx.prepare_cached(statement).await.map_err(pg)?;
    tx.execute(&prepared, params).await.map_err(pg)
}

async fn rows(
    client: &Object,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, DataError> {
    let prepared = client.prepare_cached(statement).await.map_err(pg)?;
    client.query(&prepared, params).await.map_err(pg)
}

/// `crate::tournaments`' save on PostgreSQL.
pub(crate) async fn save(tx: &Transaction<'_>, save: &TournamentSave) -> Result<(), DataError> {
    let t = &save.tournament;
    let id = u64_to_sql(t.id.0);
    exec(
        tx,
        "INSERT INTO tournaments (id, host_id, name, game, mode, format, cap, status, settings, \
         starts_at, bracket, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, cap = excluded.cap, \
         status = excluded.status, settings = excluded.settings, \
         starts_at = excluded.starts_at, bracket = excluded.bracket, \
         updated_at = excluded.updated_at",
        &[
            &id,
            &u64_to_sql(t.host.0),
            &t.name,
            &t.game,
            &t.mode,
            &t.format,
            &i64::from(t.cap),
            &t.status,
            &t.settings,
            &t.starts_at_ms,
            &t.bracket,
            &t.created_at_ms,
            &t.updated_at_ms,
        ],
    )
    .await?;
    exec(
        tx,
        "DELETE FROM tournament_entries WHERE tournament_id = $1",
        &[&id],
    )
    .await?;
    for e in &t.entries {
        exec(
            tx,
            "INSERT INTO tournament_entries (tournament_id, player_id, name, alias, \
             registered_at, checked_in, withdrawn, seed, place) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &id,
                &u64_to_sql(e.player.0),
                &e.name,
                &e.alias,
                &e.registered_at_ms,
                &e.checked_in,
                &e.withdrawn,
                &e.seed.map(i64::from),
                &e.place.map(i64::from),
            ],
        )
        .await?;
    }
    exec(
        tx,
        "DELETE FROM tournament_pairings WHERE tournament_id = $1",
        &[&id],
    )
    .await?;
    for p in &save.pairings {
        exec(
            tx,
            "INSERT INTO tournament_pairings (tournament_id, round, slot, third_place, home_id, \
             away_id, outcome, home_score, away_score, match_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &id,
                &i64::from(p.round),
                &i64::from(p.slot),
                &p.third_place,
                &p.home.map(|h| u64_to_sql(h.0)),
                &p.away.map(|a| u64_to_sql(a.0)),
                &p.outcome,
                &p.home_score.map(i64::from),
                &p.away_score.map(i64::from),
                &p.match_id.map(|m| u64_to_sql(m.0)),
            ],
        )
        .await?;
    }
    for m in &save.new_matches {
        exec(
            tx,
            "INSERT INTO tournament_matches (match_id, tournament_id, round, slot) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[
                &u64_to_sql(m.match_id.0),
                &u64_to_sql(m.tournament.0),
                &i64::from(m.round),
                &i64::from(m.slot),
            ],
        )
        .await?;
    }
    Ok(())
}

fn raw(row: &Row) -> RawTournament {
    RawTournament {
        seq: row.get(0),
        id: row.get(1),
        host: row.get(2),
        name: row.get(3),
        game: row.get(4),
        mode: row.get(5),
        format: row.get(6),
        cap: row.get(7),
        status: row.get(8),
        settings: row.get(9),
        starts_at: row.get(10),
        bracket: row.get(11),
        created_at: row.get(12),
        updated_at: row.get(13),
        entrants: row.get(14),
    }
}

/// PostgreSQL's `count(*)` is a BIGINT like SQLite's; the subquery is cast for certainty.
fn tournament_columns() -> String {
    TOURNAMENT_COLUMNS.replace("(SELECT count(*)", "(SELECT count(*)::BIGINT")
}

async fn load_details(
    client: &Object,
    mut tournament: StoredTournament,
) -> Result<(StoredTournament, Vec<PairingRow>), DataError> {
    let id = u64_to_sql(tournament.id.0);
    tournament.entries = rows(
        client,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = $1 \
             ORDER BY registered_at, player_id"
        ),
        &[&id],
    )
    .await?
    .iter()
    .map(|row| EntryRow {
        player: PlayerId(u64_from_sql(row.get(0))),
        name: row.get(1),
        alias: row.get(2),
        registered_at_ms: row.get(3),
        checked_in: row.get(4),
        withdrawn: row.get(5),
        seed: row.get::<_, Option<i64>>(6).map(|v| v as u32),
        place: row.get::<_, Option<i64>>(7).map(|v| v as u32),
    })
    .collect();
    let pairings = rows(
        client,
        &format!(
            "SELECT {PAIRING_COLUMNS} FROM tournament_pairings WHERE tournament_id = $1 \
             ORDER BY round, third_place, slot"
        ),
        &[&id],
    )
    .await?
    .iter()
    .map(|row| PairingRow {
        round: row.get::<_, i64>(0) as u32,
        slot: row.get::<_, i64>(1) as u32,
        third_place: row.get(2),
        home: row
            .get::<_, Option<i64>>(3)
            .map(|v| PlayerId(u64_from_sql(v))),
        away: row
            .get::<_, Option<i64>>(4)
            .map(|v| PlayerId(u64_from_sql(v))),
        outcome: row.get(5),
        home_score: row.get::<_, Option<i64>>(6).map(|v| v as u32),
        away_score: row.get::<_, Option<i64>>(7).map(|v| v as u32),
        match_id: row
            .get::<_, Option<i64>>(8)
            .map(|v| MatchId(u64_from_sql(v))),
    })
    .collect();
    Ok((tournament, pairings))
}

pub(crate) async fn get_tournament(
    client: Object,
    id: TournamentId,
) -> Result<Option<(StoredTournament, Vec<PairingRow>)>, DataError> {
    let found = rows(
        &client,
        &format!(
            "SELECT {} FROM tournaments t WHERE t.id = $1",
            tournament_columns()
        ),
        &[&u64_to_sql(id.0)],
    )
    .await?;
    match found.first() {
        None => Ok(None),
        Some(row) => load_details(&client, raw(row).into_stored().1)
            .await
            .map(Some),
    }
}

pub(crate) async fn open_tournaments(
    client: Object,
) -> Result<Vec<(StoredTournament, Vec<PairingRow>)>, DataError> {
    let found = rows(
        &client,
        &format!(
            "SELECT {} FROM tournaments t \
             WHERE t.status IN ('registration', 'checkin', 'running') ORDER BY t.seq",
            tournament_columns()
        ),
        &[],
    )
    .await?;
    let mut open = Vec::with_capacity(found.len());
    for row in &found {
        open.push(load_details(&client, raw(row).into_stored().1).await?);
    }
    Ok(open)
}

pub(crate) async fn list_tournaments(
    client: Object,
    filter: TournamentFilter,
) -> Result<TournamentPage, DataError> {
    let limit = filter.limit.clamp(1, MAX_PAGE_LIMIT);
    let before = filter.before.map_or(i64::MAX, |cursor| cursor.0);
    let found = rows(
        &client,
        &format!(
            "SELECT {} FROM tournaments t WHERE t.seq < $1 \
             AND ($3::TEXT IS NULL OR t.status = $3) AND ($4::TEXT IS NULL OR t.game = $4) \
             ORDER BY t.seq DESC LIMIT $2",
            tournament_columns()
        ),
        &[
            &before,
            &(i64::from(limit) + 1),
            &filter.status,
            &filter.game,
        ],
    )
    .await?;
    let mut page: Vec<(i64, StoredTournament)> =
        found.iter().map(|row| raw(row).into_stored()).collect();
    let next = crate::read::end_page(&mut page, limit, |(seq, _)| *seq);
    Ok(TournamentPage {
        tournaments: page.into_iter().map(|(_, t)| t).collect(),
        next,
    })
}

pub(crate) async fn placings(client: Object, player: PlayerId) -> Result<Vec<Placing>, DataError> {
    let statement = crate::tournaments::PLACINGS_SQL
        .replace("?1", "$1")
        .replace("?2", "$2")
        .replace("(SELECT count(*)", "(SELECT count(*)::BIGINT");
    let found = rows(
        &client,
        &statement,
        &[&u64_to_sql(player.0), &i64::from(MAX_PLACINGS)],
    )
    .await?;
    Ok(found
        .iter()
        .map(|row| Placing {
            tournament: TournamentId(u64_from_sql(row.get(0))),
            name: row.get(1),
            game: row.get(2),
            format: row.get(3),
            status: row.get(4),
            place: row.get::<_, Option<i64>>(5).map(|v| v as u32),
            entrants: row.get::<_, i64>(6) as u32,
            updated_at_ms: row.get(7),
        })
        .collect())
}

pub(crate) async fn match_tournament(
    client: Object,
    id: MatchId,
) -> Result<Option<TournamentMatch>, DataError> {
    let found = rows(
        &client,
        "SELECT tournament_id, round, slot FROM tournament_matches WHERE match_id = $1",
        &[&u64_to_sql(id.0)],
    )
    .await?;
    Ok(found.first().map(|row| TournamentMatch {
        match_id: id,
        tournament: TournamentId(u64_from_sql(row.get(0))),
        round: row.get::<_, i64>(1) as u32,
        slot: row.get::<_, i64>(2) as u32,
    }))
}
