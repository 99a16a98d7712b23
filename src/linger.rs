//! Network workers that run out of work linger before they park: tokio's `on_thread_park`
//! hook, run on the network threads.
//!
//! A worker parked in `epoll_wait` is woken by every input that arrives. Clients answer each
//! `state` as it arrives, so their inputs come spread over the tick, and an idle worker was
//! woken for nearly each one (under the peers' Node generator at 200 players, 100–133
//! `epoll_wait`s a tick). Inputs only matter at the next tick: a worker that sleeps a
//! moment before it parks finds the inputs that came meanwhile ready at once, and takes
//! them in one pass. Anything else that comes during the linger (a reply, a wake-up of a
//! sender task after a tick, a timer) waits for it too, so it stays short (BENCHMARKS.md
//! "Network workers linger before they park" (session 17)).
//!
//! tokio does not count the hook's time as busy (`worker_total_busy_duration`), so
//! `spare_workers` sees a lingering worker as idle.

use std::time::Duration;

/// The hook for `on_thread_park`: sleeps `linger` (a zero linger makes no call: `sleep`
/// returns at once for it).
pub fn before_park(linger: Duration) -> impl Fn() + Send + Sync + 'static {
    move || std::thread::sleep(linger)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_linger_sleeps_its_time() {
        let started = Instant::now();
        before_park(Duration::from_millis(3))();
        assert!(started.elapsed() >= Duration::from_millis(3));
    }
}
