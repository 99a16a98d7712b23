//! Chat (tokio threads): channels, the `chat.message` shapes, and [`send_chat`], which delivers
//! `global` and `dm:` itself and hands `match:` to the tick thread.

use arcade_data::CommitNotice;
use arcade_data::social::{ChatLine, Relation};
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{MatchId, PlayerId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::link::ReplyTo;
use crate::social::presence::SocialOp;
use crate::state::AppState;
use crate::wire::protocol::{Envelope, ErrorCode, NOWHERE, PlayerInfo, opaque_id};

/// A chat channel, as a client names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Global,
    Match(MatchId),
    /// A conversation with this player.
    Dm(PlayerId),
    /// A tournament's channel: its players, host and watchers (issue 13).
    Tournament(arcade_systems::model::TournamentId),
}

impl Channel {
    /// `global`, `match:<matchId>` or `dm:<playerId>`.
    pub fn parse(text: &str) -> Result<Channel, String> {
        if text == "global" {
            return Ok(Channel::Global);
        }
        // Ids are opaque: one that names nothing makes a channel of nobody (`not_found`).
        if let Some(id) = text.strip_prefix("match:") {
            return Ok(Channel::Match(opaque_id(id, MatchId(NOWHERE))));
        }
        if let Some(id) = text.strip_prefix("dm:") {
            return Ok(Channel::Dm(opaque_id(id, PlayerId(NOWHERE))));
        }
        if let Some(id) = text.strip_prefix("tournament:") {
            let nowhere = arcade_systems::model::TournamentId(NOWHERE);
            return Ok(Channel::Tournament(opaque_id(id, nowhere)));
        }
        Err(format!(
            "no such channel {text:?}: global, match:<matchId> or dm:<playerId>"
        ))
    }

    /// The channel's name on the wire (for a conversation, as its reader names it).
    pub fn name(self) -> String {
        match self {
            Channel::Global => "global".into(),
            Channel::Match(id) => format!("match:{id}"),
            Channel::Dm(other) => format!("dm:{other}"),
            Channel::Tournament(id) => format!("tournament:{id}"),
        }
    }

    /// The storage key: the same for both sides of a conversation (`dm:<lower>:<higher>`).
    pub fn key(self, viewer: PlayerId) -> String {
        match self {
            Channel::Dm(other) => {
                let (low, high) = if viewer <= other {
                    (viewer, other)
                } else {
                    (other, viewer)
                };
                format!("dm:{low}:{high}")
            }
            other => other.name(),
        }
    }
}

/// `chat.message` to the members of a channel (owned, so the tick thread can hold it), and
/// an item of `GET /api/chat/{channel}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChatOut {
    /// The message's id (`c_` and 16 hex digits): what `message.deleted`, a report and
    /// `DELETE /api/chat/messages/{id}` name.
    #[schema(example = "c_0000012a3b4c5d6e")]
    pub id: String,
    pub from: Who,
    /// The channel as the reader names it: `global`, `match:<matchId>`, `dm:<the other
    /// player's id>`.
    #[schema(example = "global")]
    pub channel: String,
    pub text: String,
    /// RFC 3339 UTC with milliseconds.
    #[schema(example = "2026-11-21T23:45:00.123Z")]
    pub at: String,
}

/// A player as events name one: `{"id", "name"}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct Who {
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    pub id: PlayerId,
    pub name: String,
}

impl From<&PlayerInfo> for Who {
    fn from(player: &PlayerInfo) -> Who {
        Who {
            id: player.id,
            name: player.name.clone(),
        }
    }
}

