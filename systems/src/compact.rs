//! The compact `state` codec (PROTOCOL.md "Compact snapshots"): a match's state as a fixed-size
//! quantized [`Snapshot`], the per-match [`MatchStream`] that encodes one delta and at most one
//! keyframe per snapshot tick (run on the tick thread, no allocation after its creation), and
//! the reference [`Decoder`] a client runs (used by the tests and as the spec's reference).
//!
//! A snapshot is a list of integers whose meaning is fixed by the match's [`Layout`] (game and
//! mode): positions and velocities in eighths of a unit ([`SCALE`]), phases, scores, lives,
//! brick rows, acks. A keyframe carries them all; a delta carries only the values that differ
//! from a prediction made from the previous snapshot (the same value, or for a ball position
//! the previous position moved by the previous velocity), so a ball in flight and a still
//! paddle cost nothing.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use crate::components::{BRICK_ROWS, MAX_SEATS};
use crate::model::{Game, MatchId, Mode, Phase, PlayerId, Seat};
use crate::view::StateView;

/// Positions and velocities are sent as integers in 1/`SCALE` of a unit (of a unit per
/// second): 0.125 units, an eighth of a pixel on a field drawn 800 pixels wide.
pub const SCALE: f32 = 8.0;
/// The first byte of a keyframe (`'K'`): never the first byte of a MessagePack map.
pub const KEYFRAME_TAG: u8 = 0x4b;
/// The first byte of a delta (`'D'`): never the first byte of a MessagePack map.
pub const DELTA_TAG: u8 = 0x44;
/// The most values a snapshot has (Breakout versus: 1 + 2 × 16).
pub const MAX_VALUES: usize = 1 + 2 * BREAKOUT_FIELD_VALUES;
/// The largest frame: a keyframe of the largest layout with every varint at its longest.
pub const MAX_FRAME: usize = 2 + 8 + 10 + 5 + 1 + 8 * MAX_SEATS + 10 * MAX_VALUES;

/// Pong values before the seats: phase, score ×2, ball x, y, vx, vy.
const PONG_MATCH_VALUES: usize = 7;
/// Pong values per seat: paddle x, paddle y, ack.
const PONG_SEAT_VALUES: usize = 3;
/// Breakout values per field: paddle x, ball x, y, vx, vy, resting, 6 brick rows, score,
/// lives, level, ack.
const BREAKOUT_FIELD_VALUES: usize = 10 + BRICK_ROWS;
/// Pong: index of the ball's x (y, vx, vy follow).
const PONG_BALL: usize = 3;
/// Breakout, within a field: index of the ball's x (y, vx, vy follow).
const FIELD_BALL: usize = 1;
/// Breakout, within a field: index of brick row 0.
const FIELD_BRICKS: usize = 6;

/// Why a snapshot could not be taken or a frame not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactError {
    /// The entity is not a match, or a component of the state is missing.
    NotAMatch,
    /// A seat is not where its layout puts it.
    SeatOrder,
    /// A frame is cut short, too long, or has an unknown tag or layout.
    Malformed,
}

impl std::fmt::Display for CompactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CompactError::NotAMatch => "not a match",
            CompactError::SeatOrder => "seats out of their layout's order",
            CompactError::Malformed => "malformed compact frame",
        })
    }
}

impl std::error::Error for CompactError {}

/// A game and mode: which values a snapshot holds, in which order (its number is on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Layout {
    #[default]
    PongOneVsOne = 0,
    PongVsBot = 1,
    PongTwoVsTwo = 2,
    BreakoutSolo = 3,
    BreakoutVersus = 4,
}

impl Layout {
    pub const ALL: [Layout; 5] = [
        Layout::PongOneVsOne,
        Layout::PongVsBot,
        Layout::PongTwoVsTwo,
        Layout::BreakoutSolo,
        Layout::BreakoutVersus,
    ];

    pub fn of(game: Game, mode: Mode) -> Option<Layout> {
        Some(match (game, mode) {
            (Game::Pong, Mode::OneVsOne) => Layout::PongOneVsOne,
            (Game::Pong, Mode::VsBot) => Layout::PongVsBot,
            (Game::Pong, Mode::TwoVsTwo) => Layout::PongTwoVsTwo,
            (Game::Breakout, Mode::Solo) => Layout::BreakoutSolo,
            (Game::Breakout, Mode::Versus) => Layout::BreakoutVersus,
            _ => return None,
        })
    }

