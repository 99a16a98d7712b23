//! The messages of PROTOCOL.md "WebSocket": what each inbound `type` carries in `data`, and the

use serde::{Deserialize, Serialize};

use arcade_systems::model::{Game, MatchId, MatchOptions, Mode, PlayerId};

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
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pong {
    pub server_time: i64,
    pub tick: u64,
}

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

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "snake_case")]
pub enum JoinAs {
    #[default]
    Player,
    Spectator,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchJoin {
    #[serde(default)]
    pub match_id: Option<MatchId>,
    #[serde(default)]
    pub join_code: Option<String>,
    #[serde(default, rename = "as")]
    pub join_as: JoinAs,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchLeave {
    pub match_id: MatchId,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MatchList {
    #[serde(default)]
    pub game: Option<Game>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
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
    pub match_id: MatchId,
    pub player_id: PlayerId,
}
