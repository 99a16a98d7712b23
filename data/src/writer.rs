//! The writer: one thread that owns the only write connection and applies every write.
//!
//! Writes arrive on an unbounded channel. The thread takes them in batches and applies each
//! batch in ONE transaction, commits it (`synchronous=FULL`: the commit is on disk when it
//! returns), and only then answers the callers that wait. A batch closes when it holds
//! [`BATCH_MAX_OPS`] writes, when [`BATCH_MAX_WAIT`] has passed since its first, or, as soon
//! as a caller waits on one of its writes (or work waits on its commit notice: `match.end`, a
//! chat `ack`), once the channel is momentarily empty (so they pay no batching delay, and
//! writes that queue during a commit share the next one).
//!
//! Each write runs in its own savepoint: one failing write (a taken name, say) is rolled back
//! alone and the rest of its batch still commits.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arcade_systems::model::{ID_BITS_MASK, MatchId, MatchRecord, PlayerId};
use arcade_systems::replay::Replay;
use crossbeam_channel::Receiver;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::error::{DataError, is_foreign_key_violation, is_unique_violation, sql};
use crate::guests::GuestWrite;
use crate::notice::CommitNotice;
use crate::reply::{Ack, Reply, reply};
use crate::social::SocialWrite;
use crate::sql::{VISITS_COUNTER, in_savepoint, u64_to_sql};
use crate::time::now_ms;
use crate::types::{PlayerRow, SessionId};

/// The most writes one transaction holds.
pub(crate) const BATCH_MAX_OPS: usize = 256;
/// How long a batch of fire-and-forget writes waits for more after its first write.
pub(crate) const BATCH_MAX_WAIT: Duration = Duration::from_millis(10);
/// How many random ids a create draws before it gives up on collisions.
pub(crate) const ID_ATTEMPTS: usize = 4;
/// `last_write_at_ms` before the first commit.
const NO_WRITE_YET: i64 = i64::MIN;

