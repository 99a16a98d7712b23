//! Spare network workers, run by the `net-spare` thread: while the load needs fewer of the
//! network runtime's workers than it has, the spare ones are held, each by a task that keeps
//! its worker's thread asleep, so that the active workers take every wake-up between them
//! instead of waking each other (BENCHMARKS.md "Spare workers held" (session 14)). A held
//! worker is let go as soon as the active ones are busy, or the runtime stops answering.
//!
//! Why a held worker saves CPU: tokio wakes a parked worker whenever the one polling the
//! sockets finds more than one task ready, and at 60 inputs a second per player it always
//! does; a worker held by a task is not parked, so it is never woken. A held worker's queue
//! is still stolen from by the others, and nothing new lands in it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeMetrics};
use tracing::debug;

/// How often the workers' busy time is sampled.
const SAMPLE: Duration = Duration::from_millis(200);
/// A held worker is let go when, over the last [`RELEASE_SAMPLES`] samples, the active
/// workers were busy more than this share of their time.
const RELEASE_ABOVE: f64 = 0.8;
/// Samples averaged before a held worker is let go (0.4 s).
const RELEASE_SAMPLES: usize = 2;
/// One more worker is held when the busy time of all would fill one worker fewer to less
/// than this share, for [`HOLD_SAMPLES`] samples in a row. Below [`RELEASE_ABOVE`] by a
/// margin: workers let go during a burst (players arriving) are held again once it passed,
/// and a held one is not let go again at the same load.
const HOLD_BELOW: f64 = 0.55;
/// Samples the load must stay low before one more worker is held (2 s).
const HOLD_SAMPLES: usize = 10;
/// How often a held worker looks whether it was let go, should a wake-up be missed.
const HOLD_RECHECK: Duration = Duration::from_millis(50);

/// Tells how many workers are awake (not held), each time that changes.
pub type AwakeReport = Box<dyn Fn(usize) + Send>;

