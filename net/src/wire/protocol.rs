//! Every WebSocket message shape, inbound and outbound (any thread; no IO).
//!
//! The messages of PROTOCOL.md "WebSocket": what each inbound `type` carries in `data`, and the

use std::borrow::Cow;

use arcade_systems::model::{Game, MatchId, MatchOptions, Mode, PlayerId};
use serde::{Deserialize, Deserializer, Serialize};

use crate::wire::codec::RequestId;

/// The protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// An outbound envelope: `{"type", "data"?, "requestId"?}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a RequestId>,
}

impl<'a, T: Serialize> Envelope<'a, T> {
    pub fn event(kind: &'a str, data: T) -> Self {
        Envelope {
            kind,
            data: Some(data),
            request_id: None,
        }
    }

    pub fn reply(kind: &'a str, data: T, request_id: Option<&'a RequestId>) -> Self {
        Envelope {
            kind,
            data: Some(data),
            request_id,
        }
    }
}

/// An `ack` with no data.
pub fn bare_ack(request_id: Option<&RequestId>) -> Envelope<'_, ()> {
    Envelope {
        kind: "ack",
        data: None,
        request_id,
    }
}

/// The error codes of PROTOCOL.md "Replies".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    TooLarge,
    Unsupported,
    Internal,
    /// A dependency is away or the instance is draining: try again (elsewhere).
    Unavailable,
}

/// The `data` of an `error`.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorData {
    pub code: ErrorCode,
    pub message: String,
}

pub fn error<'a>(
    code: ErrorCode,
    message: impl Into<String>,
    request_id: Option<&'a RequestId>,
) -> Envelope<'a, ErrorData> {
    Envelope::reply(
        "error",
        ErrorData {
            code,
            message: message.into(),
        },
        request_id,
    )
}

/// A player as the wire shows one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlayerInfo {
    pub id: PlayerId,
    pub name: String,
    pub guest: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello<'a> {
    pub protocol: u32,
    pub player: &'a PlayerInfo,
    pub token: &'a str,
    pub tick_rate: u32,
    pub server_time: i64,
    /// `player`, `moderator` or `admin` (issue 14); `role.changed` tells of a change.
    pub role: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pong {
    pub server_time: i64,
    pub tick: u64,
}

/// `ws.ping`'s data: none (absent, `null` or `{}`); anything else is `bad_request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingData {}

/// `chat.message` from a client.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSend {
    pub text: String,
    #[serde(default)]
    pub channel: Option<String>,
}

/// `chat.message` to the members of a channel.
#[derive(Serialize)]
pub struct ChatEvent<'a> {
    pub from: ChatFrom<'a>,
    pub channel: &'a str,
    pub text: &'a str,
    pub at: &'a str,
}

#[derive(Serialize)]
pub struct ChatFrom<'a> {
    pub id: PlayerId,
    pub name: &'a str,
}

/// The most characters a chat message may carry.
pub const CHAT_MAX_CHARS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    pub token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchCreate {
    pub game: Game,
    pub mode: Mode,
    #[serde(default)]
    pub options: Option<MatchOptions>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "snake_case")]
pub enum JoinAs {
    #[default]
    Player,
    Spectator,
}

/// `match.join` from a client (Serialize too: a cluster forwards it to the match's owner).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchJoin {
    #[serde(default, deserialize_with = "opaque_match_id_or_none")]
    pub match_id: Option<MatchId>,
    #[serde(default)]
    pub join_code: Option<String>,
    #[serde(default, rename = "as")]
    pub join_as: JoinAs,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchLeave {
    #[serde(deserialize_with = "opaque_match_id")]
    pub match_id: MatchId,
}

/// `state.resync`: a compact client whose chain broke asks for a keyframe.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateResync {
    #[serde(deserialize_with = "opaque_match_id")]
    pub match_id: MatchId,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MatchList {
    #[serde(default)]
    pub game: Option<Game>,
}

/// `input` from a client (Serialize too: a cluster forwards it to the match's owner).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    #[serde(deserialize_with = "opaque_match_id")]
    pub match_id: MatchId,
    pub seq: u64,
    pub axis: f32,
    #[serde(default)]
    pub launch: bool,
}

/// `queue.join` from a client.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueJoin {
    pub game: Game,
    pub mode: Mode,
}

/// `queue.leave` from a client (no fields).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueLeave {}

/// `match.invite` from a client.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchInvite {
    #[serde(deserialize_with = "opaque_match_id")]
    pub match_id: MatchId,
    #[serde(deserialize_with = "opaque_player_id")]
    pub player_id: PlayerId,
}

