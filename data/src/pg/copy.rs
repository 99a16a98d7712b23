//! `arcade migrate`: copies a single-process SQLite database into PostgreSQL, table by table in
//! chunks (each chunk one transaction), idempotently: a row already there is left alone
//! (statistics are overwritten with the file's, counters keep the larger value, a session
//! revoked in the file is revoked in PostgreSQL), so running it twice copies nothing twice.
//! Runs on the caller's thread (reading the file) and the backend's runtime (writing).

use std::path::Path;

use tokio_postgres::types::ToSql;

use super::{PgBackend, pg, pool_error};
use crate::error::{DataError, sql};
use crate::schema;

/// Rows read from the file and written to PostgreSQL per transaction.
pub const COPY_CHUNK_ROWS: usize = 500;

/// How one column is read from SQLite and bound for PostgreSQL.
#[derive(Clone, Copy)]
enum Kind {
    /// INTEGER → BIGINT (NULL allowed).
    Int,
    /// TEXT (NULL allowed).
    Text,
    /// REAL → DOUBLE PRECISION (NULL allowed).
    Real,
    /// INTEGER 0/1 → BOOLEAN.
    Bool,
    /// BLOB → BYTEA (NULL allowed).
    Bytes,
}

/// One table to copy.
struct Table {
    /// Its name, for the progress line and the counts.
    name: &'static str,
    /// Its columns, in the order of `kinds`.
    columns: &'static str,
    /// The primary key the file is read in order of.
    order: &'static str,
    /// How each column is read and bound.
    kinds: &'static [Kind],
    /// What PostgreSQL does with a row it has already (after `ON CONFLICT`).
    on_conflict: &'static str,
}

use Kind::{Bool, Bytes, Int, Real, Text};

