//! What sessions and handlers ask of the tick thread ([`Command`]), and the channel end the
//! tick thread drains ([`Inbox`]). Built on tokio threads, consumed on the tick thread.

use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, MatchId, PlayerId, PlayerRef};

use crate::bridge::receive::LiveMatch;
use crate::bridge::reply::ReplyTo;
use crate::outbox::{ConnId, Outbox};
use crate::wire::protocol::{Input, MatchCreate, MatchJoin};

/// What a session asks of the tick thread.
pub enum Command {
    /// A connection opened: it is re-attached to the matches its player holds a seat in.
    Connected {
        conn: ConnId,
        player: PlayerRef,
        outbox: Arc<Outbox>,
    },
    /// A connection closed: its player's seats start their reconnect grace.
    Disconnected { conn: ConnId, player: PlayerId },
    /// A match request from a connection, answered through `reply`.
    Match {
        conn: ConnId,
        player: PlayerRef,
        reply: ReplyTo,
        op: MatchOp,
    },
    /// A player's input (kept apart from `Match` so the hot path carries no name).
    Input {
        player: PlayerId,
        reply: ReplyTo,
        input: Input,
    },
    /// The live matches, for REST.
    ListLive {
        game: Option<Game>,
        reply: tokio::sync::oneshot::Sender<Vec<LiveMatch>>,
    },
    /// Match chat, invitations and presence (`crate::social`).
    Social(crate::social::SocialOp),
}

pub enum MatchOp {
    Create(MatchCreate),
    Join(MatchJoin),
    Leave(MatchId),
    List(Option<Game>),
    /// `queue.join` (`crate::matchmaking`).
    QueueJoin(crate::matchmaking::QueueRequest),
    /// `queue.leave`.
    QueueLeave,
}

/// The inbound end of the command channel.
#[derive(Resource)]
pub struct Inbox(pub crossbeam_channel::Receiver<Command>);
