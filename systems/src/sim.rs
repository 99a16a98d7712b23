//! The simulation: one World holding every match, one Schedule run once per tick, and the
//! operations the network layer applies to the World on the tick thread between ticks.
//!
//! A tick runs [`SimSystems::Receive`] (the network layer's systems), then the rules in
//! [`SimSystems::Game`] in this fixed order: `apply_inputs`, `advance_match_clock`,
//! `forfeit_absent_players`, `run_countdown`, `mark_seats_in_play` (its commands applied
//! right after it); the bots (`drive_pong_bots`,
//! `drive_breakout_bots`, which write their seats' held input as a player's frame would);
//! Pong (`serve_ball`, `move_paddles`, `move_ball`, `score_points`); Breakout
//! (`move_field_paddles`, `launch_balls`, `move_field_balls`, `lose_balls`, `advance_levels`,
//! `end_on_time_limit`, `end_breakout_matches`); then `finish_matches` and `seal_replays`
//! (the replay into the record); then
//! [`SimSystems::Send`].
//!
//! Every mode of GAMES.md is simulated: Pong 1v1, 2v2 and vs_bot, Breakout solo and versus.
//! Any free seat can also be given to a bot ([`attach_bot`], [`fill_with_bots`]), so that a
//! benchmark fills matches without sockets.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;

use crate::components::{
    EndCause, EndedMatches, InMatch, MAX_SEATS, MatchClock, MatchEnding, MatchIndex, MatchInfo,
    MatchPhase, MatchRng, Occupant, Outcome, PlayerInput, PongCourt, Presence, PublishedEvents,
    SeatKind, SeatSlot, Seats, Side, TeamScore, TimeLimit,
};
use crate::lifecycle::{self, Departure};
use crate::model::{
    BotLevel, DEFAULT_SCORE_LIMIT, DEFAULT_TIME_LIMIT_SECONDS, EndReason, Game, MatchId,
    MatchOptions, Mode, Phase, PlayerId, PlayerRef, Seat,
};
use crate::replay::{self, Lifecycle};
use crate::rng::SplitMix64;
pub use crate::tick::{
    DEFAULT_RECONNECT_GRACE_SECONDS, DEFAULT_TICK_RATE, InputFrame, MatchEvent, MatchEvents,
    SimConfig,
};
use crate::{bots, breakout, pong};

/// The fixed order of a tick, after bevy_replicon: the network layer drains its inbound queue
/// in `Receive`, the rules run in `Game`, and snapshots and events leave in `Send`.
#[derive(SystemSet, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SimSystems {
    Receive,
    Game,
    Send,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// Every seat is taken.
    NoFreeSeat,
    /// The match has finished or is not a match.
    NotJoinable,
    /// This player already sits in the match.
    AlreadySeated,
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoinError::NoFreeSeat => "no free seat",
            JoinError::NotJoinable => "the match cannot be joined",
            JoinError::AlreadySeated => "already seated in this match",
        })
    }
}

impl std::error::Error for JoinError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The player holds no seat in this match.
    NotAPlayer,
    /// axis outside [-1, 1] or not finite.
    BadAxis,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputError::NotAPlayer => "not a player of this match",
            InputError::BadAxis => "axis must be a number in [-1, 1]",
        })
    }
}

impl std::error::Error for InputError {}

/// The World with every match and the Schedule of one tick.
pub struct Simulation {
    pub world: World,
    pub schedule: Schedule,
}

impl Simulation {
    /// A World with the shared resources ([`SimConfig`], [`MatchEvents`], [`MatchIndex`]) and
    /// a Schedule whose sets run Receive → Game → Send, with the rules chained in `Game`.
    /// Other crates add their systems with
    /// `sim.schedule.add_systems(x.in_set(SimSystems::Send))`.
    pub fn new(config: SimConfig) -> Simulation {
        assert!(config.tick_rate > 0, "tick_rate must be positive");
        let mut world = World::new();
        world.insert_resource(config);
        world.insert_resource(MatchEvents::default());
        world.insert_resource(MatchIndex::default());
        world.insert_resource(EndedMatches::default());
        world.insert_resource(PublishedEvents::default());

        let mut schedule = Schedule::default();
        // Deterministic whatever features other crates turn on for bevy_ecs.
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets((SimSystems::Receive, SimSystems::Game, SimSystems::Send).chain());
        schedule.add_systems(
            (
                (
                    lifecycle::apply_inputs,
                    lifecycle::advance_match_clock,
                    lifecycle::forfeit_absent_players,
                    lifecycle::run_countdown,
                    lifecycle::mark_seats_in_play,
                )
                    .chain(),
                (bots::drive_pong_bots, bots::drive_breakout_bots).chain(),
                (
                    pong::serve_ball,
                    pong::move_paddles,
                    pong::move_ball,
                    pong::score_points,
                )
                    .chain(),
                (
                    breakout::move_field_paddles,
                    breakout::launch_balls,
                    breakout::move_field_balls,
                    breakout::lose_balls,
                    breakout::advance_levels,
                    breakout::end_on_time_limit,
                    breakout::end_breakout_matches,
                )
                    .chain(),
                (
                    lifecycle::finish_matches,
                    replay::seal_replays.run_if(replay::replays_to_seal),
                )
                    .chain(),
            )
                .chain()
                .in_set(SimSystems::Game),
        );
        Simulation { world, schedule }
    }

    /// Runs one tick: drops the events the last tick's `Send` saw (events pushed by the
    /// operations since then stay for this tick's `Send`), despawns the matches that ended
    /// last tick with their seats, then runs Receive → Game → Send.
    pub fn step(&mut self) {
        let world = &mut self.world;
        let seen = world.resource::<PublishedEvents>().0;
        {
            let mut events = world.resource_mut::<MatchEvents>();
            let seen = seen.min(events.list.len());
            events.list.drain(..seen);
        }

        let mut ended = std::mem::take(&mut world.resource_mut::<EndedMatches>().0);
        for game in ended.drain(..) {
            if let Some(info) = world.get::<MatchInfo>(game) {
                let id = info.id;
                world.resource_mut::<MatchIndex>().remove(id);
            }
            world.despawn(game);
        }
        // Hand the emptied list back, keeping its capacity.
        world.resource_mut::<EndedMatches>().0 = ended;

        self.schedule.run(world);

        let published = world.resource::<MatchEvents>().list.len();
        world.resource_mut::<PublishedEvents>().0 = published;
    }
}

/// The seats of a mode in seat order: the player seats in [`Mode::player_seats`] order, then
/// the bot's.
pub(crate) fn seat_layout(mode: Mode) -> &'static [(Seat, SeatKind)] {
    use SeatKind::{Bot, Player};
    match mode {
        Mode::OneVsOne => &[(Seat::Left, Player), (Seat::Right, Player)],
        Mode::VsBot => &[(Seat::Left, Player), (Seat::Right, Bot)],
        Mode::TwoVsTwo => &[
            (Seat::LeftBack, Player),
            (Seat::RightBack, Player),
            (Seat::LeftFront, Player),
            (Seat::RightFront, Player),
        ],
        Mode::Solo => &[(Seat::P1, Player)],
        Mode::Versus => &[(Seat::P1, Player), (Seat::P2, Player)],
    }
}

