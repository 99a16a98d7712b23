//! The data of the World: components of a match and of its members, and the resources the
//! rules share.
//!
//! A match is one entity ([`MatchInfo`], [`MatchPhase`], [`MatchClock`], [`Seats`],
//! [`MatchEnding`], [`MatchRng`], in Pong [`TeamScore`] and [`PongCourt`], in Breakout versus
//! a [`TimeLimit`]). Every seat is an entity ([`SeatSlot`], [`PlayerInput`], in Pong a
//! [`Paddle`], in Breakout the whole field: [`FieldPaddle`], [`FieldBall`], [`BrickWall`],
//! [`FieldProgress`], [`FieldRng`]); a Pong match carries its ball itself ([`Ball`], [`Serve`]).
//! A seat played by the server carries a [`Bot`]. Members name their match with [`InMatch`], a
//! relationship whose target [`MatchMembers`] despawns them with the match.
//!
//! Other crates may read these (with `World::query`); they change them only through the
//! operations of [`crate::sim`], which keep the counters and phases consistent.

use bevy_ecs::prelude::*;

use crate::model::{
    BotLevel, EndReason, Game, IdMap, MatchId, MatchOptions, Mode, Phase, PlayerId, PlayerRef, Seat,
};
use crate::rng::SplitMix64;
use crate::tick::InputFrame;

/// The most seats a match has (Pong 2v2).
pub const MAX_SEATS: usize = 4;

/// The two sides of a match: the teams of Pong (left and right), the two fields of Breakout
/// versus (`p1` is `Left`, `p2` is `Right`). Indexes [`TeamScore`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    /// The side a seat plays for.
    pub fn of(seat: Seat) -> Side {
        match seat {
            Seat::Left | Seat::LeftBack | Seat::LeftFront | Seat::P1 => Side::Left,
            Seat::Right | Seat::RightBack | Seat::RightFront | Seat::P2 => Side::Right,
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a match is: fixed at creation.
#[derive(Component, Clone, Debug)]
pub struct MatchInfo {
    /// The wire id, key of [`MatchIndex`].
    pub id: MatchId,
    /// Which rules run on it.
    pub game: Game,
    /// Its seats and who fills them.
    pub mode: Mode,
    /// The resolved options (defaults filled in), as they go into the record.
    pub options: MatchOptions,
    /// The seed of [`MatchRng`], kept for the record (a replay needs it).
    pub seed: u64,
    /// Unix milliseconds at creation, stamped by the caller.
    pub started_at_ms: i64,
    /// Pong: the points that win (`options.score_limit`).
    pub score_limit: u32,
}

/// Where a match is in its life, and the timer of the countdown. Marked changed when `phase`
/// moves (`mark_seats_in_play` reads that), not at each tick of the timer.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct MatchPhase {
    /// What the match is doing; the rules move things only while `playing`.
    pub phase: Phase,
    /// Ticks left in `countdown`; the tick it reaches 0 the match plays.
    pub countdown_left: u32,
    /// Whether this countdown follows a pause, so its end is announced as `Resumed`.
    pub resuming: bool,
}

/// Server ticks since the match was created, in every phase (GAMES.md "Matches").
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchClock {
    /// Ticks since creation: the `tick` of `state`, events and the record.
    pub tick: u64,
}

/// The seat entities of a match in seat order (the player seats in [`Mode::player_seats`]
/// order, then any bot seat), and how many seated players are away. A fixed array, so that
/// systems walk a match's seats without a heap access.
#[derive(Component, Clone, Copy, Debug)]
pub struct Seats {
    /// The seat entities; only the first `len` are real.
    entities: [Entity; MAX_SEATS],
    /// How many seats the mode has.
    len: u8,
    /// Seated players whose connection dropped and who have not come back: while it is 0, no
    /// system needs to look at anyone's presence.
    pub absent: u8,
}

impl Seats {
    pub(crate) fn new(list: &[Entity]) -> Seats {
        let mut entities = [Entity::PLACEHOLDER; MAX_SEATS];
        entities[..list.len()].copy_from_slice(list);
        Seats {
            entities,
            len: list.len() as u8,
            absent: 0,
        }
    }

    /// The seat entities, in seat order.
    pub fn entities(&self) -> &[Entity] {
        &self.entities[..self.len as usize]
    }
}

/// Pong: the points of each side, `[left, right]`.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TeamScore(pub [u32; 2]);

/// Pong: marks a Pong match. Its [`Ball`] and [`Serve`] are on the match entity too (a match
/// has one ball, so that the ball's rules walk the matches and read their phase and seats
/// without looking up another entity).
#[derive(Component, Clone, Copy, Debug)]
pub struct PongCourt {
    /// Where no paddle of this court reaches the ball (its paddles never move along x).
    pub lane: PaddleFreeLane,
}

/// Pong: the x-range between a court's innermost paddles, the ball's radius and a margin
/// in from their faces. A ball whose sweep over a tick stays inside it meets no paddle, so
/// the ball's rule reads no paddle for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaddleFreeLane {
    pub min_x: f32,
    pub max_x: f32,
}

