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
        raise_priority(self.realtime);
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

/// How much the tick thread's scheduling priority is raised (a nice value below 0), when the
/// process may: a tick that waits for a core behind socket writers misses its deadline.
const TICK_THREAD_NICE: i32 = -10;

/// The SCHED_FIFO priority of the tick thread under `--tick-realtime`: the lowest real-time
/// one, above every normal thread, below the kernel's own real-time threads.
const TICK_THREAD_FIFO_PRIORITY: i32 = 1;

/// Best effort: raises this thread's priority (needs CAP_SYS_NICE; otherwise a debug line, or
/// a warning when `realtime` was asked for). Under a nice value the scheduler still lets a
/// worker the tick wakes (the senders after a tick) take the core midway: `strace -T` showed a
/// tick's wake-up calls returning 4-9 ms later under load. A SCHED_FIFO thread is not preempted
/// by normal threads (BENCHMARKS.md "The tick's waits").
fn raise_priority(realtime: bool) {
    #[cfg(not(target_os = "linux"))]
    let _ = realtime;
    #[cfg(target_os = "linux")]
    {
        if realtime {
            let param = libc::sched_param {
                sched_priority: TICK_THREAD_FIFO_PRIORITY,
            };
            // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is the
            // calling thread.
            let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
            if result == 0 {
                tracing::info!("tick thread runs under SCHED_FIFO");
                return;
            }
            tracing::warn!(
                "--tick-realtime: SCHED_FIFO refused (no CAP_SYS_NICE); raising the nice value instead"
            );
        }
        // On Linux the nice value is per thread: `who = 0` with PRIO_PROCESS means the caller.
        // SAFETY: setpriority only reads its integer arguments.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, TICK_THREAD_NICE) };
        if result == 0 {
            tracing::debug!(nice = TICK_THREAD_NICE, "tick thread priority raised");
        } else {
            tracing::debug!("tick thread priority unchanged (no CAP_SYS_NICE)");
        }
    }
}
