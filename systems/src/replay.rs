//! Replays (issue 16): a match is its seed, its options and what changed its simulation: the
//! inputs [`sim::submit_input`] accepted that change what the step applies (an input that
//! repeats the seat's axis records nothing: most of a keyboard's) and the operations that seated, dropped, brought back
//! or removed a player. The tick thread appends them to the match's [`ReplayLog`] in a compact
//! byte form; [`seal_replays`] hands the log with the final state hash to the history record
//! ([`crate::model::MatchRecord::replay`]), so it is stored in the same transaction.
//! [`play`] runs a replay through a fresh [`Simulation`] (any thread: verify, frames).
//!
//! # The log (PROTOCOL.md "Replays")
//!
//! A sequence of ops. Every op carries the ticks elapsed since the previous op (`dt`); an op
//! at tick `t` was applied between the step that brought the match clock to `t` and the next.
//! The decoder keeps `tick` (from 0) and, per seat, the `seq` the next input will carry (from 1).
//!
//! - Input, first byte `0ssaaldd`: seat index `ss`, axis class `aa` (0: `0.0`, 1: `1.0`, 2:
//!   `-1.0`, 3: an `f32` little-endian follows), `l` launch, `dd` the `dt` (3: `3 +` a varint
//!   follows). Its `seq` is the seat's next one. One byte for a keyboard input.
//!   Logs recorded since the ack op write no `seq` ops: the decoder counts a seat's inputs,
//!   and an ack op at the end gives each seat's real last `seq` where the count differs.
//! - Other ops, first byte `1kkkaaaa`, then a varint `dt`; `aaaa` is a player index into the
//!   replay's `players` (or a seat index); 15 means a varint index follows. `kkk`: 0 seq (the
//!   next input of seat `aaaa` carries the varint that follows), 1 join, 2 leave, 3 drop,
//!   4 return, 5 abort, 6 bot (seat `aaaa`, then one byte: 0 easy, 1 normal, 2 hard), 7 ack
//!   (seat `aaaa` acknowledges the varint that follows from here on: its pending input's
//!   `seq` if one waits, else its applied one).
//!
//! Varints are LEB128 (7 bits a byte, low first).

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use bevy_ecs::prelude::*;

use crate::components::{MAX_SEATS, MatchClock, PlayerInput, Seats};
use crate::model::{
    BotLevel, EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerId, PlayerRef,
    RecordPlayer,
};
use crate::sim::{self, MatchSpec, Simulation};
use crate::tick::{InputFrame, MatchEvent, MatchEvents, SimConfig};
use crate::view::state_hash;

/// The version of the rules a replay was recorded under. Bump it whenever a rule, a number
/// of GAMES.md or the order of the systems changes what a seed and a log produce: a replay of
/// another version is refused (HTTP 410) rather than played wrong.
pub const GAME_VERSION: u32 = 1;

/// The most ticks [`play`] runs past the tick count it was told to expect, before it calls
/// the replay broken (a match that never ends).
pub const REPLAY_TICK_SLACK: u64 = 1;

/// The bytes a match's log is created with: about 35 s of Pong 1v1 with keys held at 20 Hz
/// (only changes are logged), minutes at the browser's rate (it sends on change); past it, the
/// log doubles (amortized growth, never per tick).
pub const REPLAY_LOG_CAPACITY: usize = 512;

/// The input ops a match's log holds in its own row before they go to its heap buffer: eight
/// keyboard changes (two bytes each, their `dt` a varint).
const LOG_TAIL_BYTES: usize = 16;

/// The most bytes one input op takes: its first byte, a `dt` varint, an `f32`.
const MAX_INPUT_BYTES: usize = 1 + 10 + 4;

/// An input's `dt` held in its first byte; from this value on, a varint follows.
const INLINE_DT: u64 = 3;
/// The index held in an op's first byte; from this value on, a varint follows.
const INLINE_INDEX: usize = 15;
const OP_FLAG: u8 = 0x80;
const KIND_SEQ: u8 = 0;
const KIND_JOIN: u8 = 1;
const KIND_LEAVE: u8 = 2;
const KIND_DROP: u8 = 3;
const KIND_RETURN: u8 = 4;
const KIND_ABORT: u8 = 5;
const KIND_BOT: u8 = 6;
const KIND_ACK: u8 = 7;
const AXIS_ZERO: u8 = 0;
const AXIS_PLUS: u8 = 1;
const AXIS_MINUS: u8 = 2;
const AXIS_F32: u8 = 3;

/// On every match entity: the replay being recorded, appended to on the tick thread.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct ReplayLog {
    /// The encoded ops (the module doc); grows by amortized doubling.
    pub(crate) ops: Vec<u8>,
    /// Everyone who ever sat down, in order of first join: ops name them by index.
    pub(crate) players: Vec<PlayerRef>,
    /// The tick of the last op (the base of the next `dt`).
    pub(crate) tick: u64,
    /// Per seat index, the `seq` the decoder expects of the seat's next input.
    pub(crate) next_seq: [u64; MAX_SEATS],
    /// The newest input ops, not yet in `ops`: kept in the log's own row, so that logging an
    /// input writes no heap memory (the tail of `ops`, a cache line of its own per match, is
    /// cold at 10,000 matches); moved into `ops` when full, before any other op, and sealed.
    pub(crate) tail: [u8; LOG_TAIL_BYTES],
    /// The bytes of `tail` in use.
    pub(crate) tail_len: u8,
}

/// A lifecycle operation, as [`crate::sim`] records it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lifecycle<'a> {
    Join(&'a PlayerRef),
    Leave(PlayerId),
    Drop(PlayerId),
    Return(PlayerId),
    Abort,
    Bot { seat: usize, level: BotLevel },
}

impl ReplayLog {
    fn new() -> ReplayLog {
        ReplayLog {
            ops: Vec::with_capacity(REPLAY_LOG_CAPACITY),
            next_seq: [1; MAX_SEATS],
            ..Default::default()
        }
    }

