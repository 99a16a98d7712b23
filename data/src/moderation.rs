//! Moderation storage (migration step 8, `migrations/0008_moderation.sql`; issue 14): roles,
//! mutes, bans, reports, the audit log and the soft delete of chat messages. Writes run on the
//! writer thread (one [`ModWrite`] is the action and its audit row, in one savepoint); reads run
//! on the caller's thread. The PostgreSQL twin is `crate::pg::moderation`, with the same SQL
//! (the statements here use `$n` parameters, in order, which both backends read).
//!
//! - A role is a row of `roles` (`moderator` or `admin`); no row is a `player`.
//! - A mute or a ban is one row per player, replaced by a new one; a row whose `until_ms` has
//!   passed is no sanction (a ban with no end lasts for good).
//! - A report names a player and, for a message, the message; open until resolved.
//! - Every moderator and admin action that changed something is one `audit_log` row, written
//!   in the same savepoint as the change.

use std::fmt;
use std::str::FromStr;

use arcade_systems::model::PlayerId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{DataError, is_foreign_key_violation, sql};
use crate::reply::{Ack, Reply, reply};
use crate::sql::{in_savepoint, u64_from_sql, u64_to_sql};
use crate::time::now_ms;
use crate::types::Cursor;

/// The most rows one page of reports or audit entries holds.
pub const MAX_MOD_PAGE: u32 = 100;
/// The page size of reports and audit entries when the caller gives none.
pub const DEFAULT_MOD_PAGE: u32 = 50;
/// Chat message ids are drawn at or above this (older messages got their insert order, which
/// stays below it).
pub const MESSAGE_ID_FLOOR: u64 = 1 << 40;

/// How long a backup waits before it tries again when the database is busy.
const BACKUP_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// What a player may do: every player is a `player`; moderators and admins are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Role {
    #[default]
    Player,
    Moderator,
    Admin,
}

impl Role {
    /// `player`, `moderator` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Player => "player",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not `player`, `moderator` or `admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a role is player, moderator or admin")]
pub struct RoleParseError;

impl FromStr for Role {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "player" => Ok(Role::Player),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            _ => Err(RoleParseError),
        }
    }
}

/// An id with a two-letter prefix and 16 lowercase hex digits on the wire.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:016x}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s.strip_prefix($prefix).ok_or(IdError)?;
                if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(IdError);
                }
                u64::from_str_radix(hex, 16).map($name).map_err(|_| IdError)
            }
        }
    };
}

/// A string that is not an id of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an id")]
pub struct IdError;

prefixed_id!(
    /// A chat message's id, `c_` and 16 hex digits.
    MessageId,
    "c_"
);
prefixed_id!(
    /// A report's id, `r_` and 16 hex digits.
    ReportId,
    "r_"
);

impl MessageId {
    /// A fresh random id for a new message (at or above [`MESSAGE_ID_FLOOR`], below 2^53).
    pub fn random() -> MessageId {
        let mask = arcade_systems::model::ID_BITS_MASK;
        let drawn = crate::writer::random_id(mask).unwrap_or(1) & mask;
        MessageId(drawn | MESSAGE_ID_FLOOR)
    }
}

/// A mute or a ban in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sanction {
    /// Unix ms when it ends; `None`: never (a ban for good).
    pub until_ms: Option<i64>,
    pub reason: String,
    /// Who imposed it.
    pub by: PlayerId,
    /// Unix ms when it was imposed.
    pub at_ms: i64,
}

/// The mute and the ban in force on a player.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sanctions {
    pub mute: Option<Sanction>,
    pub ban: Option<Sanction>,
}

/// A stored chat message, looked up by id (deleted ones too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: MessageId,
    /// The channel's storage key.
    pub channel: String,
    pub sender: PlayerId,
    pub sender_name: String,
    pub text: String,
    pub at_ms: i64,
    /// Whether a moderator deleted it.
    pub deleted: bool,
}

/// A report to file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReport {
    pub reporter: PlayerId,
    /// The reported player (a message's sender).
    pub player: PlayerId,
    /// The reported message, if a message is reported.
    pub message: Option<MessageId>,
    pub reason: String,
}

