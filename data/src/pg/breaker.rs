//! The circuit breaker of PostgreSQL's pooled reads (any thread: a mutex held for a few
//! instructions, never across IO). While PostgreSQL is away, a read must not try to connect:
//! after [`BREAKER_FAILURES`] reads in a row that could not get a connection, the breaker
//! opens and reads fail at once with [`DataError::Unavailable`]; once its wait is over, one
//! read (the probe) may try; if it gets a connection the breaker closes, otherwise it opens
//! again for twice as long, up to [`BREAKER_MAX_OPEN`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::DataError;

/// Reads in a row that could not get a connection before the breaker opens.
pub const BREAKER_FAILURES: u32 = 3;
/// How long the breaker first stays open; doubled after each failed probe.
pub const BREAKER_FIRST_OPEN: Duration = Duration::from_millis(250);
/// The longest the breaker stays open between probes.
pub const BREAKER_MAX_OPEN: Duration = Duration::from_secs(5);
/// How long a probe may take before another read may probe instead (a probe that never
/// ends must not hold the breaker open for ever).
pub const PROBE_WAIT: Duration = Duration::from_secs(10);

/// Where the breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reads go through; `failures` in a row could not get a connection.
    Closed { failures: u32 },
    /// Reads fail at once until `until`; `open_for` is how long this opening lasts.
    Open { until: Instant, open_for: Duration },
    /// One read, started at `since`, is finding out whether PostgreSQL is back.
    Probing { since: Instant, open_for: Duration },
}

/// What the breaker lets a read do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Permit {
    /// A read while the breaker is closed.
    Read,
    /// The one read that finds out whether PostgreSQL is back.
    Probe,
}

/// The breaker's state as `/health/details` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerStatus {
    /// `closed`, `open` or `probing`.
    pub state: &'static str,
    /// Reads in a row that could not get a connection (while closed).
    pub failures: u32,
    /// While open: how long until the next probe may run.
    pub retry_in: Option<Duration>,
}

/// The breaker (one per PostgreSQL backend).
pub(crate) struct Breaker {
    phase: Mutex<Phase>,
    /// Whether the breaker is not closed, readable without the lock (metrics).
    open: AtomicBool,
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker {
            phase: Mutex::new(Phase::Closed { failures: 0 }),
            open: AtomicBool::new(false),
        }
    }
}

impl Breaker {
    /// Lets a read run, or refuses it with the error it fails with at once.
    pub(crate) fn admit(&self, now: Instant) -> Result<Permit, DataError> {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        match *phase {
            Phase::Closed { .. } => Ok(Permit::Read),
            Phase::Open { until, open_for } if now >= until => {
                *phase = Phase::Probing {
                    since: now,
                    open_for,
                };
                Ok(Permit::Probe)
            }
            Phase::Probing { since, open_for } if now.duration_since(since) >= PROBE_WAIT => {
                *phase = Phase::Probing {
                    since: now,
                    open_for,
                };
                Ok(Permit::Probe)
            }
            Phase::Open { until, .. } => Err(refused(Some(until - now))),
            Phase::Probing { .. } => Err(refused(None)),
        }
    }

    /// A read got a connection: PostgreSQL answers, the breaker closes.
    pub(crate) fn succeeded(&self) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(*phase, Phase::Closed { .. }) {
            tracing::info!("postgres answers again: reads resume");
        }
        *phase = Phase::Closed { failures: 0 };
        self.open.store(false, Ordering::Relaxed);
    }

    /// A read admitted with `permit` could not get a connection.
    pub(crate) fn failed(&self, permit: Permit, now: Instant) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        let next = match (*phase, permit) {
            (Phase::Closed { failures }, _) if failures + 1 >= BREAKER_FAILURES => {
                tracing::warn!(
                    failures = failures + 1,
                    "postgres does not answer: reads fail fast for {BREAKER_FIRST_OPEN:?}"
                );
                open_for(now, BREAKER_FIRST_OPEN)
            }
            (Phase::Closed { failures }, _) => Phase::Closed {
                failures: failures + 1,
            },
            (Phase::Probing { open_for: was, .. }, Permit::Probe) => {
                let longer = (was * 2).min(BREAKER_MAX_OPEN);
                tracing::warn!("postgres still does not answer: next probe in {longer:?}");
                open_for(now, longer)
            }
            // A read let in before the breaker opened: it is open already.
            (open, _) => open,
        };
        *phase = next;
        self.open
            .store(!matches!(next, Phase::Closed { .. }), Ordering::Relaxed);
    }

    /// Whether reads fail fast now (open, or a probe on its way).
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// The state for `/health/details`.
    pub(crate) fn status(&self, now: Instant) -> BreakerStatus {
        match *self.phase.lock().unwrap_or_else(|e| e.into_inner()) {
            Phase::Closed { failures } => BreakerStatus {
                state: "closed",
                failures,
                retry_in: None,
            },
            Phase::Open { until, .. } => BreakerStatus {
                state: "open",
                failures: 0,
                retry_in: Some(until.saturating_duration_since(now)),
            },
            Phase::Probing { .. } => BreakerStatus {
                state: "probing",
                failures: 0,
                retry_in: None,
            },
        }
    }
}

