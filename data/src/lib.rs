//! # arcade-data: the server's storage
//!
//! Players, sessions, finished matches and counters in one SQLite file (the default) or in
//! PostgreSQL (`--database-url`), behind an API that shows no SQL and no driver types.
//!
//! One thread, the writer, owns the only write connection and commits writes in batches; a
//! write is acknowledged only once its batch is on disk. Reads run on pooled read-only
//! connections and never wait for the writer (WAL mode).
//!
//! ## Layout
//! - [`accounts`] — sessions shown and ended, passwords, names, avatars, two-factor secrets
//!   and recovery codes, account deletion (migration step 7): their writes and queries.
//! - [`store`] — [`Store`], the cloneable handle over either backend ([`Database`]): open or
//!   connect, writes, reads, flush and close (the social calls included).
//! - [`pg`] — the PostgreSQL backend: the read pool and its runtime, migrations by
//!   `schema_version`, the writer's connection and batches, every query, and [`pg::copy`]
//!   (`arcade migrate`); `create_fresh_database` for tests.
//! - [`persist`] — the tick-thread system that stores every match that ended this tick.
//! - `writer` — the writer thread: batching, one transaction per batch, acknowledgement after
//!   commit, the per-write duration hook ([`WriteObserver`]).
//! - [`notice`] — [`CommitNotice`] and [`CommitGate`]: work (`match.end`, a chat `ack`) held
//!   until its write is committed, run by the writer thread, never waited on.
//! - `reply` — how a queued write is answered once its batch's commit succeeded or failed.
//! - [`ratings`] — per-game statistics and Glicko-2 ratings, updated with each record;
//!   the player-stats and leaderboard reads.
//! - `read` — the read-connection pool and the queries.
//! - [`social`] — chat history, friends lists and blocks (migration step 3): their writes and
//!   queries.
//! - [`moderation`] — roles, mutes, bans, reports, the audit log, chat message ids and their
//!   soft delete (migration step 8, issue 14), and [`moderation::backup_file`], the online
//!   backup of a SQLite file.
//! - [`guests`] — guests written only when first needed (a friend, a block, a logout), their
//!   purge, and what the database knows of a session ([`guests::SessionState`]).
//! - `sql` — the SQL helpers writer, reads, ratings and social share (`u64_to_sql`,
//!   `in_savepoint`, `player_row`, `VISITS_COUNTER`).
//! - `schema` — connection settings and the migrations (`schema.sql` is step 1).
//! - [`types`] — the values handed in and out ([`StoredMatch`], [`MatchFilter`], [`MatchPage`],
//!   [`Cursor`], [`PlayerRow`], [`SessionId`]), with the wire shapes of PROTOCOL.md.
//! - [`tournaments`] — tournaments, entries, pairings and their matches (migration step 6):
//!   the one save, the queries and the rows (PostgreSQL twins in `pg::tournaments`).
//! - [`live_matches`] — the checkpoints of live matches kept across a restart
//!   (`--keep-live-matches`, migration step 9): saved together, read and deleted at the next
//!   start (PostgreSQL twins in `pg::live_matches`).
//! - [`time`] — Unix milliseconds to and from RFC 3339 (`2026-11-21T23:45:00.123Z`).
//! - [`error`] — [`DataError`].

pub mod accounts;
pub mod error;
pub mod guests;
pub mod live_matches;
pub mod moderation;
pub mod notice;
pub mod persist;
pub mod pg;
pub mod ratings;
mod read;
mod reply;
mod schema;
pub mod social;
mod sql;
pub mod store;
pub mod time;
pub mod tournaments;
pub mod types;
mod writer;

pub use error::DataError;
pub use notice::{CommitGate, CommitNotice};
pub use ratings::{GameStats, LeaderboardRow};
pub use store::{Database, Store};
pub use types::{
    Credentials, Cursor, CursorParseError, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, MatchFilter,
    MatchPage, PlayerRow, SessionId, SessionIdParseError, StoredMatch,
};
pub use writer::WriteObserver;
