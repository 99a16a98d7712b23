//! What a run tells: the progress line on stderr while it runs, and the report printed at the
//! end (without `--json`). Used from the main task.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::clients::{ClientStats, Shared};
use super::drive::Role;
use super::probes::rss_bytes;

/// The least time between two progress lines while ramping.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The progress line on stderr (none with --json).
pub(super) struct Progress {
    /// With `--json`: no `[done]` line.
    quiet: bool,
    /// When the last ramp line was printed.
    last: Instant,
}

impl Progress {
    pub(super) fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            last: Instant::now(),
        }
    }

    pub(super) fn ramp(&mut self, shared: &Shared, opened: usize, total: usize, started: Instant) {
        if self.last.elapsed() < PROGRESS_EVERY {
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

    pub(super) fn settle(&mut self, shared: &Shared, second: u64, of: u64) {
        eprintln!(
            "[settle {second}/{of} s] connected {}, in a match {}",
            shared.connected.load(Ordering::Relaxed),
            shared.in_match.load(Ordering::Relaxed),
        );
    }

    pub(super) fn run(
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

    pub(super) fn done(&mut self) {
        if !self.quiet {
            eprintln!("[done]");
        }
    }
}

pub(super) fn print_report(report: &serde_json::Value) {
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
    println!(
        "server CPU             {} cores, {} ms per player-second",
        f(&sv["cpuCores"]),
        f(&sv["cpuMsPerPlayerSecond"])
    );
    if let Some(floor) = r["floor"].as_object() {
        println!(
            "floor CPU              {} ms per player-second ({} B state frames); server/floor {}",
            f(&floor["cpuMsPerPlayerSecond"]),
            f(&floor["stateFrameBytes"]),
            f(&r["cpuRatioToFloor"])
        );
    }
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
