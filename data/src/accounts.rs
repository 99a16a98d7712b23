//! Accounts people manage (issue 14 items 1-4): the writes the writer thread applies
//! ([`AccountWrite`]) and the reads callers' threads run, on SQLite; their PostgreSQL twins
//! are `crate::pg::accounts`. Sessions shown, seen and ended; passwords and names; avatars;
//! two-factor secrets and recovery codes; and account deletion.
//!
//! Deleting an account leaves no row that names it: the player's row goes with everything that
//! hangs on it (sessions, friends, blocks, avatar, two-factor secret, codes), its chat lines
//! and every line of its direct-message channels are deleted, its statistics row is deleted,
//! and its seats in finished matches (and their replays' player lists) are renamed to
//! [`DELETED_PLAYER_NAME`] under a fresh random id that names nobody, so opponents keep their
//! results and ratings. The token's session id is kept in `ended_sessions` (a random number,
//! not the account) so that a guest's token, which stands on its own, stays refused.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use arcade_systems::model::{ID_BITS_MASK, PlayerId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{DataError, is_foreign_key_violation, is_unique_violation, sql};
use crate::reply::{Ack, Reply, reply};
use crate::sql::{in_savepoint, u64_from_sql, u64_to_sql};
use crate::store::Store;
use crate::time::now_ms;
use crate::types::SessionId;
use crate::writer::{WriteOp, random_id};

/// The name a deleted player's seats carry in match history.
pub const DELETED_PLAYER_NAME: &str = "deleted player";
/// A session's "last seen" is written at most this often (a write per request would not do).
pub const SEEN_EVERY_MS: i64 = 60_000;
/// Past this many sessions remembered for [`SEEN_EVERY_MS`], the memory starts over.
const MAX_SEEN_TRACKED: usize = 100_000;

/// A live session, as "your sessions" shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// The session (`s_…` on the wire).
    pub id: SessionId,
    /// When it was opened (Unix ms).
    pub created_at_ms: i64,
    /// When it was last used (Unix ms, to within [`SEEN_EVERY_MS`]); `None` if never since.
    pub last_seen_ms: Option<i64>,
    /// The `User-Agent` of the request that opened it.
    pub user_agent: Option<String>,
    /// The client address of the request that opened it.
    pub address: Option<String>,
}

/// What a new session records of the client that opened it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionClient {
    /// The request's `User-Agent` (the caller bounds its length).
    pub user_agent: Option<String>,
    /// The request's client address.
    pub address: Option<String>,
}

/// A stored avatar: the PNG the server encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Avatar {
    /// The PNG bytes.
    pub png: Vec<u8>,
    /// Its entity tag (quoted, as the `ETag` header carries it).
    pub etag: String,
    /// When it was stored (Unix ms).
    pub updated_at_ms: i64,
}

/// A player's TOTP secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpSecret {
    /// The raw secret bytes.
    pub secret: Vec<u8>,
    /// Whether a code confirmed it (two-factor sign-in is on); pending otherwise.
    pub enabled: bool,
    /// The last time step a code was accepted for.
    pub last_step: i64,
}

/// An account write, queued for the writer: the operation and, unless nobody waits, where its
/// answer goes.
pub(crate) struct AccountWrite {
    pub(crate) op: AccountOp,
    pub(crate) reply: Option<Reply<AccountAnswer>>,
}

/// The account writes (each applied in its own savepoint).
pub(crate) enum AccountOp {
    /// Opens a session for `player` with what it shows of its client.
    OpenSession {
        player: PlayerId,
        client: SessionClient,
    },
    /// Notes that a live session was used at `at_ms` (nobody waits).
    Seen { session: SessionId, at_ms: i64 },
    /// Revokes `player`'s live sessions: only `only` when given, never `keep`. Answers the ids.
    EndSessions {
        player: PlayerId,
        only: Option<SessionId>,
        keep: Option<SessionId>,
    },
    /// Sets a registered player's password hash and revokes every other session than `keep`.
    SetPassword {
        player: PlayerId,
        hash: String,
        keep: SessionId,
    },
    /// Renames a registered player (unique case-insensitively).
    Rename { player: PlayerId, name: String },
    /// Stores (`Some((png, etag))`) or removes a player's avatar.
    SetAvatar {
        player: PlayerId,
        avatar: Option<(Vec<u8>, String)>,
    },
    /// Stores a pending TOTP secret, unless two-factor sign-in is already on.
    TotpPending { player: PlayerId, secret: Vec<u8> },
    /// Turns a pending secret on at `step`, with these recovery-code hashes.
    TotpEnable {
        player: PlayerId,
        step: i64,
        codes: Vec<String>,
    },
    /// Accepts a code of time step `step` if no code of it or a later step was accepted.
    TotpStep { player: PlayerId, step: i64 },
    /// Removes the secret and the recovery codes.
    TotpDisable { player: PlayerId },
    /// Uses up a recovery code (by hash).
    UseRecoveryCode { player: PlayerId, hash: String },
    /// Deletes the account (see the module doc); `session` is the token's session.
    Delete {
        player: PlayerId,
        session: SessionId,
    },
}

