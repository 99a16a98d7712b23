//! The writer's batches on PostgreSQL: the twin of `crate::writer`'s SQLite path, run by the
//! writer thread on one connection of its own, driven by a current-thread runtime on the writer
//! thread itself (a statement's round trip then costs no hop between threads). One
//! transaction per batch, each write in its own savepoint (a failing write is rolled back
//! alone), answers only after the commit. A lost connection fails its batch and is opened
//! again for the next one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arcade_systems::model::{ID_BITS_MASK, MatchRecord, Mode, PlayerId, PlayerResult};
use arcade_systems::replay::Replay;
use deadpool_postgres::{ClientWrapper, Transaction};
use futures_util::future::try_join_all;
use tokio::runtime::Runtime;
use tokio_postgres::NoTls;

use super::{POOL_WAIT, is_foreign_key_violation, pg};
use crate::error::DataError;
use crate::guests::GuestWrite;
use crate::live_matches::LiveMatchWrite;
use crate::notice::CommitNotice;
use crate::ratings::{Rating, counted_seats, is_rated, new_ratings};
use crate::reply::{Ack, reply};
use crate::social::{ChatLine, Relation, SocialWrite};
use crate::sql::{VISITS_COUNTER, u64_to_sql};
use crate::time::now_ms;
use crate::types::{PlayerRow, SessionId};
use crate::writer::{ID_ATTEMPTS, WriteOp, WriterShared, random_id, settle};

/// Runs `statement` (prepared once per connection) in `tx`; returns the rows it changed.
async fn execute(
    tx: &Transaction<'_>,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let prepared = tx.prepare_cached(statement).await?;
    tx.execute(&prepared, params).await
}

/// Runs `statement` in `tx` and returns its rows.
async fn query(
    tx: &Transaction<'_>,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, DataError> {
    let prepared = tx.prepare_cached(statement).await.map_err(pg)?;
    tx.query(&prepared, params).await.map_err(pg)
}

/// The writer thread's connection and the current-thread runtime that drives it.
pub(crate) struct PgWriter {
    /// Runs only inside [`PgWriter::apply`], on the writer thread.
    runtime: Runtime,
    /// Where to connect.
    config: tokio_postgres::Config,
    /// The connection (with its statement cache); `None` until opened or after it was lost.
    client: Option<ClientWrapper>,
    /// Match records that arrived while PostgreSQL was unreachable, oldest first: written
    /// ahead of the next batch once it answers again (at most [`HELD_RECORDS_MAX`]).
    held: VecDeque<WriteOp>,
}

/// The most match records held while PostgreSQL is unreachable; past it the newest is lost
/// (logged and counted in `failed_records`).
pub(crate) const HELD_RECORDS_MAX: usize = 10_000;
/// How often the writer tries PostgreSQL again while it holds records.
pub(crate) const HELD_RETRY_EVERY: Duration = Duration::from_secs(1);

impl PgWriter {
    pub(crate) fn new(config: tokio_postgres::Config) -> Result<PgWriter, DataError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DataError::Io(format!("starting the writer's runtime: {e}")))?;
        Ok(PgWriter {
            runtime,
            config,
            client: None,
            held: VecDeque::new(),
        })
    }

    /// How long the writer may wait for new writes before it must try the held records
    /// again; `None` when it holds none.
    pub(crate) fn retry_within(&self) -> Option<Duration> {
        (!self.held.is_empty()).then_some(HELD_RETRY_EVERY)
    }

    /// Applies the held records, then `batch` (emptying it), in one transaction, commits,
    /// then answers. When PostgreSQL cannot be reached, match records are held for the next
    /// try (their `match.end` goes out now) and every other write is refused `unavailable`.
    pub(crate) fn apply(&mut self, batch: &mut Vec<WriteOp>, shared: &WriterShared) {
        let PgWriter {
            runtime,
            config,
            client,
            held,
        } = self;
        runtime.block_on(async {
            if client.as_ref().is_none_or(|c| c.is_closed()) {
                match connect(config).await {
                    Ok(opened) => *client = Some(opened),
                    Err(error) => return hold(held, batch, error, shared),
                }
            }
            let Some(client) = client else { return };
            if !held.is_empty() {
                tracing::info!(
                    records = held.len(),
                    "writing the records held while PostgreSQL was away"
                );
                batch.splice(0..0, held.drain(..));
            }
            if let Err(error) = apply_batch(client, batch, shared).await {
                hold(held, batch, error, shared);
            }
            shared.set_held_records(held.len());
        });
    }
}

