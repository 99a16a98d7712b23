//! The frames the load clients read and write: the codec, and the few fields of a server frame
//! the clients need, decoded borrowing from the frame. Runs on the generator's runtime threads.

use std::borrow::Cow;

use arcade_systems::compact::{DELTA_TAG, Decoded, Decoder, KEYFRAME_TAG};
use arcade_systems::components::MAX_SEATS;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use tokio_tungstenite::tungstenite::Message;

/// The bytes at the start of a frame searched for its `type` (the server writes it first).
const TYPE_HEAD: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Codec {
    Json,
    Msgpack,
    /// `?codec=compact`: MessagePack envelopes, compact `state` frames.
    Compact,
}

impl Codec {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Msgpack => "msgpack",
            Codec::Compact => "compact",
        }
    }

    pub(super) fn encode(self, value: &serde_json::Value) -> Message {
        match self {
            Codec::Json => Message::Text(value.to_string().into()),
            Codec::Msgpack | Codec::Compact => Message::Binary(
                rmp_serde::to_vec_named(value)
                    .expect("a JSON value encodes")
                    .into(),
            ),
        }
    }
}

/// The fields of a server frame the clients read.
#[derive(Deserialize)]
pub(super) struct Incoming<'a> {
    /// The envelope's `type`.
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
    /// The envelope's `data`, when there is one.
    #[serde(default, borrow)]
    pub(super) data: Option<Data<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Data<'a> {
    /// `matchId` (an `ack` of `match.create`, `match.start`).
    #[serde(default, borrow)]
    pub(super) match_id: Option<Cow<'a, str>>,
    /// The player's seat (`match.start`).
    #[serde(default, borrow)]
    pub(super) seat: Option<Cow<'a, str>>,
    /// The player (`hello`): an object with an `id`, or the id.
    #[serde(default, borrow)]
    pub(super) player: Option<PlayerField<'a>>,
    /// The server's tick rate (`hello`).
    #[serde(default)]
    pub(super) tick_rate: Option<u64>,
    /// The last input `seq` applied per player (`state`).
    #[serde(default, borrow)]
    pub(super) acks: Option<Acks<'a>>,
    /// The Pong field (`state`).
    #[serde(default, borrow)]
    pub(super) pong: Option<PongState<'a>>,
    /// The live matches (an `ack` of `match.list`).
    #[serde(default, borrow)]
    pub(super) matches: Option<Vec<Listed<'a>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum PlayerField<'a> {
    Info {
        #[serde(borrow)]
        id: Cow<'a, str>,
    },
    Id(#[serde(borrow)] Cow<'a, str>),
}

#[derive(Deserialize)]
pub(super) struct Listed<'a> {
    /// The match id.
    #[serde(borrow)]
    pub(super) id: Cow<'a, str>,
}

#[derive(Deserialize)]
pub(super) struct PongState<'a> {
    /// The ball.
    pub(super) ball: BallState,
    /// Every paddle, with its seat.
    #[serde(borrow)]
    pub(super) paddles: Vec<PaddleState<'a>>,
}

#[derive(Deserialize)]
pub(super) struct BallState {
    /// Height of the ball's centre.
    pub(super) y: f32,
    /// Horizontal speed: negative toward the left side.
    pub(super) vx: f32,
}

#[derive(Deserialize)]
pub(super) struct PaddleState<'a> {
    /// The seat that moves the paddle.
    #[serde(borrow)]
    pub(super) seat: Cow<'a, str>,
    /// Height of the paddle's centre.
    pub(super) y: f32,
}

/// The `acks` map, kept without allocating for the few entries a match has.
#[derive(Default)]
pub(super) struct Acks<'a> {
    /// `(player id, seq)`, the first [`MAX_SEATS`] entries.
    entries: [Option<(Cow<'a, str>, u64)>; MAX_SEATS],
}

impl<'a> Acks<'a> {
    pub(super) fn of(&self, player: &str) -> Option<u64> {
        self.entries
            .iter()
            .flatten()
            .find(|(id, _)| id == player)
            .map(|(_, seq)| *seq)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Acks<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct AcksVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for AcksVisitor<'a> {
            type Value = Acks<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of player ids to seqs")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Acks<'a>, M::Error> {
                let mut acks = Acks::default();
                let mut at = 0;
                while let Some((id, seq)) = map.next_entry::<Cow<'de, str>, u64>()? {
                    if at < acks.entries.len() {
                        acks.entries[at] = Some((id, seq));
                        at += 1;
                    }
                }
                Ok(acks)
            }
        }
        de.deserialize_map(AcksVisitor(std::marker::PhantomData))
    }
}

pub(super) fn decode(payload: &[u8], codec: Codec) -> Option<Incoming<'_>> {
    match codec {
        Codec::Json => serde_json::from_slice(payload).ok(),
        Codec::Msgpack | Codec::Compact => rmp_serde::from_slice(payload).ok(),
    }
}

/// Whether a binary frame is a compact `state` (a keyframe or a delta).
pub(super) fn is_compact(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(&(KEYFRAME_TAG | DELTA_TAG)))
}

/// A compact `state` frame applied to the client's `decoder`, written into `json` as the
/// `state` envelope it stands for (then read with [`decode`] as a JSON one). None when the
/// frame does not continue the chain.
pub(super) fn decode_compact(decoder: &mut Decoder, payload: &[u8], json: &mut Vec<u8>) -> bool {
    let Ok(Decoded::Applied(id)) = decoder.decode(payload) else {
        return false;
    };
    let Some(snapshot) = decoder.state(id) else {
        return false;
    };
    json.clear();
    json.extend_from_slice(br#"{"type":"state","data":"#);
    let written = serde_json::to_writer(&mut *json, snapshot).is_ok();
    json.push(b'}');
    written
}

/// Whether a frame is a `state` (without decoding it): the server writes `type` first.
pub(super) fn is_state(payload: &[u8]) -> bool {
    let head = &payload[..payload.len().min(TYPE_HEAD)];
    is_compact(payload) || head.windows(5).any(|w| w == b"state")
}

pub(super) fn payload(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}
