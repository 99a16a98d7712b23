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

pub mod app;
pub mod auth;
pub mod bridge;
pub mod codec;
pub mod error;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod protocol;
pub mod session;