    fn from_wire(byte: u8) -> Option<Layout> {
        Layout::ALL.get(usize::from(byte)).copied()
    }

    pub fn game(self) -> Game {
        match self {
            Layout::BreakoutSolo | Layout::BreakoutVersus => Game::Breakout,
            _ => Game::Pong,
        }
    }

    /// The seats in seat order (the order of `Seats`, `paddles` and `fields`).
    pub fn seats(self) -> &'static [Seat] {
        match self {
            Layout::PongOneVsOne | Layout::PongVsBot => &[Seat::Left, Seat::Right],
            Layout::PongTwoVsTwo => &[
                Seat::LeftBack,
                Seat::RightBack,
                Seat::LeftFront,
                Seat::RightFront,
            ],
            Layout::BreakoutSolo => &[Seat::P1],
            Layout::BreakoutVersus => &[Seat::P1, Seat::P2],
        }
    }

    /// How many values a snapshot of this layout has.
    pub fn value_count(self) -> usize {
        let seats = self.seats().len();
        match self.game() {
            Game::Pong => PONG_MATCH_VALUES + PONG_SEAT_VALUES * seats,
            Game::Breakout => 1 + BREAKOUT_FIELD_VALUES * seats,
        }
    }

    /// Bytes of a delta's change mask.
    fn mask_bytes(self) -> usize {
        self.value_count().div_ceil(8)
    }

    /// How value `i` is predicted and differenced in a delta.
    fn kind(self, i: usize) -> ValueKind {
        match self.game() {
            Game::Pong => match i {
                PONG_BALL | 4 => ValueKind::Moved { velocity: i + 2 },
                _ => ValueKind::Plain,
            },
            Game::Breakout if i == 0 => ValueKind::Plain,
            Game::Breakout => match (i - 1) % BREAKOUT_FIELD_VALUES {
                FIELD_BALL | 2 => ValueKind::Moved { velocity: i + 2 },
                j if (FIELD_BRICKS..FIELD_BRICKS + BRICK_ROWS).contains(&j) => ValueKind::Bits,
                _ => ValueKind::Plain,
            },
        }
    }

    /// Index of the ack of seat `seat`.
    fn ack(self, seat: usize) -> usize {
        match self.game() {
            Game::Pong => PONG_MATCH_VALUES + PONG_SEAT_VALUES * seat + 2,
            Game::Breakout => 1 + BREAKOUT_FIELD_VALUES * seat + BREAKOUT_FIELD_VALUES - 1,
        }
    }
}

/// How a delta writes one value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ValueKind {
    /// new − old, zigzag varint.
    Plain,
    /// new − (old + old velocity × step / tick rate), zigzag varint.
    Moved { velocity: usize },
    /// old XOR new, varint (brick rows).
    Bits,
}

/// One match at one tick, quantized: everything its `state` message says, in a fixed-size
/// value (no heap), so that a stream keeps the previous one and the current one side by side.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Snapshot {
    /// Which values `values` holds.
    pub layout: Layout,
    /// The match (its id's low 16 bits tag the deltas).
    pub match_id: MatchId,
    /// The match tick of this state.
    pub tick: u64,
    /// Server ticks a second: velocities move positions by `v × step / tick_rate` per step.
    pub tick_rate: u32,
    /// The player in each seat (seat order); `None` for a free seat or a bot's.
    pub players: [Option<PlayerId>; MAX_SEATS],
    /// The values, the first `layout.value_count()` meaningful (PROTOCOL.md lists them).
    pub values: [i64; MAX_VALUES],
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            layout: Layout::default(),
            match_id: MatchId(0),
            tick: 0,
            tick_rate: 0,
            players: [None; MAX_SEATS],
            values: [0; MAX_VALUES],
        }
    }
}

/// A position or velocity in eighths, rounded half away from zero (saturating, NaN as 0).
pub fn quantize(value: f32) -> i64 {
    (value * SCALE).round() as i64
}

/// Back to units: exact (an eighth is a binary fraction).
pub fn dequantize(value: i64) -> f64 {
    value as f64 / f64::from(SCALE)
}

fn phase_number(phase: Phase) -> i64 {
    Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0) as i64
}

