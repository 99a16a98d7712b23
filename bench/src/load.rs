//! `arcade-bench load`: a WebSocket load generator.
//!
//! It starts the release `arcade` binary on `127.0.0.1:0` with a temporary database (or
//! targets `--url`, loopback only), raises its own file-descriptor limit to the hard limit (the
//! server it starts inherits it), and opens, at `--ramp-rate` connections a second:
//!
//! 1. `--idle` lobby connections that only read (they are all on `global`; one of them sends a
//!    chat message a second, in turns);
//! 2. `--players` player connections, in pairs: the first creates a Pong 1v1 match and hands
//!    the id to the second, which joins (`--pairing queue`: both queue instead); each plays by
//!    the `state` it receives (its paddle follows the ball when the ball comes its way) and
//!    sends an `input` every `tickRate / --input-hz` states; at `match.end` the pair starts
//!    another match;
//! 3. `--spectators` connections that watch live matches.
//!
//! Then it waits `--settle` seconds and measures for `--duration` seconds: per client, the
//! `state` frames a second and the bytes a second; over all clients, the gaps between two
//! `state`s and the input→ack latency (from sending `seq` to the first `state` whose `acks`
//! reaches it); the server's CPU and memory from `/proc/PID`, its tick p99 and overruns from
//! `/metrics` and `/health/details`; its own CPU. The server's memory is read before any
//! connection, after the idle ones and after the players, so that idle and playing connections
//! are costed apart. Everything is bounded: at most [`MAX_CONNECTIONS`] connections and
//! [`MAX_SECONDS`] of measuring; the server it started is stopped by its pid at the end.

use std::borrow::Cow;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arcade_bench::stats::Histogram;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The most connections one run opens.
pub const MAX_CONNECTIONS: usize = 20_000;
/// The longest measuring window.
pub const MAX_SECONDS: u64 = 600;
/// How long the server may take to say where it listens.
const SERVER_START_WAIT: Duration = Duration::from_secs(30);
/// How long one connection may take to open and say hello.
const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// Score limit of the matches players create: long matches, few restarts.
const SCORE_LIMIT: u32 = 21;
/// The generator's own WebSocket buffers (small: it holds thousands of connections).
const CLIENT_READ_BUFFER: usize = 8 * 1024;
/// How long the server gets to stop after SIGTERM before SIGKILL.
const SERVER_STOP_WAIT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Clone)]
pub struct LoadArgs {
    /// Target server, e.g. ws://127.0.0.1:8080/ws (loopback only). Without it, the release
    /// `arcade` binary beside this one is started on 127.0.0.1:0 with a temporary database.
    #[arg(long)]
    url: Option<String>,
    /// The server's pid when it is given by --url (for its CPU and memory).
    #[arg(long)]
    pid: Option<u32>,
    /// The arcade binary to start (default: `arcade` beside this binary).
    #[arg(long)]
    server: Option<PathBuf>,
    /// One more argument for the server started (repeat for several).
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// Player connections (an even number: they play Pong 1v1 in pairs).
    #[arg(long, default_value_t = 200)]
    players: usize,
    /// Spectator connections.
    #[arg(long, default_value_t = 0)]
    spectators: usize,
    /// Idle lobby connections (one chat message a second among them all).
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Encoding: json, msgpack or mix (every other connection).
    #[arg(long, default_value = "json")]
    codec: String,
    /// How players find an opponent: create (the pair's first creates, the second joins) or
    /// queue (`queue.join`).
    #[arg(long, default_value = "create")]
    pairing: String,
    /// Inputs a second per player (one per `tickRate / input-hz` states received).
    #[arg(long, default_value_t = 20)]
    input_hz: u32,
    /// Connections opened per second while ramping up.
    #[arg(long, default_value_t = 500)]
    ramp_rate: u32,
    /// Seconds between the end of the ramp and the start of the measure.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Worker threads of the generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print the results as one line of JSON (and nothing else on stdout).
    #[arg(long)]
    json: bool,
    /// A label copied into the JSON line (for plots and tables).
    #[arg(long)]
    label: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Codec {
    Json,
    Msgpack,
}

impl Codec {
    fn as_str(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Msgpack => "msgpack",
        }
    }

