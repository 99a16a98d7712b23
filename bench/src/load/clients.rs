//! The load clients, one tokio task per connection: idle lobby clients, players in pairs and
//! spectators, and the counters they share with the main task. Run on the generator's runtime.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arcade_bench::stats::Histogram;
use arcade_systems::tick::DEFAULT_TICK_RATE;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::decode::{
    Codec, PlayerField, PongState, decode, decode_compact, is_compact, is_state, payload,
};
use arcade_systems::compact::Decoder;

/// How long one connection may take to open and say hello.
pub(super) const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// Score limit of the matches players create: long matches, few restarts.
const SCORE_LIMIT: u32 = 21;
/// The generator's own WebSocket buffers (small: it holds thousands of connections).
const CLIENT_READ_BUFFER: usize = 8 * 1024;
/// How long a client waits after an `error` before it asks again.
const RETRY_WAIT: Duration = Duration::from_millis(200);
/// How long a spectator waits before listing again when no match is live.
const NO_MATCH_WAIT: Duration = Duration::from_millis(500);
/// The most inputs a player remembers while waiting for their ack (older ones are dropped).
const MAX_UNACKED: usize = 256;

/// What every connection task counts, read by the main task.
#[derive(Default)]
pub(super) struct ClientStats {
    /// `state` frames received.
    pub(super) states: AtomicU64,
    /// Bytes of every frame received.
    pub(super) bytes: AtomicU64,
    /// The longest gap between two `state`s while measuring, in µs.
    pub(super) max_gap_us: AtomicU64,
}

/// What all connections share.
pub(super) struct Shared {
    /// Whether the measuring window is open.
    pub(super) measuring: AtomicBool,
    /// Set at the end of the run: clients stop, and their disconnects are not counted.
    pub(super) stop: AtomicBool,
    /// Gaps between two `state`s of one client, µs (while measuring).
    pub(super) gaps: Histogram,
    /// Input → ack latency, µs (while measuring).
    pub(super) acks: Histogram,
    /// Connections open now (after their `hello`).
    pub(super) connected: AtomicUsize,
    /// Players in a started match now.
    pub(super) in_match: AtomicUsize,
    /// Connections that failed to open or to say hello.
    pub(super) connect_errors: AtomicU64,
    /// Connections lost before the end of the run.
    pub(super) disconnects: AtomicU64,
    /// `error` frames received.
    pub(super) error_frames: AtomicU64,
    /// `input` frames sent.
    pub(super) inputs_sent: AtomicU64,
    /// `match.start` frames received by players.
    pub(super) matches_started: AtomicU64,
    /// Frames received by idle connections (chat).
    pub(super) chats_received: AtomicU64,
    /// The server's tick rate, from its `hello`.
    pub(super) tick_rate: AtomicU64,
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            measuring: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            gaps: Histogram::default(),
            acks: Histogram::default(),
            connected: AtomicUsize::new(0),
            in_match: AtomicUsize::new(0),
            connect_errors: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            inputs_sent: AtomicU64::new(0),
            matches_started: AtomicU64::new(0),
            chats_received: AtomicU64::new(0),
            tick_rate: AtomicU64::new(u64::from(DEFAULT_TICK_RATE)),
        }
    }
}

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn connect(url: &str) -> Result<Socket, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(CLIENT_READ_BUFFER)
        .write_buffer_size(0);
    let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    match tokio::time::timeout(CONNECT_WAIT, connecting).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Counts one received frame; for a `state`, its arrival gap.
pub(super) fn count_frame(
    shared: &Shared,
    stats: &ClientStats,
    len: usize,
    state: bool,
    last_state: &mut Option<Instant>,
) {
    stats.bytes.fetch_add(len as u64, Ordering::Relaxed);
    if !state {
        return;
    }
    stats.states.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    if let Some(last) = last_state.replace(now)
        && shared.measuring.load(Ordering::Relaxed)
    {
        let gap = (now - last).as_micros() as u64;
        shared.gaps.record(gap);
        stats.max_gap_us.fetch_max(gap, Ordering::Relaxed);
    }
}

/// Opens a connection and reads its `hello`: the socket, the player id, the tick rate.
pub(super) async fn open(url: &str, codec: Codec, shared: &Shared) -> Option<(Socket, String)> {
    let mut socket = match connect(url).await {
        Ok(socket) => socket,
        Err(_) => {
            shared.connect_errors.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    };
    let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
    loop {
        let message = match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(message))) => message,
            _ => {
                shared.connect_errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let Some(bytes) = payload(&message) else {
            continue;
        };
        let Some(incoming) = decode(bytes, codec) else {
            continue;
        };
        if incoming.kind == "hello" {
            let data = incoming.data.unwrap_or_default();
            if let Some(rate) = data.tick_rate {
                shared.tick_rate.store(rate, Ordering::Relaxed);
            }
            let id = match data.player {
                Some(PlayerField::Info { id }) | Some(PlayerField::Id(id)) => id.into_owned(),
                None => String::new(),
            };
            shared.connected.fetch_add(1, Ordering::Relaxed);
            return Some((socket, id));
        }
    }
}

