//! Read-only views of a match: the `state` snapshot (PROTOCOL.md), the live-list summary, and
//! a hash of the whole state for determinism checks. Views borrow from the World and
//! serialize straight into the caller's buffer. For the tick, [`StateReader`] (in
//! `view/read.rs`) reads a match's state once per entity, and [`StateJson`] (`view/json.rs`)
//! and [`write_state_msgpack`] (`view/msgpack.rs`) write it by hand, the same bytes as
//! serde_json and rmp_serde give through [`serialize_state`].

use bevy_ecs::prelude::*;
use serde::Serialize;
use serde::ser::{Error as _, SerializeMap, SerializeSeq};

use crate::components::{
    Ball, Bot, BrickWall, FieldBall, FieldPaddle, FieldProgress, FieldRng, MatchClock, MatchEnding,
    MatchInfo, MatchPhase, MatchRng, Paddle, PlayerInput, PongCourt, Presence, SeatSlot, Seats,
    Serve, TeamScore, TimeLimit,
};
use crate::model::{Game, MatchId, MatchOptions, Mode, Phase, PlayerId, PlayerRef, Seat};

mod json;
mod msgpack;
mod read;
pub use json::StateJson;
pub use msgpack::write_state_msgpack;
pub use read::{StateError, StateReader, StateView};

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

/// The phase of a match (cheap: no allocation, for per-tick checks).
pub fn match_phase(world: &World, game: Entity) -> Option<Phase> {
    world.get::<MatchPhase>(game).map(|phase| phase.phase)
}

/// Which game a match plays.
pub fn match_game(world: &World, game: Entity) -> Option<Game> {
    world.get::<MatchInfo>(game).map(|info| info.game)
}

/// The summary of a live match.
pub fn match_summary(world: &World, game: Entity) -> Option<MatchSummary> {
    let info = world.get::<MatchInfo>(game)?;
    let phase = world.get::<MatchPhase>(game)?;
    let clock = world.get::<MatchClock>(game)?;
    let seats = world.get::<Seats>(game)?;
    let slots = || {
        seats
            .entities()
            .iter()
            .filter_map(|e| world.get::<SeatSlot>(*e))
    };
    let players = slots()
        .filter_map(|slot| Some((slot.occupant.as_ref()?.player.clone(), slot.seat)))
        .collect();
    let score = match world.get::<TeamScore>(game) {
        Some(score) => score.0.to_vec(),
        // Breakout: one score per field, in seat order.
        None => seats
            .entities()
            .iter()
            .map(|seat| world.get::<FieldProgress>(*seat).map_or(0, |f| f.score))
            .collect(),
    };
    Some(MatchSummary {
        id: info.id,
        game: info.game,
        mode: info.mode,
        options: info.options.clone(),
        phase: phase.phase,
        tick: clock.tick,
        started_at_ms: info.started_at_ms,
        players,
        score,
    })
}

/// What every snapshot of a match starts from: its info, clock, phase and seats.
pub(crate) fn match_head(
    world: &World,
    game: Entity,
) -> Option<(&MatchInfo, &MatchClock, &MatchPhase, &Seats)> {
    Some((
        world.get::<MatchInfo>(game)?,
        world.get::<MatchClock>(game)?,
        world.get::<MatchPhase>(game)?,
        world.get::<Seats>(game)?,
    ))
}

/// Writes the `data` object of a `state` message for one match with `serializer`
/// (PROTOCOL.md "state": matchId, tick, phase, acks, and the game's own key).
///
/// Every object is written as a map with string keys (also in MessagePack, whatever the
/// serializer's struct setting), and nothing is allocated: ids are formatted on the stack.
/// `acks` has every seated player, with 0 before their first input (a bot seat has no player
/// and no ack).
pub fn serialize_state<S: serde::Serializer>(
    world: &World,
    game: Entity,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let Some((info, clock, phase, seats)) = match_head(world, game) else {
        return Err(S::Error::custom("not a match"));
    };
    let mut map = serializer.serialize_map(Some(5))?;
    map.serialize_entry("matchId", &WireId::of_match(info.id))?;
    map.serialize_entry("tick", &clock.tick)?;
    map.serialize_entry("phase", phase.phase.as_str())?;
    map.serialize_entry("acks", &Acks { world, seats })?;
    match info.game {
        Game::Pong => map.serialize_entry("pong", &PongState { world, game, seats })?,
        Game::Breakout => map.serialize_entry("breakout", &BreakoutState { world, seats })?,
    }
    map.end()
}

