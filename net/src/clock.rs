//! The tick thread's clock as other threads read it, without a lock: [`ServerClock`] (written by
//! the tick thread after every tick), [`TickWindow`] (recent tick durations), and [`now_ms`].

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The tick thread's heartbeat, readable from any thread without a lock.
#[derive(Default)]
pub struct ServerClock {
    tick: AtomicU64,
    /// Microseconds since `started` at the end of the last tick.
    last_tick_us: AtomicU64,
    /// Duration of the last tick, in nanoseconds.
    last_tick_ns: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

impl ServerClock {
    pub fn new() -> ServerClock {
        let clock = ServerClock::default();
        let _ = clock.started.set(Instant::now());
        clock
    }

    fn started(&self) -> Instant {
        *self.started.get_or_init(Instant::now)
    }

    /// Called by the tick thread after every tick.
    pub fn ticked(&self, tick: u64, work: Duration) {
        self.tick.store(tick, Ordering::Relaxed);
        self.last_tick_ns
            .store(work.as_nanos() as u64, Ordering::Relaxed);
        let since_start = self.started().elapsed().as_micros() as u64;
        self.last_tick_us.store(since_start, Ordering::Relaxed);
    }

    pub fn tick(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }

    pub fn last_tick_duration(&self) -> Duration {
        Duration::from_nanos(self.last_tick_ns.load(Ordering::Relaxed))
    }

    /// Time since the last tick ended (forever if none has run).
    pub fn since_last_tick(&self) -> Duration {
        let last = self.last_tick_us.load(Ordering::Relaxed);
        if last == 0 {
            return Duration::MAX;
        }
        let now = self.started().elapsed().as_micros() as u64;
        Duration::from_micros(now.saturating_sub(last))
    }

    pub fn uptime(&self) -> Duration {
        self.started().elapsed()
    }
}

/// The tick loop counts as alive while it has ticked within this.
pub const TICK_ALIVE_WITHIN: Duration = Duration::from_secs(1);

/// How many recent ticks the p99 is taken over.
pub const TICK_WINDOW: usize = 1024;

/// The durations of the last [`TICK_WINDOW`] ticks, in microseconds: the tick thread writes
/// with relaxed atomic stores (no lock on the hot path); readers copy and sort.
pub struct TickWindow {
    slots: Box<[AtomicU32]>,
    next: AtomicU64,
}

impl Default for TickWindow {
    fn default() -> Self {
        TickWindow {
            slots: (0..TICK_WINDOW).map(|_| AtomicU32::new(0)).collect(),
            next: AtomicU64::new(0),
        }
    }
}

impl TickWindow {
    /// Records one tick's work (called by the tick thread).
    pub fn record(&self, work: Duration) {
        let at = self.next.fetch_add(1, Ordering::Relaxed) as usize % TICK_WINDOW;
        let micros = u32::try_from(work.as_micros()).unwrap_or(u32::MAX);
        self.slots[at].store(micros, Ordering::Relaxed);
    }

    /// The 99th percentile of the recorded ticks (zero before any).
    pub fn p99(&self) -> Duration {
        let filled = (self.next.load(Ordering::Relaxed) as usize).min(TICK_WINDOW);
        if filled == 0 {
            return Duration::ZERO;
        }
        let mut micros: Vec<u32> = self.slots[..filled]
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .collect();
        micros.sort_unstable();
        let rank = (filled * 99).div_ceil(100).max(1) - 1;
        Duration::from_micros(u64::from(micros[rank]))
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tick_p99_is_over_the_recent_window() {
        let window = TickWindow::default();
        assert_eq!(window.p99(), Duration::ZERO);
        for micros in 1..=100 {
            window.record(Duration::from_micros(micros));
        }
        assert_eq!(window.p99(), Duration::from_micros(99));
        for _ in 0..TICK_WINDOW {
            window.record(Duration::from_micros(7));
        }
        assert_eq!(window.p99(), Duration::from_micros(7));
    }
}
