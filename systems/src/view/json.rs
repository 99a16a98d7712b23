//! The `data` object of a `state` message written as JSON by hand (tick thread, the bridge's
//! `send_updates`): byte for byte what [`super::serialize_state`] gives through serde_json,
//! at a fraction of the cost.
//!
//! Through serde, serde_json escapes every key and string it writes, one byte at a time, and
//! the views walk each match's seats four times (acks counted then written, paddles counted
//! then written). Here every key and every piece of punctuation is a constant written in one
//! go (nothing written needs escaping: ids are hex, seats and phases are ASCII names), numbers
//! go through serde_json's own formatter (so floats are written exactly as before, non-finite
//! ones as `null`), and each seat's components are looked up once.

use std::io::{self, Write};

use bevy_ecs::prelude::*;
use serde_json::ser::{CompactFormatter, Formatter};

use super::{WireId, match_head};
use crate::components::{
    Ball, BrickWall, FieldBall, FieldPaddle, FieldProgress, Paddle, PlayerInput, PongCourt,
    SeatSlot, Seats, TeamScore,
};
use crate::model::Game;

/// Writes the `data` object of `game`'s `state` message to `out` as compact JSON, the same
/// bytes as `serialize_state` with a `serde_json::Serializer`. Fails (having written part of
/// it) when `game` is not a match, or is a Pong match without a ball.
pub fn write_state_json<W: Write + ?Sized>(
    world: &World,
    game: Entity,
    out: &mut W,
) -> io::Result<()> {
    let Some((info, clock, phase, seats)) = match_head(world, game) else {
        return Err(io::Error::other("not a match"));
    };
    let mut json = Json(out);
    json.raw(b"{\"matchId\":\"")?;
    json.raw(WireId::of_match(info.id).as_bytes())?;
    json.raw(b"\",\"tick\":")?;
    json.u64(clock.tick)?;
    json.raw(b",\"phase\":\"")?;
    json.raw(phase.phase.as_str().as_bytes())?;
    json.raw(b"\",\"acks\":{")?;
    let mut first = true;
    for &seat in seats.entities() {
        let Some(player) = world.get::<SeatSlot>(seat).and_then(SeatSlot::player_id) else {
            continue;
        };
        let seq = world.get::<PlayerInput>(seat).map_or(0, |i| i.applied_seq);
        json.raw(if first { b"\"" } else { b",\"" })?;
        first = false;
        json.raw(WireId::of_player(player).as_bytes())?;
        json.raw(b"\":")?;
        json.u64(seq)?;
    }
    json.raw(b"}")?;
    match info.game {
        Game::Pong => write_pong(&mut json, world, game, seats)?,
        Game::Breakout => write_breakout(&mut json, world, seats)?,
    }
    json.raw(b"}")
}

/// `,"pong":{"ball":{..},"paddles":[..],"score":[..]}`.
fn write_pong<W: Write + ?Sized>(
    json: &mut Json<'_, W>,
    world: &World,
    game: Entity,
    seats: &Seats,
) -> io::Result<()> {
    let ball: &Ball = world
        .get::<PongCourt>(game)
        .and_then(|court| world.get::<Ball>(court.ball))
        .ok_or_else(|| io::Error::other("pong match without a ball"))?;
    let score = world.get::<TeamScore>(game).map_or([0, 0], |s| s.0);
    json.raw(b",\"pong\":{\"ball\":{\"x\":")?;
    json.f32(ball.x)?;
    json.raw(b",\"y\":")?;
    json.f32(ball.y)?;
    json.raw(b",\"vx\":")?;
    json.f32(ball.vx)?;
    json.raw(b",\"vy\":")?;
    json.f32(ball.vy)?;
    json.raw(b"},\"paddles\":[")?;
    let mut first = true;
    for &seat in seats.entities() {
        let (Some(slot), Some(paddle)) = (world.get::<SeatSlot>(seat), world.get::<Paddle>(seat))
        else {
            continue;
        };
        json.raw(if first {
            b"{\"seat\":\""
        } else {
            b",{\"seat\":\""
        })?;
        first = false;
        json.raw(slot.seat.as_str().as_bytes())?;
        json.raw(b"\",\"x\":")?;
        json.f32(paddle.x)?;
        json.raw(b",\"y\":")?;
        json.f32(paddle.y)?;
        json.raw(b"}")?;
    }
    json.raw(b"],\"score\":[")?;
    json.u64(score[0].into())?;
    json.raw(b",")?;
    json.u64(score[1].into())?;
    json.raw(b"]}")
}