/// An id in its wire form (`m_`/`p_` and 16 hex digits), formatted on the stack.
struct WireId([u8; 18]);

impl WireId {
    fn new(prefix: &[u8; 2], value: u64) -> WireId {
        let mut text = [0; 18];
        text[..2].copy_from_slice(prefix);
        text[2..10].copy_from_slice(&hex8((value >> 32) as u32));
        text[10..].copy_from_slice(&hex8(value as u32));
        WireId(text)
    }

    fn of_match(id: MatchId) -> WireId {
        WireId::new(b"m_", id.0)
    }

    fn of_player(id: PlayerId) -> WireId {
        WireId::new(b"p_", id.0)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn as_str(&self) -> &str {
        // Only ASCII letters, digits and `_` are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The 8 lowercase hex digits of `value`, most significant first, computed in one register
/// (each nibble spread into its own byte, then turned into its digit), not digit by digit.
#[inline]
fn hex8(value: u32) -> [u8; 8] {
    let x = u64::from(value);
    let x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    let x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    // Nibble k (from the least significant) is now in byte k.
    let x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // 0x01 in every byte whose nibble is 10 or more: those get 0x27 more (`a` is 0x27 past
    // `0` + 10).
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (x + 0x3030_3030_3030_3030 + letters * 0x27).to_be_bytes()
}

impl Serialize for WireId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `"acks": {"<playerId>": seq, ...}` over the seated players.
struct Acks<'w> {
    world: &'w World,
    seats: &'w Seats,
}

impl Acks<'_> {
    fn seated(&self) -> impl Iterator<Item = (PlayerId, u64)> + '_ {
        self.seats.entities().iter().filter_map(|seat| {
            let player = self.world.get::<SeatSlot>(*seat)?.player_id()?;
            let seq = self
                .world
                .get::<PlayerInput>(*seat)
                .map_or(0, |i| i.applied_seq);
            Some((player, seq))
        })
    }
}

impl Serialize for Acks<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.seated().count()))?;
        for (player, seq) in self.seated() {
            map.serialize_entry(&WireId::of_player(player), &seq)?;
        }
        map.end()
    }
}

/// `"pong": {"ball", "paddles", "score"}`.
struct PongState<'w> {
    world: &'w World,
    game: Entity,
    seats: &'w Seats,
}

impl Serialize for PongState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ball = self
            .world
            .get::<Ball>(self.game)
            .ok_or_else(|| S::Error::custom("pong match without a ball"))?;
        let score = self
            .world
            .get::<TeamScore>(self.game)
            .map_or([0, 0], |s| s.0);
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("ball", &BallState(ball))?;
        map.serialize_entry(
            "paddles",
            &Paddles {
                world: self.world,
                seats: self.seats,
            },
        )?;
        map.serialize_entry("score", &score)?;
        map.end()
    }
}

/// `{"x", "y", "vx", "vy"}`, velocities in units per second.
struct BallState<'w>(&'w Ball);

impl Serialize for BallState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("x", &self.0.x)?;
        map.serialize_entry("y", &self.0.y)?;
        map.serialize_entry("vx", &self.0.vx)?;
        map.serialize_entry("vy", &self.0.vy)?;
        map.end()
    }
}

/// `[{"seat", "x", "y"}, ...]` in seat order.
struct Paddles<'w> {
    world: &'w World,
    seats: &'w Seats,
}

impl Paddles<'_> {
    fn each(&self) -> impl Iterator<Item = (Seat, &Paddle)> + '_ {
        self.seats.entities().iter().filter_map(|seat| {
            let slot = self.world.get::<SeatSlot>(*seat)?;
            Some((slot.seat, self.world.get::<Paddle>(*seat)?))
        })
    }
}

