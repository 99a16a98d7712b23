//! What a tick takes in and gives out, shared by the simulation and every rule: the settings
//! ([`SimConfig`]), a player's input frame ([`InputFrame`]) and the events of the tick
//! ([`MatchEvent`], [`MatchEvents`]). Plain values and resources, used on the tick thread.

use bevy_ecs::prelude::*;

use crate::model::{MatchId, MatchRecord, PlayerId, Seat};

/// Server settings the rules need, in ticks (the simulation has no clock).
#[derive(Resource, Clone, Copy, Debug)]
pub struct SimConfig {
    /// Ticks per second.
    pub tick_rate: u32,
    /// How many ticks a dropped player keeps the seat (GAMES.md `reconnectGrace`).
    pub reconnect_grace_ticks: u64,
}

impl SimConfig {
    /// Ticks in `seconds` at this tick rate (GAMES.md gives durations in seconds: 60 ticks
    /// at 60 Hz is 1 s).
    pub fn ticks(&self, seconds: u32) -> u32 {
        seconds * self.tick_rate
    }

    /// The length of one tick in seconds: a speed moves `speed * tick_seconds()` per tick.
    pub fn tick_seconds(&self) -> f32 {
        1.0 / self.tick_rate as f32
    }
}

/// The GAMES.md defaults: 60 Hz, a reconnect grace of 10 s.
impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            tick_rate: DEFAULT_TICK_RATE,
            reconnect_grace_ticks: DEFAULT_RECONNECT_GRACE_SECONDS * u64::from(DEFAULT_TICK_RATE),
        }
    }
}

/// The default server tick rate (GAMES.md: 60 Hz).
pub const DEFAULT_TICK_RATE: u32 = 60;
/// The default `reconnectGrace` (GAMES.md: 10 s).
pub const DEFAULT_RECONNECT_GRACE_SECONDS: u64 = 10;

/// One input frame of a player (GAMES.md: `axis` in [-1, 1], `launch` for breakout).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputFrame {
    /// The client's sequence number of the frame (acknowledged in snapshots).
    pub seq: u64,
    /// Paddle direction and speed, in [-1, 1].
    pub axis: f32,
    /// Breakout: launch the resting ball.
    pub launch: bool,
}

/// Something that happened in a match this tick, for the network layer to announce and the
/// persistence system to store. Drained by whoever runs in [`crate::sim::SimSystems::Send`]; cleared at the
/// start of every tick.
#[derive(Clone, Debug, PartialEq)]
pub enum MatchEvent {
    /// Every seat is filled: the countdown began (`match.start`).
    Started,
    /// A point was scored (pong): the seat that scored and the score after it.
    Point {
        scorer: Seat,
        score: [u32; 2],
    },
    Paused {
        player: PlayerId,
    },
    Resumed,
    PlayerLeft {
        player: PlayerId,
    },
    PlayerBack {
        player: PlayerId,
    },
    /// Breakout: a brick of `seat`'s field broke; the field's score after it.
    Brick {
        seat: Seat,
        row: u8,
        column: u8,
        score: u32,
    },
    /// Breakout: `seat`'s field lost a ball; the lives left.
    LifeLost {
        seat: Seat,
        lives: u32,
    },
    /// Breakout: `seat`'s field cleared its wall and plays `level` now.
    Level {
        seat: Seat,
        level: u32,
    },
    /// The match finished; its history record. The match entity is despawned at the start of
    /// the next tick.
    Ended(MatchRecord),
    /// The match was discarded before it ever started (no history).
    Discarded,
}

/// The events of this tick: (match entity, match id, match tick, event).
#[derive(Resource, Default, Debug)]
pub struct MatchEvents {
    /// In the order they happened.
    pub list: Vec<(Entity, MatchId, u64, MatchEvent)>,
}