    fn encode(self, value: &serde_json::Value) -> Message {
        match self {
            Codec::Json => Message::Text(value.to_string().into()),
            Codec::Msgpack => Message::Binary(
                rmp_serde::to_vec_named(value)
                    .expect("a JSON value encodes")
                    .into(),
            ),
        }
    }
}

pub fn run(args: LoadArgs) -> Result<(), String> {
    if !args.players.is_multiple_of(2) {
        return Err("--players must be even (pairs play Pong 1v1)".into());
    }
    let total = args.players + args.spectators + args.idle;
    if total > MAX_CONNECTIONS {
        return Err(format!(
            "at most {MAX_CONNECTIONS} connections per run, not {total}"
        ));
    }
    if args.duration > MAX_SECONDS || args.settle > MAX_SECONDS {
        return Err(format!(
            "--duration and --settle are at most {MAX_SECONDS} s"
        ));
    }
    if !matches!(args.codec.as_str(), "json" | "msgpack" | "mix") {
        return Err("--codec is json, msgpack or mix".into());
    }
    if !matches!(args.pairing.as_str(), "create" | "queue") {
        return Err("--pairing is create or queue".into());
    }
    if args.input_hz == 0 {
        return Err("--input-hz must be at least 1".into());
    }
    let nofile = raise_nofile_limit();
    let needed = total as u64 + 256;
    if nofile < needed {
        return Err(format!(
            "the file-descriptor limit is {nofile}, {needed} are needed"
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let mut server = match &args.url {
        Some(url) => Target::remote(url, args.pid)?,
        None => Target::start(&args)?,
    };
    let result = runtime.block_on(drive(&args, &server, nofile));
    server.stop();
    runtime.shutdown_timeout(Duration::from_secs(2));
    let report = result?;
    if args.json {
        println!("{}", report);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (children inherit it); returns
/// the soft limit in force.
fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        limit.rlim_cur
    }
}

/// The server under load.
struct Target {
    addr: SocketAddr,
    path: String,
    pid: Option<u32>,
    child: Option<Child>,
    /// Lines the server logged at warn or error.
    warnings: Arc<AtomicU64>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    fn remote(url: &str, pid: Option<u32>) -> Result<Target, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or("--url must start with ws://")?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].to_owned()),
            None => (rest, "/ws".to_owned()),
        };
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| format!("resolving {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority} resolves to nothing"))?;
        if !is_loopback(addr.ip()) {
            return Err(format!(
                "{addr} is not a loopback address: this generator stays on loopback"
            ));
        }
        Ok(Target {
            addr,
            path,
            pid,
            child: None,
            warnings: Arc::new(AtomicU64::new(0)),
            _dir: None,
        })
    }

    fn start(args: &LoadArgs) -> Result<Target, String> {
        let binary = match &args.server {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .map_err(|e| e.to_string())?
                .with_file_name("arcade"),
        };
        if !binary.exists() {
            return Err(format!(
                "no server binary at {} (build it: cargo build --release -p arcade, or give --server)",
                binary.display()
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut child = std::process::Command::new(&binary)
            .args(["--listen", "127.0.0.1:0", "--log", "warn,arcade=info"])
            .arg("--db")
            .arg(dir.path().join("arcade.db"))
            .args(&args.server_arg)
            .env_remove("ARCADE_LISTEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, listening) = std::sync::mpsc::channel();
        let warnings = Arc::new(AtomicU64::new(0));
        {
            let warnings = warnings.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let addr: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_hexdigit() || ".:[]".contains(*c))
                            .collect();
                        let _ = found.send(addr);
                    } else if (line.contains("WARN") || line.contains("ERROR"))
                        // Every one is counted; the first few are shown.
                        && warnings.fetch_add(1, Ordering::Relaxed) < 5
                    {
                        eprintln!("server: {line}");
                    }
                }
            });
        }
        let pid = child.id();
        let addr = match listening.recv_timeout(SERVER_START_WAIT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the server did not say where it listens".into());
            }
        };
        let addr = addr
            .parse()
            .map_err(|e| format!("server address {addr:?}: {e}"))?;
        Ok(Target {
            addr,
            path: "/ws".into(),
            pid: Some(pid),
            child: Some(child),
            warnings,
            _dir: Some(dir),
        })
    }

    fn ws_url(&self, codec: Codec) -> String {
        format!("ws://{}{}?codec={}", self.addr, self.path, codec.as_str())
    }

    /// Stops the server this run started: SIGTERM, then SIGKILL after a wait.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signals our own child by its pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + SERVER_STOP_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// What every connection task counts, read by the main task.