/// Told how long each write took: `(op, duration)`. `op` is the write's name
/// (`record_match`, `increment_visits`, `create_guest`, `create_player`, `create_session`,
/// `revoke_session`) for the time its statements took inside the transaction, or `commit` for
/// the time a batch's commit took (the fsync).
pub type WriteObserver = dyn Fn(&'static str, Duration) + Send + Sync;

/// One write, as queued for the writer.
pub(crate) enum WriteOp {
    RecordMatch {
        record: Box<MatchRecord>,
        ended_at_ms: i64,
        /// Settled after the commit (sends `match.end`).
        notice: CommitNotice,
    },
    IncrementVisits {
        reply: Reply<i64>,
    },
    CreateGuest {
        name: String,
        reply: Reply<PlayerRow>,
    },
    CreatePlayer {
        name: String,
        password_hash: String,
        reply: Reply<PlayerRow>,
    },
    CreateSession {
        player: PlayerId,
        reply: Reply<SessionId>,
    },
    RevokeSession {
        session: SessionId,
        reply: Reply<()>,
    },
    /// Chat, friends and blocks (`crate::social`).
    Social(SocialWrite),
    /// Guests written when first needed, and purged (`crate::guests`).
    Guests(GuestWrite),
    /// Sessions, passwords, names, avatars, two-factor sign-in, deletion (`crate::accounts`).
    Accounts(crate::accounts::AccountWrite),
    /// Roles, mutes, bans, reports, deleted messages and their audit rows
    /// (`crate::moderation`).
    Moderation(crate::moderation::ModWrite),
    /// A tournament saved whole (`crate::tournaments`).
    Tournament(crate::tournaments::TournamentWrite),
    /// Live matches kept across a restart (`crate::live_matches`).
    LiveMatches(crate::live_matches::LiveMatchWrite),
    /// Answered once everything queued before it is committed.
    Flush {
        reply: Reply<()>,
    },
    /// Like `Flush`, then the writer stops and refuses what comes after.
    Shutdown {
        reply: Reply<()>,
    },
}

impl WriteOp {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            WriteOp::RecordMatch { .. } => "record_match",
            WriteOp::IncrementVisits { .. } => "increment_visits",
            WriteOp::CreateGuest { .. } => "create_guest",
            WriteOp::CreatePlayer { .. } => "create_player",
            WriteOp::CreateSession { .. } => "create_session",
            WriteOp::RevokeSession { .. } => "revoke_session",
            WriteOp::Social(op) => op.name(),
            WriteOp::Guests(op) => op.name(),
            WriteOp::Accounts(op) => op.name(),
            WriteOp::Moderation(op) => op.name(),
            WriteOp::Tournament(op) => op.name(),
            WriteOp::LiveMatches(op) => op.name(),
            WriteOp::Flush { .. } => "flush",
            WriteOp::Shutdown { .. } => "shutdown",
        }
    }

    /// Whether a caller blocks until this write is answered, or work (`match.end`, a chat
    /// `ack`) waits on its commit notice.
    pub(crate) fn has_waiter(&self) -> bool {
        match self {
            WriteOp::Social(op) => op.has_waiter(),
            WriteOp::Accounts(op) => op.has_waiter(),
            WriteOp::RecordMatch { notice, .. } => notice.is_pending(),
            _ => true,
        }
    }

    /// Whether this write changes the database (flush and shutdown do not).
    pub(crate) fn writes(&self) -> bool {
        !matches!(self, WriteOp::Flush { .. } | WriteOp::Shutdown { .. })
    }

    /// Answers the write with `error` without applying it.
    pub(crate) fn refuse(self, error: DataError, shared: &WriterShared) {
        match self {
            // Dropping the notice settles it as failed.
            WriteOp::RecordMatch { record, .. } => shared.record_lost(record.id, &error),
            WriteOp::IncrementVisits { reply } => drop(reply.send(Err(error))),
            WriteOp::CreateGuest { reply, .. } | WriteOp::CreatePlayer { reply, .. } => {
                drop(reply.send(Err(error)))
            }
            WriteOp::CreateSession { reply, .. } => drop(reply.send(Err(error))),
            WriteOp::RevokeSession { reply, .. }
            | WriteOp::Flush { reply }
            | WriteOp::Shutdown { reply } => drop(reply.send(Err(error))),
            WriteOp::Social(op) => op.refuse(error),
            WriteOp::Guests(op) => op.refuse(error),
            WriteOp::Accounts(op) => op.refuse(error),
            WriteOp::Moderation(op) => op.refuse(error),
            WriteOp::Tournament(op) => op.refuse(error),
            WriteOp::LiveMatches(op) => op.refuse(error),
        }
    }
}

/// What the writer shares with the [`crate::Store`] handles.
pub(crate) struct WriterShared {
    /// Unix ms of the last commit that wrote something ([`NO_WRITE_YET`] before the first).
    last_write_at_ms: AtomicI64,
    /// `record_match` writes that were lost (failed, or their batch failed to commit).
    failed_records: AtomicU64,
    /// Match records held for a database that is unreachable (PostgreSQL), waiting to be
    /// written when it is back.
    held_records: AtomicU64,
    /// Told the duration of every write and commit, when set.
    observer: RwLock<Option<Arc<WriteObserver>>>,
}

impl WriterShared {
    pub(crate) fn new() -> WriterShared {
        WriterShared {
            last_write_at_ms: AtomicI64::new(NO_WRITE_YET),
            failed_records: AtomicU64::new(0),
            held_records: AtomicU64::new(0),
            observer: RwLock::new(None),
        }
    }

    pub(crate) fn last_write_at_ms(&self) -> Option<i64> {
        Some(self.last_write_at_ms.load(Ordering::Relaxed)).filter(|&ms| ms != NO_WRITE_YET)
    }