impl Serialize for Paddles<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.each().count()))?;
        for (seat, paddle) in self.each() {
            seq.serialize_element(&PaddleState(seat, paddle))?;
        }
        seq.end()
    }
}

struct PaddleState<'w>(Seat, &'w Paddle);

impl Serialize for PaddleState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("seat", self.0.as_str())?;
        map.serialize_entry("x", &self.1.x)?;
        map.serialize_entry("y", &self.1.y)?;
        map.end()
    }
}

/// `"breakout": {"fields": [...]}`, one field per seat in seat order.
struct BreakoutState<'w> {
    world: &'w World,
    seats: &'w Seats,
}

/// The components of one Breakout field.
type Field<'w> = (
    Seat,
    &'w FieldPaddle,
    &'w FieldBall,
    &'w BrickWall,
    &'w FieldProgress,
);

impl BreakoutState<'_> {
    fn each(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        self.seats.entities().iter().filter_map(|seat| {
            let world = self.world;
            Some((
                world.get::<SeatSlot>(*seat)?.seat,
                world.get::<FieldPaddle>(*seat)?,
                world.get::<FieldBall>(*seat)?,
                world.get::<BrickWall>(*seat)?,
                world.get::<FieldProgress>(*seat)?,
            ))
        })
    }
}

impl Serialize for BreakoutState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("fields", &Fields(self))?;
        map.end()
    }
}

struct Fields<'a, 'w>(&'a BreakoutState<'w>);

impl Serialize for Fields<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.each().count()))?;
        for field in self.0.each() {
            seq.serialize_element(&FieldState(field))?;
        }
        seq.end()
    }
}

/// `{"seat", "paddle": {"x"}, "ball": {"x","y","vx","vy","resting"}, "bricks": [row bitmasks],
/// "score", "lives", "level"}`. `bricks` has one integer per row, top row first; bit `c`
/// (value `1 << c`) is the brick of column `c` (PROTOCOL.md "Decisions").
struct FieldState<'w>(Field<'w>);

impl Serialize for FieldState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (seat, paddle, ball, wall, progress) = self.0;
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("seat", seat.as_str())?;
        map.serialize_entry("paddle", &FieldPaddleState(paddle))?;
        map.serialize_entry("ball", &FieldBallState(ball))?;
        map.serialize_entry("bricks", &wall.rows)?;
        map.serialize_entry("score", &progress.score)?;
        map.serialize_entry("lives", &progress.lives)?;
        map.serialize_entry("level", &progress.level)?;
        map.end()
    }
}

struct FieldPaddleState<'w>(&'w FieldPaddle);

impl Serialize for FieldPaddleState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("x", &self.0.x)?;
        map.end()
    }
}

struct FieldBallState<'w>(&'w FieldBall);

impl Serialize for FieldBallState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("x", &self.0.x)?;
        map.serialize_entry("y", &self.0.y)?;
        map.serialize_entry("vx", &self.0.vx)?;
        map.serialize_entry("vy", &self.0.vy)?;
        map.serialize_entry("resting", &self.0.resting)?;
        map.end()
    }
}

