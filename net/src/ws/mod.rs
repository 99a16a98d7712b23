//! The WebSocket transport (tokio threads): `GET /ws` upgrades into a [`session`], whose writer
//! drains the connection's `Outbox` (`crate::outbox`) and which registers in the `crate::hub`;
//! [`limits`] are the per-connection sliding windows.

pub mod limits;
pub mod session;
use axum::extract::WebSocketUpgrade;
use axum::response::Response;

use crate::limits::ConnectionSlot;
use crate::state::AppState;
use session::{ConnectParams, MAX_MESSAGE_BYTES};

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

/// Completes a `/ws` upgrade (the route, which reads the query, is `http`'s) with this
/// transport's buffer sizes and limits, and runs the connection.
/// `slot` (the address's connection slot) is held until the connection ends.
pub fn upgrade(
    upgrade: WebSocketUpgrade,
    state: AppState,
    params: ConnectParams,
    slot: ConnectionSlot,
) -> Response {
    upgrade
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(WS_WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            session::run(socket, state, params).await;
            drop(slot);
        })
}