    /// The bytes recorded so far.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ops.len() + usize::from(self.tail_len)
    }

    /// Every op recorded so far, the tail's included (a checkpoint's copy of the log).
    pub(crate) fn logged_ops(&self) -> Vec<u8> {
        let mut ops = Vec::with_capacity(self.ops.len() + usize::from(self.tail_len));
        ops.extend_from_slice(&self.ops);
        ops.extend_from_slice(&self.tail[..usize::from(self.tail_len)]);
        ops
    }

    /// Moves the tail's ops into `ops` (before any op written to `ops`, and at the end).
    fn flush(&mut self) {
        self.ops
            .extend_from_slice(&self.tail[..usize::from(self.tail_len)]);
        self.tail_len = 0;
    }

    fn dt(&mut self, tick: u64) -> u64 {
        let dt = tick.saturating_sub(self.tick);
        self.tick = self.tick.max(tick);
        dt
    }

    /// Appends an input applied at `tick` to seat `seat` (its index in seat order). Its `seq`
    /// is not written: the decoder counts the seat's inputs, and [`seal_replays`] writes each
    /// seat's last acknowledged `seq` once, at the end, where it differs ([`ReplayLog::ack`]).
    pub(crate) fn input(&mut self, tick: u64, seat: usize, frame: InputFrame) {
        let seat = seat.min(MAX_SEATS - 1);
        self.next_seq[seat] = self.next_seq[seat].wrapping_add(1);
        let dt = self.dt(tick);
        let bits = frame.axis.to_bits();
        let class = if bits == 0f32.to_bits() {
            AXIS_ZERO
        } else if bits == 1f32.to_bits() {
            AXIS_PLUS
        } else if bits == (-1f32).to_bits() {
            AXIS_MINUS
        } else {
            AXIS_F32
        };
        let first =
            (seat as u8) << 5 | class << 3 | u8::from(frame.launch) << 2 | dt.min(INLINE_DT) as u8;
        let mut op = [0u8; MAX_INPUT_BYTES];
        op[0] = first;
        let mut len = 1;
        if dt >= INLINE_DT {
            len += write_varint(&mut op[len..], dt - INLINE_DT);
        }
        if class == AXIS_F32 {
            op[len..len + 4].copy_from_slice(&bits.to_le_bytes());
            len += 4;
        }
        if usize::from(self.tail_len) + len > LOG_TAIL_BYTES {
            self.flush();
        }
        let at = usize::from(self.tail_len);
        self.tail[at..at + len].copy_from_slice(&op[..len]);
        self.tail_len += len as u8;
    }

    /// Appends an ack op at the tick of the last op: from there on, seat `seat` acknowledges
    /// `seq` (the `seq` of the last input the tick thread accepted from it).
    fn ack(&mut self, seat: usize, seq: u64) {
        let seat = seat.min(MAX_SEATS - 1);
        self.head(KIND_ACK, seat, 0);
        push_varint(&mut self.ops, seq);
        self.next_seq[seat] = seq.wrapping_add(1);
    }

    /// Appends a lifecycle operation applied at `tick`.
    pub(crate) fn lifecycle(&mut self, tick: u64, op: Lifecycle<'_>) {
        let dt = self.dt(tick);
        match op {
            Lifecycle::Join(player) => {
                let index = self.player_index(player);
                self.head(KIND_JOIN, index, dt);
            }
            Lifecycle::Leave(id) | Lifecycle::Drop(id) | Lifecycle::Return(id) => {
                let kind = match op {
                    Lifecycle::Leave(_) => KIND_LEAVE,
                    Lifecycle::Drop(_) => KIND_DROP,
                    _ => KIND_RETURN,
                };
                let index = self.player_index(&PlayerRef {
                    id,
                    name: String::new(),
                });
                self.head(kind, index, dt);
            }
            Lifecycle::Abort => self.head(KIND_ABORT, 0, dt),
            Lifecycle::Bot { seat, level } => {
                self.head(KIND_BOT, seat, dt);
                self.ops.push(level as u8);
            }
        }
    }

    /// The index of `player` in `players`, adding them at their first join.
    fn player_index(&mut self, player: &PlayerRef) -> usize {
        match self.players.iter().position(|p| p.id == player.id) {
            Some(index) => index,
            None => {
                self.players.push(player.clone());
                self.players.len() - 1
            }
        }
    }

    /// `1kkkaaaa`, the varint `dt`, and the index's varint when it does not fit.
    fn head(&mut self, kind: u8, index: usize, dt: u64) {
        self.flush();
        self.ops
            .push(OP_FLAG | kind << 4 | index.min(INLINE_INDEX) as u8);
        push_varint(&mut self.ops, dt);
        if index >= INLINE_INDEX {
            push_varint(&mut self.ops, (index - INLINE_INDEX) as u64);
        }
    }
}

fn push_varint(out: &mut Vec<u8>, value: u64) {
    let mut bytes = [0u8; 10];
    let len = write_varint(&mut bytes, value);
    out.extend_from_slice(&bytes[..len]);
}

/// Writes `value` as a varint at the start of `out` (room for 10 bytes); returns its length.
fn write_varint(out: &mut [u8], mut value: u64) -> usize {
    let mut len = 0;
    while value >= 0x80 {
        out[len] = value as u8 | 0x80;
        value >>= 7;
        len += 1;
    }
    out[len] = value as u8;
    len + 1
}

/// A finished match's replay: what the history record carries to the writer, and what the
/// store gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// [`GAME_VERSION`] when it was recorded.
    pub game_version: u32,
    /// The server's reconnect grace in ticks (a rule the log does not say).
    pub reconnect_grace_ticks: u64,
    /// Everyone who sat down, in order of first join; the log names them by index.
    pub players: Vec<PlayerRef>,
    /// The encoded ops (the module doc).
    pub log: Vec<u8>,
    /// [`state_hash`] of the match in the tick it ended.
    pub final_hash: u64,
}

/// One decoded op of a log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Seat index and the input applied to it.
    Input {
        seat: usize,
        frame: InputFrame,
    },
    /// Player index into [`Replay::players`].
    Join(usize),
    Leave(usize),
    Drop(usize),
    Return(usize),
    Abort,
    Bot {
        seat: usize,
        level: BotLevel,
    },
    /// From here on, seat `seat` acknowledges `seq` (its `applied_seq`, or its pending
    /// input's `seq` when one waits): written at the end of a log for the state hash.
    Ack {
        seat: usize,
        seq: u64,
    },
}

