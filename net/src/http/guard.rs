//! The connection guard (tokio threads): a listener for `axum::serve` that caps how many
//! connections are open at once and closes a connection whose request header does not arrive
//! within a deadline (slowloris: a header byte every few seconds, an upgrade request without
//! its final CRLF). axum's `serve` sets no header-read timeout of its own, so the socket does.
//! It also gives hyper's own answers to requests it cannot parse (400, 414 and 431, sent
//! before any handler runs, with empty bodies) the JSON error body of PROTOCOL.md.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The default of `--header-read-timeout`: a request's header must arrive within this.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of `--max-connections`: open TCP connections (HTTP and WebSocket) at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// The end of a request header: CR LF CR LF, as the last four bytes read.
const HEADER_END: u32 = u32::from_be_bytes(*b"\r\n\r\n");
/// The start of an `Upgrade:` header line (lowercased): the connection becomes a WebSocket
/// after its response, and no further header is expected.
const UPGRADE: &[u8; 9] = b"\nupgrade:";

/// How hyper's automatic answer to an unparsable request begins (a status, then this).
const HYPER_ERROR_HEAD: &[u8] = b"\r\nconnection: close\r\ncontent-length: 0\r\n";

/// The guard's settings.
#[derive(Clone, Copy, Debug)]
pub struct GuardConfig {
    /// How long a request header may take to arrive, from the connection's first byte or the
    /// previous response (also how long an idle keep-alive connection stays open).
    pub header_read_timeout: Duration,
    /// Open connections at most; one beyond is closed as soon as it is accepted. 0: no cap.
    pub max_connections: usize,
}

/// A TCP listener that hands out [`GuardedIo`]s and refuses connections beyond the cap.
pub struct GuardedListener {
    /// The bound socket.
    inner: TcpListener,
    /// One permit per open connection (None: no cap).
    slots: Option<Arc<Semaphore>>,
    /// The header deadline of each connection.
    header_read_timeout: Duration,
}

