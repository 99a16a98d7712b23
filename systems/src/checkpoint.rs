//! Checkpoints of live matches (issue 18 item 6), on the tick thread between steps: everything
//! that continues one match deterministically on another World, as plain serde values.
//!
//! [`capture`] reads a live match out of the World; [`restore`] puts it into another one (the
//! next start of the server, or a survivor of its owner), seats every player who was here as
//! dropped at the restore tick ([`sim::player_dropped`], so the replay log says so and the
//! reconnect grace starts there): the match is `paused`, and a player who comes back gets
//! `player_back` and a fresh countdown exactly as after a drop. The replay log travels with
//! the match, so the finished match's replay still verifies from its seed.
//!
//! A checkpoint is two parts: [`MatchState`] (what the rules read: ~100 bytes for Pong) and
//! [`ReplayState`] (the log so far, which grows with the inputs). No IO: encoding is the
//! caller's (`net` uses MessagePack).

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::{
    BRICK_ROWS, Ball, Bot, BrickWall, FieldBall, FieldPaddle, FieldProgress, FieldRng, MAX_SEATS,
    MatchClock, MatchEnding, MatchInfo, MatchPhase, MatchRng, Paddle, PlayerInput, PongCourt,
    Presence, SeatKind, SeatSlot, Seats, Serve, Side, TeamScore, TimeLimit,
};
use crate::model::{BotLevel, Game, MatchId, MatchOptions, Mode, Phase, PlayerId, PlayerRef, Seat};
use crate::replay::{GAME_VERSION, ReplayLog};
use crate::rng::SplitMix64;
use crate::sim::{self, MatchSpec};
use crate::tick::{InputFrame, SimConfig};

/// The layout of [`MatchCheckpoint`]: bump it when a field changes meaning, so that a server
/// refuses a checkpoint written by another layout instead of restoring it wrong.
pub const CHECKPOINT_VERSION: u32 = 1;

/// One live match, whole: what [`restore`] needs to go on with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchCheckpoint {
    /// [`CHECKPOINT_VERSION`] when it was taken.
    pub version: u32,
    /// [`GAME_VERSION`] of the rules that ran it (the rules of the restoring server must be
    /// the same, or the match and its replay would go on differently).
    pub game_version: u32,
    /// The tick rate of the server that ran it (a speed per tick depends on it).
    pub tick_rate: u32,
    /// The match's wire id.
    #[serde(with = "raw_match_id")]
    pub id: MatchId,
    /// Which rules run on it.
    pub game: Game,
    /// Its seats.
    pub mode: Mode,
    /// The resolved options (a mirror of [`MatchOptions`], whose serde form skips fields).
    pub options: OptionsState,
    /// The seed of the match PRNG (the replay starts from it).
    pub seed: u64,
    /// Unix milliseconds at creation.
    pub started_at_ms: i64,
    /// What the rules read.
    pub state: MatchState,
    /// The replay log so far.
    pub replay: ReplayState,
}

/// [`MatchOptions`] with every field written (a positional encoding needs them all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptionsState {
    /// Pong: the points that win.
    pub score_limit: Option<u32>,
    /// Breakout versus: seconds of play.
    pub time_limit: Option<u32>,
    /// Pong vs_bot: the bot's strength.
    pub bot: Option<BotLevel>,
    /// Joined by its join code only, not listed.
    pub private: bool,
}

/// The match entity's components and its members'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchState {
    /// [`MatchClock::tick`].
    pub tick: u64,
    /// [`MatchPhase::phase`] (never `finished`: a finished match is not captured).
    pub phase: Phase,
    /// [`MatchPhase::countdown_left`].
    pub countdown_left: u32,
    /// [`MatchPhase::resuming`].
    pub resuming: bool,
    /// The state of [`MatchRng`].
    pub rng: u64,
    /// [`Seats::absent`].
    pub absent: u8,
    /// Pong: [`TeamScore`].
    pub score: Option<[u32; 2]>,
    /// Pong: the ball and its serve.
    pub ball: Option<BallState>,
    /// Breakout versus: [`TimeLimit::ticks_left`].
    pub time_left: Option<u64>,
    /// Every seat in seat order.
    pub seats: Vec<SeatState>,
}

