//! Failover (tokio threads, cluster mode): the checkpoints of this instance's live matches
//! kept in Redis, their adoption by a survivor when their owner dies, and the hand-over of a
//! draining instance.
//!
//! Each instance keeps one Redis hash, `arcade:<db>:held:<instance>` (match id → the match's
//! checkpoint, MessagePack), and names itself in the set `arcade:<db>:holders` while the
//! hash has entries. The tick thread hands a checkpoint of each live match every
//! [`CHECKPOINT_EVERY_TICKS`] and at every point scored ([`CheckpointNote`]); [`store`]
//! writes them (a pipeline per batch) and removes a match's entry when it ends.
//!
//! Every heartbeat, [`adopt_orphans`] runs [`ADOPT`] for each holder but this instance: the
//! script moves a holder's whole hash into this instance's, in one step and only when the
//! holder's heartbeat key is gone, so exactly one survivor adopts each dead instance's
//! matches (whoever runs the script first; the others find the hash empty). A draining
//! instance ([`hand_over`]) writes its final checkpoints and deletes its heartbeat key, so a
//! survivor adopts its matches at its next heartbeat, within a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arcade_systems::bevy_ecs::prelude::World;
use arcade_systems::checkpoint::MatchCheckpoint;
use arcade_systems::model::{MatchId, PlayerId, PlayerRef};
use tokio::sync::mpsc;

use super::bus::Said;
use super::{Cluster, heartbeat_key, live_key};
use crate::link::Command;
use crate::outbox::ConnId;

/// How often (in ticks) the tick thread checkpoints each live match (staggered by match id,
/// so a tick carries about 1/N of them); a point scored is checkpointed at once as well.
pub const CHECKPOINT_EVERY_TICKS: u64 = 30;
/// How many checkpoint notes wait for Redis before the tick thread drops new ones (counted;
/// the next checkpoint of the match replaces a dropped one).
pub const CHECKPOINT_QUEUE: usize = 16_384;
/// The most notes written in one pipeline.
const BATCH: usize = 256;

/// What the tick thread tells the checkpoint writer.
#[derive(Debug)]
pub enum CheckpointNote {
    /// The match's checkpoint now (MessagePack of `MatchCheckpoint`).
    Saved(MatchId, Vec<u8>),
    /// The match ended (recorded or discarded): its checkpoint goes.
    Ended(MatchId),
}

/// The tick thread's end of the checkpoint queue: never blocks.
#[derive(Clone)]
pub struct CheckpointSender {
    queue: mpsc::Sender<CheckpointNote>,
    dropped: Arc<AtomicU64>,
}

impl CheckpointSender {
    /// Queues `note`; a full queue drops it (and counts it).
    pub fn note(&self, note: CheckpointNote) {
        if self.queue.try_send(note).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A new checkpoint queue: the tick thread's sender and the writer's receiver.
pub fn checkpoint_queue() -> (CheckpointSender, mpsc::Receiver<CheckpointNote>) {
    let (queue, notes) = mpsc::channel(CHECKPOINT_QUEUE);
    (
        CheckpointSender {
            queue,
            dropped: Default::default(),
        },
        notes,
    )
}

/// The hash of `instance`'s checkpoints.
pub fn held_key(database: i64, instance: &str) -> String {
    format!("arcade:{database}:held:{instance}")
}

/// The set of instances whose hash may hold checkpoints.
pub fn holders_key(database: i64) -> String {
    format!("arcade:{database}:holders")
}

/// Moves a dead holder's checkpoints into the adopter's hash and returns them (match id,
/// checkpoint, flat, as `HGETALL` gives them); `false` (nil)
/// while the holder's heartbeat key exists. KEYS: the holder's heartbeat, its hash, the
/// adopter's hash, the holders set. ARGV: the holder, the adopter, "force" to skip the
/// heartbeat check (an instance taking back its own leftovers at start).
pub const ADOPT: &str = r#"
if ARGV[3] ~= 'force' and redis.call('EXISTS', KEYS[1]) == 1 then return false end
local all = redis.call('HGETALL', KEYS[2])
if KEYS[2] ~= KEYS[3] then
  for i = 1, #all, 2 do redis.call('HSET', KEYS[3], all[i], all[i + 1]) end
end
if KEYS[2] ~= KEYS[3] then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[4], ARGV[1])
end
if #all > 0 then redis.call('SADD', KEYS[4], ARGV[2]) end
return all
"#;

/// Writes the tick thread's checkpoint notes to this instance's hash until the queue
/// closes. A batch Redis refuses is dropped (counted in `failed`): each live match sends a
/// newer checkpoint within [`CHECKPOINT_EVERY_TICKS`].
async fn store(
    mut redis: redis::aio::ConnectionManager,
    database: i64,
    instance: String,
    mut notes: mpsc::Receiver<CheckpointNote>,
    failed: Arc<AtomicU64>,
) {
    let held = held_key(database, &instance);
    let holders = holders_key(database);
    let mut batch = Vec::with_capacity(BATCH);
    while notes.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        let mut saved = false;
        for note in batch.drain(..) {
            match note {
                CheckpointNote::Saved(id, bytes) => {
                    saved = true;
                    pipe.hset(&held, id.to_string(), bytes).ignore();
                }
                CheckpointNote::Ended(id) => {
                    pipe.hdel(&held, id.to_string()).ignore();
                }
            }
        }
        if saved {
            pipe.sadd(&holders, &instance).ignore();
        }
        let written: redis::RedisResult<()> = pipe.query_async(&mut redis).await;
        if let Err(error) = written {
            failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%error, "a batch of checkpoints was not written");
        }
    }
}

