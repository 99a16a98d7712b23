//! The tick thread: owns the World and runs one schedule step per tick at `--tick-rate` on a
//! monotonic clock. Deadlines are `start + n × period`, so there is no drift; a tick that ends
//! past the next deadline is an overrun, counted, and the missed deadlines are skipped rather
//! than caught up in a burst. The thread never touches a socket or the disk: inputs arrive
//! through the bridge's channel, frames leave through outboxes, records through the writer's
//! channel. At the stop it aborts the live matches, or with `--keep-live-matches` hands them
//! to the database first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arcade_net::clock::ServerClock;
use arcade_net::metrics::Metrics;
use arcade_systems::checkpoint::MatchCheckpoint;
use arcade_systems::sim::Simulation;

/// Ticks run after the stop flag to announce and record the aborted matches.
const SHUTDOWN_TICKS: u32 = 2;

/// Where `--keep-live-matches` saves the live matches' checkpoints when the loop stops (all
/// or none; an error leaves them to be aborted as without the flag).
pub type SaveLiveMatches = Box<dyn FnOnce(&[MatchCheckpoint]) -> Result<(), String> + Send>;

pub struct TickLoop {
    pub sim: Simulation,
    pub tick_rate: u32,
    pub clock: Arc<ServerClock>,
    pub metrics: Arc<Metrics>,
    /// Set to end the loop (after aborting the live matches).
    pub stop: Arc<AtomicBool>,
    /// Test hook: while set, the loop does not tick (so `/health` can be seen failing).
    pub paused: Arc<AtomicBool>,
    /// `--keep-live-matches`: the live matches are saved here at the stop instead of aborted.
    pub keep_live: Option<SaveLiveMatches>,
    /// `--tick-realtime`: the thread runs under SCHED_FIFO when the process may.
    pub realtime: bool,
}

impl TickLoop {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("tick".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        arcade_net::bridge::priority::raise(self.realtime);
        let period = Duration::from_secs_f64(1.0 / f64::from(self.tick_rate));
        let mut tick: u64 = 0;
        let mut deadline = Instant::now() + period;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now < deadline {
                std::thread::sleep(deadline - now);
            }
            if self.paused.load(Ordering::Relaxed) {
                deadline = Instant::now() + period;
                continue;
            }
            tick += 1;
            self.step(tick);
            deadline += period;
            let now = Instant::now();
            if now > deadline {
                self.metrics.tick_overruns.inc();
                let behind = (now - deadline).as_nanos() / period.as_nanos();
                deadline += period * (behind as u32 + 1);
            }
        }
        if let Some(save) = self.keep_live.take() {
            // Between steps: every live match is captured whole; saved, it leaves this World
            // without an end (no `match.end`, no record).
            let kept = arcade_net::bridge::checkpoint::hand_over(&mut self.sim.world, save);
            tracing::info!(kept, "live matches kept for the next start");
        }
        arcade_net::bridge::abort_all(&mut self.sim.world);
        for _ in 0..SHUTDOWN_TICKS {
            tick += 1;
            self.step(tick);
        }
    }

    fn step(&mut self, tick: u64) {
        let started = Instant::now();
        self.sim.step();
        let work = started.elapsed();
        self.metrics.tick_duration.observe(work.as_secs_f64());
        self.metrics.tick_window.record(work);
        self.clock.ticked(tick, work);
    }
}