/// Creates a match in `waiting` with no one seated; the caller then joins the creator (for
/// vs_bot and solo, that join fills the last player seat and starts the countdown). Returns
/// its entity. Pong seats get their paddles (vs_bot's bot seat its [`crate::components::Bot`] at
/// `options.bot`), and the match entity its ball; Breakout seats get a whole field each (paddle,
/// resting ball, full wall, 3 lives, a launch PRNG seeded with the match seed), and a versus
/// match its [`TimeLimit`].
pub fn create_match(world: &mut World, spec: MatchSpec) -> Entity {
    let MatchSpec {
        id,
        game,
        mode,
        options,
        seed,
        started_at_ms,
    } = spec;
    let score_limit = options.score_limit.unwrap_or(DEFAULT_SCORE_LIMIT);
    let mut rng = SplitMix64::new(seed);
    let first_serve = if rng.coin() { Side::Left } else { Side::Right };

    let layout = seat_layout(mode);
    debug_assert!(layout.len() <= MAX_SEATS);
    let config = *world.resource::<SimConfig>();
    let bot_level = options.bot.unwrap_or_default();
    let time_limit = options.time_limit.unwrap_or(DEFAULT_TIME_LIMIT_SECONDS);
    let entity = world
        .spawn((
            MatchInfo {
                id,
                game,
                mode,
                options,
                seed,
                started_at_ms,
                score_limit,
            },
            MatchPhase {
                phase: Phase::Waiting,
                countdown_left: 0,
                resuming: false,
            },
            MatchClock::default(),
            MatchEnding::Live,
            MatchRng(rng),
            replay::new_log(),
        ))
        .id();

    let mut seats = [Entity::PLACEHOLDER; MAX_SEATS];
    for (slot_entity, &(seat, kind)) in seats.iter_mut().zip(layout) {
        let slot = SeatSlot {
            seat,
            side: Side::of(seat),
            kind,
            occupant: None,
        };
        let seat_bundle = (InMatch(entity), slot, PlayerInput::default());
        let mut seat_entity = match game {
            Game::Pong => world.spawn((seat_bundle, pong::starting_paddle(seat))),
            Game::Breakout => world.spawn((seat_bundle, breakout::starting_field(seed, &config))),
        };
        if kind == SeatKind::Bot {
            seat_entity.insert(bots::new_bot(bot_level));
        }
        *slot_entity = seat_entity.id();
    }
    let seats = Seats::new(&seats[..layout.len()]);

    let mut match_entity = world.entity_mut(entity);
    match_entity.insert(seats);
    if game == Game::Pong {
        match_entity.insert((
            TeamScore::default(),
            PongCourt {
                lane: pong::paddle_free_lane(layout.iter().map(|&(seat, _)| seat)),
            },
            pong::starting_ball(first_serve),
        ));
    }
    if game == Game::Breakout && mode == Mode::Versus {
        match_entity.insert(TimeLimit {
            ticks_left: u64::from(time_limit) * u64::from(config.tick_rate),
        });
    }
    world.resource_mut::<MatchIndex>().insert(id, entity);
    entity
}

/// The entity of a live match (and of a finished one until the step after its end).
pub fn find_match(world: &World, id: MatchId) -> Option<Entity> {
    world.get_resource::<MatchIndex>()?.get(id)
}

/// Seats a player in the first free seat (in [`Mode::player_seats`] order). When the last seat
/// fills, the countdown begins (a `Started` event).
pub fn join_match(world: &mut World, game: Entity, player: PlayerRef) -> Result<Seat, JoinError> {
    let Some(phase) = world.get::<MatchPhase>(game).copied() else {
        return Err(JoinError::NotJoinable);
    };
    if phase.phase == Phase::Finished {
        return Err(JoinError::NotJoinable);
    }
    let seats = *world.get::<Seats>(game).ok_or(JoinError::NotJoinable)?;
    if find_seat(world, &seats, player.id).is_some() {
        return Err(JoinError::AlreadySeated);
    }
    if phase.phase != Phase::Waiting {
        return Err(JoinError::NoFreeSeat);
    }
    let free = seats.entities().iter().copied().find(|seat| {
        world
            .get::<SeatSlot>(*seat)
            .is_some_and(|slot| slot.kind == SeatKind::Player && slot.occupant.is_none())
    });
    let Some(free) = free else {
        return Err(JoinError::NoFreeSeat);
    };
    replay::note(world, game, Lifecycle::Join(&player));
    let mut slot = world
        .get_mut::<SeatSlot>(free)
        .ok_or(JoinError::NotJoinable)?;
    slot.occupant = Some(Occupant {
        player,
        presence: Presence::Present,
    });
    let seat = slot.seat;

    start_when_full(world, game);
    Ok(seat)
}

/// When every seat of a `waiting` match is filled (by players or bots), starts the countdown
/// (or a pause, if a seated player dropped meanwhile) and pushes `Started`.
fn start_when_full(world: &mut World, game: Entity) {
    let Some(seats) = world.get::<Seats>(game).copied() else {
        return;
    };
    if world
        .get::<MatchPhase>(game)
        .is_none_or(|phase| phase.phase != Phase::Waiting)
    {
        return;
    }
    let all_filled = seats.entities().iter().all(|seat| {
        world
            .get::<SeatSlot>(*seat)
            .is_some_and(|slot| slot.kind != SeatKind::Player || slot.occupant.is_some())
    });
    if !all_filled {
        return;
    }
    let config = *world.resource::<SimConfig>();
    if let Some(mut phase) = world.get_mut::<MatchPhase>(game) {
        if seats.absent == 0 {
            lifecycle::start_countdown(&mut phase, &config, false);
        } else {
            // Someone dropped while waiting: start paused until they are back.
            *phase = MatchPhase {
                phase: Phase::Paused,
                countdown_left: 0,
                resuming: true,
            };
        }
    }
    push_event(world, game, MatchEvent::Started);
}

/// Gives a free seat of a `waiting` match to a server bot of `level`: the seat counts as
/// filled (the countdown starts when the last seat is), no one can join it, and the bot
/// systems play it from what a client sees of the state. For benchmarks and tests that fill
/// matches without sockets; vs_bot matches get their bot at creation.
pub fn attach_bot(
    world: &mut World,
    game: Entity,
    seat: Seat,
    level: BotLevel,
) -> Result<(), JoinError> {
    let phase = world
        .get::<MatchPhase>(game)
        .ok_or(JoinError::NotJoinable)?;
    if phase.phase != Phase::Waiting {
        return Err(JoinError::NotJoinable);
    }
    let seats = *world.get::<Seats>(game).ok_or(JoinError::NotJoinable)?;
    let seat_entity = seats
        .entities()
        .iter()
        .copied()
        .find(|entity| {
            world.get::<SeatSlot>(*entity).is_some_and(|slot| {
                slot.seat == seat && slot.kind == SeatKind::Player && slot.occupant.is_none()
            })
        })
        .ok_or(JoinError::NoFreeSeat)?;
    let index = seats
        .entities()
        .iter()
        .position(|e| *e == seat_entity)
        .unwrap_or_default();
    replay::note(world, game, Lifecycle::Bot { seat: index, level });
    let mut entity = world.entity_mut(seat_entity);
    if let Some(mut slot) = entity.get_mut::<SeatSlot>() {
        slot.kind = SeatKind::Bot;
    }
    entity.insert(bots::new_bot(level));
    start_when_full(world, game);
    Ok(())
}