/// The match's own seeded PRNG: the only source of randomness of its rules.
#[derive(Component, Clone, Copy, Debug)]
pub struct MatchRng(pub SplitMix64);

/// How a match came to its end: decided by an operation or a rule, announced by the
/// `finish_matches` system.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub enum MatchEnding {
    /// Still live.
    #[default]
    Live,
    /// Decided (the phase is already `finished`), to be announced this tick.
    Pending(EndCause),
    /// Announced; the entity goes at the start of the next step.
    Done,
}

/// Why and how a match ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EndCause {
    /// It never left `waiting`: no history (`MatchEvent::Discarded`).
    Discarded,
    /// It ends with a record (`MatchEvent::Ended`).
    Ended { reason: EndReason, outcome: Outcome },
}

/// Who won an ended match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This side's players win, the others lose.
    Won(Side),
    Draw,
    /// Aborted: no result for anyone.
    NoResult,
}

/// A member of a match (a seat): names the match entity.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
#[relationship(relationship_target = MatchMembers)]
pub struct InMatch(pub Entity);

/// On a match entity: every member, despawned with the match.
#[derive(Component, Debug)]
#[relationship_target(relationship = InMatch, linked_spawn)]
pub struct MatchMembers(Vec<Entity>);

/// On the seats of a match that is `playing` (and on nothing else): kept by the
/// `mark_seats_in_play` system from [`MatchPhase`], so that the rules that move a seat's
/// paddle or play its bot skip the seats of matches not in play by their archetype, without
/// looking up their match. Never set by hand: [`MatchPhase`] is the truth.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InPlay;

/// Who plays a seat.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SeatKind {
    /// A person joins it.
    Player,
    /// A server bot plays it (Pong vs_bot); no one can join it.
    Bot,
}

/// Whether a seated player is here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Presence {
    Present,
    /// The connection dropped at this match tick; the seat is kept for the grace.
    Dropped {
        at_tick: u64,
    },
    /// Left on purpose (or the grace ran out): the seat stays theirs for the record.
    Gone,
}

/// The person in a seat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occupant {
    /// Who: id and display name, for the record and the listings.
    pub player: PlayerRef,
    /// Whether they are connected, for pauses and the reconnect grace.
    pub presence: Presence,
}

/// A seat of a match and who sits in it.
#[derive(Component, Clone, Debug)]
pub struct SeatSlot {
    /// The seat's wire name.
    pub seat: Seat,
    /// The side it plays for: whose score it shares, and who wins with it.
    pub side: Side,
    /// Whether a person or a bot plays it.
    pub kind: SeatKind,
    /// The person sitting here; `None` while the seat is free (and always for a bot seat).
    pub occupant: Option<Occupant>,
}

impl SeatSlot {
    /// The id of the player sitting here, if any.
    pub fn player_id(&self) -> Option<PlayerId> {
        self.occupant.as_ref().map(|o| o.player.id)
    }

    /// Whether a player sits here and is connected.
    pub fn is_present(&self) -> bool {
        matches!(&self.occupant, Some(o) if o.presence == Presence::Present)
    }
}

/// The input state of a seat (GAMES.md: input is a state that holds until changed).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct PlayerInput {
    /// −1 up/left … +1 down/right; holds until the next input.
    pub axis: f32,
    /// Breakout: release a resting ball.
    pub launch: bool,
    /// The seq of the last input applied (acked in `state`); 0 before any.
    pub applied_seq: u64,
    /// The newest input received since the last tick, applied by `apply_inputs`.
    pub pending: Option<InputFrame>,
}

/// Pong: a paddle's centre (its size is the same for every paddle, GAMES.md).
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Paddle {
    /// Centre x: fixed per seat.
    pub x: f32,
    /// Centre y: moved by the seat's input, clamped to the field.
    pub y: f32,
}

/// Pong: the ball's centre and velocity (units, units per second).
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Ball {
    /// Centre x.
    pub x: f32,
    /// Centre y (downward).
    pub y: f32,
    /// Velocity x, units per second.
    pub vx: f32,
    /// Velocity y, units per second.
    pub vy: f32,
}

/// Pong: a ball resting at the centre before a serve.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Serve {
    /// The ball rests and waits to be served.
    pub pending: bool,
    /// Playing ticks still to wait before the serve.
    pub wait: u32,
    /// The side the serve goes toward.
    pub toward: Side,
}

/// Breakout: a field's paddle (its size and y are the same for every field, GAMES.md). Its
/// own type, so that the Pong systems never move it.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct FieldPaddle {
    /// Centre x: moved by the seat's input, clamped to [50, 750].
    pub x: f32,
}

