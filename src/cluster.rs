//! The cluster heartbeat (a tokio task): every second, this instance's live matches (asked of
//! the tick thread) and its heartbeat key go to Redis, the cluster's health is read back, and
//! the live matches of instances whose heartbeat stopped are adopted (failover).

use std::sync::{Arc, OnceLock};

use arcade_net::bridge;
use arcade_net::cluster::{Cluster, HEARTBEAT_EVERY};
use arcade_net::link::{Command, LiveMatch};
use arcade_net::state::AppState;

/// How long an early beat waits for the tick thread to create the match it announces.
const BEAT_AFTER_CREATE: std::time::Duration = std::time::Duration::from_millis(20);

/// Beats until the process ends. A tick thread that does not answer leaves the last list in
/// place for its TTL; Redis being down is recorded by [`Cluster::beat`].
pub async fn run_heartbeat(state: AppState, cluster: Arc<Cluster>) {
    let mut every = tokio::time::interval(HEARTBEAT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            // A match was just created: after the tick that creates it, so the list holds it.
            _ = cluster.beat_requested() => tokio::time::sleep(BEAT_AFTER_CREATE).await,
        }
        let (reply, answer) = tokio::sync::oneshot::channel::<Vec<LiveMatch>>();
        let live = state
            .ask_tick(Command::ListLive { game: None, reply }, answer)
            .await
            .unwrap_or_default();
        cluster.beat(&live).await;
        if cluster.is_up() && !cluster.is_draining() {
            // Bounded: a Redis that goes away mid-call must not stop the heartbeat.
            match tokio::time::timeout(HEARTBEAT_EVERY, cluster.adopt_orphans()).await {
                Ok(Ok(adopted)) if !adopted.is_empty() => cluster.restore_adopted(adopted).await,
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "looking for orphaned matches failed"),
                Err(_) => tracing::warn!("looking for orphaned matches timed out"),
            }
        }
        state.metrics.cluster.record(
            cluster.instances_alive(),
            cluster.is_up(),
            cluster.round_trip(),
            cluster.dropped(),
        );
    }
}

/// Takes back the matches this instance's previous run (same `--instance-id`) left in Redis
/// and no survivor adopted (a restart within the heartbeat's TTL).
pub async fn take_back_leftovers(cluster: &Arc<Cluster>) {
    match tokio::time::timeout(HEARTBEAT_EVERY * 2, cluster.take_leftovers())
        .await
        .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()))
    {
        Ok(leftovers) if !leftovers.is_empty() => {
            tracing::warn!(
                matches = leftovers.len(),
                "taking back this instance's live matches"
            );
            cluster.restore_adopted(leftovers).await;
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "reading this instance's leftover matches failed"),
    }
}

/// How long a draining instance waits for Redis to take its checkpoints.
const HAND_OVER_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The tick loop's save at the stop in a cluster: the live matches' checkpoints replace this
/// instance's hash in Redis and its heartbeat goes, so a survivor adopts them at its next
/// heartbeat. Runs on the tick thread once it has stopped ticking (it may wait then); an
/// error leaves the matches to be aborted and recorded as on one instance.
pub fn hand_over_on_stop(cluster: Arc<OnceLock<Arc<Cluster>>>) -> crate::tick::SaveLiveMatches {
    let runtime = tokio::runtime::Handle::current();
    Box::new(move |checkpoints| {
        let cluster = cluster
            .get()
            .ok_or("the instance had not joined its cluster")?;
        let encoded: Vec<_> = checkpoints
            .iter()
            .map(|checkpoint| (checkpoint.id, bridge::checkpoint::encode(checkpoint)))
            .collect();
        runtime
            .block_on(tokio::time::timeout(
                HAND_OVER_WAIT,
                cluster.hand_over(&encoded),
            ))
            .map_err(|_| format!("Redis did not take the checkpoints within {HAND_OVER_WAIT:?}"))?
            .map_err(|error| error.to_string())
    })
}
