//! Stopping in order (PROTOCOL.md "Limits and bad input", last point): stop taking
//! connections, end live matches as `aborted` (their clients get `match.end` first) and record
//! them, flush the database, close every socket with 1001. Also where the token secret is
//! loaded or made.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use arcade_data::Store;
use arcade_net::http::guard::{GuardConfig, GuardedListener};
use arcade_net::hub::Hub;
use arcade_net::outbox::CLOSE_GOING_AWAY;
use tracing::{info, warn};

/// How long sockets get to take their close frame before the process exits.
const SOCKET_CLOSE_WAIT: Duration = Duration::from_secs(3);

/// How long open HTTP requests get to finish once the signal came (WebSockets are not held
/// here: they are closed by [`run`]).
const HTTP_DRAIN_WAIT: Duration = Duration::from_secs(3);
/// How long the async runtime waits for blocking work after [`run`] (the whole stop stays
/// within the 10 s of PROTOCOL.md: drain 3 s, ticks and flush well under 1 s, sockets 3 s).
pub const RUNTIME_STOP_WAIT: Duration = Duration::from_secs(1);

/// Serves `app` (with each request's peer address, for the rate limit) until SIGTERM or SIGINT,
/// then stops taking connections and gives open requests [`HTTP_DRAIN_WAIT`] to finish. Every
/// connection goes through the guard: a cap on open connections and a header-read deadline.
pub async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    guard: GuardConfig,
    app: axum::Router,
) -> anyhow::Result<()> {
    let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
    let mut drain_deadline = on_signal.clone();
    // Every accepted socket sends at once (the guard sets TCP_NODELAY): with Nagle's algorithm
    // a `state` frame waited for the client's (delayed, up to 40 ms) ACK of the previous one
    // (BENCHMARKS.md). `tap_io` only gives the guarded listener axum's peer-address info.
    let listener = axum::serve::ListenerExt::tap_io(GuardedListener::new(listener, guard), |_| {});
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = on_signal.wait_for(|&stop| stop).await;
    });
    tokio::spawn(async move {
        signal().await;
        let _ = signalled.send(true);
    });
    tokio::select! {
        served = server => served.context("serving HTTP"),
        _ = async {
            let _ = drain_deadline.wait_for(|&stop| stop).await;
            tokio::time::sleep(HTTP_DRAIN_WAIT).await;
        } => {
            warn!("open HTTP requests did not finish in time");
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    info!("shutting down");
}

/// What the shutdown sequence stops.
pub struct Parts {
    pub stop: Arc<AtomicBool>,
    pub tick_thread: JoinHandle<()>,
    pub store: Store,
    pub hub: Arc<Hub>,
}

/// Runs the shutdown sequence after the listener has closed.
pub async fn run(parts: Parts) {
    parts.stop.store(true, Ordering::Relaxed);
    let tick_thread = parts.tick_thread;
    if tokio::task::spawn_blocking(move || tick_thread.join())
        .await
        .is_err()
    {
        warn!("the tick thread panicked");
    }
    let store = parts.store.clone();
    match tokio::task::spawn_blocking(move || store.close()).await {
        Ok(Ok(())) => info!("database flushed"),
        Ok(Err(error)) => warn!(%error, "flushing the database failed"),
        Err(_) => warn!("flushing the database panicked"),
    }
    for outbox in parts.hub.outboxes(|_| true) {
        outbox.close(CLOSE_GOING_AWAY);
    }
    let waited = tokio::time::timeout(SOCKET_CLOSE_WAIT, async {
        while !parts.hub.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if waited.is_err() {
        warn!(open = parts.hub.len(), "some sockets did not close in time");
    }
    info!("stopped");
}

/// The token secret kept beside the database, made (32 random bytes, owner-only) on first use.
pub fn load_or_create_secret(db: &Path) -> anyhow::Result<Vec<u8>> {
    let path = secret_path(db);
    if let Ok(secret) = std::fs::read(&path)
        && secret.len() >= 32
    {
        return Ok(secret);
    }
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let secret: [u8; 32] = rand::random();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("writing the token secret {}", path.display()))?;
    file.write_all(hex.as_bytes())?;
    file.sync_all()?;
    Ok(hex.into_bytes())
}

fn secret_path(db: &Path) -> PathBuf {
    let folder = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    folder.join("jwt-secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_and_kept_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("nested").join("arcade.db");
        let first = load_or_create_secret(&db).unwrap();
        let second = load_or_create_secret(&db).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(secret_path(&db))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
