//! The vocabulary between the runtime and the tick thread, shared by the bridge and by the
//! features with tick-side code (matchmaking, social): the command queue ([`Command`],
//! [`CommandSender`], [`Inbox`], on a [`handoff::Handoff`] the tick thread takes from without
//! waiting), where an answer goes ([`ReplyTo`]), and who hears a match ([`Audience`]). Built on
//! tokio threads, read on the tick thread; it imports no feature folder, so `bridge`,
//! `matchmaking` and `social` all depend on it and not on each other in a circle.
//!
//! - [`command`]: what sessions and handlers ask of the tick thread, and the listings it answers.
//! - [`reply`]: where an answer goes; [`audience`]: a match's connections and the lobby.

pub mod audience;
pub mod command;
pub mod handoff;
pub mod reply;

pub use audience::{Audience, Lobby, MatchIdOf, Member};
pub(crate) use audience::{add_member, playing_in};
pub use command::{
    Command, CommandSender, Inbox, LiveMatch, MatchOp, MatchRequest, QueueRequest, SeatedPlayer,
    TickJob, command_queue,
};
pub use reply::{InputReply, ReplyTo};
