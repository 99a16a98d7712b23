//! Social storage: chat history, friends lists and blocks (tables of migration step 3,
//! `migrations/0003_social.sql`; friend requests since step 5,
//! `migrations/0005_friend_requests.sql`).
//!
//! A `friends` row (`player`, `other`) says that `player` wants `other` as a friend: a pair of
//! rows both ways is a friendship, a row alone a pending request. A block removes both rows,
//! and a request to a player who blocks the requester is dropped without a trace.
//!
//! Chat messages are written fire-and-forget through the writer ([`crate::Store::record_chat`] never
//! blocks, like `record_match`); friend and block changes wait for their commit. Channels are
//! opaque storage keys here: the network layer decides what they are called and who may read
//! them.

use arcade_systems::model::PlayerId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{DataError, is_foreign_key_violation, sql};
use crate::notice::CommitNotice;
use crate::reply::{Ack, Reply, reply};
use crate::sql::{in_savepoint, player_row, u64_from_sql, u64_to_sql};
use crate::time::now_ms;
use crate::types::{Cursor, PlayerRow};

/// The most messages one page of [`crate::Store::chat_history`] holds.
pub const MAX_CHAT_PAGE: u32 = 100;
/// The page size of chat history when the caller gives none.
pub const DEFAULT_CHAT_PAGE: u32 = 50;

/// A chat message to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatLine {
    /// The message's id (issue 14); `None` only for a line written without one.
    pub id: Option<crate::moderation::MessageId>,
    /// The channel's storage key (`global`, `match:m_…`, `dm:p_…:p_…`).
    pub channel: String,
    pub sender: PlayerId,
    /// The sender's name when the message was sent.
    pub sender_name: String,
    pub text: String,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// A stored chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChat {
    pub line: ChatLine,
    /// Where the page after this message starts (older messages).
    pub cursor: Cursor,
}

/// One page of a channel's history, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatPage {
    pub messages: Vec<StoredChat>,
    /// Where the next (older) page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// Which relation between two players a write changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// `player` asks `other` to be friends (a friendship when `other` asks back).
    Friend,
    /// `player` blocks `other`.
    Block,
}

impl Relation {
    pub(crate) fn table(self) -> (&'static str, &'static str) {
        match self {
            Relation::Friend => ("friends", "friend_id"),
            Relation::Block => ("blocks", "blocked_id"),
        }
    }
}

/// A social write, as queued for the writer.
pub(crate) enum SocialWrite {
    /// Nobody blocks on it: the notice is settled after the commit (a message that could
    /// not be stored is logged and settles it as failed).
    RecordChat(Box<ChatLine>, CommitNotice),
    /// Adds (`on`) or removes a relation; answers whether anything changed.
    Relate {
        relation: Relation,
        player: PlayerId,
        other: PlayerId,
        on: bool,
        reply: Reply<bool>,
    },
}

impl SocialWrite {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            SocialWrite::RecordChat(..) => "record_chat",
            SocialWrite::Relate { .. } => "relate",
        }
    }

    pub(crate) fn has_waiter(&self) -> bool {
        match self {
            SocialWrite::RecordChat(_, notice) => notice.is_pending(),
            SocialWrite::Relate { .. } => true,
        }
    }

    pub(crate) fn refuse(self, error: DataError) {
        match self {
            SocialWrite::RecordChat(line, _notice) => {
                tracing::warn!(channel = %line.channel, %error, "chat message not stored");
            }
            SocialWrite::Relate { reply, .. } => drop(reply.send(Err(error))),
        }
    }

    /// Applies the write inside its own savepoint of the writer's transaction.
    pub(crate) fn apply(self, tx: &mut rusqlite::Transaction<'_>) -> Ack {
        match self {
            SocialWrite::RecordChat(line, notice) => {
                if let Err(error) = in_savepoint(tx, |conn| insert_chat(conn, &line)) {
                    tracing::warn!(channel = %line.channel, %error, "chat message not stored");
                    return Ack::Nothing;
                }
                Ack::Notice(notice)
            }
            SocialWrite::Relate {
                relation,
                player,
                other,
                on,
                reply: to,
            } => reply(
                to,
                in_savepoint(tx, |conn| relate(conn, relation, player, other, on)),
            ),
        }
    }
}

