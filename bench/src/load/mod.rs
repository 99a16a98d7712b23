//! `arcade-bench load`: a WebSocket load generator, run from the main thread, its clients on a
//! tokio runtime of `--threads` workers.
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
//!
//! With `--floor`, the raw-socket floor (`arcade-bench floor`) is measured right after, with
//! the same players, a state frame of the size received and as many states a second as the
//! players received (a starved server that kept 40 of its 60 Hz is held against a floor at
//! 40 Hz), and the server's CPU per player-second is reported as a ratio to it
//! (`cpuRatioToFloor`).
//!
//! ## Layout
//! - `args`: [`LoadArgs`], the command line.
//! - `target`: the server under load, started or given by `--url`, and stopped.
//! - `drive`: one run: the ramp, the settle, the measuring window and the JSON report.
//! - `clients`: the connection tasks (idle, player, spectator) and the counters they share.
//! - `decode`: the codec and the fields of a server frame the clients read.
//! - `probes`: /proc readings and the server's `/metrics` and `/health/details`.
//! - `report`: the progress line and the printed report.

mod args;
mod clients;
mod decode;
mod drive;
mod probes;
mod report;
mod target;

use std::time::Duration;

pub use args::LoadArgs;
use drive::drive;
use report::print_report;
use target::Target;

/// The most connections one run opens.
pub const MAX_CONNECTIONS: usize = 20_000;
/// The longest measuring window.
pub const MAX_SECONDS: u64 = 600;
/// File descriptors kept beyond one per connection (the runtime, HTTP probes, the server's pipe).
const SPARE_DESCRIPTORS: u64 = 256;
/// The soft descriptor limit assumed when it cannot be read (the usual default).
const FALLBACK_NOFILE: u64 = 1024;
/// The tick rate assumed when a report does not give one.
const DEFAULT_TICK_RATE: u32 = 60;
/// How long the generator's tasks get to stop at the end.
const RUNTIME_STOP_WAIT: Duration = Duration::from_secs(2);

/// Runs one load test with `args` and prints its report (one JSON line with `--json`).
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
    if !matches!(args.codec.as_str(), "json" | "msgpack" | "compact" | "mix") {
        return Err("--codec is json, msgpack, compact or mix".into());
    }
    if !matches!(args.pairing.as_str(), "create" | "queue") {
        return Err("--pairing is create or queue".into());
    }
    if args.input_hz == 0 {
        return Err("--input-hz must be at least 1".into());
    }
    let nofile = raise_nofile_limit();
    let needed = total as u64 + SPARE_DESCRIPTORS;
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
    runtime.shutdown_timeout(RUNTIME_STOP_WAIT);
    let mut report = result?;
    if args.floor {
        let floor = measure_floor(&args, &report)?;
        let ratio = report["server"]["cpuMsPerPlayerSecond"]
            .as_f64()
            .zip(floor["cpuMsPerPlayerSecond"].as_f64())
            .map(|(server, floor)| server / floor);
        report["floor"] = floor;
        report["cpuRatioToFloor"] = serde_json::json!(ratio);
    }
    if args.json {
        println!("{}", report);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// Runs `arcade-bench floor --json` (this binary) with the run's players and duration, its
/// state frames the mean size of the states the players received.
fn measure_floor(args: &LoadArgs, report: &serde_json::Value) -> Result<serde_json::Value, String> {
    let bytes = report["bytesPerClientSecond"]["playersMean"].as_f64();
    let states = report["statesPerClientSecond"]["playersP50"].as_f64();
    let state_bytes = match bytes.zip(states) {
        // The payload: the mean frame less its 2-byte header (4 past 125 bytes).
        Some((bytes, states)) if states > 0.0 => {
            let frame = bytes / states;
            (frame - if frame > 127.0 { 4.0 } else { 2.0 })
                .round()
                .max(1.0) as usize
        }
        _ => return Err("no state received: no floor to compare with".into()),
    };
    // The floor sends as many states a second as the players received: on a machine too busy
    // for the server to keep its tick rate, the two still do the same work per player-second.
    let tick_rate = states
        .map(|states| (states.round() as u32).clamp(1, args_tick_rate(report)))
        .unwrap_or(DEFAULT_TICK_RATE);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = std::process::Command::new(exe)
        .args(["floor", "--json", "--settle", "3"])
        .args(["--tick-rate", &tick_rate.to_string()])
        .args(["--players", &args.players.to_string()])
        .args(["--duration", &args.duration.to_string()])
        .args(["--state-bytes", &state_bytes.to_string()])
        // Its clients sleep and wake as this generator's do (the kernel charges a client's
        // wake-up to the sender of the frame).
        .args(["--client-threads", &args.threads.max(1).to_string()])
        .output()
        .map_err(|e| format!("running the floor: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("the floor failed: {stderr}"));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("the floor's JSON: {e}"))
}

/// The server's tick rate in a report (60 when it is not there).
fn args_tick_rate(report: &serde_json::Value) -> u32 {
    report["tickRate"]
        .as_f64()
        .map_or(DEFAULT_TICK_RATE, |rate| rate.round() as u32)
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
            return FALLBACK_NOFILE;
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