/// Delivers and stores a chat message the session has validated (text trimmed, length and
/// rate checked). `Err` is a malformed channel, for the session's `bad_request` accounting;
/// every other answer goes through `reply`.
pub async fn send_chat(
    state: &AppState,
    sender: &PlayerInfo,
    reply: ReplyTo,
    channel: Option<&str>,
    text: &str,
) -> Result<(), String> {
    let channel = Channel::parse(channel.unwrap_or("global"))?;
    let now = crate::clock::now_ms();
    // A muted player's line goes nowhere (issue 14): `error` `muted` with the time left.
    if let Some(until) = state.moderation.muted_until(sender.id, now) {
        let error = crate::moderation::SanctionError::new("muted", Some(until), now);
        let envelope = Envelope::reply("error", error, reply.request_id.as_ref());
        reply.outbox.push(reply.codec.encode_once(&envelope));
        return Ok(());
    }
    let id = arcade_data::moderation::MessageId::random();
    let line = ChatLine {
        id: Some(id),
        channel: channel.key(sender.id),
        sender: sender.id,
        sender_name: sender.name.clone(),
        text: text.to_owned(),
        at_ms: now,
    };
    let event = ChatOut {
        id: id.to_string(),
        from: Who::from(sender),
        channel: channel.name(),
        text: text.to_owned(),
        at: arcade_data::time::format_rfc3339_ms(now),
    };
    match channel {
        Channel::Global => {
            let hub = state.hub.clone();
            let notice = ack_after_commit(reply, move || {
                hub.broadcast_everywhere(&Envelope::event("chat.message", &event));
            });
            state.store.record_chat_then(line, notice);
        }
        Channel::Match(match_id) => {
            let op = SocialOp::MatchChat {
                match_id,
                player: sender.id,
                message: Box::new((event, line)),
                reply: reply.clone(),
            };
            if state.commands.send(super::presence::command(op)).is_err() {
                reply.error(ErrorCode::Internal, "the game loop is not running");
            }
        }
        Channel::Tournament(id) => {
            // The players and host of a tournament not over, and its watchers, hear it.
            let tournaments = state.tournaments.clone();
            let Some(participants) = tournaments.participants(id).await else {
                reply.error(ErrorCode::NotFound, format!("no open tournament {id}"));
                return Ok(());
            };
            if !participants.contains(&sender.id) && !tournaments.is_watching(id, &reply.outbox) {
                reply.error(
                    ErrorCode::Forbidden,
                    "only the tournament's players, host and watchers talk there",
                );
                return Ok(());
            }
            let state_for_delivery = state.clone();
            let notice = ack_after_commit(reply, move || {
                let message = Envelope::event("chat.message", &event);
                tournaments.announce(&state_for_delivery, id, &participants, &message);
            });
            state.store.record_chat_then(line, notice);
        }
        Channel::Dm(other) => {
            if other == sender.id {
                return Err("a direct message goes to another player".into());
            }
            let me = sender.id;
            let checked = state
                .blocking(move |store| {
                    let exists = store.get_player(other)?.is_some();
                    let blocked = store.has_relation(Relation::Block, other, me)?;
                    Ok::<_, arcade_data::DataError>((exists, blocked))
                })
                .await;
            let (exists, blocked) = match checked {
                Ok(Ok(found)) => found,
                _ => {
                    reply.error(ErrorCode::Internal, "storage is unavailable");
                    return Ok(());
                }
            };
            // A guest that is not stored yet exists while it is connected.
            let exists = exists || state.is_online(other);
            if !exists {
                reply.error(ErrorCode::NotFound, format!("no player {other}"));
                return Ok(());
            }
            // The sender always sees the message, so a block is never revealed (a blocked
            // message is neither stored nor delivered, and is acknowledged at once).
            let hub = state.hub.clone();
            let deliver = move || {
                hub.send_to_players(&Envelope::event("chat.message", &event), &[me]);
                if !blocked {
                    let theirs = ChatOut {
                        channel: Channel::Dm(me).name(),
                        ..event
                    };
                    hub.send_to_players(&Envelope::event("chat.message", &theirs), &[other]);
                }
            };
            let notice = ack_after_commit(reply, deliver);
            if blocked {
                notice.settle(true);
            } else {
                state.store.record_chat_then(line, notice);
            }
        }
    }
    Ok(())
}

/// The notice of a chat message's write: once it is committed, acknowledges the request and
/// runs `deliver` (on the writer thread, or the caller's when settled directly); when it is
/// lost, answers `internal` and delivers nothing. A client that got its `ack` finds the
/// message in the history.
pub(crate) fn ack_after_commit(
    reply: ReplyTo,
    deliver: impl FnOnce() + Send + 'static,
) -> CommitNotice {
    CommitNotice::new(move |committed| {
        if committed {
            reply.ack_bare();
            deliver();
        } else {
            reply.error(ErrorCode::Internal, "the message could not be stored");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_and_dm_keys_are_shared_by_both_sides() {
        assert_eq!(Channel::parse("global"), Ok(Channel::Global));
        let (a, b) = (PlayerId(0xa), PlayerId(0xb));
        let dm = Channel::parse(&format!("dm:{b}")).unwrap();
        assert_eq!(dm, Channel::Dm(b));
        assert_eq!(dm.key(a), Channel::Dm(a).key(b));
        assert_eq!(dm.key(a), format!("dm:{a}:{b}"));
        assert_eq!(
            Channel::parse("match:m_0000000000000001"),
            Ok(Channel::Match(MatchId(1)))
        );
        for bad in ["", "lobby", "dms:x"] {
            assert!(Channel::parse(bad).is_err(), "{bad}");
        }
        // A well-typed id that names nothing is a channel of nobody, not a malformed one.
        assert_eq!(Channel::parse("dm:x"), Ok(Channel::Dm(PlayerId(NOWHERE))));
        assert_eq!(
            Channel::parse("match:p_01"),
            Ok(Channel::Match(MatchId(NOWHERE)))
        );
    }
}
