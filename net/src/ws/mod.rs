//! The WebSocket transport (tokio threads): `GET /ws` upgrades (the handshake is checked and
//! answered here, RFC 6455 section 4.2) into a [`session`] that owns the TCP socket: its reader
//! parses [`frame`]s in place, its writer drains the connection's `Outbox` (`crate::outbox`)
//! with non-blocking writes, and it registers in the `crate::hub`; [`limits`] are the
//! per-connection sliding windows.

pub mod frame;
pub mod limits;
pub mod session;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto::upgrade::downcast;
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;
use tracing::debug;

use crate::http::error::ApiError;
use crate::http::guard::GuardedIo;
use crate::limits::ConnectionSlot;
use crate::state::AppState;
use session::ConnectParams;

/// A connection's read buffer, allocated up front (tungstenite's default of 128 KiB made an
/// idle connection cost ~170 KiB; BENCHMARKS.md "Connections"). Client messages are small
/// (inputs, chat); a larger one grows it, up to `MAX_MESSAGE_BYTES` and a frame head.
const WS_READ_BUFFER_BYTES: usize = 4 * 1024;

/// What RFC 6455 appends to the client's key before hashing it into the accept key.
const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Checks a `/ws` request is a WebSocket handshake (RFC 6455 section 4.2.1: `Upgrade:
/// websocket`, `Connection: upgrade`, `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key`) and
/// returns the `Sec-WebSocket-Accept` of its answer; 400 otherwise (the method is the route's:
/// only GET reaches it).
pub fn accept_key(headers: &HeaderMap) -> Result<HeaderValue, ApiError> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(ApiError::bad_request(
            "a WebSocket handshake needs `Connection: upgrade`",
        ));
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Err(ApiError::bad_request(
            "a WebSocket handshake needs `Upgrade: websocket`",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(ApiError::bad_request(
            "a WebSocket handshake needs `Sec-WebSocket-Version: 13`",
        ));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(ApiError::bad_request(
            "a WebSocket handshake needs a `Sec-WebSocket-Key`",
        ));
    };
    Ok(derive_accept_key(key.as_bytes()))
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64 of the SHA-1 of the key and the
/// GUID.
fn derive_accept_key(key: &[u8]) -> HeaderValue {
    let digest = Sha1::new()
        .chain_update(key)
        .chain_update(WS_GUID)
        .finalize();
    let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

/// Answers the handshake (101 with `accept`) and, once hyper hands the connection over, runs
/// it on its own socket. `slot` (the address's connection slot) is held until it ends.
pub fn upgrade(
    mut request: Request,
    accept: HeaderValue,
    state: AppState,
    params: ConnectParams,
    slot: ConnectionSlot,
) -> Response {
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "bad_request",
            "this connection cannot be upgraded",
        )
        .into_response();
    };
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => return debug!(%error, "the upgrade did not complete"),
        };
        let Some((socket, read, cap_slot)) = into_socket(upgraded) else {
            return tracing::error!("an upgraded connection is not a TCP socket");
        };
        session::run(socket, read, state, params).await;
        drop((slot, cap_slot));
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

/// The TCP socket under an upgraded connection, the bytes hyper read past the handshake, and
/// the connection's slot under the guard's cap (`crate::http::guard`).
fn into_socket(
    upgraded: hyper::upgrade::Upgraded,
) -> Option<(TcpStream, Bytes, Option<tokio::sync::OwnedSemaphorePermit>)> {
    match downcast::<TokioIo<GuardedIo>>(upgraded) {
        Ok(parts) => {
            let (socket, cap_slot) = parts.io.into_inner().into_parts();
            Some((socket, parts.read_buf, cap_slot))
        }
        // A plain listener's socket (an `axum::serve` without the guard).
        Err(upgraded) => downcast::<TokioIo<TcpStream>>(upgraded)
            .ok()
            .map(|parts| (parts.io.into_inner(), parts.read_buf, None)),
    }
}

/// What the tests of the transport share.
#[cfg(test)]
pub(crate) mod testing {
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpSocket, TcpStream};

    use crate::ws::frame::{Message, Reader};

    /// The smallest socket buffers asked for (the kernel rounds up to its minimum).
    const SMALL_BUFFER: u32 = 4096;

    /// A connected loopback pair with small buffers: the first end writes, the second reads
    /// (or, left alone, lets the first fill up).
    pub(crate) async fn loopback() -> (TcpStream, TcpStream) {
        let listening = TcpSocket::new_v4().unwrap();
        listening.set_recv_buffer_size(SMALL_BUFFER).unwrap();
        listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listening.listen(1).unwrap();
        let connecting = TcpSocket::new_v4().unwrap();
        connecting.set_send_buffer_size(SMALL_BUFFER).unwrap();
        let (ours, accepted) = tokio::join!(
            connecting.connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        (ours.unwrap(), accepted.unwrap().0)
    }

    /// Reads frames from `peer` until `count` messages came: their first byte and length.
    pub(crate) async fn read_messages(peer: &mut TcpStream, count: usize) -> Vec<(u8, usize)> {
        let mut reader = Reader::of_server(1 << 20);
        let mut messages = Vec::new();
        while messages.len() < count {
            while let Some(message) = reader.read_message().unwrap() {
                match message {
                    Message::Binary(bytes) => messages.push((bytes[0], bytes.len())),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if messages.len() < count {
                let read = peer.read_buf(reader.buffer(64 * 1024)).await.unwrap();
                assert!(read > 0, "the socket closed early");
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // RFC 6455 section 1.3's example.
        let accept = derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_handshake_needs_every_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert!(accept_key(&headers).is_ok());
        for name in [
            header::CONNECTION,
            header::UPGRADE,
            header::SEC_WEBSOCKET_VERSION,
            header::SEC_WEBSOCKET_KEY,
        ] {
            let mut without = headers.clone();
            without.remove(&name);
            assert!(accept_key(&without).is_err(), "{name}");
        }
        headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert!(accept_key(&headers).is_err());
    }
}