impl Snapshot {
    /// Overwrites `self` with a match's state as read now (the components
    /// `view::serialize_state` reads, read once per entity by `view::StateReader`). Allocates
    /// nothing.
    pub fn extract(&mut self, state: &StateView, tick_rate: u32) -> Result<(), CompactError> {
        let layout = Layout::of(state.game, state.mode).ok_or(CompactError::NotAMatch)?;
        let seats = state.seat_list();
        if seats.len() != layout.seats().len() {
            return Err(CompactError::SeatOrder);
        }
        self.layout = layout;
        self.match_id = state.id;
        self.tick = state.tick;
        self.tick_rate = tick_rate;
        self.players = [None; MAX_SEATS];
        self.values = [0; MAX_VALUES];
        self.values[0] = phase_number(state.phase);
        for (s, (seat, expected)) in seats.iter().zip(layout.seats()).enumerate() {
            let seat = seat.as_ref().ok_or(CompactError::NotAMatch)?;
            if seat.seat != *expected {
                return Err(CompactError::SeatOrder);
            }
            self.players[s] = seat.player;
            // An ack is the seq as two's complement (wrapping arithmetic keeps every u64).
            self.values[layout.ack(s)] = seat.applied_seq as i64;
        }
        match layout.game() {
            Game::Pong => self.extract_pong(state),
            Game::Breakout => self.extract_breakout(state),
        }
    }

    fn extract_pong(&mut self, state: &StateView) -> Result<(), CompactError> {
        let ball = state.ball.ok_or(CompactError::NotAMatch)?;
        let v = &mut self.values;
        v[1] = state.score[0].into();
        v[2] = state.score[1].into();
        v[PONG_BALL..PONG_BALL + 4].copy_from_slice(&[
            quantize(ball.x),
            quantize(ball.y),
            quantize(ball.vx),
            quantize(ball.vy),
        ]);
        for (s, seat) in state.seat_list().iter().enumerate() {
            let paddle = seat
                .as_ref()
                .and_then(|seat| seat.paddle)
                .ok_or(CompactError::NotAMatch)?;
            let at = PONG_MATCH_VALUES + PONG_SEAT_VALUES * s;
            v[at] = quantize(paddle.x);
            v[at + 1] = quantize(paddle.y);
        }
        Ok(())
    }

    fn extract_breakout(&mut self, state: &StateView) -> Result<(), CompactError> {
        for (s, seat) in state.seat_list().iter().enumerate() {
            let Some((_, paddle, ball, wall, progress)) =
                seat.as_ref().and_then(|seat| state.field(seat))
            else {
                return Err(CompactError::NotAMatch);
            };
            let at = 1 + BREAKOUT_FIELD_VALUES * s;
            let field = &mut self.values[at..at + BREAKOUT_FIELD_VALUES - 1];
            field[..FIELD_BRICKS].copy_from_slice(&[
                quantize(paddle.x),
                quantize(ball.x),
                quantize(ball.y),
                quantize(ball.vx),
                quantize(ball.vy),
                ball.resting.into(),
            ]);
            for (row, bits) in wall.rows.iter().enumerate() {
                field[FIELD_BRICKS + row] = (*bits).into();
            }
            field[FIELD_BRICKS + BRICK_ROWS..].copy_from_slice(&[
                progress.score.into(),
                progress.lives.into(),
                progress.level.into(),
            ]);
        }
        Ok(())
    }

    /// The meaningful values.
    pub fn values(&self) -> &[i64] {
        &self.values[..self.layout.value_count()]
    }

    /// Low 16 bits of the match id: a delta's match tag.
    pub fn tag(&self) -> u16 {
        self.match_id.0 as u16
    }

    /// What a delta predicts value `i` to be after `step` ticks.
    fn predict(&self, i: usize, step: u64) -> i64 {
        match self.layout.kind(i) {
            ValueKind::Moved { velocity } => {
                let moved = round_div(self.values[velocity], step, self.tick_rate.max(1));
                self.values[i].wrapping_add(moved as i64)
            }
            ValueKind::Plain | ValueKind::Bits => self.values[i],
        }
    }

    /// Whether a delta can lead from `self` to `next`: same match, layout, tick rate and seat
    /// table, and a later tick.
    fn leads_to(&self, next: &Snapshot) -> bool {
        self.layout == next.layout
            && self.match_id == next.match_id
            && self.tick_rate == next.tick_rate
            && self.players == next.players
            && next.tick > self.tick
    }
}

