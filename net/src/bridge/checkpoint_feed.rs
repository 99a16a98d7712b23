//! Checkpoints of the live matches for failover (tick thread, cluster mode only): each live
//! match every [`CHECKPOINT_EVERY_TICKS`] (staggered by match id) and at every point scored
//! goes to the checkpoint writer (`crate::cluster::failover`), and a match's end removes its
//! checkpoint. Nothing here waits: the queue is a `try_send`.

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::checkpoint;
use arcade_systems::model::MatchId;
use arcade_systems::sim::{MatchEvent, MatchEvents, SimSystems, Simulation};

use crate::cluster::failover::{CHECKPOINT_EVERY_TICKS, CheckpointNote, CheckpointSender};
use crate::link::{Audience, MatchIdOf};

/// Where checkpoints go, and what is due at the start of the next tick.
#[derive(Resource)]
pub struct CheckpointFeed {
    sender: CheckpointSender,
    /// Matches that scored a point last tick (checkpointed at the start of this one).
    scored: Vec<Entity>,
    /// Ticks run so far (the stagger).
    tick: u64,
}

/// Places the two systems of the feed: marking scored and ended matches after the game
/// systems, taking the checkpoints before the next tick's commands (between steps).
pub fn install(sim: &mut Simulation, sender: CheckpointSender) {
    sim.world.insert_resource(CheckpointFeed {
        sender,
        scored: Vec::new(),
        tick: 0,
    });
    sim.schedule.add_systems((
        take_checkpoints
            .before(super::receive_commands)
            .in_set(SimSystems::Receive),
        mark_scored_and_ended
            .before(super::send_updates)
            .in_set(SimSystems::Send),
    ));
}

/// Notes the matches that scored this tick, and removes the checkpoints of those that ended.
fn mark_scored_and_ended(mut feed: ResMut<CheckpointFeed>, events: Res<MatchEvents>) {
    for (game, id, _, event) in &events.list {
        match event {
            MatchEvent::Point { .. } => feed.scored.push(*game),
            MatchEvent::Ended(_) | MatchEvent::Discarded => {
                feed.sender.note(CheckpointNote::Ended(*id));
            }
            _ => {}
        }
    }
}

/// Checkpoints the matches that scored last tick and those whose turn it is.
fn take_checkpoints(
    world: &mut World,
    live: &mut QueryState<(Entity, &MatchIdOf), With<Audience>>,
    mut due: Local<Vec<(Entity, MatchId)>>,
) {
    let tick = {
        let mut feed = world.resource_mut::<CheckpointFeed>();
        feed.tick += 1;
        feed.tick
    };
    due.clear();
    let feed = world.resource::<CheckpointFeed>();
    for (game, id) in live.iter(world) {
        if feed.scored.contains(&game) || (id.0.0 + tick) % CHECKPOINT_EVERY_TICKS == 0 {
            due.push((game, id.0));
        }
    }
    for &(game, id) in due.iter() {
        // Tournament matches are not failed over: their runner replays them (PROTOCOL.md).
        if crate::tournament::tick::is_tournament_match(world, id) {
            continue;
        }
        let Some(checkpoint) = checkpoint::capture(world, game) else {
            continue;
        };
        feed.sender.note(CheckpointNote::Saved(
            id,
            super::checkpoint::encode(&checkpoint),
        ));
    }
    world.resource_mut::<CheckpointFeed>().scored.clear();
}
