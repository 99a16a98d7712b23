//! What playing a match held by another instance of a cluster costs (issue 18 item 4): starts
//! two instances (`a`, `b`) of the release binary on one PostgreSQL and one Redis, then runs
//! `--pairs` Pong matches owned by `a` twice: first with both players on `a` (the baseline),
//! then with the second player connected to `b` (its inputs and the states it receives cross
//! Redis). Each player sends an input every tick; input → ack is the time from sending `seq`
//! to the first `state` whose `acks` has reached it. Prints p50/p99 per player kind and phase,
//! and Redis commands per second per match (from `INFO stats`). Loopback only.
//!
//! ```sh
//! cargo build --release -p arcade -p arcade-bench
//! target/release/cluster_hop --postgres postgres://arcade@127.0.0.1:5432/postgres \
//!     --redis redis://127.0.0.1:6379 [--pairs 20] [--seconds 10] [--arcade target/release/arcade]
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

/// The input rate of every player (the tick rate).
const INPUT_EVERY: Duration = Duration::from_micros(16_667);

struct Instance {
    child: Child,
    addr: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(arcade: &str, database: &str, redis: &str, id: &str) -> Instance {
    let mut child = Command::new(arcade)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log",
            "info",
            "--database-url",
            database,
        ])
        .args([
            "--redis",
            redis,
            "--instance-id",
            id,
            "--jwt-secret",
            "bench",
        ])
        .args([
            "--ws-upgrades",
            "0",
            "--ws-per-address",
            "0",
            "--rate-limit-writes",
            "0",
        ])
        .args(["--db", "/nonexistent/unused.db"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the arcade binary starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (found, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || ".:".contains(*c))
                    .collect();
                let _ = found.send(addr);
            }
        }
    });
    let addr = listening
        .recv_timeout(Duration::from_secs(30))
        .expect("the instance listens");
    Instance { child, addr }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: &str) -> (Socket, String) {
    let (mut socket, _) = connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("connect");
    loop {
        let message = next_json(&mut socket).await;
        if message["type"] == "hello" {
            let id = message["data"]["player"]["id"].as_str().unwrap().to_owned();
            return (socket, id);
        }
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

async fn request(socket: &mut Socket, kind: &str, data: Value) -> Value {
    let message = json!({"type": kind, "requestId": "r", "data": data});
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
    loop {
        let reply = next_json(socket).await;
        if reply["requestId"] == "r" {
            return reply;
        }
    }
}

/// Plays one side until `until`: an input every tick, and input → ack samples (µs).
async fn play(mut socket: Socket, me: String, match_id: String, until: Instant) -> Vec<u64> {
    let mut sent: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut samples = Vec::new();
    let mut seq = 0u64;
    let mut every = tokio::time::interval(INPUT_EVERY);
    while Instant::now() < until {
        tokio::select! {
            _ = every.tick() => {
                seq += 1;
                let axis = if seq % 120 < 60 { 1.0 } else { -1.0 };
                let input = json!({"type": "input", "data": {"matchId": match_id, "seq": seq, "axis": axis}});
                socket.send(Message::text(input.to_string())).await.unwrap();
                sent.push_back((seq, Instant::now()));
            }
            message = socket.next() => {
                let Some(Ok(Message::Text(text))) = message else { continue };
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] != "state" {
                    continue;
                }
                let Some(acked) = message["data"]["acks"][&me].as_u64() else { continue };
                while let Some(&(sent_seq, at)) = sent.front() {
                    if sent_seq > acked {
                        break;
                    }
                    samples.push(at.elapsed().as_micros() as u64);
                    sent.pop_front();
                }
            }
        }
    }
    samples
}

fn quantile(samples: &mut [u64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    samples[((samples.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

async fn redis_commands(redis: &str) -> u64 {
    let client = redis::Client::open(redis).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut connection)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `pairs` matches owned by `owner` for `seconds`, the second player on `joiner`;
/// returns the owner-side and joiner-side samples and Redis commands per second.
async fn phase(
    owner: &str,
    joiner: &str,
    redis: &str,
    pairs: usize,
    seconds: u64,
) -> (Vec<u64>, Vec<u64>, f64) {
    let mut games = Vec::new();
    for _ in 0..pairs {
        let (mut left, left_id) = connect(owner).await;
        let (mut right, right_id) = connect(joiner).await;
        let created = request(
            &mut left,
            "match.create",
            json!({"game": "pong", "mode": "1v1", "options": {"scoreLimit": 21}}),
        )
        .await;
        let match_id = created["data"]["matchId"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned();
        // Other instances learn of a new match within a few ticks.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let joined = request(&mut right, "match.join", json!({"matchId": match_id})).await;
        assert_eq!(joined["type"], "ack", "{joined}");
        games.push((left, left_id, right, right_id, match_id));
    }
    // Past the countdown.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = redis_commands(redis).await;
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut owners = Vec::new();
    let mut joiners = Vec::new();
    for (left, left_id, right, right_id, match_id) in games {
        owners.push(tokio::spawn(play(left, left_id, match_id.clone(), until)));
        joiners.push(tokio::spawn(play(right, right_id, match_id, until)));
    }
    let mut owner_samples = Vec::new();
    for task in owners {
        owner_samples.extend(task.await.unwrap());
    }
    let mut joiner_samples = Vec::new();
    for task in joiners {
        joiner_samples.extend(task.await.unwrap());
    }
    let commands = redis_commands(redis).await.saturating_sub(before);
    let per_second = commands as f64 / started.elapsed().as_secs_f64();
    (owner_samples, joiner_samples, per_second)
}

#[tokio::main]
async fn main() {
    let mut postgres = None;
    let mut redis = None;
    let mut pairs = 20usize;
    let mut seconds = 10u64;
    let mut arcade = "target/release/arcade".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--postgres" => postgres = Some(value),
            "--redis" => redis = Some(value),
            "--pairs" => pairs = value.parse().expect("--pairs N"),
            "--seconds" => seconds = value.parse().expect("--seconds S"),
            "--arcade" => arcade = value,
            _ => panic!(
                "usage: cluster_hop --postgres URL --redis URL [--pairs N] [--seconds S] [--arcade PATH]"
            ),
        }
    }
    let (postgres, redis) = (postgres.expect("--postgres"), redis.expect("--redis"));
    let database =
        arcade_data::pg::create_fresh_database(&postgres, "arcade_hop").expect("a database");
    let a = start(&arcade, &database, &redis, "a");
    let b = start(&arcade, &database, &redis, "b");
    // Both heartbeats are up.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (mut own_local, mut joined_local, ops_local) =
        phase(&a.addr, &a.addr, &redis, pairs, seconds).await;
    let (mut own_remote, mut joined_remote, ops_remote) =
        phase(&a.addr, &b.addr, &redis, pairs, seconds).await;
    println!(
        "cluster_hop: {pairs} Pong matches owned by instance a, {seconds} s each phase, an input every tick"
    );
    println!(
        "both players on a:        input->ack p50 {:.2} ms  p99 {:.2} ms (owner side), p50 {:.2} ms  p99 {:.2} ms (second player); Redis {:.0} commands/s ({:.1} per match)",
        quantile(&mut own_local, 0.5),
        quantile(&mut own_local, 0.99),
        quantile(&mut joined_local, 0.5),
        quantile(&mut joined_local, 0.99),
        ops_local,
        ops_local / pairs as f64,
    );
    println!(
        "second player through b:  input->ack p50 {:.2} ms  p99 {:.2} ms (owner side), p50 {:.2} ms  p99 {:.2} ms (second player); Redis {:.0} commands/s ({:.1} per match)",
        quantile(&mut own_remote, 0.5),
        quantile(&mut own_remote, 0.99),
        quantile(&mut joined_remote, 0.5),
        quantile(&mut joined_remote, 0.99),
        ops_remote,
        ops_remote / pairs as f64,
    );
}