/// `velocity × step / rate` rounded half up (toward +∞): ⌊(2a + b) / 2b⌋ for a = velocity × step
/// and b = rate. In 64 bits when that cannot overflow (every real velocity and step), else in
/// 128 (a 64-bit division costs a fraction of a 128-bit one, and this runs for every value that
/// moves, every match, every tick).
fn round_div(velocity: i64, step: u64, rate: u32) -> i128 {
    let b = i64::from(rate);
    let small = i64::try_from(step)
        .ok()
        .and_then(|step| velocity.checked_mul(step))
        .and_then(|a| a.checked_mul(2))
        .and_then(|twice| twice.checked_add(b));
    match small {
        Some(numerator) => i128::from(numerator.div_euclid(2 * b)),
        None => {
            let (a, b) = (i128::from(velocity) * i128::from(step), i128::from(b));
            (2 * a + b).div_euclid(2 * b)
        }
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends an unsigned LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Writes a keyframe of `snapshot` into `out` (cleared first).
pub fn write_keyframe(snapshot: &Snapshot, out: &mut Vec<u8>) {
    out.clear();
    out.push(KEYFRAME_TAG);
    out.push(snapshot.layout as u8);
    out.extend_from_slice(&snapshot.match_id.0.to_le_bytes());
    put_varint(out, snapshot.tick);
    put_varint(out, snapshot.tick_rate.into());
    let seats = snapshot.layout.seats().len();
    let mut present = 0u8;
    for (s, player) in snapshot.players[..seats].iter().enumerate() {
        if player.is_some() {
            present |= 1 << s;
        }
    }
    out.push(present);
    for player in snapshot.players[..seats].iter().flatten() {
        out.extend_from_slice(&player.0.to_le_bytes());
    }
    for value in snapshot.values() {
        put_varint(out, zigzag(*value));
    }
}

/// Writes a delta leading from `base` to `next` into `out` (cleared first). The caller has
/// checked that `base` leads to `next`.
fn write_delta(base: &Snapshot, next: &Snapshot, out: &mut Vec<u8>) {
    out.clear();
    out.push(DELTA_TAG);
    out.extend_from_slice(&next.tag().to_le_bytes());
    out.extend_from_slice(&(base.tick as u16).to_le_bytes());
    let step = next.tick - base.tick;
    put_varint(out, step);
    let mask_at = out.len();
    let mask_bytes = next.layout.mask_bytes();
    out.resize(mask_at + mask_bytes, 0);
    for i in 0..next.layout.value_count() {
        let change = match next.layout.kind(i) {
            ValueKind::Bits => (base.values[i] ^ next.values[i]) as u64,
            _ => zigzag(next.values[i].wrapping_sub(base.predict(i, step))),
        };
        if change != 0 {
            out[mask_at + i / 8] |= 1 << (i % 8);
            put_varint(out, change);
        }
    }
}

/// The compact frames of one match, kept by the server from tick to tick: each snapshot tick
/// [`MatchStream::update`] takes the new snapshot, then [`MatchStream::delta`] (the frame for
/// every member whose chain holds) and [`MatchStream::keyframe`] (for any member who needs
/// one) are each encoded at most once, on first ask, and shared by every member.
#[derive(Debug)]
pub struct MatchStream {
    /// Server ticks a second, stamped on every snapshot.
    tick_rate: u32,
    /// The snapshot of this tick (`snapshots[current]`) and the one sent before it (the other):
    /// a new tick flips `current` and writes over the older one, instead of moving either.
    snapshots: [Snapshot; 2],
    current: usize,
    /// Whether the previous snapshot holds one.
    has_previous: bool,
    /// Whether the current snapshot holds one.
    has_current: bool,
    /// This tick's delta, once encoded.
    delta: Vec<u8>,
    /// This tick's keyframe, once encoded.
    keyframe: Vec<u8>,
    /// Whether `delta` / `keyframe` hold this tick's frame.
    delta_ready: bool,
    keyframe_ready: bool,
}

impl MatchStream {
    pub fn new(tick_rate: u32) -> MatchStream {
        MatchStream {
            tick_rate,
            snapshots: [Snapshot::default(); 2],
            current: 0,
            has_previous: false,
            has_current: false,
            delta: Vec::with_capacity(MAX_FRAME),
            keyframe: Vec::with_capacity(MAX_FRAME),
            delta_ready: false,
            keyframe_ready: false,
        }
    }

    /// The match could not be read this tick: the stream forgets both snapshots, so that the
    /// next frame is a keyframe (as after a failed [`MatchStream::update`]).
    pub fn reset(&mut self) {
        self.rotate();
        self.has_current = false;
        self.has_previous = false;
    }

    /// Takes a match's state as read this tick as its snapshot (the previous one becomes the
    /// base of the delta). On error the stream forgets both, so that the next frame is a
    /// keyframe.
    pub fn update(&mut self, state: &StateView) -> Result<(), CompactError> {
        self.rotate();
        let result = self.snapshots[self.current].extract(state, self.tick_rate);
        self.has_current = result.is_ok();
        if result.is_err() {
            self.has_previous = false;
        }
        result
    }

    /// Takes `snapshot` as this tick's snapshot (for callers and tests that build their own).
    pub fn push(&mut self, snapshot: &Snapshot) {
        self.rotate();
        self.snapshots[self.current] = *snapshot;
        self.has_current = true;
    }

    /// Makes the current snapshot the previous one (when there is one); the older slot is
    /// written next.
    fn rotate(&mut self) {
        if self.has_current {
            self.current ^= 1;
            self.has_previous = true;
        }
        self.delta_ready = false;
        self.keyframe_ready = false;
    }

    /// The current snapshot, if one was taken.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.has_current.then_some(&self.snapshots[self.current])
    }

    /// The delta from the previous snapshot to this tick's, for every member who received the
    /// previous frame (delta or keyframe). `None` when no delta can lead there (first snapshot,
    /// a seat changed hands, the tick did not move): everyone gets the keyframe.
    pub fn delta(&mut self) -> Option<&[u8]> {
        let (current, previous) = (
            &self.snapshots[self.current],
            &self.snapshots[self.current ^ 1],
        );
        if !self.has_current || !self.has_previous || !previous.leads_to(current) {
            return None;
        }
        if !self.delta_ready {
            write_delta(previous, current, &mut self.delta);
            self.delta_ready = true;
        }
        Some(&self.delta)
    }

    /// The keyframe of this tick's snapshot, for members whose chain is broken (or all, when
    /// [`MatchStream::delta`] is `None`). Empty before the first snapshot.
    pub fn keyframe(&mut self) -> &[u8] {
        if !self.has_current {
            return &[];
        }
        if !self.keyframe_ready {
            write_keyframe(&self.snapshots[self.current], &mut self.keyframe);
            self.keyframe_ready = true;
        }
        &self.keyframe
    }
}

/// Reads a frame front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CompactError> {
        let byte = *self.bytes.get(self.at).ok_or(CompactError::Malformed)?;
        self.at += 1;
        Ok(byte)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], CompactError> {
        let slice = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or(CompactError::Malformed)?;
        self.at += N;
        Ok(slice.try_into().unwrap_or([0; N]))
    }

    fn varint(&mut self) -> Result<u64, CompactError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err(CompactError::Malformed);
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(CompactError::Malformed)
    }

    fn end(&self) -> Result<(), CompactError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(CompactError::Malformed)
        }
    }
}

