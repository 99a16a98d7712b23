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
pub mod failover;
pub mod queues;
pub mod relay;
pub mod seats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arcade_systems::model::{MatchId, PlayerId, PlayerRef};
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::hub::Hub;
use crate::link::{Command, CommandSender, InputReply, LiveMatch, MatchOp, ReplyTo};
use crate::outbox::{Batch, ConnId, Outbox};
use crate::wire::protocol::{Input, PlayerInfo};
use bus::{BUS_QUEUE, Outgoing, Posted, Said};
use relay::{Direct, Forwarded, ForwardedOp};

/// How often an instance refreshes its heartbeat key and its live list.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a heartbeat key lives: an instance silent this long is taken for dead.
pub const HEARTBEAT_TTL_SECONDS: u64 = 5;
/// The first wait before reconnecting to Redis; doubled after each failure up to
/// [`RECONNECT_MAX`] (no storm of reconnects while Redis is down).
pub const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// How long a `match.join` for an id nobody is known to hold looks for its owner.
pub const OWNER_WAIT: Duration = Duration::from_millis(500);
/// How often it looks meanwhile.
const OWNER_POLL: Duration = Duration::from_millis(25);

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

/// The set of the instances that have beaten (a dead one is removed by the first instance
/// that finds its heartbeat key expired), read instead of scanning the keyspace.
const INSTANCES_KEY: &str = "arcade:instances";

/// The values of `keys` (`MGET`, one per key, `None` where a key is missing).
async fn values_of(
    redis: &mut ConnectionManager,
    keys: &[String],
) -> redis::RedisResult<Vec<Option<String>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    redis::cmd("MGET").arg(keys).query_async(redis).await
}

/// The instances whose heartbeat key is alive; the others are removed from the set.
async fn alive_instances(redis: &mut ConnectionManager) -> redis::RedisResult<Vec<String>> {
    let members: Vec<String> = redis.smembers(INSTANCES_KEY).await?;
    let keys: Vec<String> = members.iter().map(|id| heartbeat_key(id)).collect();
    let beats = values_of(redis, &keys).await?;
    let (alive, dead): (Vec<_>, Vec<_>) = members
        .into_iter()
        .zip(beats)
        .partition(|(_, beat)| beat.is_some());
    if !dead.is_empty() {
        let dead: Vec<String> = dead.into_iter().map(|(id, _)| id).collect();
        let () = redis.srem(INSTANCES_KEY, dead).await?;
    }
    Ok(alive.into_iter().map(|(id, _)| id).collect())
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
    /// The Redis database number (channel names carry it).
    database: i64,
    /// This instance's own channel ([`relay::direct_channel`]).
    direct: String,
    /// Where this instance's connections are (frames from owners go to their outboxes).
    hub: Arc<Hub>,
    /// The tick thread, for the requests other instances forward to matches held here.
    commands: CommandSender,
    /// Which instance holds each live match of the other instances (from their live lists,
    /// refreshed with the heartbeat).
    owners: RwLock<HashMap<MatchId, String>>,
    /// This instance's connections that play or watch a match elsewhere: the match and its
    /// owner, so that their inputs and requests for it are forwarded.
    routes: Mutex<HashMap<ConnId, Vec<(MatchId, String)>>>,
    /// Connections of other instances served here: (their instance, their connection) → the
    /// virtual connection standing for them.
    virtuals: Mutex<HashMap<(String, ConnId), Virtual>>,
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
    outgoing: mpsc::Sender<Outgoing>,
    /// Told of mutes set or lifted on another instance (`crate::moderation` keeps them).
    on_mute: std::sync::OnceLock<MuteListener>,
    /// Wakes the heartbeat before its second is up (a match was created here).
    beat_now: tokio::sync::Notify,
    /// Checkpoint batches Redis refused ([`failover`]).
    checkpoints_failed: Arc<AtomicU64>,
    /// Set at SIGTERM: this instance takes no new match ([`failover`]).
    draining: AtomicBool,
    /// Set once this instance handed its matches over: it beats no more.
    handed_over: tokio::sync::Mutex<bool>,
    /// The seat keys this instance wrote at its last heartbeat ([`seats`]).
    seats: Mutex<seats::Written>,
    /// Wakes the join-code publisher ([`queues`]) before its second is up.
    codes_now: tokio::sync::Notify,
}

