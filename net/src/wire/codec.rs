//! Envelopes to frames and back, JSON and MessagePack (any thread; no IO).
//!
//! The two encodings of the envelope (PROTOCOL.md "Frames and codecs"): JSON in text frames,
//! MessagePack (maps with string keys) in binary frames. This module turns a received
//! [`Payload`] into an [`Inbound`] envelope and any `Serialize` value into a [`Frame`]; it knows
//! nothing of what the messages mean.

use std::borrow::Cow;

use bytes::Bytes;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a connection's frames are encoded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Codec {
    Json,
    Msgpack,
}

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::Json, Codec::Msgpack];

    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Msgpack => "msgpack",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(name: &str) -> Option<Codec> {
        match name {
            "json" => Some(Codec::Json),
            "msgpack" => Some(Codec::Msgpack),
            _ => None,
        }
    }

    /// Encodes `value` into `buf` (cleared first) and returns the frame. The buffer is the
    /// caller's to reuse; the frame owns a copy, so it can be shared by many connections.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T, buf: &mut Vec<u8>) -> Frame {
        buf.clear();
        match self {
            Codec::Json => {
                serde_json::to_writer(&mut *buf, value).expect("outbound messages serialize");
                Frame::Text(TextBytes::written(Bytes::copy_from_slice(buf)))
            }
            Codec::Msgpack => {
                rmp_serde::encode::write_named(buf, value).expect("outbound messages serialize");
                Frame::Binary(Bytes::copy_from_slice(buf))
            }
        }
    }

    /// Encodes a one-off frame.
    pub fn encode_once<T: Serialize + ?Sized>(self, value: &T) -> Frame {
        self.encode(value, &mut Vec::with_capacity(128))
    }
}

/// The payload of a text frame: UTF-8, shared. Encoders' output (serde_json,
/// `view::StateJson`) is taken as it is ([`TextBytes::written`]); bytes from elsewhere (the
/// cluster's relay) are checked ([`TextBytes::from_utf8`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextBytes(Bytes);

impl TextBytes {
    /// Bytes an encoder wrote, which are UTF-8 by construction (checked in debug builds).
    pub fn written(bytes: Bytes) -> TextBytes {
        debug_assert!(
            std::str::from_utf8(&bytes).is_ok(),
            "an encoder wrote UTF-8"
        );
        TextBytes(bytes)
    }

    /// Bytes from outside: `None` unless they are UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Option<TextBytes> {
        std::str::from_utf8(&bytes)
            .is_ok()
            .then_some(TextBytes(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text (checked again: for tests and logs, not the hot path).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("text frames are UTF-8")
    }

    /// The shared bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&'static str> for TextBytes {
    fn from(text: &'static str) -> TextBytes {
        TextBytes(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for TextBytes {
    fn from(text: String) -> TextBytes {
        TextBytes(Bytes::from(text))
    }
}

/// One outbound WebSocket frame. Cloning shares the bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// An envelope in JSON.
    Text(TextBytes),
    /// An envelope in MessagePack.
    Binary(Bytes),
    /// A heartbeat ping (no envelope).
    Ping,
}

impl Frame {
    /// The codec of an envelope frame.
    pub fn codec(&self) -> Option<Codec> {
        match self {
            Frame::Text(_) => Some(Codec::Json),
            Frame::Binary(_) => Some(Codec::Msgpack),
            Frame::Ping => None,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
            Frame::Ping => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The head of an inbound envelope `{"type", "data"?, "requestId"?}`: what it is and how to
/// answer it. `data` is skipped here (nothing is built from it) and decoded into its own type
/// with [`decode_data`] once the type is known.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbound<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, rename = "data")]
    _data: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "request_id")]
    pub request_id: Option<RequestId>,
}

/// The `data` of an envelope, decoded straight into its type.
#[derive(Deserialize)]
struct DataOf<T> {
    #[serde(default = "none")]
    data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

/// The client's `requestId`, echoed back as it came: a string (or, leniently, a number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Text(String),
    Number(serde_json::Number),
}

fn request_id<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<RequestId>, D::Error> {
    match Option::<Value>::deserialize(de)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(RequestId::Text(text))),
        Some(Value::Number(number)) => Ok(Some(RequestId::Number(number))),
        Some(_) => Err(serde::de::Error::custom("requestId must be a string")),
    }
}

/// Why an inbound frame is not an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

/// Decodes the head of a frame. Never panics, whatever the bytes.
pub fn decode(payload: Payload<'_>) -> Result<Inbound<'_>, DecodeError> {
    let codec = payload.codec().as_str();
    // A struct also decodes from an array (`["ws.ping"]`), which is not an envelope.
    if !starts_a_map(payload) {
        return Err(DecodeError(format!(
            "not a {codec} envelope: an envelope is an object with a string \"type\""
        )));
    }
    let envelope = match payload {
        Payload::Json(text) => serde_json::from_str::<Inbound>(text).map_err(|e| e.to_string()),
        Payload::Msgpack(bytes) => {
            rmp_serde::from_slice::<Inbound>(bytes).map_err(|e| e.to_string())
        }
    };
    envelope.map_err(|reason| DecodeError(format!("not a {codec} envelope: {reason}")))
}

/// Whether the payload begins an object (JSON `{`, after whitespace) or a map (MessagePack
/// fixmap, map 16, map 32).
fn starts_a_map(payload: Payload<'_>) -> bool {
    match payload {
        Payload::Json(text) => text.trim_ascii_start().starts_with('{'),
        Payload::Msgpack(bytes) => matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf)),
    }
}