/// Reads a keyframe.
pub fn read_keyframe(frame: &[u8]) -> Result<Snapshot, CompactError> {
    let mut r = Reader {
        bytes: frame,
        at: 0,
    };
    if r.byte()? != KEYFRAME_TAG {
        return Err(CompactError::Malformed);
    }
    let layout = Layout::from_wire(r.byte()?).ok_or(CompactError::Malformed)?;
    let mut snapshot = Snapshot {
        layout,
        match_id: MatchId(u64::from_le_bytes(r.take()?)),
        tick: r.varint()?,
        tick_rate: u32::try_from(r.varint()?).map_err(|_| CompactError::Malformed)?,
        ..Snapshot::default()
    };
    let seats = layout.seats().len();
    let present = r.byte()?;
    if present >> seats != 0 {
        return Err(CompactError::Malformed);
    }
    for s in 0..seats {
        if present >> s & 1 == 1 {
            snapshot.players[s] = Some(PlayerId(u64::from_le_bytes(r.take()?)));
        }
    }
    for i in 0..layout.value_count() {
        snapshot.values[i] = unzigzag(r.varint()?);
    }
    r.end()?;
    Ok(snapshot)
}

/// What a client did with a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Decoded {
    /// The match's state is now this tick's (its snapshot is [`Decoder::state`]).
    Applied(MatchId),
    /// A delta that does not continue the state held: discarded; the client asks for a
    /// keyframe (`state.resync`) and ignores deltas of that match until one comes.
    Broken { tag: u16 },
}