/// Gives every free seat of a `waiting` match to a bot of `level` (a whole match of bots
/// when no one sat down): the countdown starts at once.
pub fn fill_with_bots(world: &mut World, game: Entity, level: BotLevel) -> Result<(), JoinError> {
    let seats = *world.get::<Seats>(game).ok_or(JoinError::NotJoinable)?;
    for entity in seats.entities() {
        let free = world
            .get::<SeatSlot>(*entity)
            .filter(|slot| slot.kind == SeatKind::Player && slot.occupant.is_none())
            .map(|slot| slot.seat);
        if let Some(seat) = free {
            attach_bot(world, game, seat, level)?;
        }
    }
    Ok(())
}

/// The seat a player holds in a match, if any.
pub fn seat_of(world: &World, game: Entity, player: PlayerId) -> Option<Seat> {
    let seats = world.get::<Seats>(game)?;
    let (_, seat_entity) = find_seat(world, seats, player)?;
    world.get::<SeatSlot>(seat_entity).map(|slot| slot.seat)
}

/// A player leaves on purpose: forfeits at once (or discards a match still `waiting`).
///
/// In `waiting`, the creator's leave discards the match (a `Discarded` event on the next
/// step) and anyone else's frees their seat (`PlayerLeft`). Later, the leaver's side loses
/// (`PlayerLeft` now, `Ended` with reason `forfeit` on the next step), unless no player is
/// present any more: then the match is `aborted`.
pub fn leave_match(world: &mut World, game: Entity, player: PlayerId) {
    let Some(phase) = world.get::<MatchPhase>(game).copied() else {
        return;
    };
    if phase.phase == Phase::Finished {
        return;
    }
    let Some(seats) = world.get::<Seats>(game).copied() else {
        return;
    };
    let Some((index, seat_entity)) = find_seat(world, &seats, player) else {
        return;
    };
    let Some(slot) = world.get::<SeatSlot>(seat_entity) else {
        return;
    };
    let side = slot.side;
    let was_absent = match &slot.occupant {
        Some(occupant) => match occupant.presence {
            Presence::Present => false,
            Presence::Dropped { .. } => true,
            Presence::Gone => return,
        },
        None => return,
    };
    let anyone_else_present = seats.entities().iter().any(|seat| {
        *seat != seat_entity
            && world
                .get::<SeatSlot>(*seat)
                .is_some_and(SeatSlot::is_present)
    });
    if was_absent && let Some(mut seats) = world.get_mut::<Seats>(game) {
        seats.absent -= 1;
    }
    replay::note(world, game, Lifecycle::Leave(player));

    match lifecycle::departure(phase.phase, index == 0, side, anyone_else_present) {
        Departure::Discard => {
            end_match(world, game, EndCause::Discarded);
        }
        Departure::FreeSeat => {
            if let Some(mut slot) = world.get_mut::<SeatSlot>(seat_entity) {
                slot.occupant = None;
            }
            push_event(world, game, MatchEvent::PlayerLeft { player });
        }
        Departure::End(cause) => {
            if let Some(mut slot) = world.get_mut::<SeatSlot>(seat_entity)
                && let Some(occupant) = &mut slot.occupant
            {
                occupant.presence = Presence::Gone;
            }
            push_event(world, game, MatchEvent::PlayerLeft { player });
            end_match(world, game, cause);
        }
    }
}

/// A player's connection dropped: the seat is kept for the grace, the match pauses.
///
/// A match still `waiting` does not pause: the seat is kept for the grace all the same.
pub fn player_dropped(world: &mut World, game: Entity, player: PlayerId) {
    let Some(phase) = world.get::<MatchPhase>(game).copied() else {
        return;
    };
    if phase.phase == Phase::Finished {
        return;
    }
    let Some(seats) = world.get::<Seats>(game).copied() else {
        return;
    };
    let Some((_, seat_entity)) = find_seat(world, &seats, player) else {
        return;
    };
    let tick = world.get::<MatchClock>(game).map_or(0, |clock| clock.tick);
    let Some(mut slot) = world.get_mut::<SeatSlot>(seat_entity) else {
        return;
    };
    match &mut slot.occupant {
        Some(occupant) if occupant.presence == Presence::Present => {
            occupant.presence = Presence::Dropped { at_tick: tick };
        }
        _ => return,
    }
    replay::note(world, game, Lifecycle::Drop(player));
    if let Some(mut seats) = world.get_mut::<Seats>(game) {
        seats.absent += 1;
    }
    if phase.phase == Phase::Waiting {
        return;
    }
    if let Some(mut phase) = world.get_mut::<MatchPhase>(game) {
        *phase = MatchPhase {
            phase: Phase::Paused,
            countdown_left: 0,
            resuming: true,
        };
    }
    push_event(world, game, MatchEvent::Paused { player });
}

/// A dropped player is back: a fresh countdown, then `resumed`.
///
/// `PlayerBack` at once; the match stays paused while another player is still away.
pub fn player_returned(world: &mut World, game: Entity, player: PlayerId) {
    let Some(phase) = world.get::<MatchPhase>(game).copied() else {
        return;
    };
    if phase.phase == Phase::Finished {
        return;
    }
    let Some(seats) = world.get::<Seats>(game).copied() else {
        return;
    };
    let Some((_, seat_entity)) = find_seat(world, &seats, player) else {
        return;
    };
    let Some(mut slot) = world.get_mut::<SeatSlot>(seat_entity) else {
        return;
    };
    match &mut slot.occupant {
        Some(occupant) if matches!(occupant.presence, Presence::Dropped { .. }) => {
            occupant.presence = Presence::Present;
        }
        _ => return,
    }
    replay::note(world, game, Lifecycle::Return(player));
    let absent = world.get_mut::<Seats>(game).map_or(0, |mut seats| {
        seats.absent -= 1;
        seats.absent
    });
    push_event(world, game, MatchEvent::PlayerBack { player });
    if phase.phase == Phase::Paused && absent == 0 {
        let config = *world.resource::<SimConfig>();
        if let Some(mut phase) = world.get_mut::<MatchPhase>(game) {
            lifecycle::start_countdown(&mut phase, &config, true);
        }
    }
}

