//! # arcade-net: the network layer
//!
//! WebSocket sessions and REST routes on one axum router (tokio threads), and the bridge that
//! carries frames into the simulation's components and snapshots back out (the tick thread).
//!
//! # Layout
//! - [`state`]: [`state::AppState`] (what every handler and session shares), `NetConfig`,
//!   `blocking()` for the store and `ask_tick()` for the tick thread.
//! - [`clock`]: the tick thread's clock as other threads read it, and the one `now_ms`.
//! - [`outbox`]: a connection's id and outbound queue, where the tick thread and tokio meet;
//!   [`hub`]: every open connection (chat broadcasts, logout, shutdown).
//! - [`link`]: the vocabulary between tokio and the tick thread: the command queue, where an
//!   answer goes (`ReplyTo`), who hears a match (`Audience`); the bridge, matchmaking and social
//!   all use it, so none of them imports another in a circle.
//! - [`metrics`]: Prometheus; [`auth`]: tokens.
//! - [`limits`]: limits shared by every connection of a player or an address (connections
//!   per address, chat and `global` slow mode, invitations, join codes).
//! - [`wire`]: what travels: [`wire::codec`] (JSON and MessagePack envelopes) and
//!   [`wire::protocol`] (every inbound and outbound message shape).
//! - [`ws`]: the WebSocket transport: [`ws::session`] (one connection's reader and writer),
//!   [`ws::limits`] (sliding windows).
//! - [`http`]: the router, `/ws` and REST: [`http::matches`], [`http::accounts`],
//!   [`http::players`], [`http::social`], [`http::openapi`], [`http::ops`] (layers,
//!   `/health/details`), [`http::error`], [`http::hash_pool`] (the password-hashing threads),
//!   [`http::guard`] (the connection cap and header deadline under `axum::serve`).
//! - [`bridge`]: tick thread only: commands in ([`bridge::receive`]), events and `state` out
//!   ([`bridge::send`]), and [`bridge::install`], which places all of net's systems.
//! - [`matchmaking`]: the queues (tick thread), pairing (a pure function), ratings (tokio).
//! - [`cluster`]: instances sharing one Redis as one server: the bus that carries the hub's
//!   deliveries and logouts to every instance, cluster-wide presence, heartbeats, live lists.
//! - [`social`]: chat and invitations (tokio), presence (tick thread), the presence feed
//!   (tokio), typing indicators (tokio).
//! - [`moderation`]: roles, the mute cache, bans at the door and the closing of a banned
//!   player's sockets (issue 14); the REST side is [`http::moderation`].
//!   (tokio).
//! - [`tournament`]: tournaments (tokio: the service, its runner and REST; tick thread: the
//!   match jobs and the system that reports their ends).

pub mod auth;
pub mod bridge;
pub mod clock;
pub mod cluster;
pub mod http;
pub mod hub;
pub mod limits;
pub mod link;
pub mod matchmaking;
pub mod metrics;
pub mod moderation;
pub mod outbox;
pub mod social;
pub mod state;
pub mod tournament;
pub mod wire;
pub mod ws;