fn insert_chat(conn: &Connection, line: &ChatLine) -> Result<(), DataError> {
    // A guest who chats is written now (issue 15: guests are durable once they chat).
    crate::guests::ensure_guest(conn, line.sender, &line.sender_name)?;
    conn.prepare_cached(
        "INSERT INTO chat_messages (channel, sender_id, sender_name, text, at, msg_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            line.channel,
            u64_to_sql(line.sender.0),
            line.sender_name,
            line.text,
            line.at_ms,
            line.id.map(|id| u64_to_sql(id.0))
        ])
    })
    .map_err(sql)?;
    Ok(())
}

fn relate(
    conn: &Connection,
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
    if on && relation == Relation::Friend && blocks(conn, other, player)? {
        // Dropped without a trace: the requester is not told of the block.
        return Ok(false);
    }
    let changed = if on {
        let insert = format!(
            "INSERT INTO {table} (player_id, {column}, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING"
        );
        match conn
            .prepare_cached(&insert)
            .and_then(|mut insert| insert.execute(params![player, other, now_ms()]))
        {
            Ok(changed) => changed,
            Err(error) if is_foreign_key_violation(&error) => return Err(DataError::NotFound),
            Err(error) => return Err(sql(error)),
        }
    } else {
        let delete = format!("DELETE FROM {table} WHERE player_id = ?1 AND {column} = ?2");
        let mut changed = conn
            .prepare_cached(&delete)
            .and_then(|mut delete| delete.execute(params![player, other]))
            .map_err(sql)?;
        if relation == Relation::Friend {
            // Unfriending, withdrawing and declining all remove both directions.
            changed += delete_friend_rows(conn, other, player)?;
        }
        changed
    };
    if on && relation == Relation::Block {
        delete_friend_rows(conn, player, other)?;
        delete_friend_rows(conn, other, player)?;
    }
    Ok(changed > 0)
}

fn delete_friend_rows(conn: &Connection, player: i64, other: i64) -> Result<usize, DataError> {
    conn.prepare_cached("DELETE FROM friends WHERE player_id = ?1 AND friend_id = ?2")
        .and_then(|mut delete| delete.execute(params![player, other]))
        .map_err(sql)
}

fn blocks(conn: &Connection, player: i64, other: i64) -> Result<bool, DataError> {
    conn.prepare_cached("SELECT 1 FROM blocks WHERE player_id = ?1 AND blocked_id = ?2")
        .and_then(|mut select| {
            select
                .query_row(params![player, other], |row| row.get::<_, i64>(0))
                .optional()
        })
        .map(|found| found.is_some())
        .map_err(sql)
}