/// Keeps the match records of `batch` for a later try and refuses the rest (PostgreSQL is
/// unreachable). A held record's notice is settled now, as failed: its `match.end` goes out
/// without waiting for the database.
fn hold(
    held: &mut VecDeque<WriteOp>,
    batch: &mut Vec<WriteOp>,
    error: DataError,
    shared: &WriterShared,
) {
    let refused = batch
        .iter()
        .filter(|op| !matches!(op, WriteOp::RecordMatch { .. }))
        .count();
    tracing::warn!(%error, refused, held = held.len(), "PostgreSQL is unreachable: holding match records");
    for op in batch.drain(..) {
        match op {
            WriteOp::RecordMatch {
                record,
                ended_at_ms,
                notice,
            } => {
                notice.settle(false);
                if held.len() >= HELD_RECORDS_MAX {
                    shared.record_lost(record.id, &error);
                    continue;
                }
                held.push_back(WriteOp::RecordMatch {
                    record,
                    ended_at_ms,
                    notice: CommitNotice::none(),
                });
            }
            other => other.refuse(error.clone(), shared),
        }
    }
    shared.set_held_records(held.len());
}

/// Opens a connection (bounded by [`POOL_WAIT`]) and spawns its driver on this runtime.
async fn connect(config: &tokio_postgres::Config) -> Result<ClientWrapper, DataError> {
    let (client, connection) = tokio::time::timeout(POOL_WAIT, config.connect(NoTls))
        .await
        .map_err(|_| DataError::Postgres("connecting timed out".into()))?
        .map_err(pg)?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the writer's postgres connection ended");
        }
    });
    Ok(ClientWrapper::new(client, driver))
}

/// Applies `batch` (emptying it) in one transaction on `client`, commits, then answers. When
/// the transaction cannot begin (the connection is gone), the batch is left untouched and the
/// error returned.
async fn apply_batch(
    client: &mut ClientWrapper,
    batch: &mut Vec<WriteOp>,
    shared: &WriterShared,
) -> Result<(), DataError> {
    let observer = shared.observer();
    let observe = |op: &'static str, took: Duration| {
        if let Some(observer) = &observer {
            observer(op, took);
        }
    };
    let wrote = batch.iter().any(WriteOp::writes);
    let mut tx = client.transaction().await.map_err(pg)?;
    let mut acks = Vec::with_capacity(batch.len());
    for op in batch.drain(..) {
        let name = op.name();
        let started = Instant::now();
        let measured = op.writes();
        acks.push(apply(&mut tx, op, shared).await);
        if measured {
            observe(name, started.elapsed());
        }
    }
    let started = Instant::now();
    let commit = tx.commit().await.map_err(pg);
    if wrote {
        observe("commit", started.elapsed());
    }
    settle(acks, commit, wrote, shared);
    Ok(())
}

/// Runs one write in a savepoint of `tx`: kept if it succeeds, rolled back alone if not.
macro_rules! in_savepoint {
    ($tx:expr, |$sp:ident| $write:expr) => {{
        match $tx.savepoint("write").await {
            Err(error) => Err(pg(error)),
            Ok($sp) => {
                let result = $write;
                match result {
                    Ok(value) => $sp.commit().await.map(|()| value).map_err(pg),
                    Err(error) => {
                        let _ = $sp.rollback().await;
                        Err(error)
                    }
                }
            }
        }
    }};
}

