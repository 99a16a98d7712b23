//! [`Store`]: the handle the rest of the server holds, over one of two backends: an embedded
//! SQLite file ([`Store::open`], the default) or a PostgreSQL database ([`Store::connect`]).
//! Writes go to the writer thread (module `writer`) whatever the backend; reads run on the
//! caller's thread on a pooled read connection (module `read`) or, on PostgreSQL, on the
//! backend's runtime while the caller waits (module `pg`). Every call but
//! [`Store::record_match`] and [`Store::record_chat`] blocks: async callers wrap them in
//! `spawn_blocking`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arcade_systems::model::{MatchId, MatchRecord, PlayerId};
use crossbeam_channel::Sender;

use crate::error::DataError;
use crate::guests::{GuestWrite, SessionState};
use crate::notice::CommitNotice;
use crate::pg::PgBackend;
use crate::read::{self, ReadPool};
use crate::reply::Reply;
use crate::schema;
use crate::social::{self, ChatLine, ChatPage, Relation, SocialWrite};
use crate::types::{
    Credentials, Cursor, MatchFilter, MatchPage, PlayerRow, SessionId, StoredMatch,
};
use crate::writer::{self, BatchTarget, WriteObserver, WriteOp, WriterShared};

/// The database: cheap to clone (all clones share one writer and one read pool), `Send` and
/// `Sync`. The writer stops when the last clone is dropped (after committing what was
/// queued) or at [`Store::close`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// The writer's queue; `None` only while dropping.
    ops: Option<Sender<WriteOp>>,
    /// The writer thread, until it is joined.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Where reads go. Dropped after the writer is joined (fields drop after `drop`).
    backend: Backend,
    /// What the writer reports back: last write time, lost records, the duration observer.
    shared: Arc<WriterShared>,
}

/// The database behind a [`Store`].
enum Backend {
    /// An embedded SQLite file.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Read-only connections for queries.
        readers: ReadPool,
    },
    /// A PostgreSQL database (boxed: it is much larger than the SQLite variant).
    Postgres(Box<PgBackend>),
}

/// Which database a [`Store`] opens: the `--db` file or the `--database-url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// An embedded SQLite file (created with its folder).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, `postgres://user[:password]@host[:port]/database`.
    Postgres(String),
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue lets the writer commit what it holds and stop; wait for that so
        // that dropping the last handle loses nothing that was queued.
        self.ops.take();
        let handle = self
            .writer
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("database writer panicked");
        }
    }
}

impl Store {
    /// Opens the SQLite database at `path` (creating it and its folder if needed), brings its
    /// schema up to date, and starts the writer thread.
    pub fn open(path: &Path) -> Result<Store, DataError> {
        let mut conn = schema::open_writer(path)?;
        schema::migrate(&mut conn)?;
        let store = Store::start(
            BatchTarget::Sqlite(conn),
            Backend::Sqlite {
                path: path.to_path_buf(),
                readers: ReadPool::new(path.to_path_buf()),
            },
        )?;
        tracing::info!(path = %path.display(), "database open");
        Ok(store)
    }

    /// Connects to the PostgreSQL database at `url` (a pool of connections), brings its schema
    /// up to date, and starts the writer thread. Fails when the database does not answer.
    pub fn connect(url: &str) -> Result<Store, DataError> {
        let backend = PgBackend::connect(url)?;
        let writer = backend.writer()?;
        let location = backend.location().to_owned();
        let store = Store::start(
            BatchTarget::Postgres(Box::new(writer)),
            Backend::Postgres(Box::new(backend)),
        )?;
        tracing::info!(database = %location, "postgres database open");
        Ok(store)
    }

    /// Opens `database`, whichever backend it names.
    pub fn open_database(database: &Database) -> Result<Store, DataError> {
        match database {
            Database::Sqlite(path) => Store::open(path),
            Database::Postgres(url) => Store::connect(url),
        }
    }

