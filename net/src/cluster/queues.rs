//! The cluster's matchmaking queues and join codes in Redis (tokio tasks, one of each per
//! instance). The tick thread's half is `crate::matchmaking::shared`; this task carries out
//! its [`QueueEvent`]s and runs the passes that pair players.
//!
//! Keys (in the database `--redis` names):
//! - `arcade:queue:<game>:<mode>`: a hash, player id → its [`Entry`] as JSON (player, name,
//!   instance, connection, rating, joined-at).
//! - `arcade:code:<CODE>`: a private match's id and owner (`<match id> <instance>`), set by
//!   its owner while the match lives (refreshed every second with the heartbeat's TTL;
//!   deleted when the match ends).
//!
//! A pass (every [`PASS_EVERY`], and at once after a join here) reads a queue, drops the
//! entries of instances whose heartbeat expired, and forms groups with the same rules as one
//! instance ([`form_groups`], waiting counted in milliseconds). Each group is then taken by
//! [`TAKE`], a Lua script that removes its members only if every one is still queued with the
//! same entry and its instance still alive: two instances passing at once never take one
//! player twice. The instance whose script took the group owns its match.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arcade_systems::model::{Game, MatchId, Mode};
use prometheus::IntCounter;
use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::relay::{Direct, Forwarded, ForwardedOp};
use super::{Cluster, HEARTBEAT_EVERY, HEARTBEAT_TTL_SECONDS, heartbeat_key};
use crate::link::Command;
use crate::matchmaking::pairing::form_groups;
use crate::matchmaking::queue_name;
use crate::matchmaking::shared::{self, Entry, QUEUE_EVENTS, QueueEvent};
use crate::wire::protocol::ErrorCode;

/// How often each instance searches every queue (the windows widen meanwhile).
pub const PASS_EVERY: Duration = Duration::from_millis(250);

/// How long one Redis call of a queue may take before it counts as Redis being away.
const REDIS_WAIT: Duration = Duration::from_secs(1);

/// How long a join code unknown to Redis is looked up again after (its match may have been
/// created elsewhere a moment ago, its code on its way).
const CODE_LOOK_AGAIN: Duration = Duration::from_millis(100);

/// Takes a group atomically. KEYS[1]: the queue; KEYS[2..]: each member's instance's
/// heartbeat key; ARGV: each member's field and entry. Returns 1 when taken, 0 when any
/// member left, changed or lost its instance (nothing is removed then).
pub const TAKE: &str = r"
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 0 end
  if redis.call('EXISTS', KEYS[(i + 1) / 2 + 1]) == 0 then return 0 end
end
for i = 1, #ARGV, 2 do redis.call('HDEL', KEYS[1], ARGV[i]) end
return 1
";

/// Removes entries that are still the given ones. KEYS[1]: the queue; ARGV: fields and
/// entries. Returns how many were removed.
pub const REMOVE: &str = r"
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
";

/// The Redis key of a queue.
pub fn queue_key(game: Game, mode: Mode) -> String {
    format!("arcade:queue:{}", queue_name(game, mode))
}

/// The Redis key of a join code.
fn code_key(code: &str) -> String {
    format!("arcade:code:{}", code.trim().to_ascii_uppercase())
}

/// Every queue there is: the modes with an opponent to wait for.
pub fn all_queues() -> Vec<(Game, Mode)> {
    let modes = [
        Mode::OneVsOne,
        Mode::TwoVsTwo,
        Mode::VsBot,
        Mode::Solo,
        Mode::Versus,
    ];
    Game::ALL
        .into_iter()
        .flat_map(|game| modes.into_iter().map(move |mode| (game, mode)))
        .filter(|(game, mode)| mode.fits(*game) && mode.player_seats().len() >= 2)
        .collect()
}

