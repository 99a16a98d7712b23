//! The harness of the end-to-end tests: starts the real `arcade` binary on 127.0.0.1:0 with a
//! temporary database, and talks to it over real sockets (HTTP with reqwest, WebSocket with
//! tokio-tungstenite). Every wait is bounded; the server is killed by its own pid on drop.

#![allow(dead_code)]

pub mod cluster;
pub mod nginx;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arcade_systems::compact::{DELTA_TAG, Decoded, KEYFRAME_TAG};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Plays one Pong side until `match.end`: dodges the ball when it comes this way, so that the
/// other side scores. Returns the `match.end` message and how many `state`s arrived.
pub async fn dodge_until_end(client: Client, match_id: String, seat: &str) -> (Value, usize) {
    let (end, states, _) = dodge_and_record(client, match_id, seat).await;
    (end, states.len())
}

/// [`dodge_until_end`], keeping every `state` received (in order) and the client.
pub async fn dodge_and_record(
    client: Client,
    match_id: String,
    seat: &str,
) -> (Value, Vec<Value>, Client) {
    dodge_until(client, match_id, seat, |message| {
        message["type"] == "match.end"
    })
    .await
}

/// Plays like [`dodge_until_end`] until a message for which `stop` holds (returned, with
/// every `state` received before it, in order, and the client).
pub async fn dodge_until(
    mut client: Client,
    match_id: String,
    seat: &str,
    stop: impl Fn(&Value) -> bool,
) -> (Value, Vec<Value>, Client) {
    let mut seq = 0u64;
    let mut states = 0usize;
    let mut received = Vec::new();
    loop {
        let message = match client.backlog.pop_front() {
            Some(message) => message,
            None => match client.next_message().await {
                Some(Ok(message)) => message,
                other => panic!("{seat}: connection ended before match.end: {other:?}"),
            },
        };
        if stop(&message) {
            return (message, received, client);
        }
        match message["type"].as_str() {
            Some("match.end") => panic!("{seat}: the match ended early: {message}"),
            Some("compact.broken") => panic!("{seat}: a compact delta broke the chain"),
            Some("state") => {
                states += 1;
                received.push(message.clone());
                let data = &message["data"];
                assert_eq!(data["matchId"], match_id.as_str());
                let Some(axis) = dodge_axis(data, seat) else {
                    continue;
                };
                if states.is_multiple_of(6) {
                    seq += 1;
                    let input = json!({"matchId": match_id, "seq": seq, "axis": axis});
                    client.send(json!({"type": "input", "data": input})).await;
                }
            }
            _ => {}
        }
    }
}

/// The axis that takes `seat`'s paddle out of the ball's way when the ball comes toward it
/// (0 otherwise), from a Pong `state`'s data; `None` when the seat has no paddle there.
pub fn dodge_axis(data: &Value, seat: &str) -> Option<f64> {
    let ball = &data["pong"]["ball"];
    let paddle = data["pong"]["paddles"]
        .as_array()?
        .iter()
        .find(|p| p["seat"] == seat)?;
    let coming = (seat.starts_with("left")) == (ball["vx"].as_f64()? < 0.0);
    let away = if paddle["y"].as_f64()? > ball["y"].as_f64()? {
        1.0
    } else {
        -1.0
    };
    Some(if coming { away } else { 0.0 })
}

/// Server flags that turn the HTTP rate limits off, for tests that send many requests.
pub const NO_HTTP_LIMITS: &[&str] = &[
    "--rate-limit-reads",
    "0",
    "--rate-limit-writes",
    "0",
    "--rate-limit-auth",
    "0",
];

/// Server flags that turn the WebSocket upgrade rate, the per-address connection cap and the
/// `global` slow mode off, for tests that open many connections or chat fast from 127.0.0.1.
pub const NO_WS_LIMITS: &[&str] = &[
    "--ws-upgrades",
    "0",
    "--ws-per-address",
    "0",
    "--global-slow-mode",
    "0s",
];