/// What a mute from another instance is handed to.
pub type MuteListener = Box<dyn Fn(PlayerId, Option<i64>) + Send + Sync>;

/// A connection of another instance, served here through an outbox of its own.
struct Virtual {
    /// Its id here (from the hub's counter, so it never collides with a socket's).
    conn: ConnId,
    outbox: Arc<Outbox>,
}

impl Cluster {
    /// Connects to Redis at `url` as `instance`, joins `hub` to the bus and starts the
    /// publisher, the listener and the heartbeat. Fails when Redis cannot be reached at start.
    pub async fn join(
        url: &str,
        instance: String,
        hub: Arc<Hub>,
        commands: CommandSender,
    ) -> Result<Arc<Cluster>, JoinError> {
        let client = redis::Client::open(url)?;
        let redis = tokio::time::timeout(JOIN_WAIT, client.get_connection_manager())
            .await
            .map_err(|_| JoinError::Silent)??;
        let (outgoing, queued) = mpsc::channel(BUS_QUEUE);
        let database = client.get_connection_info().redis_settings().db();
        let cluster = Arc::new(Cluster {
            direct: relay::direct_channel(database, &instance),
            instance,
            redis,
            channel: bus::bus_channel(database),
            database,
            hub: hub.clone(),
            commands,
            owners: RwLock::new(HashMap::new()),
            routes: Mutex::new(HashMap::new()),
            virtuals: Mutex::new(HashMap::new()),
            remote: RwLock::new(HashMap::new()),
            up: AtomicBool::new(true),
            round_trip_us: AtomicU64::new(0),
            alive: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            outgoing: outgoing.clone(),
            on_mute: std::sync::OnceLock::new(),
            beat_now: tokio::sync::Notify::new(),
            checkpoints_failed: Arc::default(),
            draining: AtomicBool::new(false),
            handed_over: tokio::sync::Mutex::new(false),
            seats: Mutex::new(seats::Written::new()),
            codes_now: tokio::sync::Notify::new(),
        });
        hub.set_relay(outgoing);
        tokio::spawn(publish(cluster.clone(), queued));
        tokio::spawn(listen(cluster.clone(), client, hub));
        Ok(cluster)
    }

    /// Asks for a heartbeat now (after a match is created here, so that the other instances
    /// find it by id within a tick or two instead of up to a second later).
    pub fn beat_soon(&self) {
        self.beat_now.notify_one();
        self.codes_now.notify_one();
    }

    /// Waits until [`Cluster::beat_soon`] is called.
    pub async fn beat_requested(&self) {
        self.beat_now.notified().await;
    }

    /// Hands mutes set on other instances to `listener` from now on.
    pub fn on_mute(&self, listener: MuteListener) {
        let _ = self.on_mute.set(listener);
    }

    /// Queues `said` for the other instances; never blocks.
    pub fn tell(&self, said: Said) {
        self.send(Outgoing::Bus(said));
    }

    /// Queues `message` for `instance`'s own channel; never blocks.
    fn send_direct(&self, instance: &str, message: &Direct) {
        match rmp_serde::to_vec(message) {
            Ok(message) => self.send(Outgoing::Direct {
                channel: relay::direct_channel(self.database, instance),
                message,
            }),
            Err(error) => tracing::warn!(%error, "a relay message could not be encoded"),
        }
    }