/// A whole envelope whose `data` is a `T`, read in one pass ([`decode_whole`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Whole<'a, T> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    data: T,
    #[serde(default, deserialize_with = "request_id")]
    request_id: Option<RequestId>,
}

/// A received frame's payload as the frame reader hands it over, what every decoder here reads:
/// a text frame's JSON, whose UTF-8 the reader has checked (so serde_json reads its strings
/// without checking them again), or a binary frame's MessagePack.
#[derive(Clone, Copy, Debug)]
pub enum Payload<'a> {
    Json(&'a str),
    Msgpack(&'a [u8]),
}

impl<'a> Payload<'a> {
    pub fn codec(self) -> Codec {
        match self {
            Payload::Json(_) => Codec::Json,
            Payload::Msgpack(_) => Codec::Msgpack,
        }
    }

    /// Its size in bytes.
    pub fn byte_len(self) -> usize {
        match self {
            Payload::Json(text) => text.len(),
            Payload::Msgpack(bytes) => bytes.len(),
        }
    }
}

/// The envelope of type `kind`, its `data` decoded into `T` in the same pass as its head: for
/// the message clients send most (`input`, up to 60 a second each). `None` when the frame is of
/// another type or does not decode as one; the caller then takes the general path
/// ([`decode`], then [`decode_data`]), which answers such a frame as it always did. Where this
/// decodes, the general path decodes the same type, data and request id.
pub fn decode_whole<T: DeserializeOwned>(
    kind: &str,
    payload: Payload<'_>,
) -> Option<(T, Option<RequestId>)> {
    if !starts_a_map(payload) {
        return None;
    }
    let whole = match payload {
        Payload::Json(text) => serde_json::from_str::<Whole<T>>(text).ok()?,
        Payload::Msgpack(bytes) => rmp_serde::from_slice::<Whole<T>>(bytes).ok()?,
    };
    (whole.kind == kind).then_some((whole.data, whole.request_id))
}

/// Decodes the `data` of a frame (whose head [`decode`] read) into `T`; a missing or null
/// `data` reads as `{}`. Never panics, whatever the bytes.
pub fn decode_data<T: DeserializeOwned>(payload: Payload<'_>) -> Result<T, DecodeError> {
    let data = match payload {
        Payload::Json(text) => serde_json::from_str::<DataOf<T>>(text).map_err(|e| e.to_string()),
        Payload::Msgpack(bytes) => {
            rmp_serde::from_slice::<DataOf<T>>(bytes).map_err(|e| e.to_string())
        }
    };
    match data {
        Ok(DataOf { data: Some(data) }) => Ok(data),
        Ok(DataOf { data: None }) => serde_json::from_slice::<T>(b"{}").map_err(|e| e.to_string()),
        Err(reason) => Err(reason),
    }
    .map_err(|reason| DecodeError(format!("invalid data: {reason}")))
}

/// A frame's payload as the frame reader hands it over (JSON as checked text), for tests.
#[cfg(test)]
pub(crate) fn test_payload(codec: Codec, bytes: &[u8]) -> Payload<'_> {
    match codec {
        Codec::Json => Payload::Json(std::str::from_utf8(bytes).expect("JSON is UTF-8")),
        Codec::Msgpack => Payload::Msgpack(bytes),
    }
}

