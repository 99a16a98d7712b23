//! An `input` envelope read by hand (tokio workers, each connection's reader; no IO).
//!
//! `input` is the message clients send most (up to 60 a second each), and serde spent about
//! 2,600 instructions on each (BENCHMARKS.md, session 15). [`decode_input`] reads the plain
//! shape clients write — an object with `type`, `data` and perhaps `requestId`, keys in any
//! order, strings without escapes — in one scan; a key (and the `type`) is compared whole with
//! the names it takes, with no scan for its end. Whatever it is not sure of (an escape, a
//! duplicate or unknown key, a number written oddly, map 16 headers, anything else) is handed
//! to serde ([`codec::decode_whole`]), which stays the reference: where the scan takes a frame,
//! serde takes it too, with the same values (the property test below).

use super::codec::{self, Payload, RequestId};
use super::protocol::{Input, NOWHERE, opaque_id};
use arcade_systems::model::MatchId;

/// The `input` in `payload` with its request id, or `None` when the frame is not a valid
/// `input` (the caller then takes the general path, which answers it).
pub fn decode_input(payload: Payload<'_>) -> Option<(Input, Option<RequestId>)> {
    let scanned = match payload {
        Payload::Json(text) => json::read(text),
        Payload::Msgpack(bytes) => msgpack::read(bytes),
    };
    scanned.or_else(|| codec::decode_whole::<Input>("input", payload))
}

/// The fields of an input's `data`, each at most once.
#[derive(Default)]
struct Fields {
    match_id: Option<MatchId>,
    seq: Option<u64>,
    axis: Option<f32>,
    launch: Option<bool>,
}

impl Fields {
    fn input(self) -> Option<Input> {
        Some(Input {
            match_id: self.match_id?,
            seq: self.seq?,
            axis: self.axis?,
            launch: self.launch.unwrap_or(false),
        })
    }
}

/// An id as serde reads it (`protocol::opaque_match_id`).
fn match_id(text: &str) -> MatchId {
    opaque_id(text, MatchId(NOWHERE))
}

/// The envelope's keys, each at most once.
#[derive(Default)]
struct Envelope {
    typed: bool,
    data: Option<Input>,
    request_id: Option<Option<RequestId>>,
}

impl Envelope {
    fn finish(self) -> Option<(Input, Option<RequestId>)> {
        self.typed.then_some(())?;
        Some((self.data?, self.request_id.flatten()))
    }
}

mod json {
    use super::*;