/// The history record of a finished match, waiting (bounded) for the writer to store it.
pub async fn fetch_record(server: &Server, match_id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let response = http()
            .get(server.url(&format!("/api/matches/{match_id}")))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            return response.json().await.unwrap();
        }
        assert_eq!(response.status(), 404);
        assert!(
            Instant::now() < deadline,
            "match {match_id} never reached the history"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Creates a pong 1v1 match with `score_limit` with `left` seated left and `right` right,
/// waits for both `match.start`s, and returns the match id.
pub async fn start_pong(left: &mut Client, right: &mut Client, score_limit: u32) -> String {
    let options = json!({"scoreLimit": score_limit});
    let created = left
        .request(
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": options}),
        )
        .await;
    assert_eq!(created["type"], "ack", "{created}");
    let match_id = created["data"]["matchId"].as_str().unwrap().to_owned();
    let joined = right
        .request("match.join", json!({"matchId": match_id}))
        .await;
    assert_eq!(joined["type"], "ack", "{joined}");
    left.recv_type("match.start").await;
    right.recv_type("match.start").await;
    match_id
}

/// Two guests play a pong 1v1 to 1 point on `server`; returns the match id once both got
/// `match.end` (reason `score_limit`).
pub async fn play_pong_to_end(server: &Server) -> String {
    let mut left = Client::connect(server, "").await;
    let mut right = Client::connect(server, "").await;
    let match_id = start_pong(&mut left, &mut right, 1).await;
    let (left_end, right_end) = tokio::join!(
        dodge_until_end(left, match_id.clone(), "left"),
        dodge_until_end(right, match_id.clone(), "right"),
    );
    assert_eq!(left_end.0["data"]["reason"], "score_limit");
    assert_eq!(right_end.0["data"]["reason"], "score_limit");
    match_id
}

/// How many times the first page of `GET /api/matches` lists `match_id` (a finished
/// match: exactly once).
pub async fn times_listed(server: &Server, match_id: &str) -> usize {
    let listed = get_json(server, "/api/matches?limit=50").await;
    listed["matches"]
        .as_array()
        .map_or(0, |all| all.iter().filter(|m| m["id"] == match_id).count())
}

/// `GET path`: asserts 200 and returns the JSON body.
pub async fn get_json(server: &Server, path: &str) -> Value {
    let response = http().get(server.url(path)).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    response.json().await.expect("JSON")
}

/// `POST path` without a body: asserts 200 and returns the JSON body.
pub async fn post_json(server: &Server, path: &str) -> Value {
    let response = http().post(server.url(path)).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200, "POST {path}");
    response.json().await.expect("JSON")
}

/// Reads `/metrics` and returns the value of one sample line (`name{labels}`), or 0.
pub async fn metric(server: &Server, sample: &str) -> f64 {
    let text = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(sample)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Server {
    child: Child,
    pub addr: String,
    /// Keeps the database folder alive for the server's life (and for a restart).
    pub dir: Arc<tempfile::TempDir>,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts a server on a fresh temporary database.
    pub fn start(args: &[&str]) -> Server {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Server::start_in(dir, args)
    }

    /// Starts a server on the database in `dir` (to restart on the same data).
    pub fn start_in(dir: Arc<tempfile::TempDir>, args: &[&str]) -> Server {
        Server::start_with_env(dir, args, &[])
    }

    /// Starts a server on the database in `dir` with extra environment variables.
    pub fn start_with_env(
        dir: Arc<tempfile::TempDir>,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Server {
        let db = dir.path().join("arcade.db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_arcade"))
            .envs(envs.iter().copied())
            .args(["--listen", "127.0.0.1:0", "--log", "info,arcade=debug"])
            .arg("--db")
            .arg(&db)
            .arg("--assets")
            .arg(assets_dir())
            .args(args)
            .env_remove("ARCADE_LISTEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the arcade binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (found, listening) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        // Up to the first character that is not part of an address (a space
                        // in text logs, a quote in JSON logs).
                        let addr: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_hexdigit() || ".:[]".contains(*c))
                            .collect();
                        let _ = found.send(addr);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let addr = match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {:?}", logs.lock().unwrap());
            }
        };
        Server {
            child,
            addr,
            dir,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{}", self.addr, query)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (`"TERM"`, `"INT"`, `"USR1"`, ...) without waiting.
    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }

    /// Waits (bounded) for the server to exit after a signal sent with [`Server::signal`].
    pub fn wait_exit(mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name} {pid}");
}

pub fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(WAIT).build().unwrap()
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Which encoding a test client speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Codec {
    Json,
    Msgpack,
}

/// A WebSocket client speaking the envelope protocol.
pub struct Client {
    pub ws: Socket,
    pub codec: Codec,
    next_request: u64,
    /// The `hello` this connection got.
    pub hello: Value,
    /// Messages read while waiting for something else, in order.
    pub backlog: std::collections::VecDeque<Value>,
    /// Envelopes received as text (JSON) and as binary (MessagePack) frames.
    pub text_frames: usize,
    pub binary_frames: usize,
    /// Compact `state` frames (`?codec=compact`), decoded as PROTOCOL.md says into `state`
    /// messages marked `"compact": "keyframe"` or `"delta"`; a delta that does not continue
    /// the held chain comes out as `{"type": "compact.broken"}`.
    pub decoder: arcade_systems::compact::Decoder,
    /// Compact frames received: keyframes, deltas, and their bytes.
    pub keyframes: usize,
    pub deltas: usize,
    pub compact_bytes: usize,
}

impl Client {
    /// Connects and waits for `hello`.
    pub async fn connect(server: &Server, query: &str) -> Client {
        Client::connect_url(&server.ws_url(query)).await
    }