/// A client's view of its matches: the reference decoder of PROTOCOL.md.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The last state of each match, and whether its chain is broken.
    matches: Vec<(Snapshot, bool)>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// The last state applied for a match.
    pub fn state(&self, id: MatchId) -> Option<&Snapshot> {
        self.matches
            .iter()
            .find(|(s, broken)| s.match_id == id && !broken)
            .map(|(s, _)| s)
    }

    /// Forgets a match (its `match.end` came, or the client left it).
    pub fn forget(&mut self, id: MatchId) {
        self.matches.retain(|(s, _)| s.match_id != id);
    }

    /// Applies one compact `state` frame.
    pub fn decode(&mut self, frame: &[u8]) -> Result<Decoded, CompactError> {
        match frame.first() {
            Some(&KEYFRAME_TAG) => {
                let snapshot = read_keyframe(frame)?;
                let id = snapshot.match_id;
                self.forget(id);
                self.matches.push((snapshot, false));
                Ok(Decoded::Applied(id))
            }
            Some(&DELTA_TAG) => self.apply_delta(frame),
            _ => Err(CompactError::Malformed),
        }
    }

    fn apply_delta(&mut self, frame: &[u8]) -> Result<Decoded, CompactError> {
        let mut r = Reader {
            bytes: frame,
            at: 1,
        };
        let tag = u16::from_le_bytes(r.take()?);
        let Some((held, broken)) = self.matches.iter_mut().find(|(s, _)| s.tag() == tag) else {
            return Ok(Decoded::Broken { tag });
        };
        let next = match continue_chain(held, *broken, &mut r) {
            Ok(Some(next)) => next,
            Ok(None) => {
                *broken = true;
                return Ok(Decoded::Broken { tag });
            }
            Err(error) => {
                *broken = true;
                return Err(error);
            }
        };
        *held = next;
        Ok(Decoded::Applied(next.match_id))
    }
}

/// The snapshot a delta (`r` just past its tag) leads to from `held`; `None` when it does not
/// continue `held` (a broken chain).
fn continue_chain(
    held: &Snapshot,
    broken: bool,
    r: &mut Reader,
) -> Result<Option<Snapshot>, CompactError> {
    let base = u16::from_le_bytes(r.take()?);
    let step = r.varint()?;
    if broken || held.tick as u16 != base || step == 0 {
        return Ok(None);
    }
    let layout = held.layout;
    let mask = r.at;
    r.at += layout.mask_bytes();
    let mut next = *held;
    next.tick = held.tick.wrapping_add(step);
    for i in 0..layout.value_count() {
        let byte = *r.bytes.get(mask + i / 8).ok_or(CompactError::Malformed)?;
        let change = if byte >> (i % 8) & 1 == 1 {
            r.varint()?
        } else {
            0
        };
        next.values[i] = match layout.kind(i) {
            ValueKind::Bits => held.values[i] ^ change as i64,
            _ => held.predict(i, step).wrapping_add(unzigzag(change)),
        };
    }
    let last = r.bytes[mask + layout.mask_bytes() - 1];
    if u32::from(last) >> (layout.value_count() - 8 * (layout.mask_bytes() - 1)) != 0 {
        return Err(CompactError::Malformed);
    }
    r.end()?;
    Ok(Some(next))
}

/// The `data` of a JSON `state` message, from the snapshot (values dequantized): the same
/// object as `view::serialize_state`, positions and velocities to the nearest eighth.
impl Serialize for Snapshot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("matchId", &self.match_id.to_string())?;
        map.serialize_entry("tick", &self.tick)?;
        let phase = Phase::ALL
            .get(self.values[0] as usize)
            .copied()
            .unwrap_or(Phase::Waiting);
        map.serialize_entry("phase", phase.as_str())?;
        map.serialize_entry("acks", &SnapshotAcks(self))?;
        match self.layout.game() {
            Game::Pong => map.serialize_entry("pong", &SnapshotPong(self))?,
            Game::Breakout => map.serialize_entry("breakout", &SnapshotBreakout(self))?,
        }
        map.end()
    }
}