/// The groups a pass proposes from a queue's live entries: each a list of indexes into
/// `entries`, formed by [`form_groups`] over the entries oldest first.
pub fn propose(entries: &[Entry], size: usize, now_ms: i64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&index| (entries[index].joined_at_ms, entries[index].player.0));
    let seekers: Vec<_> = order.iter().map(|&index| entries[index].seeker()).collect();
    form_groups(&seekers, size, now_ms.max(0) as u64, 1000)
        .into_iter()
        .map(|group| group.into_iter().map(|at| order[at]).collect())
        .collect()
}

/// Starts this instance's part of the cluster's queues: tells the tick thread, and runs the
/// Redis task and the join-code publisher.
pub fn start(cluster: &Arc<Cluster>, pairs: IntCounter) {
    let (events, received) = mpsc::channel(QUEUE_EVENTS);
    let instance = cluster.instance.clone();
    let _ = cluster.commands.send(Command::Run(Box::new(move |world| {
        shared::install_shared(world, instance, events)
    })));
    let queues = Queues {
        cluster: cluster.clone(),
        take: redis::Script::new(TAKE),
        remove: redis::Script::new(REMOVE),
        pairs,
    };
    tokio::spawn(queues.run(received));
    tokio::spawn(publish_codes(cluster.clone()));
}

/// The Redis task's state.
struct Queues {
    cluster: Arc<Cluster>,
    take: redis::Script,
    remove: redis::Script,
    /// `arcade_cluster_queue_pairs_total`.
    pairs: IntCounter,
}

