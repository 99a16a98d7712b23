//! Social: chat, invitations and the feed (tokio), presence (tick thread); REST is in `http`.
//!
//! Social features: chat channels and their history, presence, friends, blocks and match
//! invitations (PROTOCOL.md "Matchmaking and social").
//!
//! - Chat ([`chat`], tokio): `global` fans out through the hub; `dm:<playerId>` reaches the
//!   two players (never a player who blocks the sender); `match:<id>` is fanned out by the tick
//!   thread, which alone knows a match's audience ([`SocialOp::MatchChat`]). Every delivered
//!   message is stored fire-and-forget through the data writer; `GET /api/chat/{channel}`
//!   pages it.
//! - Presence ([`presence`], tick thread): the tick thread keeps each player's status
//!   ([`PresenceBook`], updated from the bridge's connect/disconnect commands and a scan of
//!   the match audiences) and hands every change to [`run_presence_feed`] ([`feed`], tokio),
//!   which sends the `presence` event to that player's friends (requests accepted).
//! - Friend requests, blocks and invitations are REST routes (`crate::http::social`, with the
//!   chat history, which also sends `friend.request` and `friend.accepted`) and `match.invite`
//!   ([`invite`]); the relations live in the database
//!   (`arcade_data::social`).
//!
//! - Typing indicators ([`typing`], tokio): `chat.typing` in, `typing.start` / `typing.stop`
//!   out, rate-limited, stopped by silence, never stored.
//!
//! The tick thread never waits here: it answers through oneshot channels and outboxes, and
//! writes chat through the writer's unbounded queue.

pub mod chat;
pub mod feed;
pub mod invite;
pub mod presence;
pub mod typing;

pub use chat::{Channel, ChatOut, Who, send_chat};
pub use feed::{presence_of, run_presence_feed};
pub use invite::{InviteRefusal, invite};
pub use presence::{
    PRESENCE_SCAN_EVERY_TICKS, PresenceBook, PresenceChange, SocialOp, Status, apply, connected,
    disconnected, install, track_presence,
};