/// A stored report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub id: ReportId,
    pub report: NewReport,
    pub at_ms: i64,
    /// `(when, by whom, note)` once resolved.
    pub resolved: Option<(i64, PlayerId, String)>,
}

/// A page of open reports, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPage {
    pub reports: Vec<Report>,
    /// Where the next page starts (`after` of the following call).
    pub next: Option<Cursor>,
}

/// One moderator or admin action, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: PlayerId,
    /// The actor's name at the time.
    pub actor_name: String,
    /// `role.set`, `message.delete`, `player.mute`, `player.unmute`, `player.ban`,
    /// `player.unban`, `report.resolve`, `match.abort`, `backup`.
    pub action: String,
    /// The id acted on, if any.
    pub target: Option<String>,
    /// For humans: the reason, the duration, the role.
    pub detail: String,
}

/// A stored audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub entry: AuditEntry,
    pub at_ms: i64,
    /// Where the page after this entry starts (older entries).
    pub cursor: Cursor,
}

/// Which audit entries to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<PlayerId>,
    pub action: Option<String>,
    /// Only entries at or after this Unix ms.
    pub since_ms: Option<i64>,
    pub before: Option<Cursor>,
    pub limit: u32,
}

/// A page of the audit log, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditRow>,
    pub next: Option<Cursor>,
}

/// What a moderation write changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModAction {
    /// Sets a player's role ([`Role::Player`] removes the row). [`DataError::NotFound`] for an
    /// unknown player.
    SetRole { player: PlayerId, role: Role },
    /// Soft-deletes a message. `NotFound` for an unknown id; unchanged when already deleted.
    DeleteMessage(MessageId),
    /// Mutes or bans a player until `until_ms` (a ban may last for good: `None`), replacing
    /// the one in force. `NotFound` for an unknown player.
    Sanction {
        kind: SanctionKind,
        player: PlayerId,
        until_ms: Option<i64>,
        reason: String,
        by: PlayerId,
    },
    /// Ends a player's mute or ban; unchanged when none is in force.
    Lift(SanctionKind, PlayerId),
    /// Files a report ([`Applied::Created`] with its id); unchanged when the reporter has an
    /// open report on the same player and message already; `NotFound` for an unknown player.
    Report(NewReport),
    /// Resolves an open report; unchanged when it is resolved already, `NotFound` if unknown.
    Resolve {
        report: ReportId,
        by: PlayerId,
        note: String,
    },
    /// Changes nothing but the audit log (a match aborted, a backup taken).
    Note,
}

/// A mute (chat refused) or a ban (no entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanctionKind {
    Mute,
    Ban,
}

impl SanctionKind {
    /// The statements that impose and lift it.
    pub(crate) fn statements(self) -> (&'static str, &'static str) {
        match self {
            SanctionKind::Mute => (SQL_MUTE, SQL_UNMUTE),
            SanctionKind::Ban => (SQL_BAN, SQL_UNBAN),
        }
    }
}

/// What a moderation write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// It changed what it names (its audit row is written).
    Changed,
    /// It was so already (nothing written).
    Unchanged,
    /// A new row with this id (a report).
    Created(u64),
}

/// A moderation write, as queued for the writer: the action, and the audit row written with it
/// when it changes something.
pub(crate) struct ModWrite {
    pub(crate) action: ModAction,
    pub(crate) audit: Option<AuditEntry>,
    pub(crate) reply: Reply<Applied>,
}

impl ModWrite {
    pub(crate) fn name(&self) -> &'static str {
        match self.action {
            ModAction::SetRole { .. } => "set_role",
            ModAction::DeleteMessage(_) => "delete_message",
            ModAction::Sanction { .. } | ModAction::Lift(..) => "sanction",
            ModAction::Report(_) | ModAction::Resolve { .. } => "report",
            ModAction::Note => "audit",
        }
    }

    pub(crate) fn refuse(self, error: DataError) {
        drop(self.reply.send(Err(error)));
    }

    /// Applies the write inside its own savepoint of the writer's transaction.
    pub(crate) fn apply(self, tx: &mut rusqlite::Transaction<'_>) -> Ack {
        let ModWrite {
            action,
            audit,
            reply: to,
        } = self;
        reply(
            to,
            in_savepoint(tx, |conn| {
                let applied = apply_action(conn, &action)?;
                if applied != Applied::Unchanged
                    && let Some(entry) = &audit
                {
                    insert_audit(conn, entry)?;
                }
                Ok(applied)
            }),
        )
    }
}

