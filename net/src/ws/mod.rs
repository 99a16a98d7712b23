//! The WebSocket transport (tokio threads): `GET /ws` upgrades into a [`session`], whose writer
//! drains the connection's [`outbox`]; the [`hub`] lists open connections; [`limits`] are the
//! per-connection sliding windows.

use crate::state::AppState;
pub mod hub;
pub mod limits;
pub mod outbox;
pub mod session;

use crate::http::error::ApiError;
use crate::wire::codec::Codec;
use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use session::{ConnectParams, MAX_MESSAGE_BYTES};

/// `GET /ws`, merged into the router by `http::router`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ws", get(websocket))
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
    codec: Option<String>,
}

/// A connection's WebSocket read buffer, allocated up front (tungstenite's default is 128 KiB,
/// which made an idle connection cost ~170 KiB; BENCHMARKS.md "Connections"). Client messages
/// are small (inputs, chat) and a larger one is still read, in more than one go.
const WS_READ_BUFFER_BYTES: usize = 4 * 1024;

/// Frames fed to the socket are written once this much is buffered (and at every flush); the
/// buffer grows only as needed.
const WS_WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// The most the write buffer may hold (the writer flushes after each batch, so it stays near
/// [`WS_WRITE_BUFFER_BYTES`] plus one frame).
const WS_MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

async fn websocket(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let codec = match query.codec.as_deref() {
        None | Some("") => None,
        Some(name) => Some(Codec::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!("codec must be json or msgpack, not {name:?}"))
        })?),
    };
    let params = ConnectParams {
        token: query.token.filter(|t| !t.is_empty()),
        codec,
    };
    Ok(upgrade
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(WS_WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session::run(socket, state, params)))
}
