//! Per-connection sliding-window limits (tokio threads, one session each).
//!
//! A sliding-window counter for the per-connection limits of PROTOCOL.md (chat per second,
//! inputs per second, malformed frames per 10 s).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Allows at most `max` events in any window of `window`.
pub struct SlidingWindow {
    max: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl SlidingWindow {
    pub fn new(max: usize, window: Duration) -> SlidingWindow {
        SlidingWindow {
            max,
            window,
            recent: VecDeque::with_capacity(max + 1),
        }
    }

    /// Records an event at `now` and says whether it is within the limit. Refused events are
    /// not recorded, so a flood does not extend its own ban.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&at| now.duration_since(at) >= self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max {
            return false;
        }
        self.recent.push_back(now);
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
}
