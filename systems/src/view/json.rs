//! The `data` object of a `state` message written as JSON by hand (tick thread, the bridge's
//! `send_updates`): byte for byte what [`super::serialize_state`] gives through serde_json,
//! at a fraction of the cost.
//!
//! Through serde, serde_json escapes every key and string it writes, one byte at a time, and
//! the views walk each match's seats four times (acks counted then written, paddles counted
//! then written). Here every key and every piece of punctuation is a constant written in one
//! go (nothing written needs escaping: ids are hex, seats and phases are ASCII names), numbers
//! go through serde_json's own formatter (so floats are written exactly as before, non-finite
//! ones as `null`), and each seat's components are looked up once. Most floats of a state
//! repeat from tick to tick and match to match (paddles' x, the ball's speed, paddles at
//! rest): [`StateJson`] keeps the text of the floats it wrote last in a small table.

use bevy_ecs::prelude::*;
use serde_json::ser::{CompactFormatter, Formatter};
use thiserror::Error;

use super::WireId;
use crate::components::{
    Ball, BrickWall, FieldBall, FieldPaddle, FieldProgress, MAX_SEATS, MatchClock, MatchInfo,
    MatchPhase, Paddle, PlayerInput, PongCourt, SeatSlot, Seats, TeamScore,
};
use crate::model::{Game, Seat};

/// Why a state could not be written.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateJsonError {
    #[error("not a match")]
    NotAMatch,
    #[error("pong match without a ball")]
    NoBall,
}

/// Slots of the table of recently written floats (a power of two).
const FLOAT_SLOTS: usize = 512;

/// The longest float text kept (serde_json's `f32`s need at most 15 bytes: `-1.2345678e-38`).
const FLOAT_TEXT: usize = 16;

/// A float and its JSON text.
#[derive(Clone, Copy)]
struct FloatText {
    /// The float's bits; a NaN (never written as a number) in an empty slot.
    bits: u32,
    len: u8,
    text: [u8; FLOAT_TEXT],
}

const EMPTY_SLOT: FloatText = FloatText {
    bits: u32::MAX,
    len: 0,
    text: [0; FLOAT_TEXT],
};

/// Writes `state` data objects as JSON (one per bridge; tick thread): the same bytes as
/// `serialize_state` with a `serde_json::Serializer`.
pub struct StateJson {
    /// Recently written floats, by a hash of their bits (direct-mapped).
    floats: Box<[FloatText; FLOAT_SLOTS]>,
}

impl Default for StateJson {
    fn default() -> StateJson {
        StateJson {
            floats: Box::new([EMPTY_SLOT; FLOAT_SLOTS]),
        }
    }
}

impl StateJson {
    /// Appends the `data` object of `game`'s `state` message to `out`. Fails (having written
    /// part of it) when `game` is not a match, or is a Pong match without a ball.
    pub fn write(
        &mut self,
        world: &World,
        game: Entity,
        out: &mut Vec<u8>,
    ) -> Result<(), StateJsonError> {
        let mut json = Json {
            out,
            floats: &mut self.floats,
        };
        write_state_json(world, game, &mut json)
    }
}