/// Why a replay cannot be played, or did not reproduce its record.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplayError {
    /// Recorded under another [`GAME_VERSION`].
    Version { found: u32 },
    /// The log ends inside an op, or names a seat or player that does not exist.
    Corrupt(String),
    /// The match never ended (within the ticks expected plus [`REPLAY_TICK_SLACK`]).
    NoEnd { ticks: u64 },
    /// The match ended with ops of the log still unplayed.
    OpsAfterEnd { tick: u64 },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Version { found } => write!(
                f,
                "recorded under game version {found}, this server plays version {GAME_VERSION}"
            ),
            ReplayError::Corrupt(what) => write!(f, "corrupt replay log: {what}"),
            ReplayError::NoEnd { ticks } => write!(f, "the match did not end within {ticks} ticks"),
            ReplayError::OpsAfterEnd { tick } => {
                write!(
                    f,
                    "the match ended at tick {tick} with ops still in the log"
                )
            }
        }
    }
}

impl std::error::Error for ReplayError {}

impl Replay {
    /// The ops of the log with their ticks, in order.
    pub fn ops(&self) -> Ops<'_> {
        Ops {
            bytes: &self.log,
            at: 0,
            tick: 0,
            next_seq: [1; MAX_SEATS],
            players: self.players.len(),
        }
    }
}

/// The decoder of a log: yields `(tick, op)`.
pub struct Ops<'a> {
    bytes: &'a [u8],
    at: usize,
    tick: u64,
    next_seq: [u64; MAX_SEATS],
    players: usize,
}

impl Ops<'_> {
    fn byte(&mut self) -> Result<u8, ReplayError> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| ReplayError::Corrupt(format!("truncated at byte {}", self.at)))?;
        self.at += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, ReplayError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ReplayError::Corrupt(format!(
            "varint too long at byte {}",
            self.at
        )))
    }

    fn advance(&mut self, dt: u64) -> Result<(), ReplayError> {
        self.tick = self
            .tick
            .checked_add(dt)
            .ok_or_else(|| ReplayError::Corrupt("tick overflow".into()))?;
        Ok(())
    }

    fn index(&mut self, first: u8) -> Result<usize, ReplayError> {
        let inline = usize::from(first & 0x0f);
        if inline < INLINE_INDEX {
            return Ok(inline);
        }
        Ok(INLINE_INDEX + self.varint()? as usize)
    }

    fn player(&mut self, index: usize) -> Result<usize, ReplayError> {
        if index < self.players {
            Ok(index)
        } else {
            Err(ReplayError::Corrupt(format!("no player {index}")))
        }
    }

    fn seat(index: usize) -> Result<usize, ReplayError> {
        if index < MAX_SEATS {
            Ok(index)
        } else {
            Err(ReplayError::Corrupt(format!("no seat {index}")))
        }
    }

    fn next_op(&mut self) -> Result<(u64, Op), ReplayError> {
        let first = self.byte()?;
        if first & OP_FLAG == 0 {
            let seat = usize::from(first >> 5 & 3);
            let class = first >> 3 & 3;
            let launch = first >> 2 & 1 == 1;
            let mut dt = u64::from(first & 3);
            if dt >= INLINE_DT {
                dt += self.varint()?;
            }
            self.advance(dt)?;
            let axis = match class {
                AXIS_ZERO => 0.0,
                AXIS_PLUS => 1.0,
                AXIS_MINUS => -1.0,
                _ => {
                    let bytes = [self.byte()?, self.byte()?, self.byte()?, self.byte()?];
                    f32::from_le_bytes(bytes)
                }
            };
            let seq = self.next_seq[seat];
            self.next_seq[seat] = seq.wrapping_add(1);
            let frame = InputFrame { seq, axis, launch };
            return Ok((self.tick, Op::Input { seat, frame }));
        }
        let kind = first >> 4 & 7;
        let dt = self.varint()?;
        self.advance(dt)?;
        let index = self.index(first)?;
        let op = match kind {
            KIND_SEQ => {
                let seat = Self::seat(index)?;
                self.next_seq[seat] = self.varint()?;
                return self.next_op();
            }
            KIND_JOIN => Op::Join(self.player(index)?),
            KIND_LEAVE => Op::Leave(self.player(index)?),
            KIND_DROP => Op::Drop(self.player(index)?),
            KIND_RETURN => Op::Return(self.player(index)?),
            KIND_ABORT => Op::Abort,
            KIND_BOT => {
                let seat = Self::seat(index)?;
                let level = match self.byte()? {
                    0 => BotLevel::Easy,
                    1 => BotLevel::Normal,
                    2 => BotLevel::Hard,
                    other => return Err(ReplayError::Corrupt(format!("bot level {other}"))),
                };
                Op::Bot { seat, level }
            }
            KIND_ACK => {
                let seat = Self::seat(index)?;
                let seq = self.varint()?;
                self.next_seq[seat] = seq.wrapping_add(1);
                Op::Ack { seat, seq }
            }
            other => return Err(ReplayError::Corrupt(format!("op kind {other}"))),
        };
        Ok((self.tick, op))
    }
}

impl Iterator for Ops<'_> {
    type Item = Result<(u64, Op), ReplayError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let op = self.next_op();
        if op.is_err() {
            // Stop after the first error.
            self.at = self.bytes.len();
        }
        Some(op)
    }
}

/// Appends an input [`sim::submit_input`] accepted (it became the seat's pending input) to the
/// match's log at its current tick. Recorded where the input arrives, on the tick thread
/// between steps, so that the step itself pays nothing for the replay.
pub(crate) fn note_input(world: &mut World, game: Entity, seat: usize, frame: InputFrame) {
    // One entity lookup for both components; nothing reads the log's change ticks.
    let Ok(mut entity) = world.get_entity_mut(game) else {
        return;
    };
    let tick = entity.get::<MatchClock>().map_or(0, |clock| clock.tick);
    if let Some(mut log) = entity.get_mut::<ReplayLog>() {
        log.bypass_change_detection().input(tick, seat, frame);
    }
}

/// Whether a match ended this tick with its replay not yet sealed: the run condition of
/// [`seal_replays`] (an exclusive system, so it runs only at the ticks a match ends).
pub(crate) fn replays_to_seal(events: Res<MatchEvents>) -> bool {
    events
        .list
        .iter()
        .any(|(.., event)| matches!(event, MatchEvent::Ended(record) if record.replay.is_none()))
}

