//! Commit notices: work (sending `match.end`, a chat `ack`) held until the write it
//! acknowledges is on disk. A [`CommitNotice`] rides with a queued write and is settled by the
//! writer thread after its batch's commit; a [`CommitGate`] holds work the tick thread stages
//! for a write it queued earlier in the same tick. Neither ever blocks its caller: the writer
//! thread (or whoever settles the gate) runs the held work.

use std::sync::{Arc, Mutex};

/// What a settled notice runs: told whether the write committed (`false`: it failed, or was
/// never applied).
type Settle = Box<dyn FnOnce(bool) + Send>;

/// Work to run once a queued write has been committed (`true`) or has failed (`false`).
/// Dropping an unsettled notice settles it as failed, so that no path (a refused write, a
/// closed store) leaves the held work waiting forever.
pub struct CommitNotice {
    /// The work, until it has run.
    settle: Option<Settle>,
}

impl CommitNotice {
    /// A notice that runs `settle` once the write is committed or lost.
    pub fn new(settle: impl FnOnce(bool) + Send + 'static) -> CommitNotice {
        CommitNotice {
            settle: Some(Box::new(settle)),
        }
    }

    /// A notice that does nothing (for writes nobody waits on).
    pub fn none() -> CommitNotice {
        CommitNotice { settle: None }
    }

    /// Whether work waits on this notice (the writer then commits without its batching delay).
    pub fn is_pending(&self) -> bool {
        self.settle.is_some()
    }

    /// Runs the work now, on the caller's thread.
    pub fn settle(mut self, committed: bool) {
        if let Some(settle) = self.settle.take() {
            settle(committed);
        }
    }
}

impl Drop for CommitNotice {
    fn drop(&mut self) {
        if let Some(settle) = self.settle.take() {
            settle(false);
        }
    }
}

impl std::fmt::Debug for CommitNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.settle.is_some() {
            "CommitNotice(pending)"
        } else {
            "CommitNotice(settled)"
        })
    }
}

/// Work held until the gate opens; what arrives after it opened runs at once.
type Held = Box<dyn FnOnce(bool) + Send>;

/// Where a gate is: still closed (with its held work), or open (and whether it committed).
enum GateState {
    Closed(Vec<Held>),
    Open(bool),
}

/// A gate that opens when a write commits: the tick thread queues a write with
/// [`CommitGate::notice`] and later, in the same or a later system, stages work behind it
/// with [`CommitGate::then`]. Whichever comes second (the commit or the work) runs the work,
/// so neither side waits. The lock is held only to swap the held work out.
pub struct CommitGate {
    /// The held work, or the outcome once open.
    state: Mutex<GateState>,
}

impl CommitGate {
    /// A closed gate.
    pub fn new() -> Arc<CommitGate> {
        Arc::new(CommitGate {
            state: Mutex::new(GateState::Closed(Vec::new())),
        })
    }

    /// The notice that opens this gate, to queue with the write.
    pub fn notice(self: &Arc<CommitGate>) -> CommitNotice {
        let gate = self.clone();
        CommitNotice::new(move |committed| gate.open(committed))
    }

    /// Runs `work` once the gate is open (now, on this thread, if it already is).
    pub fn then(&self, work: impl FnOnce(bool) + Send + 'static) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            GateState::Closed(held) => held.push(Box::new(work)),
            GateState::Open(committed) => {
                let committed = *committed;
                drop(state);
                work(committed);
            }
        }
    }

    /// Opens the gate and runs what it held, on this thread.
    fn open(&self, committed: bool) {
        let held = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match std::mem::replace(&mut *state, GateState::Open(committed)) {
                GateState::Closed(held) => held,
                GateState::Open(_) => Vec::new(),
            }
        };
        for work in held {
            work(committed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn work_runs_after_the_commit_whichever_comes_first() {
        let ran = Arc::new(AtomicUsize::new(0));
        let gate = CommitGate::new();
        let notice = gate.notice();
        let counter = ran.clone();
        gate.then(move |committed| {
            assert!(committed);
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(ran.load(Ordering::SeqCst), 0, "held until the commit");
        notice.settle(true);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        let counter = ran.clone();
        gate.then(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(
            ran.load(Ordering::SeqCst),
            2,
            "an open gate runs work at once"
        );
    }

    #[test]
    fn a_dropped_notice_settles_as_failed() {
        let outcome = Arc::new(Mutex::new(None));
        let seen = outcome.clone();
        drop(CommitNotice::new(move |committed| {
            *seen.lock().unwrap() = Some(committed)
        }));
        assert_eq!(*outcome.lock().unwrap(), Some(false));
    }
}