/// What an account write answers.
#[derive(Debug)]
pub(crate) enum AccountAnswer {
    Done,
    Session(SessionId),
    Sessions(Vec<SessionId>),
    Changed(bool),
}

impl AccountWrite {
    pub(crate) fn name(&self) -> &'static str {
        match self.op {
            AccountOp::OpenSession { .. } => "open_session",
            AccountOp::Seen { .. } => "session_seen",
            AccountOp::EndSessions { .. } => "end_sessions",
            AccountOp::SetPassword { .. } => "set_password",
            AccountOp::Rename { .. } => "rename",
            AccountOp::SetAvatar { .. } => "set_avatar",
            AccountOp::TotpPending { .. } => "totp_pending",
            AccountOp::TotpEnable { .. } => "totp_enable",
            AccountOp::TotpStep { .. } => "totp_step",
            AccountOp::TotpDisable { .. } => "totp_disable",
            AccountOp::UseRecoveryCode { .. } => "use_recovery_code",
            AccountOp::Delete { .. } => "delete_account",
        }
    }

    pub(crate) fn has_waiter(&self) -> bool {
        self.reply.is_some()
    }

    pub(crate) fn refuse(self, error: DataError) {
        if let Some(reply) = self.reply {
            let _ = reply.send(Err(error));
        }
    }

    /// Applies the write inside its own savepoint of the writer's transaction.
    pub(crate) fn apply(self, tx: &mut rusqlite::Transaction<'_>) -> Ack {
        let name = self.name();
        let result = in_savepoint(tx, |conn| apply_op(conn, &self.op));
        settle(name, self.reply, result)
    }
}

/// The [`Ack`] of an account write: its answer, or for one nobody waits on, a warning if it
/// failed.
pub(crate) fn settle(
    name: &'static str,
    to: Option<Reply<AccountAnswer>>,
    result: Result<AccountAnswer, DataError>,
) -> Ack {
    match to {
        Some(to) => reply(to, result),
        None => {
            if let Err(error) = result {
                tracing::warn!(op = name, %error, "account write failed");
            }
            Ack::Nothing
        }
    }
}

