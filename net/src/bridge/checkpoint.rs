//! Live matches handed over with their checkpoints (issue 18 item 6; tick thread, between
//! steps): [`capture_live_matches`] reads every live match of this World, [`restore_match`]
//! puts one into this World with what the bridge keeps per match (its [`MatchIdOf`], an empty
//! [`Audience`], the Lobby's seat index, a join code if private), so that a player who
//! connects with its token is seated back by the usual reattach and `match.join` by id
//! works; [`release_match`] takes a handed-over match out without an end, and [`hand_over`]
//! does all three around a save. [`encode`]/[`decode`]: the stored form (MessagePack).
//!
//! Tournament matches are not handed over: the tournament runner replays them after a
//! restart (they are aborted as before).

use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::checkpoint::{self, MatchCheckpoint, RestoreError};
use arcade_systems::components::{Presence, SeatSlot, Seats};
use arcade_systems::model::MatchId;
use arcade_systems::sim;

use crate::bridge::receive::new_join_code;
use crate::bridge::send::forget_match;
use crate::link::audience::{Audience, Lobby, MatchIdOf};

/// Why stored bytes are not a checkpoint.
#[derive(Debug, thiserror::Error)]
#[error("not a match checkpoint: {0}")]
pub struct DecodeError(#[from] rmp_serde::decode::Error);

/// The stored form of a checkpoint: MessagePack, fields by position (about 150 bytes of
/// state for Pong 1v1, plus its replay log so far).
pub fn encode(checkpoint: &MatchCheckpoint) -> Vec<u8> {
    rmp_serde::to_vec(checkpoint).expect("a checkpoint always serializes")
}

/// The inverse of [`encode`].
pub fn decode(bytes: &[u8]) -> Result<MatchCheckpoint, DecodeError> {
    Ok(rmp_serde::from_slice(bytes)?)
}

/// The checkpoint of every live match this World serves (finished ones and tournament
/// matches left out), by id.
pub fn capture_live_matches(world: &mut World) -> Vec<MatchCheckpoint> {
    let mut query = world.query_filtered::<(Entity, &MatchIdOf), With<Audience>>();
    let games: Vec<(Entity, MatchId)> = query.iter(world).map(|(e, id)| (e, id.0)).collect();
    let mut captured: Vec<MatchCheckpoint> = games
        .into_iter()
        .filter(|(_, id)| !crate::tournament::tick::is_tournament_match(world, *id))
        .filter_map(|(game, _)| checkpoint::capture(world, game))
        .collect();
    captured.sort_by_key(|checkpoint| checkpoint.id);
    captured
}

/// Restores a captured match into this World (every player seated in it is away until it
/// comes back) and indexes it as a match created here. Returns its entity.
pub fn restore_match(
    world: &mut World,
    checkpoint: &MatchCheckpoint,
) -> Result<Entity, RestoreError> {
    let game = checkpoint::restore(world, checkpoint)?;
    let id = checkpoint.id;
    world
        .entity_mut(game)
        .insert((Audience::default(), MatchIdOf(id)));
    let seats = world
        .get::<Seats>(game)
        .map(|seats| seats.entities().to_vec())
        .unwrap_or_default();
    let away: Vec<_> = seats
        .iter()
        .filter_map(|seat| world.get::<SeatSlot>(*seat)?.occupant.as_ref())
        .filter(|occupant| occupant.presence != Presence::Gone)
        .map(|occupant| occupant.player.id)
        .collect();
    let mut lobby = world.resource_mut::<Lobby>();
    for player in away {
        let held = lobby.seats_of.entry(player).or_default();
        if !held.contains(&game) {
            held.push(game);
        }
    }
    if checkpoint.options.private {
        let code = loop {
            let code = new_join_code();
            if !lobby.join_codes.contains_key(&code) {
                break code;
            }
        };
        lobby.join_codes.insert(code.clone(), id);
        lobby.code_of.insert(id, code);
    }
    Ok(game)
}

/// Takes a handed-over match out of this World without an end: no `match.end`, no record.
/// Its members' sockets stay open (the caller closes or redirects them). `false` when no
/// such match is here.
pub fn release_match(world: &mut World, id: MatchId) -> bool {
    let Some(game) = sim::find_match(world, id) else {
        return false;
    };
    let audience = world
        .entity_mut(game)
        .take::<Audience>()
        .unwrap_or_default();
    // A sender holding this tick's member list stages no `state` of it any more.
    audience.members.dismiss();
    forget_match(world, game, id, &audience);
    checkpoint::release(world, game);
    true
}

/// Captures every live match, gives the checkpoints to `save` (a database transaction, a
/// Redis write) and, once saved, releases them; when `save` fails the matches stay live here
/// (the caller aborts them as without a checkpoint). Returns how many were handed over.
pub fn hand_over<E: std::fmt::Display>(
    world: &mut World,
    save: impl FnOnce(&[MatchCheckpoint]) -> Result<(), E>,
) -> usize {
    let captured = capture_live_matches(world);
    if captured.is_empty() {
        return 0;
    }
    if let Err(error) = save(&captured) {
        tracing::error!(%error, matches = captured.len(), "live matches not saved: aborted instead");
        return 0;
    }
    for checkpoint in &captured {
        release_match(world, checkpoint.id);
    }
    captured.len()
}