#[derive(Default)]
struct ClientStats {
    states: AtomicU64,
    bytes: AtomicU64,
    /// The longest gap between two `state`s while measuring, in µs.
    max_gap_us: AtomicU64,
}

/// What all connections share.
struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    /// Gaps between two `state`s of one client, µs (while measuring).
    gaps: Histogram,
    /// Input → ack latency, µs (while measuring).
    acks: Histogram,
    connected: AtomicUsize,
    in_match: AtomicUsize,
    connect_errors: AtomicU64,
    disconnects: AtomicU64,
    /// `error` frames received.
    error_frames: AtomicU64,
    inputs_sent: AtomicU64,
    matches_started: AtomicU64,
    chats_received: AtomicU64,
    tick_rate: AtomicU64,
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
            tick_rate: AtomicU64::new(60),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Idle,
    Player,
    Spectator,
}

async fn drive(args: &LoadArgs, server: &Target, nofile: u64) -> Result<serde_json::Value, String> {
    let shared = Arc::new(Shared::default());
    let pid = server.pid;
    let base_rss = pid.and_then(rss_bytes);
    let mut clients: Vec<(Role, Arc<ClientStats>)> = Vec::new();
    let mut tasks = Vec::new();
    let ramp_started = Instant::now();
    let pace = Duration::from_secs_f64(1.0 / f64::from(args.ramp_rate.max(1)));
    let mut opened = 0usize;
    let codec_of = |n: usize| match args.codec.as_str() {
        "msgpack" => Codec::Msgpack,
        "mix" if n % 2 == 1 => Codec::Msgpack,
        _ => Codec::Json,
    };
    let mut progress = Progress::new(args.json);

    // 1. Idle connections, and the chat among them.
    let mut chat_lines = Vec::with_capacity(args.idle);
    for _ in 0..args.idle {
        let stats = Arc::new(ClientStats::default());
        let (say, said) = mpsc::unbounded_channel();
        chat_lines.push(say);
        let url = server.ws_url(codec_of(opened));
        tasks.push(tokio::spawn(idle_client(
            url,
            codec_of(opened),
            shared.clone(),
            stats.clone(),
            said,
        )));
        clients.push((Role::Idle, stats));
        opened += 1;
        tokio::time::sleep(pace).await;
        progress.ramp(&shared, opened, total(args), ramp_started);
    }
    wait_connected(&shared, opened, &mut progress, total(args), ramp_started).await;
    if !chat_lines.is_empty() {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !shared.stop.load(Ordering::Relaxed) {
                let _ = chat_lines[n % chat_lines.len()].send(n);
                n += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = pid.and_then(rss_bytes);

    // 2. Players, in pairs.
    let queue = args.pairing == "queue";
    let input_hz = args.input_hz;
    for pair in 0..args.players / 2 {
        let (hand_over, handed) = mpsc::unbounded_channel();
        let mut hand_over = Some(hand_over);
        let mut handed = Some(handed);
        for first in [true, false] {
            let stats = Arc::new(ClientStats::default());
            let codec = codec_of(opened);
            let pairing = if queue {
                Pairing::Queue
            } else if first {
                Pairing::Create(hand_over.take().expect("one creator"))
            } else {
                Pairing::Join(handed.take().expect("one joiner"))
            };
            tasks.push(tokio::spawn(player_client(
                server.ws_url(codec),
                codec,
                shared.clone(),
                stats.clone(),
                pairing,
                input_hz,
            )));
            clients.push((Role::Player, stats));
            opened += 1;
            tokio::time::sleep(pace).await;
            progress.ramp(&shared, opened, total(args), ramp_started);
        }
        let _ = pair;
    }
    wait_connected(&shared, opened, &mut progress, total(args), ramp_started).await;

    // 3. Spectators.
    for n in 0..args.spectators {
        let stats = Arc::new(ClientStats::default());
        let codec = codec_of(opened);
        tasks.push(tokio::spawn(spectator_client(
            server.ws_url(codec),
            codec,
            shared.clone(),
            stats.clone(),
            n,
        )));
        clients.push((Role::Spectator, stats));
        opened += 1;
        tokio::time::sleep(pace).await;
        progress.ramp(&shared, opened, total(args), ramp_started);
    }
    wait_connected(&shared, opened, &mut progress, total(args), ramp_started).await;
    let ramp_seconds = ramp_started.elapsed().as_secs_f64();
    for second in 0..args.settle {
        progress.settle(&shared, second, args.settle);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let loaded_rss = pid.and_then(rss_bytes);

    // The measure.
    let metrics_before = scrape(server.addr).await;
    let server_cpu_before = pid.and_then(cpu_seconds);
    let own_cpu_before = cpu_seconds(std::process::id());
    let machine_before = machine_busy_seconds();
    let counts_before: Vec<(u64, u64)> = clients
        .iter()
        .map(|(_, s)| {
            (
                s.states.load(Ordering::Relaxed),
                s.bytes.load(Ordering::Relaxed),
            )
        })
        .collect();
    let inputs_before = shared.inputs_sent.load(Ordering::Relaxed);
    let disconnects_before = shared.disconnects.load(Ordering::Relaxed);
    let started = Instant::now();
    shared.measuring.store(true, Ordering::Relaxed);
    for second in 0..args.duration {
        let deadline = started + Duration::from_secs(second + 1);
        tokio::time::sleep_until(deadline.into()).await;
        progress.run(&shared, &clients, second + 1, args.duration, pid);
    }
    shared.measuring.store(false, Ordering::Relaxed);
    let window = started.elapsed().as_secs_f64();
    let own_cpu_after = cpu_seconds(std::process::id());
    let machine_after = machine_busy_seconds();
    let server_cpu_after = pid.and_then(cpu_seconds);
    let metrics_after = scrape(server.addr).await;
    let details = health_details(server.addr).await;
    let counts_after: Vec<(u64, u64)> = clients
        .iter()
        .map(|(_, s)| {
            (
                s.states.load(Ordering::Relaxed),
                s.bytes.load(Ordering::Relaxed),
            )
        })
        .collect();
    progress.done();

    shared.stop.store(true, Ordering::Relaxed);
    for task in &tasks {
        task.abort();
    }

    // Per-client rates over the window.
    let tick_rate = shared.tick_rate.load(Ordering::Relaxed) as f64;
    let per_role = |role: Role| {
        let mut rates = Vec::new();
        let mut bytes = Vec::new();
        let mut max_gap = 0u64;
        for (index, (r, stats)) in clients.iter().enumerate() {
            if *r != role {
                continue;
            }
            let (s0, b0) = counts_before[index];
            let (s1, b1) = counts_after[index];
            rates.push((s1 - s0) as f64 / window);
            bytes.push((b1 - b0) as f64 / window);
            max_gap = max_gap.max(stats.max_gap_us.load(Ordering::Relaxed));
        }
        rates.sort_by(f64::total_cmp);
        bytes.sort_by(f64::total_cmp);
        (rates, bytes, max_gap)
    };
    let (player_rates, player_bytes, player_max_gap) = per_role(Role::Player);
    let (spectator_rates, _, _) = per_role(Role::Spectator);
    let (_, idle_bytes, _) = per_role(Role::Idle);
    let mut receivers: Vec<f64> = player_rates
        .iter()
        .chain(&spectator_rates)
        .copied()
        .collect();
    receivers.sort_by(f64::total_cmp);
    let q = arcade_bench::stats::quantile;
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };

    let server_cpu = server_cpu_before
        .zip(server_cpu_after)
        .map(|(a, b)| (b - a) / window);
    let own_cpu = own_cpu_before
        .zip(own_cpu_after)
        .map(|(a, b)| (b - a) / window)
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let machine = machine_before
        .zip(machine_after)
        .map(|(a, b)| (b - a) / window);
    let others = machine.map(|m| (m - server_cpu.unwrap_or(0.0) - own_cpu).max(0.0));
    let busy = machine.unwrap_or(server_cpu.unwrap_or(0.0) + own_cpu);
    let limited_by = if busy > 0.9 * cores {
        if others.unwrap_or(0.0) > 0.25 * cores {
            "machine: every core busy, in part with other processes (a shared machine)"
        } else if own_cpu > server_cpu.unwrap_or(0.0) {
            "machine: every core busy, the generator uses more CPU than the server"
        } else {
            "machine: every core busy"
        }
    } else {
        "nothing: CPU to spare"
    };
    let mib = |b: Option<u64>| b.map(|b| b as f64 / (1024.0 * 1024.0));
    let per_conn = |after: Option<u64>, before: Option<u64>, n: usize| {
        after
            .zip(before)
            .filter(|_| n > 0)
            .map(|(a, b)| (a as f64 - b as f64) / n as f64 / 1024.0)
    };
    let tick_p99_bucket = tick_histogram_p99(&metrics_before, &metrics_after);
    let overruns = metric(&metrics_after, "arcade_tick_overruns_total")
        .zip(metric(&metrics_before, "arcade_tick_overruns_total"))
        .map(|(a, b)| a - b);
    let ticks_in_window = metric(&metrics_after, "arcade_tick_duration_seconds_count")
        .zip(metric(
            &metrics_before,
            "arcade_tick_duration_seconds_count",
        ))
        .map(|(a, b)| a - b);
    let dropped = metric(&metrics_after, "arcade_ws_dropped_frames_total")
        .zip(metric(&metrics_before, "arcade_ws_dropped_frames_total"))
        .map(|(a, b)| a - b);
    let players = args.players;
    let connected = shared.connected.load(Ordering::Relaxed);
    let snapshot_p1 = q(&receivers, 0.01);
    let ack_p99_ms = shared.acks.quantile(0.99) as f64 / 1000.0;
    let tick_ms = 1000.0 / tick_rate;
    let report = serde_json::json!({
        "label": args.label,
        "codec": args.codec,
        "pairing": args.pairing,
        "players": players,
        "spectators": args.spectators,
        "idle": args.idle,
        "inputHz": args.input_hz,
        "tickRate": tick_rate,
        "nofileLimit": nofile,
        "rampSeconds": ramp_seconds,
        "windowSeconds": window,
        "connected": connected,
        "inMatch": shared.in_match.load(Ordering::Relaxed),
        "connectErrors": shared.connect_errors.load(Ordering::Relaxed),
        "disconnects": shared.disconnects.load(Ordering::Relaxed) - disconnects_before,
        "disconnectsTotal": shared.disconnects.load(Ordering::Relaxed),
        "errorFrames": shared.error_frames.load(Ordering::Relaxed),
        "matchesStarted": shared.matches_started.load(Ordering::Relaxed),
        "inputsPerSecond": (shared.inputs_sent.load(Ordering::Relaxed) - inputs_before) as f64 / window,
        "statesPerClientSecond": {
            "min": receivers.first().copied().unwrap_or(0.0),
            "p1": snapshot_p1,
            "p50": q(&receivers, 0.5),
            "playersP1": q(&player_rates, 0.01),
            "playersP50": q(&player_rates, 0.5),
            "spectatorsP1": q(&spectator_rates, 0.01),
            "spectatorsP50": q(&spectator_rates, 0.5),
        },
        "snapshotRateP1OfTickRate": snapshot_p1 / tick_rate,
        "gapMs": {
            "p50": shared.gaps.quantile(0.5) as f64 / 1000.0,
            "p99": shared.gaps.quantile(0.99) as f64 / 1000.0,
            "max": shared.gaps.max() as f64 / 1000.0,
            "playersMax": player_max_gap as f64 / 1000.0,
        },
        "ackMs": {
            "count": shared.acks.count(),
            "p50": shared.acks.quantile(0.5) as f64 / 1000.0,
            "p99": ack_p99_ms,
            "max": shared.acks.max() as f64 / 1000.0,
        },
        "ackTicksP99": ack_p99_ms / tick_ms,
        "bytesPerClientSecond": {
            "playersP50": q(&player_bytes, 0.5),
            "playersMean": mean(&player_bytes),
            "idleMean": mean(&idle_bytes),
        },
        "server": {
            "pid": pid,
            "cpuCores": server_cpu,
            "rssMiB": mib(loaded_rss),
            "rssMiBStart": mib(base_rss),
            "rssMiBIdle": mib(idle_rss),
            "kibPerIdleConnection": per_conn(idle_rss, base_rss, args.idle),
            "kibPerPlayingConnection": per_conn(loaded_rss, idle_rss, players + args.spectators),
            "kibPerConnection": per_conn(loaded_rss, base_rss, total(args)),
            "tickP99MsBucket": tick_p99_bucket,
            "tickP99MsLast1024": details.as_ref().and_then(|d| d["tick"]["p99Ms"].as_f64()),
            "ticks": ticks_in_window,
            "overruns": overruns,
            "droppedStates": dropped,
            "warnings": server.warnings.load(Ordering::Relaxed),
        },
        "generator": {
            "cpuCores": own_cpu,
            "threads": args.threads,
        },
        "cores": cores,
        "machineCpuCores": machine,
        "otherProcessesCpuCores": others,
        "limitedBy": limited_by,
        "loadAverage": load_average(),
        "targets": {
            "tickP99Under4ms": tick_p99_bucket.map(|p| p <= 4.0),
            "snapshotRateP1AtLeast95pc": snapshot_p1 >= 0.95 * tick_rate,
            "ackP99Under3Ticks": ack_p99_ms < 3.0 * tick_ms,
        },
    });
    Ok(report)
}

fn total(args: &LoadArgs) -> usize {
    args.players + args.spectators + args.idle
}

/// Waits (bounded) until `expected` connections have opened or failed.
async fn wait_connected(
    shared: &Shared,
    expected: usize,
    progress: &mut Progress,
    total: usize,
    started: Instant,
) {
    let deadline = Instant::now() + CONNECT_WAIT;
    while Instant::now() < deadline {
        let settled = shared.connected.load(Ordering::Relaxed)
            + shared.connect_errors.load(Ordering::Relaxed) as usize;
        if settled >= expected {
            return;
        }
        progress.ramp(shared, expected, total, started);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The progress line on stderr (none with --json).
struct Progress {
    quiet: bool,
    last: Instant,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            last: Instant::now(),
        }
    }

    fn ramp(&mut self, shared: &Shared, opened: usize, total: usize, started: Instant) {
        if self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        eprintln!(
            "[ramp {:>4.0} s] opened {opened}/{total}, connected {}, in a match {}, errors {}",
            started.elapsed().as_secs_f64(),
            shared.connected.load(Ordering::Relaxed),
            shared.in_match.load(Ordering::Relaxed),
            shared.connect_errors.load(Ordering::Relaxed),
        );
    }

    fn settle(&mut self, shared: &Shared, second: u64, of: u64) {
        eprintln!(
            "[settle {second}/{of} s] connected {}, in a match {}",
            shared.connected.load(Ordering::Relaxed),
            shared.in_match.load(Ordering::Relaxed),
        );
    }

    fn run(
        &mut self,
        shared: &Shared,
        clients: &[(Role, Arc<ClientStats>)],
        second: u64,
        of: u64,
        pid: Option<u32>,
    ) {
        let states: u64 = clients
            .iter()
            .map(|(_, s)| s.states.load(Ordering::Relaxed))
            .sum();
        let rss = pid
            .and_then(rss_bytes)
            .map_or(0.0, |b| b as f64 / 1048576.0);
        eprintln!(
            "[run {second}/{of} s] connected {}, in a match {}, states received {states}, gap p99 {:.1} ms, ack p99 {:.1} ms, disconnects {}, server RSS {rss:.0} MiB",
            shared.connected.load(Ordering::Relaxed),
            shared.in_match.load(Ordering::Relaxed),
            shared.gaps.quantile(0.99) as f64 / 1000.0,
            shared.acks.quantile(0.99) as f64 / 1000.0,
            shared.disconnects.load(Ordering::Relaxed),
        );
        let _ = &self.quiet;
    }

    fn done(&mut self) {
        if !self.quiet {
            eprintln!("[done]");
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Result<Socket, String> {
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

/// The fields of a server frame the clients read.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    #[serde(default, borrow)]
    match_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    seat: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    player: Option<PlayerField<'a>>,
    #[serde(default)]
    tick_rate: Option<u64>,
    #[serde(default, borrow)]
    acks: Option<Acks<'a>>,
    #[serde(default, borrow)]
    pong: Option<PongState<'a>>,
    #[serde(default, borrow)]
    matches: Option<Vec<Listed<'a>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PlayerField<'a> {
    Info {
        #[serde(borrow)]
        id: Cow<'a, str>,
    },
    Id(#[serde(borrow)] Cow<'a, str>),
}

#[derive(Deserialize)]
struct Listed<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

#[derive(Deserialize)]
struct PongState<'a> {
    ball: BallState,
    #[serde(borrow)]
    paddles: Vec<PaddleState<'a>>,
}

#[derive(Deserialize)]
struct BallState {
    y: f32,
    vx: f32,
}

#[derive(Deserialize)]
struct PaddleState<'a> {
    #[serde(borrow)]
    seat: Cow<'a, str>,
    y: f32,
}

/// The `acks` map, kept without allocating for the few entries a match has.
#[derive(Default)]
struct Acks<'a> {
    entries: [Option<(Cow<'a, str>, u64)>; 4],
}

impl<'a> Acks<'a> {
    fn of(&self, player: &str) -> Option<u64> {
        self.entries
            .iter()
            .flatten()
            .find(|(id, _)| id == player)
            .map(|(_, seq)| *seq)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Acks<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct AcksVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for AcksVisitor<'a> {
            type Value = Acks<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of player ids to seqs")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Acks<'a>, M::Error> {
                let mut acks = Acks::default();
                let mut at = 0;
                while let Some((id, seq)) = map.next_entry::<Cow<'de, str>, u64>()? {
                    if at < acks.entries.len() {
                        acks.entries[at] = Some((id, seq));
                        at += 1;
                    }
                }
                Ok(acks)
            }
        }
        de.deserialize_map(AcksVisitor(std::marker::PhantomData))
    }
}

fn decode(payload: &[u8], codec: Codec) -> Option<Incoming<'_>> {
    match codec {
        Codec::Json => serde_json::from_slice(payload).ok(),
        Codec::Msgpack => rmp_serde::from_slice(payload).ok(),
    }
}

/// Whether a frame is a `state` (without decoding it): the server writes `type` first.
fn is_state(payload: &[u8]) -> bool {
    let head = &payload[..payload.len().min(24)];
    head.windows(5).any(|w| w == b"state")
}

fn payload(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

/// Counts one received frame; for a `state`, its arrival gap.
fn count_frame(
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
async fn open(url: &str, codec: Codec, shared: &Shared) -> Option<(Socket, String)> {
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

fn lost(shared: &Shared) {
    if !shared.stop.load(Ordering::Relaxed) {
        shared.disconnects.fetch_add(1, Ordering::Relaxed);
    }
    shared.connected.fetch_sub(1, Ordering::Relaxed);
}

async fn idle_client(
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
enum Pairing {
    /// Creates matches and hands their ids to the partner.
    Create(mpsc::UnboundedSender<String>),
    /// Joins the matches the partner creates.
    Join(mpsc::UnboundedReceiver<String>),
    /// `queue.join`.
    Queue,
}

async fn player_client(
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
            let Some(incoming) = decode(bytes, codec) else {
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
                        tokio::time::sleep(Duration::from_millis(200)).await;
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
                    if unacked.len() > 256 {
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
async fn drain_until_stop(
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
fn steer(pong: &PongState, seat: &str) -> f32 {
    let Some(paddle) = pong.paddles.iter().find(|p| p.seat == seat) else {
        return 0.0;
    };
    let left = seat.starts_with("left");
    let coming = (pong.ball.vx < 0.0) == left;
    let target = if coming { pong.ball.y } else { 300.0 };
    ((target - paddle.y) / 7.0).clamp(-1.0, 1.0)
}

async fn spectator_client(
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
                        tokio::time::sleep(Duration::from_millis(500)).await;
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
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue 'watch;
                }
                "match.end" => continue 'watch,
                _ => {}
            }
        }
    }
    lost(&shared);
}

/// The resident memory of a process, from /proc/PID/status.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}

/// CPU seconds the whole machine spent busy (not idle nor waiting on IO), from /proc/stat.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((total - idle) / hz)
}

fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// GET a path of the server over plain HTTP/1.1; the body.
async fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let body_at = text.find("\r\n\r\n")? + 4;
        let head = &text[..body_at];
        let body = &text[body_at..];
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            Some(dechunk(body))
        } else {
            Some(body.to_owned())
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .ok()?
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some(line_end) = body.find("\r\n") {
        let Ok(size) = usize::from_str_radix(body[..line_end].trim(), 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(body.len());
        out.push_str(&body[start..end]);
        body = body.get(end + 2..).unwrap_or("");
    }
    out
}

async fn scrape(addr: SocketAddr) -> String {
    http_get(addr, "/metrics").await.unwrap_or_default()
}

async fn health_details(addr: SocketAddr) -> Option<serde_json::Value> {
    serde_json::from_str(&http_get(addr, "/health/details").await?).ok()
}

/// The value of one sample (a metric name with no labels, or `name{labels}` exactly).
fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(sample)?;
        if !rest.starts_with(' ') {
            return None;
        }
        rest.trim().parse().ok()
    })
}

/// The tick-duration histogram's p99 over the window, as the upper bound of its bucket (ms).
fn tick_histogram_p99(before: &str, after: &str) -> Option<f64> {
    let buckets = |text: &str| -> Vec<(f64, f64)> {
        text.lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("arcade_tick_duration_seconds_bucket{le=\"")?;
                let (le, count) = rest.split_once("\"} ")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, count.trim().parse().ok()?))
            })
            .collect()
    };
    let (before, after) = (buckets(before), buckets(after));
    if after.is_empty() {
        return None;
    }
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, count)| {
            let old = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, count - old)
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    delta
        .iter()
        .find(|(_, count)| *count >= 0.99 * total)
        .map(|(le, _)| le * 1000.0)
}

