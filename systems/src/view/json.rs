//! The `data` object of a `state` message written as JSON by hand (tick thread, the bridge's
//! `send_updates`): byte for byte what [`super::serialize_state`] gives through serde_json,
//! at a fraction of the cost.
//!
//! Through serde, serde_json escapes every key and string it writes, one byte at a time, and
//! the views walk each match's seats four times (acks counted then written, paddles counted
//! then written). Here every key and every piece of punctuation is a constant written in one
//! go (nothing written needs escaping: ids are hex, seats and phases are ASCII names), numbers
//! go through serde_json's own formatter (so floats are written exactly as before, non-finite
//! ones as `null`), and the components come from one read of the match ([`StateView`], each
//! entity located once). Most floats of a state
//! repeat from tick to tick and match to match (paddles' x, the ball's speed, paddles at
//! rest): [`StateJson`] keeps the text of the floats it wrote last in a small table.

use serde_json::ser::{CompactFormatter, Formatter};

use super::WireId;
use super::read::StateView;
use crate::model::{Game, Seat};

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
    /// Appends the `data` object of a match's `state` message to `out`.
    pub fn write(&mut self, state: &StateView, out: &mut Vec<u8>) {
        let mut json = Json {
            out,
            floats: &mut self.floats,
        };
        write_state_json(state, &mut json);
    }
}

fn write_state_json(state: &StateView, json: &mut Json<'_>) {
    json.raw(b"{\"matchId\":\"");
    json.raw(WireId::of_match(state.id).as_bytes());
    json.raw(b"\",\"tick\":");
    json.u64(state.tick);
    json.raw(b",\"phase\":\"");
    json.raw(state.phase.as_str().as_bytes());
    json.raw(b"\",\"acks\":{");
    let mut first = true;
    for (player, seq) in state.acks() {
        json.raw(if first { b"\"" } else { b",\"" });
        first = false;
        json.raw(WireId::of_player(player).as_bytes());
        json.raw(b"\":");
        json.u64(seq);
    }
    json.raw(b"}");
    match (state.game, state.ball) {
        (Game::Pong, Some(ball)) => {
            json.raw(b",\"pong\":{\"ball\":{");
            json.motion([ball.x, ball.y, ball.vx, ball.vy]);
            json.raw(b"},\"paddles\":[");
            let mut first = true;
            for (seat, paddle) in state.paddles() {
                json.seat_object(first, seat);
                first = false;
                json.raw(b",\"x\":");
                json.f32(paddle.x);
                json.raw(b",\"y\":");
                json.f32(paddle.y);
                json.raw(b"}");
            }
            json.raw(b"],\"score\":[");
            json.u64(state.score[0].into());
            json.raw(b",");
            json.u64(state.score[1].into());
            json.raw(b"]}");
        }
        _ => write_breakout(json, state),
    }
    json.raw(b"}");
}

/// `,"breakout":{"fields":[{..},..]}`, one field per seat that has all its parts.
fn write_breakout(json: &mut Json<'_>, state: &StateView) {
    json.raw(b",\"breakout\":{\"fields\":[");
    let mut first = true;
    for (seat, paddle, ball, wall, progress) in state.fields() {
        json.seat_object(first, seat);
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
    use bevy_ecs::prelude::*;

    use super::*;
    use crate::components::{Ball, MatchClock};
    use crate::model::Phase;
    use crate::testkit::{ball_of, seated_pong, set_phase, simulation};
    use crate::view::{StateReader, serialize_state};

    fn through_serde(world: &World, game: Entity) -> String {
        let mut buffer = Vec::new();
        serialize_state(world, game, &mut serde_json::Serializer::new(&mut buffer)).unwrap();
        String::from_utf8(buffer).unwrap()
    }

    fn by_hand(
        reader: &mut StateReader,
        writer: &mut StateJson,
        world: &World,
        game: Entity,
    ) -> String {
        let mut buffer = Vec::new();
        reader.update(world);
        writer.write(&reader.read(world, game).unwrap(), &mut buffer);
        String::from_utf8(buffer).unwrap()
    }

    #[test]
    fn odd_numbers_are_written_as_serde_writes_them() {
        let mut sim = simulation(60);
        let game = seated_pong(&mut sim.world, 0xffff_ffff_ffff, 11);
        sim.world.get_mut::<MatchClock>(game).unwrap().tick = u64::MAX;
        let ball = ball_of(&sim.world, game);
        let mut reader = StateReader::new(&mut sim.world);
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
                by_hand(&mut reader, &mut writer, &sim.world, game),
                through_serde(&sim.world, game)
            );
        }
        set_phase(&mut sim.world, game, Phase::Paused);
        assert_eq!(
            by_hand(&mut reader, &mut writer, &sim.world, game),
            through_serde(&sim.world, game)
        );
    }
}