fn open_for(now: Instant, open_for: Duration) -> Phase {
    Phase::Open {
        until: now + open_for,
        open_for,
    }
}

/// The error of a read the open breaker refuses.
fn refused(retry_in: Option<Duration>) -> DataError {
    DataError::Unavailable(match retry_in {
        Some(wait) => format!(
            "postgres does not answer; reads are refused for {} ms more",
            wait.as_millis()
        ),
        None => "postgres does not answer; a probe is finding out whether it is back".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails `BREAKER_FAILURES` reads in a row at `now`.
    fn trip(breaker: &Breaker, now: Instant) {
        for _ in 0..BREAKER_FAILURES {
            let permit = breaker.admit(now).unwrap();
            breaker.failed(permit, now);
        }
    }

    #[test]
    fn it_opens_after_failures_in_a_row_only() {
        let breaker = Breaker::default();
        let now = Instant::now();
        for _ in 0..BREAKER_FAILURES - 1 {
            breaker.failed(breaker.admit(now).unwrap(), now);
        }
        // A success in between starts the count again.
        breaker.succeeded();
        for _ in 0..BREAKER_FAILURES - 1 {
            breaker.failed(breaker.admit(now).unwrap(), now);
        }
        assert!(!breaker.is_open());
        assert_eq!(breaker.admit(now), Ok(Permit::Read));
        breaker.failed(Permit::Read, now);
        assert!(breaker.is_open());
        let refused = breaker.admit(now).unwrap_err();
        assert!(matches!(refused, DataError::Unavailable(_)), "{refused:?}");
        assert_eq!(breaker.status(now).state, "open");
        assert_eq!(breaker.status(now).retry_in, Some(BREAKER_FIRST_OPEN));
    }

    #[test]
    fn one_probe_at_a_time_and_it_closes_the_breaker() {
        let breaker = Breaker::default();
        let now = Instant::now();
        trip(&breaker, now);
        let later = now + BREAKER_FIRST_OPEN;
        assert_eq!(breaker.admit(later), Ok(Permit::Probe));
        // While the probe runs, every other read fails fast.
        assert!(breaker.admit(later).is_err());
        assert_eq!(breaker.status(later).state, "probing");
        assert!(breaker.is_open());
        breaker.succeeded();
        assert!(!breaker.is_open());
        assert_eq!(breaker.admit(later), Ok(Permit::Read));
        assert_eq!(breaker.status(later).state, "closed");
    }

    #[test]
    fn failed_probes_double_the_wait_up_to_the_cap() {
        let breaker = Breaker::default();
        let mut now = Instant::now();
        trip(&breaker, now);
        let mut open = BREAKER_FIRST_OPEN;
        for _ in 0..10 {
            assert!(
                breaker
                    .admit(now + open - Duration::from_millis(1))
                    .is_err()
            );
            now += open;
            let probe = breaker.admit(now).unwrap();
            assert_eq!(probe, Permit::Probe);
            breaker.failed(probe, now);
            open = (open * 2).min(BREAKER_MAX_OPEN);
            assert_eq!(breaker.status(now).retry_in, Some(open));
        }
        assert_eq!(open, BREAKER_MAX_OPEN);
        // A read let in before the breaker opened fails late: nothing changes.
        breaker.failed(Permit::Read, now);
        assert_eq!(breaker.status(now).retry_in, Some(BREAKER_MAX_OPEN));
    }

    #[test]
    fn a_probe_that_never_ends_is_replaced() {
        let breaker = Breaker::default();
        let now = Instant::now();
        trip(&breaker, now);
        let probing = now + BREAKER_FIRST_OPEN;
        assert_eq!(breaker.admit(probing), Ok(Permit::Probe));
        assert!(breaker.admit(probing + PROBE_WAIT / 2).is_err());
        assert_eq!(breaker.admit(probing + PROBE_WAIT), Ok(Permit::Probe));
    }
}