/// Issue 16: puts the replay of every match that ended this tick into its record (the log,
/// moved out of the match, and the final state hash), so the writer stores both in one
/// transaction. Runs right after `finish_matches`.
pub(crate) fn seal_replays(world: &mut World) {
    let grace = world.resource::<SimConfig>().reconnect_grace_ticks;
    world.resource_scope(|world, mut events: Mut<MatchEvents>| {
        for (entity, _, _, event) in &mut events.list {
            let MatchEvent::Ended(record) = event else {
                continue;
            };
            if record.replay.is_some() {
                continue;
            }
            let final_hash = state_hash(world, *entity);
            // Every seat's last acknowledged seq, for the hash: the log skips the inputs that
            // changed nothing, so the decoder's count of a seat's inputs can fall behind.
            let mut acked = [None; MAX_SEATS];
            if let Some(seats) = world.get::<Seats>(*entity) {
                for (index, seat) in seats.entities().iter().enumerate().take(MAX_SEATS) {
                    acked[index] = world.get::<PlayerInput>(*seat).map(|i| i.applied_seq);
                }
            }
            let Some(mut log) = world.get_mut::<ReplayLog>(*entity) else {
                continue;
            };
            let mut log = std::mem::take(&mut *log);
            for (seat, seq) in acked.into_iter().enumerate() {
                if let Some(seq) = seq.filter(|seq| seq.wrapping_add(1) != log.next_seq[seat]) {
                    log.ack(seat, seq);
                }
            }
            log.flush();
            record.replay = Some(Arc::new(Replay {
                game_version: GAME_VERSION,
                reconnect_grace_ticks: grace,
                players: log.players,
                log: log.ops,
                final_hash,
            }));
        }
    });
}

/// A new match's empty log (spawned with it by [`sim::create_match`]).
pub(crate) fn new_log() -> ReplayLog {
    ReplayLog::new()
}

/// Appends a lifecycle op to a match's log at its current tick (for [`crate::sim`]).
pub(crate) fn note(world: &mut World, game: Entity, op: Lifecycle<'_>) {
    let tick = world.get::<MatchClock>(game).map_or(0, |clock| clock.tick);
    if let Some(mut log) = world.get_mut::<ReplayLog>(game) {
        log.lifecycle(tick, op);
    }
}

/// What a replay is played from: the stored match, as its record gives it.
#[derive(Clone, Debug)]
pub struct ReplayHeader {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    pub options: MatchOptions,
    pub seed: u64,
    pub started_at_ms: i64,
    pub tick_rate: u32,
    /// The ticks the record says the match lasted: play gives up [`REPLAY_TICK_SLACK`] later.
    pub ticks: u64,
}

impl ReplayHeader {
    /// The header of a record.
    pub fn of(record: &MatchRecord) -> ReplayHeader {
        ReplayHeader {
            id: record.id,
            game: record.game,
            mode: record.mode,
            options: record.options.clone(),
            seed: record.seed,
            started_at_ms: record.started_at_ms,
            tick_rate: record.tick_rate,
            ticks: record.ticks,
        }
    }
}

/// What a replay played to its end produced.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The record the replayed match ended with (its `replay` re-recorded by the replay).
    pub record: MatchRecord,
    /// [`state_hash`] in the tick it ended.
    pub final_hash: u64,
}

/// Plays `replay` through a fresh [`Simulation`]: creates the match from `header`, applies
/// each op before the step of its tick, and calls `visit` with the World and the match after
/// every step. Returns `Ok(None)` when `visit` breaks, the end otherwise.
pub fn play(
    header: &ReplayHeader,
    replay: &Replay,
    mut visit: impl FnMut(&World, Entity) -> ControlFlow<()>,
) -> Result<Option<Replayed>, ReplayError> {
    if replay.game_version != GAME_VERSION {
        return Err(ReplayError::Version {
            found: replay.game_version,
        });
    }
    let mut sim = Simulation::new(SimConfig {
        tick_rate: header.tick_rate.max(1),
        reconnect_grace_ticks: replay.reconnect_grace_ticks,
    });
    let game = sim::create_match(
        &mut sim.world,
        MatchSpec {
            id: header.id,
            game: header.game,
            mode: header.mode,
            options: header.options.clone(),
            seed: header.seed,
            started_at_ms: header.started_at_ms,
        },
    );
    let mut ops = replay.ops().peekable();
    let limit = header.ticks.saturating_add(REPLAY_TICK_SLACK);
    loop {
        let tick = sim
            .world
            .get::<MatchClock>(game)
            .map_or(0, |clock| clock.tick);
        while let Some(next) = ops.peek() {
            match next {
                Err(error) => return Err(error.clone()),
                Ok((at, _)) if *at > tick => break,
                Ok((_, op)) => {
                    apply(&mut sim.world, game, replay, *op)?;
                    ops.next();
                }
            }
        }
        sim.step();
        if visit(&sim.world, game).is_break() {
            return Ok(None);
        }
        if let Some(record) = ended_record(&sim.world, header.id) {
            if ops.peek().is_some() {
                return Err(ReplayError::OpsAfterEnd { tick: record.ticks });
            }
            let final_hash = state_hash(&sim.world, game);
            return Ok(Some(Replayed { record, final_hash }));
        }
        if tick >= limit {
            return Err(ReplayError::NoEnd { ticks: limit });
        }
    }
}

/// Plays `replay` to its end and compares it with what was stored: the tick count, the end
/// reason, every seat's player, score and result, and the final state hash. Returns the
/// differences, one line each (none: the replay reproduces its record).
pub fn verify(
    header: &ReplayHeader,
    reason: EndReason,
    players: &[RecordPlayer],
    replay: &Replay,
) -> Vec<String> {
    let replayed = match play(header, replay, |_, _| ControlFlow::Continue(())) {
        Ok(Some(replayed)) => replayed,
        Ok(None) => return vec!["stopped before the end".into()],
        Err(error) => return vec![error.to_string()],
    };
    let mut differences = Vec::new();
    let record = &replayed.record;
    if record.ticks != header.ticks {
        differences.push(format!(
            "ticks: stored {}, replayed {}",
            header.ticks, record.ticks
        ));
    }
    if record.reason != reason {
        differences.push(format!(
            "reason: stored {}, replayed {}",
            reason.as_str(),
            record.reason.as_str()
        ));
    }
    let seats = |list: &[RecordPlayer]| -> Vec<String> {
        list.iter()
            .map(|p| {
                format!(
                    "{} {} {} {}",
                    p.id,
                    p.seat.as_str(),
                    p.score,
                    p.result.as_str()
                )
            })
            .collect()
    };
    if seats(&record.players) != seats(players) {
        differences.push(format!(
            "seats: stored {:?}, replayed {:?}",
            seats(players),
            seats(&record.players)
        ));
    }
    if replayed.final_hash != replay.final_hash {
        differences.push(format!(
            "state hash: stored {:016x}, replayed {:016x}",
            replay.final_hash, replayed.final_hash
        ));
    }
    differences
}