fn apply_op(conn: &Connection, op: &AccountOp) -> Result<AccountAnswer, DataError> {
    use AccountAnswer::{Changed, Done, Session, Sessions};
    match op {
        AccountOp::OpenSession { player, client } => {
            open_session(conn, *player, client).map(Session)
        }
        AccountOp::Seen { session, at_ms } => {
            conn.prepare_cached(
                "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
            )
            .and_then(|mut update| update.execute(params![at_ms, u64_to_sql(session.0)]))
            .map_err(sql)?;
            Ok(Done)
        }
        AccountOp::EndSessions { player, only, keep } => {
            end_sessions(conn, *player, *only, *keep).map(Sessions)
        }
        AccountOp::SetPassword { player, hash, keep } => {
            let changed = conn
                .prepare_cached("UPDATE players SET password_hash = ?1 WHERE id = ?2 AND guest = 0")
                .and_then(|mut update| update.execute(params![hash, u64_to_sql(player.0)]))
                .map_err(sql)?;
            if changed == 0 {
                return Err(DataError::NotFound);
            }
            end_sessions(conn, *player, None, Some(*keep)).map(Sessions)
        }
        AccountOp::Rename { player, name } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE players SET name = ?1, name_key = ?2 WHERE id = ?3 AND guest = 0",
                )
                .and_then(|mut update| {
                    update.execute(params![name, name.to_lowercase(), u64_to_sql(player.0)])
                });
            match changed {
                Ok(0) => Err(DataError::NotFound),
                Ok(_) => {
                    conn.prepare_cached("UPDATE player_stats SET name = ?1 WHERE player_id = ?2")
                        .and_then(|mut update| update.execute(params![name, u64_to_sql(player.0)]))
                        .map_err(sql)?;
                    Ok(Done)
                }
                Err(error) if is_unique_violation(&error) => Err(DataError::NameTaken),
                Err(error) => Err(sql(error)),
            }
        }
        AccountOp::SetAvatar { player, avatar } => {
            let id = u64_to_sql(player.0);
            let done = match avatar {
                Some((png, etag)) => conn
                    .prepare_cached(
                        "INSERT INTO avatars (player_id, png, etag, updated_at) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (player_id) DO UPDATE SET \
                         png = excluded.png, etag = excluded.etag, updated_at = excluded.updated_at",
                    )
                    .and_then(|mut upsert| upsert.execute(params![id, png, etag, now_ms()])),
                None => conn
                    .prepare_cached("DELETE FROM avatars WHERE player_id = ?1")
                    .and_then(|mut delete| delete.execute([id])),
            };
            match done {
                Ok(_) => Ok(Done),
                Err(error) if is_foreign_key_violation(&error) => Err(DataError::NotFound),
                Err(error) => Err(sql(error)),
            }
        }
        AccountOp::TotpPending { player, secret } => conn
            .prepare_cached(
                "INSERT INTO totp_secrets (player_id, secret, enabled_at, last_step, created_at) \
                 VALUES (?1, ?2, NULL, 0, ?3) ON CONFLICT (player_id) DO UPDATE SET \
                 secret = excluded.secret, last_step = 0, created_at = excluded.created_at \
                 WHERE totp_secrets.enabled_at IS NULL",
            )
            .and_then(|mut upsert| upsert.execute(params![u64_to_sql(player.0), secret, now_ms()]))
            .map(|changed| Changed(changed == 1))
            .map_err(|error| {
                if is_foreign_key_violation(&error) {
                    DataError::NotFound
                } else {
                    sql(error)
                }
            }),
        AccountOp::TotpEnable {
            player,
            step,
            codes,
        } => {
            let id = u64_to_sql(player.0);
            let enabled = conn
                .prepare_cached(
                    "UPDATE totp_secrets SET enabled_at = ?1, last_step = ?2 \
                     WHERE player_id = ?3 AND enabled_at IS NULL",
                )
                .and_then(|mut update| update.execute(params![now_ms(), step, id]))
                .map_err(sql)?;
            if enabled == 0 {
                return Ok(Changed(false));
            }
            replace_codes(conn, id, codes)?;
            Ok(Changed(true))
        }
        AccountOp::TotpStep { player, step } => conn
            .prepare_cached(
                "UPDATE totp_secrets SET last_step = ?1 \
                 WHERE player_id = ?2 AND enabled_at IS NOT NULL AND last_step < ?1",
            )
            .and_then(|mut update| update.execute(params![step, u64_to_sql(player.0)]))
            .map(|changed| Changed(changed == 1))
            .map_err(sql),
        AccountOp::TotpDisable { player } => {
            let id = u64_to_sql(player.0);
            conn.execute("DELETE FROM totp_secrets WHERE player_id = ?1", [id])
                .and_then(|_| conn.execute("DELETE FROM recovery_codes WHERE player_id = ?1", [id]))
                .map_err(sql)?;
            Ok(Done)
        }
        AccountOp::UseRecoveryCode { player, hash } => conn
            .prepare_cached("DELETE FROM recovery_codes WHERE player_id = ?1 AND code_hash = ?2")
            .and_then(|mut delete| delete.execute(params![u64_to_sql(player.0), hash]))
            .map(|changed| Changed(changed == 1))
            .map_err(sql),
        AccountOp::Delete { player, session } => {
            delete_account(conn, *player, *session)?;
            Ok(Done)
        }
    }
}

/// A session (`crate::writer`'s insert) that shows `client` in its list.
fn open_session(
    conn: &Connection,
    player: PlayerId,
    client: &SessionClient,
) -> Result<SessionId, DataError> {
    let session = crate::writer::insert_session(conn, player)?;
    conn.prepare_cached(
        "UPDATE sessions SET user_agent = ?1, address = ?2, last_seen_at = created_at \
         WHERE id = ?3",
    )
    .and_then(|mut update| {
        update.execute(params![
            client.user_agent,
            client.address,
            u64_to_sql(session.0)
        ])
    })
    .map_err(sql)?;
    Ok(session)
}