/// A 64-bit FNV-1a hash of everything that decides a match's future: clock, phase and its
/// timers, score, PRNGs, ball, serve, time limit, and every seat's presence, input, paddle,
/// bot, and Breakout field (floats by their bits). Two runs of the same seed and input log hash the same, tick for tick.
pub fn state_hash(world: &World, game: Entity) -> u64 {
    let mut hash = Fnv::new();
    let Some(seats) = world.get::<Seats>(game) else {
        return hash.0;
    };
    if let Some(clock) = world.get::<MatchClock>(game) {
        hash.u64(clock.tick);
    }
    if let Some(phase) = world.get::<MatchPhase>(game) {
        hash.u64(
            Phase::ALL
                .iter()
                .position(|p| *p == phase.phase)
                .unwrap_or(0) as u64,
        );
        hash.u64(phase.countdown_left.into());
        hash.u64(phase.resuming.into());
    }
    if let Some(ending) = world.get::<MatchEnding>(game) {
        hash.u64(match ending {
            MatchEnding::Live => 0,
            MatchEnding::Pending(_) => 1,
            MatchEnding::Done => 2,
        });
    }
    if let Some(score) = world.get::<TeamScore>(game) {
        hash.u64(score.0[0].into());
        hash.u64(score.0[1].into());
    }
    if let Some(rng) = world.get::<MatchRng>(game) {
        hash.u64(rng.0.state());
    }
    if world.get::<PongCourt>(game).is_some() {
        if let Some(ball) = world.get::<Ball>(game) {
            hash.f32s(&[ball.x, ball.y, ball.vx, ball.vy]);
        }
        if let Some(serve) = world.get::<Serve>(game) {
            hash.u64(serve.pending.into());
            hash.u64(serve.wait.into());
            hash.u64(serve.toward.index() as u64);
        }
    }
    if let Some(limit) = world.get::<TimeLimit>(game) {
        hash.u64(limit.ticks_left);
    }
    hash.u64(seats.absent.into());
    for seat in seats.entities() {
        if let Some(slot) = world.get::<SeatSlot>(*seat) {
            match &slot.occupant {
                None => hash.u64(0),
                Some(occupant) => {
                    hash.u64(occupant.player.id.0);
                    match occupant.presence {
                        Presence::Present => hash.u64(1),
                        Presence::Dropped { at_tick } => {
                            hash.u64(2);
                            hash.u64(at_tick);
                        }
                        Presence::Gone => hash.u64(3),
                    }
                }
            }
        }
        if let Some(input) = world.get::<PlayerInput>(*seat) {
            hash.f32s(&[input.axis]);
            hash.u64(input.launch.into());
            hash.u64(input.applied_seq);
        }
        if let Some(paddle) = world.get::<Paddle>(*seat) {
            hash.f32s(&[paddle.x, paddle.y]);
        }
        if let Some(bot) = world.get::<Bot>(*seat) {
            hash.u64(bot.level as u64);
            hash.u64(bot.wait.into());
            hash.f32s(&[bot.target]);
        }
        hash_field(&mut hash, world, *seat);
    }
    hash.0
}

