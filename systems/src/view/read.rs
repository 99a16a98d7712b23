//! What a `state` message reads of the World (tick thread, the bridge's `send_updates`; the
//! copy it makes is written on the senders by the hand-written writers of `view/json.rs` and
//! `view/msgpack.rs` and the compact snapshot, `compact::MatchStream`): each entity of a match
//! (the match with its ball, its seats) located once through cached queries, and all of its
//! components copied from there. `World::get` locates the entity and maps the component's type
//! to its id again for every component read; a query does both once per entity.

use bevy_ecs::prelude::*;
use thiserror::Error;

use crate::components::{
    Ball, BrickWall, FieldBall, FieldPaddle, FieldProgress, MAX_SEATS, MatchClock, MatchInfo,
    MatchPhase, Paddle, PlayerInput, SeatSlot, Seats, TeamScore,
};
use crate::model::{Game, MatchId, Mode, Phase, PlayerId, Seat};

/// Why a state could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateError {
    #[error("not a match")]
    NotAMatch,
    #[error("pong match without a ball")]
    NoBall,
}

/// What a state reads of a match entity, in one look-up.
type MatchParts = (
    &'static MatchInfo,
    &'static MatchClock,
    &'static MatchPhase,
    &'static Seats,
    Option<&'static Ball>,
    Option<&'static TeamScore>,
);

/// What a state reads of a seat entity, in one look-up (a Breakout field's parts are read
/// apart, off the Pong path).
type SeatParts = (
    &'static SeatSlot,
    Option<&'static PlayerInput>,
    Option<&'static Paddle>,
);

/// Reads matches' states from one World (and no other: its queries are that World's).
pub struct StateReader {
    matches: QueryState<MatchParts>,
    seats: QueryState<SeatParts>,
}

/// One match's state as read for one message: the components copied out of the World (no
/// heap), so that it can be handed to another thread and written there.
#[derive(Clone, Copy, Debug)]
pub struct StateView {
    pub(crate) id: MatchId,
    pub(crate) tick: u64,
    pub(crate) phase: Phase,
    pub(crate) game: Game,
    pub(crate) mode: Mode,
    /// Pong's ball (`None` in Breakout).
    pub(crate) ball: Option<Ball>,
    /// Pong's score, `[0, 0]` without one.
    pub(crate) score: [u32; 2],
    /// The seats in seat order (`None` for a seat entity without a [`SeatSlot`]).
    seats: [Option<SeatView>; MAX_SEATS],
    len: u8,
    /// Breakout: the fields of the seats that have all their parts, in seat order. Apart from
    /// the seats, so that a Pong state (most of them) does not carry four empty fields: the
    /// view is copied to a sender for every match on every tick.
    fields: [Option<FieldView>; MAX_FIELDS],
}

/// The most fields a Breakout match has (`versus`: two seats; a mode's seats are fixed,
/// `Mode::player_seats`).
const MAX_FIELDS: usize = 2;

/// A seat as read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeatView {
    pub(crate) seat: Seat,
    /// The player sitting here, if any.
    pub(crate) player: Option<PlayerId>,
    /// The seq of the last input applied (0 before any, and for a seat without input).
    pub(crate) applied_seq: u64,
    /// Pong: the seat's paddle.
    pub(crate) paddle: Option<Paddle>,
}

/// A Breakout field: its seat and parts.
pub(crate) type FieldView = (Seat, FieldPaddle, FieldBall, BrickWall, FieldProgress);

impl StateReader {
    /// A reader of `world`'s matches.
    pub fn new(world: &mut World) -> StateReader {
        StateReader {
            matches: QueryState::new(world),
            seats: QueryState::new(world),
        }
    }

    /// Brings the queries up to date with `world`'s archetypes: once before the states of a
    /// tick (cheap when no archetype was added: a generation compared).
    pub fn update(&mut self, world: &World) {
        self.matches.update_archetypes(world);
        self.seats.update_archetypes(world);
    }