// ---- the statements (both backends) ----------------------------------------------------------

pub(crate) const SQL_PLAYER_EXISTS: &str = "SELECT 1 FROM players WHERE id = $1";
pub(crate) const SQL_ROLE: &str = "SELECT role FROM roles WHERE player_id = $1";
pub(crate) const SQL_SET_ROLE: &str = "INSERT INTO roles (player_id, role, granted_at) \
     VALUES ($1, $2, $3) ON CONFLICT (player_id) DO UPDATE SET role = excluded.role, \
     granted_at = excluded.granted_at";
pub(crate) const SQL_DROP_ROLE: &str = "DELETE FROM roles WHERE player_id = $1";
pub(crate) const SQL_MESSAGE: &str = "SELECT msg_id, channel, sender_id, sender_name, text, at, \
     deleted_at FROM chat_messages WHERE msg_id = $1";
pub(crate) const SQL_DELETE_MESSAGE: &str =
    "UPDATE chat_messages SET deleted_at = $1 WHERE msg_id = $2 AND deleted_at IS NULL";
pub(crate) const SQL_MUTE: &str = "INSERT INTO mutes (player_id, until_ms, reason, by_id, \
     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (player_id) DO UPDATE SET \
     until_ms = excluded.until_ms, reason = excluded.reason, by_id = excluded.by_id, \
     created_at = excluded.created_at";
pub(crate) const SQL_UNMUTE: &str = "DELETE FROM mutes WHERE player_id = $1 AND until_ms > $2";
pub(crate) const SQL_BAN: &str = "INSERT INTO bans (player_id, until_ms, reason, by_id, \
     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (player_id) DO UPDATE SET \
     until_ms = excluded.until_ms, reason = excluded.reason, by_id = excluded.by_id, \
     created_at = excluded.created_at";
pub(crate) const SQL_UNBAN: &str =
    "DELETE FROM bans WHERE player_id = $1 AND (until_ms IS NULL OR until_ms > $2)";
pub(crate) const SQL_OPEN_REPORT_EXISTS: &str = "SELECT 1 FROM reports WHERE reporter_id = $1 \
     AND player_id = $2 AND coalesce(message_id, 0) = $3 AND resolved_at IS NULL";
pub(crate) const SQL_INSERT_REPORT: &str = "INSERT INTO reports (reporter_id, player_id, \
     message_id, reason, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
pub(crate) const SQL_REPORT_STATE: &str = "SELECT resolved_at FROM reports WHERE id = $1";
pub(crate) const SQL_RESOLVE: &str = "UPDATE reports SET resolved_at = $1, resolved_by = $2, \
     resolution = $3 WHERE id = $4 AND resolved_at IS NULL";
pub(crate) const SQL_INSERT_AUDIT: &str = "INSERT INTO audit_log (at, actor_id, actor_name, \
     action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const SQL_MUTE_OF: &str =
    "SELECT until_ms, reason, by_id, created_at FROM mutes WHERE player_id = $1 AND until_ms > $2";
pub(crate) const SQL_BAN_OF: &str = "SELECT until_ms, reason, by_id, created_at FROM bans \
     WHERE player_id = $1 AND (until_ms IS NULL OR until_ms > $2)";
pub(crate) const SQL_ACTIVE_MUTES: &str =
    "SELECT player_id, until_ms FROM mutes WHERE until_ms > $1";
pub(crate) const SQL_OPEN_REPORTS: &str = "SELECT id, reporter_id, player_id, message_id, \
     reason, created_at FROM reports WHERE resolved_at IS NULL AND id > $1 ORDER BY id LIMIT $2";