/// The `net-spare` thread and its stop switch. Dropping it lets every held worker go.
pub struct SpareWorkers {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SpareWorkers {
    /// Starts holding the spare workers of the multi-thread runtime behind `runtime`;
    /// `awake` hears how many workers are awake whenever that changes.
    pub fn start(runtime: Handle, awake: AwakeReport) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("net-spare".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || Controller::new(runtime, awake, stop).run()
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Lets every held worker go and ends the thread (before the runtime shuts down: a held
    /// worker would not see the shutdown).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for SpareWorkers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One held worker: the holding task keeps its thread until `released`.
struct Hold {
    released: AtomicBool,
    worker: OnceLock<Thread>,
}

impl Hold {
    /// Runs on a worker (inside a task's poll) and keeps its thread until let go.
    fn keep(&self) {
        let _ = self.worker.set(std::thread::current());
        while !self.released.load(Ordering::SeqCst) {
            std::thread::park_timeout(HOLD_RECHECK);
        }
    }

    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }
}

/// The `net-spare` thread's state.
struct Controller {
    runtime: Handle,
    metrics: RuntimeMetrics,
    awake: AwakeReport,
    stop: Arc<AtomicBool>,
    holds: Vec<Arc<Hold>>,
    /// Each worker's busy time at the last sample.
    busy_before: Vec<Duration>,
    /// The busy share of the active workers in the last samples, newest last.
    recent: Vec<f64>,
    /// Samples in a row in which one worker fewer would have sufficed.
    low_samples: usize,
    /// The last heartbeat sent to the runtime, and the last one a task of it answered.
    beat_sent: u64,
    beat_seen: Arc<AtomicU64>,
}

impl Controller {
    fn new(runtime: Handle, awake: AwakeReport, stop: Arc<AtomicBool>) -> Self {
        let metrics = runtime.metrics();
        let busy_before = (0..metrics.num_workers())
            .map(|worker| metrics.worker_total_busy_duration(worker))
            .collect();
        Self {
            runtime,
            metrics,
            awake,
            stop,
            holds: Vec::new(),
            busy_before,
            recent: Vec::with_capacity(RELEASE_SAMPLES),
            low_samples: 0,
            beat_sent: 0,
            beat_seen: Arc::new(AtomicU64::new(0)),
        }
    }

    fn run(mut self) {
        let mut sampled_at = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::park_timeout(SAMPLE);
            let now = Instant::now();
            let elapsed = now - sampled_at;
            if elapsed < SAMPLE {
                continue; // an early wake-up: stop is looked at above
            }
            sampled_at = now;
            self.sample(elapsed);
        }
        while let Some(hold) = self.holds.pop() {
            hold.release();
        }
        (self.awake)(self.busy_before.len());
    }

    fn sample(&mut self, elapsed: Duration) {
        let answered = self.beat_seen.load(Ordering::Relaxed) == self.beat_sent;
        self.send_beat();
        let workers = self.busy_before.len();
        let active = workers - self.holds.len();
        let busy = self.busy_since_last(elapsed);
        if self.recent.len() == RELEASE_SAMPLES {
            self.recent.remove(0);
        }
        self.recent.push(busy / active as f64);
        let recent_share = self.recent.iter().sum::<f64>() / self.recent.len() as f64;

        if !self.holds.is_empty()
            && (!answered || (self.recent.len() == RELEASE_SAMPLES && recent_share > RELEASE_ABOVE))
        {
            self.release_one(answered, recent_share);
        } else if active > 1 && answered && busy < (active - 1) as f64 * HOLD_BELOW {
            self.low_samples += 1;
            if self.low_samples >= HOLD_SAMPLES {
                self.hold_one(busy);
            }
        } else {
            self.low_samples = 0;
        }
    }

    /// The workers' busy time since the last sample, in workers (1.0: one worker busy all
    /// along). A worker let go reports its whole held time at once: each worker counts at
    /// most the sample's length.
    fn busy_since_last(&mut self, elapsed: Duration) -> f64 {
        let mut busy = Duration::ZERO;
        for (worker, before) in self.busy_before.iter_mut().enumerate() {
            let total = self.metrics.worker_total_busy_duration(worker);
            busy += total.saturating_sub(*before).min(elapsed);
            *before = total;
        }
        busy.as_secs_f64() / elapsed.as_secs_f64()
    }

    /// A task that notes it ran: if it has not by the next sample, the active workers are
    /// stuck or swamped.
    fn send_beat(&mut self) {
        self.beat_sent += 1;
        let beat = self.beat_sent;
        let seen = Arc::clone(&self.beat_seen);
        self.runtime.spawn(async move {
            seen.fetch_max(beat, Ordering::Relaxed); // beats may run out of order
        });
    }

    fn hold_one(&mut self, busy: f64) {
        let hold = Arc::new(Hold {
            released: AtomicBool::new(false),
            worker: OnceLock::new(),
        });
        self.holds.push(Arc::clone(&hold));
        self.runtime.spawn(async move { hold.keep() });
        (self.awake)(self.busy_before.len() - self.holds.len());
        self.low_samples = 0;
        self.recent.clear();
        debug!(held = self.holds.len(), busy, "a spare network worker held");
    }

    fn release_one(&mut self, answered: bool, recent_share: f64) {
        if let Some(hold) = self.holds.pop() {
            hold.release();
        }
        (self.awake)(self.busy_before.len() - self.holds.len());
        self.low_samples = 0;
        self.recent.clear();
        debug!(
            held = self.holds.len(),
            answered, recent_share, "a spare network worker let go"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spare workers over `runtime`, and the count of awake workers they last reported.
    fn spare_workers(runtime: &tokio::runtime::Runtime) -> (SpareWorkers, Arc<AtomicU64>) {
        let awake = Arc::new(AtomicU64::new(runtime.metrics().num_workers() as u64));
        let report = Arc::clone(&awake);
        let spare = SpareWorkers::start(
            runtime.handle().clone(),
            Box::new(move |workers| report.store(workers as u64, Ordering::Relaxed)),
        )
        .unwrap();
        (spare, awake)
    }

    fn runtime(workers: usize) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Waits up to `limit` for `condition`.
    fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        condition()
    }

    /// Waits until one worker is awake: long enough for two to be held one after the other,
    /// with room for a slow machine.
    fn only_one_awake_soon(awake: &AtomicU64) -> bool {
        let limit = SAMPLE * (HOLD_SAMPLES as u32 + 2) * 4;
        wait_for(limit, || awake.load(Ordering::Relaxed) == 1)
    }

    /// Keeps one worker busy (a task that spins in slices and yields) until `stop`.
    fn spin(runtime: &tokio::runtime::Runtime, stop: Arc<AtomicBool>) {
        runtime.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let slice = Instant::now();
                while slice.elapsed() < Duration::from_millis(2) {
                    std::hint::spin_loop();
                }
                tokio::task::yield_now().await;
            }
        });
    }