fn end_sessions(
    conn: &Connection,
    player: PlayerId,
    only: Option<SessionId>,
    keep: Option<SessionId>,
) -> Result<Vec<SessionId>, DataError> {
    let mut update = conn
        .prepare_cached(
            "UPDATE sessions SET revoked_at = ?1 WHERE player_id = ?2 AND revoked_at IS NULL \
             AND (?3 IS NULL OR id = ?3) AND (?4 IS NULL OR id <> ?4) RETURNING id",
        )
        .map_err(sql)?;
    let ended = update
        .query_map(
            params![
                now_ms(),
                u64_to_sql(player.0),
                only.map(|s| u64_to_sql(s.0)),
                keep.map(|s| u64_to_sql(s.0))
            ],
            |row| Ok(SessionId(u64_from_sql(row.get(0)?))),
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sql)?;
    Ok(ended)
}

fn replace_codes(conn: &Connection, player: i64, codes: &[String]) -> Result<(), DataError> {
    conn.execute("DELETE FROM recovery_codes WHERE player_id = ?1", [player])
        .map_err(sql)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO recovery_codes (player_id, code_hash) VALUES (?1, ?2)",
        )
        .map_err(sql)?;
    for code in codes {
        insert.execute(params![player, code]).map_err(sql)?;
    }
    Ok(())
}

/// A replay's `players` JSON with `player`'s entry renamed to the deleted player `tomb`.
pub(crate) fn forget_in_replay(
    players: &str,
    player: &str,
    tomb: &str,
) -> Result<String, DataError> {
    let mut list: serde_json::Value = serde_json::from_str(players)
        .map_err(|e| DataError::Corrupt(format!("replay players: {e}")))?;
    if let Some(entries) = list.as_array_mut() {
        for entry in entries.iter_mut().filter(|entry| entry["id"] == player) {
            entry["id"] = tomb.into();
            entry["name"] = DELETED_PLAYER_NAME.into();
        }
    }
    Ok(list.to_string())
}

/// The id the seats of a deleted player carry from now on: fresh, random, nobody's.
pub(crate) fn tomb_id() -> Result<PlayerId, DataError> {
    random_id(ID_BITS_MASK).map(PlayerId)
}

/// The channel-key fragment that every direct-message channel of `player` contains.
pub(crate) fn dm_fragment(player: PlayerId) -> String {
    player.to_string()
}

fn delete_account(
    conn: &Connection,
    player: PlayerId,
    session: SessionId,
) -> Result<(), DataError> {
    let id = u64_to_sql(player.0);
    let tomb = tomb_id()?;
    let replays: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT match_seq, players FROM replays WHERE match_seq IN \
             (SELECT match_seq FROM match_players WHERE player_id = ?1)",
        )
        .and_then(|mut select| {
            select
                .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(sql)?;
    for (seq, players) in replays {
        let players = forget_in_replay(&players, &player.to_string(), &tomb.to_string())?;
        conn.execute(
            "UPDATE replays SET players = ?1 WHERE match_seq = ?2",
            params![players, seq],
        )
        .map_err(sql)?;
    }
    let (tomb_sql, wire_id, tomb_wire) = (u64_to_sql(tomb.0), player.to_string(), tomb.to_string());
    let statements: [(&str, &[&dyn rusqlite::ToSql]); 11] = [
        // Moderation (issue 14): reports by or about the player go; the audit log and the
        // sanctions the player gave as a moderator keep their rows under the tomb id.
        (
            "DELETE FROM reports WHERE reporter_id = ?1 OR player_id = ?1",
            &[&id],
        ),
        (
            "UPDATE reports SET resolved_by = ?2 WHERE resolved_by = ?1",
            &[&id, &tomb_sql],
        ),
        (
            "UPDATE audit_log SET actor_id = ?2, actor_name = ?3 WHERE actor_id = ?1",
            &[&id, &tomb_sql, &DELETED_PLAYER_NAME],
        ),
        (
            "UPDATE audit_log SET target = ?2 WHERE target = ?1",
            &[&wire_id, &tomb_wire],
        ),
        (
            "UPDATE mutes SET by_id = ?2 WHERE by_id = ?1",
            &[&id, &tomb_sql],
        ),
        (
            "UPDATE bans SET by_id = ?2 WHERE by_id = ?1",
            &[&id, &tomb_sql],
        ),
        (
            "UPDATE match_players SET player_id = ?2, name = ?3 WHERE player_id = ?1",
            &[&id, &u64_to_sql(tomb.0), &DELETED_PLAYER_NAME],
        ),
        ("DELETE FROM player_stats WHERE player_id = ?1", &[&id]),
        (
            "DELETE FROM chat_messages WHERE sender_id = ?1 \
             OR (channel LIKE 'dm:%' AND instr(channel, ?2) > 0)",
            &[&id, &dm_fragment(player)],
        ),
        // Sessions, friends, blocks, the avatar, the two-factor secret and codes cascade.
        ("DELETE FROM players WHERE id = ?1", &[&id]),
        (
            "INSERT OR IGNORE INTO ended_sessions (id, ended_at) VALUES (?1, ?2)",
            &[&u64_to_sql(session.0), &now_ms()],
        ),
    ];
    for (statement, values) in statements {
        conn.prepare_cached(statement)
            .and_then(|mut run| run.execute(values))
            .map_err(sql)?;
    }
    Ok(())
}

// ---- reads ----------------------------------------------------------------------------------

fn sessions(conn: &Connection, player: PlayerId) -> Result<Vec<SessionRow>, DataError> {
    conn.prepare_cached(
        "SELECT id, created_at, last_seen_at, user_agent, address FROM sessions \
         WHERE player_id = ?1 AND revoked_at IS NULL ORDER BY created_at DESC, id",
    )
    .and_then(|mut select| {
        select
            .query_map([u64_to_sql(player.0)], |row| {
                Ok(SessionRow {
                    id: SessionId(u64_from_sql(row.get(0)?)),
                    created_at_ms: row.get(1)?,
                    last_seen_ms: row.get(2)?,
                    user_agent: row.get(3)?,
                    address: row.get(4)?,
                })
            })?
            .collect()
    })
    .map_err(sql)
}

fn password_hash(conn: &Connection, player: PlayerId) -> Result<Option<String>, DataError> {
    conn.prepare_cached("SELECT password_hash FROM players WHERE id = ?1 AND guest = 0")
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(player.0)], |row| row.get(0))
                .optional()
        })
        .map_err(sql)
}

