//! Per-connection sliding-window limits (tokio threads, one session each).
//!
//! A sliding-window counter for the per-connection limits of PROTOCOL.md (chat per second,
//! inputs per second, malformed frames per 10 s).

use std::time::{Duration, Instant};

/// Allows at most `max` events in any window of `window`.
///
/// It keeps the times of the last `max` events allowed, in a ring: an event is allowed when
/// fewer than `max` came before it, or when the oldest of the last `max` has left the window
/// (then fewer than `max` are in it). A player's inputs pass here 60 times a second, and the
/// ring's slot is rarely still in the cache when the next one comes (its lines are read one
/// after another, each once every few inputs): so the allowed events are also counted by
/// eighth of a window, and while those counts say fewer than `max` can be in the window, an
/// event is allowed without reading the ring (only its slot is written).
pub struct SlidingWindow {
    max: usize,
    /// The window in microseconds.
    window: u64,
    /// The first event's time: the others are kept as microseconds since it.
    since: Option<Instant>,
    /// The last `max` events allowed, in microseconds since `since` (half an `Instant`'s
    /// bytes: the ring is read once per event, a cache line serves eight); once full, the
    /// oldest is at `oldest`.
    recent: Vec<u64>,
    oldest: usize,
    /// Events allowed in each of the last `BUCKETS` buckets (`window / (BUCKETS - 1)` wide),
    /// the bucket of index `i` at `i % BUCKETS`. The window ending at an event in bucket `k`
    /// lies within buckets `k - (BUCKETS - 1)` to `k`, so their sum bounds from above the
    /// events in it.
    counts: [u32; BUCKETS],
    /// The index of the newest bucket counted.
    newest: u64,
}

/// Buckets counted: the window is eight of them wide, and overlaps nine.
const BUCKETS: usize = 9;

impl SlidingWindow {
    pub fn new(max: usize, window: Duration) -> SlidingWindow {
        SlidingWindow {
            max,
            window: u64::try_from(window.as_micros()).unwrap_or(u64::MAX),
            since: None,
            // Grown as events come (to `max` at most): an idle connection holds no slots.
            recent: Vec::new(),
            oldest: 0,
            counts: [0; BUCKETS],
            newest: 0,
        }
    }

    /// Records an event at `now` and says whether it is within the limit (to the
    /// microsecond). Refused events are not recorded, so a flood does not extend its own ban.
    pub fn allow(&mut self, now: Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        let now =
            u64::try_from(now.saturating_duration_since(since).as_micros()).unwrap_or(u64::MAX);
        let bucket = self.count_to(now);
        if self.recent.len() < self.max {
            self.recent.push(now);
        } else {
            let Some(oldest) = self.recent.get_mut(self.oldest) else {
                return false;
            };
            let surely_under = self.counts.iter().sum::<u32>() < self.max as u32;
            if !surely_under && now.saturating_sub(*oldest) < self.window {
                return false;
            }
            *oldest = now;
            self.oldest += 1;
            if self.oldest == self.max {
                self.oldest = 0;
            }
        }
        self.counts[bucket] += 1;
        true
    }

    /// Moves the counts on to the bucket of `now` (microseconds), emptying those it passes;
    /// returns its slot. An event earlier than the newest bucket (not for a monotonic clock)
    /// is counted in it: a count held longer only raises the bound.
    fn count_to(&mut self, now: u64) -> usize {
        let width = (self.window / (BUCKETS as u64 - 1)).max(1);
        let bucket = now / width;
        if bucket > self.newest {
            let passed = (bucket - self.newest).min(BUCKETS as u64);
            for index in bucket + 1 - passed..=bucket {
                self.counts[(index % BUCKETS as u64) as usize] = 0;
            }
            self.newest = bucket;
        }
        (self.newest % BUCKETS as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_per_window_then_refuses_until_it_slides() {
        let start = Instant::now();
        let mut limit = SlidingWindow::new(5, Duration::from_secs(1));
        for i in 0..5 {
            assert!(
                limit.allow(start + Duration::from_millis(i * 10)),
                "event {i}"
            );
        }
        assert!(!limit.allow(start + Duration::from_millis(500)));
        assert!(!limit.allow(start + Duration::from_millis(999)));
        assert!(limit.allow(start + Duration::from_millis(1000)));
        assert!(limit.allow(start + Duration::from_millis(1010)));
        assert!(!limit.allow(start + Duration::from_millis(1011)));
    }

    /// The definition: events allowed in the window, counted from a list of all of them.
    struct Counted {
        max: usize,
        window: Duration,
        allowed: Vec<Instant>,
    }

    impl Counted {
        fn allow(&mut self, now: Instant) -> bool {
            let window = self.window;
            let within = self
                .allowed
                .iter()
                .filter(|&&at| now.duration_since(at) < window)
                .count();
            let allowed = within < self.max;
            if allowed {
                self.allowed.push(now);
            }
            allowed
        }
    }

    proptest::proptest! {
        #[test]
        fn the_ring_allows_what_counting_the_window_allows(
            max in 0usize..12,
            steps in proptest::collection::vec(0u64..400, 1..300),
        ) {
            let start = Instant::now();
            let window = Duration::from_millis(1000);
            let mut ring = SlidingWindow::new(max, window);
            let mut counted = Counted { max, window, allowed: Vec::new() };
            let mut at = start;
            for step in steps {
                at += Duration::from_millis(step);
                proptest::prop_assert_eq!(ring.allow(at), counted.allow(at));
            }
        }
    }
}