    #[test]
    fn a_worker_lingering_before_it_parks_counts_as_idle() {
        // Each wake-up of a 1 ms timer ends in a 15 ms linger (`crate::linger`): were tokio to
        // count the linger as busy time, the worker would look busy nearly all the time and
        // its spare would never be held.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_park(crate::linger::before_park(Duration::from_millis(15)))
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ticking = Arc::clone(&stop);
        runtime.spawn(async move {
            while !ticking.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let (mut spare, awake) = spare_workers(&runtime);
        assert!(
            only_one_awake_soon(&awake),
            "a lingering worker was taken for a busy one ({} of 2 awake)",
            awake.load(Ordering::Relaxed)
        );
        stop.store(true, Ordering::Relaxed);
        spare.stop();
    }

    #[test]
    fn an_idle_runtime_keeps_one_worker_awake_and_a_busy_one_gets_them_back() {
        let runtime = runtime(3);
        let (mut spare, awake) = spare_workers(&runtime);
        assert!(
            only_one_awake_soon(&awake),
            "{} of 3 workers awake while idle",
            awake.load(Ordering::Relaxed)
        );

        let stop = Arc::new(AtomicBool::new(false));
        spin(&runtime, Arc::clone(&stop));
        assert!(
            wait_for(Duration::from_secs(3), || awake.load(Ordering::Relaxed) > 1),
            "a worker spinning alone was not given a second one"
        );
        stop.store(true, Ordering::Relaxed);
        assert!(
            only_one_awake_soon(&awake),
            "the spare workers were not held again once idle ({} awake)",
            awake.load(Ordering::Relaxed)
        );
        spare.stop();
        assert_eq!(awake.load(Ordering::Relaxed), 3, "all awake once stopped");
    }

    #[test]
    fn a_worker_stuck_in_a_poll_gets_the_held_one_back() {
        let runtime = runtime(2);
        let (_spare, awake) = spare_workers(&runtime);
        assert!(only_one_awake_soon(&awake));

        // The only active worker blocks until a task sent from outside answers it: only the
        // held worker can run that task, once it is let go.
        let (started, has_started) = std::sync::mpsc::channel::<()>();
        let (answer, answered) = std::sync::mpsc::channel::<()>();
        let blocked = runtime.spawn(async move {
            started.send(()).unwrap();
            answered.recv_timeout(Duration::from_secs(5)).is_ok()
        });
        has_started.recv().unwrap();
        runtime.spawn(async move { answer.send(()).unwrap() });
        let unblocked = runtime.block_on(blocked).unwrap();
        assert!(unblocked, "the blocked worker was never helped");
    }

    #[test]
    fn stopping_lets_the_held_workers_go_so_the_runtime_shuts_down() {
        let runtime = runtime(2);
        let (mut spare, awake) = spare_workers(&runtime);
        assert!(only_one_awake_soon(&awake));
        spare.stop();
        let started = Instant::now();
        runtime.shutdown_timeout(Duration::from_secs(5));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