/// `,"breakout":{"fields":[{..},..]}`, one field per seat that has all its parts.
fn write_breakout<W: Write + ?Sized>(
    json: &mut Json<'_, W>,
    world: &World,
    seats: &Seats,
) -> io::Result<()> {
    json.raw(b",\"breakout\":{\"fields\":[")?;
    let mut first = true;
    for &seat in seats.entities() {
        let (Some(slot), Some(paddle), Some(ball), Some(wall), Some(progress)) = (
            world.get::<SeatSlot>(seat),
            world.get::<FieldPaddle>(seat),
            world.get::<FieldBall>(seat),
            world.get::<BrickWall>(seat),
            world.get::<FieldProgress>(seat),
        ) else {
            continue;
        };
        json.raw(if first {
            b"{\"seat\":\""
        } else {
            b",{\"seat\":\""
        })?;
        first = false;
        json.raw(slot.seat.as_str().as_bytes())?;
        json.raw(b"\",\"paddle\":{\"x\":")?;
        json.f32(paddle.x)?;
        json.raw(b"},\"ball\":{\"x\":")?;
        json.f32(ball.x)?;
        json.raw(b",\"y\":")?;
        json.f32(ball.y)?;
        json.raw(b",\"vx\":")?;
        json.f32(ball.vx)?;
        json.raw(b",\"vy\":")?;
        json.f32(ball.vy)?;
        json.raw(if ball.resting {
            b",\"resting\":true},\"bricks\":["
        } else {
            b",\"resting\":false},\"bricks\":["
        })?;
        for (n, row) in wall.rows.iter().enumerate() {
            if n > 0 {
                json.raw(b",")?;
            }
            json.u64((*row).into())?;
        }
        json.raw(b"],\"score\":")?;
        json.u64(progress.score.into())?;
        json.raw(b",\"lives\":")?;
        json.u64(progress.lives.into())?;
        json.raw(b",\"level\":")?;
        json.u64(progress.level.into())?;
        json.raw(b"}")?;
    }
    json.raw(b"]}")
}

/// The writer, with serde_json's own number formatting.
struct Json<'a, W: Write + ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Json<'_, W> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn u64(&mut self, value: u64) -> io::Result<()> {
        CompactFormatter.write_u64(self.0, value)
    }

    /// As serde_json writes an `f32`: the shortest form that reads back the same, `null` when
    /// it is not finite.
    fn f32(&mut self, value: f32) -> io::Result<()> {
        if value.is_finite() {
            CompactFormatter.write_f32(self.0, value)
        } else {
            CompactFormatter.write_null(self.0)
        }
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

    fn by_hand(world: &World, game: Entity) -> String {
        let mut buffer = Vec::new();
        write_state_json(world, game, &mut buffer).unwrap();
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
        for tick in 0..3_000 {
            for &game in &games {
                if sim.world.get_entity(game).is_err() {
                    continue;
                }
                assert_eq!(
                    by_hand(&sim.world, game),
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
        for (x, vx) in [
            (f32::NAN, f32::INFINITY),
            (-0.0, f32::NEG_INFINITY),
            (f32::MIN_POSITIVE, f32::MAX),
            (1e-7, 123_456_789.0),
            (0.1, -2.5e-3),
        ] {
            *sim.world.get_mut::<Ball>(ball).unwrap() = Ball {
                x,
                y: 1.0 / 3.0,
                vx,
                vy: -0.0,
            };
            assert_eq!(by_hand(&sim.world, game), through_serde(&sim.world, game));
        }
        set_phase(&mut sim.world, game, Phase::Paused);
        assert_eq!(by_hand(&sim.world, game), through_serde(&sim.world, game));
    }

    #[test]
    fn not_a_match_is_an_error() {
        let mut sim = simulation(60);
        let entity = sim.world.spawn_empty().id();
        assert!(write_state_json(&sim.world, entity, &mut Vec::new()).is_err());
    }
}