/// Applies one op of the log to the match, as the tick thread did.
fn apply(world: &mut World, game: Entity, replay: &Replay, op: Op) -> Result<(), ReplayError> {
    let id_of = |index: usize| replay.players[index].id;
    match op {
        Op::Input { seat, frame } => {
            let seat_entity = world
                .get::<Seats>(game)
                .and_then(|seats| seats.entities().get(seat).copied())
                .ok_or_else(|| ReplayError::Corrupt(format!("no seat {seat}")))?;
            let mut changes = false;
            if let Some(mut input) = world.get_mut::<PlayerInput>(seat_entity) {
                changes = sim::changes_input(&input, frame);
                sim::hold_pending(&mut input, frame);
            }
            // Re-recorded as the tick thread recorded it (the log must come out the same).
            if changes {
                note_input(world, game, seat, frame);
            }
        }
        Op::Ack { seat, seq } => {
            let seat_entity = world
                .get::<Seats>(game)
                .and_then(|seats| seats.entities().get(seat).copied())
                .ok_or_else(|| ReplayError::Corrupt(format!("no seat {seat}")))?;
            if let Some(mut input) = world.get_mut::<PlayerInput>(seat_entity) {
                match &mut input.pending {
                    Some(pending) => pending.seq = seq,
                    None => input.applied_seq = seq,
                }
            }
            if let Some(mut log) = world.get_mut::<ReplayLog>(game) {
                log.ack(seat, seq);
            }
        }
        Op::Join(index) => {
            let player = replay.players[index].clone();
            sim::join_match(world, game, player)
                .map_err(|error| ReplayError::Corrupt(format!("join refused: {error}")))?;
        }
        Op::Leave(index) => sim::leave_match(world, game, id_of(index)),
        Op::Drop(index) => sim::player_dropped(world, game, id_of(index)),
        Op::Return(index) => sim::player_returned(world, game, id_of(index)),
        Op::Abort => sim::abort_match(world, game),
        Op::Bot { seat, level } => {
            let seat = world
                .get::<Seats>(game)
                .and_then(|seats| seats.entities().get(seat).copied())
                .and_then(|entity| world.get::<crate::components::SeatSlot>(entity))
                .map(|slot| slot.seat)
                .ok_or_else(|| ReplayError::Corrupt(format!("no seat {seat}")))?;
            sim::attach_bot(world, game, seat, level)
                .map_err(|error| ReplayError::Corrupt(format!("bot refused: {error}")))?;
        }
    }
    Ok(())
}