impl Queues {
    async fn run(self, mut events: mpsc::Receiver<QueueEvent>) {
        // Entries an earlier process of this instance id left stand for no connection now.
        for (game, mode) in all_queues() {
            let swept = self.sweep(game, mode, |entry| entry.instance == self.cluster.instance);
            if let Ok(Err(error)) = tokio::time::timeout(REDIS_WAIT, swept).await {
                tracing::warn!(%error, "this instance's old queue entries could not be swept");
            }
        }
        let mut every = tokio::time::interval(PASS_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(event) => self.handle(event).await,
                    None => return,
                },
                // While Redis is away (as the heartbeat last saw), no pass waits on it.
                _ = every.tick(), if self.cluster.is_up() => {
                    for (game, mode) in all_queues() {
                        self.pass_bounded(game, mode).await;
                    }
                }
            }
        }
    }

    async fn handle(&self, event: QueueEvent) {
        let cluster = &self.cluster;
        match event {
            QueueEvent::Enqueue {
                game,
                mode,
                entry,
                reply,
            } => {
                let added = self.enqueue(game, mode, &entry).await;
                if added != Ok(true) {
                    let refused = entry.clone();
                    let _ = cluster.commands.send(Command::Run(Box::new(move |world| {
                        shared::refused(world, &refused)
                    })));
                }
                if let Some(reply) = reply {
                    match added {
                        Ok(true) => reply.ack(serde_json::json!({"queue": queue_name(game, mode)})),
                        Ok(false) => reply.error(
                            ErrorCode::Conflict,
                            "already in a queue through another connection",
                        ),
                        Err(()) => reply.error(
                            ErrorCode::Unavailable,
                            "Redis does not answer: the cluster's queues are unavailable, \
                             try again later",
                        ),
                    }
                }
                if added == Ok(true) {
                    self.pass_bounded(game, mode).await;
                }
            }
            QueueEvent::Dequeue {
                game,
                mode,
                entry,
                reply,
            } => {
                let removed = self.dequeue(game, mode, &[entry]).await;
                if let Some(reply) = reply {
                    match removed {
                        Ok(1..) => reply.ack(serde_json::json!({"queue": queue_name(game, mode)})),
                        Ok(_) => reply.error(ErrorCode::NotFound, "not in a queue"),
                        Err(_) => reply.error(
                            ErrorCode::Unavailable,
                            "Redis does not answer: the cluster's queues are unavailable",
                        ),
                    }
                }
            }
            QueueEvent::Offer {
                group,
                match_id,
                entry,
            } => {
                let to = entry.instance.clone();
                let offer = Direct::Offer {
                    owner: cluster.instance.clone(),
                    group,
                    match_id,
                    entry,
                };
                cluster.send_direct(&to, &offer);
            }
            QueueEvent::Accept {
                owner,
                group,
                match_id,
                entry,
                msgpack,
                compact,
            } => {
                cluster.route(entry.conn, match_id, &owner);
                let forwarded = Forwarded {
                    from: cluster.instance.clone(),
                    conn: entry.conn,
                    player: arcade_systems::model::PlayerRef {
                        id: entry.player,
                        name: entry.name,
                    },
                    msgpack,
                    compact,
                    request_msgpack: msgpack,
                    request_id: None,
                    op: ForwardedOp::Seat { group },
                };
                cluster.send_direct(&owner, &Direct::Forward(forwarded));
            }
            QueueEvent::Settled {
                group,
                entry,
                seated,
            } => {
                let settled = Direct::Settled {
                    group,
                    player: entry.player,
                    seated,
                };
                cluster.send_direct(&entry.instance, &settled);
            }
            QueueEvent::Formed => cluster.beat_soon(),
        }
    }

    /// Adds `entry` unless its player is queued already (`Ok(false)`); `Err` when Redis is
    /// away.
    async fn enqueue(&self, game: Game, mode: Mode, entry: &Entry) -> Result<bool, ()> {
        let Ok(json) = serde_json::to_string(entry) else {
            return Err(());
        };
        let mut redis = self.cluster.redis.clone();
        let key = queue_key(game, mode);
        let added = redis.hset_nx::<_, _, _, bool>(key, entry.player.to_string(), json);
        match tokio::time::timeout(REDIS_WAIT, added).await {
            Ok(Ok(added)) => Ok(added),
            _ => Err(()),
        }
    }

    /// Removes `entries` from the queue where they are still as given; how many were.
    async fn dequeue(&self, game: Game, mode: Mode, entries: &[Entry]) -> Result<u64, ()> {
        let mut invocation = self.remove.key(queue_key(game, mode));
        for entry in entries {
            let json = serde_json::to_string(entry).map_err(|_| ())?;
            invocation.arg(entry.player.to_string()).arg(json);
        }
        let mut redis = self.cluster.redis.clone();
        match tokio::time::timeout(REDIS_WAIT, invocation.invoke_async(&mut redis)).await {
            Ok(Ok(removed)) => Ok(removed),
            _ => Err(()),
        }
    }

    /// [`Queues::pass`], given up after [`REDIS_WAIT`] (Redis away).
    async fn pass_bounded(&self, game: Game, mode: Mode) {
        match tokio::time::timeout(REDIS_WAIT, self.pass(game, mode)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "queue pass failed"),
            Err(_) => tracing::debug!("queue pass timed out"),
        }
    }

    /// Reads a queue and removes the entries that are not well-formed and those for which
    /// `stale` holds; returns the others, each with its stored JSON.
    async fn sweep(
        &self,
        game: Game,
        mode: Mode,
        stale: impl Fn(&Entry) -> bool,
    ) -> redis::RedisResult<Vec<(String, Entry)>> {
        let key = queue_key(game, mode);
        let mut redis = self.cluster.redis.clone();
        let stored: HashMap<String, String> = redis.hgetall(&key).await?;
        let mut kept: Vec<(String, Entry)> = Vec::with_capacity(stored.len());
        let mut gone: Vec<(String, String)> = Vec::new();
        for (field, json) in stored {
            match serde_json::from_str::<Entry>(&json) {
                Ok(entry) if entry.player.to_string() == field && !stale(&entry) => {
                    kept.push((json, entry))
                }
                _ => gone.push((field, json)),
            }
        }
        if !gone.is_empty() {
            let mut invocation = self.remove.key(&key);
            for (field, json) in &gone {
                invocation.arg(field).arg(json);
            }
            let removed: u64 = invocation.invoke_async(&mut redis).await?;
            tracing::info!(removed, queue = %queue_name(game, mode), "stale queue entries removed");
        }
        Ok(kept)
    }

    /// One pass over a queue: drops the entries of dead instances, then takes every group
    /// the pairing rules form now and hands each to the tick thread.
    async fn pass(&self, game: Game, mode: Mode) -> redis::RedisResult<()> {
        let key = queue_key(game, mode);
        let mut redis = self.cluster.redis.clone();
        let entries = self.sweep(game, mode, |_| false).await?;
        if entries.is_empty() {
            return Ok(());
        }
        let instances: Vec<String> = entries
            .iter()
            .map(|(_, entry)| entry.instance.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut pipe = redis::pipe();
        for instance in &instances {
            pipe.exists(heartbeat_key(instance));
        }
        let alive: Vec<bool> = pipe.query_async(&mut redis).await?;
        let dead: HashSet<&String> = instances
            .iter()
            .zip(alive)
            .filter(|(_, alive)| !alive)
            .map(|(instance, _)| instance)
            .collect();
        let (gone, live): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|(_, entry)| dead.contains(&entry.instance));
        if !gone.is_empty() {
            let mut invocation = self.remove.key(&key);
            for (json, entry) in &gone {
                invocation.arg(entry.player.to_string()).arg(json);
            }
            let removed: u64 = invocation.invoke_async(&mut redis).await?;
            tracing::info!(removed, queue = %queue_name(game, mode), "queue entries of dead instances removed");
        }
        let size = mode.player_seats().len();
        let just: Vec<Entry> = live.iter().map(|(_, entry)| entry.clone()).collect();
        for group in propose(&just, size, crate::clock::now_ms()) {
            let mut invocation = self.take.key(&key);
            for &index in &group {
                invocation.key(heartbeat_key(&live[index].1.instance));
            }
            for &index in &group {
                let (json, entry) = &live[index];
                invocation.arg(entry.player.to_string()).arg(json);
            }
            let taken: i64 = invocation.invoke_async(&mut redis).await?;
            if taken != 1 {
                continue; // Another instance took one of them first: the next pass sees.
            }
            self.pairs.inc();
            let members: Vec<Entry> = group.iter().map(|&index| live[index].1.clone()).collect();
            let id = rand::random::<u64>();
            let _ = self
                .cluster
                .commands
                .send(Command::Run(Box::new(move |world| {
                    shared::form(world, id, game, mode, members)
                })));
        }
        Ok(())
    }
}