/// Pong: [`Ball`] and [`Serve`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BallState {
    /// `[x, y, vx, vy]`.
    pub motion: [f32; 4],
    /// [`Serve::pending`].
    pub serve_pending: bool,
    /// [`Serve::wait`].
    pub serve_wait: u32,
    /// [`Serve::toward`]: `true` for the right side.
    pub toward_right: bool,
}

/// A seat entity's components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeatState {
    /// Its wire name (checked against the mode's layout at restore).
    pub seat: Seat,
    /// The person sitting here.
    pub occupant: Option<OccupantState>,
    /// [`PlayerInput`].
    pub input: InputState,
    /// Pong: the paddle's centre `[x, y]`.
    pub paddle: Option<[f32; 2]>,
    /// Breakout: the whole field.
    pub field: Option<FieldState>,
    /// A server bot plays it.
    pub bot: Option<BotState>,
}

/// An [`crate::components::Occupant`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OccupantState {
    /// The player's id.
    #[serde(with = "raw_player_id")]
    pub id: PlayerId,
    /// The display name.
    pub name: String,
    /// [`Presence`] as `present`, `dropped at tick`, `gone`.
    pub presence: PresenceState,
}

/// [`Presence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PresenceState {
    Present,
    Dropped(u64),
    Gone,
}

/// [`PlayerInput`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputState {
    /// The held axis.
    pub axis: f32,
    /// A launch waiting to be applied.
    pub launch: bool,
    /// The seq of the last input applied.
    pub applied_seq: u64,
    /// The pending input `(seq, axis, launch)`.
    pub pending: Option<(u64, f32, bool)>,
}

/// Breakout: a field's components.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldState {
    /// [`FieldPaddle::x`].
    pub paddle_x: f32,
    /// [`FieldBall`] `[x, y, vx, vy]`.
    pub ball: [f32; 4],
    /// [`FieldBall::resting`].
    pub resting: bool,
    /// [`FieldBall::rest_left`].
    pub rest_left: u32,
    /// [`BrickWall::rows`].
    pub bricks: [u16; BRICK_ROWS],
    /// [`FieldProgress`] `[score, lives, level]`.
    pub progress: [u32; 3],
    /// The state of [`FieldRng`].
    pub rng: u64,
}

/// [`Bot`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotState {
    /// Its strength.
    pub level: BotLevel,
    /// Ticks until its next look.
    pub wait: u32,
    /// Where it steers (NaN before its first look).
    pub target: f32,
}

/// [`ReplayLog`]: the ops so far and the decoder's position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayState {
    /// The encoded ops.
    #[serde(with = "byte_string")]
    pub ops: Vec<u8>,
    /// Everyone who sat down, in order of first join.
    pub players: Vec<(u64, String)>,
    /// The tick of the last op.
    pub tick: u64,
    /// Per seat, the seq the decoder expects next.
    pub next_seq: [u64; MAX_SEATS],
}

