//! A tracing span per match (tick thread, `SimSystems::Send`).
//!
//! A tracing span per match: [`log_match_events`] (a system in `SimSystems::Send`) logs every
//! match event of the tick inside a `match` span carrying the match id, so that a match's life
//! can be followed in the logs: starts and ends at `info`, every other event (a point, a brick)
//! at `debug` (`--log info,arcade_net::match_log=debug`). It only reads `MatchEvents`; when no
//! subscriber listens at that level, an event costs a level check.

use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::sim::{MatchEvent, MatchEvents};
use tracing::{debug, debug_span, info, info_span};

/// Logs this tick's match events, each in the span of its match.
pub fn log_match_events(events: Res<MatchEvents>) {
    for (_, id, tick, event) in &events.list {
        match event {
            MatchEvent::Started => {
                info_span!("match", id = %id).in_scope(|| info!(tick, "match started"));
            }
            MatchEvent::Ended(record) => {
                info_span!("match", id = %id, game = record.game.as_str()).in_scope(|| {
                    info!(
                        tick,
                        reason = record.reason.as_str(),
                        players = record.players.len(),
                        "match ended"
                    )
                });
            }
            MatchEvent::Discarded => {
                info_span!("match", id = %id).in_scope(|| info!(tick, "match discarded"));
            }
            other => {
                debug_span!("match", id = %id).in_scope(|| debug!(tick, event = ?other));
            }
        }
    }
}
