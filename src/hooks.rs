//! Test hooks, off unless the environment has `ARCADE_TEST_HOOKS=1` (no flag, no route: they
//! cannot be turned on from the network or by a mistyped option). When on, the process's
//! owner can stop the tick loop with SIGUSR1 and start it again with SIGUSR2, so that tests
//! can watch `/health` turn 503. The server logs a warning at start when they are on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

/// The environment variable that turns the hooks on (its value must be exactly `1`).
pub const TEST_HOOKS_ENV: &str = "ARCADE_TEST_HOOKS";

/// Whether the test hooks are on.
pub fn enabled() -> bool {
    std::env::var(TEST_HOOKS_ENV).is_ok_and(|value| value == "1")
}

/// Starts the signal listeners that pause and resume the tick loop (when the hooks are on).
pub fn install(paused: Arc<AtomicBool>) -> anyhow::Result<()> {
    if !enabled() {
        return Ok(());
    }
    warn!(
        "test hooks are on ({TEST_HOOKS_ENV}=1): SIGUSR1 pauses the tick loop, SIGUSR2 resumes it"
    );
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut pause = signal(SignalKind::user_defined1())?;
        let mut resume = signal(SignalKind::user_defined2())?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = pause.recv() => {
                        warn!("test hook: tick loop paused");
                        paused.store(true, Ordering::Relaxed);
                    }
                    Some(()) = resume.recv() => {
                        warn!("test hook: tick loop resumed");
                        paused.store(false, Ordering::Relaxed);
                    }
                    else => break,
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = paused;
    Ok(())
}