    /// The state of `game`: what every writer of a `state` message reads. After
    /// [`StateReader::update`] (an entity of an archetype added since reads as missing).
    pub fn read(&self, world: &World, game: Entity) -> Result<StateView, StateError> {
        let Ok((info, clock, phase, seats, ball, score)) = self.matches.get_manual(world, game)
        else {
            return Err(StateError::NotAMatch);
        };
        // A Pong match's ball is on the match entity (`PongCourt`): read in the same look-up.
        let ball = match info.game {
            Game::Pong => Some(*ball.ok_or(StateError::NoBall)?),
            Game::Breakout => None,
        };
        let mut view = StateView {
            id: info.id,
            tick: clock.tick,
            phase: phase.phase,
            game: info.game,
            mode: info.mode,
            ball,
            score: score.map_or([0, 0], |score| score.0),
            seats: [None; MAX_SEATS],
            len: seats.entities().len().min(MAX_SEATS) as u8,
            fields: [None; MAX_FIELDS],
        };
        let mut free_fields = view.fields.iter_mut();
        for (held, &seat) in view.seats.iter_mut().zip(seats.entities()) {
            let Ok((slot, input, paddle)) = self.seats.get_manual(world, seat) else {
                continue;
            };
            *held = Some(SeatView {
                seat: slot.seat,
                player: slot.player_id(),
                applied_seq: input.map_or(0, |input| input.applied_seq),
                paddle: paddle.copied(),
            });
            if info.game == Game::Breakout
                && let Some(field) = field_of(world, seat, slot.seat)
                && let Some(free) = free_fields.next()
            {
                *free = Some(field);
            }
        }
        Ok(view)
    }
}

/// A seat's Breakout field, when it has all its parts (off the Pong path: looked up apart).
fn field_of(world: &World, seat: Entity, name: Seat) -> Option<FieldView> {
    let entity = world.get_entity(seat).ok()?;
    Some((
        name,
        *entity.get::<FieldPaddle>()?,
        *entity.get::<FieldBall>()?,
        *entity.get::<BrickWall>()?,
        *entity.get::<FieldProgress>()?,
    ))
}

impl StateView {
    /// The match this is the state of.
    pub fn id(&self) -> MatchId {
        self.id
    }

    /// Every seat entity of the match, in seat order (`None` for one without a [`SeatSlot`]).
    pub(crate) fn seat_list(&self) -> &[Option<SeatView>] {
        &self.seats[..usize::from(self.len)]
    }

