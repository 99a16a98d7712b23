//! Cluster mode (tokio threads): instances sharing one Redis act as one server. Every
//! delivery the hub makes is also published on one pub/sub channel ([`bus`]), so `global`
//! and `dm:` chat, invitations, presence events, friend requests and logouts reach
//! connections on every instance; each instance tells which players it holds, so presence is
//! cluster-wide; a heartbeat key per instance with a short TTL says who is alive, and each
//! instance publishes its live matches beside it, so the live list is the cluster's.
//!
//! Redis being down never blocks anything: publishing is a `try_send` into a bounded queue,
//! the tasks reconnect with backoff, and `/health` reports the outage.

pub mod bus;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arcade_systems::model::PlayerId;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::hub::Hub;
use crate::link::LiveMatch;
use crate::wire::protocol::PlayerInfo;
use bus::{BUS_QUEUE, Posted, Said};

/// How often an instance refreshes its heartbeat key and its live list.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a heartbeat key lives: an instance silent this long is taken for dead.
pub const HEARTBEAT_TTL_SECONDS: u64 = 5;
/// The first wait before reconnecting to Redis; doubled after each failure up to
/// [`RECONNECT_MAX`] (no storm of reconnects while Redis is down).
pub const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// How long joining waits for Redis at start.
pub const JOIN_WAIT: Duration = Duration::from_secs(5);

/// Why an instance could not join its cluster at start.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {JOIN_WAIT:?}")]
    Silent,
}

/// The key of an instance's heartbeat.
fn heartbeat_key(instance: &str) -> String {
    format!("arcade:instance:{instance}")
}

/// The key of an instance's live matches (a JSON array, refreshed with the heartbeat).
fn live_key(instance: &str) -> String {
    format!("arcade:live:{instance}")
}

/// A player connected to another instance.
#[derive(Clone, Debug)]
pub struct RemotePlayer {
    /// The instance holding the player's connection.
    pub instance: String,
    pub info: PlayerInfo,
    /// Whether the player is in a match there.
    pub playing: bool,
}

/// This instance's membership of a cluster, shared by handlers, sessions and its tasks.
pub struct Cluster {
    /// This instance's id (`--instance-id`).
    pub instance: String,
    /// Commands (heartbeat, live lists); reconnects by itself.
    redis: ConnectionManager,
    /// The bus's pub/sub channel ([`bus::bus_channel`]).
    channel: String,
    /// Players connected to other instances, by id.
    remote: RwLock<HashMap<PlayerId, RemotePlayer>>,
    /// Whether the last Redis round trip succeeded.
    up: AtomicBool,
    /// The last heartbeat's round trip, in microseconds.
    round_trip_us: AtomicU64,
    /// Instances whose heartbeat was alive at the last look, this one included.
    alive: AtomicU64,
    /// Bus messages dropped because the queue was full (Redis down or slow).
    dropped: AtomicU64,
    /// Where the hub's and this module's messages wait for the publisher.
    outgoing: mpsc::Sender<Said>,
}

impl Cluster {
    /// Connects to Redis at `url` as `instance`, joins `hub` to the bus and starts the
    /// publisher, the listener and the heartbeat. Fails when Redis cannot be reached at start.
    pub async fn join(
        url: &str,
        instance: String,
        hub: Arc<Hub>,
    ) -> Result<Arc<Cluster>, JoinError> {
        let client = redis::Client::open(url)?;
        let redis = tokio::time::timeout(JOIN_WAIT, client.get_connection_manager())
            .await
            .map_err(|_| JoinError::Silent)??;
        let (outgoing, queued) = mpsc::channel(BUS_QUEUE);
        let cluster = Arc::new(Cluster {
            instance,
            redis,
            channel: bus::bus_channel(client.get_connection_info().redis_settings().db()),
            remote: RwLock::new(HashMap::new()),
            up: AtomicBool::new(true),
            round_trip_us: AtomicU64::new(0),
            alive: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            outgoing: outgoing.clone(),
        });
        hub.set_relay(outgoing);
        tokio::spawn(publish(cluster.clone(), queued));
        tokio::spawn(listen(cluster.clone(), client, hub));
        Ok(cluster)
    }

