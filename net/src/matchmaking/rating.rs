//! [`rating_for`] (tokio threads): a player's rating for pairing, read from the store on the
//! blocking pool before `queue.join` reaches the tick thread.

use arcade_data::ratings::DEFAULT_RATING;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, PlayerId};

use crate::state::AppState;

/// The player's rating for pairing in a queue of `game`: the player's Glicko-2 rating in that
/// game (pong for 1v1 and 2v2, breakout for versus), or [`DEFAULT_RATING`] (arcade-data's) when the store
/// has none or does not answer. Runs the read on the blocking pool; the tick thread never
/// touches the database.
pub async fn rating_for(state: &AppState, player: PlayerId, game: Game) -> f64 {
    state
        .blocking(move |store| store.player_stats(player))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|stats| {
            stats
                .into_iter()
                .find(|(of, _)| *of == game)
                .map(|(_, stats)| stats.rating)
        })
        .filter(|rating| rating.is_finite())
        .unwrap_or(DEFAULT_RATING)
}