    pub(crate) fn held_records(&self) -> u64 {
        self.held_records.load(Ordering::Relaxed)
    }

    pub(crate) fn set_held_records(&self, held: usize) {
        self.held_records.store(held as u64, Ordering::Relaxed);
    }

    pub(crate) fn failed_records(&self) -> u64 {
        self.failed_records.load(Ordering::Relaxed)
    }

    pub(crate) fn set_observer(&self, observer: Option<Arc<WriteObserver>>) {
        *self.observer.write().unwrap_or_else(|e| e.into_inner()) = observer;
    }

    pub(crate) fn observer(&self) -> Option<Arc<WriteObserver>> {
        self.observer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts and logs a match record that will never be stored.
    pub(crate) fn record_lost(&self, id: MatchId, error: &DataError) {
        let lost = self.failed_records.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(match_id = %id, %error, lost, "match record lost");
    }
}

/// How the writer applies a batch on its backend (emptying it): one transaction, then answers.
pub(crate) enum BatchTarget {
    /// The one SQLite write connection.
    Sqlite(Connection),
    /// The writer's own PostgreSQL connection (boxed: it is much larger than a SQLite one).
    Postgres(Box<crate::pg::write::PgWriter>),
}

impl BatchTarget {
    fn apply(&mut self, batch: &mut Vec<WriteOp>, shared: &WriterShared) {
        match self {
            BatchTarget::Sqlite(conn) => apply_batch(conn, batch, shared),
            BatchTarget::Postgres(writer) => writer.apply(batch, shared),
        }
    }

    /// How long the writer may wait for new writes before it must try held records again
    /// (PostgreSQL only); `None` when nothing is held.
    fn retry_within(&self) -> Option<Duration> {
        match self {
            BatchTarget::Sqlite(_) => None,
            BatchTarget::Postgres(writer) => writer.retry_within(),
        }
    }
}

/// The writer thread's body: runs until every sender is gone or a `Shutdown` is applied.
pub(crate) fn run(mut target: BatchTarget, ops: Receiver<WriteOp>, shared: Arc<WriterShared>) {
    let mut batch = Vec::with_capacity(BATCH_MAX_OPS);
    loop {
        let first = match target.retry_within() {
            None => ops.recv().ok(),
            Some(wait) => match ops.recv_timeout(wait) {
                Ok(op) => Some(op),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    // Nothing new: try the held records again.
                    target.apply(&mut batch, &shared);
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
            },
        };
        let Some(first) = first else { break };
        let stop = collect(first, &ops, &mut batch);
        target.apply(&mut batch, &shared);
        if stop {
            break;
        }
    }
    for op in ops.try_iter() {
        op.refuse(DataError::Closed, &shared);
    }
    tracing::debug!("database writer stopped");
}

/// Fills `batch` starting with `first` (see the module doc for when it closes). Returns
/// whether the batch ends with a `Shutdown`.
fn collect(first: WriteOp, ops: &Receiver<WriteOp>, batch: &mut Vec<WriteOp>) -> bool {
    let deadline = Instant::now() + BATCH_MAX_WAIT;
    let mut someone_waits = first.has_waiter();
    let mut shutdown = matches!(first, WriteOp::Shutdown { .. });
    batch.push(first);
    while batch.len() < BATCH_MAX_OPS && !shutdown {
        let next = if someone_waits {
            ops.try_recv().ok()
        } else {
            ops.recv_deadline(deadline).ok()
        };
        let Some(op) = next else { break };
        someone_waits |= op.has_waiter();
        shutdown = matches!(op, WriteOp::Shutdown { .. });
        batch.push(op);
    }
    shutdown
}

/// Applies `batch` (emptying it) in one transaction, commits, then answers.
fn apply_batch(conn: &mut Connection, batch: &mut Vec<WriteOp>, shared: &WriterShared) {
    let observer = shared.observer();
    let observe = |op: &'static str, took: Duration| {
        if let Some(observer) = &observer {
            observer(op, took);
        }
    };
    let wrote = batch.iter().any(WriteOp::writes);
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => return refuse_all(batch, sql(error), shared),
    };
    let mut acks = Vec::with_capacity(batch.len());
    for op in batch.drain(..) {
        let name = op.name();
        let started = Instant::now();
        let measured = op.writes();
        acks.push(apply(&mut tx, op, shared));
        if measured {
            observe(name, started.elapsed());
        }
    }
    let started = Instant::now();
    let commit = tx.commit().map_err(sql);
    if wrote {
        observe("commit", started.elapsed());
    }
    settle(acks, commit, wrote, shared);
}