/// Applies one write inside its own savepoint of `tx`.
async fn apply(tx: &mut Transaction<'_>, op: WriteOp, shared: &WriterShared) -> Ack {
    match op {
        WriteOp::RecordMatch {
            record,
            ended_at_ms,
            notice,
        } => {
            let id = record.id;
            match in_savepoint!(tx, |sp| insert_match(&sp, &record, ended_at_ms).await) {
                Ok(()) => Ack::Record(id, notice),
                Err(error) => {
                    shared.record_lost(id, &error);
                    Ack::Nothing
                }
            }
        }
        WriteOp::IncrementVisits { reply: to } => {
            reply(to, in_savepoint!(tx, |sp| increment_visits(&sp).await))
        }
        WriteOp::CreateGuest { name, reply: to } => reply(
            to,
            in_savepoint!(tx, |sp| insert_player(&sp, &name, None).await),
        ),
        WriteOp::CreatePlayer {
            name,
            password_hash,
            reply: to,
        } => reply(
            to,
            in_savepoint!(tx, |sp| insert_player(&sp, &name, Some(&password_hash))
                .await),
        ),
        WriteOp::CreateSession { player, reply: to } => reply(
            to,
            in_savepoint!(tx, |sp| insert_session(&sp, player).await),
        ),
        WriteOp::RevokeSession { session, reply: to } => reply(
            to,
            in_savepoint!(tx, |sp| revoke_session(&sp, session).await),
        ),
        WriteOp::Flush { reply: to } | WriteOp::Shutdown { reply: to } => reply(to, Ok(())),
        WriteOp::Social(SocialWrite::RecordChat(line, notice)) => {
            if let Err(error) = in_savepoint!(tx, |sp| insert_chat(&sp, &line).await) {
                // Dropping the notice settles it as failed.
                tracing::warn!(channel = %line.channel, %error, "chat message not stored");
                return Ack::Nothing;
            }
            Ack::Notice(notice)
        }
        WriteOp::Social(SocialWrite::Relate {
            relation,
            player,
            other,
            on,
            reply: to,
        }) => reply(
            to,
            in_savepoint!(tx, |sp| relate(&sp, relation, player, other, on).await),
        ),
        WriteOp::Moderation(op) => crate::pg::moderation::apply(tx, op).await,
        WriteOp::Guests(GuestWrite::Ensure {
            id,
            name,
            reply: to,
        }) => reply(
            to,
            in_savepoint!(tx, |sp| ensure_guest(&sp, id, &name).await),
        ),
        WriteOp::Guests(GuestWrite::Revoke {
            id,
            name,
            session,
            reply: to,
        }) => reply(
            to,
            in_savepoint!(tx, |sp| {
                match ensure_guest(&sp, id, &name).await {
                    Ok(()) => revoke_guest_session(&sp, id, session).await,
                    Err(error) => Err(error),
                }
            }),
        ),
        WriteOp::Tournament(crate::tournaments::TournamentWrite::Save(save, to)) => reply(
            to,
            in_savepoint!(tx, |sp| super::tournaments::save(&sp, &save).await),
        ),
        WriteOp::Guests(GuestWrite::Purge {
            before_ms,
            revoked_since_ms,
            reply: to,
        }) => reply(
            to,
            in_savepoint!(tx, |sp| purge_guests(&sp, before_ms, revoked_since_ms)
                .await),
        ),
        WriteOp::Accounts(op) => super::accounts::apply(tx, op).await,
        WriteOp::LiveMatches(LiveMatchWrite::Save(kept, to)) => reply(
            to,
            in_savepoint!(tx, |sp| super::live_matches::save(&sp, &kept).await),
        ),
        WriteOp::LiveMatches(LiveMatchWrite::Delete(ids, to)) => reply(
            to,
            in_savepoint!(tx, |sp| super::live_matches::delete(&sp, &ids).await),
        ),
    }
}

/// `crate::guests`' `ensure_guest` on PostgreSQL: the guest row unless the id exists.
async fn ensure_guest(tx: &Transaction<'_>, id: PlayerId, name: &str) -> Result<(), DataError> {
    execute(
        tx,
        "INSERT INTO players (id, name, name_key, guest, password_hash, created_at) \
         VALUES ($1, $2, NULL, TRUE, NULL, $3) ON CONFLICT (id) DO NOTHING",
        &[&u64_to_sql(id.0), &name, &now_ms()],
    )
    .await
    .map(|_| ())
    .map_err(pg)
}