    /// Queues `said` for the other instances; never blocks.
    pub fn tell(&self, said: Said) {
        if self.outgoing.try_send(said).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether Redis answered the last heartbeat.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The last heartbeat's round trip to Redis.
    pub fn round_trip(&self) -> Duration {
        Duration::from_micros(self.round_trip_us.load(Ordering::Relaxed))
    }

    /// Instances alive at the last heartbeat, this one included.
    pub fn instances_alive(&self) -> u64 {
        self.alive.load(Ordering::Relaxed)
    }

    /// Bus messages dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A player connected to another instance, if any is.
    pub fn remote_player(&self, player: PlayerId) -> Option<RemotePlayer> {
        self.remote
            .read()
            .expect("cluster lock")
            .get(&player)
            .cloned()
    }

    /// Refreshes this instance's heartbeat and live list, and reads which instances are
    /// alive; players of instances that died are forgotten.
    pub async fn beat(&self, live: &[LiveMatch]) {
        let live = serde_json::to_string(live).unwrap_or_else(|_| "[]".into());
        let started = Instant::now();
        let mut redis = self.redis.clone();
        let beat = async {
            let mut pipe = redis::pipe();
            pipe.set_ex(
                heartbeat_key(&self.instance),
                crate::clock::now_ms(),
                HEARTBEAT_TTL_SECONDS,
            )
            .ignore()
            .set_ex(live_key(&self.instance), live, HEARTBEAT_TTL_SECONDS)
            .ignore();
            let () = pipe.query_async(&mut redis).await?;
            let keys: Vec<String> = redis.keys(heartbeat_key("*")).await?;
            Ok::<_, redis::RedisError>(keys)
        };
        match tokio::time::timeout(HEARTBEAT_EVERY * 2, beat).await {
            Ok(Ok(keys)) => {
                self.up.store(true, Ordering::Relaxed);
                self.round_trip_us
                    .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                self.alive.store(keys.len() as u64, Ordering::Relaxed);
                let alive: Vec<String> = keys
                    .iter()
                    .filter_map(|key| key.strip_prefix("arcade:instance:"))
                    .map(str::to_owned)
                    .collect();
                self.remote
                    .write()
                    .expect("cluster lock")
                    .retain(|_, player| alive.contains(&player.instance));
            }
            Ok(Err(error)) => {
                self.up.store(false, Ordering::Relaxed);
                tracing::warn!(%error, "cluster heartbeat failed");
            }
            Err(_) => {
                self.up.store(false, Ordering::Relaxed);
                tracing::warn!("cluster heartbeat timed out");
            }
        }
    }

    /// The live matches of the other instances that are alive (each a JSON object as
    /// `GET /api/matches/live` lists it).
    pub async fn others_live(&self) -> Vec<serde_json::Value> {
        let mut redis = self.redis.clone();
        let read = async {
            let keys: Vec<String> = redis.keys(live_key("*")).await?;
            let mine = live_key(&self.instance);
            let keys: Vec<String> = keys.into_iter().filter(|key| *key != mine).collect();
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let lists: Vec<Option<String>> = redis.mget(&keys).await?;
            Ok::<_, redis::RedisError>(lists)
        };
        let Ok(Ok(lists)) = tokio::time::timeout(HEARTBEAT_EVERY, read).await else {
            return Vec::new();
        };
        lists
            .into_iter()
            .flatten()
            .filter_map(|list| serde_json::from_str::<Vec<serde_json::Value>>(&list).ok())
            .flatten()
            .collect()
    }

    /// Applies what another instance said, for this instance's connections.
    fn hear(&self, from: String, said: Said, hub: &Hub) {
        match said {
            Said::ToEveryone { message } => hub.broadcast(&message, |_| true),
            Said::ToPlayers { players, message } => hub.send_to_players_here(&message, &players),
            Said::EndSession {
                session,
                message,
                close,
            } => {
                hub.close_session_here(&session, &message, close.reason());
            }
            Said::Connected { player, online } => {
                let mut remote = self.remote.write().expect("cluster lock");
                if online {
                    remote.insert(
                        player.id,
                        RemotePlayer {
                            instance: from,
                            info: player,
                            playing: false,
                        },
                    );
                } else if remote.get(&player.id).is_some_and(|p| p.instance == from) {
                    remote.remove(&player.id);
                }
            }
            Said::Playing { player, playing } => {
                if let Some(entry) = self.remote.write().expect("cluster lock").get_mut(&player) {
                    entry.playing = playing;
                }
            }
            Said::WhoIsThere => {
                for player in hub.players() {
                    self.tell(Said::Connected {
                        player,
                        online: true,
                    });
                }
            }
        }
    }
}

/// Publishes queued messages on the bus, in order. A message that cannot be published (Redis
/// down) is dropped and counted: the bus carries live events, not records.
async fn publish(cluster: Arc<Cluster>, mut queued: mpsc::Receiver<Said>) {
    let mut redis = cluster.redis.clone();
    while let Some(says) = queued.recv().await {
        let posted = Posted {
            from: cluster.instance.clone(),
            says,
        };
        let Ok(text) = serde_json::to_string(&posted) else {
            continue;
        };
        let sent: redis::RedisResult<()> = redis.publish(&cluster.channel, text).await;
        if sent.is_err() {
            cluster.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Listens on the bus and applies what the other instances say; reconnects with backoff when
/// the subscription is lost, and asks who is connected each time it (re)joins.
async fn listen(cluster: Arc<Cluster>, client: redis::Client, hub: Arc<Hub>) {
    let mut wait = RECONNECT_FIRST;
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&cluster.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match subscribed.await {
            Ok(pubsub) => {
                wait = RECONNECT_FIRST;
                cluster.tell(Said::WhoIsThere);
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Ok(text) = message.get_payload::<String>() else {
                        continue;
                    };
                    let Ok(posted) = serde_json::from_str::<Posted>(&text) else {
                        tracing::warn!("a malformed message on the cluster bus was ignored");
                        continue;
                    };
                    if posted.from != cluster.instance {
                        cluster.hear(posted.from, posted.says, &hub);
                    }
                }
                tracing::warn!("the cluster bus subscription ended; reconnecting");
            }
            Err(error) => tracing::warn!(%error, ?wait, "cannot subscribe to the cluster bus"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}
