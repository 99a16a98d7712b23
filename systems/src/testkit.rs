//! Helpers for the unit tests: a small World with the simulation's resources and Pong
//! matches set up in a given phase, so that a test can run just one system on it.

use bevy_ecs::prelude::*;
use bevy_ecs::system::RunSystemOnce;

use crate::components::{Ball, MatchPhase, PongCourt, Seats, Serve};
use crate::model::{Game, MatchId, MatchOptions, Mode, Phase, PlayerId, PlayerRef};
use crate::sim::{self, MatchSpec, Simulation};
use crate::tick::{MatchEvent, MatchEvents, SimConfig};

pub(crate) fn player(n: u64) -> PlayerRef {
    PlayerRef {
        id: PlayerId(n),
        name: format!("player{n}"),
    }
}

pub(crate) fn spec(id: u64, mode: Mode, score_limit: u32, seed: u64) -> MatchSpec {
    let game = if mode.fits(Game::Pong) {
        Game::Pong
    } else {
        Game::Breakout
    };
    let options = MatchOptions {
        score_limit: (game == Game::Pong).then_some(score_limit),
        ..Default::default()
    }
    .resolve(game, mode)
    .expect("valid options");
    MatchSpec {
        id: MatchId(id),
        game,
        mode,
        options,
        seed,
        started_at_ms: 1_700_000_000_000,
    }
}

/// A simulation at `tick_rate` with a grace of 2 s.
pub(crate) fn simulation(tick_rate: u32) -> Simulation {
    Simulation::new(SimConfig {
        tick_rate,
        reconnect_grace_ticks: 2 * u64::from(tick_rate),
    })
}

/// A Pong 1v1 match with players 1 (left) and 2 (right) seated: in `countdown`.
pub(crate) fn seated_pong(world: &mut World, seed: u64, score_limit: u32) -> Entity {
    let game = sim::create_match(world, spec(seed + 1, Mode::OneVsOne, score_limit, seed));
    sim::join_match(world, game, player(1)).expect("left");
    sim::join_match(world, game, player(2)).expect("right");
    game
}

/// Forces a match's phase (for tests of one system), and marks its seats as a tick would
/// ([`crate::lifecycle::mark_seats_in_play`]).
pub(crate) fn set_phase(world: &mut World, game: Entity, phase: Phase) {
    world.get_mut::<MatchPhase>(game).expect("match").phase = phase;
    world
        .run_system_once(crate::lifecycle::mark_seats_in_play)
        .expect("marks the seats");
}

/// A Pong 1v1 match already `playing`, the ball served with this position and velocity.
pub(crate) fn playing_pong(world: &mut World, ball: Ball) -> Entity {
    let game = seated_pong(world, 7, 11);
    set_phase(world, game, Phase::Playing);
    let ball_entity = ball_of(world, game);
    *world.get_mut::<Ball>(ball_entity).expect("ball") = ball;
    world.get_mut::<Serve>(ball_entity).expect("serve").pending = false;
    game
}

/// The entity with a Pong match's ball: the match's own.
pub(crate) fn ball_of(world: &World, game: Entity) -> Entity {
    assert!(world.get::<PongCourt>(game).is_some(), "pong match");
    game
}

pub(crate) fn ball(world: &World, game: Entity) -> Ball {
    *world.get::<Ball>(ball_of(world, game)).expect("ball")
}

/// The seat entities of a match in seat order.
pub(crate) fn seats(world: &World, game: Entity) -> Vec<Entity> {
    world.get::<Seats>(game).expect("match").entities().to_vec()
}

pub(crate) fn phase(world: &World, game: Entity) -> Phase {
    world.get::<MatchPhase>(game).expect("match").phase
}

/// The events of a match in the list now.
pub(crate) fn events(world: &World, game: Entity) -> Vec<MatchEvent> {
    world
        .resource::<MatchEvents>()
        .list
        .iter()
        .filter(|(e, ..)| *e == game)
        .map(|(.., event)| event.clone())
        .collect()
}

/// A Breakout match of `mode` with players 1 (and 2 in versus) seated, forced to `playing`.
pub(crate) fn playing_breakout(world: &mut World, mode: Mode, seed: u64) -> Entity {
    let game = sim::create_match(world, spec(seed + 1, mode, 0, seed));
    for n in 1..=mode.player_seats().len() as u64 {
        sim::join_match(world, game, player(n)).expect("seat");
    }
    set_phase(world, game, Phase::Playing);
    game
}