pub(crate) const SQL_AUDIT: &str = "SELECT seq, at, actor_id, actor_name, action, target, detail \
     FROM audit_log WHERE seq < $1 AND (CAST($2 AS BIGINT) = 0 OR actor_id = $2) AND (CAST($3 AS TEXT) = '' OR action = $3) \
     AND at >= $4 ORDER BY seq DESC LIMIT $5";

/// The parameters of [`SQL_AUDIT`] after the cursor: `(actor or 0, action or '', since,
/// rows to fetch)`.
pub(crate) fn audit_params(filter: &AuditFilter) -> (i64, i64, String, i64, i64) {
    (
        filter.before.map_or(i64::MAX, |cursor| cursor.0),
        filter.actor.map_or(0, |actor| u64_to_sql(actor.0)),
        filter.action.clone().unwrap_or_default(),
        filter.since_ms.unwrap_or(i64::MIN),
        i64::from(filter.limit.clamp(1, MAX_MOD_PAGE)) + 1,
    )
}

/// A role as stored (`moderator`, `admin`); anything else reads as a player.
pub(crate) fn role_from_sql(text: Option<String>) -> Role {
    text.and_then(|text| text.parse().ok())
        .unwrap_or(Role::Player)
}

// ---- SQLite ----------------------------------------------------------------------------------

fn exists(conn: &Connection, statement: &str, id: i64) -> Result<bool, DataError> {
    conn.prepare_cached(statement)
        .and_then(|mut select| select.query_row([id], |_| Ok(())).optional())
        .map(|found| found.is_some())
        .map_err(sql)
}

fn changed(count: usize) -> Applied {
    if count > 0 {
        Applied::Changed
    } else {
        Applied::Unchanged
    }
}

/// A write whose unknown player shows as a foreign key violation.
fn execute_for_player(
    conn: &Connection,
    statement: &str,
    params: impl rusqlite::Params,
) -> Result<usize, DataError> {
    match conn
        .prepare_cached(statement)
        .and_then(|mut write| write.execute(params))
    {
        Ok(count) => Ok(count),
        Err(error) if is_foreign_key_violation(&error) => Err(DataError::NotFound),
        Err(error) => Err(sql(error)),
    }
}

fn apply_action(conn: &Connection, action: &ModAction) -> Result<Applied, DataError> {
    let now = now_ms();
    match action {
        ModAction::SetRole { player, role } => {
            let id = u64_to_sql(player.0);
            if !exists(conn, SQL_PLAYER_EXISTS, id)? {
                return Err(DataError::NotFound);
            }
            if role_of(conn, *player)? == *role {
                return Ok(Applied::Unchanged);
            }
            if *role == Role::Player {
                execute_for_player(conn, SQL_DROP_ROLE, params![id])?;
            } else {
                execute_for_player(conn, SQL_SET_ROLE, params![id, role.as_str(), now])?;
            }
            Ok(Applied::Changed)
        }
        ModAction::DeleteMessage(message) => {
            let id = u64_to_sql(message.0);
            if chat_message(conn, *message)?.is_none() {
                return Err(DataError::NotFound);
            }
            execute_for_player(conn, SQL_DELETE_MESSAGE, params![now, id]).map(changed)
        }
        ModAction::Sanction {
            kind,
            player,
            until_ms,
            reason,
            by,
        } => execute_for_player(
            conn,
            kind.statements().0,
            params![
                u64_to_sql(player.0),
                until_ms,
                reason,
                u64_to_sql(by.0),
                now
            ],
        )
        .map(|_| Applied::Changed),
        ModAction::Lift(kind, player) => execute_for_player(
            conn,
            kind.statements().1,
            params![u64_to_sql(player.0), now],
        )
        .map(changed),
        ModAction::Report(report) => {
            let player = u64_to_sql(report.player.0);
            if !exists(conn, SQL_PLAYER_EXISTS, player)? {
                return Err(DataError::NotFound);
            }
            let message = report.message.map_or(0, |id| u64_to_sql(id.0));
            let open = conn
                .prepare_cached(SQL_OPEN_REPORT_EXISTS)
                .and_then(|mut select| {
                    select
                        .query_row(
                            params![u64_to_sql(report.reporter.0), player, message],
                            |_| Ok(()),
                        )
                        .optional()
                })
                .map_err(sql)?;
            if open.is_some() {
                return Ok(Applied::Unchanged);
            }
            let message = report.message.map(|id| u64_to_sql(id.0));
            conn.prepare_cached(SQL_INSERT_REPORT)
                .and_then(|mut insert| {
                    insert.query_row(
                        params![
                            u64_to_sql(report.reporter.0),
                            player,
                            message,
                            report.reason,
                            now
                        ],
                        |row| row.get::<_, i64>(0),
                    )
                })
                .map(|id| Applied::Created(u64_from_sql(id)))
                .map_err(sql)
        }
        ModAction::Resolve { report, by, note } => {
            let id = u64_to_sql(report.0);
            let state = conn
                .prepare_cached(SQL_REPORT_STATE)
                .and_then(|mut select| {
                    select
                        .query_row([id], |row| row.get::<_, Option<i64>>(0))
                        .optional()
                })
                .map_err(sql)?;
            match state {
                None => Err(DataError::NotFound),
                Some(Some(_)) => Ok(Applied::Unchanged),
                Some(None) => {
                    execute_for_player(conn, SQL_RESOLVE, params![now, u64_to_sql(by.0), note, id])
                        .map(changed)
                }
            }
        }
        ModAction::Note => Ok(Applied::Changed),
    }
}

