//! What instances of a cluster tell each other over Redis pub/sub (tokio threads): the
//! message shapes only, so that the hub can hand messages to the bus without importing it.

use arcade_systems::model::{MatchId, PlayerId};
use serde::{Deserialize, Serialize};

use crate::outbox::CloseReason;
use crate::wire::protocol::PlayerInfo;

/// The one Redis pub/sub channel every instance of a cluster publishes to and listens on.
/// Keys live in the database that `--redis` names, but pub/sub channels are server-wide, so
/// the channel carries the database number: clusters on different databases of one Redis
/// do not hear each other.
pub fn bus_channel(database: i64) -> String {
    format!("arcade:{database}:bus")
}

/// Messages an instance queues for the bus before the publisher drops the newest (a Redis
/// outage must not grow memory without bound; dropped messages are counted).
pub const BUS_QUEUE: usize = 4096;

/// What the publisher sends, in order: a bus message for every instance, or a MessagePack
/// message for one instance's own channel ([`crate::cluster::relay`]).
#[derive(Debug)]
pub enum Outgoing {
    Bus(Said),
    Direct { channel: String, message: Vec<u8> },
}

/// One message on the bus, as published: who sent it and what it says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Posted {
    /// The sending instance's id; an instance ignores its own messages.
    pub from: String,
    pub says: Said,
}

/// What an instance tells the others.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Said {
    /// An event for every connection (`global` chat).
    ToEveryone { message: serde_json::Value },
    /// An event for every connection of these players (direct messages, invitations,
    /// presence, friend requests).
    ToPlayers {
        players: Vec<PlayerId>,
        message: serde_json::Value,
    },
    /// Every connection of this session gets `message`, then is closed (a logout or a
    /// revocation on another instance).
    EndSession {
        session: String,
        message: serde_json::Value,
        close: RelayedClose,
    },
    /// Every connection of this player gets `message`, then is closed (a ban on another
    /// instance).
    EndPlayer {
        player: PlayerId,
        message: serde_json::Value,
        close: RelayedClose,
    },
    /// A player was muted until then (`None`: the mute was lifted) on the sender.
    Muted {
        player: PlayerId,
        until_ms: Option<i64>,
    },
    /// A player's first connection opened on the sender, or its last closed (`online` false).
    Connected { player: PlayerInfo, online: bool },
    /// A player connected to the sender started or stopped playing.
    Playing { player: PlayerId, playing: bool },
    /// A new instance asks the others to say who is connected to them.
    WhoIsThere,
    /// The sender adopted this match of a dead or draining instance (failover): the
    /// connections of its players are seated back there.
    Adopted {
        match_id: MatchId,
        players: Vec<PlayerId>,
    },
}

/// Why a relayed session is closed: the close reasons that may cross instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedClose {
    pub code: u16,
    /// An index into [`RELAYED_REASONS`]: close reasons are static strings.
    pub reason: usize,
}

/// The close reasons a relayed session end may carry.
pub const RELAYED_REASONS: &[&str] = &["logged out", "session revoked", "unauthorized", "banned"];

impl RelayedClose {
    /// The relayable form of `close`, when its reason is one of [`RELAYED_REASONS`].
    pub fn of(close: CloseReason) -> Option<RelayedClose> {
        RELAYED_REASONS
            .iter()
            .position(|reason| *reason == close.reason)
            .map(|reason| RelayedClose {
                code: close.code,
                reason,
            })
    }

    /// The close reason to apply here; an unknown index reads as a policy violation.
    pub fn reason(self) -> CloseReason {
        CloseReason {
            code: self.code,
            reason: RELAYED_REASONS
                .get(self.reason)
                .copied()
                .unwrap_or("policy violation"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posted_message_reads_back() {
        let posted = Posted {
            from: "a".into(),
            says: Said::ToPlayers {
                players: vec![PlayerId(7)],
                message: serde_json::json!({"type": "chat.message"}),
            },
        };
        let text = serde_json::to_string(&posted).unwrap();
        let back: Posted = serde_json::from_str(&text).unwrap();
        assert!(matches!(back.says, Said::ToPlayers { players, .. } if players == [PlayerId(7)]));
    }

    #[test]
    fn close_reasons_cross_by_name() {
        let close = CloseReason {
            code: 1008,
            reason: "logged out",
        };
        let relayed = RelayedClose::of(close).unwrap();
        assert_eq!(relayed.reason().reason, "logged out");
        let unknown = CloseReason {
            code: 1000,
            reason: "bye",
        };
        assert_eq!(RelayedClose::of(unknown), None);
    }
}