/// Refuses every write of a batch whose transaction could not begin.
pub(crate) fn refuse_all(batch: &mut Vec<WriteOp>, error: DataError, shared: &WriterShared) {
    tracing::error!(%error, ops = batch.len(), "cannot begin a write transaction");
    for op in batch.drain(..) {
        op.refuse(error.clone(), shared);
    }
}

/// After a batch's commit: stamps the write time, then answers every write of the batch
/// (a failed commit fails them all, and its records are counted as lost).
pub(crate) fn settle(
    acks: Vec<Ack>,
    commit: Result<(), DataError>,
    wrote: bool,
    shared: &WriterShared,
) {
    match &commit {
        Ok(()) if wrote => shared.last_write_at_ms.store(now_ms(), Ordering::Relaxed),
        Ok(()) => {}
        Err(error) => tracing::error!(%error, ops = acks.len(), "write transaction failed"),
    }
    for ack in acks {
        match ack {
            Ack::Nothing => {}
            Ack::Record(id, notice) => {
                if let Err(error) = &commit {
                    shared.record_lost(id, error);
                }
                notice.settle(commit.is_ok());
            }
            Ack::Notice(notice) => notice.settle(commit.is_ok()),
            Ack::Reply(answer) => answer(commit.as_ref().map(|_| ())),
        }
    }
}

/// Applies one write inside its own savepoint of `tx`.
fn apply(tx: &mut Transaction<'_>, op: WriteOp, shared: &WriterShared) -> Ack {
    match op {
        WriteOp::RecordMatch {
            record,
            ended_at_ms,
            notice,
        } => {
            let id = record.id;
            match in_savepoint(tx, |conn| insert_match(conn, &record, ended_at_ms)) {
                Ok(()) => Ack::Record(id, notice),
                Err(error) => {
                    shared.record_lost(id, &error);
                    Ack::Nothing
                }
            }
        }
        WriteOp::IncrementVisits { reply: to } => reply(to, in_savepoint(tx, increment_visits)),
        WriteOp::CreateGuest { name, reply: to } => reply(
            to,
            in_savepoint(tx, |conn| insert_player(conn, &name, None)),
        ),
        WriteOp::CreatePlayer {
            name,
            password_hash,
            reply: to,
        } => reply(
            to,
            in_savepoint(tx, |conn| insert_player(conn, &name, Some(&password_hash))),
        ),
        WriteOp::CreateSession { player, reply: to } => {
            reply(to, in_savepoint(tx, |conn| insert_session(conn, player)))
        }
        WriteOp::RevokeSession { session, reply: to } => {
            reply(to, in_savepoint(tx, |conn| revoke_session(conn, session)))
        }
        WriteOp::Flush { reply: to } | WriteOp::Shutdown { reply: to } => reply(to, Ok(())),
        WriteOp::Social(op) => op.apply(tx),
        WriteOp::Guests(op) => op.apply(tx),
        WriteOp::Accounts(op) => op.apply(tx),
        WriteOp::Moderation(op) => op.apply(tx),
        WriteOp::Tournament(op) => op.apply(tx),
        WriteOp::LiveMatches(op) => op.apply(tx),
    }
}

