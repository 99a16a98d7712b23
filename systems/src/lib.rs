//! # arcade-systems: the games as bevy_ecs components, resources and systems
//!
//! Pure and deterministic: no IO, no clock, no thread RNG. Every live match lives in one
//! `World`; each system runs once per tick over all matches together.
//!
//! ## Layout
//! - [`model`]: ids, games, modes, seats, phases, options and the history record (plain values).
//! - [`tick`]: what a tick takes in and gives out: [`tick::SimConfig`], [`tick::InputFrame`],
//!   [`tick::MatchEvent`] and [`tick::MatchEvents`] (the rules import them from here).
//! - [`sim`]: [`sim::Simulation`] (the World and its Schedule) and the operations the network
//!   layer applies between ticks: create, join, leave, drop, return, input.
//! - [`checkpoint`]: a live match captured whole and restored into another World (failover,
//!   `--keep-live-matches`).
//! - [`view`]: read-only views of a match for snapshots and listings, and its state hash.
//! - [`compact`]: the compact `state` codec: quantized snapshots, keyframes and deltas.
//! - [`components`]: the components of a match and its members, and the shared resources.
//! - [`rng`]: the per-match seeded PRNG.
//! - [`replay`]: the replay log recorded per match, sealed into its record, and played back
//!   ([`replay::play`]) for verification and frames.
//! - `lifecycle` (private): the systems every game shares: inputs, clock, countdown, grace,
//!   end and record.
//! - `pong` (private): the Pong rules, one system per rule.
//! - `passes` (private): how a per-tick pass walks its rows, and its read-first helper.
//! - [`breakout`]: the Breakout rules, one system per rule (public for its numbers).
//! - [`bots`]: the server bots, systems that write a seat's input from the visible state.
//! - [`tournament`]: brackets (elimination, round robin, Swiss): seeding, pairing, standings.
//! - [`physics`]: swept circle-against-rectangle collision, used by both games (public for the
//!   bricks bench).

pub mod bots;
pub mod breakout;
pub mod checkpoint;
pub mod compact;
pub mod components;
pub mod model;
pub mod physics;
pub mod replay;
pub mod rng;
pub mod sim;
pub mod tick;
pub mod tournament;
pub mod view;

mod lifecycle;
mod passes;
mod pong;
#[cfg(test)]
mod testkit;

pub use bevy_ecs;