fn insert_audit(conn: &Connection, entry: &AuditEntry) -> Result<(), DataError> {
    conn.prepare_cached(SQL_INSERT_AUDIT)
        .and_then(|mut insert| {
            insert.execute(params![
                now_ms(),
                u64_to_sql(entry.actor.0),
                entry.actor_name,
                entry.action,
                entry.target,
                entry.detail
            ])
        })
        .map(|_| ())
        .map_err(sql)
}

pub(crate) fn role_of(conn: &Connection, player: PlayerId) -> Result<Role, DataError> {
    conn.prepare_cached(SQL_ROLE)
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(player.0)], |row| row.get::<_, String>(0))
                .optional()
        })
        .map(role_from_sql)
        .map_err(sql)
}

fn sanction_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Sanction> {
    Ok(Sanction {
        until_ms: row.get(0)?,
        reason: row.get(1)?,
        by: PlayerId(u64_from_sql(row.get(2)?)),
        at_ms: row.get(3)?,
    })
}

pub(crate) fn sanctions(conn: &Connection, player: PlayerId) -> Result<Sanctions, DataError> {
    let now = now_ms();
    let one = |statement: &str| {
        conn.prepare_cached(statement)
            .and_then(|mut select| {
                select
                    .query_row(params![u64_to_sql(player.0), now], sanction_row)
                    .optional()
            })
            .map_err(sql)
    };
    Ok(Sanctions {
        mute: one(SQL_MUTE_OF)?,
        ban: one(SQL_BAN_OF)?,
    })
}

pub(crate) fn active_mutes(conn: &Connection) -> Result<Vec<(PlayerId, i64)>, DataError> {
    conn.prepare_cached(SQL_ACTIVE_MUTES)
        .and_then(|mut select| {
            select
                .query_map([now_ms()], |row| {
                    Ok((PlayerId(u64_from_sql(row.get(0)?)), row.get(1)?))
                })?
                .collect()
        })
        .map_err(sql)
}

pub(crate) fn chat_message(
    conn: &Connection,
    id: MessageId,
) -> Result<Option<StoredMessage>, DataError> {
    conn.prepare_cached(SQL_MESSAGE)
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(id.0)], |row| {
                    Ok(StoredMessage {
                        id: MessageId(u64_from_sql(row.get(0)?)),
                        channel: row.get(1)?,
                        sender: PlayerId(u64_from_sql(row.get(2)?)),
                        sender_name: row.get(3)?,
                        text: row.get(4)?,
                        at_ms: row.get(5)?,
                        deleted: row.get::<_, Option<i64>>(6)?.is_some(),
                    })
                })
                .optional()
        })
        .map_err(sql)
}