    /// Connects to a WebSocket URL (say, through a proxy) and waits for `hello`.
    pub async fn connect_url(url: &str) -> Client {
        let codec = if url.contains("codec=msgpack") || url.contains("codec=compact") {
            Codec::Msgpack
        } else {
            Codec::Json
        };
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        let mut client = Client {
            ws,
            codec,
            next_request: 0,
            hello: Value::Null,
            backlog: Default::default(),
            text_frames: 0,
            binary_frames: 0,
            decoder: Default::default(),
            keyframes: 0,
            deltas: 0,
            compact_bytes: 0,
        };
        client.hello = client.recv_type("hello").await;
        client
    }

    pub fn player_id(&self) -> String {
        self.hello["data"]["player"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn token(&self) -> String {
        self.hello["data"]["token"].as_str().unwrap().to_owned()
    }

    /// Sends a request with a fresh requestId without waiting; returns the id.
    pub async fn send_request(&mut self, kind: &str, data: Value) -> String {
        self.next_request += 1;
        let id = format!("r{}", self.next_request);
        self.send(json!({"type": kind, "data": data, "requestId": id}))
            .await;
        id
    }

    pub async fn send(&mut self, message: Value) {
        let frame = match self.codec {
            Codec::Json => Message::Text(message.to_string().into()),
            Codec::Msgpack => Message::Binary(rmp_serde::to_vec_named(&message).unwrap().into()),
        };
        self.ws.send(frame).await.expect("send");
    }

    pub async fn send_raw(&mut self, frame: Message) {
        self.ws.send(frame).await.expect("send");
    }

    /// Sends a request with a fresh requestId and returns its reply (`ack` or `error`), keeping
    /// other messages in the backlog.
    pub async fn request(&mut self, kind: &str, data: Value) -> Value {
        self.next_request += 1;
        let id = format!("r{}", self.next_request);
        self.send(json!({"type": kind, "data": data, "requestId": id}))
            .await;
        self.recv_where(|m| m["requestId"] == id.as_str()).await
    }

    /// The next message from the socket (not the backlog), or None when it closed.
    pub async fn next_message(&mut self) -> Option<Result<Value, Option<u16>>> {
        loop {
            let frame = match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(frame) => frame,
                Err(_) => panic!("no message within {WAIT:?}"),
            };
            match frame {
                None => return None,
                Some(Err(_)) => return None,
                Some(Ok(Message::Text(text))) => {
                    self.text_frames += 1;
                    return Some(Ok(serde_json::from_str(&text).expect("server JSON parses")));
                }
                Some(Ok(Message::Binary(bytes)))
                    if matches!(bytes.first(), Some(&KEYFRAME_TAG | &DELTA_TAG)) =>
                {
                    return Some(Ok(self.decode_compact(&bytes)));
                }
                Some(Ok(Message::Binary(bytes))) => {
                    self.binary_frames += 1;
                    let value: Value =
                        rmp_serde::from_slice(&bytes).expect("server msgpack parses");
                    if value["type"] == "match.end"
                        && let Some(Ok(id)) = value["data"]["matchId"].as_str().map(str::parse)
                    {
                        self.decoder.forget(id);
                    }
                    return Some(Ok(value));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(Err(frame.map(|f| u16::from(f.code))));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// A compact `state` frame as the `state` message it stands for.
    fn decode_compact(&mut self, bytes: &[u8]) -> Value {
        self.compact_bytes += bytes.len();
        let kind = if bytes[0] == KEYFRAME_TAG {
            self.keyframes += 1;
            "keyframe"
        } else {
            self.deltas += 1;
            "delta"
        };
        match self.decoder.decode(bytes).expect("compact frames decode") {
            Decoded::Applied(id) => {
                let data = serde_json::to_value(self.decoder.state(id).unwrap()).unwrap();
                json!({"type": "state", "data": data, "compact": kind})
            }
            Decoded::Broken { tag } => json!({"type": "compact.broken", "tag": tag}),
        }
    }

    /// The first message (backlog first) that passes `pred`; others stay in the backlog.
    pub async fn recv_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(index).unwrap();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "no matching message within {WAIT:?}"
            );
            match self.next_message().await {
                Some(Ok(message)) if pred(&message) => return message,
                Some(Ok(message)) => {
                    if message["type"] != "state" {
                        self.backlog.push_back(message);
                    }
                }
                Some(Err(code)) => panic!("closed ({code:?}) while waiting"),
                None => panic!("connection ended while waiting"),
            }
        }
    }

    pub async fn recv_type(&mut self, kind: &str) -> Value {
        self.recv_where(|m| m["type"] == kind).await
    }

    /// Reads until the server closes; returns the close code.
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next_message().await {
                Some(Ok(_)) => continue,
                Some(Err(code)) => return code,
                None => return None,
            }
        }
    }
}