fn print_report(report: &serde_json::Value) {
    let r = report;
    let f = |v: &serde_json::Value| match v.as_f64() {
        Some(x) => format!("{x:.2}"),
        None => "-".into(),
    };
    println!(
        "# arcade-bench load ({} codec, {} pairing)",
        r["codec"].as_str().unwrap_or(""),
        r["pairing"].as_str().unwrap_or("")
    );
    println!(
        "clients connected      {} of {} (players {}, spectators {}, idle {}), in a match {}",
        r["connected"],
        r["players"].as_u64().unwrap_or(0)
            + r["spectators"].as_u64().unwrap_or(0)
            + r["idle"].as_u64().unwrap_or(0),
        r["players"],
        r["spectators"],
        r["idle"],
        r["inMatch"]
    );
    println!(
        "window                 {} s (ramp {} s), tick rate {} Hz",
        f(&r["windowSeconds"]),
        f(&r["rampSeconds"]),
        r["tickRate"]
    );
    let s = &r["statesPerClientSecond"];
    println!(
        "state/s per client     p1 {}  p50 {}  min {}  (p1 = {} of the tick rate)",
        f(&s["p1"]),
        f(&s["p50"]),
        f(&s["min"]),
        f(&r["snapshotRateP1OfTickRate"])
    );
    let g = &r["gapMs"];
    println!(
        "state gap ms           p50 {}  p99 {}  max {}",
        f(&g["p50"]),
        f(&g["p99"]),
        f(&g["max"])
    );
    let a = &r["ackMs"];
    println!(
        "input->ack ms          p50 {}  p99 {}  max {}  ({} samples, p99 = {} ticks)",
        f(&a["p50"]),
        f(&a["p99"]),
        f(&a["max"]),
        a["count"],
        f(&r["ackTicksP99"])
    );
    let b = &r["bytesPerClientSecond"];
    println!(
        "bytes/s per client     players p50 {}  idle mean {}",
        f(&b["playersP50"]),
        f(&b["idleMean"])
    );
    println!(
        "errors                 connect {}  error frames {}  disconnects {}",
        r["connectErrors"], r["errorFrames"], r["disconnects"]
    );
    let sv = &r["server"];
    println!(
        "server tick p99 ms     histogram bucket <= {}  last 1024 ticks {}  overruns {} of {} ticks",
        f(&sv["tickP99MsBucket"]),
        f(&sv["tickP99MsLast1024"]),
        sv["overruns"],
        sv["ticks"]
    );
    println!("server CPU             {} cores", f(&sv["cpuCores"]));
    println!(
        "server memory MiB      start {}  idle {}  loaded {}",
        f(&sv["rssMiBStart"]),
        f(&sv["rssMiBIdle"]),
        f(&sv["rssMiB"])
    );
    println!(
        "KiB per connection     idle {}  playing {}  all {}",
        f(&sv["kibPerIdleConnection"]),
        f(&sv["kibPerPlayingConnection"]),
        f(&sv["kibPerConnection"])
    );
    println!(
        "generator CPU          {} cores ({} threads); limited by: {}",
        f(&r["generator"]["cpuCores"]),
        r["generator"]["threads"],
        r["limitedBy"].as_str().unwrap_or("")
    );
    println!(
        "load average           {}",
        r["loadAverage"].as_str().unwrap_or("")
    );
    println!("targets                {}", r["targets"]);
}
