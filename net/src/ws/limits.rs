//! Per-connection sliding-window limits (tokio threads, one session each).
//!
//! A sliding-window counter for the per-connection limits of PROTOCOL.md (chat per second,
//! inputs per second, malformed frames per 10 s).

use std::time::{Duration, Instant};

/// Allows at most `max` events in any window of `window`.
///
/// It keeps the times of the last `max` events allowed, in a ring: an event is allowed when
/// fewer than `max` came before it, or when the oldest of the last `max` has left the window
/// (then fewer than `max` are in it). One slot is read per event (a player's inputs pass
/// here 60 times a second).
pub struct SlidingWindow {
    max: usize,
    window: Duration,
    /// The last `max` events allowed; once full, the oldest is at `oldest`.
    recent: Vec<Instant>,
    oldest: usize,
}

impl SlidingWindow {
    pub fn new(max: usize, window: Duration) -> SlidingWindow {
        SlidingWindow {
            max,
            window,
            // Grown as events come (to `max` at most): an idle connection holds no slots.
            recent: Vec::new(),
            oldest: 0,
        }
    }

    /// Records an event at `now` and says whether it is within the limit. Refused events are
    /// not recorded, so a flood does not extend its own ban.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.recent.len() < self.max {
            self.recent.push(now);
            return true;
        }
        let Some(oldest) = self.recent.get_mut(self.oldest) else {
            return false;
        };
        if now.duration_since(*oldest) < self.window {
            return false;
        }
        *oldest = now;
        self.oldest = (self.oldest + 1) % self.max;
        true
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
            max in 0usize..6,
            steps in proptest::collection::vec(0u64..400, 1..200),
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
