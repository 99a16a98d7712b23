//! # arcade-net: the network layer
//!
//! WebSocket sessions and REST routes on one axum router, and the bridge that carries frames
//! into the simulation's components and snapshots back out.
//!
//! ## Layout
//! - [`app`]: shared state, the router, the HTTP handlers, `/ws`.
//! - [`session`]: one WebSocket connection: identity, reader, writer task.
//! - [`outbox`]: a connection's outbound queue (never-dropped control frames, newest-wins state).
//! - [`bridge`]: the tick-thread side: commands in, events and `state` out.
//! - [`hub`]: every open connection, for chat and shutdown.
//! - [`codec`]: JSON and MessagePack envelopes; [`protocol`]: the message shapes.
//! - [`auth`]: tokens; [`limits`]: sliding-window rate limits; [`metrics`]: Prometheus.
//! - [`error`]: the HTTP error shape.
//! - [`accounts`]: `/api/auth/*` (argon2 passwords, login lockout, logout closing sockets);
//!   [`players`]: `/api/players/{id}` and `/api/leaderboard`; [`openapi`]: `/api/openapi.json`.
//! - [`matchmaking`]: `queue.join`/`queue.leave` and the pairing system (tick thread);
//!   [`social`]: chat channels and history, presence, friends, blocks, invitations.
//! - [`ops`]: operational layers (limits, security headers, admin guard, tracing) and
//!   `/health/details`; [`match_log`]: a tracing span per match.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod bridge;
pub mod codec;
pub mod error;
pub mod hub;
pub mod limits;
pub mod match_log;
pub mod matchmaking;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod outbox;
pub mod players;
pub mod protocol;
pub mod session;
pub mod social;
