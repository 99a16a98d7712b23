//! The `data` map of a `state` message written as MessagePack by hand (tick thread, the
//! bridge's `send_updates`): byte for byte what [`super::serialize_state`] gives through
//! `rmp_serde::encode::write_named` (maps with string keys, every integer in its smallest
//! form, floats as `f32`), from the components [`StateView`] read once per entity. Every key
//! is a constant written with its marker; nothing is formatted (a float is its 4 bytes).

use super::WireId;
use super::read::{FieldView, StateView};
use crate::model::Game;

/// Appends the `data` map of a match's `state` message to `out`.
pub fn write_state_msgpack(state: &StateView, out: &mut Vec<u8>) {
    let mut mp = Msgpack { out };
    mp.map(5);
    mp.raw(b"\xa7matchId");
    mp.str(WireId::of_match(state.id).as_bytes());
    mp.raw(b"\xa4tick");
    mp.uint(state.tick);
    mp.raw(b"\xa5phase");
    mp.str(state.phase.as_str().as_bytes());
    mp.raw(b"\xa4acks");
    mp.map(state.acks().count());
    for (player, seq) in state.acks() {
        mp.str(WireId::of_player(player).as_bytes());
        mp.uint(seq);
    }
    match (state.game, state.ball) {
        (Game::Pong, Some(ball)) => {
            mp.raw(b"\xa4pong\x83\xa4ball\x84");
            mp.motion([ball.x, ball.y, ball.vx, ball.vy]);
            mp.raw(b"\xa7paddles");
            mp.array(state.paddles().count());
            for (seat, paddle) in state.paddles() {
                mp.raw(b"\x83\xa4seat");
                mp.str(seat.as_str().as_bytes());
                mp.raw(b"\xa1x");
                mp.f32(paddle.x);
                mp.raw(b"\xa1y");
                mp.f32(paddle.y);
            }
            mp.raw(b"\xa5score\x92");
            mp.uint(state.score[0].into());
            mp.uint(state.score[1].into());
        }
        _ => {
            // Each field's parts are looked up once.
            let mut fields: [Option<FieldView>; crate::components::MAX_SEATS] =
                [None; crate::components::MAX_SEATS];
            let mut count = 0;
            for (held, field) in fields.iter_mut().zip(state.fields()) {
                *held = Some(field);
                count += 1;
            }
            mp.raw(b"\xa8breakout\x81\xa6fields");
            mp.array(count);
            for (seat, paddle, ball, wall, progress) in fields.into_iter().flatten() {
                mp.raw(b"\x87\xa4seat");
                mp.str(seat.as_str().as_bytes());
                mp.raw(b"\xa6paddle\x81\xa1x");
                mp.f32(paddle.x);
                mp.raw(b"\xa4ball\x85");
                mp.motion([ball.x, ball.y, ball.vx, ball.vy]);
                mp.raw(if ball.resting {
                    b"\xa7resting\xc3"
                } else {
                    b"\xa7resting\xc2"
                });
                mp.raw(b"\xa6bricks");
                mp.array(wall.rows.len());
                for row in wall.rows {
                    mp.uint(row.into());
                }
                mp.raw(b"\xa5score");
                mp.uint(progress.score.into());
                mp.raw(b"\xa5lives");
                mp.uint(progress.lives.into());
                mp.raw(b"\xa5level");
                mp.uint(progress.level.into());
            }
        }
    }
}

/// The writer: MessagePack's markers as `rmp` picks them (the smallest that fits).
struct Msgpack<'a> {
    out: &'a mut Vec<u8>,
}

impl Msgpack<'_> {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn map(&mut self, len: usize) {
        self.header(len, 0x80, 0xde, 0xdf);
    }

    fn array(&mut self, len: usize) {
        self.header(len, 0x90, 0xdc, 0xdd);
    }

    /// A map's or an array's length: in its marker under 16, else 16 or 32 bits.
    fn header(&mut self, len: usize, fixed: u8, sixteen: u8, thirty_two: u8) {
        if len < 16 {
            self.out.push(fixed | len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            self.out.push(sixteen);
            self.raw(&len.to_be_bytes());
        } else {
            self.out.push(thirty_two);
            self.raw(&(len as u32).to_be_bytes());
        }
    }

    /// A string (every one written here is ASCII and shorter than 32 bytes, but any length
    /// is written as `rmp` writes it).
    fn str(&mut self, text: &[u8]) {
        let len = text.len();
        if len < 32 {
            self.out.push(0xa0 | len as u8);
        } else if let Ok(len) = u8::try_from(len) {
            self.raw(&[0xd9, len]);
        } else if let Ok(len) = u16::try_from(len) {
            self.out.push(0xda);
            self.raw(&len.to_be_bytes());
        } else {
            self.out.push(0xdb);
            self.raw(&(len as u32).to_be_bytes());
        }
        self.raw(text);
    }

    /// An unsigned integer in its smallest form.
    fn uint(&mut self, value: u64) {
        if value < 128 {
            self.out.push(value as u8);
        } else if let Ok(value) = u8::try_from(value) {
            self.raw(&[0xcc, value]);
        } else if let Ok(value) = u16::try_from(value) {
            self.out.push(0xcd);
            self.raw(&value.to_be_bytes());
        } else if let Ok(value) = u32::try_from(value) {
            self.out.push(0xce);
            self.raw(&value.to_be_bytes());
        } else {
            self.out.push(0xcf);
            self.raw(&value.to_be_bytes());
        }
    }

    #[inline]
    fn f32(&mut self, value: f32) {
        let [a, b, c, d] = value.to_bits().to_be_bytes();
        self.raw(&[0xca, a, b, c, d]);
    }

    /// A ball's `x`, `y`, `vx`, `vy` entries.
    fn motion(&mut self, [x, y, vx, vy]: [f32; 4]) {
        self.raw(b"\xa1x");
        self.f32(x);
        self.raw(b"\xa1y");
        self.f32(y);
        self.raw(b"\xa2vx");
        self.f32(vx);
        self.raw(b"\xa2vy");
        self.f32(vy);
    }
}