pub(crate) fn open_reports(
    conn: &Connection,
    after: Option<Cursor>,
    limit: u32,
) -> Result<ReportPage, DataError> {
    let limit = limit.clamp(1, MAX_MOD_PAGE);
    let mut reports: Vec<Report> = conn
        .prepare_cached(SQL_OPEN_REPORTS)
        .and_then(|mut select| {
            select
                .query_map(
                    params![after.map_or(0, |c| c.0), i64::from(limit) + 1],
                    |row| {
                        Ok(Report {
                            id: ReportId(u64_from_sql(row.get(0)?)),
                            report: NewReport {
                                reporter: PlayerId(u64_from_sql(row.get(1)?)),
                                player: PlayerId(u64_from_sql(row.get(2)?)),
                                message: row
                                    .get::<_, Option<i64>>(3)?
                                    .map(|id| MessageId(u64_from_sql(id))),
                                reason: row.get(4)?,
                            },
                            at_ms: row.get(5)?,
                            resolved: None,
                        })
                    },
                )?
                .collect()
        })
        .map_err(sql)?;
    let next = crate::read::end_page(&mut reports, limit, |report| u64_to_sql(report.id.0));
    Ok(ReportPage { reports, next })
}

pub(crate) fn audit(conn: &Connection, filter: &AuditFilter) -> Result<AuditPage, DataError> {
    let (before, actor, action, since, fetch) = audit_params(filter);
    let mut entries: Vec<AuditRow> = conn
        .prepare_cached(SQL_AUDIT)
        .and_then(|mut select| {
            select
                .query_map(params![before, actor, action, since, fetch], |row| {
                    Ok(AuditRow {
                        cursor: Cursor(row.get(0)?),
                        at_ms: row.get(1)?,
                        entry: AuditEntry {
                            actor: PlayerId(u64_from_sql(row.get(2)?)),
                            actor_name: row.get(3)?,
                            action: row.get(4)?,
                            target: row.get(5)?,
                            detail: row.get(6)?,
                        },
                    })
                })?
                .collect()
        })
        .map_err(sql)?;
    let next = crate::read::end_page(&mut entries, filter.limit.clamp(1, MAX_MOD_PAGE), |row| {
        row.cursor.0
    });
    Ok(AuditPage { entries, next })
}

