//! One run, on the generator's runtime: opens the connections at the ramp rate (idle, then
//! players, then spectators), settles, measures for the window, and builds the JSON report.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::args::LoadArgs;
use super::clients::{
    CONNECT_WAIT, ClientStats, Pairing, Shared, idle_client, player_client, spectator_client,
};
use super::decode::Codec;
use super::probes::{
    cpu_seconds, health_details, load_average, machine_busy_seconds, metric, rss_bytes, scrape,
    tick_histogram_p99,
};
use super::report::Progress;
use super::target::Target;

/// How often the idle connections send a chat message, all of them together.
const CHAT_EVERY: Duration = Duration::from_secs(1);
/// How long the idle connections rest before the server's memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(2);
/// How often the connected count is polled while waiting for connections.
const CONNECT_POLL: Duration = Duration::from_millis(100);
/// The share of all cores busy above which the run is limited by the machine.
const BUSY_SHARE: f64 = 0.9;
/// The share of all cores used by other processes above which the machine is called shared.
const OTHERS_SHARE: f64 = 0.25;
/// Target: the server's tick p99, in ms.
const TARGET_TICK_P99_MS: f64 = 4.0;
/// Target: the 1st-percentile client's `state` rate, as a share of the tick rate.
const TARGET_SNAPSHOT_SHARE: f64 = 0.95;
/// Target: the input→ack p99, in ticks.
const TARGET_ACK_TICKS: f64 = 3.0;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Idle,
    Player,
    Spectator,
}

pub(super) async fn drive(
    args: &LoadArgs,
    server: &Target,
    nofile: u64,
) -> Result<serde_json::Value, String> {
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
        "compact" => Codec::Compact,
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
                tokio::time::sleep(CHAT_EVERY).await;
            }
        }));
    }
    tokio::time::sleep(IDLE_SETTLE).await;
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
    let counts_before: Vec<(u64, u64)> = counts(&clients);
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
    let counts_after: Vec<(u64, u64)> = counts(&clients);
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
    let limited_by = if busy > BUSY_SHARE * cores {
        if others.unwrap_or(0.0) > OTHERS_SHARE * cores {
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
            "cpuMsPerPlayerSecond": server_cpu.map(|cores| cores * 1000.0 / players.max(1) as f64),
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
            "tickP99Under4ms": tick_p99_bucket.map(|p| p <= TARGET_TICK_P99_MS),
            "snapshotRateP1AtLeast95pc": snapshot_p1 >= TARGET_SNAPSHOT_SHARE * tick_rate,
            "ackP99Under3Ticks": ack_p99_ms < TARGET_ACK_TICKS * tick_ms,
        },
    });
    Ok(report)
}

/// Every client's `(states, bytes)` received so far, in the order of `clients`.
fn counts(clients: &[(Role, Arc<ClientStats>)]) -> Vec<(u64, u64)> {
    clients
        .iter()
        .map(|(_, s)| {
            (
                s.states.load(Ordering::Relaxed),
                s.bytes.load(Ordering::Relaxed),
            )
        })
        .collect()
}

fn total(args: &LoadArgs) -> usize {
    args.players + args.spectators + args.idle
}

/// Waits (bounded) until `expected` connections have opened or failed.
pub(super) async fn wait_connected(
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
        tokio::time::sleep(CONNECT_POLL).await;
    }
}
