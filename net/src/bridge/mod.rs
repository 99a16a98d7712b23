//! The frame↔component bridge: the part of the network layer that runs on the tick thread
//! (no `async fn` in this folder).
//!
//! Sessions send [`Command`]s through a queue; [`receive_commands`] (in `SimSystems::Receive`)
//! drains it at the start of each tick and applies each to the World, replying through the
//! connection's `Outbox`. [`send_updates`] (in `SimSystems::Send`) announces the tick's match
//! events and hands each match's `state`, read once, to a sender task ([`wake`]), which encodes
//! it once per codec and shares the bytes with every subscriber. Nothing here waits: the command
//! queue is taken with a `try_lock` (`link::handoff`) and outboxes never block.
//!
//! The command queue, replies and audiences it works with are in `crate::link`.
//! - [`receive`]: commands into the World; [`send`]: events and state out.
//! - [`wake`]: the senders on the runtime, [`encode`] their frames; [`match_metrics`],
//!   [`match_log`]; [`priority`]: the tick thread's.
//! - [`checkpoint`]: live matches captured, handed over and restored with their checkpoints.

pub mod checkpoint;
pub mod checkpoint_feed;
mod encode;
pub mod match_log;
pub mod match_metrics;
pub mod priority;
pub mod receive;
pub mod send;
pub mod wake;

pub use crate::link::{Audience, Command, Inbox, Lobby, MatchIdOf, MatchOp, Member, ReplyTo};
pub use crate::link::{LiveMatch, SeatedPlayer};
use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::sim::{self, SimSystems, Simulation};
pub use match_metrics::{MetricsHandle, update_match_metrics};
pub use receive::receive_commands;
pub use send::send_updates;
pub use wake::WakeUps;

/// Network settings the bridge needs.
#[derive(Resource, Clone, Copy)]
pub struct BridgeConfig {
    /// Send `state` every N ticks.
    pub snapshot_every: u64,
}

/// Puts the bridge's resources (and matchmaking's and presence's) in the World, and places
/// every system of the network layer in its set:
///
/// - `SimSystems::Receive`: [`receive_commands`], then `matchmaking::match_queues`.
/// - `SimSystems::Send`: [`update_match_metrics`], `match_log::log_match_events`,
///   [`send_updates`], then `social::track_presence`.
///
/// A system that must see a match before `match.end` goes out (the store's
/// `persist_finished_matches`) is placed `.before(bridge::update_match_metrics)` by the caller.
/// The presence book publishes nowhere until `social::install` gives it a feed.
pub fn install(sim: &mut Simulation, inbox: Inbox, config: BridgeConfig) {
    let world = &mut sim.world;
    world.insert_resource(inbox);
    world.insert_resource(config);
    world.init_resource::<Lobby>();
    crate::matchmaking::install(world);
    world.init_resource::<crate::social::PresenceBook>();
    sim.schedule.add_systems((
        (receive_commands, crate::matchmaking::match_queues)
            .chain()
            .in_set(SimSystems::Receive),
        (
            update_match_metrics,
            match_log::log_match_events,
            send_updates,
            crate::social::track_presence,
        )
            .chain()
            .in_set(SimSystems::Send),
    ));
}

/// Ends every live match as `aborted` (shutdown); their `match.end` goes out on the next tick.
pub fn abort_all(world: &mut World) {
    // Tournament matches aborted by the shutdown are replayed after the restart.
    crate::tournament::tick::stopping(world);
    let live: Vec<Entity> = world
        .query_filtered::<Entity, With<Audience>>()
        .iter(world)
        .collect();
    for game in live {
        sim::abort_match(world, game);
    }
}

#[cfg(test)]
mod tests;