/// What an id that names nothing reads as: outside the 53-bit space ids are drawn from
/// (`arcade_systems::model::ID_BITS_MASK`), so no match or player has it.
pub const NOWHERE: u64 = u64::MAX;

/// Reads an id as the opaque string it is to clients (PROTOCOL.md "Ids"): a string that is not
/// an id this server issues names nothing (`not_found` downstream, like any unknown id); only
/// a value that is not a string is malformed (`bad_request`).
pub fn opaque_id<T: std::str::FromStr>(text: &str, nowhere: T) -> T {
    text.parse().unwrap_or(nowhere)
}

fn opaque_match_id<'de, D: Deserializer<'de>>(de: D) -> Result<MatchId, D::Error> {
    read_str(de, |text| opaque_id(text, MatchId(NOWHERE)))
}

/// Reads a string (as `String` would: text, or bytes that are UTF-8) and hands it to `then`
/// without keeping a copy: an `input`'s `matchId` costs no allocation.
fn read_str<'de, D: Deserializer<'de>, R>(
    de: D,
    then: impl FnOnce(&str) -> R,
) -> Result<R, D::Error> {
    struct Text<F>(F);
    impl<F: FnOnce(&str) -> R, R> serde::de::Visitor<'_> for Text<F> {
        type Value = R;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<R, E> {
            Ok((self.0)(text))
        }
        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<R, E> {
            match std::str::from_utf8(bytes) {
                Ok(text) => Ok((self.0)(text)),
                Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(bytes), &self)),
            }
        }
    }
    de.deserialize_string(Text(then))
}

fn opaque_match_id_or_none<'de, D: Deserializer<'de>>(de: D) -> Result<Option<MatchId>, D::Error> {
    let text = Option::<Cow<str>>::deserialize(de)?;
    Ok(text.map(|text| opaque_id(&text, MatchId(NOWHERE))))
}

fn opaque_player_id<'de, D: Deserializer<'de>>(de: D) -> Result<PlayerId, D::Error> {
    read_str(de, |text| opaque_id(text, PlayerId(NOWHERE)))
}

/// `tournament.watch` and `tournament.unwatch` (issue 13): the tournament whose
/// `tournament.update` the connection hears (or stops hearing).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TournamentWatch {
    #[serde(deserialize_with = "opaque_tournament_id")]
    pub tournament_id: arcade_systems::model::TournamentId,
}

fn opaque_tournament_id<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<arcade_systems::model::TournamentId, D::Error> {
    read_str(de, |text| {
        opaque_id(text, arcade_systems::model::TournamentId(NOWHERE))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The ids read without a copy: a string (escaped or not, or MessagePack bytes that are
    /// UTF-8) is parsed, an id nobody has reads as nowhere, anything else is refused.
    #[test]
    fn ids_are_read_from_strings_and_only_from_strings() {
        let input = |match_id: serde_json::Value| {
            serde_json::from_value::<Input>(json!({"matchId": match_id, "seq": 1, "axis": 0.0}))
        };
        let id = MatchId(0x2a).to_string();
        assert_eq!(input(json!(id)).unwrap().match_id, MatchId(0x2a));
        let escaped = format!(r#"{{"matchId":"\u006d{}","seq":1,"axis":0}}"#, &id[1..]);
        let escaped: Input = serde_json::from_str(&escaped).unwrap();
        assert_eq!(escaped.match_id, MatchId(0x2a));
        assert_eq!(input(json!("m_nobody")).unwrap().match_id, MatchId(NOWHERE));
        for refused in [json!(7), json!({}), json!(null), json!(["m"])] {
            let error = input(refused.clone()).err().unwrap().to_string();
            assert!(error.contains("expected a string"), "{refused}: {error}");
        }

        // `{"tournamentId": <bin id>}` in MessagePack: a map of 1, a str key, a bin 8 value.
        let bytes = |id: &[u8]| {
            let mut frame = vec![0x81, 0xa0 | 12];
            frame.extend_from_slice(b"tournamentId");
            frame.extend_from_slice(&[0xc4, id.len() as u8]);
            frame.extend_from_slice(id);
            rmp_serde::from_slice::<TournamentWatch>(&frame)
        };
        let tournament = arcade_systems::model::TournamentId(3).to_string();
        let watch = bytes(tournament.as_bytes()).unwrap();
        assert_eq!(watch.tournament_id, arcade_systems::model::TournamentId(3));
        assert!(bytes(&[0xff, 0xfe]).is_err(), "bytes that are not UTF-8");
    }
}