/// An `input`-like envelope for the decoders' property tests: `data` with the optional
/// `axis` and `launch`, an unknown key in `data` and in the envelope when asked.
#[cfg(test)]
pub(crate) fn test_envelope(
    kind: &str,
    mut data: Value,
    axis: Option<Value>,
    launch: Option<Value>,
    data_extra: bool,
    request_id: Option<Value>,
    envelope_extra: bool,
) -> Value {
    if let Some(axis) = axis {
        data["axis"] = axis;
    }
    if let Some(launch) = launch {
        data["launch"] = launch;
    }
    if data_extra {
        data["other"] = serde_json::json!(1);
    }
    let mut envelope = serde_json::json!({"type": kind, "data": data});
    if let Some(request_id) = request_id {
        envelope["requestId"] = request_id;
    }
    if envelope_extra {
        envelope["other"] = serde_json::json!([1, 2]);
    }
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;
    use serde_json::json;

    use super::test_payload as payload;

    #[test]
    fn json_and_msgpack_decode_to_the_same_envelope() {
        let value = json!({"type": "ws.ping", "requestId": "7", "data": {"a": [1, 2]}});
        let json_bytes = serde_json::to_vec(&value).unwrap();
        let msgpack_bytes = rmp_serde::to_vec_named(&value).unwrap();
        let from_json = decode(payload(Codec::Json, &json_bytes)).unwrap();
        let from_msgpack = decode(payload(Codec::Msgpack, &msgpack_bytes)).unwrap();
        assert_eq!(from_json, from_msgpack);
        assert_eq!(from_json.kind, "ws.ping");
        #[derive(Deserialize, Debug, PartialEq)]
        struct Sample {
            a: Vec<u8>,
        }
        let expected = Sample { a: vec![1, 2] };
        assert_eq!(
            decode_data::<Sample>(payload(Codec::Json, &json_bytes)).unwrap(),
            expected
        );
        assert_eq!(
            decode_data::<Sample>(payload(Codec::Msgpack, &msgpack_bytes)).unwrap(),
            expected
        );
        assert_eq!(from_json.request_id, Some(RequestId::Text("7".into())));
    }

    #[test]
    fn data_decodes_into_its_type_in_both_codecs_and_missing_data_is_empty() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Move {
            seq: u64,
            axis: f32,
            #[serde(default)]
            launch: bool,
        }
        // MessagePack encoders write 1.0 as the integer 1: it still reads as a float.
        let value = json!({"type": "input", "data": {"seq": 3, "axis": 1}});
        let expected = Move {
            seq: 3,
            axis: 1.0,
            launch: false,
        };
        let bytes = rmp_serde::to_vec_named(&value).unwrap();
        assert_eq!(
            decode_data::<Move>(payload(Codec::Msgpack, &bytes)).unwrap(),
            expected
        );
        let bytes = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            decode_data::<Move>(payload(Codec::Json, &bytes)).unwrap(),
            expected
        );
        #[derive(Deserialize, Debug, PartialEq, Default)]
        struct Nothing {}
        assert_eq!(
            decode_data::<Nothing>(payload(Codec::Json, br#"{"type":"x"}"#)).unwrap(),
            Nothing {}
        );
        let wrong = br#"{"type":"input","data":{"seq":"x","axis":0}}"#;
        assert!(decode_data::<Move>(payload(Codec::Json, wrong)).is_err());
    }

    #[test]
    fn garbage_and_non_envelopes_are_errors() {
        assert!(decode(payload(Codec::Json, b"hello")).is_err());
        assert!(decode(payload(Codec::Json, b"{\"data\": {}}")).is_err());
        assert!(decode(payload(Codec::Json, b"[1,2]")).is_err());
        // Parses, and a struct would decode from it, but it is not an envelope.
        assert!(decode(payload(Codec::Json, br#"["ws.ping"]"#)).is_err());
        assert!(decode(payload(Codec::Json, br#" "ws.ping""#)).is_err());
        let array = rmp_serde::to_vec(&("ws.ping",)).unwrap();
        assert!(decode(payload(Codec::Msgpack, &array)).is_err());
        let map = rmp_serde::to_vec_named(&json!({"type": "ws.ping"})).unwrap();
        assert!(decode(payload(Codec::Msgpack, &map)).is_ok());
        assert!(
            decode(payload(
                Codec::Json,
                b"{\"type\": \"x\", \"requestId\": {}}"
            ))
            .is_err()
        );
        assert!(decode(payload(Codec::Msgpack, &[0xc1, 0xff, 0x00])).is_err());
        assert!(decode(payload(Codec::Msgpack, b"")).is_err());
    }

    #[test]
    fn encoding_writes_maps_with_string_keys() {
        #[derive(Serialize)]
        struct Sample {
            kind: &'static str,
        }
        let frame = Codec::Msgpack.encode_once(&Sample { kind: "x" });
        let Frame::Binary(bytes) = frame else {
            panic!("msgpack is binary")
        };
        let back: Value = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, json!({"kind": "x"}));
        let Frame::Text(text) = Codec::Json.encode_once(&Sample { kind: "x" }) else {
            panic!("json is text")
        };
        assert_eq!(text.as_str(), r#"{"kind":"x"}"#);
    }

    /// An `input`-like data for [`decode_whole`]'s tests.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Move {
        seq: u64,
        axis: f32,
        #[serde(default)]
        launch: bool,
    }

    #[test]
    fn a_whole_envelope_decodes_in_one_pass_and_anything_else_is_left_to_the_general_path() {
        let input = json!({"type": "input", "data": {"seq": 7, "axis": -0.5}, "requestId": "r"});
        for (codec, bytes) in [
            (Codec::Json, serde_json::to_vec(&input).unwrap()),
            (Codec::Msgpack, rmp_serde::to_vec_named(&input).unwrap()),
        ] {
            let (data, request_id) = decode_whole::<Move>("input", payload(codec, &bytes)).unwrap();
            let expected = Move {
                seq: 7,
                axis: -0.5,
                launch: false,
            };
            assert_eq!(data, expected);
            assert_eq!(request_id, Some(RequestId::Text("r".into())));
            assert!(decode_whole::<Move>("chat.message", payload(codec, &bytes)).is_none());
        }
        for other in [
            json!({"type": "input", "data": {"seq": 7}}),
            json!({"type": "input", "data": null}),
            json!({"type": "input"}),
            json!(["input", {"seq": 7, "axis": 0.0}]),
            json!({"type": "input", "data": {"seq": 7, "axis": 0.0}, "requestId": true}),
        ] {
            let bytes = serde_json::to_vec(&other).unwrap();
            assert!(
                decode_whole::<Move>("input", payload(Codec::Json, &bytes)).is_none(),
                "{other}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// The one-pass decoder takes a frame exactly when the general path (head, then data)
        /// reads it as that type with valid data, and reads the same values.
        #[test]
        fn decoding_in_one_pass_agrees_with_the_general_path(
            kind in proptest::prop_oneof![
                proptest::strategy::Just("input".to_string()),
                "[a-z.]{0,8}",
            ],
            seq in proptest::prop_oneof![
                proptest::prelude::any::<u64>().prop_map(|seq| json!(seq)),
                proptest::prelude::any::<i8>().prop_map(|seq| json!(seq)),
                proptest::strategy::Just(json!("7")),
            ],
            axis in proptest::option::of(-2.0f32..2.0),
            launch in proptest::option::of(proptest::prop_oneof![
                proptest::prelude::any::<bool>().prop_map(|launch| json!(launch)),
                proptest::strategy::Just(json!(1)),
            ]),
            data_extra in proptest::prelude::any::<bool>(),
            request_id in proptest::option::of(proptest::prop_oneof![
                // Escapes and multi-byte characters: the JSON text is read as checked UTF-8.
                "[a-z0-9é\"\\\\]{0,6}".prop_map(|id| json!(id)),
                proptest::prelude::any::<u32>().prop_map(|id| json!(id)),
                proptest::strategy::Just(json!(null)),
                proptest::strategy::Just(json!(false)),
            ]),
            envelope_extra in proptest::prelude::any::<bool>(),
        ) {
            let envelope = test_envelope(
                &kind,
                json!({"seq": seq}),
                axis.map(|axis| json!(axis)),
                launch,
                data_extra,
                request_id,
                envelope_extra,
            );
            for (codec, bytes) in [
                (Codec::Json, serde_json::to_vec(&envelope).unwrap()),
                (Codec::Msgpack, rmp_serde::to_vec_named(&envelope).unwrap()),
            ] {
                let general = decode(payload(codec, &bytes)).ok().and_then(|head| {
                    let data = decode_data::<Move>(payload(codec, &bytes)).ok()?;
                    (head.kind == "input").then_some((data, head.request_id))
                });
                proptest::prop_assert_eq!(
                    decode_whole::<Move>("input", payload(codec, &bytes)),
                    general
                );
            }
        }

        /// The decoders never panic, whatever the bytes, in either codec: the one-pass decoder
        /// of inputs reads every frame a client sends first.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            for payload in [Payload::Json(&text), Payload::Msgpack(&bytes)] {
                let _ = decode(payload);
                let _ = decode_whole::<Move>("input", payload);
                let _ = decode_data::<Move>(payload);
            }
        }

        /// Envelope-shaped input with arbitrary values never panics either.
        #[test]
        fn arbitrary_envelopes_never_panic(
            kind in "[a-z.]{0,12}",
            number in proptest::prelude::any::<i64>(),
            text in ".{0,40}",
            nested in 0usize..64,
        ) {
            let mut data = json!({"text": text, "n": number});
            for _ in 0..nested {
                data = json!([data]);
            }
            let value = json!({"type": kind, "data": data, "requestId": number});
            let json_bytes = serde_json::to_vec(&value).unwrap();
            let msgpack_bytes = rmp_serde::to_vec_named(&value).unwrap();
            proptest::prop_assert!(decode(payload(Codec::Json, &json_bytes)).is_ok());
            proptest::prop_assert!(decode(payload(Codec::Msgpack, &msgpack_bytes)).is_ok());
        }
    }
}