/// `crate::guests`' `revoke` on PostgreSQL: the session written revoked, or revoked now.
async fn revoke_guest_session(
    tx: &Transaction<'_>,
    player: PlayerId,
    session: SessionId,
) -> Result<(), DataError> {
    execute(
        tx,
        "INSERT INTO sessions AS s (id, player_id, created_at, revoked_at) \
         VALUES ($1, $2, $3, $3) \
         ON CONFLICT (id) DO UPDATE SET revoked_at = COALESCE(s.revoked_at, $3)",
        &[&u64_to_sql(session.0), &u64_to_sql(player.0), &now_ms()],
    )
    .await
    .map(|_| ())
    .map_err(pg)
}

/// `crate::guests`' `purge` on PostgreSQL; answers how many guests were deleted.
async fn purge_guests(
    tx: &Transaction<'_>,
    before_ms: i64,
    revoked_since_ms: i64,
) -> Result<usize, DataError> {
    let deleted = execute(
        tx,
        "DELETE FROM players WHERE guest AND created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM friends f WHERE f.player_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM friends f WHERE f.friend_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.player_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocked_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.player_id = players.id \
                         AND s.revoked_at >= $2) \
         AND NOT EXISTS (SELECT 1 FROM match_players mp WHERE mp.player_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM chat_messages c WHERE c.sender_id = players.id)",
        &[&before_ms, &revoked_since_ms],
    )
    .await
    .map_err(pg)?;
    // Deleted accounts' sessions, once no token of theirs can still be valid.
    execute(
        tx,
        "DELETE FROM ended_sessions WHERE ended_at < $1",
        &[&revoked_since_ms],
    )
    .await
    .map_err(pg)?;
    Ok(deleted as usize)
}

async fn insert_match(
    tx: &Transaction<'_>,
    record: &MatchRecord,
    ended_at_ms: i64,
) -> Result<(), DataError> {
    let options = serde_json::to_string(&record.options)
        .map_err(|e| DataError::Corrupt(format!("options: {e}")))?;
    let inserted = query(
        tx,
        "INSERT INTO matches (id, game, mode, options, seed, started_at, ended_at, ticks, \
         tick_rate, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        &[
            &u64_to_sql(record.id.0),
            &record.game.as_str(),
            &record.mode.as_str(),
            &options,
            &u64_to_sql(record.seed),
            &record.started_at_ms,
            &ended_at_ms,
            &u64_to_sql(record.ticks),
            &i64::from(record.tick_rate),
            &record.reason.as_str(),
        ],
    )
    .await?;
    let seq: i64 = inserted
        .first()
        .map(|row| row.get(0))
        .ok_or_else(|| DataError::Postgres("no seq returned".into()))?;
    // A guest who played is written now (issue 15: guests are durable once they play).
    for player in &record.players {
        ensure_guest(tx, player.id, &player.name).await?;
    }
    // The seats' inserts are pipelined: sent together, awaited together (one round trip).
    try_join_all(
        record
            .players
            .iter()
            .enumerate()
            .map(|(position, player)| async move {
                execute(
                    tx,
                    "INSERT INTO match_players (match_seq, position, player_id, name, seat, score, \
             result) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &seq,
                        &(position as i64),
                        &u64_to_sql(player.id.0),
                        &player.name,
                        &player.seat.as_str(),
                        &i64::from(player.score),
                        &player.result.as_str(),
                    ],
                )
                .await
            }),
    )
    .await
    .map_err(pg)?;
    // The replay (issue 16) goes in the same savepoint, so the commit that stores the record
    // stores its replay.
    if let Some(replay) = &record.replay {
        insert_replay(tx, seq, replay).await?;
    }
    // Statistics and ratings change in the same savepoint as the record.
    apply_ratings(tx, record).await
}

/// `crate::writer`'s `insert_replay` on PostgreSQL.
async fn insert_replay(
    tx: &Transaction<'_>,
    match_seq: i64,
    replay: &Replay,
) -> Result<(), DataError> {
    let players = serde_json::to_string(&replay.players)
        .map_err(|e| DataError::Corrupt(format!("replay players: {e}")))?;
    execute(
        tx,
        "INSERT INTO replays (match_seq, game_version, grace_ticks, final_hash, players, log) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &match_seq,
            &i64::from(replay.game_version),
            &u64_to_sql(replay.reconnect_grace_ticks),
            &u64_to_sql(replay.final_hash),
            &players,
            &replay.log,
        ],
    )
    .await
    .map(|_| ())
    .map_err(pg)
}

