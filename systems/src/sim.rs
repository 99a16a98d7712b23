//! The simulation: one World holding every match, one Schedule run once per tick, and the
//! operations the network layer applies to the World on the tick thread between ticks.

use bevy_ecs::prelude::*;

use crate::model::{Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerId, PlayerRef, Seat};

/// The fixed order of a tick, after bevy_replicon: the network layer drains its inbound queue
/// in `Receive`, the rules run in `Game`, and snapshots and events leave in `Send`.
#[derive(SystemSet, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SimSystems {
    Receive,
    Game,
    Send,
}

/// Server settings the rules need, in ticks (the simulation has no clock).
#[derive(Resource, Clone, Copy, Debug)]
pub struct SimConfig {
    pub tick_rate: u32,
    /// How many ticks a dropped player keeps the seat (GAMES.md `reconnectGrace`).
    pub reconnect_grace_ticks: u64,
}

/// What a match needs to be created. The caller draws `id` and `seed` (the simulation has no
/// RNG of its own) and stamps `started_at_ms` (it has no clock).
#[derive(Clone, Debug)]
pub struct MatchSpec {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    /// Already resolved with [`MatchOptions::resolve`].
    pub options: MatchOptions,
    pub seed: u64,
    pub started_at_ms: i64,
}

/// One input frame of a player (GAMES.md: `axis` in [-1, 1], `launch` for breakout).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputFrame {
    pub seq: u64,
    pub axis: f32,
    pub launch: bool,
}

/// Something that happened in a match this tick, for the network layer to announce and the
/// persistence system to store. Drained by whoever runs in [`SimSystems::Send`]; cleared at the
/// start of every tick.
#[derive(Clone, Debug, PartialEq)]
pub enum MatchEvent {
    /// Every seat is filled: the countdown began (`match.start`).
    Started,
    /// A point was scored (pong): the seat that scored and the score after it.
    Point { scorer: Seat, score: [u32; 2] },
    Paused { player: PlayerId },
    Resumed,
    PlayerLeft { player: PlayerId },
    PlayerBack { player: PlayerId },
    /// The match finished; its history record. The match entity is despawned at the start of
    /// the next tick.
    Ended(MatchRecord),
    /// The match was discarded before it ever started (no history).
    Discarded,
}

/// The events of this tick: (match entity, match id, match tick, event).
#[derive(Resource, Default, Debug)]
pub struct MatchEvents {
    pub list: Vec<(Entity, MatchId, u64, MatchEvent)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// Every seat is taken.
    NoFreeSeat,
    /// The match has finished or is not a match.
    NotJoinable,
    /// This player already sits in the match.
    AlreadySeated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The player holds no seat in this match.
    NotAPlayer,
    /// axis outside [-1, 1] or not finite.
    BadAxis,
}

/// The World with every match and the Schedule of one tick.
pub struct Simulation {
    pub world: World,
    pub schedule: Schedule,
}

impl Simulation {
    pub fn new(config: SimConfig) -> Simulation {
        let _ = config;
        todo!()
    }

    /// Runs one tick: clears last tick's events, then Receive → Game → Send.
    pub fn step(&mut self) {
        todo!()
    }
}

/// Creates a match in `waiting` (or straight into `countdown` for vs_bot/solo once the creator
/// is seated). Returns its entity.
pub fn create_match(world: &mut World, spec: MatchSpec) -> Entity {
    let _ = (world, spec);
    todo!()
}

/// The entity of a live match.
pub fn find_match(world: &World, id: MatchId) -> Option<Entity> {
    let _ = (world, id);
    todo!()
}

/// Seats a player in the first free seat (in [`Mode::player_seats`] order). When the last seat
/// fills, the countdown begins (a `Started` event).
pub fn join_match(world: &mut World, game: Entity, player: PlayerRef) -> Result<Seat, JoinError> {
    let _ = (world, game, player);
    todo!()
}

/// The seat a player holds in a match, if any.
pub fn seat_of(world: &World, game: Entity, player: PlayerId) -> Option<Seat> {
    let _ = (world, game, player);
    todo!()
}

/// A player leaves on purpose: forfeits at once (or discards a match still `waiting`).
pub fn leave_match(world: &mut World, game: Entity, player: PlayerId) {
    let _ = (world, game, player);
    todo!()
}

/// A player's connection dropped: the seat is kept for the grace, the match pauses.
pub fn player_dropped(world: &mut World, game: Entity, player: PlayerId) {
    let _ = (world, game, player);
    todo!()
}

/// A dropped player is back: a fresh countdown, then `resumed`.
pub fn player_returned(world: &mut World, game: Entity, player: PlayerId) {
    let _ = (world, game, player);
    todo!()
}

/// Ends a live match as `aborted` (shutdown). Its `Ended` event comes on the next step.
pub fn abort_match(world: &mut World, game: Entity) {
    let _ = (world, game);
    todo!()
}

/// Queues a player's input for the `apply_inputs` system of the next tick.
pub fn submit_input(
    world: &mut World,
    game: Entity,
    player: PlayerId,
    input: InputFrame,
) -> Result<(), InputError> {
    let _ = (world, game, player, input);
    todo!()
}