/// Ends a live match as `aborted` (shutdown). Its `Ended` event comes on the next step.
pub fn abort_match(world: &mut World, game: Entity) {
    if world
        .get::<MatchPhase>(game)
        .is_some_and(|phase| phase.phase != Phase::Finished)
    {
        replay::note(world, game, Lifecycle::Abort);
        end_match(
            world,
            game,
            EndCause::Ended {
                reason: EndReason::Aborted,
                outcome: Outcome::NoResult,
            },
        );
    }
}

/// Queues a player's input for the `apply_inputs` system of the next tick.
///
/// Only the newest input counts: one whose `seq` is not above the last applied one, nor
/// above one already pending, is ignored (and still `Ok`). Accepted in every phase.
pub fn submit_input(
    world: &mut World,
    game: Entity,
    player: PlayerId,
    input: InputFrame,
) -> Result<(), InputError> {
    take_input(world, game, player, input, true)
}

/// [`submit_input`], recording when `record` (always, but in the benchmark of the recording's
/// cost, whose baseline runs this very code with `record` false).
#[inline(never)]
pub(crate) fn take_input(
    world: &mut World,
    game: Entity,
    player: PlayerId,
    input: InputFrame,
    record: bool,
) -> Result<(), InputError> {
    if let Some(Accepted {
        seat,
        changes: true,
    }) = accept_input(world, game, player, input, record)?
    {
        // The replay records only what changes the simulation: an input that leaves the
        // seat's axis and launch as they would be without it records nothing (its `seq`
        // reaches the log once, at the end: `replay::seal_replays`).
        replay::note_input(world, game, seat, input);
    }
    Ok(())
}

/// An input [`accept_input`] made the seat's pending input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Accepted {
    /// The seat's index in seat order.
    pub seat: usize,
    /// Whether the next step applies something else than it would have without it
    /// ([`changes_input`]).
    pub changes: bool,
}

/// [`submit_input`] without the replay: makes `input` the seat's pending input if it is the
/// newest, and says where and (when `recording`, else `false`) whether it changes what the
/// next step applies.
#[inline]
pub(crate) fn accept_input(
    world: &mut World,
    game: Entity,
    player: PlayerId,
    input: InputFrame,
    recording: bool,
) -> Result<Option<Accepted>, InputError> {
    let seats = world.get::<Seats>(game).ok_or(InputError::NotAPlayer)?;
    let (index, seat_entity) = find_seat(world, seats, player).ok_or(InputError::NotAPlayer)?;
    check_axis(input)?;
    let held = world
        .get_mut::<PlayerInput>(seat_entity)
        .ok_or(InputError::NotAPlayer)?;
    Ok(accept_at(held, index, input, recording))
}

fn check_axis(input: InputFrame) -> Result<(), InputError> {
    if input.axis.is_finite() && (-1.0..=1.0).contains(&input.axis) {
        Ok(())
    } else {
        Err(InputError::BadAxis)
    }
}

/// The part of [`accept_input`] after the seat is found and the axis checked: `input` made
/// the seat's pending input if it is the newest.
#[inline]
fn accept_at(
    mut held: Mut<'_, PlayerInput>,
    index: usize,
    input: InputFrame,
    recording: bool,
) -> Option<Accepted> {
    let newest = held
        .pending
        .map_or(held.applied_seq, |p| p.seq.max(held.applied_seq));
    let accepted = input.seq > newest;
    if !accepted {
        return None;
    }
    let changes = recording && changes_input(&held, input);
    hold_pending(&mut held, input);
    Some(Accepted {
        seat: index,
        changes,
    })
}

/// Where a player's inputs to one match go: the match and the seat, found once by
/// [`input_route`] and kept by the caller (the network layer keeps one per player), so that
/// each input is [`submit_routed_input`] with one check instead of a search of the seats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputRoute {
    game: Entity,
    seat: Entity,
    index: usize,
}

/// The route of `player`'s inputs to `game`, when the player holds a seat there.
pub fn input_route(world: &World, game: Entity, player: PlayerId) -> Option<InputRoute> {
    let seats = world.get::<Seats>(game)?;
    let (index, seat) = find_seat(world, seats, player)?;
    Some(InputRoute { game, seat, index })
}

/// What [`submit_routed_input`] reads and writes of a seat, kept by its caller across inputs
/// (a query locates the seat and its components once; `World::get` would map each
/// component's type to its id again, for every input).
pub type RoutedSeats = QueryState<(&'static SeatSlot, &'static mut PlayerInput)>;

/// [`submit_input`] through a route: `None` when the route no longer holds (the seat is gone
/// with its match, or is not `player`'s any more), and the caller finds it again. A seat
/// entity lives and dies with its match (a checkpoint's restore spawns new ones), so a seat
/// that still exists and still holds `player` is the seat [`submit_input`] would find.
pub fn submit_routed_input(
    world: &mut World,
    seats: &mut RoutedSeats,
    route: InputRoute,
    player: PlayerId,
    input: InputFrame,
) -> Option<Result<(), InputError>> {
    let (slot, held) = seats.get_mut(world, route.seat).ok()?;
    if slot.player_id() != Some(player) {
        return None;
    }
    if let Err(error) = check_axis(input) {
        return Some(Err(error));
    }
    if let Some(Accepted {
        seat,
        changes: true,
    }) = accept_at(held, route.index, input, true)
    {
        replay::note_input(world, route.game, seat, input);
    }
    Some(Ok(()))
}

/// Whether holding `input` as the seat's pending input changes the axis or the launch the
/// next step applies (its `seq` aside, which only acknowledgements and the state hash see).
/// Axes compare by their bits, as the state hash does.
pub(crate) fn changes_input(held: &PlayerInput, input: InputFrame) -> bool {
    let launch_after = match held.pending {
        // Applied as it is.
        None => input.launch,
        // A launch still waiting is kept.
        Some(pending) => input.launch || pending.launch,
    };
    let (axis, launch) = held.pending.map_or((held.axis, held.launch), |pending| {
        (pending.axis, pending.launch)
    });
    input.axis.to_bits() != axis.to_bits() || launch_after != launch
}

/// Makes `input` the seat's pending input. `launch` is an event: a newer input of the same
/// tick replaces the axis but keeps a launch still waiting to be applied.
pub(crate) fn hold_pending(held: &mut PlayerInput, input: InputFrame) {
    let launch = input.launch || held.pending.is_some_and(|pending| pending.launch);
    held.pending = Some(InputFrame { launch, ..input });
}

/// The index in seat order and the entity of the seat `player` holds.
fn find_seat(world: &World, seats: &Seats, player: PlayerId) -> Option<(usize, Entity)> {
    seats
        .entities()
        .iter()
        .copied()
        .enumerate()
        .find(|(_, seat)| {
            world
                .get::<SeatSlot>(*seat)
                .is_some_and(|slot| slot.player_id() == Some(player))
        })
}

/// Decides a match's end now; `finish_matches` announces it in the next step.
fn end_match(world: &mut World, game: Entity, cause: EndCause) {
    if let Some(mut phase) = world.get_mut::<MatchPhase>(game) {
        phase.phase = Phase::Finished;
    }
    if let Some(mut ending) = world.get_mut::<MatchEnding>(game) {
        *ending = MatchEnding::Pending(cause);
    }
}