fn insert_match(
    conn: &Connection,
    record: &MatchRecord,
    ended_at_ms: i64,
) -> Result<(), DataError> {
    let options = serde_json::to_string(&record.options)
        .map_err(|e| DataError::Corrupt(format!("options: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO matches (id, game, mode, options, seed, started_at, ended_at, ticks, \
         tick_rate, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            u64_to_sql(record.id.0),
            record.game.as_str(),
            record.mode.as_str(),
            options,
            u64_to_sql(record.seed),
            record.started_at_ms,
            ended_at_ms,
            u64_to_sql(record.ticks),
            record.tick_rate,
            record.reason.as_str(),
        ])
    })
    .map_err(sql)?;
    let seq = conn.last_insert_rowid();
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO match_players (match_seq, position, player_id, name, seat, score, \
             result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(sql)?;
    for (position, player) in record.players.iter().enumerate() {
        // A guest who played is written now (issue 15: guests are durable once they play).
        crate::guests::ensure_guest(conn, player.id, &player.name)?;
        insert
            .execute(params![
                seq,
                position as i64,
                u64_to_sql(player.id.0),
                player.name,
                player.seat.as_str(),
                player.score,
                player.result.as_str(),
            ])
            .map_err(sql)?;
    }
    // The replay (issue 16) goes in the same savepoint, so the commit that stores the record
    // stores its replay.
    if let Some(replay) = &record.replay {
        insert_replay(conn, seq, replay)?;
    }
    // Statistics and ratings change in the same savepoint as the record.
    crate::ratings::apply_match(conn, record)
}

fn insert_replay(conn: &Connection, match_seq: i64, replay: &Replay) -> Result<(), DataError> {
    let players = serde_json::to_string(&replay.players)
        .map_err(|e| DataError::Corrupt(format!("replay players: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO replays (match_seq, game_version, grace_ticks, final_hash, players, log) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            match_seq,
            replay.game_version,
            u64_to_sql(replay.reconnect_grace_ticks),
            u64_to_sql(replay.final_hash),
            players,
            replay.log,
        ])
    })
    .map_err(sql)?;
    Ok(())
}

fn increment_visits(conn: &Connection) -> Result<i64, DataError> {
    conn.prepare_cached(
        "INSERT INTO counters (name, value) VALUES (?1, 1) \
         ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
    )
    .and_then(|mut upsert| upsert.query_row([VISITS_COUNTER], |row| row.get(0)))
    .map_err(sql)
}

/// A random nonzero id of the bits in `mask` (53 for player ids, 63 for sessions).
pub(crate) fn random_id(mask: u64) -> Result<u64, DataError> {
    loop {
        let id = getrandom::u64().map_err(|e| DataError::Io(format!("random id: {e}")))? & mask;
        if id != 0 {
            return Ok(id);
        }
    }
}