    /// 10⁰ to 10¹⁹, each exact in an `f64` (serde_json's table).
    const POWERS_OF_TEN: [f64; 20] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19,
    ];

    /// JSON text read from the front, as bytes (every cut is at an ASCII byte).
    struct Cursor<'a> {
        text: &'a str,
        /// What is left of `text`.
        rest: &'a [u8],
    }

    impl<'a> Cursor<'a> {
        /// The next `len` bytes, taken (`len` is at most what is left).
        fn take(&mut self, len: usize) -> &'a [u8] {
            let (taken, rest) = self.rest.split_at(len);
            self.rest = rest;
            taken
        }

        /// The next byte after whitespace (not taken).
        fn peek(&mut self) -> Option<u8> {
            loop {
                let byte = *self.rest.first()?;
                if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                    return Some(byte);
                }
                self.rest = &self.rest[1..];
            }
        }

        fn eat(&mut self, expected: u8) -> Option<()> {
            (self.peek()? == expected).then(|| self.rest = &self.rest[1..])
        }

        /// Whether a string `"text"` comes next (and then takes it): the keys and the `type`,
        /// each compared whole, with no scan for its end.
        fn quoted(&mut self, text: &[u8]) -> bool {
            if self.peek() != Some(b'"') {
                return false;
            }
            let matched =
                self.rest[1..].starts_with(text) && self.rest.get(text.len() + 1) == Some(&b'"');
            if matched {
                self.rest = &self.rest[text.len() + 2..];
            }
            matched
        }

        /// Whether the key `name` comes next (and then takes it and its colon).
        fn key(&mut self, name: &[u8]) -> bool {
            self.quoted(name) && self.eat(b':').is_some()
        }

        /// The bytes of a string without escapes or control characters.
        fn string(&mut self) -> Option<&'a [u8]> {
            self.eat(b'"')?;
            let len = plain_run(self.rest);
            let (text, after) = self.rest.split_at(len);
            let (b'"', after) = after.split_first()? else {
                return None;
            };
            self.rest = after;
            Some(text)
        }

        /// A string's text: the same bytes of the (checked) text.
        fn text(&mut self) -> Option<&'a str> {
            let len = self.string()?.len();
            let end = self.text.len() - self.rest.len() - 1;
            self.text.get(end - len..end)
        }

        /// The bytes of a number (its grammar is checked by whoever reads it).
        fn number(&mut self) -> &'a [u8] {
            self.peek();
            let len = self
                .rest
                .iter()
                .position(|byte| !matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(self.rest.len());
            self.take(len)
        }

        /// An unsigned integer in plain digits (no sign, fraction, exponent or leading zero).
        fn unsigned(&mut self) -> Option<u64> {
            let digits = self.number();
            if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
                return None;
            }
            digits.iter().try_fold(0u64, |value, digit| {
                let digit = digit.checked_sub(b'0').filter(|d| *d <= 9)?;
                value.checked_mul(10)?.checked_add(u64::from(digit))
            })
        }

        /// A number read as an `f32` field is: a plain decimal ([`plain_decimal`]) here,
        /// anything else by serde_json itself, so every rounding agrees.
        fn float(&mut self) -> Option<f32> {
            let text = self.number();
            plain_decimal(text).or_else(|| serde_json::from_slice::<f32>(text).ok())
        }

        fn boolean(&mut self) -> Option<bool> {
            self.peek()?;
            let (value, len) = if self.rest.starts_with(b"true") {
                (true, 4)
            } else if self.rest.starts_with(b"false") {
                (false, 5)
            } else {
                return None;
            };
            self.rest = &self.rest[len..];
            Some(value)
        }

        fn null(&mut self) -> Option<()> {
            self.peek()?;
            self.rest
                .starts_with(b"null")
                .then(|| self.rest = &self.rest[4..])
        }

        /// Reads an object's members with `member`, which reads a key ([`Cursor::key`]) and its
        /// value, or gives `None` for a key it does not take.
        fn object(&mut self, mut member: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
            self.eat(b'{')?;
            loop {
                member(self)?;
                match self.peek()? {
                    b',' => self.rest = &self.rest[1..],
                    b'}' => {
                        self.rest = &self.rest[1..];
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }
    }

    /// How many bytes of `bytes` come before the first `"`, backslash or control character:
    /// eight bytes at a time, as serde_json's own string scan does. In each word, a byte equal
    /// to `"` or a backslash is a zero byte of `word ^ pattern`, and the "has a zero byte" test
    /// (`(v - 0x01…) & !v & 0x80…`) marks it; `(word - 0x20…) & !word & 0x80…` marks a byte
    /// below 0x20. Bytes after the first marked one may be marked falsely (a borrow), never
    /// the ones before it, so the lowest mark is the answer.
    pub(super) fn plain_run(bytes: &[u8]) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let mut chunks = bytes.chunks_exact(8);
        let mut at = 0;
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let marks = zero_byte(word ^ (ONES * u64::from(b'"')))
                | zero_byte(word ^ (ONES * u64::from(b'\\')))
                | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
            if marks != 0 {
                return at + marks.trailing_zeros() as usize / 8;
            }
            at += 8;
        }
        let tail = chunks.remainder();
        at + tail
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
            .unwrap_or(tail.len())
    }

    /// A plain decimal (`-`, digits, perhaps a point and more digits; 19 digits at most, no
    /// leading zero, no exponent) read as serde_json reads it: its digits as one integer,
    /// `as f64`, divided by the power of ten of its fraction, then `as f32`. `None` for
    /// anything else, and for an integer past 2⁵³ (which serde reads as `u64` or `i64`).
    fn plain_decimal(text: &[u8]) -> Option<f32> {
        let (negative, digits) = match text {
            [b'-', digits @ ..] => (true, digits),
            digits => (false, digits),
        };
        let mut significand = 0u64;
        let mut count = 0;
        let mut point = None;
        for (at, &byte) in digits.iter().enumerate() {
            match byte {
                b'0'..=b'9' => {
                    significand = significand
                        .wrapping_mul(10)
                        .wrapping_add(u64::from(byte - b'0'));
                    count += 1;
                }
                b'.' if point.is_none() && at > 0 => point = Some(at),
                _ => return None,
            }
        }
        let fraction = point.map_or(0, |at| digits.len() - at - 1);
        let leading_zero = digits.len() > 1 && digits[0] == b'0' && point != Some(1);
        if count == 0 || count > 19 || point.is_some() && fraction == 0 || leading_zero {
            return None;
        }
        if point.is_none() && significand > 1 << 53 {
            return None;
        }
        let magnitude = significand as f64 / POWERS_OF_TEN[fraction];
        Some((if negative { -magnitude } else { magnitude }) as f32)
    }

    pub(super) fn read(text: &str) -> Option<(Input, Option<RequestId>)> {
        let mut cursor = Cursor {
            text,
            rest: text.as_bytes(),
        };
        let mut envelope = Envelope::default();
        cursor.object(|cursor| {
            if !envelope.typed && cursor.key(b"type") {
                cursor.quoted(b"input").then_some(())?;
                envelope.typed = true;
            } else if envelope.data.is_none() && cursor.key(b"data") {
                envelope.data = Some(data(cursor)?);
            } else if envelope.request_id.is_none() && cursor.key(b"requestId") {
                envelope.request_id = Some(match cursor.peek()? {
                    b'"' => Some(RequestId::Text(cursor.text()?.to_owned())),
                    _ => cursor.null().map(|()| None)?,
                });
            } else {
                return None;
            }
            Some(())
        })?;
        (cursor.peek().is_none()).then_some(())?;
        envelope.finish()
    }

    fn data(cursor: &mut Cursor<'_>) -> Option<Input> {
        let mut fields = Fields::default();
        cursor.object(|cursor| {
            if fields.match_id.is_none() && cursor.key(b"matchId") {
                fields.match_id = Some(match_id(cursor.text()?));
            } else if fields.seq.is_none() && cursor.key(b"seq") {
                fields.seq = Some(cursor.unsigned()?);
            } else if fields.axis.is_none() && cursor.key(b"axis") {
                fields.axis = Some(cursor.float()?);
            } else if fields.launch.is_none() && cursor.key(b"launch") {
                fields.launch = Some(cursor.boolean()?);
            } else {
                return None;
            }
            Some(())
        })?;
        fields.input()
    }
}