/// Publishes this instance's join codes: every second (refreshing their TTL) and right after a
/// match is created here; deletes those of matches that ended.
async fn publish_codes(cluster: Arc<Cluster>) {
    let mut every = tokio::time::interval(HEARTBEAT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            // A match was just created here: the tick that creates it runs before the job
            // below, which the command queue delivers after it.
            _ = cluster.codes_now.notified() => {}
        }
        let (tell, told) = tokio::sync::oneshot::channel::<Vec<(String, MatchId)>>();
        let ask = Command::Run(Box::new(move |world| {
            let codes = world
                .get_resource::<crate::link::Lobby>()
                .map(|lobby| {
                    lobby
                        .code_of
                        .iter()
                        .map(|(id, code)| (code.clone(), *id))
                        .collect()
                })
                .unwrap_or_default();
            let _ = tell.send(codes);
        }));
        if cluster.commands.send(ask).is_err() {
            return;
        }
        let Ok(Ok(codes)) = tokio::time::timeout(HEARTBEAT_EVERY, told).await else {
            continue;
        };
        let now: HashSet<String> = codes.iter().map(|(code, _)| code.clone()).collect();
        let mut pipe = redis::pipe();
        for (code, id) in &codes {
            let value = format!("{id} {}", cluster.instance);
            pipe.set_ex(code_key(code), value, HEARTBEAT_TTL_SECONDS)
                .ignore();
        }
        for ended in published.difference(&now) {
            pipe.del(code_key(ended)).ignore();
        }
        let mut redis = cluster.redis.clone();
        let sent = tokio::time::timeout(REDIS_WAIT, pipe.query_async::<()>(&mut redis)).await;
        if matches!(sent, Ok(Ok(()))) {
            published = now;
        }
    }
}