/// Copies the SQLite database at `source` to a new file at `target` with SQLite's online
/// backup API, in one step (one read transaction: a consistent copy of every commit made before
/// it started, while the server goes on writing). Answers the copy's size in bytes. Refuses a
/// `target` that exists.
pub fn backup_file(source: &std::path::Path, target: &std::path::Path) -> Result<u64, DataError> {
    if target.exists() {
        return Err(DataError::Io(format!(
            "{} exists already",
            target.display()
        )));
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let from = Connection::open_with_flags(source, flags).map_err(sql)?;
    from.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    let mut to = Connection::open(target).map_err(sql)?;
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut to).map_err(sql)?;
        // -1: every page in one step, so one read transaction sees one state.
        loop {
            match backup.step(-1).map_err(sql)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                _ => std::thread::sleep(BACKUP_RETRY),
            }
        }
    }
    // The copy is a plain rollback-journal file until the server opens it (and sets WAL).
    drop(to);
    std::fs::metadata(target)
        .map(|meta| meta.len())
        .map_err(|e| DataError::Io(format!("reading {}: {e}", target.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::social::ChatLine;

    fn entry(actor: PlayerId, action: &str) -> AuditEntry {
        AuditEntry {
            actor,
            actor_name: "mod".into(),
            action: action.into(),
            target: None,
            detail: String::new(),
        }
    }

    #[test]
    fn ids_read_back_as_written() {
        let id = MessageId(0x1234);
        assert_eq!(id.to_string(), "c_0000000000001234");
        assert_eq!("c_0000000000001234".parse(), Ok(id));
        for bad in ["c_1234", "r_0000000000001234", "c_000000000000123G", ""] {
            assert!(bad.parse::<MessageId>().is_err(), "{bad}");
        }
        assert_eq!("r_00000000000000ff".parse(), Ok(ReportId(255)));
        assert!(MessageId::random().0 >= MESSAGE_ID_FLOOR);
        assert_eq!("admin".parse(), Ok(Role::Admin));
        assert!(Role::Admin > Role::Moderator && Role::Moderator > Role::Player);
    }

    #[test]
    fn roles_mutes_and_bans_are_kept_and_audited() {
        crate::store::each_store(|store| {
            let ada = store.create_guest("ada").unwrap().id;
            let mo = store.create_guest("mo").unwrap().id;
            let set = |player, role| ModAction::SetRole { player, role };
            assert_eq!(store.role(ada), Ok(Role::Player));
            assert_eq!(
                store.moderate(set(ada, Role::Admin), Some(entry(mo, "role.set"))),
                Ok(Applied::Changed)
            );
            assert_eq!(store.role(ada), Ok(Role::Admin));
            assert_eq!(
                store.moderate(set(ada, Role::Admin), Some(entry(mo, "role.set"))),
                Ok(Applied::Unchanged)
            );
            assert_eq!(
                store.moderate(set(PlayerId(999), Role::Admin), None),
                Err(DataError::NotFound)
            );
            store.moderate(set(ada, Role::Player), None).unwrap();
            assert_eq!(store.role(ada), Ok(Role::Player));

            let later = now_ms() + 60_000;
            let mute = ModAction::Sanction {
                kind: SanctionKind::Mute,
                player: ada,
                until_ms: Some(later),
                reason: "spam".into(),
                by: mo,
            };
            assert_eq!(
                store.moderate(mute, Some(entry(mo, "player.mute"))),
                Ok(Applied::Changed)
            );
            let found = store.sanctions(ada).unwrap();
            assert_eq!(found.mute.as_ref().map(|m| m.until_ms), Some(Some(later)));
            assert_eq!(found.ban, None);
            assert_eq!(store.active_mutes().unwrap(), [(ada, later)]);
            assert_eq!(
                store.moderate(ModAction::Lift(SanctionKind::Mute, ada), None),
                Ok(Applied::Changed)
            );
            assert_eq!(
                store.moderate(ModAction::Lift(SanctionKind::Mute, ada), None),
                Ok(Applied::Unchanged)
            );
            // An expired mute is no mute.
            let past = ModAction::Sanction {
                kind: SanctionKind::Mute,
                player: ada,
                until_ms: Some(now_ms() - 1),
                reason: "old".into(),
                by: mo,
            };
            store.moderate(past, None).unwrap();
            assert_eq!(store.sanctions(ada).unwrap().mute, None);

            let ban = ModAction::Sanction {
                kind: SanctionKind::Ban,
                player: ada,
                until_ms: None,
                reason: "cheating".into(),
                by: mo,
            };
            store.moderate(ban, Some(entry(mo, "player.ban"))).unwrap();
            let found = store.sanctions(ada).unwrap().ban.unwrap();
            assert_eq!((found.until_ms, found.by), (None, mo));
            assert_eq!(
                store.moderate(
                    ModAction::Lift(SanctionKind::Ban, ada),
                    Some(entry(mo, "player.unban"))
                ),
                Ok(Applied::Changed)
            );
            assert_eq!(store.sanctions(ada).unwrap().ban, None);

            // The audit log, newest first, filtered and paged; unchanged actions left out.
            let all = |filter: AuditFilter| {
                store
                    .audit(&filter)
                    .unwrap()
                    .entries
                    .into_iter()
                    .map(|row| row.entry.action)
                    .collect::<Vec<_>>()
            };
            let limit = 10;
            assert_eq!(
                all(AuditFilter {
                    limit,
                    ..Default::default()
                }),
                ["player.unban", "player.ban", "player.mute", "role.set"]
            );
            assert_eq!(
                all(AuditFilter {
                    action: Some("player.ban".into()),
                    limit,
                    ..Default::default()
                }),
                ["player.ban"]
            );
            assert!(
                all(AuditFilter {
                    actor: Some(ada),
                    limit,
                    ..Default::default()
                })
                .is_empty()
            );
            assert!(
                all(AuditFilter {
                    since_ms: Some(now_ms() + 60_000),
                    limit,
                    ..Default::default()
                })
                .is_empty()
            );
            let first = store
                .audit(&AuditFilter {
                    limit: 3,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(first.entries.len(), 3);
            let rest = store
                .audit(&AuditFilter {
                    limit: 3,
                    before: first.next,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(rest.entries.len(), 1);
            assert_eq!(rest.next, None);
        });
    }

    #[test]
    fn messages_are_soft_deleted_and_reports_resolved() {
        crate::store::each_store(|store| {
            let ada = store.create_guest("ada").unwrap().id;
            let mo = store.create_guest("mo").unwrap().id;
            let kept = MessageId::random();
            let gone = MessageId::random();
            for (id, text) in [(kept, "hello"), (gone, "rude")] {
                store.record_chat(ChatLine {
                    id: Some(id),
                    channel: "global".into(),
                    sender: ada,
                    sender_name: "ada".into(),
                    text: text.into(),
                    at_ms: 1_000,
                });
            }
            store.flush().unwrap();
            let stored = store.chat_message(gone).unwrap().unwrap();
            assert_eq!((stored.text.as_str(), stored.deleted), ("rude", false));
            let delete = ModAction::DeleteMessage(gone);
            assert_eq!(
                store.moderate(delete.clone(), Some(entry(mo, "message.delete"))),
                Ok(Applied::Changed)
            );
            assert_eq!(store.moderate(delete, None), Ok(Applied::Unchanged));
            assert_eq!(
                store.moderate(ModAction::DeleteMessage(MessageId(7)), None),
                Err(DataError::NotFound)
            );
            assert!(store.chat_message(gone).unwrap().unwrap().deleted);
            let history = store.chat_history("global", None, 50).unwrap();
            let ids: Vec<_> = history.messages.iter().map(|m| m.line.id).collect();
            assert_eq!(ids, [Some(kept)]);

            let report = NewReport {
                reporter: mo,
                player: ada,
                message: Some(gone),
                reason: "rude".into(),
            };
            let Ok(Applied::Created(id)) = store.moderate(ModAction::Report(report.clone()), None)
            else {
                panic!("no report created");
            };
            assert_eq!(
                store.moderate(ModAction::Report(report.clone()), None),
                Ok(Applied::Unchanged)
            );
            let unknown = NewReport {
                player: PlayerId(999),
                ..report.clone()
            };
            assert_eq!(
                store.moderate(ModAction::Report(unknown), None),
                Err(DataError::NotFound)
            );
            let open = store.open_reports(None, 10).unwrap();
            assert_eq!(open.reports.len(), 1);
            assert_eq!(open.reports[0].id, ReportId(id));
            assert_eq!(open.reports[0].report, report);
            let resolve = ModAction::Resolve {
                report: ReportId(id),
                by: mo,
                note: "deleted".into(),
            };
            assert_eq!(
                store.moderate(resolve.clone(), Some(entry(mo, "report.resolve"))),
                Ok(Applied::Changed)
            );
            assert_eq!(store.moderate(resolve, None), Ok(Applied::Unchanged));
            assert!(store.open_reports(None, 10).unwrap().reports.is_empty());
            let missing = ModAction::Resolve {
                report: ReportId(12345),
                by: mo,
                note: String::new(),
            };
            assert_eq!(store.moderate(missing, None), Err(DataError::NotFound));
        });
    }

    #[test]
    fn a_backup_is_a_consistent_copy_of_a_live_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arcade.db");
        let store = crate::Store::open(&path).unwrap();
        let ada = store.create_guest("ada").unwrap().id;
        store
            .moderate(
                ModAction::SetRole {
                    player: ada,
                    role: Role::Admin,
                },
                None,
            )
            .unwrap();
        let copy = dir.path().join("copy.db");
        let size = backup_file(&path, &copy).unwrap();
        assert!(size > 0);
        assert!(backup_file(&path, &copy).is_err(), "never overwrites");
        let copied = crate::Store::open(&copy).unwrap();
        assert_eq!(copied.role(ada), Ok(Role::Admin));
    }
}
