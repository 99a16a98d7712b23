//! The password-hashing pool: [`HASH_THREADS`] named threads (`arcade-hash-N`) that run every
//! argon2 hash and verification; tokio handlers queue work here and await the answer.
//!
//! Each argon2id hash takes ~19 MiB for tens of milliseconds. Run on tokio's blocking pool
//! (up to 512 threads), every thread that ever hashed kept its own malloc arena with those
//! 19 MiB in it, and a burst of logins took the process to ~2 GB (issue 15). Here only the
//! pool's threads ever hash, so the memory hashing holds is bounded by
//! `HASH_THREADS × 19 MiB`; work past [`HASH_QUEUE`] waiting jobs is refused (503).

use crossbeam_channel::{Sender, TrySendError};
use prometheus::IntCounter;

/// Threads that hash passwords; the memory bound of hashing is this many argon2 blocks.
pub const HASH_THREADS: usize = 2;

/// Jobs that may wait for a hashing thread; more are refused at once (503 `unavailable`).
pub const HASH_QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why hashing work was not done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// [`HASH_QUEUE`] jobs already wait.
    #[error("password hashing is busy")]
    Busy,
    /// The pool's threads are gone (or the job panicked).
    #[error("password hashing is unavailable")]
    Stopped,
}

/// A fixed set of hashing threads fed by one bounded queue. Cheap to clone.
#[derive(Clone)]
pub struct HashPool {
    jobs: Sender<Job>,
    hashes: IntCounter,
}

impl HashPool {
    /// Starts [`HASH_THREADS`] threads; `hashes` counts the jobs they run.
    pub fn start(hashes: IntCounter) -> HashPool {
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(HASH_QUEUE);
        for n in 0..HASH_THREADS {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("arcade-hash-{n}"))
                .spawn(move || {
                    for job in queue {
                        job();
                    }
                });
            if let Err(error) = started {
                tracing::error!(%error, "could not start a hashing thread");
            }
        }
        HashPool { jobs, hashes }
    }

    /// Runs `work` on one of the pool's threads and waits (without blocking) for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let hashes = self.hashes.clone();
        let job: Job = Box::new(move || {
            hashes.inc();
            let _ = answer.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(HashError::Stopped),
        }
        answered.await.map_err(|_| HashError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn work_runs_only_on_the_fixed_threads() {
        let counter = IntCounter::new("h", "h").unwrap();
        let pool = HashPool::start(counter.clone());
        let jobs = (0..64).map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(|| {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    std::thread::current().name().map(str::to_owned)
                })
                .await
            })
        });
        let mut names = HashSet::new();
        for job in jobs.collect::<Vec<_>>() {
            names.insert(job.await.unwrap().unwrap().unwrap());
        }
        assert!(names.len() <= HASH_THREADS, "{names:?}");
        assert!(names.iter().all(|name| name.starts_with("arcade-hash-")));
        assert_eq!(counter.get(), 64);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = HashPool::start(IntCounter::new("h", "h").unwrap());
        let (release, gate) = crossbeam_channel::bounded::<()>(0);
        // Park every thread, then fill the queue.
        let mut parked = Vec::new();
        for _ in 0..HASH_THREADS + HASH_QUEUE {
            let gate = gate.clone();
            let pool = pool.clone();
            parked.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = gate.recv();
                })
                .await
            }));
            tokio::task::yield_now().await;
        }
        // Wait until the threads took their jobs and the queue holds HASH_QUEUE.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while pool.jobs.len() > HASH_QUEUE && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        while pool.jobs.len() < HASH_QUEUE && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(pool.run(|| ()).await, Err(HashError::Busy));
        drop(release);
        for job in parked {
            job.await.unwrap().ok();
        }
    }
}
