//! Read-only views of a match: the `state` snapshot (PROTOCOL.md) and the live-list summary.
//! Views borrow from the World and serialize straight into the caller's buffer.

use bevy_ecs::prelude::*;
use serde::Serialize;

use crate::model::{Game, MatchId, MatchOptions, Mode, Phase, PlayerRef, Seat};

/// A live match as `GET /api/matches/live` and `match.list` show it.
#[derive(Clone, Debug, Serialize)]
pub struct MatchSummary {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    pub options: MatchOptions,
    pub phase: Phase,
    pub tick: u64,
    pub started_at_ms: i64,
    /// Occupied seats in seat order.
    pub players: Vec<(PlayerRef, Seat)>,
    /// Pong: [left, right]; breakout: one score per field.
    pub score: Vec<u32>,
}

/// The summary of a live match.
pub fn match_summary(world: &World, game: Entity) -> Option<MatchSummary> {
    let _ = (world, game);
    todo!()
}

/// Writes the `data` object of a `state` message for one match with `serializer`
/// (PROTOCOL.md "state": matchId, tick, phase, acks, and the game's own key).
pub fn serialize_state<S: serde::Serializer>(
    world: &World,
    game: Entity,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let _ = (world, game, serializer);
    todo!()
}
