//! # arcade-systems: the games as bevy_ecs components, resources and systems
//!
//! Pure and deterministic: no IO, no clock, no thread RNG. Every live match lives in one
//! `World`; each system runs once per tick over all matches together.
//!
//! ## Layout
//! - [`model`]: ids, games, modes, seats, phases, options and the history record (plain values).
//! - [`sim`]: [`sim::Simulation`] (the World and its Schedule) and the operations the network
//!   layer applies between ticks: create, join, leave, drop, return, input.
//! - [`view`]: read-only views of a match for snapshots and listings.

pub mod model;
pub mod sim;
pub mod view;

pub use bevy_ecs;