/// `crate::ratings::apply_match` on PostgreSQL.
async fn apply_ratings(tx: &Transaction<'_>, record: &MatchRecord) -> Result<(), DataError> {
    let game = record.game.as_str();
    let counted = counted_seats(record);
    // Each group of per-seat statements is pipelined (sent together, applied in order).
    try_join_all(counted.iter().map(|player| async move {
        let best = (record.mode == Mode::Solo).then_some(i64::from(player.score));
        execute(
            tx,
            "INSERT INTO player_stats AS s (player_id, game, name, played, wins, losses, draws, \
             best) VALUES ($1, $2, $3, 1, $4, $5, $6, $7) \
             ON CONFLICT (player_id, game) DO UPDATE SET name = excluded.name, \
             played = s.played + 1, wins = s.wins + excluded.wins, \
             losses = s.losses + excluded.losses, draws = s.draws + excluded.draws, \
             best = CASE WHEN excluded.best IS NULL THEN s.best WHEN s.best IS NULL \
             THEN excluded.best ELSE greatest(s.best, excluded.best) END",
            &[
                &u64_to_sql(player.id.0),
                &game,
                &player.name,
                &i64::from(player.result == PlayerResult::Win),
                &i64::from(player.result == PlayerResult::Loss),
                &i64::from(player.result == PlayerResult::Draw),
                &best,
            ],
        )
        .await
    }))
    .await
    .map_err(pg)?;
    if !is_rated(record.mode) {
        return Ok(());
    }
    let before = try_join_all(counted.iter().map(|player| async move {
        let found = query(
            tx,
            "SELECT rating, rd, volatility FROM player_stats \
             WHERE player_id = $1 AND game = $2 AND rating IS NOT NULL",
            &[&u64_to_sql(player.id.0), &game],
        )
        .await?;
        Ok::<_, DataError>(found.first().map_or_else(Rating::default, |row| Rating {
            rating: row.get(0),
            rd: row.get(1),
            volatility: row.get(2),
        }))
    }))
    .await?;
    let updates = counted
        .iter()
        .zip(new_ratings(&counted, &before))
        .filter_map(|(player, new)| Some((player, new?)));
    try_join_all(updates.map(|(player, new)| async move {
        execute(
            tx,
            "UPDATE player_stats SET rating = $1, rd = $2, volatility = $3, rated = rated + 1 \
             WHERE player_id = $4 AND game = $5",
            &[
                &new.rating,
                &new.rd,
                &new.volatility,
                &u64_to_sql(player.id.0),
                &game,
            ],
        )
        .await
    }))
    .await
    .map_err(pg)?;
    Ok(())
}

async fn increment_visits(tx: &Transaction<'_>) -> Result<i64, DataError> {
    let found = query(
        tx,
        "INSERT INTO counters AS c (name, value) VALUES ($1, 1) \
         ON CONFLICT (name) DO UPDATE SET value = c.value + 1 RETURNING value",
        &[&VISITS_COUNTER],
    )
    .await?;
    found
        .first()
        .map(|row| row.get(0))
        .ok_or_else(|| DataError::Postgres("no count returned".into()))
}

/// Inserts a guest (`password_hash` None) or a registered player with a fresh random id. A
/// conflict inserts nothing (the savepoint stays usable): a taken name, or an id collision
/// that draws again.
async fn insert_player(
    tx: &Transaction<'_>,
    name: &str,
    password_hash: Option<&str>,
) -> Result<PlayerRow, DataError> {
    let guest = password_hash.is_none();
    let name_key = (!guest).then(|| name.to_lowercase());
    let created_at_ms = now_ms();
    for _ in 0..ID_ATTEMPTS {
        let id = random_id(ID_BITS_MASK)?;
        let inserted = execute(
            tx,
            "INSERT INTO players (id, name, name_key, guest, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &u64_to_sql(id),
                &name,
                &name_key,
                &guest,
                &password_hash,
                &created_at_ms,
            ],
        )
        .await
        .map_err(pg)?;
        if inserted == 1 {
            return Ok(PlayerRow {
                id: PlayerId(id),
                name: name.into(),
                guest,
                created_at_ms,
            });
        }
        if let Some(key) = &name_key {
            let taken = query(
                tx,
                "SELECT EXISTS (SELECT 1 FROM players WHERE name_key = $1)",
                &[key],
            )
            .await?;
            if taken.first().is_some_and(|row| row.get(0)) {
                return Err(DataError::NameTaken);
            }
        }
        // an id collision: draw another
    }
    Err(DataError::Postgres(
        "no free player id after several draws".into(),
    ))
}

