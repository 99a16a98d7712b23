//! The history API under a million matches: fills a fresh database with 1,000,000 finished
//! matches (through the store's own writer, so ratings and statistics are kept as in
//! production), starts the real `arcade` binary on it, and measures `GET
//! /api/matches?player=` and `GET /api/leaderboard` over loopback HTTP/1.1 keep-alive,
//! one request at a time. Prints p50/p99/max per route.
//!
//! ```sh
//! cargo build --release --bin arcade
//! cargo run --release -p arcade-bench --bin history -- [--matches N] [--requests N]
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arcade_data::Store;
use arcade_systems::model::{
    EndReason, Game, MatchId, MatchOptions, MatchRecord, Mode, PlayerId, PlayerResult,
    RecordPlayer, Seat,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Matches stored by default.
const DEFAULT_MATCHES: u64 = 1_000_000;
/// Distinct players the matches are drawn between.
const PLAYERS: u64 = 10_000;
/// Requests measured per route by default.
const DEFAULT_REQUESTS: usize = 2_000;
/// Records queued before the filler waits for the writer (bounds the queue's memory).
const FLUSH_EVERY: u64 = 20_000;
/// How long the server gets to start.
const START_WAIT: Duration = Duration::from_secs(30);

fn main() {
    let mut matches = DEFAULT_MATCHES;
    let mut requests = DEFAULT_REQUESTS;
    let mut keep: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--matches" => matches = value().parse().expect("--matches N"),
            "--requests" => requests = value().parse().expect("--requests N"),
            "--db-dir" => keep = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other:?} (--matches N, --requests N, --db-dir D)"),
        }
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = keep.unwrap_or_else(|| temp.path().to_path_buf());
    let db = dir.join("history.db");
    if !db.exists() {
        fill(&db, matches);
    } else {
        println!("reusing {}", db.display());
    }
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!("database: {:.0} MiB", size as f64 / (1024.0 * 1024.0));

    let mut server = start_server(&db);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(measure(&server.addr, requests));
    let _ = server.child.kill();
    let _ = server.child.wait();
}

/// A tiny deterministic generator (xorshift64*), so that runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn player(rng: &mut Rng) -> PlayerId {
    PlayerId(1 + rng.below(PLAYERS))
}

fn seat_of(id: PlayerId, seat: Seat, score: u32, result: PlayerResult) -> RecordPlayer {
    RecordPlayer {
        id,
        name: format!("player{}", id.0),
        seat,
        score,
        result,
    }
}

/// One plausible finished match: 60% pong 1v1, 10% pong 2v2, 10% vs_bot, 10% breakout solo,
/// 10% breakout versus.
fn record(rng: &mut Rng, n: u64) -> MatchRecord {
    let kind = rng.below(10);
    let (game, mode) = match kind {
        0..=5 => (Game::Pong, Mode::OneVsOne),
        6 => (Game::Pong, Mode::TwoVsTwo),
        7 => (Game::Pong, Mode::VsBot),
        8 => (Game::Breakout, Mode::Solo),
        _ => (Game::Breakout, Mode::Versus),
    };
    let a_wins = rng.below(2) == 0;
    let (a, b) = if a_wins {
        (PlayerResult::Win, PlayerResult::Loss)
    } else {
        (PlayerResult::Loss, PlayerResult::Win)
    };
    let players = match mode {
        Mode::OneVsOne => vec![
            seat_of(player(rng), Seat::Left, 11, a),
            seat_of(player(rng), Seat::Right, 7, b),
        ],
        Mode::TwoVsTwo => vec![
            seat_of(player(rng), Seat::LeftBack, 11, a),
            seat_of(player(rng), Seat::RightBack, 9, b),
            seat_of(player(rng), Seat::LeftFront, 11, a),
            seat_of(player(rng), Seat::RightFront, 9, b),
        ],
        Mode::VsBot => vec![seat_of(player(rng), Seat::Left, 11, a)],
        Mode::Solo => vec![seat_of(
            player(rng),
            Seat::P1,
            rng.below(5000) as u32,
            PlayerResult::Loss,
        )],
        Mode::Versus => vec![
            seat_of(player(rng), Seat::P1, rng.below(3000) as u32, a),
            seat_of(player(rng), Seat::P2, rng.below(3000) as u32, b),
        ],
    };
    MatchRecord {
        id: MatchId(n + 1),
        game,
        mode,
        options: MatchOptions::default(),
        seed: rng.next() >> 11,
        started_at_ms: 1_790_000_000_000 + n as i64 * 1000,
        ticks: 3600,
        tick_rate: 60,
        reason: EndReason::ScoreLimit,
        players,
        replay: None,
    }
}