impl GuardedListener {
    /// Guards `inner` with `config`.
    pub fn new(inner: TcpListener, config: GuardConfig) -> GuardedListener {
        GuardedListener {
            inner,
            slots: (config.max_connections > 0)
                .then(|| Arc::new(Semaphore::new(config.max_connections))),
            header_read_timeout: config.header_read_timeout,
        }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (GuardedIo, std::net::SocketAddr) {
        loop {
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            let permit = match &self.slots {
                None => None,
                Some(slots) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        tracing::debug!(%addr, "connection refused: the connection cap is reached");
                        drop(stream);
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            return (
                GuardedIo::new(stream, permit, self.header_read_timeout),
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// One accepted connection: the socket, its slot under the cap, and the header deadline.
pub struct GuardedIo {
    /// The socket.
    inner: TcpStream,
    /// Held while the connection is open (a WebSocket keeps it after the upgrade).
    _slot: Option<OwnedSemaphorePermit>,
    /// When the header being read must be complete.
    deadline: Pin<Box<Sleep>>,
    /// Whether a header is being waited for (the deadline runs).
    armed: bool,
    /// The last four bytes read, to find the header's end.
    tail: u32,
    /// The last bytes read, lowercased, to find `upgrade` in a header.
    window: [u8; 9],
    /// The header asked for an upgrade: after its response, no further header comes.
    upgraded: bool,
    /// How long a header may take.
    timeout: Duration,
    /// A JSON answer being written in place of hyper's empty one: the bytes, how many are
    /// written, and how many of hyper's bytes it stands for.
    replacement: Option<(Vec<u8>, usize, usize)>,
}

impl GuardedIo {
    fn new(inner: TcpStream, slot: Option<OwnedSemaphorePermit>, timeout: Duration) -> GuardedIo {
        GuardedIo {
            inner,
            _slot: slot,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            armed: true,
            tail: 0,
            window: [0; 9],
            upgraded: false,
            timeout,
            replacement: None,
        }
    }

    /// The socket and its slot under the cap, once the connection is a WebSocket (after its
    /// upgrade, `crate::ws` reads and writes the socket itself; the slot stays held).
    pub fn into_parts(self) -> (TcpStream, Option<OwnedSemaphorePermit>) {
        (self.inner, self._slot)
    }

    /// Follows the header in `bytes`: disarms the deadline at its end.
    fn scan(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.tail = (self.tail << 8) | u32::from(byte);
            self.window.rotate_left(1);
            self.window[8] = byte.to_ascii_lowercase();
            if &self.window == UPGRADE {
                self.upgraded = true;
            }
            if self.tail == HEADER_END {
                self.armed = false;
                return;
            }
        }
    }

    /// A response is going out: the next header (unless upgraded) gets a fresh deadline, which
    /// runs from the last write until its first byte arrives (a long download is not cut).
    fn rearm(&mut self) {
        if self.upgraded || (self.armed && self.tail != 0) {
            return;
        }
        self.armed = true;
        self.tail = 0;
        self.deadline.as_mut().reset(Instant::now() + self.timeout);
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.armed && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request header did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.armed && matches!(read, Poll::Ready(Ok(()))) {
            this.scan(&buf.filled()[before..]);
        }
        read
    }
}

/// The JSON answer standing in for hyper's empty answer `head` to an unparsable request
/// (`HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n...`), or None
/// when `head` is not one.
fn json_error_for(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let line_end = rest.windows(2).position(|pair| pair == b"\r\n")?;
    if !rest[line_end..].starts_with(HYPER_ERROR_HEAD) || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let status_line = std::str::from_utf8(&rest[..line_end]).ok()?;
    let (code, message) = match status_line.get(..3)? {
        "400" => ("bad_request", "the request could not be parsed"),
        "414" => ("too_large", "the request target is too long"),
        "431" => ("too_large", "the request header is too large"),
        _ => return None,
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status_line}\r\nconnection: close\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl GuardedIo {
    /// Writes `buf`, or, when it is hyper's empty answer to an unparsable request, the JSON
    /// answer in its place (reporting `buf` written once all of that is).
    fn write_guarded(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.rearm();
        if self.replacement.is_none()
            && let Some(json) = json_error_for(buf)
        {
            self.replacement = Some((json, 0, buf.len()));
        }
        let Some((bytes, written, stands_for)) = &mut self.replacement else {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        };
        while *written < bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let stands_for = *stands_for;
        self.replacement = None;
        Poll::Ready(Ok(stands_for))
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_guarded(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|buf| !buf.is_empty());
        if this.replacement.is_some() || first.is_some_and(|buf| buf.starts_with(b"HTTP/1.1 4")) {
            return this.write_guarded(cx, first.map_or(&[][..], |buf| &buf[..]));
        }
        this.rearm();
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_error_answers_are_replaced() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\
                     content-length: 0\r\ndate: Tue, 01 Dec 2026 22:26:45 GMT\r\n\r\n";
        let json = String::from_utf8(json_error_for(head).unwrap()).unwrap();
        assert!(json.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(json.ends_with(
            r#"{"error":{"code":"too_large","message":"the request header is too large"}}"#
        ));
        let ours = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\r\n";
        assert_eq!(json_error_for(ours), None);
    }

    #[tokio::test]
    async fn the_header_end_disarms_and_an_upgrade_stays_disarmed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let mut io = GuardedIo::new(stream, None, Duration::from_secs(1));
        io.scan(b"GET / HTTP/1.1\r\nUpgrade-Insecure-Requests: 1\r\n\r");
        assert!(io.armed);
        io.scan(b"\n");
        assert!(!io.armed && !io.upgraded, "the header ended");
        io.rearm();
        assert!(io.armed, "the next header has a deadline");
        io.scan(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
        assert!(!io.armed && io.upgraded);
        io.rearm();
        assert!(!io.armed, "a WebSocket has no header deadline");
    }
}