fn avatar(conn: &Connection, player: PlayerId) -> Result<Option<Avatar>, DataError> {
    conn.prepare_cached("SELECT png, etag, updated_at FROM avatars WHERE player_id = ?1")
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(player.0)], |row| {
                    Ok(Avatar {
                        png: row.get(0)?,
                        etag: row.get(1)?,
                        updated_at_ms: row.get(2)?,
                    })
                })
                .optional()
        })
        .map_err(sql)
}

fn totp(conn: &Connection, player: PlayerId) -> Result<Option<(TotpSecret, i64)>, DataError> {
    conn.prepare_cached(
        "SELECT secret, enabled_at IS NOT NULL, last_step, \
         (SELECT COUNT(*) FROM recovery_codes c WHERE c.player_id = t.player_id) \
         FROM totp_secrets t WHERE player_id = ?1",
    )
    .and_then(|mut select| {
        select
            .query_row([u64_to_sql(player.0)], |row| {
                Ok((
                    TotpSecret {
                        secret: row.get(0)?,
                        enabled: row.get(1)?,
                        last_step: row.get(2)?,
                    },
                    row.get(3)?,
                ))
            })
            .optional()
    })
    .map_err(sql)
}

/// Whether `session` belonged to a deleted account.
pub(crate) fn session_ended(conn: &Connection, session: SessionId) -> Result<bool, DataError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM ended_sessions WHERE id = ?1)")
        .and_then(|mut select| select.query_row([u64_to_sql(session.0)], |row| row.get(0)))
        .map_err(sql)
}

/// Sessions remembered as seen, with when they were last written as seen.
static SEEN: LazyLock<Mutex<HashMap<u64, i64>>> = LazyLock::new(Default::default);

impl Store {
    fn account_write(&self, op: AccountOp) -> Result<AccountAnswer, DataError> {
        self.call(|reply| {
            WriteOp::Accounts(AccountWrite {
                op,
                reply: Some(reply),
            })
        })
    }