    fn send(&self, outgoing: Outgoing) {
        if self.outgoing.try_send(outgoing).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The instance holding `match_id`, when another one does.
    fn owner_of(&self, match_id: MatchId) -> Option<String> {
        self.owners
            .read()
            .expect("cluster lock")
            .get(&match_id)
            .cloned()
    }

    /// Makes sure the owner of `match_id` is known when another live instance holds it: reads
    /// the other instances' live lists again when it is not in the last heartbeat's, and,
    /// when the match is not held here either (`held_here`), keeps looking for up to
    /// [`OWNER_WAIT`]: a match created on another instance a moment ago (its id passed on at
    /// once, as a load generator or a fast friend does) is in its owner's list within a few
    /// ticks.
    pub async fn learn_owner(&self, match_id: MatchId, held_here: impl Future<Output = bool>) {
        if self.owner_of(match_id).is_some() {
            return;
        }
        self.refresh_owners().await;
        if self.owner_of(match_id).is_some() || held_here.await {
            return;
        }
        let deadline = Instant::now() + OWNER_WAIT;
        while Instant::now() < deadline {
            tokio::time::sleep(OWNER_POLL).await;
            self.refresh_owners().await;
            if self.owner_of(match_id).is_some() {
                return;
            }
        }
    }

    /// The owner of a match that `conn` already plays or watches elsewhere.
    fn routed(&self, conn: ConnId, match_id: MatchId) -> Option<String> {
        self.routes
            .lock()
            .expect("cluster lock")
            .get(&conn)?
            .iter()
            .find(|(id, _)| *id == match_id)
            .map(|(_, owner)| owner.clone())
    }

    /// Forwards a match request of this instance's connection `conn` to the match's owner
    /// when another instance holds it; gives `op` back when it is this instance's to serve.
    pub fn forward_match(
        &self,
        conn: ConnId,
        player: &PlayerRef,
        reply: &ReplyTo,
        op: MatchOp,
    ) -> Result<(), MatchOp> {
        let (owner, forwarded) = match op {
            MatchOp::Join(join) => {
                let Some(owner) = join.match_id.and_then(|id| self.owner_of(id)) else {
                    return Err(MatchOp::Join(join));
                };
                let id = join.match_id.expect("a match id");
                let mut routes = self.routes.lock().expect("cluster lock");
                let routed = routes.entry(conn).or_default();
                if !routed.iter().any(|(routed, _)| *routed == id) {
                    routed.push((id, owner.clone()));
                }
                (owner, ForwardedOp::Join(join))
            }
            MatchOp::Leave(id) => match self.routed(conn, id) {
                Some(owner) => (owner, ForwardedOp::Leave(id)),
                None => return Err(MatchOp::Leave(id)),
            },
            MatchOp::Resync(id) => match self.routed(conn, id) {
                Some(owner) => (owner, ForwardedOp::Resync(id)),
                None => return Err(MatchOp::Resync(id)),
            },
            other => return Err(other),
        };
        self.forward(&owner, conn, player, reply, forwarded);
        Ok(())
    }

    /// Forwards an input for a match another instance holds; gives it back otherwise.
    pub fn forward_input(
        &self,
        conn: ConnId,
        player: &PlayerRef,
        reply: &ReplyTo,
        input: Input,
    ) -> Result<(), Input> {
        match self.routed(conn, input.match_id) {
            Some(owner) => {
                self.forward(&owner, conn, player, reply, ForwardedOp::Input(input));
                Ok(())
            }
            None => Err(input),
        }
    }

    /// This instance's connection `conn` closed (or changed player): the owners of the
    /// matches it played or watched elsewhere are told.
    pub fn forget_conn(&self, conn: ConnId, player: &PlayerRef, reply: &ReplyTo) {
        let routed = self.routes.lock().expect("cluster lock").remove(&conn);
        let mut owners: Vec<String> = routed
            .unwrap_or_default()
            .into_iter()
            .map(|(_, owner)| owner)
            .collect();
        owners.sort();
        owners.dedup();
        for owner in owners {
            self.forward(&owner, conn, player, reply, ForwardedOp::Gone);
        }
    }

    fn forward(
        &self,
        owner: &str,
        conn: ConnId,
        player: &PlayerRef,
        reply: &ReplyTo,
        op: ForwardedOp,
    ) {
        let forwarded = Forwarded {
            from: self.instance.clone(),
            conn,
            player: player.clone(),
            msgpack: reply.outbox.codec() == crate::wire::codec::Codec::Msgpack,
            compact: reply.outbox.is_compact(),
            request_msgpack: reply.codec == crate::wire::codec::Codec::Msgpack,
            request_id: reply.request_id.clone(),
            op,
        };
        self.send_direct(owner, &Direct::Forward(forwarded));
    }

    /// Serves a request another instance forwarded to a match held here, through the
    /// virtual connection standing for its client (made on its first request, with a task
    /// that sends what its outbox receives back to the client's instance).
    fn serve(self: &Arc<Self>, forwarded: Forwarded) {
        let key = (forwarded.from.clone(), forwarded.conn);
        let player = forwarded.player.clone();
        if let ForwardedOp::Gone = forwarded.op {
            if let Some(gone) = self.virtuals.lock().expect("cluster lock").remove(&key) {
                gone.outbox.close(crate::outbox::CloseReason {
                    code: 1000,
                    reason: "gone",
                });
                let _ = self.commands.send(Command::Disconnected {
                    conn: gone.conn,
                    player: player.id,
                });
            }
            return;
        }
        let (conn, outbox) = {
            let mut virtuals = self.virtuals.lock().expect("cluster lock");
            let made = virtuals.entry(key.clone()).or_insert_with(|| {
                let conn = self.hub.next_conn_id();
                let outbox = relay::virtual_outbox(forwarded.msgpack, forwarded.compact);
                tokio::spawn(drain_virtual(self.clone(), key.clone(), outbox.clone()));
                let _ = self.commands.send(Command::Connected {
                    conn,
                    player: player.clone(),
                    outbox: outbox.clone(),
                });
                Virtual { conn, outbox }
            });
            (made.conn, made.outbox.clone())
        };
        let reply = ReplyTo {
            outbox,
            codec: relay::codec_of(forwarded.request_msgpack),
            request_id: forwarded.request_id,
        };
        let command = match forwarded.op {
            ForwardedOp::Join(join) => Command::request(conn, player, reply, MatchOp::Join(join)),
            ForwardedOp::Leave(id) => Command::request(conn, player, reply, MatchOp::Leave(id)),
            ForwardedOp::Resync(id) => Command::request(conn, player, reply, MatchOp::Resync(id)),
            ForwardedOp::Input(input) => Command::Input {
                player: player.id,
                input,
                route: reply.outbox.input_route(),
                reply: InputReply {
                    conn,
                    codec: reply.codec,
                    request_id: reply.request_id,
                },
            },
            ForwardedOp::Seat { group } => {
                let outbox = reply.outbox;
                Command::Run(Box::new(move |world| {
                    crate::matchmaking::shared::seat_remote(world, group, player.id, conn, outbox)
                }))
            }
            // The virtual connection, made above, was re-attached to the player's seats.
            ForwardedOp::Gone | ForwardedOp::Attach => return,
        };
        if matches!(&command, Command::Match(request) if matches!(request.op, MatchOp::Join(_))) {
            // The joiner's seat key is written at once, not at the next beat.
            self.beat_soon();
        }
        let _ = self.commands.send(command);
    }

    /// Pushes frames an owner sent for one of this instance's connections into its outbox.
    fn deliver(
        &self,
        conn: ConnId,
        control: Vec<relay::WireFrame>,
        states: Vec<(MatchId, relay::WireFrame)>,
    ) {
        let Some(outbox) = self.hub.outbox(conn) else {
            return;
        };
        for frame in control.into_iter().filter_map(relay::WireFrame::into_frame) {
            outbox.push(frame);
        }
        for (id, frame) in states {
            if let Some(frame) = frame.into_frame() {
                outbox.push_state(id, frame);
            }
        }
    }

    /// Applies a message another instance sent to this one's own channel.
    fn hear_direct(self: &Arc<Self>, bytes: &[u8]) {
        match rmp_serde::from_slice::<Direct>(bytes) {
            Ok(Direct::Forward(forwarded)) => self.serve(forwarded),
            Ok(Direct::Frames {
                conn,
                control,
                states,
            }) => self.deliver(conn, control, states),
            Ok(Direct::Offer {
                owner,
                group,
                match_id,
                entry,
            }) => {
                let _ = self.commands.send(Command::Run(Box::new(move |world| {
                    crate::matchmaking::shared::offered(world, owner, group, match_id, entry)
                })));
            }
            Ok(Direct::Settled {
                group,
                player,
                seated,
            }) => {
                let _ = self.commands.send(Command::Run(Box::new(move |world| {
                    crate::matchmaking::shared::settled(world, group, player, seated)
                })));
            }
            Err(error) => tracing::warn!(%error, "a malformed relay message was ignored"),
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
        // Held across the beat: a hand-over ([`failover`]) deletes the heartbeat key only
        // between beats, and no beat writes it again afterwards.
        let handed_over = self.handed_over.lock().await;
        if *handed_over {
            return;
        }
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
            .ignore()
            .sadd(INSTANCES_KEY, &self.instance)
            .ignore();
            let () = pipe.query_async(&mut redis).await?;
            alive_instances(&mut redis).await
        };
        match tokio::time::timeout(HEARTBEAT_EVERY * 2, beat).await {
            Ok(Ok(alive)) => {
                self.up.store(true, Ordering::Relaxed);
                self.round_trip_us
                    .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                self.alive.store(alive.len() as u64, Ordering::Relaxed);
                self.remote
                    .write()
                    .expect("cluster lock")
                    .retain(|_, player| alive.contains(&player.instance));
                self.refresh_owners().await;
                self.keep_seats().await;
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

    /// Reads the other instances' live lists and notes which instance holds each match.
    async fn refresh_owners(&self) {
        let lists = self.others_live_by_instance().await;
        let mut owners = HashMap::new();
        for (instance, list) in lists {
            for live in list {
                if let Some(id) = live
                    .get("id")
                    .and_then(|id| id.as_str())
                    .and_then(|id| id.parse().ok())
                {
                    owners.insert(id, instance.clone());
                }
            }
        }
        *self.owners.write().expect("cluster lock") = owners;
    }

    /// The live matches of the other instances that are alive (each a JSON object as
    /// `GET /api/matches/live` lists it).
    pub async fn others_live(&self) -> Vec<serde_json::Value> {
        self.others_live_by_instance()
            .await
            .into_iter()
            .flat_map(|(_, list)| list)
            .collect()
    }

    /// Each other live instance's live matches.
    async fn others_live_by_instance(&self) -> Vec<(String, Vec<serde_json::Value>)> {
        let mut redis = self.redis.clone();
        let read = async {
            let mut others: Vec<String> = redis.smembers(INSTANCES_KEY).await?;
            others.retain(|instance| *instance != self.instance);
            let keys: Vec<String> = others.iter().map(|id| live_key(id)).collect();
            let lists = values_of(&mut redis, &keys).await?;
            Ok::<_, redis::RedisError>(others.into_iter().zip(lists).collect::<Vec<_>>())
        };
        let Ok(Ok(lists)) = tokio::time::timeout(HEARTBEAT_EVERY, read).await else {
            return Vec::new();
        };
        lists
            .into_iter()
            .filter_map(|(instance, list)| {
                let list = serde_json::from_str::<Vec<serde_json::Value>>(&list?).ok()?;
                Some((instance, list))
            })
            .collect()
    }

    /// Applies what another instance said, for this instance's connections.
    fn hear(self: &Arc<Self>, from: String, said: Said, hub: &Hub) {
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
            Said::EndPlayer {
                player,
                message,
                close,
            } => {
                hub.close_player_here(player, &message, close.reason());
            }
            Said::Muted { player, until_ms } => {
                if let Some(listener) = self.on_mute.get() {
                    listener(player, until_ms);
                }
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
            Said::Adopted { match_id, players } => self.heard_adopted(match_id, &players),
        }
    }
}

/// Publishes queued messages on the bus, in order. A message that cannot be published (Redis
/// down) is dropped and counted: the bus carries live events, not records.
async fn publish(cluster: Arc<Cluster>, mut queued: mpsc::Receiver<Outgoing>) {
    let mut redis = cluster.redis.clone();
    while let Some(outgoing) = queued.recv().await {
        let sent: redis::RedisResult<()> = match outgoing {
            Outgoing::Bus(says) => {
                let posted = Posted {
                    from: cluster.instance.clone(),
                    says,
                };
                let Ok(text) = serde_json::to_string(&posted) else {
                    continue;
                };
                redis.publish(&cluster.channel, text).await
            }
            Outgoing::Direct { channel, message } => redis.publish(channel, message).await,
        };
        if sent.is_err() {
            cluster.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends what a virtual connection's outbox receives to its client's instance, until the
/// connection is gone.
async fn drain_virtual(cluster: Arc<Cluster>, key: (String, ConnId), outbox: Arc<Outbox>) {
    let (instance, conn) = key;
    let mut batch = Batch::default();
    loop {
        outbox.wait().await;
        outbox.take(&mut batch);
        if let Some(frames) = relay::frames_of(conn, &mut batch) {
            cluster.send_direct(&instance, &frames);
        }
        if batch.close.is_some() {
            return;
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
            pubsub.subscribe(&cluster.direct).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match subscribed.await {
            Ok(pubsub) => {
                wait = RECONNECT_FIRST;
                cluster.tell(Said::WhoIsThere);
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    if message.get_channel_name() == cluster.direct {
                        cluster.hear_direct(message.get_payload_bytes());
                        continue;
                    }
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
