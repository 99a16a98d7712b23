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
        if history_status(&server, match_id).await != 200 {
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
    let status = history_status(server, match_id).await;
    assert_eq!(status, 200, "{match_id} is in history");
}

/// The status of `GET /api/matches/{id}`, asked once.
async fn history_status(server: &Server, match_id: &str) -> u16 {
    let url = server.url(&format!("/api/matches/{match_id}"));
    http().get(url).send().await.unwrap().status().as_u16()
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

/// Sends raw bytes on a fresh socket and reads the answer until the server closes.
async fn raw_exchange(server: &Server, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let _ = socket.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(common::WAIT, socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The JSON error body of a raw answer (after its header), with its status code.
fn status_and_error(answer: &str) -> (u16, serde_json::Value) {
    let status = answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("no JSON body: {answer:?}"));
    (status, json)
}

/// 414, 431 and hyper's 400 for a malformed request carry the JSON error shape (they were
/// empty).
#[tokio::test]
async fn unparsable_requests_get_the_json_error_shape() {
    let server = Server::start(&[]);
    let long_target = format!(
        "GET /api/visits?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let huge_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2_000_000)
    );
    for (request, status, code) in [
        (long_target, 414, "too_large"),
        (huge_header, 431, "too_large"),
        (
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_owned(),
            400,
            "bad_request",
        ),
    ] {
        let answer = raw_exchange(&server, request.as_bytes()).await;
        let (got, body) = status_and_error(&answer);
        assert_eq!(got, status, "{answer}");
        assert_eq!(body["error"]["code"], code, "{answer}");
        assert!(body["error"]["message"].is_string(), "{answer}");
    }
    // A well-formed request on a fresh connection is still served.
    let health = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// A login body between 64 KiB and 1 MiB is 413 `too_large` (it was 400 "could not be read").
#[tokio::test]
async fn oversized_login_bodies_are_413() {
    let server = Server::start(common::NO_HTTP_LIMITS);
    for size in [100 * 1024, 900 * 1024] {
        let body = json!({"name": "ada", "password": "x".repeat(size)}).to_string();
        let response = http()
            .post(server.url("/api/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{size} bytes");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_large", "{body}");
    }
}

/// Login checks the name by register's rules first: a 60 KB name or a name with a space is
/// 400 `bad_request` (it was hashed, answered 401 and kept as a lockout key).
#[tokio::test]
async fn login_validates_the_name_first() {
    let server = Server::start(common::NO_HTTP_LIMITS);
    for name in ["n".repeat(60_000), "two words".to_owned()] {
        let response = http()
            .post(server.url("/api/auth/login"))
            .json(&json!({"name": name, "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }
}

/// A text frame that is not UTF-8 closes the connection with 1007 (it was 1000).
#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_1007() {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    client.send_raw(Message::Frame(bad)).await;
    assert_eq!(client.expect_close().await, Some(1007));
}

/// `ws.ping` refuses a `data` of the wrong type with `bad_request`; none, `null` and `{}` are
/// answered with `ws.pong`.
#[tokio::test]
async fn ws_ping_refuses_data_of_the_wrong_type() {
    let server = Server::start(&[]);
    let mut client = Client::connect(&server, "").await;
    for data in [json!(5), json!("x"), json!([1]), json!({"x": 1})] {
        let reply = client.request("ws.ping", data.clone()).await;
        assert_eq!(reply["type"], "error", "{data}: {reply}");
        assert_eq!(reply["data"]["code"], "bad_request", "{data}: {reply}");
    }
    for data in [serde_json::Value::Null, json!({})] {
        let reply = client.request("ws.ping", data.clone()).await;
        assert_eq!(reply["type"], "ws.pong", "{data}: {reply}");
    }
}

/// `/health/details` shows the database path only to the admin bearer.
#[tokio::test]
async fn health_details_shows_the_database_path_only_to_the_admin() {
    let open = Server::start(&[]);
    let details: serde_json::Value = common::get_json(&open, "/health/details").await;
    assert!(details["database"].get("path").is_none(), "{details}");
    let guarded = Server::start(&["--admin-token", "s3cret-admin"]);
    let request = http()
        .get(guarded.url("/health/details"))
        .bearer_auth("s3cret-admin");
    let details: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    assert!(
        details["database"]["path"]
            .as_str()
            .is_some_and(|path| path.ends_with("arcade.db")),
        "{details}"
    );
}