    /// Opens a session for `player` that shows `client` in its list;
    /// [`DataError::NotFound`] if there is no such player.
    pub fn open_session(
        &self,
        player: PlayerId,
        client: SessionClient,
    ) -> Result<SessionId, DataError> {
        match self.account_write(AccountOp::OpenSession { player, client })? {
            AccountAnswer::Session(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// Notes that `session` was used now. Never blocks, and writes at most once per
    /// [`SEEN_EVERY_MS`] per session.
    pub fn session_seen(&self, session: SessionId) {
        let now = now_ms();
        {
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen
                .get(&session.0)
                .is_some_and(|&at| now - at < SEEN_EVERY_MS)
            {
                return;
            }
            if seen.len() >= MAX_SEEN_TRACKED {
                seen.clear();
            }
            seen.insert(session.0, now);
        }
        let op = AccountOp::Seen {
            session,
            at_ms: now,
        };
        let write = WriteOp::Accounts(AccountWrite { op, reply: None });
        if let Err(error) = self.send(write) {
            tracing::debug!(%error, "session not marked seen");
        }
    }

    /// `player`'s live sessions, newest first.
    pub fn sessions(&self, player: PlayerId) -> Result<Vec<SessionRow>, DataError> {
        self.query(
            |conn| sessions(conn, player),
            move |client| crate::pg::accounts::sessions(client, player),
        )
    }

    /// Revokes `player`'s live sessions (only `only` when given, never `keep`) and answers the
    /// ids revoked.
    pub fn end_sessions(
        &self,
        player: PlayerId,
        only: Option<SessionId>,
        keep: Option<SessionId>,
    ) -> Result<Vec<SessionId>, DataError> {
        match self.account_write(AccountOp::EndSessions { player, only, keep })? {
            AccountAnswer::Sessions(ended) => Ok(ended),
            other => Err(unexpected(other)),
        }
    }

    /// A registered player's password hash (`None` for a guest or an unknown id).
    pub fn password_hash(&self, player: PlayerId) -> Result<Option<String>, DataError> {
        self.query(
            |conn| password_hash(conn, player),
            move |client| crate::pg::accounts::password_hash(client, player),
        )
    }

    /// Sets a registered player's password hash and revokes every session but `keep`;
    /// answers the ids revoked.
    pub fn set_password(
        &self,
        player: PlayerId,
        hash: &str,
        keep: SessionId,
    ) -> Result<Vec<SessionId>, DataError> {
        let hash = hash.to_owned();
        match self.account_write(AccountOp::SetPassword { player, hash, keep })? {
            AccountAnswer::Sessions(ended) => Ok(ended),
            other => Err(unexpected(other)),
        }
    }

    /// Renames a registered player: [`DataError::NameTaken`] if another registered player has
    /// the name (case-insensitively), [`DataError::NotFound`] for a guest or an unknown id.
    pub fn rename(&self, player: PlayerId, name: &str) -> Result<(), DataError> {
        let name = name.to_owned();
        self.account_write(AccountOp::Rename { player, name })
            .map(|_| ())
    }

    /// Stores (`Some((png, etag))`) or removes `player`'s avatar; [`DataError::NotFound`] for a
    /// player with no row.
    pub fn set_avatar(
        &self,
        player: PlayerId,
        avatar: Option<(Vec<u8>, String)>,
    ) -> Result<(), DataError> {
        self.account_write(AccountOp::SetAvatar { player, avatar })
            .map(|_| ())
    }

    /// `player`'s avatar, if one is stored.
    pub fn avatar(&self, player: PlayerId) -> Result<Option<Avatar>, DataError> {
        self.query(
            |conn| avatar(conn, player),
            move |client| crate::pg::accounts::avatar(client, player),
        )
    }

    /// `player`'s TOTP secret, if any, and how many recovery codes are left.
    pub fn totp(&self, player: PlayerId) -> Result<Option<(TotpSecret, i64)>, DataError> {
        self.query(
            |conn| totp(conn, player),
            move |client| crate::pg::accounts::totp(client, player),
        )
    }

    /// Stores a pending TOTP secret; `false` when two-factor sign-in is already on.
    pub fn totp_pending(&self, player: PlayerId, secret: Vec<u8>) -> Result<bool, DataError> {
        self.changed(AccountOp::TotpPending { player, secret })
    }

    /// Turns the pending secret on (its first code was of `step`) with these recovery-code
    /// hashes; `false` when there was no pending secret.
    pub fn totp_enable(
        &self,
        player: PlayerId,
        step: i64,
        codes: Vec<String>,
    ) -> Result<bool, DataError> {
        self.changed(AccountOp::TotpEnable {
            player,
            step,
            codes,
        })
    }

    /// Accepts a code of time step `step`: `false` if a code of this step or a later one was
    /// accepted already (no code works twice).
    pub fn totp_step(&self, player: PlayerId, step: i64) -> Result<bool, DataError> {
        self.changed(AccountOp::TotpStep { player, step })
    }

    /// Turns two-factor sign-in off: the secret and the recovery codes go.
    pub fn totp_disable(&self, player: PlayerId) -> Result<(), DataError> {
        self.account_write(AccountOp::TotpDisable { player })
            .map(|_| ())
    }

    /// Uses up the recovery code with this hash: `false` if there is none (or it was used).
    pub fn use_recovery_code(&self, player: PlayerId, hash: &str) -> Result<bool, DataError> {
        let hash = hash.to_owned();
        self.changed(AccountOp::UseRecoveryCode { player, hash })
    }

    /// Deletes `player`'s account as the module doc says; `session` is the token's session,
    /// refused from now on.
    pub fn delete_account(&self, player: PlayerId, session: SessionId) -> Result<(), DataError> {
        self.account_write(AccountOp::Delete { player, session })
            .map(|_| ())
    }

    fn changed(&self, op: AccountOp) -> Result<bool, DataError> {
        match self.account_write(op)? {
            AccountAnswer::Changed(changed) => Ok(changed),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(answer: AccountAnswer) -> DataError {
    DataError::Corrupt(format!("unexpected answer {answer:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::each_store;

    fn client(agent: &str) -> SessionClient {
        SessionClient {
            user_agent: Some(agent.into()),
            address: Some("127.0.0.1".into()),
        }
    }

    #[test]
    fn sessions_are_listed_seen_and_ended() {
        each_store(|store| {
            let ada = store.create_player("ada", "hash-1").unwrap().id;
            let first = store.open_session(ada, client("firefox")).unwrap();
            let second = store.open_session(ada, client("curl")).unwrap();
            let third = store.open_session(ada, SessionClient::default()).unwrap();
            let listed = store.sessions(ada).unwrap();
            assert_eq!(listed.len(), 3);
            let row = listed.iter().find(|s| s.id == first).unwrap();
            assert_eq!(row.user_agent.as_deref(), Some("firefox"));
            assert_eq!(row.address.as_deref(), Some("127.0.0.1"));
            assert!(row.last_seen_ms.is_some());

            assert_eq!(
                store.end_sessions(ada, Some(second), None).unwrap(),
                [second]
            );
            assert!(
                store
                    .end_sessions(ada, Some(second), None)
                    .unwrap()
                    .is_empty()
            );
            assert!(!store.session_valid(second, ada).unwrap());
            let bob = store.create_player("bob", "hash-2").unwrap().id;
            assert!(
                store
                    .end_sessions(bob, Some(first), None)
                    .unwrap()
                    .is_empty(),
                "not bob's to end"
            );
            let ended = store.set_password(ada, "hash-3", first).unwrap();
            assert_eq!(ended, [third]);
            assert_eq!(store.password_hash(ada).unwrap().as_deref(), Some("hash-3"));
            assert!(store.session_valid(first, ada).unwrap());
            assert_eq!(store.end_sessions(ada, None, None).unwrap(), [first]);
            assert!(store.sessions(ada).unwrap().is_empty());
        });
    }

    #[test]
    fn a_used_session_is_seen_at_most_once_a_minute() {
        each_store(|store| {
            let ada = store.create_player("ada", "hash").unwrap().id;
            let session = store.open_session(ada, SessionClient::default()).unwrap();
            let opened = store.sessions(ada).unwrap()[0].clone();
            assert_eq!(opened.last_seen_ms, Some(opened.created_at_ms));
            std::thread::sleep(std::time::Duration::from_millis(5));
            store.session_seen(session);
            store.flush().unwrap();
            let seen = store.sessions(ada).unwrap()[0].last_seen_ms.unwrap();
            assert!(seen > opened.created_at_ms);
            std::thread::sleep(std::time::Duration::from_millis(5));
            store.session_seen(session);
            store.flush().unwrap();
            let again = store.sessions(ada).unwrap()[0].last_seen_ms.unwrap();
            assert_eq!(again, seen, "not written again within a minute");
        });
    }

    #[test]
    fn names_avatars_and_two_factor_secrets() {
        each_store(|store| {
            let ada = store.create_player("ada", "hash").unwrap().id;
            store.create_player("bob", "hash").unwrap();
            assert_eq!(store.rename(ada, "BOB"), Err(DataError::NameTaken));
            store.rename(ada, "Ada_2").unwrap();
            assert_eq!(store.get_player(ada).unwrap().unwrap().name, "Ada_2");
            assert!(store.find_credentials("ada_2").unwrap().is_some());
            assert!(store.find_credentials("ada").unwrap().is_none());

            assert_eq!(store.avatar(ada).unwrap(), None);
            store
                .set_avatar(ada, Some((vec![1, 2, 3], "\"e1\"".into())))
                .unwrap();
            store
                .set_avatar(ada, Some((vec![4, 5], "\"e2\"".into())))
                .unwrap();
            let stored = store.avatar(ada).unwrap().unwrap();
            assert_eq!((stored.png, stored.etag.as_str()), (vec![4, 5], "\"e2\""));
            store.set_avatar(ada, None).unwrap();
            assert_eq!(store.avatar(ada).unwrap(), None);
            assert_eq!(
                store.set_avatar(PlayerId(99), Some((vec![1], "x".into()))),
                Err(DataError::NotFound)
            );

            assert!(store.totp_pending(ada, vec![7; 20]).unwrap());
            let (secret, _) = store.totp(ada).unwrap().unwrap();
            assert!(!secret.enabled);
            assert!(!store.totp_step(ada, 5).unwrap(), "not on while pending");
            let codes = vec!["h1".to_owned(), "h2".to_owned()];
            assert!(store.totp_enable(ada, 10, codes).unwrap());
            assert!(!store.totp_pending(ada, vec![8; 20]).unwrap(), "already on");
            let (secret, left) = store.totp(ada).unwrap().unwrap();
            assert_eq!((secret.enabled, secret.last_step, left), (true, 10, 2));
            assert_eq!(secret.secret, vec![7; 20]);
            assert!(!store.totp_step(ada, 10).unwrap(), "a step is used once");
            assert!(store.totp_step(ada, 11).unwrap());
            assert!(store.use_recovery_code(ada, "h1").unwrap());
            assert!(!store.use_recovery_code(ada, "h1").unwrap(), "one time");
            store.totp_disable(ada).unwrap();
            assert_eq!(store.totp(ada).unwrap(), None);
        });
    }

    #[test]
    fn a_deleted_account_keeps_its_matches_as_a_deleted_player_and_nothing_else() {
        use arcade_systems::model::{
            EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerResult, RecordPlayer,
            Seat,
        };
        each_store(|store| {
            let ada = store.create_player("ada", "hash").unwrap();
            let bob = store.create_player("bob", "hash").unwrap();
            let session = store.open_session(ada.id, client("firefox")).unwrap();
            let seat = |row: &crate::PlayerRow, seat, score, result| RecordPlayer {
                id: row.id,
                name: row.name.clone(),
                seat,
                score,
                result,
            };
            let record = MatchRecord {
                id: MatchId(5),
                game: Game::Pong,
                mode: Mode::OneVsOne,
                options: MatchOptions::default(),
                seed: 1,
                started_at_ms: 1,
                ticks: 10,
                tick_rate: 60,
                reason: EndReason::ScoreLimit,
                players: vec![
                    seat(&ada, Seat::Left, 1, PlayerResult::Loss),
                    seat(&bob, Seat::Right, 3, PlayerResult::Win),
                ],
                replay: None,
            };
            store.record_match(record, 2);
            store.flush().unwrap();
            store
                .set_relation(crate::social::Relation::Friend, bob.id, ada.id, true)
                .unwrap();
            store
                .set_avatar(ada.id, Some((vec![1], "\"e\"".into())))
                .unwrap();
            store.delete_account(ada.id, session).unwrap();

            assert!(store.get_player(ada.id).unwrap().is_none());
            assert!(
                store.find_credentials("ada").unwrap().is_none(),
                "name freed"
            );
            assert_eq!(
                store.session_state(session, ada.id).unwrap(),
                crate::guests::SessionState::Revoked
            );
            let stored = store.get_match(MatchId(5)).unwrap().unwrap();
            let seats = serde_json::to_value(&stored).unwrap();
            let text = seats.to_string();
            assert!(!text.contains(&ada.id.to_string()), "{text}");
            assert!(text.contains(DELETED_PLAYER_NAME), "{text}");
            assert!(text.contains(&bob.id.to_string()), "{text}");
            let (game, stats) = &store.player_stats(bob.id).unwrap()[0];
            assert_eq!((*game, stats.wins), (Game::Pong, 1), "bob keeps his win");
            assert!(
                store
                    .related(crate::social::Relation::Friend, bob.id)
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(store.avatar(ada.id).unwrap(), None);
            // Once no token of the session can be valid, its mark goes with the guest purge.
            store.purge_guests(0, crate::time::now_ms() + 1).unwrap();
            assert_eq!(
                store.session_state(session, ada.id).unwrap(),
                crate::guests::SessionState::Unknown
            );
        });
    }

    #[test]
    fn a_replay_forgets_the_deleted_player_only() {
        let players = r#"[{"id":"p_01","name":"ada"},{"id":"p_02","name":"bob"}]"#;
        let forgotten = forget_in_replay(players, "p_01", "p_09").unwrap();
        assert_eq!(
            forgotten,
            r#"[{"id":"p_09","name":"deleted player"},{"id":"p_02","name":"bob"}]"#
        );
    }
}