/// The record of match `id` if it ended in the last step.
fn ended_record(world: &World, id: MatchId) -> Option<MatchRecord> {
    world
        .resource::<MatchEvents>()
        .list
        .iter()
        .find_map(|(_, event_id, _, event)| match event {
            MatchEvent::Ended(record) if *event_id == id => Some(record.clone()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::testkit::{player, simulation, spec};

    /// The record of match `id` if it ended in the last step.
    fn ended(sim: &Simulation, id: MatchId) -> Option<MatchRecord> {
        ended_record(&sim.world, id)
    }

    /// Plays one match of `mode` from `seed` with random inputs, drops, returns, leaves and
    /// bots drawn from the seed, until it ends; returns its record (with the sealed replay).
    fn random_match(mode: Mode, seed: u64) -> MatchRecord {
        let mut sim = simulation(60);
        let mut draw = SplitMix64::new(seed ^ 0x5eed);
        let mut spec = spec(seed, mode, 1 + (seed % 3) as u32, seed);
        if mode == Mode::Versus {
            spec.options.time_limit = Some(8);
        }
        let id = spec.id;
        let world = &mut sim.world;
        let game = sim::create_match(world, spec);
        let seats = mode.player_seats();
        let mut humans = Vec::new();
        for (n, seat) in seats.iter().enumerate() {
            if n > 0 && draw.next_u64().is_multiple_of(4) {
                sim::attach_bot(world, game, *seat, BotLevel::Hard).unwrap();
            } else {
                let who = player(100 + n as u64);
                sim::join_match(world, game, who.clone()).unwrap();
                humans.push(who.id);
            }
        }
        let mut seq = [0u64; 8];
        let mut away = vec![false; humans.len()];
        for _ in 0..60 * 60 * 2 {
            for (n, who) in humans.iter().enumerate() {
                let roll = draw.next_u64() % 1000;
                if roll < 40 {
                    seq[n] += 1 + u64::from(roll < 2);
                    let axis = match roll % 4 {
                        0 => 0.0,
                        1 => 1.0,
                        2 => -1.0,
                        _ => draw.range_f32(-1.0, 1.0),
                    };
                    let frame = InputFrame {
                        seq: seq[n],
                        axis,
                        launch: roll.is_multiple_of(5),
                    };
                    let _ = sim::submit_input(&mut sim.world, game, *who, frame);
                } else if roll == 500 && !away[n] {
                    sim::player_dropped(&mut sim.world, game, *who);
                    away[n] = true;
                } else if (501..520).contains(&roll) && away[n] {
                    sim::player_returned(&mut sim.world, game, *who);
                    away[n] = false;
                } else if roll == 999 && draw.next_u64().is_multiple_of(8) {
                    sim::leave_match(&mut sim.world, game, *who);
                }
            }
            sim.step();
            if let Some(record) = ended(&sim, id) {
                return record;
            }
        }
        sim::abort_match(&mut sim.world, game);
        sim.step();
        ended(&sim, id).expect("aborted")
    }

    fn check(record: &MatchRecord) {
        let replay = record.replay.as_ref().expect("sealed");
        let replayed = play(&ReplayHeader::of(record), replay, |_, _| {
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|error| panic!("{:?} seed {}: {error}", record.mode, record.seed))
        .expect("played to the end");
        let context = format!("{:?} seed {} {:?}", record.mode, record.seed, record.reason);
        assert_eq!(replayed.record.ticks, record.ticks, "{context}");
        assert_eq!(replayed.record.players, record.players, "{context}");
        assert_eq!(replayed.record.reason, record.reason, "{context}");
        assert_eq!(replayed.final_hash, replay.final_hash, "{context}");
        // The replay re-records the very same log.
        let again = replayed.record.replay.expect("re-sealed");
        assert_eq!(again.log, replay.log, "{context}");
    }

    #[test]
    fn two_hundred_random_matches_with_bots_replay_identically() {
        let modes = Mode::ALL;
        let mut reasons = std::collections::HashSet::new();
        for seed in 0..200u64 {
            let mode = modes[(seed % modes.len() as u64) as usize];
            let record = random_match(mode, seed);
            reasons.insert(record.reason);
            check(&record);
        }
        assert!(reasons.len() >= 3, "varied ends: {reasons:?}");
    }

    #[test]
    fn ops_round_trip_through_the_encoding() {
        let mut log = ReplayLog::new();
        let ada = player(1);
        log.lifecycle(0, Lifecycle::Join(&ada));
        log.lifecycle(
            0,
            Lifecycle::Bot {
                seat: 1,
                level: BotLevel::Easy,
            },
        );
        // A seat's seq is the count of its inputs (the log writes none).
        let frames = [
            (2, 0, 1, 1.0, false),
            (2, 1, 1, -1.0, false),
            (9, 0, 2, 0.25, true),
            (300, 0, 3, 0.0, false),
            (300, 0, 4, -0.0, false),
        ];
        for (tick, seat, seq, axis, launch) in frames {
            log.input(tick, seat, InputFrame { seq, axis, launch });
        }
        log.lifecycle(301, Lifecycle::Drop(ada.id));
        log.lifecycle(400, Lifecycle::Return(ada.id));
        log.lifecycle(401, Lifecycle::Leave(ada.id));
        log.lifecycle(401, Lifecycle::Abort);
        log.ack(1, 77);
        log.flush();
        let replay = Replay {
            game_version: GAME_VERSION,
            reconnect_grace_ticks: 600,
            players: log.players.clone(),
            log: log.ops.clone(),
            final_hash: 0,
        };
        let ops: Vec<(u64, Op)> = replay.ops().collect::<Result<_, _>>().unwrap();
        let input = |seq, axis, launch| InputFrame { seq, axis, launch };
        assert_eq!(
            ops,
            [
                (0, Op::Join(0)),
                (
                    0,
                    Op::Bot {
                        seat: 1,
                        level: BotLevel::Easy
                    }
                ),
                (
                    2,
                    Op::Input {
                        seat: 0,
                        frame: input(1, 1.0, false)
                    }
                ),
                (
                    2,
                    Op::Input {
                        seat: 1,
                        frame: input(1, -1.0, false)
                    }
                ),
                (
                    9,
                    Op::Input {
                        seat: 0,
                        frame: input(2, 0.25, true)
                    }
                ),
                (
                    300,
                    Op::Input {
                        seat: 0,
                        frame: input(3, 0.0, false)
                    }
                ),
                (
                    300,
                    Op::Input {
                        seat: 0,
                        frame: input(4, -0.0, false)
                    }
                ),
                (301, Op::Drop(0)),
                (400, Op::Return(0)),
                (401, Op::Leave(0)),
                (401, Op::Abort),
                (401, Op::Ack { seat: 1, seq: 77 }),
            ]
        );
        // -0.0 keeps its sign bit (the state hash hashes bits).
        let Op::Input { frame, .. } = ops[6].1 else {
            panic!()
        };
        assert!(frame.axis.is_sign_negative());
        // A keyboard input is one byte, whatever its seq.
        let mut keys = ReplayLog::new();
        keys.input(1, 0, input(1, 1.0, false));
        keys.input(1, 0, input(9, -1.0, false));
        assert_eq!(keys.len(), 2);
        // A log of the older form (a seq op before an input that skips seqs) still reads.
        let old = Replay {
            log: vec![OP_FLAG | KIND_SEQ << 4, 2, 42, AXIS_PLUS << 3],
            ..replay.clone()
        };
        let ops: Vec<(u64, Op)> = old.ops().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            ops,
            [(
                2,
                Op::Input {
                    seat: 0,
                    frame: input(42, 1.0, false)
                }
            )]
        );
        // Truncation is an error, not a panic.
        let mut cut = replay.clone();
        cut.log.truncate(cut.log.len() - 1);
        assert!(cut.ops().any(|op| op.is_err()));
    }

    /// A keyboard held down sends the same axis again and again: the log keeps the changes
    /// only (and each seat's last seq once, at the end), and still replays to the same hash.
    #[test]
    fn inputs_that_change_nothing_are_not_logged_and_the_replay_still_verifies() {
        let mut sim = simulation(60);
        let game = sim::create_match(&mut sim.world, spec(3, Mode::OneVsOne, 1, 3));
        sim::join_match(&mut sim.world, game, player(1)).unwrap();
        sim::join_match(&mut sim.world, game, player(2)).unwrap();
        let mut record = None;
        for tick in 0..60 * 60 * 5u64 {
            if tick.is_multiple_of(3) {
                // Player 1 holds each key for 2 s; player 2 always sends 0.0 (a repeat of the
                // seat's initial axis): nothing of player 2 is logged but the last seq.
                let axis = [1.0, -1.0, 0.0][(tick / 120 % 3) as usize];
                let seq = tick / 3 + 1;
                for (p, axis) in [(1, axis), (2, 0.0)] {
                    let frame = InputFrame {
                        seq,
                        axis,
                        launch: false,
                    };
                    sim::submit_input(&mut sim.world, game, PlayerId(p), frame).unwrap();
                }
            }
            sim.step();
            record = ended(&sim, MatchId(3));
            if record.is_some() {
                break;
            }
        }
        let record = record.expect("a one-point match ends");
        let replay = record.replay.as_ref().unwrap();
        let ops: Vec<(u64, Op)> = replay.ops().collect::<Result<_, _>>().unwrap();
        let inputs = |seat| {
            ops.iter()
                .filter(|(_, op)| matches!(op, Op::Input { seat: s, .. } if *s == seat))
                .count() as u64
        };
        let changes = record.ticks / 120 + 1;
        assert!(inputs(0) <= changes, "{} inputs of seat 0", inputs(0));
        assert_eq!(inputs(1), 0);
        let acks: Vec<_> = ops
            .iter()
            .filter(|(_, op)| matches!(op, Op::Ack { .. }))
            .collect();
        assert_eq!(acks.len(), 2, "{acks:?}");
        check(&record);
        let header = ReplayHeader::of(&record);
        assert!(verify(&header, record.reason, &record.players, replay).is_empty());
    }

    #[test]
    fn another_game_version_is_refused() {
        let record = random_match(Mode::OneVsOne, 5);
        let mut replay = (**record.replay.as_ref().unwrap()).clone();
        replay.game_version = GAME_VERSION + 1;
        let played = play(&ReplayHeader::of(&record), &replay, |_, _| {
            ControlFlow::Continue(())
        });
        assert_eq!(
            played.unwrap_err(),
            ReplayError::Version {
                found: GAME_VERSION + 1
            }
        );
    }

    /// Bytes per minute of Pong 1v1 with both players sending a keyboard input (−1, 0, +1,
    /// drawn at random) at 20 Hz.
    #[test]
    fn a_minute_of_pong_at_20_hz_takes_under_4_kib() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let game = sim::create_match(world, spec(1, Mode::OneVsOne, 21, 1));
        sim::join_match(world, game, player(1)).unwrap();
        sim::join_match(world, game, player(2)).unwrap();
        let mut draw = SplitMix64::new(9);
        let minute = 60 * 60;
        for tick in 0..minute {
            for n in 0..2u64 {
                // 20 Hz, the second player a tick behind the first.
                if (tick + n) % 3 == 0 {
                    let axis = [0.0, 1.0, -1.0][(draw.next_u64() % 3) as usize];
                    let frame = InputFrame {
                        seq: tick / 3 + 1,
                        axis,
                        launch: false,
                    };
                    sim::submit_input(&mut sim.world, game, PlayerId(n + 1), frame).unwrap();
                }
            }
            sim.step();
        }
        let bytes = sim.world.get::<ReplayLog>(game).unwrap().len();
        println!("pong 1v1, keyboard inputs at 20 Hz: {bytes} bytes per minute");
        assert!(bytes < 4096, "{bytes} bytes");
    }

    /// The input streams the recording is measured with: every player sends a frame at
    /// 20 Hz, `seq` up by one a frame (as the clients do).
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Stream {
        /// A keyboard: a key held, the axis changing (to another of −1, 0, +1) on one frame
        /// in [`KEY_CHANGE_ONE_IN`] (two changes a second): most frames repeat the axis.
        Keyboard,
        /// The axis drawn afresh from −1, 0, +1 every frame (two in three change): the
        /// worst a keyboard can do, the stream the first measurements used.
        Random,
    }

    /// A keyboard stream's axis changes on one frame in this many.
    const KEY_CHANGE_ONE_IN: u64 = 10;

    impl Stream {
        fn from_env() -> Vec<Stream> {
            match std::env::var("RECORDING_COST_STREAM").as_deref() {
                Ok("keyboard") => vec![Stream::Keyboard],
                Ok("random") => vec![Stream::Random],
                _ => vec![Stream::Keyboard, Stream::Random],
            }
        }

        /// The next axis of a player whose last was `axis`.
        fn next(self, draw: &mut SplitMix64, axis: f32) -> f32 {
            const AXES: [f32; 3] = [0.0, 1.0, -1.0];
            match self {
                Stream::Random => AXES[(draw.next_u64() % 3) as usize],
                Stream::Keyboard if draw.next_u64().is_multiple_of(KEY_CHANGE_ONE_IN) => {
                    let at = AXES.iter().position(|a| *a == axis).unwrap_or(0);
                    AXES[(at + 1 + (draw.next_u64() % 2) as usize) % 3]
                }
                Stream::Keyboard => axis,
            }
        }
    }

    /// The timed phases, kept out of line so that `callgrind_annotate --inclusive=yes` gives
    /// each its instructions: the inputs accepted and recorded, as the tick thread does
    /// (`submit_input` runs `take_input` recording)…
    #[inline(never)]
    fn submit_recorded(world: &mut World, inputs: &[(Entity, PlayerId, InputFrame)]) {
        for &(game, player, frame) in inputs {
            let _ = sim::take_input(world, game, player, frame, true);
        }
    }

    /// …the same inputs through the very same machine code without the recording (no check,
    /// no log): two functions compiled apart differ by tens of instructions an input in
    /// what the compiler inlines, which would be counted as the recording's…
    #[inline(never)]
    fn submit_unrecorded(world: &mut World, inputs: &[(Entity, PlayerId, InputFrame)]) {
        for &(game, player, frame) in inputs {
            let _ = sim::take_input(world, game, player, frame, false);
        }
    }

    /// …and the step.
    #[inline(never)]
    fn step_matches(sim: &mut Simulation) {
        sim.step();
    }

    /// `CARGO_TARGET_DIR=target-bench cargo test --release -p arcade-systems --lib --
    /// --ignored --nocapture recording_cost` (BENCHMARKS.md "Replays"): 10,000 Pong 1v1
    /// matches in one World, both players sending at 20 Hz ([`Stream`]); on even ticks every
    /// input goes through `submit_input` (accepted and recorded, as on the tick thread), on odd
    /// ticks through `accept_input` alone (no recording), same World, same stream, between the
    /// same steps: the recording is the difference per input times the inputs per match-tick,
    /// against the step (issue 16: under 5 %). Under `valgrind --tool=callgrind` the same
    /// ratio in instructions comes from the inclusive counts of `submit_recorded`,
    /// `submit_unrecorded` and `step_matches` and the counts printed here.
    /// Then the bytes per minute of each mode, and every frame of a match rendered as JSON,
    /// as `replay/frames` does.
    #[test]
    #[ignore = "timing; run in release"]
    fn recording_cost_and_frame_rendering() {
        let matches = 10_000u64;
        let ticks: u64 = std::env::var("RECORDING_COST_TICKS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(600);
        let mut draw = SplitMix64::new(1);
        for stream in Stream::from_env() {
            let mut sim = simulation(60);
            let games: Vec<Entity> = (0..matches)
                .map(|n| crate::testkit::seated_pong(&mut sim.world, n, 21))
                .collect();
            for _ in 0..200 {
                sim.step();
            }
            let mut axes = vec![[0f32; 2]; games.len()];
            let mut seqs = vec![[0u64; 2]; games.len()];
            let mut submit = [std::time::Duration::ZERO; 2];
            let mut submitted = [0u64; 2];
            let mut changed = 0u64;
            let mut stepping = std::time::Duration::ZERO;
            let mut inputs = Vec::new();
            for tick in 0..ticks {
                inputs.clear();
                for (n, game) in games.iter().enumerate() {
                    for p in 0..2 {
                        if (tick + p as u64 + n as u64).is_multiple_of(3) {
                            let axis = stream.next(&mut draw, axes[n][p]);
                            changed += u64::from(axis != axes[n][p]);
                            axes[n][p] = axis;
                            seqs[n][p] += 1;
                            let frame = InputFrame {
                                seq: seqs[n][p],
                                axis,
                                launch: false,
                            };
                            inputs.push((*game, PlayerId(p as u64 + 1), frame));
                        }
                    }
                }
                let recorded = tick.is_multiple_of(2);
                let started = std::time::Instant::now();
                if recorded {
                    submit_recorded(&mut sim.world, &inputs);
                } else {
                    submit_unrecorded(&mut sim.world, &inputs);
                }
                submit[usize::from(recorded)] += started.elapsed();
                submitted[usize::from(recorded)] += inputs.len() as u64;
                let started = std::time::Instant::now();
                step_matches(&mut sim);
                stepping += started.elapsed();
            }
            let per_input = |k: usize| submit[k].as_nanos() as f64 / submitted[k] as f64;
            let all = submitted[0] + submitted[1];
            let inputs_per_match_tick = all as f64 / (ticks * matches) as f64;
            let record = (per_input(1) - per_input(0)) * inputs_per_match_tick;
            let step = stepping.as_nanos() as f64 / (ticks * matches) as f64;
            println!(
                "{stream:?}: {} inputs recorded-path, {} unrecorded-path, {} match-ticks, {:.3} inputs per match-tick, {:.3} of the inputs change the axis",
                submitted[1],
                submitted[0],
                ticks * matches,
                inputs_per_match_tick,
                changed as f64 / all as f64
            );
            println!(
                "{stream:?}: submit_input {:.1} ns per input, without the recording {:.1} ns; recording {record:.2} ns per match-tick; step {step:.1} ns per match-tick; recording is {:.2} % of the step",
                per_input(1),
                per_input(0),
                100.0 * record / step
            );
        }

        // Bytes per minute of each mode, every player sending at 20 Hz.
        for (mode, stream) in Mode::ALL
            .into_iter()
            .flat_map(|mode| [(mode, Stream::Keyboard), (mode, Stream::Random)])
        {
            let mut axes = [0f32; 5];
            let mut sim = simulation(60);
            let game = sim::create_match(&mut sim.world, spec(1, mode, 21, 1));
            let players = mode.player_seats().len() as u64;
            for n in 1..=players {
                sim::join_match(&mut sim.world, game, player(n)).unwrap();
            }
            for tick in 0..60 * 60u64 {
                for n in 1..=players {
                    if (tick + n).is_multiple_of(3) {
                        let axis = stream.next(&mut draw, axes[n as usize]);
                        axes[n as usize] = axis;
                        let launch = draw.next_u64().is_multiple_of(20);
                        let frame = InputFrame {
                            seq: tick / 3 + 1,
                            axis,
                            launch,
                        };
                        let _ = sim::submit_input(&mut sim.world, game, PlayerId(n), frame);
                    }
                }
                sim.step();
                if let Some(record) = ended(&sim, MatchId(1)) {
                    let bytes = record.replay.map_or(0, |replay| replay.log.len());
                    let per_minute = bytes as f64 * 3600.0 / record.ticks as f64;
                    println!(
                        "{mode:?} {stream:?}: {per_minute:.0} bytes per minute (ended at tick {tick})"
                    );
                    break;
                }
            }
            // An ended match's log has moved into its record (printed above).
            if let Some(log) = sim.world.get::<ReplayLog>(game).filter(|log| log.len() > 0) {
                println!(
                    "{mode:?} {stream:?}: {} bytes per minute (inputs at 20 Hz per player)",
                    log.len()
                );
            }
        }

        // A 3-minute Pong 1v1 (aborted at the end), every frame rendered as JSON.
        let mut sim = simulation(60);
        let game = sim::create_match(&mut sim.world, spec(7, Mode::OneVsOne, 21, 7));
        sim::join_match(&mut sim.world, game, player(1)).unwrap();
        sim::join_match(&mut sim.world, game, player(2)).unwrap();
        for tick in 0..3 * 60 * 60u64 {
            if tick.is_multiple_of(3) {
                for p in 1..=2 {
                    let axis = [0.0, 1.0, -1.0][(draw.next_u64() % 3) as usize];
                    let frame = InputFrame {
                        seq: tick / 3 + 1,
                        axis,
                        launch: false,
                    };
                    let _ = sim::submit_input(&mut sim.world, game, PlayerId(p), frame);
                }
            }
            sim.step();
            if ended(&sim, MatchId(7)).is_some() {
                break;
            }
        }
        let mut record = ended(&sim, MatchId(7));
        if record.is_none() {
            sim::abort_match(&mut sim.world, game);
            sim.step();
            record = ended(&sim, MatchId(7));
        }
        let record = record.expect("ended");
        let replay = record.replay.clone().unwrap();
        let started = std::time::Instant::now();
        let mut body = Vec::new();
        let mut frames = 0;
        play(&ReplayHeader::of(&record), &replay, |world, game| {
            frames += 1;
            crate::view::serialize_state(world, game, &mut serde_json::Serializer::new(&mut body))
                .unwrap();
            ControlFlow::Continue(())
        })
        .unwrap()
        .unwrap();
        println!(
            "{} ticks ({} bytes of log): {frames} frames rendered in {:.1} ms, {} KiB of JSON",
            record.ticks,
            replay.log.len(),
            started.elapsed().as_secs_f64() * 1000.0,
            body.len() / 1024
        );
    }
}