pub(crate) async fn insert_session(
    tx: &Transaction<'_>,
    player: PlayerId,
) -> Result<SessionId, DataError> {
    for _ in 0..ID_ATTEMPTS {
        let id = random_id(i64::MAX as u64)?;
        match execute(
            tx,
            "INSERT INTO sessions (id, player_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
            &[&u64_to_sql(id), &u64_to_sql(player.0), &now_ms()],
        )
        .await
        {
            Ok(1) => return Ok(SessionId(id)),
            Ok(_) => {} // an id collision: draw another
            Err(error) if is_foreign_key_violation(&error) => return Err(DataError::NotFound),
            Err(error) => return Err(pg(error)),
        }
    }
    Err(DataError::Postgres(
        "no free session id after several draws".into(),
    ))
}

async fn revoke_session(tx: &Transaction<'_>, session: SessionId) -> Result<(), DataError> {
    execute(
        tx,
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        &[&now_ms(), &u64_to_sql(session.0)],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

async fn insert_chat(tx: &Transaction<'_>, line: &ChatLine) -> Result<(), DataError> {
    ensure_guest(tx, line.sender, &line.sender_name).await?;
    execute(
        tx,
        "INSERT INTO chat_messages (channel, sender_id, sender_name, text, at, msg_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &line.channel,
            &u64_to_sql(line.sender.0),
            &line.sender_name,
            &line.text,
            &line.at_ms,
            &line.id.map(|id| u64_to_sql(id.0)),
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

async fn relate(
    tx: &Transaction<'_>,
    relation: Relation,
    player: PlayerId,
    other: PlayerId,
    on: bool,
) -> Result<bool, DataError> {
    if player == other {
        return Err(DataError::NotFound);
    }
    let (table, column) = relation.table();
    let (player, other) = (u64_to_sql(player.0), u64_to_sql(other.0));
    if on && relation == Relation::Friend && blocks(tx, other, player).await? {
        // Dropped without a trace: the requester is not told of the block.
        return Ok(false);
    }
    let changed = if on {
        let insert = format!(
            "INSERT INTO {table} (player_id, {column}, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING"
        );
        match execute(tx, &insert, &[&player, &other, &now_ms()]).await {
            Ok(changed) => changed,
            Err(error) if is_foreign_key_violation(&error) => return Err(DataError::NotFound),
            Err(error) => return Err(pg(error)),
        }
    } else {
        let delete = format!("DELETE FROM {table} WHERE player_id = $1 AND {column} = $2");
        let mut changed = execute(tx, &delete, &[&player, &other]).await.map_err(pg)?;
        if relation == Relation::Friend {
            // Unfriending, withdrawing and declining all remove both directions.
            changed += delete_friend_rows(tx, other, player).await?;
        }
        changed
    };
    if on && relation == Relation::Block {
        delete_friend_rows(tx, player, other).await?;
        delete_friend_rows(tx, other, player).await?;
    }
    Ok(changed > 0)
}

/// `crate::social`'s `delete_friend_rows` on PostgreSQL.
async fn delete_friend_rows(
    tx: &Transaction<'_>,
    player: i64,
    other: i64,
) -> Result<u64, DataError> {
    execute(
        tx,
        "DELETE FROM friends WHERE player_id = $1 AND friend_id = $2",
        &[&player, &other],
    )
    .await
    .map_err(pg)
}

/// Whether `player` blocks `other`.
async fn blocks(tx: &Transaction<'_>, player: i64, other: i64) -> Result<bool, DataError> {
    let found = query(
        tx,
        "SELECT 1::BIGINT FROM blocks WHERE player_id = $1 AND blocked_id = $2",
        &[&player, &other],
    )
    .await?;
    Ok(!found.is_empty())
}