/// Records an event of a match at its current tick.
fn push_event(world: &mut World, game: Entity, event: MatchEvent) {
    let Some(id) = world.get::<MatchInfo>(game).map(|info| info.id) else {
        return;
    };
    let tick = world.get::<MatchClock>(game).map_or(0, |clock| clock.tick);
    world
        .resource_mut::<MatchEvents>()
        .list
        .push((game, id, tick, event));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::Ball;
    use crate::model::{MatchRecord, PlayerResult};
    use crate::testkit::{ball, events, phase, player, seated_pong, simulation, spec};
    use crate::view::state_hash;

    fn input(seq: u64, axis: f32) -> InputFrame {
        InputFrame {
            seq,
            axis,
            launch: false,
        }
    }

    fn ended_record(world: &World, game: Entity) -> Option<MatchRecord> {
        events(world, game)
            .into_iter()
            .find_map(|event| match event {
                MatchEvent::Ended(record) => Some(record),
                _ => None,
            })
    }

    fn members(world: &mut World) -> usize {
        world.query::<&InMatch>().iter(world).count()
    }

    /// A routed input does what `submit_input` does, the replay included, while the route
    /// holds; the route stops holding when the seat is freed, or goes with its match.
    #[test]
    fn a_routed_input_is_a_submitted_one_until_the_seat_or_match_is_gone() {
        let mut routed = simulation(60);
        let mut searched = simulation(60);
        let game = seated_pong(&mut routed.world, 3, 11);
        let same = seated_pong(&mut searched.world, 3, 11);
        let route = input_route(&routed.world, game, PlayerId(2)).unwrap();
        assert_eq!(input_route(&routed.world, game, PlayerId(9)), None);
        // Kept across the inputs and the matches spawned between them, as the bridge keeps it.
        let mut seats = RoutedSeats::new(&mut routed.world);
        for seq in 1..300 {
            let frame = input(seq / 2, if seq % 40 < 20 { 1.0 } else { -0.5 });
            let by_route =
                submit_routed_input(&mut routed.world, &mut seats, route, PlayerId(2), frame);
            assert_eq!(
                by_route,
                Some(submit_input(&mut searched.world, same, PlayerId(2), frame))
            );
            routed.step();
            searched.step();
            assert_eq!(
                state_hash(&routed.world, game),
                state_hash(&searched.world, same)
            );
        }
        assert_eq!(
            submit_routed_input(
                &mut routed.world,
                &mut seats,
                route,
                PlayerId(2),
                input(1_000, 2.0)
            ),
            Some(Err(InputError::BadAxis))
        );
        // Another player's inputs do not go through this route.
        assert_eq!(
            submit_routed_input(
                &mut routed.world,
                &mut seats,
                route,
                PlayerId(1),
                input(1_000, 0.0)
            ),
            None
        );

        // A seat freed (a leave while waiting): the route no longer holds.
        let waiting = create_match(&mut routed.world, spec(77, Mode::TwoVsTwo, 11, 77));
        join_match(&mut routed.world, waiting, player(5)).unwrap();
        join_match(&mut routed.world, waiting, player(6)).unwrap();
        let route = input_route(&routed.world, waiting, PlayerId(6)).unwrap();
        leave_match(&mut routed.world, waiting, PlayerId(6));
        assert_eq!(
            submit_routed_input(
                &mut routed.world,
                &mut seats,
                route,
                PlayerId(6),
                input(1, 0.0)
            ),
            None
        );

        // A match gone (ended, despawned a step later): its seats with it.
        let route = input_route(&routed.world, game, PlayerId(1)).unwrap();
        abort_match(&mut routed.world, game);
        routed.step();
        routed.step();
        assert!(routed.world.get_entity(game).is_err());
        assert_eq!(
            submit_routed_input(
                &mut routed.world,
                &mut seats,
                route,
                PlayerId(1),
                input(5_000, 0.0)
            ),
            None
        );
    }

    #[test]
    fn the_countdown_runs_180_ticks_from_the_last_seat_to_the_first_serve() {
        let mut sim = simulation(60);
        let game = create_match(&mut sim.world, spec(1, Mode::OneVsOne, 11, 1));
        assert_eq!(join_match(&mut sim.world, game, player(1)), Ok(Seat::Left));
        assert_eq!(phase(&sim.world, game), Phase::Waiting);
        assert_eq!(join_match(&mut sim.world, game, player(2)), Ok(Seat::Right));
        assert_eq!(phase(&sim.world, game), Phase::Countdown);

        sim.step();
        // Pushed between ticks, the event is there for this tick's Send, and only this one.
        assert_eq!(events(&sim.world, game), [MatchEvent::Started]);
        sim.step();
        assert_eq!(events(&sim.world, game), []);
        for _ in 2..179 {
            sim.step();
        }
        assert_eq!(phase(&sim.world, game), Phase::Countdown);
        assert_eq!(ball(&sim.world, game).vx, 0.0);
        sim.step();
        assert_eq!(phase(&sim.world, game), Phase::Playing);
        assert_ne!(ball(&sim.world, game).vx, 0.0);
        assert_eq!(sim.world.get::<MatchClock>(game).unwrap().tick, 180);
    }

    #[test]
    fn two_vs_two_starts_with_four_and_a_leaver_loses_for_the_team() {
        let mut sim = simulation(60);
        let game = create_match(&mut sim.world, spec(1, Mode::TwoVsTwo, 11, 1));
        let seats: Vec<Seat> = (1..=4)
            .map(|n| join_match(&mut sim.world, game, player(n)).unwrap())
            .collect();
        assert_eq!(seats, Mode::TwoVsTwo.player_seats());
        assert_eq!(phase(&sim.world, game), Phase::Countdown);
        for _ in 0..240 {
            sim.step();
        }
        leave_match(&mut sim.world, game, PlayerId(3));
        sim.step();
        let record = ended_record(&sim.world, game).expect("ended");
        let results: Vec<_> = record.players.iter().map(|p| (p.seat, p.result)).collect();
        assert_eq!(
            results,
            [
                (Seat::LeftBack, PlayerResult::Loss),
                (Seat::RightBack, PlayerResult::Win),
                (Seat::LeftFront, PlayerResult::Loss),
                (Seat::RightFront, PlayerResult::Win),
            ]
        );
    }

    #[test]
    fn vs_bot_counts_down_as_soon_as_the_creator_sits() {
        let mut sim = simulation(60);
        let game = create_match(&mut sim.world, spec(1, Mode::VsBot, 11, 1));
        assert_eq!(join_match(&mut sim.world, game, player(1)), Ok(Seat::Left));
        assert_eq!(phase(&sim.world, game), Phase::Countdown);
        assert_eq!(
            join_match(&mut sim.world, game, player(2)),
            Err(JoinError::NoFreeSeat)
        );
    }

    #[test]
    fn joins_are_refused_when_seated_full_or_finished() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = create_match(world, spec(1, Mode::OneVsOne, 11, 1));
        join_match(world, game, player(1)).unwrap();
        assert_eq!(
            join_match(world, game, player(1)),
            Err(JoinError::AlreadySeated)
        );
        join_match(world, game, player(2)).unwrap();
        assert_eq!(
            join_match(world, game, player(3)),
            Err(JoinError::NoFreeSeat)
        );
        abort_match(world, game);
        assert_eq!(
            join_match(world, game, player(3)),
            Err(JoinError::NotJoinable)
        );
        assert_eq!(
            join_match(world, Entity::PLACEHOLDER, player(3)),
            Err(JoinError::NotJoinable)
        );
    }

    #[test]
    fn leaving_while_waiting_discards_the_match() {
        let mut sim = simulation(60);
        let game = create_match(&mut sim.world, spec(77, Mode::OneVsOne, 11, 1));
        join_match(&mut sim.world, game, player(1)).unwrap();
        assert_eq!(find_match(&sim.world, MatchId(77)), Some(game));
        leave_match(&mut sim.world, game, PlayerId(1));
        assert_eq!(phase(&sim.world, game), Phase::Finished);
        sim.step();
        assert_eq!(events(&sim.world, game), [MatchEvent::Discarded]);
        sim.step();
        assert_eq!(find_match(&sim.world, MatchId(77)), None);
        assert!(sim.world.get_entity(game).is_err());
        assert_eq!(members(&mut sim.world), 0);
        assert!(sim.world.resource::<MatchEvents>().list.is_empty());
    }

    #[test]
    fn leaving_a_started_match_forfeits_at_once() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        for _ in 0..200 {
            sim.step();
        }
        leave_match(&mut sim.world, game, PlayerId(1));
        assert_eq!(
            events(&sim.world, game),
            [MatchEvent::PlayerLeft {
                player: PlayerId(1)
            }]
        );
        sim.step();
        let record = ended_record(&sim.world, game).expect("ended");
        assert_eq!(record.reason, EndReason::Forfeit);
        assert_eq!(record.ticks, 200);
        let results: Vec<_> = record.players.iter().map(|p| (p.id, p.result)).collect();
        assert_eq!(
            results,
            [
                (PlayerId(1), PlayerResult::Loss),
                (PlayerId(2), PlayerResult::Win)
            ]
        );
        sim.step();
        assert!(sim.world.get_entity(game).is_err());
        assert_eq!(members(&mut sim.world), 0);
    }

    #[test]
    fn leaving_when_no_one_else_is_here_aborts() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        player_dropped(&mut sim.world, game, PlayerId(2));
        leave_match(&mut sim.world, game, PlayerId(1));
        sim.step();
        let record = ended_record(&sim.world, game).expect("ended");
        assert_eq!(record.reason, EndReason::Aborted);
        assert!(
            record
                .players
                .iter()
                .all(|p| p.result == PlayerResult::None)
        );
    }

    #[test]
    fn a_drop_pauses_and_a_return_resumes_after_a_fresh_countdown() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        for _ in 0..200 {
            sim.step();
        }
        assert_eq!(phase(&sim.world, game), Phase::Playing);
        player_dropped(&mut sim.world, game, PlayerId(2));
        assert_eq!(phase(&sim.world, game), Phase::Paused);
        assert_eq!(
            events(&sim.world, game),
            [MatchEvent::Paused {
                player: PlayerId(2)
            }]
        );
        let frozen = ball(&sim.world, game);
        for _ in 0..30 {
            sim.step();
        }
        assert_eq!(ball(&sim.world, game), frozen);

        player_returned(&mut sim.world, game, PlayerId(2));
        assert_eq!(
            events(&sim.world, game),
            [MatchEvent::PlayerBack {
                player: PlayerId(2)
            }]
        );
        for _ in 0..179 {
            sim.step();
            assert_eq!(phase(&sim.world, game), Phase::Countdown);
        }
        sim.step();
        assert_eq!(phase(&sim.world, game), Phase::Playing);
        assert_eq!(events(&sim.world, game), [MatchEvent::Resumed]);
        sim.step();
        assert_ne!(ball(&sim.world, game), frozen);
    }

    #[test]
    fn a_match_stays_paused_while_another_player_is_away() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        player_dropped(&mut sim.world, game, PlayerId(1));
        player_dropped(&mut sim.world, game, PlayerId(2));
        player_returned(&mut sim.world, game, PlayerId(1));
        assert_eq!(phase(&sim.world, game), Phase::Paused);
        player_returned(&mut sim.world, game, PlayerId(2));
        assert_eq!(phase(&sim.world, game), Phase::Countdown);
    }

    #[test]
    fn a_dropped_player_forfeits_after_the_grace() {
        let mut sim = simulation(60);
        let grace = sim.world.resource::<SimConfig>().reconnect_grace_ticks;
        let game = seated_pong(&mut sim.world, 1, 11);
        sim.step();
        player_dropped(&mut sim.world, game, PlayerId(1));
        for _ in 0..grace - 1 {
            sim.step();
            assert_eq!(phase(&sim.world, game), Phase::Paused);
        }
        sim.step();
        let record = ended_record(&sim.world, game).expect("ended");
        assert_eq!(record.reason, EndReason::Forfeit);
        assert_eq!(record.ticks, 1 + grace);
        assert_eq!(record.players[0].result, PlayerResult::Loss);
        assert_eq!(record.players[1].result, PlayerResult::Win);
    }

    #[test]
    fn an_aborted_match_ends_with_no_result() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        abort_match(&mut sim.world, game);
        sim.step();
        let record = ended_record(&sim.world, game).expect("ended");
        assert_eq!(record.reason, EndReason::Aborted);
        assert!(
            record
                .players
                .iter()
                .all(|p| p.result == PlayerResult::None)
        );
    }

    #[test]
    fn only_the_newest_input_applies_and_is_acked() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        let world = &mut sim.world;
        assert_eq!(
            submit_input(world, game, PlayerId(1), input(2, 1.0)),
            Ok(())
        );
        assert_eq!(
            submit_input(world, game, PlayerId(1), input(1, -1.0)),
            Ok(())
        );
        assert_eq!(
            submit_input(world, game, PlayerId(1), input(3, 1.5)),
            Err(InputError::BadAxis)
        );
        assert_eq!(
            submit_input(world, game, PlayerId(1), input(3, f32::NAN)),
            Err(InputError::BadAxis)
        );
        assert_eq!(
            submit_input(world, game, PlayerId(9), input(3, 0.0)),
            Err(InputError::NotAPlayer)
        );
        sim.step();
        let left = sim.world.get::<Seats>(game).unwrap().entities()[0];
        let held = *sim.world.get::<PlayerInput>(left).unwrap();
        assert_eq!((held.applied_seq, held.axis), (2, 1.0));
        // Accepted in countdown, but the paddle stands still.
        assert_eq!(phase(&sim.world, game), Phase::Countdown);
        assert_eq!(
            sim.world.get::<crate::components::Paddle>(left).unwrap().y,
            300.0
        );
        // Not above the last applied: ignored.
        submit_input(&mut sim.world, game, PlayerId(1), input(2, -1.0)).unwrap();
        sim.step();
        assert_eq!(sim.world.get::<PlayerInput>(left).unwrap().axis, 1.0);
    }

    #[test]
    fn a_launch_is_kept_when_a_newer_input_of_the_same_tick_replaces_it() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 1, 11);
        let world = &mut sim.world;
        let launch = InputFrame {
            seq: 1,
            axis: 0.0,
            launch: true,
        };
        submit_input(world, game, PlayerId(1), launch).unwrap();
        submit_input(world, game, PlayerId(1), input(2, -1.0)).unwrap();
        let left = world.get::<Seats>(game).unwrap().entities()[0];
        let pending = world.get::<PlayerInput>(left).unwrap().pending.unwrap();
        assert_eq!((pending.seq, pending.axis, pending.launch), (2, -1.0, true));
        // A stale launch is still refused with its input.
        submit_input(
            world,
            game,
            PlayerId(1),
            InputFrame {
                seq: 1,
                axis: 1.0,
                launch: true,
            },
        )
        .unwrap();
        let pending = world.get::<PlayerInput>(left).unwrap().pending.unwrap();
        assert_eq!(pending.axis, -1.0);
    }

    /// The left player runs from the ball, the right one follows it: the right side scores.
    #[test]
    fn a_whole_1v1_match_to_a_score_limit_of_1() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 42, 1);
        let [left, right] = sim.world.get::<Seats>(game).unwrap().entities()[..] else {
            panic!("two seats")
        };
        let mut record = None;
        for seq in 1..=60 * 60 {
            let world = &mut sim.world;
            let ball = ball(world, game);
            let paddle_y = |seat| world.get::<crate::components::Paddle>(seat).unwrap().y;
            let away = if ball.y > paddle_y(left) { -1.0 } else { 1.0 };
            let follow = ((ball.y - paddle_y(right)) / 7.0).clamp(-1.0, 1.0);
            submit_input(world, game, PlayerId(1), input(seq, away)).unwrap();
            submit_input(world, game, PlayerId(2), input(seq, follow)).unwrap();
            sim.step();
            record = ended_record(&sim.world, game);
            if record.is_some() {
                break;
            }
        }
        let record = record.expect("the match ends");
        assert_eq!(record.reason, EndReason::ScoreLimit);
        assert_eq!(record.options.score_limit, Some(1));
        let players: Vec<_> = record
            .players
            .iter()
            .map(|p| (p.id, p.seat, p.score, p.result))
            .collect();
        assert_eq!(
            players,
            [
                (PlayerId(1), Seat::Left, 0, PlayerResult::Loss),
                (PlayerId(2), Seat::Right, 1, PlayerResult::Win),
            ]
        );
        assert!(events(&sim.world, game).contains(&MatchEvent::Point {
            scorer: Seat::Right,
            score: [0, 1]
        }));
        sim.step();
        assert_eq!(find_match(&sim.world, record.id), None);
    }

    /// Plays 10,000 ticks of four matches at a time from `seed`, with inputs drawn from a
    /// fixed log, starting a new match whenever one ends; returns a hash of every state.
    fn replay(seed: u64) -> u64 {
        let mut sim = simulation(60);
        let mut log = SplitMix64::new(0x5eed);
        let mut next_seed = seed;
        let mut start = |world: &mut World, slot: u64| {
            next_seed += 1;
            let game = create_match(world, spec(next_seed, Mode::OneVsOne, 21, next_seed));
            join_match(world, game, player(2 * slot + 1)).unwrap();
            join_match(world, game, player(2 * slot + 2)).unwrap();
            game
        };
        let mut games: Vec<Entity> = (0..4).map(|slot| start(&mut sim.world, slot)).collect();
        let mut seq = 0;
        let mut rolling = 0u64;
        for _ in 0..10_000 {
            for (slot, game) in games.iter_mut().enumerate() {
                let slot = slot as u64;
                if sim.world.get_entity(*game).is_err() {
                    *game = start(&mut sim.world, slot);
                }
                for player in [2 * slot + 1, 2 * slot + 2] {
                    if log.next_u64().is_multiple_of(6) {
                        seq += 1;
                        let axis = log.range_f32(-1.0, 1.0);
                        submit_input(&mut sim.world, *game, PlayerId(player), input(seq, axis))
                            .unwrap();
                    }
                }
            }
            sim.step();
            for game in &games {
                rolling = rolling.rotate_left(7) ^ state_hash(&sim.world, *game);
            }
        }
        rolling
    }

    #[test]
    fn the_same_seed_and_input_log_give_the_same_states() {
        let first = replay(1);
        assert_eq!(first, replay(1));
        assert_ne!(first, replay(2));
    }

    /// `cargo test --release -p arcade-systems -- --ignored --nocapture ten_thousand`
    #[test]
    #[ignore = "timing; run in release"]
    fn ten_thousand_pong_matches_tick() {
        let mut sim = simulation(60);
        let mut games = Vec::new();
        for n in 0..10_000 {
            let game = seated_pong(&mut sim.world, n, 21);
            games.push(game);
        }
        for _ in 0..200 {
            sim.step();
        }
        let mut seq = 0;
        let ticks = 600;
        let started = std::time::Instant::now();
        for tick in 0..ticks {
            if tick % 4 == 0 {
                seq += 1;
                for (n, game) in games.iter().enumerate() {
                    let axis = if (n as u64 + seq).is_multiple_of(3) {
                        1.0
                    } else {
                        -1.0
                    };
                    let _ = submit_input(&mut sim.world, *game, PlayerId(1), input(seq, axis));
                }
            }
            sim.step();
        }
        let elapsed = started.elapsed();
        let per_match_tick = elapsed.as_nanos() as f64 / (ticks as f64 * games.len() as f64);
        let live = games
            .iter()
            .filter(|g| sim.world.get::<Ball>(**g).is_some())
            .count();
        println!("{per_match_tick:.1} ns per match-tick over {ticks} ticks ({live} live)");
    }

    /// Plays one match of `mode` for `ticks` ticks from `seed`, each player's inputs (axis and
    /// launch) drawn from a fixed log; returns a rolling hash of every state and the final one.
    fn replay_mode(mode: Mode, seed: u64, ticks: u32) -> (u64, u64) {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = create_match(world, spec(seed, mode, 21, seed));
        let players = mode.player_seats().len() as u64;
        for n in 1..=players {
            join_match(world, game, player(n)).unwrap();
        }
        let mut log = SplitMix64::new(0x5eed);
        let mut seq = 0;
        let mut rolling = 0u64;
        for _ in 0..ticks {
            if sim.world.get_entity(game).is_err() {
                break;
            }
            for n in 1..=players {
                if log.next_u64().is_multiple_of(5) {
                    seq += 1;
                    let frame = InputFrame {
                        seq,
                        axis: log.range_f32(-1.0, 1.0),
                        launch: log.next_u64().is_multiple_of(3),
                    };
                    let _ = submit_input(&mut sim.world, game, PlayerId(n), frame);
                }
            }
            sim.step();
            if sim.world.get_entity(game).is_ok() {
                rolling = rolling.rotate_left(7) ^ state_hash(&sim.world, game);
            }
        }
        let last = if sim.world.get_entity(game).is_ok() {
            state_hash(&sim.world, game)
        } else {
            0
        };
        (rolling, last)
    }

    #[test]
    fn every_mode_replays_the_same_from_the_same_seed_and_input_log() {
        for mode in Mode::ALL {
            let first = replay_mode(mode, 11, 3000);
            assert_eq!(first, replay_mode(mode, 11, 3000), "{mode:?}");
            assert_ne!(first.0, replay_mode(mode, 12, 3000).0, "{mode:?}");
        }
    }

    #[test]
    fn bots_fill_free_seats_and_a_match_of_bots_starts_at_once() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let versus = create_match(world, spec(1, Mode::Versus, 0, 1));
        join_match(world, versus, player(1)).unwrap();
        assert_eq!(phase(world, versus), Phase::Waiting);
        attach_bot(world, versus, Seat::P2, BotLevel::Hard).unwrap();
        assert_eq!(phase(world, versus), Phase::Countdown);
        assert_eq!(
            attach_bot(world, versus, Seat::P1, BotLevel::Hard),
            Err(JoinError::NotJoinable)
        );
        let team = create_match(world, spec(2, Mode::TwoVsTwo, 11, 2));
        join_match(world, team, player(3)).unwrap();
        assert_eq!(
            attach_bot(world, team, Seat::LeftBack, BotLevel::Easy),
            Err(JoinError::NoFreeSeat)
        );
        fill_with_bots(world, team, BotLevel::Normal).unwrap();
        assert_eq!(phase(world, team), Phase::Countdown);
        assert_eq!(
            join_match(world, team, player(4)),
            Err(JoinError::NoFreeSeat)
        );
        let bots = create_match(world, spec(3, Mode::OneVsOne, 11, 3));
        fill_with_bots(world, bots, BotLevel::Hard).unwrap();
        assert_eq!(phase(world, bots), Phase::Countdown);
    }

    /// Runs `games` Pong vs_bot matches (bot at `level`, on the right) against a naive
    /// ball-follower on the left (full speed toward the ball's y, no delay, no noise); returns
    /// how many the bot won.
    fn bot_against_follower(level: BotLevel, games: u64, score_limit: u32) -> u64 {
        let mut sim = simulation(60);
        let matches: Vec<Entity> = (0..games)
            .map(|n| {
                let mut spec = spec(n + 1, Mode::VsBot, score_limit, 1000 + n);
                spec.options.bot = Some(level);
                let game = create_match(&mut sim.world, spec);
                join_match(&mut sim.world, game, player(n + 1)).unwrap();
                game
            })
            .collect();
        let step = crate::pong::PADDLE_SPEED / 60.0;
        let mut bot_wins = 0;
        let mut live = games;
        for seq in 1..=60 * 60 * 30 {
            for (n, game) in matches.iter().enumerate() {
                let world = &mut sim.world;
                if world.get_entity(*game).is_err() {
                    continue;
                }
                let left = world.get::<Seats>(*game).unwrap().entities()[0];
                let paddle = world.get::<crate::components::Paddle>(left).unwrap().y;
                let ball = ball(world, *game);
                let axis = ((ball.y - paddle) / step).clamp(-1.0, 1.0);
                submit_input(world, *game, PlayerId(n as u64 + 1), input(seq, axis)).unwrap();
            }
            sim.step();
            for (_, _, _, event) in &sim.world.resource::<MatchEvents>().list {
                if let MatchEvent::Ended(record) = event {
                    live -= 1;
                    if record.players[0].result == PlayerResult::Loss {
                        bot_wins += 1;
                    }
                }
            }
            if live == 0 {
                break;
            }
        }
        assert_eq!(live, 0, "every game ends");
        bot_wins
    }

    #[test]
    fn a_hard_bot_beats_a_ball_follower_most_of_the_time() {
        let wins = bot_against_follower(BotLevel::Hard, 20, 5);
        assert!(wins > 10, "hard won {wins} of 20");
    }

    /// `cargo test --release -p arcade-systems -- --ignored --nocapture hard_bot_win_rate`
    #[test]
    #[ignore = "long; run in release"]
    fn hard_bot_win_rate_over_200_games() {
        for level in [BotLevel::Easy, BotLevel::Normal, BotLevel::Hard] {
            let wins = bot_against_follower(level, 200, DEFAULT_SCORE_LIMIT);
            println!(
                "{level:?} bot vs ball-follower: {wins} of 200 won ({:.1} %)",
                wins as f64 / 2.0
            );
        }
    }

    /// Times `matches` bot-filled matches of `mode` for `ticks` ticks (after the countdown),
    /// and the bot systems alone on the same World; returns (ns per match-tick of a whole
    /// step, ns per bot-tick).
    fn time_bot_matches(mode: Mode, matches: u64, ticks: u32) -> (f64, f64) {
        let mut sim = simulation(60);
        let mut games = Vec::new();
        for n in 0..matches {
            let game = create_match(&mut sim.world, spec(n + 1, mode, 21, n));
            fill_with_bots(&mut sim.world, game, BotLevel::Hard).unwrap();
            games.push(game);
        }
        for _ in 0..181 {
            sim.step();
        }
        let mut bots_only = Schedule::default();
        bots_only.set_executor(SingleThreadedExecutor::new());
        bots_only.add_systems((
            crate::bots::drive_pong_bots,
            crate::bots::drive_breakout_bots,
        ));
        let bot_count = sim
            .world
            .query::<&crate::components::Bot>()
            .iter(&sim.world)
            .count() as f64;
        let mut in_bots = std::time::Duration::ZERO;
        let started = std::time::Instant::now();
        for _ in 0..ticks {
            let before = std::time::Instant::now();
            bots_only.run(&mut sim.world);
            in_bots += before.elapsed();
            sim.step();
        }
        let total = started.elapsed() - in_bots;
        let live = games
            .iter()
            .filter(|g| sim.world.get_entity(**g).is_ok())
            .count();
        println!("{mode:?}: {live} of {matches} matches still live");
        (
            total.as_nanos() as f64 / (f64::from(ticks) * matches as f64),
            in_bots.as_nanos() as f64 / (f64::from(ticks) * bot_count),
        )
    }

    /// `cargo test --release -p arcade-systems -- --ignored --nocapture bot_filled_matches_tick`
    #[test]
    #[ignore = "timing; run in release"]
    fn bot_filled_matches_tick() {
        for mode in [Mode::VsBot, Mode::Solo, Mode::Versus] {
            let (per_match, per_bot) = time_bot_matches(mode, 10_000, 600);
            println!(
                "{mode:?}: {per_match:.1} ns per match-tick (bots included), {per_bot:.1} ns per bot-tick"
            );
        }
    }
}