/// Breakout: a field's ball (units, units per second). Its own type, so that the Pong systems
/// never fly it.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct FieldBall {
    /// Centre x.
    pub x: f32,
    /// Centre y (downward).
    pub y: f32,
    /// Velocity x, units per second (0 while resting).
    pub vx: f32,
    /// Velocity y, units per second (0 while resting).
    pub vy: f32,
    /// The ball rests on the paddle until `launch` or until `rest_left` runs out.
    pub resting: bool,
    /// Playing ticks until a resting ball leaves by itself (3 s × tick rate).
    pub rest_left: u32,
}

/// The rows of bricks of a Breakout wall (GAMES.md: 12 columns × 6 rows).
pub const BRICK_ROWS: usize = 6;
/// The columns of bricks of a Breakout wall.
pub const BRICK_COLUMNS: usize = 12;

/// Breakout: a field's live bricks, one bitmask per row (row 0 at the top): bit `c` (value
/// `1 << c`) is the brick of column `c`. The same integers go out in `state` (PROTOCOL.md
/// "Decisions"). Why a bitmask and not one entity per brick: see the `breakout` module.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrickWall {
    /// Per row, the live columns.
    pub rows: [u16; BRICK_ROWS],
}

impl BrickWall {
    /// Every column of a row.
    pub const FULL_ROW: u16 = (1 << BRICK_COLUMNS) - 1;
    /// A fresh wall: every brick standing.
    pub const FULL: BrickWall = BrickWall {
        rows: [Self::FULL_ROW; BRICK_ROWS],
    };
    pub const EMPTY: BrickWall = BrickWall {
        rows: [0; BRICK_ROWS],
    };

    pub fn has(&self, row: usize, column: usize) -> bool {
        self.rows[row] >> column & 1 == 1
    }

    pub fn remove(&mut self, row: usize, column: usize) {
        self.rows[row] &= !(1 << column);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(|row| *row == 0)
    }

    /// How many bricks stand.
    pub fn count(&self) -> u32 {
        self.rows.iter().map(|row| row.count_ones()).sum()
    }
}

/// Breakout: how a field is doing.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldProgress {
    /// Points from broken bricks (GAMES.md "brick value").
    pub score: u32,
    /// Balls left, the one in play included; 0 when the field is out.
    pub lives: u32,
    /// The wall being played, from 1; a cleared wall moves to the next.
    pub level: u32,
}

/// Breakout: a field's own PRNG for its launch angles, seeded with the match seed, so that the
/// two fields of a versus match draw the same angles in the same order (GAMES.md: "the same
/// seed and wall").
#[derive(Component, Clone, Copy, Debug)]
pub struct FieldRng(pub SplitMix64);

/// Breakout versus: playing ticks left until the match ends on `timeLimit`.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLimit {
    /// Counts down in `playing` only (countdowns and pauses do not use up the time).
    pub ticks_left: u64,
}

/// A seat the server plays (Pong vs_bot, or any seat filled with [`crate::sim::attach_bot`]).
/// The bot systems write its [`PlayerInput`] from what a client sees of the state.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Bot {
    /// How well it plays: its reaction delay, aim noise and speed.
    pub level: BotLevel,
    /// Playing ticks until it looks at the state again (its reaction delay).
    pub wait: u32,
    /// Where it steers the paddle's centre (y in Pong, x in Breakout), decided at its last look.
    pub target: f32,
}

/// MatchId → match entity, for the operations that come with an id from the network.
#[derive(Resource, Default, Debug)]
pub struct MatchIndex {
    /// Every match in the World, finished ones until they are despawned (ids are the
    /// server's: a cheap hasher, looked up once per input).
    by_id: IdMap<MatchId, Entity>,
}

impl MatchIndex {
    pub fn get(&self, id: MatchId) -> Option<Entity> {
        self.by_id.get(&id).copied()
    }

    /// How many matches the World holds (finished ones until they are despawned).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every match, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (MatchId, Entity)> + '_ {
        self.by_id.iter().map(|(id, entity)| (*id, *entity))
    }

    pub(crate) fn insert(&mut self, id: MatchId, entity: Entity) {
        self.by_id.insert(id, entity);
    }

    pub(crate) fn remove(&mut self, id: MatchId) {
        self.by_id.remove(&id);
    }
}

/// Matches announced as ended or discarded this step, despawned at the start of the next.
#[derive(Resource, Default, Debug)]
pub(crate) struct EndedMatches(pub(crate) Vec<Entity>);

/// How many entries of `MatchEvents.list` the last step's `Send` systems have seen; those
/// are dropped when the next step starts, while events pushed by operations between steps
/// stay for that step's `Send`.
#[derive(Resource, Default, Debug)]
pub(crate) struct PublishedEvents(pub(crate) usize);