fn fill(db: &Path, matches: u64) {
    let store = Store::open(db).expect("open the store");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    for n in 0..matches {
        let record = record(&mut rng, n);
        let ended = record.started_at_ms + 60_000;
        store.record_match(record, ended);
        if (n + 1) % FLUSH_EVERY == 0 {
            store.flush().expect("flush");
            if (n + 1) % (FLUSH_EVERY * 10) == 0 {
                println!(
                    "  {} matches stored ({:.0}/s)",
                    n + 1,
                    (n + 1) as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    store.close().expect("close");
    assert_eq!(store.failed_records(), 0, "every record stored");
    let took = started.elapsed();
    println!(
        "filled {matches} matches in {:.1} s ({:.0} matches/s)",
        took.as_secs_f64(),
        matches as f64 / took.as_secs_f64()
    );
}

struct Running {
    child: Child,
    addr: String,
}

/// Starts the `arcade` binary built beside this one, with the HTTP rate limits off.
fn start_server(db: &Path) -> Running {
    let exe = std::env::current_exe().expect("current exe");
    let binary = exe
        .parent()
        .and_then(|dir| {
            [dir.join("arcade"), dir.join("../arcade")]
                .into_iter()
                .find(|p| p.exists())
        })
        .expect("the arcade binary beside this one: run `cargo build --release --bin arcade`");
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--log", "warn,arcade=info"])
        .arg("--db")
        .arg(db)
        .args(["--rate-limit-reads", "0", "--rate-limit-writes", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("arcade starts");
    let stderr = child.stderr.take().expect("stderr");
    let (found, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = arcade_bench::listen_addr(&line) {
                let _ = found.send(addr);
            }
        }
    });
    let addr = listening
        .recv_timeout(START_WAIT)
        .expect("the server said where it listens");
    Running { child, addr }
}

/// A keep-alive HTTP/1.1 GET client, just enough for JSON answers with a Content-Length.
struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    async fn connect(addr: &str) -> Http {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Http {
            stream: BufReader::new(stream),
        }
    }

    /// Sends `GET path` and returns the status and body.
    async fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("content-length");
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.expect("body");
        (status, body)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

async fn run_route(http: &mut Http, name: &str, paths: &[String]) {
    // Warm up the page cache and the server's read pool first.
    for path in paths.iter().take(50) {
        http.get(path).await;
    }
    let mut times = Vec::with_capacity(paths.len());
    let mut bytes = 0;
    for path in paths {
        let started = Instant::now();
        let (status, body) = http.get(path).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        bytes += body.len();
    }
    times.sort();
    println!(
        "{name:<44} n={:<5} p50={:>7.3} ms  p99={:>7.3} ms  max={:>7.3} ms  (avg body {} B)",
        times.len(),
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        bytes / times.len().max(1)
    );
}

async fn measure(addr: &str, requests: usize) {
    let mut http = Http::connect(addr).await;
    let mut rng = Rng(42);
    let player_paths: Vec<String> = (0..requests)
        .map(|_| format!("/api/matches?player={}", player(&mut rng)))
        .collect();
    run_route(
        &mut http,
        "GET /api/matches?player= (first page, 20)",
        &player_paths,
    )
    .await;

    // Deeper pages: follow a player's cursor a few pages down.
    let mut deep = Vec::with_capacity(requests);
    while deep.len() < requests {
        let who = player(&mut rng);
        let (_, body) = http
            .get(&format!("/api/matches?player={who}&limit=20"))
            .await;
        let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        if let Some(next) = page["next"].as_str() {
            deep.push(format!("/api/matches?player={who}&limit=20&before={next}"));
        }
    }
    run_route(
        &mut http,
        "GET /api/matches?player=&before= (page 2)",
        &deep,
    )
    .await;

    let pong = vec!["/api/leaderboard?game=pong&limit=20".to_owned(); requests];
    run_route(&mut http, "GET /api/leaderboard?game=pong (20)", &pong).await;
    let pong100 = vec!["/api/leaderboard?game=pong&limit=100".to_owned(); requests];
    run_route(
        &mut http,
        "GET /api/leaderboard?game=pong&limit=100",
        &pong100,
    )
    .await;
    let breakout = vec!["/api/leaderboard?game=breakout&limit=20".to_owned(); requests];
    run_route(
        &mut http,
        "GET /api/leaderboard?game=breakout (20)",
        &breakout,
    )
    .await;
    let all: Vec<String> = vec!["/api/matches?limit=20".to_owned(); requests];
    run_route(&mut http, "GET /api/matches (first page, 20)", &all).await;
}
