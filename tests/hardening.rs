//! Issue 15's hardening, over real sockets against the real binary (test threads only): a
//! `match.end` is never a lie (kill -9 right after it, the match is in history), slowloris
//! sockets are closed and connections capped, and the contract slips (413, JSON bodies on
//! 414/431/400, 1007, `ws.ping` data, login name checks, `/health/details` path).

mod common;

use std::time::{Duration, Instant};

use common::{Client, Server, http};
use serde_json::json;

/// How many times the crash test kills the server right after a `match.end`.
const CRASHES: u64 = 20;

/// A client told of a match's end finds it in history even when the server is killed
/// (SIGKILL, by pid) 0-5 ms after the client saw `match.end`, twenty times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_end_survives_a_kill_right_after_it() {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let mut ended: Vec<String> = Vec::new();
    for attempt in 0..CRASHES {
        let server = Server::start_in(dir.clone(), &[]);
        if let Some(previous) = ended.last() {
            assert_in_history(&server, previous).await;
        }
        let mut left = Client::connect(&server, "").await;
        let mut right = Client::connect(&server, "").await;
        let match_id = common::start_pong(&mut left, &mut right, 5).await;
        right
            .send_request("match.leave", json!({"matchId": match_id}))
            .await;
        let end = left.recv_type("match.end").await;
        let seen = Instant::now();
        assert_eq!(end["data"]["reason"], "forfeit", "{end}");
        // 0, 1, ... 5 ms after the client saw it.
        let delay = Duration::from_millis(attempt % 6);
        while seen.elapsed() < delay {
            std::hint::spin_loop();
        }
        server.kill();
        ended.push(match_id);
    }
    let server = Server::start_in(dir, &[]);
    let mut lost = Vec::new();
    for match_id in &ended {
        let response = http()
            .get(server.url(&format!("/api/matches/{match_id}")))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            lost.push(match_id.clone());
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {CRASHES} matches announced as ended are not in history: {lost:?}",
        lost.len()
    );
}

/// Asserts (once, no waiting: the server just started) that a match is in history.
async fn assert_in_history(server: &Server, match_id: &str) {
    let response = http()
        .get(server.url(&format!("/api/matches/{match_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{match_id} is in history");
}

/// Reads until the server closes the socket (EOF or reset); returns how long that took, or
/// None when it stayed open for `within`.
async fn closed_within(socket: &mut tokio::net::TcpStream, within: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// A socket that sends its request header a byte at a time, slower than the header-read
/// timeout allows, is closed; so is an upgrade request that never sends its final CRLF. A
/// WebSocket outlives the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_websockets_are_not() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start(&["--header-read-timeout", "1s"]);
    let mut ws = Client::connect(&server, "").await;

    // One header byte every 300 ms: still sending when the second has passed.
    let mut trickle = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let header = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let started = Instant::now();
    let mut closed = false;
    for byte in header {
        if trickle.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut trickle, Duration::from_millis(300))
            .await
            .is_some()
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled header was served");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );

    // An upgrade request without its final CRLF.
    let mut unfinished = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        server.addr
    );
    unfinished.write_all(request.as_bytes()).await.unwrap();
    let took = closed_within(&mut unfinished, Duration::from_secs(3)).await;
    assert!(took.is_some(), "an unfinished upgrade request stayed open");

    // The WebSocket opened before all this is still served, well past the timeout.
    let pong = ws.request("ws.ping", serde_json::Value::Null).await;
    assert_eq!(pong["type"], "ws.pong", "{pong}");
    // And a prompt request is served.
    let health = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Beyond `--max-connections`, a connection is closed at once; when one closes, a new one is
/// served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start(&["--max-connections", "3"]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::connect(&server, "").await);
    }
    let mut extra = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let closed = closed_within(&mut extra, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "a fourth connection was kept");
    drop(held.pop());
    // The server notices the close; then a new connection is served.
    let deadline = Instant::now() + common::WAIT;
    loop {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        if let Ok(response) = client.get(server.url("/health")).send().await {
            assert_eq!(response.status(), 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection served after one closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