    fn start(target: BatchTarget, backend: Backend) -> Result<Store, DataError> {
        let shared = Arc::new(WriterShared::new());
        let (ops, queue) = crossbeam_channel::unbounded();
        let writer = std::thread::Builder::new()
            .name("arcade-db-writer".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || writer::run(target, queue, shared)
            })
            .map_err(|e| DataError::Io(format!("starting the writer thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                ops: Some(ops),
                writer: Mutex::new(Some(writer)),
                backend,
                shared,
            }),
        })
    }

    /// The SQLite database file; `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.backend {
            Backend::Sqlite { path, .. } => Some(path),
            Backend::Postgres(_) => None,
        }
    }

    /// Where the data is, for logs and `/health/details`: the file's path, or the PostgreSQL
    /// URL without its password.
    pub fn location(&self) -> String {
        match &self.inner.backend {
            Backend::Sqlite { path, .. } => path.display().to_string(),
            Backend::Postgres(pg) => pg.location().to_owned(),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match &self.inner.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Runs a read: `sqlite` on a pooled read connection, or `postgres` on a pooled
    /// PostgreSQL connection (on the backend's runtime, the caller waiting).
    pub(crate) fn query<T, Fut>(
        &self,
        sqlite: impl FnOnce(&rusqlite::Connection) -> Result<T, DataError>,
        postgres: impl FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
    ) -> Result<T, DataError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, DataError>> + Send,
    {
        match &self.inner.backend {
            Backend::Sqlite { readers, .. } => readers.with(sqlite),
            Backend::Postgres(pg) => pg.read(postgres),
        }
    }

    // ---- writes -------------------------------------------------------------------------

    pub(crate) fn send(&self, op: WriteOp) -> Result<(), DataError> {
        let ops = self.inner.ops.as_ref().ok_or(DataError::Closed)?;
        ops.send(op).map_err(|_| DataError::Closed)
    }

    /// Queues a write whose caller waits, and waits for its answer (given after the commit).
    pub(crate) fn call<T>(&self, op: impl FnOnce(Reply<T>) -> WriteOp) -> Result<T, DataError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.send(op(reply))?;
        answer.recv().unwrap_or(Err(DataError::Closed))
    }

    /// Stores the history record of a finished match that ended at `ended_at_ms` (Unix ms).
    /// Never blocks (the tick thread calls it): the record is queued and committed within
    /// about 10 ms. A record that cannot be stored is logged and counted
    /// ([`Store::failed_records`]); [`Store::flush`] waits until it is on disk.
    pub fn record_match(&self, record: MatchRecord, ended_at_ms: i64) {
        self.record_match_then(record, ended_at_ms, CommitNotice::none());
    }

    /// [`Store::record_match`], then `notice` settled on the writer thread once the record is
    /// committed (`true`) or lost (`false`): what acknowledges the match (`match.end`) goes
    /// out from there, after the record is on disk.
    pub fn record_match_then(&self, record: MatchRecord, ended_at_ms: i64, notice: CommitNotice) {
        let id = record.id;
        let op = WriteOp::RecordMatch {
            record: Box::new(record),
            ended_at_ms,
            notice,
        };
        // A refused op drops its notice, which settles it as failed.
        if let Err(error) = self.send(op) {
            self.inner.shared.record_lost(id, &error);
        }
    }

    /// Adds one visit and returns the new total, once committed.
    pub fn increment_visits(&self) -> Result<i64, DataError> {
        self.call(|reply| WriteOp::IncrementVisits { reply })
    }

    /// Creates a guest player named `name` with a fresh random id.
    pub fn create_guest(&self, name: &str) -> Result<PlayerRow, DataError> {
        self.call(|reply| WriteOp::CreateGuest {
            name: name.to_owned(),
            reply,
        })
    }

    /// Creates a registered player with a fresh random id. `password_hash` is stored as
    /// given (hashing is the caller's). [`DataError::NameTaken`] if a registered player
    /// already has this name, compared case-insensitively.
    pub fn create_player(&self, name: &str, password_hash: &str) -> Result<PlayerRow, DataError> {
        self.call(|reply| WriteOp::CreatePlayer {
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            reply,
        })
    }

    /// Opens a session (the revocable part of a token) for `player`;
    /// [`DataError::NotFound`] if there is no such player.
    pub fn create_session(&self, player: PlayerId) -> Result<SessionId, DataError> {
        self.call(|reply| WriteOp::CreateSession { player, reply })
    }

    /// Revokes a session: [`Store::session_valid`] is false for it from the moment this
    /// returns. Revoking an unknown or already revoked session does nothing.
    pub fn revoke_session(&self, session: SessionId) -> Result<(), DataError> {
        self.call(|reply| WriteOp::RevokeSession { session, reply })
    }

    /// Waits until every write queued before this call (by any clone) is committed.
    pub fn flush(&self) -> Result<(), DataError> {
        self.call(|reply| WriteOp::Flush { reply })
    }

    /// Commits everything queued so far, stops the writer and waits for its thread. Writes
    /// made afterwards, through any clone, fail with [`DataError::Closed`] (and records are
    /// counted as lost); reads still work. Calling it again returns `Ok`.
    pub fn close(&self) -> Result<(), DataError> {
        let result = match self.call(|reply| WriteOp::Shutdown { reply }) {
            Err(DataError::Closed) => Ok(()),
            other => other,
        };
        let handle = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            return Err(DataError::Io("the database writer panicked".into()));
        }
        result
    }

    /// Tells `observer` how long each write and each commit took (see [`WriteObserver`]),
    /// e.g. to feed `arcade_db_write_duration_seconds{op}`. Replaces any earlier observer.
    pub fn set_write_observer(
        &self,
        observer: impl Fn(&'static str, Duration) + Send + Sync + 'static,
    ) {
        let observer: Arc<WriteObserver> = Arc::new(observer);
        self.inner.shared.set_observer(Some(observer));
    }

    /// Unix ms of the last commit that wrote something, since this store was opened.
    pub fn last_write_at_ms(&self) -> Option<i64> {
        self.inner.shared.last_write_at_ms()
    }

    /// How many match records could not be stored since this store was opened.
    /// Match records held while PostgreSQL is unreachable, to be written when it is back.
    pub fn held_records(&self) -> u64 {
        self.inner.shared.held_records()
    }

    pub fn failed_records(&self) -> u64 {
        self.inner.shared.failed_records()
    }

    /// Whether the writer thread still runs (false after [`Store::close`] or a panic).
    pub fn writer_running(&self) -> bool {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|handle| !handle.is_finished())
    }

    // ---- reads --------------------------------------------------------------------------

    /// The number of visits so far.
    pub fn visits(&self) -> Result<i64, DataError> {
        self.query(read::visits, crate::pg::read::visits)
    }

    /// One finished match, or `None` if it is unknown.
    pub fn get_match(&self, id: MatchId) -> Result<Option<StoredMatch>, DataError> {
        self.query(
            |conn| read::get_match(conn, id),
            move |client| crate::pg::read::get_match(client, id),
        )
    }

    /// A finished match and its replay (issue 16): `None` for an unknown match, `(match,
    /// None)` for one stored without a replay.
    pub fn get_replay(
        &self,
        id: MatchId,
    ) -> Result<Option<(StoredMatch, Option<arcade_systems::replay::Replay>)>, DataError> {
        self.query(
            |conn| read::get_replay(conn, id),
            move |client| crate::pg::read::get_replay(client, id),
        )
    }

    /// The ids of every match stored with a replay, oldest first (`arcade replay verify`).
    pub fn replayed_matches(&self) -> Result<Vec<MatchId>, DataError> {
        self.query(read::replayed_matches, crate::pg::read::replayed_matches)
    }

    /// A page of finished matches, newest first (by the order they were stored). Pass the
    /// page's `next` as the following call's `before`: paging this way shows every match once,
    /// even while new matches are stored between the calls.
    pub fn list_matches(&self, filter: &MatchFilter) -> Result<MatchPage, DataError> {
        let owned = filter.clone();
        self.query(
            |conn| read::list_matches(conn, filter),
            move |client| crate::pg::read::list_matches(client, owned),
        )
    }

    /// A player, or `None` if unknown.
    pub fn get_player(&self, id: PlayerId) -> Result<Option<PlayerRow>, DataError> {
        self.query(
            |conn| read::get_player(conn, id),
            move |client| crate::pg::read::get_player(client, id),
        )
    }

    /// The registered player with this name (case-insensitive) and its password hash.
    pub fn find_credentials(&self, name: &str) -> Result<Option<Credentials>, DataError> {
        let owned = name.to_owned();
        self.query(
            |conn| read::find_credentials(conn, name),
            move |client| crate::pg::read::find_credentials(client, owned),
        )
    }

    /// Whether `session` exists, belongs to `player` and is not revoked.
    pub fn session_valid(&self, session: SessionId, player: PlayerId) -> Result<bool, DataError> {
        self.query(
            |conn| read::session_valid(conn, session, player),
            move |client| crate::pg::read::session_valid(client, session, player),
        )
    }

    /// Every game's statistics and rating of a player (defaults for a game never played).
    pub fn player_stats(
        &self,
        player: PlayerId,
    ) -> Result<Vec<(arcade_systems::model::Game, crate::GameStats)>, DataError> {
        self.query(
            |conn| crate::ratings::player_stats(conn, player),
            move |client| crate::pg::read::player_stats(client, player),
        )
    }

    /// The top `limit` players of `game`: pong by rating (players with a rated match), breakout
    /// by best solo score (players with one).
    pub fn leaderboard(
        &self,
        game: arcade_systems::model::Game,
        limit: u32,
    ) -> Result<Vec<crate::LeaderboardRow>, DataError> {
        self.query(
            |conn| crate::ratings::leaderboard(conn, game, limit),
            move |client| crate::pg::read::leaderboard(client, game, limit),
        )
    }

    // ---- social: chat, friends and blocks ------------------------------------------------

    /// Stores a chat message. Never blocks: the message is queued for the writer and
    /// committed within about 10 ms; one that cannot be stored is logged.
    pub fn record_chat(&self, line: ChatLine) {
        self.record_chat_then(line, CommitNotice::none());
    }

    /// [`Store::record_chat`], then `notice` settled on the writer thread once the message is
    /// committed (`true`) or lost (`false`): the chat `ack` goes out from there.
    pub fn record_chat_then(&self, line: ChatLine, notice: CommitNotice) {
        if let Err(error) = self.send(WriteOp::Social(SocialWrite::RecordChat(
            Box::new(line),
            notice,
        ))) {
            tracing::warn!(%error, "chat message not stored");
        }
    }

    /// Adds (`on`) or removes `other` on `player`'s friends list or block list, once
    /// committed. Answers whether anything changed (adding twice changes nothing);
    /// [`DataError::NotFound`] when either player is unknown or they are the same.
    /// A friend added is a request, a friendship once the other adds back (see
    /// [`Store::has_relation`]); removing a friend removes both directions (unfriends,
    /// withdraws or declines); a block removes both directions; a friend request to a player
    /// who blocks `player` changes nothing.
    pub fn set_relation(
        &self,
        relation: Relation,
        player: PlayerId,
        other: PlayerId,
        on: bool,
    ) -> Result<bool, DataError> {
        self.call(|reply| {
            WriteOp::Social(SocialWrite::Relate {
                relation,
                player,
                other,
                on,
                reply,
            })
        })
    }

    /// A page of a channel's history, newest first; pass `next` as the following `before`.
    pub fn chat_history(
        &self,
        channel: &str,
        before: Option<Cursor>,
        limit: u32,
    ) -> Result<ChatPage, DataError> {
        let owned = channel.to_owned();
        self.query(
            |conn| social::chat_history(conn, channel, before, limit),
            move |client| crate::pg::read::chat_history(client, owned, before, limit),
        )
    }

    /// `player`'s friends (both ways) or blocked players, by name.
    pub fn related(
        &self,
        relation: Relation,
        player: PlayerId,
    ) -> Result<Vec<PlayerRow>, DataError> {
        self.query(
            |conn| social::related(conn, relation, player),
            move |client| crate::pg::read::related(client, relation, player),
        )
    }

    /// Whether `player` and `other` are friends (both ways), or `player` blocks `other`.
    pub fn has_relation(
        &self,
        relation: Relation,
        player: PlayerId,
        other: PlayerId,
    ) -> Result<bool, DataError> {
        self.query(
            |conn| social::has_relation(conn, relation, player, other),
            move |client| crate::pg::read::has_relation(client, relation, player, other),
        )
    }

    /// `player`'s friends, except the players `player` blocks: the audience of `player`'s
    /// presence.
    pub fn followers(&self, player: PlayerId) -> Result<Vec<PlayerId>, DataError> {
        self.query(
            |conn| social::followers(conn, player),
            move |client| crate::pg::read::followers(client, player),
        )
    }

    /// `player`'s pending friend requests, `(incoming, outgoing)`, each by name.
    pub fn friend_requests(
        &self,
        player: PlayerId,
    ) -> Result<(Vec<PlayerRow>, Vec<PlayerRow>), DataError> {
        self.query(
            |conn| social::friend_requests(conn, player),
            move |client| crate::pg::read::friend_requests(client, player),
        )
    }

    // ---- moderation (`crate::moderation`, issue 14) ---------------------------------------

    /// Applies a moderation action and, when it changed something, writes `audit` with it (in
    /// one savepoint), once committed. See [`crate::moderation::ModAction`] for the answers.
    pub fn moderate(
        &self,
        action: crate::moderation::ModAction,
        audit: Option<crate::moderation::AuditEntry>,
    ) -> Result<crate::moderation::Applied, DataError> {
        self.call(|reply| {
            WriteOp::Moderation(crate::moderation::ModWrite {
                action,
                audit,
                reply,
            })
        })
    }

    /// A player's role (`player` when none is stored, or the player is unknown).
    pub fn role(&self, player: PlayerId) -> Result<crate::moderation::Role, DataError> {
        self.query(
            |conn| crate::moderation::role_of(conn, player),
            move |client| crate::pg::moderation::role_of(client, player),
        )
    }

    /// The mute and the ban in force on a player.
    pub fn sanctions(&self, player: PlayerId) -> Result<crate::moderation::Sanctions, DataError> {
        self.query(
            |conn| crate::moderation::sanctions(conn, player),
            move |client| crate::pg::moderation::sanctions(client, player),
        )
    }

    /// Every mute in force: `(player, until_ms)`.
    pub fn active_mutes(&self) -> Result<Vec<(PlayerId, i64)>, DataError> {
        self.query(
            crate::moderation::active_mutes,
            crate::pg::moderation::active_mutes,
        )
    }

    /// A chat message by id, deleted or not.
    pub fn chat_message(
        &self,
        id: crate::moderation::MessageId,
    ) -> Result<Option<crate::moderation::StoredMessage>, DataError> {
        self.query(
            |conn| crate::moderation::chat_message(conn, id),
            move |client| crate::pg::moderation::chat_message(client, id),
        )
    }

    /// A page of open reports, oldest first; pass `next` as the following `after`.
    pub fn open_reports(
        &self,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<crate::moderation::ReportPage, DataError> {
        self.query(
            |conn| crate::moderation::open_reports(conn, after, limit),
            move |client| crate::pg::moderation::open_reports(client, after, limit),
        )
    }

    /// A page of the audit log, newest first; pass `next` as the following `before`.
    pub fn audit(
        &self,
        filter: &crate::moderation::AuditFilter,
    ) -> Result<crate::moderation::AuditPage, DataError> {
        let owned = filter.clone();
        self.query(
            |conn| crate::moderation::audit(conn, filter),
            move |client| crate::pg::moderation::audit(client, owned),
        )
    }

    /// Writes a consistent copy of the SQLite database to `target` while it serves
    /// ([`crate::moderation::backup_file`]) and answers its size in bytes. `None` on
    /// PostgreSQL (`pg_dump` is the tool there).
    pub fn backup(&self, target: &Path) -> Option<Result<u64, DataError>> {
        self.path()
            .map(|source| crate::moderation::backup_file(source, target))
    }

    // ---- tournaments (`crate::tournaments`) ----------------------------------------------

    /// Writes a tournament whole (its row, entries, pairings, and the links of its new
    /// matches), once committed.
    pub fn save_tournament(
        &self,
        save: crate::tournaments::TournamentSave,
    ) -> Result<(), DataError> {
        self.call(|reply| {
            WriteOp::Tournament(crate::tournaments::TournamentWrite::Save(
                Box::new(save),
                reply,
            ))
        })
    }

    /// A tournament with its entries and pairings, or `None`.
    pub fn get_tournament(
        &self,
        id: arcade_systems::model::TournamentId,
    ) -> Result<
        Option<(
            crate::tournaments::StoredTournament,
            Vec<crate::tournaments::PairingRow>,
        )>,
        DataError,
    > {
        self.query(
            |conn| crate::tournaments::get_tournament(conn, id),
            move |client| crate::pg::tournaments::get_tournament(client, id),
        )
    }

    /// Every tournament not over (registration, checkin, running), oldest first: what a
    /// restart resumes.
    pub fn open_tournaments(
        &self,
    ) -> Result<
        Vec<(
            crate::tournaments::StoredTournament,
            Vec<crate::tournaments::PairingRow>,
        )>,
        DataError,
    > {
        self.query(
            crate::tournaments::open_tournaments,
            crate::pg::tournaments::open_tournaments,
        )
    }

    /// A page of tournaments, newest first.
    pub fn list_tournaments(
        &self,
        filter: &crate::tournaments::TournamentFilter,
    ) -> Result<crate::tournaments::TournamentPage, DataError> {
        let owned = filter.clone();
        self.query(
            |conn| crate::tournaments::list_tournaments(conn, filter),
            move |client| crate::pg::tournaments::list_tournaments(client, owned),
        )
    }

    /// A player's tournaments and places, newest first.
    pub fn placings(
        &self,
        player: PlayerId,
    ) -> Result<Vec<crate::tournaments::Placing>, DataError> {
        self.query(
            |conn| crate::tournaments::placings(conn, player),
            move |client| crate::pg::tournaments::placings(client, player),
        )
    }

    /// The tournament and round a match was created for, if any.
    pub fn match_tournament(
        &self,
        id: MatchId,
    ) -> Result<Option<crate::tournaments::TournamentMatch>, DataError> {
        self.query(
            |conn| crate::tournaments::match_tournament(conn, id),
            move |client| crate::pg::tournaments::match_tournament(client, id),
        )
    }

    // ---- live matches kept across a restart (`crate::live_matches`) -----------------------

    /// Writes the checkpoints of the matches live at a stop, all in one transaction, once
    /// committed (a match saved again replaces its row).
    pub fn save_live_matches(
        &self,
        kept: Vec<crate::live_matches::KeptMatch>,
    ) -> Result<(), DataError> {
        self.call(|reply| {
            WriteOp::LiveMatches(crate::live_matches::LiveMatchWrite::Save(kept, reply))
        })
    }

    /// Every kept match, oldest save first: what the next start restores.
    pub fn kept_matches(&self) -> Result<Vec<crate::live_matches::KeptMatch>, DataError> {
        self.query(
            crate::live_matches::kept_matches,
            crate::pg::live_matches::kept_matches,
        )
    }

    /// Deletes the rows of kept matches (once restored), once committed.
    pub fn delete_live_matches(&self, ids: Vec<MatchId>) -> Result<(), DataError> {
        self.call(|reply| {
            WriteOp::LiveMatches(crate::live_matches::LiveMatchWrite::Delete(ids, reply))
        })
    }

    // ---- guests written when first needed (`crate::guests`) ------------------------------

    /// Writes the guest `id` named `name`, once committed, unless that player exists.
    pub fn ensure_guest(&self, id: PlayerId, name: &str) -> Result<(), DataError> {
        self.call(|reply| {
            WriteOp::Guests(GuestWrite::Ensure {
                id,
                name: name.to_owned(),
                reply,
            })
        })
    }

    /// Writes the guest `id` (as [`Store::ensure_guest`]) and its session `session`, revoked.
    pub fn revoke_guest_session(
        &self,
        id: PlayerId,
        name: &str,
        session: SessionId,
    ) -> Result<(), DataError> {
        self.call(|reply| {
            WriteOp::Guests(GuestWrite::Revoke {
                id,
                name: name.to_owned(),
                session,
                reply,
            })
        })
    }

    /// Deletes the guests created before `before_ms` with no friend, block, or session revoked
    /// at or after `revoked_since_ms`; answers how many.
    pub fn purge_guests(&self, before_ms: i64, revoked_since_ms: i64) -> Result<usize, DataError> {
        self.call(|reply| {
            WriteOp::Guests(GuestWrite::Purge {
                before_ms,
                revoked_since_ms,
                reply,
            })
        })
    }

    /// What the database knows of `session` for `player`.
    pub fn session_state(
        &self,
        session: SessionId,
        player: PlayerId,
    ) -> Result<SessionState, DataError> {
        self.query(
            |conn| crate::guests::session_state(conn, session, player),
            move |client| crate::pg::read::session_state(client, session, player),
        )
    }

    /// Whether the database answers (`SELECT 1` on a read connection) and the writer runs.
    pub fn ping(&self) -> bool {
        self.writer_running()
            && self
                .query(read::ping, crate::pg::read::ping)
                .unwrap_or(false)
    }

    /// The PostgreSQL read pool's connections now; `None` on SQLite. Never blocks.
    pub fn pool_status(&self) -> Option<crate::pg::PoolStatus> {
        match &self.inner.backend {
            Backend::Sqlite { .. } => None,
            Backend::Postgres(pg) => Some(pg.pool_status()),
        }
    }

    /// PostgreSQL's circuit breaker (reads fail fast while the database does not answer);
    /// `None` on SQLite. Never blocks.
    pub fn breaker(&self) -> Option<crate::pg::breaker::BreakerStatus> {
        match &self.inner.backend {
            Backend::Sqlite { .. } => None,
            Backend::Postgres(pg) => Some(pg.breaker_status()),
        }
    }

    /// Whether PostgreSQL's circuit breaker fails reads fast now (false on SQLite).
    pub fn breaker_open(&self) -> bool {
        match &self.inner.backend {
            Backend::Sqlite { .. } => false,
            Backend::Postgres(pg) => pg.breaker_open(),
        }
    }

    /// Bytes on disk: the database file and its write-ahead log (on PostgreSQL, the size of
    /// the database on the server).
    pub fn size_bytes(&self) -> u64 {
        let path = match &self.inner.backend {
            Backend::Sqlite { path, .. } => path,
            Backend::Postgres(pg) => {
                return pg.read(crate::pg::read::size_bytes).unwrap_or(0);
            }
        };
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        [path.as_os_str(), wal.as_os_str()]
            .iter()
            .filter_map(|file| std::fs::metadata(file).ok())
            .map(|meta| meta.len())
            .sum()
    }
}

/// Runs `test` on a fresh SQLite store, then on a fresh PostgreSQL database when
/// `ARCADE_TEST_POSTGRES_URL` is set: the unit tests that touch storage run on both backends.
#[cfg(test)]
pub(crate) fn each_store(test: impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&Store::open(&dir.path().join("arcade.db")).unwrap());
    if let Ok(url) = std::env::var("ARCADE_TEST_POSTGRES_URL") {
        let fresh = crate::pg::create_fresh_database(&url, "arcade_unit").unwrap();
        test(&Store::connect(&fresh).unwrap());
    }
}
