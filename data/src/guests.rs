//! Guests written only when needed (issue 15 item 2): the writes the writer thread applies
//! ([`GuestWrite`]) and the session lookup read on callers' threads.
//!
//! A guest lives in its token until it does something that needs a row: a friend or a block
//! (foreign keys), or a logout (the revoked session). [`GuestWrite::Ensure`] writes the row
//! under the id the token already names; [`GuestWrite::Purge`] deletes stored guests that
//! have nothing attached after an age.

use arcade_systems::model::PlayerId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{DataError, sql};
use crate::reply::{Ack, Reply, reply};
use crate::sql::{in_savepoint, u64_to_sql};
use crate::time::now_ms;
use crate::types::SessionId;

/// What the database knows of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No row: a token naming it is only as good as its own claims (a guest's).
    Unknown,
    /// A live session of this player.
    Live,
    /// Revoked, or another player's.
    Revoked,
}

/// A guest write, queued for the writer.
pub(crate) enum GuestWrite {
    /// Writes the guest `id` named `name` unless a player with that id exists.
    Ensure {
        id: PlayerId,
        name: String,
        reply: Reply<()>,
    },
    /// Writes the guest (as `Ensure`) and its session `session`, revoked.
    Revoke {
        id: PlayerId,
        name: String,
        session: SessionId,
        reply: Reply<()>,
    },
    /// Deletes guests created before `before_ms` that have no friend, block, or session
    /// revoked at or after `revoked_since_ms` (so a revoked token cannot come back to life
    /// before it expires); answers how many.
    Purge {
        before_ms: i64,
        revoked_since_ms: i64,
        reply: Reply<usize>,
    },
}

impl GuestWrite {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            GuestWrite::Ensure { .. } => "ensure_guest",
            GuestWrite::Revoke { .. } => "revoke_guest_session",
            GuestWrite::Purge { .. } => "purge_guests",
        }
    }

    pub(crate) fn refuse(self, error: DataError) {
        match self {
            GuestWrite::Ensure { reply, .. } | GuestWrite::Revoke { reply, .. } => {
                drop(reply.send(Err(error)))
            }
            GuestWrite::Purge { reply, .. } => drop(reply.send(Err(error))),
        }
    }

    /// Applies the write inside its own savepoint of the writer's transaction.
    pub(crate) fn apply(self, tx: &mut rusqlite::Transaction<'_>) -> Ack {
        match self {
            GuestWrite::Ensure {
                id,
                name,
                reply: to,
            } => reply(to, in_savepoint(tx, |conn| ensure_guest(conn, id, &name))),
            GuestWrite::Revoke {
                id,
                name,
                session,
                reply: to,
            } => reply(
                to,
                in_savepoint(tx, |conn| {
                    ensure_guest(conn, id, &name)?;
                    revoke(conn, id, session)
                }),
            ),
            GuestWrite::Purge {
                before_ms,
                revoked_since_ms,
                reply: to,
            } => reply(
                to,
                in_savepoint(tx, |conn| purge(conn, before_ms, revoked_since_ms)),
            ),
        }
    }
}

/// Writes a guest's row unless the player has one (a registered player always has): done by
/// whatever first makes the guest durable (a friend, a block, a logout, a finished match, a
/// chat line).
pub(crate) fn ensure_guest(conn: &Connection, id: PlayerId, name: &str) -> Result<(), DataError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO players (id, name, name_key, guest, password_hash, created_at) \
         VALUES (?1, ?2, NULL, 1, NULL, ?3)",
    )
    .and_then(|mut insert| insert.execute(params![u64_to_sql(id.0), name, now_ms()]))
    .map(|_| ())
    .map_err(sql)
}

fn revoke(conn: &Connection, player: PlayerId, session: SessionId) -> Result<(), DataError> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO sessions (id, player_id, created_at, revoked_at) VALUES (?1, ?2, ?3, ?3) \
         ON CONFLICT (id) DO UPDATE SET revoked_at = COALESCE(revoked_at, ?3)",
    )
    .and_then(|mut insert| {
        insert.execute(params![u64_to_sql(session.0), u64_to_sql(player.0), now])
    })
    .map(|_| ())
    .map_err(sql)
}

fn purge(conn: &Connection, before_ms: i64, revoked_since_ms: i64) -> Result<usize, DataError> {
    let purged = conn
        .prepare_cached(
            "DELETE FROM players WHERE guest = 1 AND created_at < ?1 \
         AND NOT EXISTS (SELECT 1 FROM friends f WHERE f.player_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM friends f WHERE f.friend_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.player_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocked_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.player_id = players.id \
                         AND s.revoked_at >= ?2) \
         AND NOT EXISTS (SELECT 1 FROM match_players mp WHERE mp.player_id = players.id) \
         AND NOT EXISTS (SELECT 1 FROM chat_messages c WHERE c.sender_id = players.id)",
        )
        .and_then(|mut delete| delete.execute(params![before_ms, revoked_since_ms]))
        .map_err(sql)?;
    // Deleted accounts' sessions, once no token of theirs can still be valid.
    conn.prepare_cached("DELETE FROM ended_sessions WHERE ended_at < ?1")
        .and_then(|mut delete| delete.execute([revoked_since_ms]))
        .map_err(sql)?;
    Ok(purged)
}

/// What the database knows of `session` for `player`.
pub(crate) fn session_state(
    conn: &Connection,
    session: SessionId,
    player: PlayerId,
) -> Result<SessionState, DataError> {
    let found: Option<(i64, Option<i64>)> = conn
        .prepare_cached("SELECT player_id, revoked_at FROM sessions WHERE id = ?1")
        .and_then(|mut select| {
            select
                .query_row([u64_to_sql(session.0)], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
        })
        .map_err(sql)?;
    Ok(match found {
        None if crate::accounts::session_ended(conn, session)? => SessionState::Revoked,
        None => SessionState::Unknown,
        Some((owner, None)) if owner == u64_to_sql(player.0) => SessionState::Live,
        Some(_) => SessionState::Revoked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_is_written_once_revoked_and_purged_when_nothing_holds_it() {
        crate::store::each_store(|store| {
            let (id, session) = (PlayerId(77), SessionId(88));
            assert_eq!(
                store.session_state(session, id).unwrap(),
                SessionState::Unknown
            );
            store.ensure_guest(id, "guest-0077").unwrap();
            store.ensure_guest(id, "guest-0077").unwrap();
            assert_eq!(store.get_player(id).unwrap().unwrap().name, "guest-0077");
            store
                .revoke_guest_session(id, "guest-0077", session)
                .unwrap();
            assert_eq!(
                store.session_state(session, id).unwrap(),
                SessionState::Revoked
            );
            let future = now_ms() + 1000;
            assert_eq!(
                store.purge_guests(future, 0).unwrap(),
                0,
                "a live revocation"
            );
            assert_eq!(store.purge_guests(future, future).unwrap(), 1);
            assert!(store.get_player(id).unwrap().is_none());
        });
    }
}