impl Cluster {
    /// From now on this instance takes no new match (SIGTERM: it hands its matches over).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether this instance is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts the task writing the tick thread's checkpoint notes (see [`store`]).
    pub fn keep_checkpoints(self: &Arc<Self>, notes: mpsc::Receiver<CheckpointNote>) {
        tokio::spawn(store(
            self.redis.clone(),
            self.database,
            self.instance.clone(),
            notes,
            self.checkpoints_failed.clone(),
        ));
    }

    /// Checkpoint batches Redis refused so far.
    pub fn checkpoints_failed(&self) -> u64 {
        self.checkpoints_failed.load(Ordering::Relaxed)
    }

    /// Adopts the checkpoints of every holder whose heartbeat is gone (each dead holder's
    /// hash goes to exactly one adopter); returns them, to be restored on the tick thread.
    pub async fn adopt_orphans(&self) -> redis::RedisResult<Vec<Held>> {
        let mut redis = self.redis.clone();
        let holders: Vec<String> = redis::cmd("SMEMBERS")
            .arg(holders_key(self.database))
            .query_async(&mut redis)
            .await?;
        let mut adopted = Vec::new();
        for holder in holders.iter().filter(|holder| **holder != self.instance) {
            let moved = self.run_adopt(holder, false).await?;
            if !moved.is_empty() {
                tracing::warn!(
                    instance = %holder,
                    matches = moved.len(),
                    "adopting the live matches of an instance whose heartbeat stopped"
                );
            }
            adopted.extend(moved);
        }
        Ok(adopted)
    }

    /// The checkpoints an earlier run of this instance (same `--instance-id`) left in its
    /// hash, taken back at start.
    pub async fn take_leftovers(&self) -> redis::RedisResult<Vec<Held>> {
        self.run_adopt(&self.instance, true).await
    }

    async fn run_adopt(&self, holder: &str, force: bool) -> redis::RedisResult<Vec<Held>> {
        let mut redis = self.redis.clone();
        let moved: Option<Vec<Vec<u8>>> = redis::Script::new(ADOPT)
            .key(heartbeat_key(holder))
            .key(held_key(self.database, holder))
            .key(held_key(self.database, &self.instance))
            .key(holders_key(self.database))
            .arg(holder)
            .arg(&self.instance)
            .arg(if force { "force" } else { "check" })
            .invoke_async(&mut redis)
            .await?;
        let mut fields = moved.unwrap_or_default().into_iter();
        let mut held = Vec::new();
        while let (Some(field), Some(checkpoint)) = (fields.next(), fields.next()) {
            held.push(Held {
                field: String::from_utf8_lossy(&field).into_owned(),
                checkpoint,
            });
        }
        Ok(held)
    }

    /// A draining instance's last words: its final checkpoints replace its hash, then its
    /// heartbeat and live list are deleted, so a survivor adopts its matches at its next
    /// heartbeat.
    pub async fn hand_over(&self, checkpoints: &[(MatchId, Vec<u8>)]) -> redis::RedisResult<()> {
        let mut handed_over = self.handed_over.lock().await;
        *handed_over = true;
        let held = held_key(self.database, &self.instance);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&held).ignore();
        for (id, bytes) in checkpoints {
            pipe.hset(&held, id.to_string(), bytes).ignore();
        }
        if !checkpoints.is_empty() {
            pipe.sadd(holders_key(self.database), &self.instance)
                .ignore();
        }
        pipe.del(heartbeat_key(&self.instance))
            .ignore()
            .del(live_key(&self.instance))
            .ignore();
        let mut redis = self.redis.clone();
        let handed: redis::RedisResult<()> = pipe.query_async(&mut redis).await;
        // Not handed over: the instance goes on beating while it aborts them.
        *handed_over = handed.is_ok();
        handed
    }
}

/// One entry of an instance's checkpoint hash: the match id it is kept under, and the
/// checkpoint.
pub struct Held {
    field: String,
    checkpoint: Vec<u8>,
}

/// A match restored here from a checkpoint, and its human players.
struct Restored {
    match_id: MatchId,
    players: Vec<PlayerId>,
}