    /// The seats, in seat order.
    pub(crate) fn seats(&self) -> impl Iterator<Item = &SeatView> + '_ {
        self.seat_list().iter().flatten()
    }

    /// A seat's Breakout field, when it has all its parts.
    pub(crate) fn field(&self, seat: &SeatView) -> Option<FieldView> {
        self.fields().find(|field| field.0 == seat.seat)
    }

    /// `acks`: every seated player and the last input seq applied (0 before the first).
    pub(crate) fn acks(&self) -> impl Iterator<Item = (PlayerId, u64)> + '_ {
        self.seats()
            .filter_map(|seat| Some((seat.player?, seat.applied_seq)))
    }

    /// Pong's paddles, in seat order.
    pub(crate) fn paddles(&self) -> impl Iterator<Item = (Seat, Paddle)> + '_ {
        self.seats()
            .filter_map(|seat| Some((seat.seat, seat.paddle?)))
    }

    /// Breakout's fields, in seat order: each seat that has all its parts.
    pub(crate) fn fields(&self) -> impl Iterator<Item = FieldView> + '_ {
        self.fields.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{BotLevel, Mode};
    use crate::sim;
    use crate::testkit::{ball_of, player, seated_pong, seats, simulation, spec};
    use crate::view::{StateJson, serialize_state, write_state_msgpack};

    /// A view has room for a field on every seat of every Breakout mode.
    #[test]
    fn every_breakout_seat_has_room_for_its_field() {
        for mode in Mode::ALL
            .into_iter()
            .filter(|mode| mode.fits(Game::Breakout))
        {
            assert!(mode.player_seats().len() <= MAX_FIELDS, "{mode:?}");
        }
    }

    /// Both writers against serde's, on one World: the JSON and the MessagePack of a match.
    struct Writers {
        reader: StateReader,
        json: StateJson,
    }

    impl Writers {
        fn new(world: &mut World) -> Writers {
            Writers {
                reader: StateReader::new(world),
                json: StateJson::default(),
            }
        }

        /// The hand-written bytes and serde's, JSON then MessagePack.
        fn both(&mut self, world: &World, game: Entity) -> [(Vec<u8>, Vec<u8>); 2] {
            self.reader.update(world);
            let state = self.reader.read(world, game).unwrap();
            let (mut json, mut msgpack) = (Vec::new(), Vec::new());
            self.json.write(&state, &mut json);
            write_state_msgpack(&state, &mut msgpack);
            let (mut serde_json_bytes, mut rmp_bytes) = (Vec::new(), Vec::new());
            serialize_state(
                world,
                game,
                &mut serde_json::Serializer::new(&mut serde_json_bytes),
            )
            .unwrap();
            serialize_state(world, game, &mut rmp_serde::Serializer::new(&mut rmp_bytes)).unwrap();
            [(json, serde_json_bytes), (msgpack, rmp_bytes)]
        }
    }

    /// Every mode, with players, bots and an empty seat, stepped through the countdown and
    /// into play (points, bricks, served and resting balls): the hand-written JSON and
    /// MessagePack are serde's, byte for byte, every tick.
    #[test]
    fn the_hand_written_states_are_serdes_byte_for_byte_every_tick() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let mut games = Vec::new();
        for (n, mode) in Mode::ALL.into_iter().enumerate() {
            let n = n as u64;
            // All bots; one player and bots; one player and an empty seat (waiting).
            let bots_only = sim::create_match(world, spec(10 * n + 1, mode, 3, n));
            sim::fill_with_bots(world, bots_only, BotLevel::Hard).unwrap();
            let mixed = sim::create_match(world, spec(10 * n + 2, mode, 3, n + 100));
            sim::join_match(world, mixed, player(10 * n + 2)).unwrap();
            sim::fill_with_bots(world, mixed, BotLevel::Easy).unwrap();
            let waiting = sim::create_match(world, spec(10 * n + 3, mode, 3, n + 200));
            if mode.player_seats().len() > 1 {
                sim::join_match(world, waiting, player(10 * n + 3)).unwrap();
            }
            games.extend([bots_only, mixed, waiting]);
        }
        // One writer throughout, so floats come from its table as well as fresh.
        let mut writers = Writers::new(&mut sim.world);
        for tick in 0..3_000 {
            for &game in &games {
                if sim.world.get_entity(game).is_err() {
                    continue;
                }
                for (by_hand, by_serde) in writers.both(&sim.world, game) {
                    assert_eq!(by_hand, by_serde, "tick {tick}");
                }
            }
            sim.step();
        }
    }

    proptest! {
        /// Any numbers a Pong state may hold (every float bit pattern, integers at every
        /// marker's and digit count's edges and between), written by one writer throughout
        /// (its float table holding earlier cases' texts): the bytes are serde's.
        #[test]
        fn any_pong_state_is_written_as_serde_writes_it(
            cases in proptest::collection::vec(
                (
                    proptest::array::uniform8(prop_oneof![
                        any::<u32>(),
                        (0u32..1000).prop_map(|n| (n as f32 * 0.25).to_bits()),
                    ]),
                    prop_oneof![0u64..300, any::<u64>()],
                    proptest::array::uniform2(prop_oneof![0u64..70_000, any::<u64>()]),
                    proptest::array::uniform2(any::<u32>()),
                ),
                1..8,
            )
        ) {
            let mut sim = simulation(60);
            let game = seated_pong(&mut sim.world, 5, 11);
            let mut writers = Writers::new(&mut sim.world);
            for (floats, tick, seqs, score) in cases {
                let world = &mut sim.world;
                let f = floats.map(f32::from_bits);
                let ball = ball_of(world, game);
                *world.get_mut::<Ball>(ball).unwrap() = Ball {
                    x: f[0],
                    y: f[1],
                    vx: f[2],
                    vy: f[3],
                };
                for (n, seat) in seats(world, game).into_iter().enumerate() {
                    let mut paddle = world.get_mut::<Paddle>(seat).unwrap();
                    paddle.x = f[4 + 2 * n];
                    paddle.y = f[5 + 2 * n];
                    world.get_mut::<PlayerInput>(seat).unwrap().applied_seq = seqs[n];
                }
                world.get_mut::<MatchClock>(game).unwrap().tick = tick;
                world.get_mut::<TeamScore>(game).unwrap().0 = score;
                for (by_hand, by_serde) in writers.both(&sim.world, game) {
                    prop_assert_eq!(by_hand, by_serde);
                }
            }
        }
    }

    #[test]
    fn not_a_match_is_an_error() {
        let mut sim = simulation(60);
        let entity = sim.world.spawn_empty().id();
        let mut reader = StateReader::new(&mut sim.world);
        reader.update(&sim.world);
        assert!(matches!(
            reader.read(&sim.world, entity),
            Err(StateError::NotAMatch)
        ));
    }
}