pub(crate) fn chat_history(
    conn: &Connection,
    channel: &str,
    before: Option<Cursor>,
    limit: u32,
) -> Result<ChatPage, DataError> {
    let limit = limit.clamp(1, MAX_CHAT_PAGE);
    let before = before.map_or(i64::MAX, |cursor| cursor.0);
    let mut select = conn
        .prepare_cached(
            "SELECT seq, sender_id, sender_name, text, at, msg_id FROM chat_messages \
             WHERE channel = ?1 AND seq < ?2 AND deleted_at IS NULL ORDER BY seq DESC LIMIT ?3",
        )
        .map_err(sql)?;
    let mut messages: Vec<StoredChat> = select
        .query_map(params![channel, before, i64::from(limit) + 1], |row| {
            Ok(StoredChat {
                cursor: Cursor(row.get(0)?),
                line: ChatLine {
                    id: row
                        .get::<_, Option<i64>>(5)?
                        .map(|id| crate::moderation::MessageId(u64_from_sql(id))),
                    channel: channel.to_owned(),
                    sender: PlayerId(u64_from_sql(row.get(1)?)),
                    sender_name: row.get(2)?,
                    text: row.get(3)?,
                    at_ms: row.get(4)?,
                },
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(sql)?;
    let next = crate::read::end_page(&mut messages, limit, |message| message.cursor.0);
    Ok(ChatPage { messages, next })
}

/// The players on the other end of `player`'s relations, by name: for friends, only the
/// friendships (a row both ways).
pub(crate) fn related(
    conn: &Connection,
    relation: Relation,
    player: PlayerId,
) -> Result<Vec<PlayerRow>, DataError> {
    let (table, column) = relation.table();
    let mutual = match relation {
        Relation::Friend => {
            " AND EXISTS (SELECT 1 FROM friends back \
             WHERE back.player_id = r.friend_id AND back.friend_id = r.player_id)"
        }
        Relation::Block => "",
    };
    let select = format!(
        "SELECT p.id, p.name, p.guest, p.created_at FROM {table} r \
         JOIN players p ON p.id = r.{column} WHERE r.player_id = ?1{mutual} ORDER BY p.name, p.id"
    );
    conn.prepare_cached(&select)
        .and_then(|mut select| {
            select
                .query_map([u64_to_sql(player.0)], player_row)?
                .collect()
        })
        .map_err(sql)
}

/// Pending friend requests: `(incoming, outgoing)`, each by name.
pub(crate) fn friend_requests(
    conn: &Connection,
    player: PlayerId,
) -> Result<(Vec<PlayerRow>, Vec<PlayerRow>), DataError> {
    let pending = |mine: &str, theirs: &str| {
        let select = format!(
            "SELECT p.id, p.name, p.guest, p.created_at FROM friends r \
             JOIN players p ON p.id = r.{theirs} WHERE r.{mine} = ?1 AND NOT EXISTS \
             (SELECT 1 FROM friends back WHERE back.player_id = r.friend_id \
             AND back.friend_id = r.player_id) ORDER BY p.name, p.id"
        );
        conn.prepare_cached(&select)
            .and_then(|mut select| {
                select
                    .query_map([u64_to_sql(player.0)], player_row)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sql)
    };
    Ok((
        pending("friend_id", "player_id")?,
        pending("player_id", "friend_id")?,
    ))
}

/// Whether `player` and `other` are friends (a row both ways), or `player` blocks `other`.
pub(crate) fn has_relation(
    conn: &Connection,
    relation: Relation,
    player: PlayerId,
    other: PlayerId,
) -> Result<bool, DataError> {
    let (table, column) = relation.table();
    let select = match relation {
        Relation::Friend => "SELECT 1 FROM friends a JOIN friends b \
             ON b.player_id = a.friend_id AND b.friend_id = a.player_id \
             WHERE a.player_id = ?1 AND a.friend_id = ?2"
            .to_owned(),
        Relation::Block => {
            format!("SELECT 1 FROM {table} WHERE player_id = ?1 AND {column} = ?2")
        }
    };
    conn.prepare_cached(&select)
        .and_then(|mut select| {
            select
                .query_row(params![u64_to_sql(player.0), u64_to_sql(other.0)], |row| {
                    row.get::<_, i64>(0)
                })
                .optional()
        })
        .map(|found| found.is_some())
        .map_err(sql)
}

/// `player`'s friends (a row both ways), except those `player` blocks.
pub(crate) fn followers(conn: &Connection, player: PlayerId) -> Result<Vec<PlayerId>, DataError> {
    conn.prepare_cached(
        "SELECT f.player_id FROM friends f WHERE f.friend_id = ?1 AND EXISTS \
         (SELECT 1 FROM friends back WHERE back.player_id = ?1 AND back.friend_id = f.player_id) \
         AND NOT EXISTS \
         (SELECT 1 FROM blocks b WHERE b.player_id = ?1 AND b.blocked_id = f.player_id)",
    )
    .and_then(|mut select| {
        select
            .query_map([u64_to_sql(player.0)], |row| {
                Ok(PlayerId(u64_from_sql(row.get(0)?)))
            })?
            .collect()
    })
    .map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(channel: &str, sender: PlayerId, text: &str) -> ChatLine {
        ChatLine {
            id: None,
            channel: channel.into(),
            sender,
            sender_name: "ada".into(),
            text: text.into(),
            at_ms: 1_000,
        }
    }

    #[test]
    fn chat_history_pages_newest_first_per_channel() {
        crate::store::each_store(|store| {
            let ada = store.create_guest("ada").unwrap().id;
            for n in 0..5 {
                store.record_chat(line("global", ada, &format!("g{n}")));
                store.record_chat(line("dm:a:b", ada, &format!("d{n}")));
            }
            store.flush().unwrap();
            let first = store.chat_history("global", None, 3).unwrap();
            let texts: Vec<_> = first
                .messages
                .iter()
                .map(|m| m.line.text.as_str())
                .collect();
            assert_eq!(texts, ["g4", "g3", "g2"]);
            let second = store.chat_history("global", first.next, 3).unwrap();
            let texts: Vec<_> = second
                .messages
                .iter()
                .map(|m| m.line.text.as_str())
                .collect();
            assert_eq!(texts, ["g1", "g0"]);
            assert_eq!(second.next, None);
            assert_eq!(
                store
                    .chat_history("dm:a:b", None, 50)
                    .unwrap()
                    .messages
                    .len(),
                5
            );
            assert!(
                store
                    .chat_history("nowhere", None, 50)
                    .unwrap()
                    .messages
                    .is_empty()
            );
        });
    }

    #[test]
    fn a_friend_request_is_a_friendship_once_returned() {
        crate::store::each_store(|store| {
            let ada = store.create_guest("ada").unwrap().id;
            let bob = store.create_guest("bob").unwrap().id;
            let cy = store.create_guest("cy").unwrap().id;
            let friend = Relation::Friend;
            assert_eq!(store.set_relation(friend, ada, bob, true), Ok(true));
            assert_eq!(store.set_relation(friend, ada, bob, true), Ok(false));
            assert_eq!(
                store.set_relation(friend, ada, PlayerId(12345), true),
                Err(DataError::NotFound)
            );
            assert_eq!(
                store.set_relation(friend, ada, ada, true),
                Err(DataError::NotFound)
            );
            // A request is not a friendship.
            assert!(store.related(friend, ada).unwrap().is_empty());
            assert!(!store.has_relation(friend, ada, bob).unwrap());
            assert!(store.followers(bob).unwrap().is_empty());
            let ids = |rows: Vec<PlayerRow>| rows.into_iter().map(|p| p.id).collect::<Vec<_>>();
            let (incoming, outgoing) = store.friend_requests(bob).unwrap();
            assert_eq!((ids(incoming), ids(outgoing)), (vec![ada], vec![]));
            let (incoming, outgoing) = store.friend_requests(ada).unwrap();
            assert_eq!((ids(incoming), ids(outgoing)), (vec![], vec![bob]));

            // Accepted: friends both ways, no request left.
            assert_eq!(store.set_relation(friend, bob, ada, true), Ok(true));
            assert!(store.has_relation(friend, ada, bob).unwrap());
            assert!(store.has_relation(friend, bob, ada).unwrap());
            assert_eq!(ids(store.related(friend, ada).unwrap()), [bob]);
            assert_eq!(store.followers(bob).unwrap(), [ada]);
            assert_eq!(store.friend_requests(ada).unwrap(), (vec![], vec![]));

            // Unfriending removes both directions.
            assert_eq!(store.set_relation(friend, bob, ada, false), Ok(true));
            assert!(store.related(friend, ada).unwrap().is_empty());
            assert_eq!(store.friend_requests(ada).unwrap(), (vec![], vec![]));

            // Declining: the receiver removes the request.
            store.set_relation(friend, cy, bob, true).unwrap();
            assert_eq!(store.set_relation(friend, bob, cy, false), Ok(true));
            assert_eq!(store.friend_requests(cy).unwrap(), (vec![], vec![]));

            // A block clears friendship and requests both ways; the blocked player's requests
            // are dropped.
            store.set_relation(friend, ada, bob, true).unwrap();
            store.set_relation(friend, bob, ada, true).unwrap();
            store.set_relation(friend, cy, bob, true).unwrap();
            assert_eq!(
                store.set_relation(Relation::Block, bob, ada, true),
                Ok(true)
            );
            assert_eq!(store.set_relation(Relation::Block, bob, cy, true), Ok(true));
            assert!(store.related(friend, bob).unwrap().is_empty());
            assert_eq!(store.friend_requests(bob).unwrap(), (vec![], vec![]));
            assert_eq!(store.set_relation(friend, ada, bob, true), Ok(false));
            assert_eq!(store.friend_requests(bob).unwrap(), (vec![], vec![]));
            assert_eq!(ids(store.related(Relation::Block, bob).unwrap()), [ada, cy]);
            assert_eq!(
                store.set_relation(Relation::Block, bob, ada, false),
                Ok(true)
            );
            assert_eq!(
                store.set_relation(Relation::Block, bob, ada, false),
                Ok(false)
            );
        });
    }
}