fn write_state_json(
    world: &World,
    game: Entity,
    json: &mut Json<'_>,
) -> Result<(), StateJsonError> {
    // The match entity and each seat's are located once; their components are read from there.
    let match_ref = world.get_entity(game).ok();
    let head = match_ref.and_then(|entity| {
        Some((
            entity.get::<MatchInfo>()?,
            entity.get::<MatchClock>()?,
            entity.get::<MatchPhase>()?,
            entity.get::<Seats>()?,
        ))
    });
    let (Some(entity), Some((info, clock, phase, seats))) = (match_ref, head) else {
        return Err(StateJsonError::NotAMatch);
    };
    let mut seat_refs: [Option<(EntityRef<'_>, &SeatSlot)>; MAX_SEATS] = [None; MAX_SEATS];
    for (held, &seat) in seat_refs.iter_mut().zip(seats.entities()) {
        *held = world
            .get_entity(seat)
            .ok()
            .and_then(|seat| Some((seat, seat.get::<SeatSlot>()?)));
    }
    let seat_refs = &seat_refs[..seats.entities().len()];
    json.raw(b"{\"matchId\":\"");
    json.raw(WireId::of_match(info.id).as_bytes());
    json.raw(b"\",\"tick\":");
    json.u64(clock.tick);
    json.raw(b",\"phase\":\"");
    json.raw(phase.phase.as_str().as_bytes());
    json.raw(b"\",\"acks\":{");
    let mut first = true;
    for &(seat, slot) in seat_refs.iter().flatten() {
        let Some(player) = slot.player_id() else {
            continue;
        };
        let seq = seat.get::<PlayerInput>().map_or(0, |i| i.applied_seq);
        json.raw(if first { b"\"" } else { b",\"" });
        first = false;
        json.raw(WireId::of_player(player).as_bytes());
        json.raw(b"\":");
        json.u64(seq);
    }
    json.raw(b"}");
    match info.game {
        Game::Pong => write_pong(json, world, entity, seat_refs)?,
        Game::Breakout => write_breakout(json, seat_refs),
    }
    json.raw(b"}");
    Ok(())
}

/// `,"pong":{"ball":{..},"paddles":[..],"score":[..]}`.
fn write_pong(
    json: &mut Json<'_>,
    world: &World,
    game: EntityRef<'_>,
    seats: &[Option<(EntityRef<'_>, &SeatSlot)>],
) -> Result<(), StateJsonError> {
    let ball: &Ball = game
        .get::<PongCourt>()
        .and_then(|court| world.get::<Ball>(court.ball))
        .ok_or(StateJsonError::NoBall)?;
    let score = game.get::<TeamScore>().map_or([0, 0], |s| s.0);
    json.raw(b",\"pong\":{\"ball\":{");
    json.motion([ball.x, ball.y, ball.vx, ball.vy]);
    json.raw(b"},\"paddles\":[");
    let mut first = true;
    for &(seat, slot) in seats.iter().flatten() {
        let Some(paddle) = seat.get::<Paddle>() else {
            continue;
        };
        json.seat_object(first, slot.seat);
        first = false;
        json.raw(b",\"x\":");
        json.f32(paddle.x);
        json.raw(b",\"y\":");
        json.f32(paddle.y);
        json.raw(b"}");
    }
    json.raw(b"],\"score\":[");
    json.u64(score[0].into());
    json.raw(b",");
    json.u64(score[1].into());
    json.raw(b"]}");
    Ok(())
}

/// `,"breakout":{"fields":[{..},..]}`, one field per seat that has all its parts.
fn write_breakout(json: &mut Json<'_>, seats: &[Option<(EntityRef<'_>, &SeatSlot)>]) {
    json.raw(b",\"breakout\":{\"fields\":[");
    let mut first = true;
    for &(seat, slot) in seats.iter().flatten() {
        let (Some(paddle), Some(ball), Some(wall), Some(progress)) = (
            seat.get::<FieldPaddle>(),
            seat.get::<FieldBall>(),
            seat.get::<BrickWall>(),
            seat.get::<FieldProgress>(),
        ) else {
            continue;
        };
        json.seat_object(first, slot.seat);
        first = false;
        json.raw(b",\"paddle\":{\"x\":");
        json.f32(paddle.x);
        json.raw(b"},\"ball\":{");
        json.motion([ball.x, ball.y, ball.vx, ball.vy]);
        json.raw(if ball.resting {
            b",\"resting\":true},\"bricks\":["
        } else {
            b",\"resting\":false},\"bricks\":["
        });
        for (n, row) in wall.rows.iter().enumerate() {
            if n > 0 {
                json.raw(b",");
            }
            json.u64((*row).into());
        }
        json.raw(b"],\"score\":");
        json.u64(progress.score.into());
        json.raw(b",\"lives\":");
        json.u64(progress.lives.into());
        json.raw(b",\"level\":");
        json.u64(progress.level.into());
        json.raw(b"}");
    }
    json.raw(b"]}");
}

/// The writer, with serde_json's own number formatting.
struct Json<'a> {
    out: &'a mut Vec<u8>,
    floats: &'a mut [FloatText; FLOAT_SLOTS],
}

impl Json<'_> {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    #[inline]
    fn u64(&mut self, value: u64) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// `{"seat":"<seat>"`, after a comma unless it is the first of its list.
    fn seat_object(&mut self, first: bool, seat: Seat) {
        self.raw(if first {
            b"{\"seat\":\""
        } else {
            b",{\"seat\":\""
        });
        self.raw(seat.as_str().as_bytes());
        self.raw(b"\"");
    }

    /// A ball's `"x":..,"y":..,"vx":..,"vy":..`.
    fn motion(&mut self, [x, y, vx, vy]: [f32; 4]) {
        self.raw(b"\"x\":");
        self.f32(x);
        self.raw(b",\"y\":");
        self.f32(y);
        self.raw(b",\"vx\":");
        self.f32(vx);
        self.raw(b",\"vy\":");
        self.f32(vy);
    }

    /// As serde_json writes an `f32`: the shortest form that reads back the same, `null` when
    /// it is not finite.
    fn f32(&mut self, value: f32) {
        if !value.is_finite() {
            return self.raw(b"null");
        }
        let bits = value.to_bits();
        let slot = &mut self.floats[(bits.wrapping_mul(0x9e37_79b1) >> 23) as usize % FLOAT_SLOTS];
        if slot.bits != bits {
            let start = self.out.len();
            // Writing to a Vec cannot fail.
            let _ = CompactFormatter.write_f32(&mut *self.out, value);
            let text = &self.out[start..];
            if text.len() <= FLOAT_TEXT {
                slot.bits = bits;
                slot.len = text.len() as u8;
                slot.text[..text.len()].copy_from_slice(text);
            }
            return;
        }
        self.out.extend_from_slice(&slot.text[..slot.len as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{Ball, MatchClock};
    use crate::model::{BotLevel, Mode, Phase};
    use crate::sim;
    use crate::testkit::{ball_of, player, seated_pong, set_phase, simulation, spec};
    use crate::view::serialize_state;

    fn through_serde(world: &World, game: Entity) -> String {
        let mut buffer = Vec::new();
        serialize_state(world, game, &mut serde_json::Serializer::new(&mut buffer)).unwrap();
        String::from_utf8(buffer).unwrap()
    }

    fn by_hand(writer: &mut StateJson, world: &World, game: Entity) -> String {
        let mut buffer = Vec::new();
        writer.write(world, game, &mut buffer).unwrap();
        String::from_utf8(buffer).unwrap()
    }

    /// Every mode, with players, bots and an empty seat, stepped through the countdown and
    /// into play (points, bricks, served and resting balls): the hand-written JSON is serde's,
    /// byte for byte, every tick.
    #[test]
    fn the_hand_written_state_is_serdes_byte_for_byte_every_tick() {
        let mut sim = simulation(60);
        let world = &mut sim.world;
        let mut games = Vec::new();
        for (n, mode) in [
            Mode::OneVsOne,
            Mode::TwoVsTwo,
            Mode::VsBot,
            Mode::Solo,
            Mode::Versus,
        ]
        .into_iter()
        .enumerate()
        {
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
        let mut writer = StateJson::default();
        for tick in 0..3_000 {
            for &game in &games {
                if sim.world.get_entity(game).is_err() {
                    continue;
                }
                assert_eq!(
                    by_hand(&mut writer, &sim.world, game),
                    through_serde(&sim.world, game),
                    "tick {tick}"
                );
            }
            sim.step();
        }
    }

    #[test]
    fn odd_numbers_are_written_as_serde_writes_them() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 0xffff_ffff_ffff, 11);
        sim.world.get_mut::<MatchClock>(game).unwrap().tick = u64::MAX;
        let ball = ball_of(&sim.world, game);
        let mut writer = StateJson::default();
        // Twice: written fresh, then from the table.
        for (x, vx) in [
            (f32::NAN, f32::INFINITY),
            (-0.0, f32::NEG_INFINITY),
            (f32::MIN_POSITIVE, f32::MAX),
            (1e-7, 123_456_789.0),
            (0.1, -2.5e-3),
            (-1.175_494_4e-38, -3.402_823_5e38),
            (0.1, -2.5e-3),
            (-0.0, f32::NEG_INFINITY),
        ] {
            *sim.world.get_mut::<Ball>(ball).unwrap() = Ball {
                x,
                y: 1.0 / 3.0,
                vx,
                vy: -0.0,
            };
            assert_eq!(
                by_hand(&mut writer, &sim.world, game),
                through_serde(&sim.world, game)
            );
        }
        set_phase(&mut sim.world, game, Phase::Paused);
        assert_eq!(
            by_hand(&mut writer, &sim.world, game),
            through_serde(&sim.world, game)
        );
    }

    #[test]
    fn not_a_match_is_an_error() {
        let mut sim = simulation(60);
        let entity = sim.world.spawn_empty().id();
        let result = StateJson::default().write(&sim.world, entity, &mut Vec::new());
        assert_eq!(result, Err(StateJsonError::NotAMatch));
    }
}