/// Why a checkpoint cannot be restored here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Written by another [`CHECKPOINT_VERSION`] or [`GAME_VERSION`].
    Version { checkpoint: u32, game: u32 },
    /// Taken at another tick rate than this World's.
    TickRate { found: u32, here: u32 },
    /// A match with this id is already in the World.
    Exists(MatchId),
    /// The seats do not fit the mode, or the game and mode do not go together.
    Malformed(String),
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::Version { checkpoint, game } => write!(
                f,
                "checkpoint version {checkpoint} / game version {game}, this server has \
                 {CHECKPOINT_VERSION} / {GAME_VERSION}"
            ),
            RestoreError::TickRate { found, here } => {
                write!(f, "taken at {found} Hz, this server ticks at {here} Hz")
            }
            RestoreError::Exists(id) => write!(f, "match {id} is already here"),
            RestoreError::Malformed(what) => write!(f, "malformed checkpoint: {what}"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// The checkpoint of a live match: `None` when `game` is not a match, or it has finished (or
/// its end is decided and not yet announced). Call between steps.
pub fn capture(world: &World, game: Entity) -> Option<MatchCheckpoint> {
    let info = world.get::<MatchInfo>(game)?;
    let phase = *world.get::<MatchPhase>(game)?;
    if phase.phase == Phase::Finished || *world.get::<MatchEnding>(game)? != MatchEnding::Live {
        return None;
    }
    let seats = world.get::<Seats>(game)?;
    let log = world.get::<ReplayLog>(game)?;
    let ball = world.get::<PongCourt>(game).and_then(|_| {
        let ball = world.get::<Ball>(game)?;
        let serve = world.get::<Serve>(game)?;
        Some(BallState {
            motion: [ball.x, ball.y, ball.vx, ball.vy],
            serve_pending: serve.pending,
            serve_wait: serve.wait,
            toward_right: serve.toward == Side::Right,
        })
    });
    let seat_states = seats
        .entities()
        .iter()
        .map(|&seat| capture_seat(world, seat))
        .collect::<Option<Vec<_>>>()?;
    let options = &info.options;
    Some(MatchCheckpoint {
        version: CHECKPOINT_VERSION,
        game_version: GAME_VERSION,
        tick_rate: world.resource::<SimConfig>().tick_rate,
        id: info.id,
        game: info.game,
        mode: info.mode,
        options: OptionsState {
            score_limit: options.score_limit,
            time_limit: options.time_limit,
            bot: options.bot,
            private: options.private,
        },
        seed: info.seed,
        started_at_ms: info.started_at_ms,
        state: MatchState {
            tick: world.get::<MatchClock>(game)?.tick,
            phase: phase.phase,
            countdown_left: phase.countdown_left,
            resuming: phase.resuming,
            rng: world.get::<MatchRng>(game)?.0.state(),
            absent: seats.absent,
            score: world.get::<TeamScore>(game).map(|score| score.0),
            ball,
            time_left: world.get::<TimeLimit>(game).map(|limit| limit.ticks_left),
            seats: seat_states,
        },
        replay: ReplayState {
            // The ops so far: those in the log's heap buffer, then its tail's.
            ops: log.logged_ops(),
            players: log
                .players
                .iter()
                .map(|p| (p.id.0, p.name.clone()))
                .collect(),
            tick: log.tick,
            next_seq: log.next_seq,
        },
    })
}

fn capture_seat(world: &World, seat: Entity) -> Option<SeatState> {
    let slot = world.get::<SeatSlot>(seat)?;
    let input = world.get::<PlayerInput>(seat)?;
    let field = match (
        world.get::<FieldPaddle>(seat),
        world.get::<FieldBall>(seat),
        world.get::<BrickWall>(seat),
        world.get::<FieldProgress>(seat),
        world.get::<FieldRng>(seat),
    ) {
        (Some(paddle), Some(ball), Some(wall), Some(progress), Some(rng)) => Some(FieldState {
            paddle_x: paddle.x,
            ball: [ball.x, ball.y, ball.vx, ball.vy],
            resting: ball.resting,
            rest_left: ball.rest_left,
            bricks: wall.rows,
            progress: [progress.score, progress.lives, progress.level],
            rng: rng.0.state(),
        }),
        _ => None,
    };
    Some(SeatState {
        seat: slot.seat,
        occupant: slot.occupant.as_ref().map(|o| OccupantState {
            id: o.player.id,
            name: o.player.name.clone(),
            presence: match o.presence {
                Presence::Present => PresenceState::Present,
                Presence::Dropped { at_tick } => PresenceState::Dropped(at_tick),
                Presence::Gone => PresenceState::Gone,
            },
        }),
        input: InputState {
            axis: input.axis,
            launch: input.launch,
            applied_seq: input.applied_seq,
            pending: input.pending.map(|p| (p.seq, p.axis, p.launch)),
        },
        paddle: world.get::<Paddle>(seat).map(|p| [p.x, p.y]),
        field,
        bot: world.get::<Bot>(seat).map(|bot| BotState {
            level: bot.level,
            wait: bot.wait,
            target: bot.target,
        }),
    })
}

/// Puts a captured match into `world` (between steps) and returns its entity: every player
/// who was here is dropped now (the match pauses; the reconnect grace starts at this tick),
/// players already away keep the tick they dropped at. The caller rebuilds what it keeps per
/// match (the network layer's audience and indexes).
pub fn restore(world: &mut World, checkpoint: &MatchCheckpoint) -> Result<Entity, RestoreError> {
    check(world, checkpoint)?;
    let cp = checkpoint;
    let options = MatchOptions {
        score_limit: cp.options.score_limit,
        time_limit: cp.options.time_limit,
        bot: cp.options.bot,
        private: cp.options.private,
    };
    let game = sim::create_match(
        world,
        MatchSpec {
            id: cp.id,
            game: cp.game,
            mode: cp.mode,
            options,
            seed: cp.seed,
            started_at_ms: cp.started_at_ms,
        },
    );
    let state = &cp.state;
    let seats = {
        let mut entity = world.entity_mut(game);
        entity.insert((
            MatchClock { tick: state.tick },
            MatchPhase {
                phase: state.phase,
                countdown_left: state.countdown_left,
                resuming: state.resuming,
            },
            MatchRng(SplitMix64::from_state(state.rng)),
            ReplayLog {
                ops: cp.replay.ops.clone(),
                players: cp
                    .replay
                    .players
                    .iter()
                    .map(|(id, name)| PlayerRef {
                        id: PlayerId(*id),
                        name: name.clone(),
                    })
                    .collect(),
                tick: cp.replay.tick,
                next_seq: cp.replay.next_seq,
                ..Default::default()
            },
        ));
        if let Some(score) = state.score {
            entity.insert(TeamScore(score));
        }
        if let Some(ticks_left) = state.time_left {
            entity.insert(TimeLimit { ticks_left });
        }
        let mut seats = *entity.get::<Seats>().expect("create_match gives seats");
        seats.absent = state.absent;
        entity.insert(seats);
        seats
    };
    if let Some(ball) = state
        .ball
        .filter(|_| world.get::<PongCourt>(game).is_some())
    {
        let [x, y, vx, vy] = ball.motion;
        world.entity_mut(game).insert((
            Ball { x, y, vx, vy },
            Serve {
                pending: ball.serve_pending,
                wait: ball.serve_wait,
                toward: if ball.toward_right {
                    Side::Right
                } else {
                    Side::Left
                },
            },
        ));
    }
    for (&entity, seat) in seats.entities().iter().zip(&state.seats) {
        restore_seat(world, entity, seat);
    }
    // Everyone who was here is away now: seated back by the usual return.
    let present: Vec<PlayerId> = state
        .seats
        .iter()
        .filter_map(|seat| seat.occupant.as_ref())
        .filter(|o| o.presence == PresenceState::Present)
        .map(|o| o.id)
        .collect();
    for player in present {
        sim::player_dropped(world, game, player);
    }
    Ok(game)
}

/// Takes a match out of the World without an end (no event, no record): its checkpoint was
/// handed to whoever goes on with it. Its seats go with it.
pub fn release(world: &mut World, game: Entity) {
    if let Some(id) = world.get::<MatchInfo>(game).map(|info| info.id) {
        world
            .resource_mut::<crate::components::MatchIndex>()
            .remove(id);
        world.despawn(game);
    }
}

fn check(world: &World, cp: &MatchCheckpoint) -> Result<(), RestoreError> {
    if cp.version != CHECKPOINT_VERSION || cp.game_version != GAME_VERSION {
        return Err(RestoreError::Version {
            checkpoint: cp.version,
            game: cp.game_version,
        });
    }
    let here = world.resource::<SimConfig>().tick_rate;
    if cp.tick_rate != here {
        return Err(RestoreError::TickRate {
            found: cp.tick_rate,
            here,
        });
    }
    if sim::find_match(world, cp.id).is_some() {
        return Err(RestoreError::Exists(cp.id));
    }
    if !cp.mode.fits(cp.game) {
        return Err(RestoreError::Malformed(format!(
            "{} is not a mode of {}",
            cp.mode.as_str(),
            cp.game.as_str()
        )));
    }
    if cp.state.phase == Phase::Finished {
        return Err(RestoreError::Malformed("a finished match".into()));
    }
    let layout = sim::seat_layout(cp.mode);
    let seats_fit = layout.len() == cp.state.seats.len()
        && layout
            .iter()
            .zip(&cp.state.seats)
            .all(|((seat, kind), state)| {
                *seat == state.seat && (*kind == SeatKind::Player || state.bot.is_some())
            });
    let fields_fit = cp.state.seats.iter().all(|seat| match cp.game {
        Game::Pong => seat.paddle.is_some(),
        Game::Breakout => seat.field.is_some(),
    });
    let parts_fit =
        (cp.game == Game::Pong) == (cp.state.ball.is_some() && cp.state.score.is_some());
    if !(seats_fit && fields_fit && parts_fit) {
        return Err(RestoreError::Malformed(format!(
            "the seats do not fit {} {}",
            cp.game.as_str(),
            cp.mode.as_str()
        )));
    }
    Ok(())
}

fn restore_seat(world: &mut World, entity: Entity, seat: &SeatState) {
    let mut target = world.entity_mut(entity);
    if let Some(mut slot) = target.get_mut::<SeatSlot>() {
        slot.kind = if seat.bot.is_some() {
            SeatKind::Bot
        } else {
            SeatKind::Player
        };
        slot.occupant = seat.occupant.as_ref().map(|o| crate::components::Occupant {
            player: PlayerRef {
                id: o.id,
                name: o.name.clone(),
            },
            presence: match o.presence {
                PresenceState::Present => Presence::Present,
                PresenceState::Dropped(at_tick) => Presence::Dropped { at_tick },
                PresenceState::Gone => Presence::Gone,
            },
        });
    }
    let input = seat.input;
    target.insert(PlayerInput {
        axis: input.axis,
        launch: input.launch,
        applied_seq: input.applied_seq,
        pending: input
            .pending
            .map(|(seq, axis, launch)| InputFrame { seq, axis, launch }),
    });
    if let Some([x, y]) = seat.paddle {
        target.insert(Paddle { x, y });
    }
    if let Some(field) = seat.field {
        let [x, y, vx, vy] = field.ball;
        let [score, lives, level] = field.progress;
        target.insert((
            FieldPaddle { x: field.paddle_x },
            FieldBall {
                x,
                y,
                vx,
                vy,
                resting: field.resting,
                rest_left: field.rest_left,
            },
            BrickWall { rows: field.bricks },
            FieldProgress {
                score,
                lives,
                level,
            },
            FieldRng(SplitMix64::from_state(field.rng)),
        ));
    }
    match seat.bot {
        Some(bot) => {
            target.insert(Bot {
                level: bot.level,
                wait: bot.wait,
                target: bot.target,
            });
        }
        None => {
            target.remove::<Bot>();
        }
    }
}

/// Ids as their raw `u64` (8 bytes at most, not the 18 of the wire string).
mod raw_match_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::MatchId;

    pub fn serialize<S: Serializer>(id: &MatchId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(id.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<MatchId, D::Error> {
        u64::deserialize(deserializer).map(MatchId)
    }
}

/// [`raw_match_id`] for players.
mod raw_player_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::PlayerId;

    pub fn serialize<S: Serializer>(id: &PlayerId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(id.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PlayerId, D::Error> {
        u64::deserialize(deserializer).map(PlayerId)
    }
}

/// A byte vector as one byte string (MessagePack `bin`), not a list of numbers.
mod byte_string {
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }

            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                Ok(bytes.to_vec())
            }

            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(bytes)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(byte) = seq.next_element()? {
                    bytes.push(byte);
                }
                Ok(bytes)
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndReason, MatchRecord};
    use crate::replay::{self, ReplayHeader};
    use crate::testkit::{player, simulation, spec};
    use crate::tick::{MatchEvent, MatchEvents};
    use crate::view::state_hash;

    /// The longest a test match may last (3 minutes at 60 Hz).
    const MAX_TICKS: u64 = 60 * 60 * 3;

    /// A match of `mode` from `seed`, its players (1, 2, …) seated.
    fn start(sim: &mut sim::Simulation, mode: Mode, seed: u64) -> Entity {
        let mut spec = spec(seed, mode, 5, seed);
        if mode == Mode::Versus {
            spec.options.time_limit = Some(8);
        }
        let game = sim::create_match(&mut sim.world, spec);
        for n in 1..=mode.player_seats().len() as u64 {
            sim::join_match(&mut sim.world, game, player(n)).unwrap();
        }
        game
    }

    /// The inputs every player sends at a tick, drawn from one log so that two simulations
    /// get the same; `away` players send nothing.
    struct Driver {
        draw: SplitMix64,
        seq: Vec<u64>,
        away: Vec<bool>,
    }

    impl Driver {
        fn new(players: usize, seed: u64) -> Driver {
            Driver {
                draw: SplitMix64::new(seed ^ 0xc0ffee),
                seq: vec![0; players],
                away: vec![false; players],
            }
        }

        /// This tick's inputs: `(player, frame)`.
        fn inputs(&mut self) -> Vec<(PlayerId, InputFrame)> {
            let mut out = Vec::new();
            for n in 0..self.seq.len() {
                let roll = self.draw.next_u64() % 100;
                if self.away[n] || roll >= 20 {
                    continue;
                }
                self.seq[n] += 1;
                let axis = match roll % 4 {
                    0 => 0.0,
                    1 => 1.0,
                    2 => -1.0,
                    _ => self.draw.range_f32(-1.0, 1.0),
                };
                let frame = InputFrame {
                    seq: self.seq[n],
                    axis,
                    launch: roll.is_multiple_of(3),
                };
                out.push((PlayerId(n as u64 + 1), frame));
            }
            out
        }
    }

    fn ended(sim: &sim::Simulation, game: Entity) -> Option<MatchRecord> {
        sim.world.resource::<MatchEvents>().list.iter().find_map(
            |(entity, _, _, event)| match event {
                MatchEvent::Ended(record) if *entity == game => Some(record.clone()),
                _ => None,
            },
        )
    }

    /// Plays `mode` from `seed` to tick `at`, captures it (through MessagePack), restores it
    /// into a fresh simulation, drops the same players in the original, then feeds both the
    /// same inputs and returns (each player `return_after` ticks after the restore, one tick
    /// apart; `None`: nobody returns) and checks that every state hash and the final record
    /// agree and that the replay verifies. Returns the record.
    fn continue_both(mode: Mode, seed: u64, at: u64, return_after: Option<u64>) -> MatchRecord {
        let players = mode.player_seats().len();
        let mut original = simulation(60);
        let game = start(&mut original, mode, seed);
        let mut driver = Driver::new(players, seed);
        for _ in 0..at {
            for (who, frame) in driver.inputs() {
                sim::submit_input(&mut original.world, game, who, frame).unwrap();
            }
            original.step();
            assert!(
                ended(&original, game).is_none(),
                "{mode:?} ended before {at}"
            );
        }
        let checkpoint = capture(&original.world, game).expect("live");
        let bytes = rmp_serde::to_vec(&checkpoint).unwrap();
        let checkpoint: MatchCheckpoint = rmp_serde::from_slice(&bytes).unwrap();
        let mut restored = simulation(60);
        let copy = restore(&mut restored.world, &checkpoint).unwrap();
        // The original's players drop at the same tick, in seat order, as the restore does.
        for n in 1..=players as u64 {
            sim::player_dropped(&mut original.world, game, PlayerId(n));
        }
        assert_eq!(
            state_hash(&original.world, game),
            state_hash(&restored.world, copy),
            "{mode:?} at {at}"
        );
        let phase = restored.world.get::<MatchPhase>(copy).unwrap().phase;
        let expected = if checkpoint.state.phase == Phase::Waiting {
            Phase::Waiting
        } else {
            Phase::Paused
        };
        assert_eq!(phase, expected, "{mode:?} at {at}");
        driver.away.iter_mut().for_each(|away| *away = true);
        for tick in 1..MAX_TICKS {
            if let Some(after) = return_after {
                for n in 0..players {
                    if tick == after + n as u64 {
                        let who = PlayerId(n as u64 + 1);
                        sim::player_returned(&mut original.world, game, who);
                        sim::player_returned(&mut restored.world, copy, who);
                        driver.away[n] = false;
                    }
                }
            }
            for (who, frame) in driver.inputs() {
                sim::submit_input(&mut original.world, game, who, frame).unwrap();
                sim::submit_input(&mut restored.world, copy, who, frame).unwrap();
            }
            original.step();
            restored.step();
            let (first, second) = (ended(&original, game), ended(&restored, copy));
            assert_eq!(first, second, "{mode:?} at {at}, tick {tick} after");
            if let Some(record) = first {
                let replay = record.replay.as_ref().expect("sealed");
                let differences = replay::verify(
                    &ReplayHeader::of(&record),
                    record.reason,
                    &record.players,
                    replay,
                );
                assert!(differences.is_empty(), "{mode:?}: {differences:?}");
                return record;
            }
            assert_eq!(
                state_hash(&original.world, game),
                state_hash(&restored.world, copy),
                "{mode:?} at {at}, tick {tick} after"
            );
        }
        panic!("{mode:?} from {seed} did not end");
    }

    #[test]
    fn every_mode_restored_at_any_tick_goes_on_as_the_original() {
        for (n, mode) in Mode::ALL.into_iter().enumerate() {
            for at in [0, 1, 150, 400] {
                let seed = 10 + n as u64;
                continue_both(mode, seed, at, Some(30));
            }
        }
    }

    #[test]
    fn a_restored_match_nobody_returns_to_ends_by_the_grace_rules() {
        for (n, mode) in Mode::ALL.into_iter().enumerate() {
            let record = continue_both(mode, 20 + n as u64, 200, None);
            // Every player away: no one is left to win, so the grace ends it aborted.
            assert_eq!(record.reason, EndReason::Aborted, "{mode:?} {record:?}");
            // The grace (2 s) ran from the restore tick.
            assert_eq!(record.ticks, 200 + 120, "{mode:?}");
        }
    }

    #[test]
    fn a_checkpoint_of_the_wrong_world_is_refused() {
        let mut sim = simulation(60);
        let game = start(&mut sim, Mode::OneVsOne, 1);
        let checkpoint = capture(&sim.world, game).unwrap();
        assert_eq!(
            restore(&mut sim.world, &checkpoint),
            Err(RestoreError::Exists(checkpoint.id))
        );
        let mut other = simulation(30);
        assert!(matches!(
            restore(&mut other.world, &checkpoint),
            Err(RestoreError::TickRate {
                found: 60,
                here: 30
            })
        ));
        let mut wrong = checkpoint.clone();
        wrong.mode = Mode::Solo;
        assert!(matches!(
            restore(&mut simulation(60).world, &wrong),
            Err(RestoreError::Malformed(_))
        ));
        let mut old = checkpoint;
        old.game_version += 1;
        assert!(matches!(
            restore(&mut simulation(60).world, &old),
            Err(RestoreError::Version { .. })
        ));
        // A finished match is not captured.
        sim::abort_match(&mut sim.world, game);
        assert_eq!(capture(&sim.world, game), None);
    }

    /// The size of a Pong 1v1 checkpoint after a minute of keyboard play, printed:
    /// `cargo test -p arcade-systems --lib checkpoint_size -- --nocapture`.
    #[test]
    fn checkpoint_size() {
        let mut sim = simulation(60);
        let game = sim::create_match(&mut sim.world, spec(5, Mode::OneVsOne, 21, 5));
        for n in 1..=2 {
            sim::join_match(&mut sim.world, game, player(n)).unwrap();
        }
        // A keyboard player changes direction about 3 times a second.
        let mut draw = SplitMix64::new(9);
        let mut seq = [0u64; 2];
        for tick in 0..60 * 60u64 {
            if tick % 20 == 0 {
                for (n, seq) in seq.iter_mut().enumerate() {
                    *seq += 1;
                    let axis = [0.0, 1.0, -1.0][(draw.next_u64() % 3) as usize];
                    let frame = InputFrame {
                        seq: *seq,
                        axis,
                        launch: false,
                    };
                    sim::submit_input(&mut sim.world, game, PlayerId(n as u64 + 1), frame).unwrap();
                }
            }
            sim.step();
        }
        let checkpoint = capture(&sim.world, game).expect("still live");
        let whole = rmp_serde::to_vec(&checkpoint).unwrap().len();
        let state = rmp_serde::to_vec(&checkpoint.state).unwrap().len();
        let log = checkpoint.replay.ops.len();
        println!("pong 1v1 after 60 s: checkpoint {whole} B, state {state} B, replay log {log} B");
        assert!(state < 200, "state {state} B");
    }
}