struct SnapshotAcks<'a>(&'a Snapshot);

impl Serialize for SnapshotAcks<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let seated = s.players[..s.layout.seats().len()].iter().enumerate();
        let mut map = serializer.serialize_map(None)?;
        for (seat, player) in seated.filter_map(|(i, p)| Some((i, (*p)?))) {
            map.serialize_entry(&player.to_string(), &(s.values[s.layout.ack(seat)] as u64))?;
        }
        map.end()
    }
}

/// `{"x", "y", "vx", "vy"}` (and `resting` in Breakout) from four values.
struct SnapshotBall<'a>(&'a [i64], Option<bool>);

impl Serialize for SnapshotBall<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in ["x", "y", "vx", "vy"].iter().zip(self.0) {
            map.serialize_entry(key, &dequantize(*value))?;
        }
        if let Some(resting) = self.1 {
            map.serialize_entry("resting", &resting)?;
        }
        map.end()
    }
}

struct SnapshotPong<'a>(&'a Snapshot);

impl Serialize for SnapshotPong<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = &self.0.values;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("ball", &SnapshotBall(&v[PONG_BALL..PONG_BALL + 4], None))?;
        map.serialize_entry("paddles", &SnapshotPaddles(self.0))?;
        map.serialize_entry("score", &[v[1], v[2]])?;
        map.end()
    }
}

struct SnapshotPaddles<'a>(&'a Snapshot);

impl Serialize for SnapshotPaddles<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let seats = self.0.layout.seats();
        let mut seq = serializer.serialize_seq(Some(seats.len()))?;
        for (s, seat) in seats.iter().enumerate() {
            let at = PONG_MATCH_VALUES + PONG_SEAT_VALUES * s;
            seq.serialize_element(&SnapshotPaddle(*seat, &self.0.values[at..at + 2]))?;
        }
        seq.end()
    }
}

struct SnapshotPaddle<'a>(Seat, &'a [i64]);

impl Serialize for SnapshotPaddle<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("seat", self.0.as_str())?;
        map.serialize_entry("x", &dequantize(self.1[0]))?;
        map.serialize_entry("y", &dequantize(self.1[1]))?;
        map.end()
    }
}

struct SnapshotBreakout<'a>(&'a Snapshot);

impl Serialize for SnapshotBreakout<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("fields", &SnapshotFields(self.0))?;
        map.end()
    }
}

struct SnapshotFields<'a>(&'a Snapshot);

impl Serialize for SnapshotFields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let seats = self.0.layout.seats();
        let mut seq = serializer.serialize_seq(Some(seats.len()))?;
        for (s, seat) in seats.iter().enumerate() {
            let at = 1 + BREAKOUT_FIELD_VALUES * s;
            seq.serialize_element(&SnapshotField(
                *seat,
                &self.0.values[at..at + BREAKOUT_FIELD_VALUES],
            ))?;
        }
        seq.end()
    }
}

struct SnapshotField<'a>(Seat, &'a [i64]);

impl Serialize for SnapshotField<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let f = self.1;
        let progress = FIELD_BRICKS + BRICK_ROWS;
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("seat", self.0.as_str())?;
        map.serialize_entry("paddle", &SnapshotPaddleX(f[0]))?;
        map.serialize_entry(
            "ball",
            &SnapshotBall(&f[FIELD_BALL..FIELD_BALL + 4], Some(f[5] != 0)),
        )?;
        map.serialize_entry("bricks", &f[FIELD_BRICKS..FIELD_BRICKS + BRICK_ROWS])?;
        map.serialize_entry("score", &f[progress])?;
        map.serialize_entry("lives", &f[progress + 1])?;
        map.serialize_entry("level", &f[progress + 2])?;
        map.end()
    }
}

struct SnapshotPaddleX(i64);

impl Serialize for SnapshotPaddleX {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("x", &dequantize(self.0))?;
        map.end()
    }
}

#[cfg(test)]
mod tests;