/// Every table of the schema, parents before children (the foreign keys hold at each step).
const TABLES: &[Table] = &[
    Table {
        name: "players",
        columns: "id, name, name_key, guest, password_hash, created_at",
        order: "id",
        kinds: &[Int, Text, Text, Bool, Text, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "sessions",
        columns: "id, player_id, created_at, revoked_at, user_agent, address, last_seen_at",
        order: "id",
        kinds: &[Int, Int, Int, Int, Text, Text, Int],
        on_conflict: "(id) DO UPDATE SET revoked_at = \
                      coalesce(t.revoked_at, excluded.revoked_at)",
    },
    Table {
        name: "matches",
        columns: "seq, id, game, mode, options, seed, started_at, ended_at, ticks, tick_rate, \
                  reason",
        order: "seq",
        kinds: &[Int, Int, Text, Text, Text, Int, Int, Int, Int, Int, Text],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "match_players",
        columns: "match_seq, position, player_id, name, seat, score, result",
        order: "match_seq, position",
        kinds: &[Int, Int, Int, Text, Text, Int, Text],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "player_stats",
        columns: "player_id, game, name, played, wins, losses, draws, rating, rd, volatility, \
                  rated, best",
        order: "player_id, game",
        kinds: &[
            Int, Text, Text, Int, Int, Int, Int, Real, Real, Real, Int, Int,
        ],
        on_conflict: "(player_id, game) DO UPDATE SET name = excluded.name, \
                      played = excluded.played, wins = excluded.wins, \
                      losses = excluded.losses, draws = excluded.draws, \
                      rating = excluded.rating, rd = excluded.rd, \
                      volatility = excluded.volatility, rated = excluded.rated, \
                      best = excluded.best",
    },
    Table {
        name: "counters",
        columns: "name, value",
        order: "name",
        kinds: &[Text, Int],
        on_conflict: "(name) DO UPDATE SET value = greatest(t.value, excluded.value)",
    },
    Table {
        name: "chat_messages",
        columns: "seq, channel, sender_id, sender_name, text, at, msg_id, deleted_at",
        order: "seq",
        kinds: &[Int, Text, Int, Text, Text, Int, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "friends",
        columns: "player_id, friend_id, created_at",
        order: "player_id, friend_id",
        kinds: &[Int, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "blocks",
        columns: "player_id, blocked_id, created_at",
        order: "player_id, blocked_id",
        kinds: &[Int, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "replays",
        columns: "match_seq, game_version, grace_ticks, final_hash, players, log",
        order: "match_seq",
        kinds: &[Int, Int, Int, Int, Text, Bytes],
        on_conflict: "DO NOTHING",
    },
    // Migration step 7 (`crate::accounts`).
    Table {
        name: "avatars",
        columns: "player_id, png, etag, updated_at",
        order: "player_id",
        kinds: &[Int, Bytes, Text, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "totp_secrets",
        columns: "player_id, secret, enabled_at, last_step, created_at",
        order: "player_id",
        kinds: &[Int, Bytes, Int, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "recovery_codes",
        columns: "player_id, code_hash",
        order: "player_id, code_hash",
        kinds: &[Int, Text],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "ended_sessions",
        columns: "id, ended_at",
        order: "id",
        kinds: &[Int, Int],
        on_conflict: "DO NOTHING",
    },
    // Moderation (step 8, issue 14).
    Table {
        name: "roles",
        columns: "player_id, role, granted_at",
        order: "player_id",
        kinds: &[Int, Text, Int],
        on_conflict: "(player_id) DO UPDATE SET role = excluded.role",
    },
    Table {
        name: "mutes",
        columns: "player_id, until_ms, reason, by_id, created_at",
        order: "player_id",
        kinds: &[Int, Int, Text, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "bans",
        columns: "player_id, until_ms, reason, by_id, created_at",
        order: "player_id",
        kinds: &[Int, Int, Text, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "reports",
        columns: "id, reporter_id, player_id, message_id, reason, created_at, resolved_at, \
                  resolved_by, resolution",
        order: "id",
        kinds: &[Int, Int, Int, Int, Text, Int, Int, Int, Text],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "audit_log",
        columns: "seq, at, actor_id, actor_name, action, target, detail",
        order: "seq",
        kinds: &[Int, Int, Int, Text, Text, Text, Text],
        on_conflict: "DO NOTHING",
    },
    // Tournaments (migration 6).
    Table {
        name: "tournaments",
        columns: "seq, id, host_id, name, game, mode, format, cap, status, settings, starts_at, \
                  bracket, created_at, updated_at",
        order: "seq",
        kinds: &[
            Int, Int, Int, Text, Text, Text, Text, Int, Text, Text, Int, Text, Int, Int,
        ],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "tournament_entries",
        columns: "tournament_id, player_id, name, alias, registered_at, checked_in, withdrawn, \
                  seed, place",
        order: "tournament_id, player_id",
        kinds: &[Int, Int, Text, Text, Int, Bool, Bool, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "tournament_pairings",
        columns: "tournament_id, round, slot, third_place, home_id, away_id, outcome, \
                  home_score, away_score, match_id",
        order: "tournament_id, round, slot, third_place",
        kinds: &[Int, Int, Int, Bool, Int, Int, Text, Int, Int, Int],
        on_conflict: "DO NOTHING",
    },
    Table {
        name: "tournament_matches",
        columns: "match_id, tournament_id, round, slot",
        order: "match_id",
        kinds: &[Int, Int, Int, Int],
        on_conflict: "DO NOTHING",
    },
];

/// The tables whose `seq` is an identity column: moved past the copied seqs afterwards.
const SEQUENCED: &[&str] = &["matches", "chat_messages", "audit_log", "tournaments"];

/// What was copied from one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: &'static str,
    /// Rows in the file.
    pub read: u64,
    /// Rows PostgreSQL did not have before (the rest were there already).
    pub new: u64,
}

/// One value read from the file, ready to bind.
type Cell = Box<dyn ToSql + Send + Sync>;

fn read_cell(row: &rusqlite::Row<'_>, index: usize, kind: Kind) -> rusqlite::Result<Cell> {
    Ok(match kind {
        Int => Box::new(row.get::<_, Option<i64>>(index)?),
        Text => Box::new(row.get::<_, Option<String>>(index)?),
        Real => Box::new(row.get::<_, Option<f64>>(index)?),
        Bool => Box::new(row.get::<_, bool>(index)?),
        Bytes => Box::new(row.get::<_, Option<Vec<u8>>>(index)?),
    })
}

/// Copies every table of the SQLite file `from` (brought to the latest schema first) into the
/// PostgreSQL database `to` (likewise). `progress(table, done, total)` is told after each
/// chunk. Returns the counts, table by table.
pub fn copy_from_sqlite(
    from: &Path,
    to: &str,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<Vec<TableCount>, DataError> {
    if !from.exists() {
        return Err(DataError::Io(format!("{} does not exist", from.display())));
    }
    let mut file = schema::open_writer(from)?;
    schema::migrate(&mut file)?;
    let backend = PgBackend::connect(to)?;
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let total: i64 = file
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |row| {
                row.get(0)
            })
            .map_err(sql)?;
        let total = total.max(0) as u64;
        let mut count = TableCount {
            table: table.name,
            read: 0,
            new: 0,
        };
        progress(table.name, 0, total);
        loop {
            let chunk = read_chunk(&file, table, count.read)?;
            if chunk.is_empty() {
                break;
            }
            count.read += chunk.len() as u64;
            count.new += backend.run(write_chunk(backend.pool.clone(), table, chunk))?;
            progress(table.name, count.read, total);
        }
        counts.push(count);
    }
    backend.run(move_sequences(backend.pool.clone()))?;
    Ok(counts)
}

fn read_chunk(
    file: &rusqlite::Connection,
    table: &Table,
    offset: u64,
) -> Result<Vec<Vec<Cell>>, DataError> {
    let mut select = file
        .prepare_cached(&format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT ?1 OFFSET ?2",
            table.columns, table.name, table.order
        ))
        .map_err(sql)?;
    select
        .query_map([COPY_CHUNK_ROWS as i64, offset as i64], |row| {
            table
                .kinds
                .iter()
                .enumerate()
                .map(|(index, &kind)| read_cell(row, index, kind))
                .collect::<rusqlite::Result<Vec<Cell>>>()
        })
        .and_then(|rows| rows.collect())
        .map_err(sql)
}

/// Writes one chunk in one transaction; returns how many rows were new.
async fn write_chunk(
    pool: deadpool_postgres::Pool,
    table: &'static Table,
    chunk: Vec<Vec<Cell>>,
) -> Result<u64, DataError> {
    let placeholders: Vec<String> = (1..=table.kinds.len()).map(|i| format!("${i}")).collect();
    // `xmax = 0` holds for a row this statement inserted, not for one it updated.
    let insert = format!(
        "INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT {} RETURNING (xmax = 0)",
        table.name,
        table.columns,
        placeholders.join(", "),
        table.on_conflict
    );
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client.transaction().await.map_err(pg)?;
    let statement = tx.prepare_cached(&insert).await.map_err(pg)?;
    let mut new = 0;
    for row in &chunk {
        let params: Vec<&(dyn ToSql + Sync)> = row
            .iter()
            .map(|cell| cell.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let returned = tx.query(&statement, &params).await.map_err(pg)?;
        new += returned
            .iter()
            .filter(|inserted| inserted.get::<_, bool>(0))
            .count() as u64;
    }
    tx.commit().await.map_err(pg)?;
    Ok(new)
}

/// Moves the identity sequences past the copied seqs, so new rows follow them.
async fn move_sequences(pool: deadpool_postgres::Pool) -> Result<(), DataError> {
    let client = pool.get().await.map_err(pool_error)?;
    for table in SEQUENCED {
        client
            .execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'seq'), \
                     coalesce((SELECT max(seq) FROM {table}), 0) + 1, false)"
                ),
                &[],
            )
            .await
            .map_err(pg)?;
    }
    // Reports count by `id`.
    client
        .execute(
            "SELECT setval(pg_get_serial_sequence('reports', 'id'), \
             coalesce((SELECT max(id) FROM reports), 0) + 1, false)",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(())
}
