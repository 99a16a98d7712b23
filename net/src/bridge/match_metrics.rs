//! [`update_match_metrics`] (tick thread, `SimSystems::Send`): finished-match counters and the
//! live-match and connection gauges.

use std::collections::HashMap;
use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, Phase};
use arcade_systems::sim::{MatchEvent, MatchEvents};
use arcade_systems::view::{self};

use crate::link::audience::{Audience, Lobby};
use crate::metrics::Metrics;

/// The metrics registry, when the server runs with one.
#[derive(Resource, Clone)]
pub struct MetricsHandle(pub Arc<Metrics>);

/// How often (in ticks) the live-match gauges are recounted.
const GAUGE_EVERY_TICKS: u64 = 30;

/// Counts finished matches and, every [`GAUGE_EVERY_TICKS`], recounts the live-match and
/// connection gauges.
pub fn update_match_metrics(world: &mut World) {
    let Some(metrics) = world.get_resource::<MetricsHandle>().map(|m| m.0.clone()) else {
        return;
    };
    for (_, _, _, event) in &world.resource::<MatchEvents>().list {
        if let MatchEvent::Ended(record) = event {
            metrics
                .matches_finished
                .with_label_values(&[record.game.as_str(), record.reason.as_str()])
                .inc();
        }
    }
    if !world
        .resource::<Lobby>()
        .ticks
        .is_multiple_of(GAUGE_EVERY_TICKS)
    {
        return;
    }
    let mut counts: HashMap<(Game, Phase), i64> = HashMap::new();
    let (mut players, mut spectators) = (0i64, 0i64);
    let mut query = world.query::<(Entity, &Audience)>();
    for (game, audience) in query.iter(world) {
        if let Some(summary) = view::match_phase(world, game).zip(view::match_game(world, game)) {
            *counts.entry((summary.1, summary.0)).or_default() += 1;
        }
        let watching = audience.spectators() as i64;
        spectators += watching;
        players += audience.members.len() as i64 - watching;
    }
    for game in Game::ALL {
        for phase in Phase::ALL {
            let count = counts.get(&(game, phase)).copied().unwrap_or(0);
            metrics
                .matches_active
                .with_label_values(&[game.as_str(), phase.as_str()])
                .set(count);
        }
    }
    metrics.players_connected.set(players);
    metrics.spectators_connected.set(spectators);
}