impl Cluster {
    /// The match a join code names in the cluster (any instance's private match), if Redis
    /// knows it; its owner is noted, as private matches are in no live list.
    pub async fn match_of_code(&self, code: &str) -> Option<MatchId> {
        let found = match self.read_code(code).await {
            Some(found) => found,
            None => {
                tokio::time::sleep(CODE_LOOK_AGAIN).await;
                self.read_code(code).await?
            }
        };
        let (id, owner) = found;
        if owner != self.instance {
            self.owners.write().expect("cluster lock").insert(id, owner);
        }
        Some(id)
    }

    /// A code's match and its owner, as stored (`<match id> <instance>`).
    async fn read_code(&self, code: &str) -> Option<(MatchId, String)> {
        let mut redis = self.redis.clone();
        let read = redis.get::<_, Option<String>>(code_key(code));
        let stored = tokio::time::timeout(REDIS_WAIT, read).await.ok()?.ok()??;
        let (id, owner) = stored.split_once(' ')?;
        Some((id.parse().ok()?, owner.to_owned()))
    }

    /// Notes that this instance's connection `conn` plays `match_id`, held by `owner`: its
    /// requests and inputs for it are forwarded there.
    fn route(&self, conn: crate::outbox::ConnId, match_id: MatchId, owner: &str) {
        let mut routes = self.routes.lock().expect("cluster lock");
        let routed = routes.entry(conn).or_default();
        if !routed.iter().any(|(routed, _)| *routed == match_id) {
            routed.push((match_id, owner.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcade_systems::model::PlayerId;

    fn entry(player: u64, rating: f64, joined_at_ms: i64) -> Entry {
        Entry {
            player: PlayerId(player),
            name: format!("p{player}"),
            instance: "i0".into(),
            conn: player,
            rating,
            joined_at_ms,
        }
    }

    #[test]
    fn passes_pair_by_the_rules_of_one_instance_oldest_first() {
        // Stored order is the hash's: pairing still anchors on the oldest.
        let entries = vec![
            entry(3, 1620.0, 1_050),
            entry(1, 1600.0, 1_000),
            entry(2, 1450.0, 1_050),
            entry(4, 1480.0, 1_050),
        ];
        let groups = propose(&entries, 2, 2_000);
        assert_eq!(groups, [vec![1, 0], vec![2, 3]]);
        // 400 apart: paired once the oldest waited (400 - 100) / 50 = 6 s.
        let far = vec![entry(1, 1500.0, 0), entry(2, 1900.0, 0)];
        assert!(propose(&far, 2, 5_999).is_empty());
        assert_eq!(propose(&far, 2, 6_000), [vec![0, 1]]);
    }

    #[test]
    fn an_entry_reads_back_as_it_was_stored() {
        let stored = serde_json::to_string(&entry(7, 1512.5, 42)).unwrap();
        let back: Entry = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, entry(7, 1512.5, 42));
        assert_eq!(serde_json::to_string(&back).unwrap(), stored);
    }

    #[test]
    fn every_queue_has_an_opponent_to_wait_for() {
        let names: Vec<String> = all_queues()
            .into_iter()
            .map(|(game, mode)| queue_key(game, mode))
            .collect();
        assert_eq!(
            names,
            [
                "arcade:queue:pong:1v1",
                "arcade:queue:pong:2v2",
                "arcade:queue:breakout:versus"
            ]
        );
        assert_eq!(code_key(" ab3k9z "), "arcade:code:AB3K9Z");
    }
}