mod msgpack {
    use super::*;

    /// MessagePack read from the front.
    struct Cursor<'a> {
        bytes: &'a [u8],
    }

    impl<'a> Cursor<'a> {
        fn take(&mut self, len: usize) -> Option<&'a [u8]> {
            let (taken, rest) = self.bytes.split_at_checked(len)?;
            self.bytes = rest;
            Some(taken)
        }

        fn byte(&mut self) -> Option<u8> {
            Some(self.take(1)?[0])
        }

        fn be<const N: usize>(&mut self) -> Option<[u8; N]> {
            self.take(N)?.try_into().ok()
        }

        /// A fixmap's entry count.
        fn fixmap(&mut self) -> Option<usize> {
            match self.byte()? {
                marker @ 0x80..=0x8f => Some(usize::from(marker & 0x0f)),
                _ => None,
            }
        }

        /// A key: a fixstr.
        fn key(&mut self) -> Option<&'a [u8]> {
            match self.byte()? {
                marker @ 0xa0..=0xbf => self.take(usize::from(marker & 0x1f)),
                _ => None,
            }
        }

        /// A string value of the rest of its marker (any str format).
        fn string_after(&mut self, marker: u8) -> Option<&'a str> {
            let len = match marker {
                0xa0..=0xbf => usize::from(marker & 0x1f),
                0xd9 => usize::from(self.byte()?),
                0xda => usize::from(u16::from_be_bytes(self.be()?)),
                0xdb => usize::try_from(u32::from_be_bytes(self.be()?)).ok()?,
                _ => return None,
            };
            std::str::from_utf8(self.take(len)?).ok()
        }

        fn string(&mut self) -> Option<&'a str> {
            let marker = self.byte()?;
            self.string_after(marker)
        }

        fn unsigned(&mut self) -> Option<u64> {
            Some(match self.byte()? {
                fixint @ 0x00..=0x7f => u64::from(fixint),
                0xcc => u64::from(self.byte()?),
                0xcd => u64::from(u16::from_be_bytes(self.be()?)),
                0xce => u64::from(u32::from_be_bytes(self.be()?)),
                0xcf => u64::from_be_bytes(self.be()?),
                _ => return None,
            })
        }

        /// A number as serde's `f32` takes it: a float32 as it is, anything else `as f32`.
        fn float(&mut self) -> Option<f32> {
            Some(match self.byte()? {
                0xca => f32::from_be_bytes(self.be()?),
                0xcb => f64::from_be_bytes(self.be()?) as f32,
                fixint @ 0x00..=0x7f => f32::from(fixint),
                negative @ 0xe0..=0xff => f32::from(negative as i8),
                0xcc => f32::from(self.byte()?),
                0xcd => f32::from(u16::from_be_bytes(self.be()?)),
                0xce => u32::from_be_bytes(self.be()?) as f32,
                0xcf => u64::from_be_bytes(self.be()?) as f32,
                0xd0 => f32::from(i8::from_be_bytes(self.be()?)),
                0xd1 => f32::from(i16::from_be_bytes(self.be()?)),
                0xd2 => i32::from_be_bytes(self.be()?) as f32,
                0xd3 => i64::from_be_bytes(self.be()?) as f32,
                _ => return None,
            })
        }

        fn boolean(&mut self) -> Option<bool> {
            match self.byte()? {
                0xc2 => Some(false),
                0xc3 => Some(true),
                _ => None,
            }
        }
    }

    pub(super) fn read(bytes: &[u8]) -> Option<(Input, Option<RequestId>)> {
        let mut cursor = Cursor { bytes };
        let mut envelope = Envelope::default();
        for _ in 0..cursor.fixmap()? {
            match cursor.key()? {
                b"type" if !envelope.typed => {
                    (cursor.string()? == "input").then_some(())?;
                    envelope.typed = true;
                }
                b"data" if envelope.data.is_none() => envelope.data = Some(data(&mut cursor)?),
                b"requestId" if envelope.request_id.is_none() => {
                    envelope.request_id = Some(match cursor.byte()? {
                        0xc0 => None,
                        marker => Some(RequestId::Text(cursor.string_after(marker)?.to_owned())),
                    });
                }
                _ => return None,
            }
        }
        cursor.bytes.is_empty().then_some(())?;
        envelope.finish()
    }

    fn data(cursor: &mut Cursor<'_>) -> Option<Input> {
        let mut fields = Fields::default();
        for _ in 0..cursor.fixmap()? {
            match cursor.key()? {
                b"matchId" if fields.match_id.is_none() => {
                    fields.match_id = Some(match_id(cursor.string()?));
                }
                b"seq" if fields.seq.is_none() => fields.seq = Some(cursor.unsigned()?),
                b"axis" if fields.axis.is_none() => fields.axis = Some(cursor.float()?),
                b"launch" if fields.launch.is_none() => fields.launch = Some(cursor.boolean()?),
                _ => return None,
            }
        }
        fields.input()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec::{Codec, test_payload as payload};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// What the scan reads, bit for bit (an `f32` by its bits).
    fn scanned(payload: Payload<'_>) -> Option<(u64, u64, u32, bool, Option<RequestId>)> {
        let scanned = match payload {
            Payload::Json(text) => json::read(text),
            Payload::Msgpack(bytes) => msgpack::read(bytes),
        };
        scanned.map(flat)
    }

    fn by_serde(payload: Payload<'_>) -> Option<(u64, u64, u32, bool, Option<RequestId>)> {
        codec::decode_whole::<Input>("input", payload).map(flat)
    }

    fn flat(
        (input, request_id): (Input, Option<RequestId>),
    ) -> (u64, u64, u32, bool, Option<RequestId>) {
        (
            input.match_id.0,
            input.seq,
            input.axis.to_bits(),
            input.launch,
            request_id,
        )
    }

    /// The encodings of `envelope` a client may send: compact and pretty JSON, MessagePack
    /// with serde's floats (float32) and with a JavaScript encoder's (float64, ints for
    /// integral numbers).
    fn encodings(envelope: &Value) -> Vec<(Codec, Vec<u8>)> {
        vec![
            (Codec::Json, serde_json::to_vec(envelope).unwrap()),
            (Codec::Json, serde_json::to_vec_pretty(envelope).unwrap()),
            (Codec::Msgpack, rmp_serde::to_vec_named(envelope).unwrap()),
            (Codec::Msgpack, javascript_msgpack(envelope)),
        ]
    }

    /// MessagePack as `@msgpack/msgpack` writes it: numbers with a fraction as float64.
    fn javascript_msgpack(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_js(value, &mut out);
        out
    }

    fn write_js(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Number(number) if number.is_f64() => {
                let float = number.as_f64().unwrap();
                if float.fract() == 0.0 && float.abs() < 1e15 {
                    out.extend(rmp_serde::to_vec(&(float as i64)).unwrap());
                } else {
                    out.push(0xcb);
                    out.extend(float.to_be_bytes());
                }
            }
            Value::Object(map) => {
                out.push(0x80 | map.len() as u8);
                for (key, value) in map {
                    out.extend(rmp_serde::to_vec(key).unwrap());
                    write_js(value, out);
                }
            }
            other => out.extend(rmp_serde::to_vec_named(other).unwrap()),
        }
    }

    #[test]
    fn the_inputs_clients_send_are_read_by_the_scan() {
        let inputs = [
            json!({"type": "input", "data": {"matchId": "m_1f", "seq": 1, "axis": -1}}),
            json!({"type": "input", "data": {"matchId": "m_00ff00ff00ff00ff", "seq": 70_000, "axis": 0.357_142_857_142_857_1}}),
            json!({"data": {"axis": 0.5, "seq": 3, "matchId": "m_2", "launch": true}, "type": "input", "requestId": "r1"}),
            json!({"type": "input", "requestId": null, "data": {"matchId": "elsewhere", "seq": 0, "axis": 0}}),
        ];
        // Whitespace around keys, colons and values (a pretty printer's).
        let spaced = "{ \"type\" : \"input\" ,\n \"data\" :\t{ \"seq\" : 4 , \"axis\" : -0.5 , \"matchId\" : \"m_a\" } }";
        assert_eq!(
            json::read(spaced).map(flat),
            Some((0xa, 4, (-0.5f32).to_bits(), false, None))
        );
        for envelope in &inputs {
            for (codec, bytes) in encodings(envelope) {
                let payload = payload(codec, &bytes);
                let read = scanned(payload);
                assert!(read.is_some(), "{codec:?} {envelope}");
                assert_eq!(read, by_serde(payload), "{codec:?} {envelope}");
            }
        }
        let (input, request_id) = decode_input(Payload::Json(
            r#"{"type":"input","data":{"matchId":"m_1f","seq":9,"axis":0.25,"launch":true},"requestId":"x"}"#,
        ))
        .unwrap();
        assert_eq!(
            (input.match_id, input.seq, input.axis, input.launch),
            (MatchId(0x1f), 9, 0.25, true)
        );
        assert_eq!(request_id, Some(RequestId::Text("x".into())));
    }

    #[test]
    fn what_the_scan_is_not_sure_of_is_left_to_serde() {
        for (text, serde_takes_it) in [
            // An escape in a key or a string.
            (
                r#"{"type":"inp\u0075t","data":{"matchId":"m_1","seq":1,"axis":0}}"#,
                true,
            ),
            (
                r#"{"type":"input","data":{"matchId":"m_\u0031","seq":1,"axis":0}}"#,
                true,
            ),
            // A number requestId, an unknown envelope key.
            (
                r#"{"type":"input","requestId":7,"data":{"matchId":"m_1","seq":1,"axis":0}}"#,
                true,
            ),
            (
                r#"{"type":"input","v":[1],"data":{"matchId":"m_1","seq":1,"axis":0}}"#,
                true,
            ),
            // seq written as a float, or out of range; a duplicate key; an unknown data key.
            (
                r#"{"type":"input","data":{"matchId":"m_1","seq":1.0,"axis":0}}"#,
                false,
            ),
            (
                r#"{"type":"input","data":{"matchId":"m_1","seq":01,"axis":0}}"#,
                false,
            ),
            (
                r#"{"type":"input","data":{"matchId":"m_1","seq":1,"axis":-}}"#,
                false,
            ),
            (
                r#"{"type":"input","data":{"matchId":"m_1","seq":18446744073709551616,"axis":0}}"#,
                false,
            ),
            (
                r#"{"type":"input","type":"input","data":{"matchId":"m_1","seq":1,"axis":0}}"#,
                false,
            ),
            (
                r#"{"type":"input","data":{"matchId":"m_1","seq":1,"axis":0,"x":1}}"#,
                false,
            ),
            // A key that only begins as one the scan takes, or a type that only begins as
            // `input`: the scan compares each whole.
            (
                r#"{"type":"input","data":{"matchIdx":"m_1","seq":1,"axis":0}}"#,
                false,
            ),
            (
                r#"{"typeX":"input","data":{"matchId":"m_1","seq":1,"axis":0}}"#,
                false,
            ),
            (
                r#"{"type":"inputs","data":{"matchId":"m_1","seq":1,"axis":0}}"#,
                false,
            ),
            // Another type, a missing field, trailing bytes, an array.
            (
                r#"{"type":"chat.send","data":{"matchId":"m_1","seq":1,"axis":0}}"#,
                false,
            ),
            (
                r#"{"type":"input","data":{"matchId":"m_1","axis":0}}"#,
                false,
            ),
            (
                r#"{"type":"input","data":{"matchId":"m_1","seq":1,"axis":0}} x"#,
                false,
            ),
            (r#"["input",{"matchId":"m_1","seq":1,"axis":0}]"#, false),
        ] {
            assert_eq!(json::read(text).map(flat), None, "{text}");
            assert_eq!(
                decode_input(Payload::Json(text)).is_some(),
                serde_takes_it,
                "{text}"
            );
        }
    }

    /// Numbers as clients and encoders write them: integers, short decimals, the 17 digits
    /// of a JavaScript double, serde's `f32`s and `f64`s (exponents too), and extremes.
    fn json_number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(|n| json!(n)),
            any::<i8>().prop_map(|n| json!(n)),
            (-800i32..800).prop_map(|n| json!(f64::from(n) / 8.0)),
            (-1.0f64..1.0).prop_map(|f| json!(f)),
            (-2.0f32..2.0).prop_map(|f| json!(f)),
            any::<f32>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Wherever the scan reads a frame, serde reads the same values from it; and the
        /// frames it leaves are serde's to answer, as before. (Most cases are valid inputs, so
        /// that the scan's reading is what is compared.)
        #[test]
        fn the_scan_agrees_with_serde(
            kind in prop_oneof![6 => Just("input".to_string()), 1 => "[a-z.]{0,8}"],
            match_id in prop_oneof![
                4 => any::<u64>().prop_map(|id| json!(format!("m_{id:x}"))),
                2 => "[m_0-9a-fA-F+é\"\\\\]{0,10}".prop_map(|id| json!(id)),
                1 => Just(json!(7)),
            ],
            seq in prop_oneof![
                6 => any::<u64>().prop_map(|n| json!(n)),
                2 => json_number(),
                1 => Just(json!("7")),
                1 => Just(json!(null)),
            ],
            axis in prop_oneof![
                12 => json_number().prop_map(Some),
                1 => Just(None),
                1 => Just(Some(json!(true))),
            ],
            launch in proptest::option::of(prop_oneof![
                6 => any::<bool>().prop_map(|b| json!(b)),
                1 => Just(json!(1)),
            ]),
            data_extra in proptest::bool::weighted(0.1),
            request_id in proptest::option::of(prop_oneof![
                "[a-z0-9é\"\\\\]{0,6}".prop_map(|id| json!(id)),
                any::<u32>().prop_map(|id| json!(id)),
                Just(json!(null)),
                Just(json!(false)),
            ]),
            envelope_extra in proptest::bool::weighted(0.1),
        ) {
            let envelope = codec::test_envelope(
                &kind,
                json!({"matchId": match_id, "seq": seq}),
                axis,
                launch,
                data_extra,
                request_id,
                envelope_extra,
            );
            for (codec, bytes) in encodings(&envelope) {
                let payload = payload(codec, &bytes);
                if let Some(read) = scanned(payload) {
                    prop_assert_eq!(Some(read), by_serde(payload));
                }
            }
        }

        /// The eight-at-a-time scan stops where a byte-by-byte scan stops.
        #[test]
        fn a_plain_run_ends_where_a_byte_by_byte_scan_ends(
            bytes in proptest::collection::vec(prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
                2 => 0x7fu8..=0xff,
            ], 0..40),
        ) {
            let expected = bytes
                .iter()
                .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
                .unwrap_or(bytes.len());
            prop_assert_eq!(json::plain_run(&bytes), expected);
        }

        /// The scan never panics, whatever the bytes.
        #[test]
        fn arbitrary_bytes_never_panic_the_scan(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = scanned(Payload::Json(&text));
            let _ = scanned(Payload::Msgpack(&bytes));
        }
    }
}