/// How long restoring adopted matches waits for the tick thread.
const RESTORE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The people seated in a checkpoint's match (bots are not seated back).
fn humans(checkpoint: &MatchCheckpoint) -> Vec<PlayerRef> {
    checkpoint
        .state
        .seats
        .iter()
        .filter(|seat| seat.bot.is_none())
        .filter_map(|seat| seat.occupant.as_ref())
        .map(|occupant| PlayerRef {
            id: occupant.id,
            name: occupant.name.clone(),
        })
        .collect()
}

impl Cluster {
    /// Restores checkpoints (adopted from a dead instance, or left by this instance's previous
    /// run) on the tick thread: each match goes on here, paused with its players dropped;
    /// the players connected here are seated back at once; their seats are claimed in Redis,
    /// and the other instances are told, so that they seat back the connections they hold.
    pub async fn restore_adopted(self: &Arc<Self>, adopted: Vec<Held>) {
        let mut lost = Vec::new();
        let checkpoints: Vec<MatchCheckpoint> = adopted
            .into_iter()
            .filter_map(|held| match crate::bridge::checkpoint::decode(&held.checkpoint) {
                Ok(checkpoint) => Some(checkpoint),
                Err(error) => {
                    tracing::warn!(%error, "an adopted checkpoint could not be read: its match is lost");
                    lost.push(held.field);
                    None
                }
            })
            .collect();
        self.forget_checkpoints(lost).await;
        if checkpoints.is_empty() {
            return;
        }
        // The connections here of every player of those matches, seated back on the tick
        // thread right after the restore; their routes to the dead owner go.
        let mut here = Vec::new();
        for checkpoint in &checkpoints {
            for player in humans(checkpoint) {
                for (conn, outbox) in self.hub.connections_of(player.id) {
                    self.forget_route(conn, checkpoint.id);
                    here.push((conn, player.clone(), outbox));
                }
            }
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Command::Run(Box::new(move |world: &mut World| {
            let mut restored = Vec::with_capacity(checkpoints.len());
            let mut lost = Vec::new();
            for checkpoint in &checkpoints {
                match crate::bridge::checkpoint::restore_match(world, checkpoint) {
                    Ok(_) => restored.push(Restored {
                        match_id: checkpoint.id,
                        players: humans(checkpoint).into_iter().map(|p| p.id).collect(),
                    }),
                    Err(error) => {
                        tracing::warn!(
                            %error,
                            match_id = %checkpoint.id,
                            "an adopted match could not be restored"
                        );
                        lost.push(checkpoint.id.to_string());
                    }
                }
            }
            for (conn, player, outbox) in here {
                crate::bridge::receive::reattach(world, conn, player, outbox);
            }
            let _ = reply.send((restored, lost));
        }));
        if self.commands.send(job).is_err() {
            return;
        }
        let Ok(Ok((restored, lost))) = tokio::time::timeout(RESTORE_WAIT, answer).await else {
            tracing::warn!("the tick thread did not confirm the adopted matches");
            return;
        };
        self.forget_checkpoints(lost).await;
        for match_ in &restored {
            tracing::info!(match_id = %match_.match_id, "adopted match restored, waiting for its players");
            let claimed = tokio::time::timeout(
                super::HEARTBEAT_EVERY,
                self.claim_seats(match_.match_id, &match_.players),
            )
            .await;
            if !matches!(claimed, Ok(Ok(()))) {
                tracing::warn!("the seats of an adopted match were not claimed");
            }
            self.tell(Said::Adopted {
                match_id: match_.match_id,
                players: match_.players.clone(),
            });
        }
        self.beat_soon();
    }

    /// Another instance adopted `match_id`: this instance's connections of its players stop
    /// routing to the old owner and are seated back at the new one.
    pub(super) fn heard_adopted(self: &Arc<Self>, match_id: MatchId, players: &[PlayerId]) {
        for &player in players {
            let Some(info) = self.hub.player(player) else {
                continue;
            };
            let player_ref = PlayerRef {
                id: info.id,
                name: info.name.clone(),
            };
            for (conn, outbox) in self.hub.connections_of(player) {
                self.forget_route(conn, match_id);
                self.reseat(conn, player_ref.clone(), outbox);
            }
        }
    }

    /// Removes checkpoints that cannot be restored from this instance's hash, so that they
    /// are not adopted again and again.
    async fn forget_checkpoints(&self, fields: Vec<String>) {
        if fields.is_empty() {
            return;
        }
        let mut redis = self.redis.clone();
        let mut hdel = redis::cmd("HDEL");
        hdel.arg(held_key(self.database, &self.instance))
            .arg(&fields);
        let removed = hdel.query_async::<()>(&mut redis);
        if !matches!(
            tokio::time::timeout(super::HEARTBEAT_EVERY, removed).await,
            Ok(Ok(()))
        ) {
            tracing::warn!("unrestorable checkpoints were not removed from Redis");
        }
    }

    /// `conn` no longer plays or watches `match_id` through another instance.
    fn forget_route(&self, conn: ConnId, match_id: MatchId) {
        if let Some(routes) = self.routes.lock().expect("cluster lock").get_mut(&conn) {
            routes.retain(|(id, _)| *id != match_id);
        }
    }
}