pub(super) fn lost(shared: &Shared) {
    if !shared.stop.load(Ordering::Relaxed) {
        shared.disconnects.fetch_add(1, Ordering::Relaxed);
    }
    shared.connected.fetch_sub(1, Ordering::Relaxed);
}

pub(super) async fn idle_client(
    url: String,
    codec: Codec,
    shared: Arc<Shared>,
    stats: Arc<ClientStats>,
    mut said: mpsc::UnboundedReceiver<usize>,
) {
    let Some((socket, _)) = open(&url, codec, &shared).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(Ok(message)) = message else { break };
                if let Some(bytes) = payload(&message) {
                    stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    shared.chats_received.fetch_add(1, Ordering::Relaxed);
                }
            }
            n = said.recv() => {
                let Some(n) = n else { continue };
                let chat = serde_json::json!({"type": "chat.message", "requestId": n,
                    "data": {"text": format!("hello {n}"), "channel": "global"}});
                if sink.send(codec.encode(&chat)).await.is_err() {
                    break;
                }
            }
        }
    }
    lost(&shared);
}

/// How a player gets into a match.
pub(super) enum Pairing {
    /// Creates matches and hands their ids to the partner.
    Create(mpsc::UnboundedSender<String>),
    /// Joins the matches the partner creates.
    Join(mpsc::UnboundedReceiver<String>),
    /// `queue.join`.
    Queue,
}