/// Inserts a guest (`password_hash` None) or a registered player with a fresh random id.
fn insert_player(
    conn: &Connection,
    name: &str,
    password_hash: Option<&str>,
) -> Result<PlayerRow, DataError> {
    let guest = password_hash.is_none();
    let name_key = (!guest).then(|| name.to_lowercase());
    let created_at_ms = now_ms();
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO players (id, name, name_key, guest, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(sql)?;
    for _ in 0..ID_ATTEMPTS {
        let id = random_id(ID_BITS_MASK)?;
        match insert.execute(params![
            u64_to_sql(id),
            name,
            name_key,
            guest,
            password_hash,
            created_at_ms
        ]) {
            Ok(_) => {
                return Ok(PlayerRow {
                    id: PlayerId(id),
                    name: name.into(),
                    guest,
                    created_at_ms,
                });
            }
            Err(error) if is_unique_violation(&error) => {
                if error.to_string().contains("name_key") {
                    return Err(DataError::NameTaken);
                }
                // an id collision: draw another
            }
            Err(error) => return Err(sql(error)),
        }
    }
    Err(DataError::Sqlite(
        "no free player id after several draws".into(),
    ))
}

pub(crate) fn insert_session(conn: &Connection, player: PlayerId) -> Result<SessionId, DataError> {
    let mut insert = conn
        .prepare_cached("INSERT INTO sessions (id, player_id, created_at) VALUES (?1, ?2, ?3)")
        .map_err(sql)?;
    for _ in 0..ID_ATTEMPTS {
        let id = random_id(i64::MAX as u64)?;
        match insert.execute(params![u64_to_sql(id), u64_to_sql(player.0), now_ms()]) {
            Ok(_) => return Ok(SessionId(id)),
            Err(error) if is_foreign_key_violation(&error) => return Err(DataError::NotFound),
            Err(error) if is_unique_violation(&error) => {} // an id collision: draw another
            Err(error) => return Err(sql(error)),
        }
    }
    Err(DataError::Sqlite(
        "no free session id after several draws".into(),
    ))
}

/// Marks the session revoked; revoking an unknown or already revoked session is a no-op.
fn revoke_session(conn: &Connection, session: SessionId) -> Result<(), DataError> {
    conn.prepare_cached("UPDATE sessions SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")
        .and_then(|mut update| update.execute(params![now_ms(), u64_to_sql(session.0)]))
        .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcade_systems::model::{EndReason, Game, MatchOptions, Mode};

    fn record(id: u64) -> WriteOp {
        WriteOp::RecordMatch {
            record: Box::new(MatchRecord {
                id: MatchId(id),
                game: Game::Breakout,
                mode: Mode::Solo,
                options: MatchOptions::default(),
                seed: id,
                started_at_ms: 0,
                ticks: 1,
                tick_rate: 60,
                reason: EndReason::Lives,
                players: vec![],
                replay: None,
            }),
            ended_at_ms: 1,
            notice: CommitNotice::none(),
        }
    }

    #[test]
    fn a_batch_of_records_waits_a_little_for_more() {
        let (ops, queue) = crossbeam_channel::unbounded();
        ops.send(record(1)).unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(BATCH_MAX_WAIT / 4);
            ops.send(record(2)).unwrap();
            ops
        });
        let mut batch = Vec::new();
        assert!(!collect(queue.recv().unwrap(), &queue, &mut batch));
        assert_eq!(
            batch.len(),
            2,
            "the record sent 2.5 ms later joined the batch"
        );
        drop(late.join());
    }

    #[test]
    fn a_waiting_caller_closes_the_batch_as_soon_as_the_queue_is_empty() {
        let (ops, queue) = crossbeam_channel::unbounded();
        let (reply, _answer) = crossbeam_channel::bounded(1);
        ops.send(record(1)).unwrap();
        ops.send(WriteOp::IncrementVisits { reply }).unwrap();
        ops.send(record(2)).unwrap();
        let started = Instant::now();
        let mut batch = Vec::new();
        assert!(!collect(queue.recv().unwrap(), &queue, &mut batch));
        assert_eq!(batch.len(), 3);
        assert!(
            started.elapsed() < BATCH_MAX_WAIT,
            "did not wait for the window"
        );
    }

    #[test]
    fn a_batch_holds_at_most_the_bound_and_stops_at_shutdown() {
        let (ops, queue) = crossbeam_channel::unbounded();
        for id in 0..BATCH_MAX_OPS as u64 + 10 {
            ops.send(record(id)).unwrap();
        }
        let mut batch = Vec::new();
        assert!(!collect(queue.recv().unwrap(), &queue, &mut batch));
        assert_eq!(batch.len(), BATCH_MAX_OPS);
        batch.clear();
        let (reply, _answer) = crossbeam_channel::bounded(1);
        ops.send(WriteOp::Shutdown { reply }).unwrap();
        ops.send(record(9999)).unwrap();
        assert!(collect(queue.recv().unwrap(), &queue, &mut batch));
        assert_eq!(
            batch.len(),
            11,
            "the 10 left over and the shutdown, not what follows"
        );
    }
}
