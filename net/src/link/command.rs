//! What sessions and handlers ask of the tick thread ([`Command`]), the queue they ask through
//! ([`CommandSender`]) and the end the tick thread drains ([`Inbox`]: it never waits for a
//! sender, `link::handoff`). Built on tokio threads, consumed on the tick thread.

use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, MatchId, Mode, Phase, PlayerId, PlayerRef, Seat};
use serde::Serialize;

use crate::link::handoff::{Closed, Handoff};
use crate::link::reply::{InputReply, ReplyTo};
use crate::outbox::{ConnId, InputRoute, Outbox};
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
    /// A match request from a connection, answered through `reply`. Boxed: every command
    /// moved through the channel is as large as the largest variant, and this one would be
    /// nearly twice the input's.
    Match(Box<MatchRequest>),
    /// A player's input (kept apart from `Match` so the hot path carries no name), with the
    /// route the connection's inputs took last (`Outbox::input_route`).
    Input {
        player: PlayerId,
        reply: InputReply,
        input: Input,
        route: Option<InputRoute>,
    },
    /// The live matches, for REST.
    ListLive {
        game: Option<Game>,
        reply: tokio::sync::oneshot::Sender<Vec<LiveMatch>>,
    },
    /// Work a feature runs on the tick thread with its own code (match chat, invitations and
    /// presence: `crate::social`), so this enum need not know its types.
    Run(TickJob),
}

/// A match request ([`Command::Match`]).
pub struct MatchRequest {
    pub conn: ConnId,
    pub player: PlayerRef,
    pub reply: ReplyTo,
    pub op: MatchOp,
}

impl Command {
    /// A [`Command::Match`].
    pub fn request(conn: ConnId, player: PlayerRef, reply: ReplyTo, op: MatchOp) -> Command {
        Command::Match(Box::new(MatchRequest {
            conn,
            player,
            reply,
            op,
        }))
    }
}

pub enum MatchOp {
    Create(MatchCreate),
    Join(MatchJoin),
    Leave(MatchId),
    List(Option<Game>),
    /// `queue.join` (`crate::matchmaking`).
    QueueJoin(QueueRequest),
    /// `queue.leave`.
    QueueLeave,
    /// `state.resync`: the connection's next `state` of the match is a keyframe.
    Resync(MatchId),
}

/// A piece of work for the tick thread: called once with the World in `SimSystems::Receive`.
pub type TickJob = Box<dyn FnOnce(&mut World) + Send>;

/// What a session asks for on `queue.join`: the queue, and the player's rating in it (looked
/// up before the command is sent, see `matchmaking::rating_for`).
pub struct QueueRequest {
    pub game: Game,
    pub mode: Mode,
    pub rating: f64,
}

/// A live match as listed over REST and `match.list`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveMatch {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    pub phase: Phase,
    pub players: Vec<SeatedPlayer>,
    pub spectators: usize,
    pub score: Vec<u32>,
    pub started_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeatedPlayer {
    pub id: PlayerId,
    pub name: String,
    pub seat: Seat,
}

/// A new command queue: the senders' end, and the tick thread's.
pub fn command_queue() -> (CommandSender, Inbox) {
    let queue = Arc::new(Handoff::default());
    (CommandSender(queue.clone()), Inbox(queue))
}

/// Where sessions and handlers send their commands (cloned by each).
#[derive(Clone)]
pub struct CommandSender(Arc<Handoff<Command>>);

impl CommandSender {
    /// Queues a command for the tick thread's next drain; refused (the command given back)
    /// once the tick thread has stopped.
    pub fn send(&self, command: Command) -> Result<(), Closed<Command>> {
        self.0.push(command)
    }
}

/// The tick thread's end of the command queue. Dropping it (the World's end) refuses every
/// later command.
#[derive(Resource)]
pub struct Inbox(Arc<Handoff<Command>>);

impl Inbox {
    /// Moves the commands sent since the last call to the end of `taken`, in the order sent.
    /// Never waits: while a sender holds the queue's lock, they stay for the next tick.
    pub fn take_into(&self, taken: &mut Vec<Command>) {
        self.0.take_into(taken);
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once the tick thread's end is gone (the World dropped at the stop), a command is refused
    /// at once (`AppState::ask_tick` answers `TickStopped`) and what was queued is dropped, so
    /// its reply channel closes instead of waiting out a timeout.
    #[test]
    fn commands_are_refused_once_the_inbox_is_dropped() {
        let (commands, inbox) = command_queue();
        let (reply, answer) = tokio::sync::oneshot::channel();
        commands
            .send(Command::ListLive { game: None, reply })
            .unwrap();
        drop(inbox);
        assert!(
            answer.blocking_recv().is_err(),
            "the queued command was dropped"
        );
        let (reply, _answer) = tokio::sync::oneshot::channel();
        assert!(
            commands
                .send(Command::ListLive { game: None, reply })
                .is_err()
        );
    }

    /// An input, the command sent most, is no larger than it needs to be: the player, where to
    /// answer, the input itself and its route.
    #[test]
    fn every_command_is_as_small_as_an_input() {
        let input = size_of::<PlayerId>()
            + size_of::<InputReply>()
            + size_of::<Input>()
            + size_of::<Option<InputRoute>>();
        assert!(
            size_of::<Command>() <= input + 8,
            "{}",
            size_of::<Command>()
        );
    }
}