pub(super) async fn player_client(
    url: String,
    codec: Codec,
    shared: Arc<Shared>,
    stats: Arc<ClientStats>,
    mut pairing: Pairing,
    input_hz: u32,
) {
    let Some((socket, me)) = open(&url, codec, &shared).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let every = (shared.tick_rate.load(Ordering::Relaxed) / u64::from(input_hz)).max(1);
    let mut last_state = None;
    let mut seq = 0u64;
    let mut unacked: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut request = 0u64;
    // Compact states: the chain held, and each decoded state as JSON (buffer reused).
    let mut compact = Decoder::new();
    let mut compact_json = Vec::new();
    'matches: loop {
        // Ask for a match.
        request += 1;
        let ask = match &mut pairing {
            Pairing::Create(_) => serde_json::json!({"type": "match.create", "requestId": request,
                "data": {"game": "pong", "mode": "1v1", "options": {"scoreLimit": SCORE_LIMIT}}}),
            Pairing::Join(ids) => {
                let id = tokio::select! {
                    id = ids.recv() => id,
                    _ = drain_until_stop(&mut stream, &shared, &stats) => None,
                };
                let Some(id) = id else { break 'matches };
                serde_json::json!({"type": "match.join", "requestId": request,
                    "data": {"matchId": id}})
            }
            Pairing::Queue => serde_json::json!({"type": "queue.join", "requestId": request,
                "data": {"game": "pong", "mode": "1v1"}}),
        };
        if sink.send(codec.encode(&ask)).await.is_err() {
            break;
        }
        let mut match_id: Option<String> = None;
        let mut seat: Option<String> = None;
        let mut states_seen = 0u64;
        let mut counted_in_match = false;
        loop {
            let Some(Ok(message)) = stream.next().await else {
                break 'matches;
            };
            let Some(bytes) = payload(&message) else {
                continue;
            };
            let state = is_state(bytes);
            count_frame(&shared, &stats, bytes.len(), state, &mut last_state);
            let incoming = if is_compact(bytes) {
                if !decode_compact(&mut compact, bytes, &mut compact_json) {
                    continue;
                }
                decode(&compact_json, Codec::Json)
            } else {
                decode(bytes, codec)
            };
            let Some(incoming) = incoming else {
                continue;
            };
            let data = incoming.data.unwrap_or_default();
            match incoming.kind.as_ref() {
                "ack" => {
                    if let (Pairing::Create(partner), Some(id)) = (&pairing, &data.match_id)
                        && match_id.is_none()
                    {
                        match_id = Some(id.to_string());
                        let _ = partner.send(id.to_string());
                    }
                }
                "error" => {
                    shared.error_frames.fetch_add(1, Ordering::Relaxed);
                    if match_id.is_none() && seat.is_none() {
                        // The request failed: try again shortly.
                        tokio::time::sleep(RETRY_WAIT).await;
                        continue 'matches;
                    }
                }
                "match.start" => {
                    match_id = data.match_id.map(Cow::into_owned);
                    seat = data.seat.map(Cow::into_owned);
                    if !counted_in_match {
                        counted_in_match = true;
                        shared.in_match.fetch_add(1, Ordering::Relaxed);
                        shared.matches_started.fetch_add(1, Ordering::Relaxed);
                    }
                }
                "match.end" => {
                    compact = Decoder::new();
                    if counted_in_match {
                        shared.in_match.fetch_sub(1, Ordering::Relaxed);
                    }
                    unacked.clear();
                    continue 'matches;
                }
                "state" => {
                    states_seen += 1;
                    let now = Instant::now();
                    if let Some(acked) = data.acks.as_ref().and_then(|a| a.of(&me)) {
                        while let Some(&(sent_seq, sent_at)) = unacked.front() {
                            if sent_seq > acked {
                                break;
                            }
                            unacked.pop_front();
                            if shared.measuring.load(Ordering::Relaxed) {
                                shared.acks.record((now - sent_at).as_micros() as u64);
                            }
                        }
                    }
                    let (Some(id), Some(seat), Some(pong)) = (&match_id, &seat, &data.pong) else {
                        continue;
                    };
                    if !states_seen.is_multiple_of(every) {
                        continue;
                    }
                    let axis = steer(pong, seat);
                    seq += 1;
                    let input = serde_json::json!({"type": "input",
                        "data": {"matchId": id, "seq": seq, "axis": axis}});
                    unacked.push_back((seq, Instant::now()));
                    if unacked.len() > MAX_UNACKED {
                        unacked.pop_front();
                    }
                    if sink.send(codec.encode(&input)).await.is_err() {
                        break 'matches;
                    }
                    shared.inputs_sent.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }
    lost(&shared);
}

/// Reads (and counts) frames until the run stops; used while a joiner waits for an id.
pub(super) async fn drain_until_stop(
    stream: &mut futures_util::stream::SplitStream<Socket>,
    shared: &Shared,
    stats: &ClientStats,
) {
    let mut none = None;
    while let Some(Ok(message)) = stream.next().await {
        if let Some(bytes) = payload(&message) {
            count_frame(shared, stats, bytes.len(), false, &mut none);
        }
    }
    // The socket closed: wait forever; the caller's other branch or the abort ends us.
    std::future::pending::<()>().await;
}

/// A player's axis: toward the ball while it comes this way, toward the middle otherwise.
pub(super) fn steer(pong: &PongState, seat: &str) -> f32 {
    let Some(paddle) = pong.paddles.iter().find(|p| p.seat == seat) else {
        return 0.0;
    };
    let left = seat.starts_with("left");
    let coming = (pong.ball.vx < 0.0) == left;
    let target = if coming { pong.ball.y } else { 300.0 };
    ((target - paddle.y) / 7.0).clamp(-1.0, 1.0)
}

pub(super) async fn spectator_client(
    url: String,
    codec: Codec,
    shared: Arc<Shared>,
    stats: Arc<ClientStats>,
    n: usize,
) {
    let Some((socket, _)) = open(&url, codec, &shared).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let mut last_state = None;
    let mut request = 0u64;
    'watch: loop {
        request += 1;
        let list = serde_json::json!({"type": "match.list", "requestId": request,
            "data": {"game": "pong"}});
        if sink.send(codec.encode(&list)).await.is_err() {
            break;
        }
        loop {
            let Some(Ok(message)) = stream.next().await else {
                break 'watch;
            };
            let Some(bytes) = payload(&message) else {
                continue;
            };
            let state = is_state(bytes);
            count_frame(&shared, &stats, bytes.len(), state, &mut last_state);
            if state {
                continue;
            }
            let Some(incoming) = decode(bytes, codec) else {
                continue;
            };
            match incoming.kind.as_ref() {
                "ack" => {
                    let Some(matches) = incoming.data.and_then(|d| d.matches) else {
                        continue;
                    };
                    if matches.is_empty() {
                        tokio::time::sleep(NO_MATCH_WAIT).await;
                        continue 'watch;
                    }
                    let id = matches[n % matches.len()].id.to_string();
                    request += 1;
                    let join = serde_json::json!({"type": "match.join", "requestId": request,
                        "data": {"matchId": id, "as": "spectator"}});
                    if sink.send(codec.encode(&join)).await.is_err() {
                        break 'watch;
                    }
                }
                "error" => {
                    shared.error_frames.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RETRY_WAIT).await;
                    continue 'watch;
                }
                "match.end" => continue 'watch,
                _ => {}
            }
        }
    }
    lost(&shared);
}