/// The Breakout field of a seat, if it has one.
fn hash_field(hash: &mut Fnv, world: &World, seat: Entity) {
    if let Some(paddle) = world.get::<FieldPaddle>(seat) {
        hash.f32s(&[paddle.x]);
    }
    if let Some(ball) = world.get::<FieldBall>(seat) {
        hash.f32s(&[ball.x, ball.y, ball.vx, ball.vy]);
        hash.u64(ball.resting.into());
        hash.u64(ball.rest_left.into());
    }
    if let Some(wall) = world.get::<BrickWall>(seat) {
        for row in wall.rows {
            hash.u64(row.into());
        }
    }
    if let Some(progress) = world.get::<FieldProgress>(seat) {
        hash.u64(progress.score.into());
        hash.u64(progress.lives.into());
        hash.u64(progress.level.into());
    }
    if let Some(rng) = world.get::<FieldRng>(seat) {
        hash.u64(rng.0.state());
    }
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Fnv {
        Fnv(Self::OFFSET)
    }

    fn u64(&mut self, value: u64) {
        for byte in value.to_le_bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(Self::PRIME);
        }
    }

    fn f32s(&mut self, values: &[f32]) {
        for value in values {
            self.u64(value.to_bits().into());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use serde_json::json;

    use super::*;
    use crate::components::Ball;
    use crate::sim;
    use crate::testkit::{ball_of, player, seated_pong, seats, simulation, spec};
    use crate::tick::{InputFrame, MatchEvents};

    /// Counts this thread's allocations, to show that a snapshot allocates nothing.
    struct CountingAllocator;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    fn count() {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }

    fn allocations() -> usize {
        ALLOCATIONS.with(Cell::get)
    }

    // SAFETY: forwards every call to the system allocator unchanged.
    unsafe impl GlobalAlloc for CountingAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: CountingAllocator = CountingAllocator;

    /// A 1v1 match of players 1 and 2 with a known ball and paddles, player 1's input 7
    /// applied.
    fn known_match(world: &mut World) -> Entity {
        let game = seated_pong(world, 0x8f3a, 11);
        let [left, right] = seats(world, game)[..] else {
            panic!("two seats")
        };
        *world.get_mut::<Ball>(ball_of(world, game)).unwrap() = Ball {
            x: 412.5,
            y: 300.0,
            vx: -360.0,
            vy: 12.25,
        };
        world.get_mut::<Paddle>(right).unwrap().y = 296.5;
        world.get_mut::<PlayerInput>(left).unwrap().applied_seq = 7;
        world.get_mut::<TeamScore>(game).unwrap().0 = [3, 2];
        world.get_mut::<MatchClock>(game).unwrap().tick = 1234;
        game
    }

    fn expected_state() -> serde_json::Value {
        json!({
            "matchId": "m_0000000000008f3b",
            "tick": 1234,
            "phase": "countdown",
            "acks": {"p_0000000000000001": 7, "p_0000000000000002": 0},
            "pong": {
                "ball": {"x": 412.5, "y": 300.0, "vx": -360.0, "vy": 12.25},
                "paddles": [
                    {"seat": "left", "x": 30.0, "y": 300.0},
                    {"seat": "right", "x": 770.0, "y": 296.5}
                ],
                "score": [3, 2]
            }
        })
    }

    /// Wire ids are `m_`/`p_` and the id's 16 lowercase hex digits, whatever the id.
    #[test]
    fn wire_ids_are_sixteen_hex_digits() {
        let mut value = 0x0123_4567_89ab_cdef_u64;
        for n in 0..10_000u64 {
            for id in [value, n, u64::MAX - n, n << 60, 0xa0a0_a0a0_0909_0909] {
                let text = WireId::of_match(MatchId(id));
                assert_eq!(text.as_str(), format!("m_{id:016x}"));
                assert_eq!(
                    WireId::of_player(PlayerId(id)).as_str(),
                    format!("p_{id:016x}")
                );
            }
            value = value
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(n);
        }
    }

    #[test]
    fn state_is_the_protocol_object_in_json() {
        let mut sim = simulation(60);
        let game = known_match(&mut sim.world);
        let mut buffer = Vec::new();
        serialize_state(
            &sim.world,
            game,
            &mut serde_json::Serializer::new(&mut buffer),
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&buffer).unwrap();
        assert_eq!(value, expected_state());
    }

    #[test]
    fn state_is_a_map_with_string_keys_in_msgpack() {
        let mut sim = simulation(60);
        let game = known_match(&mut sim.world);
        let mut buffer = Vec::new();
        // The default rmp-serde serializer writes structs as arrays: maps must stay maps.
        serialize_state(
            &sim.world,
            game,
            &mut rmp_serde::Serializer::new(&mut buffer),
        )
        .unwrap();
        let value: serde_json::Value = rmp_serde::from_slice(&buffer).unwrap();
        assert_eq!(value, expected_state());
    }

    #[test]
    fn writing_a_state_allocates_nothing() {
        let mut sim = simulation(60);
        let game = known_match(&mut sim.world);
        let mut json = Vec::with_capacity(4096);
        let mut msgpack = Vec::with_capacity(4096);
        let before = allocations();
        serialize_state(
            &sim.world,
            game,
            &mut serde_json::Serializer::new(&mut json),
        )
        .unwrap();
        serialize_state(
            &sim.world,
            game,
            &mut rmp_serde::Serializer::new(&mut msgpack),
        )
        .unwrap();
        assert_eq!(allocations(), before);
        assert!(!json.is_empty() && !msgpack.is_empty());
    }

    #[test]
    fn a_playing_tick_allocates_nothing() {
        let mut sim = simulation(60);
        let games: Vec<Entity> = (0..8).map(|n| seated_pong(&mut sim.world, n, 21)).collect();
        for _ in 0..200 {
            sim.step();
        }
        let mut before = allocations();
        for seq in 1..=100 {
            for game in &games {
                let input = InputFrame {
                    seq,
                    axis: if seq % 20 < 10 { 1.0 } else { -1.0 },
                    launch: false,
                };
                sim::submit_input(&mut sim.world, *game, PlayerId(1), input).unwrap();
            }
            sim.step();
            // A point's event may grow the event list the first time; no tick allocates else.
            if sim.world.resource::<MatchEvents>().list.is_empty() {
                assert_eq!(allocations(), before, "tick {seq}");
            }
            before = allocations();
        }
    }

    #[test]
    fn ids_on_the_stack_match_their_display_form() {
        for id in [0, 1, 0x8f3a_0000_1234, crate::model::ID_BITS_MASK, u64::MAX] {
            assert_eq!(
                WireId::of_match(MatchId(id)).as_str(),
                MatchId(id).to_string()
            );
            assert_eq!(
                WireId::of_player(PlayerId(id)).as_str(),
                PlayerId(id).to_string()
            );
        }
    }

    #[test]
    fn a_breakout_state_has_its_own_key_only() {
        let mut sim = simulation(60);
        let game = sim::create_match(&mut sim.world, spec(5, Mode::Solo, 0, 5));
        sim::join_match(&mut sim.world, game, player(1)).unwrap();
        let mut buffer = Vec::new();
        serialize_state(
            &sim.world,
            game,
            &mut serde_json::Serializer::new(&mut buffer),
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&buffer).unwrap();
        let expected = json!({"fields": [{
            "seat": "p1",
            "paddle": {"x": 400.0},
            "ball": {"x": 400.0, "y": 558.0, "vx": 0.0, "vy": 0.0, "resting": true},
            "bricks": [4095, 4095, 4095, 4095, 4095, 4095],
            "score": 0, "lives": 3, "level": 1
        }]});
        assert_eq!(value["breakout"], expected);
        assert!(value.get("pong").is_none());
        assert_eq!(value["acks"], json!({"p_0000000000000001": 0}));

        // The same map in MessagePack, and no allocation either way.
        let mut json_buffer = Vec::with_capacity(4096);
        let mut msgpack = Vec::with_capacity(4096);
        let before = allocations();
        serialize_state(
            &sim.world,
            game,
            &mut serde_json::Serializer::new(&mut json_buffer),
        )
        .unwrap();
        serialize_state(
            &sim.world,
            game,
            &mut rmp_serde::Serializer::new(&mut msgpack),
        )
        .unwrap();
        assert_eq!(allocations(), before);
        let value: serde_json::Value = rmp_serde::from_slice(&msgpack).unwrap();
        assert_eq!(value["breakout"], expected);
    }

    #[test]
    fn a_versus_summary_scores_each_field() {
        let mut sim = simulation(60);
        let game = crate::testkit::playing_breakout(&mut sim.world, Mode::Versus, 4);
        let fields = seats(&sim.world, game);
        sim.world.get_mut::<FieldProgress>(fields[1]).unwrap().score = 17;
        let summary = match_summary(&sim.world, game).unwrap();
        assert_eq!(summary.score, [0, 17]);
    }

    #[test]
    fn a_summary_lists_the_seated_players_and_the_score() {
        let mut sim = simulation(60);
        let game = known_match(&mut sim.world);
        let summary = match_summary(&sim.world, game).unwrap();
        assert_eq!(summary.id, MatchId(0x8f3b));
        assert_eq!((summary.game, summary.mode), (Game::Pong, Mode::OneVsOne));
        assert_eq!((summary.phase, summary.tick), (Phase::Countdown, 1234));
        assert_eq!(
            summary.players,
            [(player(1), Seat::Left), (player(2), Seat::Right)]
        );
        assert_eq!(summary.score, [3, 2]);
        assert!(match_summary(&sim.world, Entity::PLACEHOLDER).is_none());
    }

    #[test]
    fn the_state_hash_sees_every_change() {
        let mut sim = simulation(60);
        let first = known_match(&mut sim.world);
        let hash = state_hash(&sim.world, first);
        assert_eq!(hash, state_hash(&sim.world, first));
        let ball = ball_of(&sim.world, first);
        sim.world.get_mut::<Ball>(ball).unwrap().vy = 12.250001;
        assert_ne!(hash, state_hash(&sim.world, first));
    }
}
