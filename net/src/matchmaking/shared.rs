//! The cluster's queues, the tick thread's half (`--redis`): this instance's players waiting
//! in the Redis queues, and the groups it formed that wait for their players of other
//! instances. Redis itself is `crate::cluster::queues`' (tokio), reached only through
//! [`QueueEvent`]s sent with `try_send`: nothing here waits.
//!
//! A player's way through: `queue.join` marks it here and asks for its [`Entry`] in Redis
//! (the `ack` goes out once Redis has it). An instance's pass takes a group out of Redis
//! atomically and hands it to its tick thread ([`form`]): that instance is the match's owner.
//! Its own players are seated at once; each player of another instance is offered the match
//! ([`offered`], there), which takes it out of its queue here and forwards a seat request to
//! the owner through the relay ([`seat_remote`], on the owner, with the virtual connection
//! standing for it). When every seat is claimed the owner creates the match exactly as on one
//! instance; when one is not within [`SEAT_TIMEOUT`], the group is discarded and the players
//! who came back go to the front of the queue (by their first join time) ([`settled`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, MatchId, Mode, PlayerId, PlayerRef};
use serde::{Deserialize, Serialize};

use super::pairing::Seeker;
use super::queue::{Matchmaker, Waiting, queue_name, start_match};
use crate::link::{self, ReplyTo};
use crate::outbox::{ConnId, Outbox};
use crate::wire::protocol::ErrorCode;

/// How long a formed group waits for its players of other instances to claim their seats
/// before it is discarded (and the players who came put back at the front of the queue).
pub const SEAT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a player offered a match held elsewhere waits to be told it is seated before it
/// goes back to its queue by itself (the owner died meanwhile).
pub const OFFER_TIMEOUT: Duration = Duration::from_secs(6);

/// Queue events the tick thread may leave for the Redis task before `queue.join` is refused.
pub const QUEUE_EVENTS: usize = 4096;

/// One player waiting in a cluster queue, as stored in Redis (JSON, the field of its player
/// in the queue's hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub player: PlayerId,
    pub name: String,
    /// The instance holding the player's connection.
    pub instance: String,
    /// The connection there.
    pub conn: ConnId,
    /// The rating the player queued with.
    pub rating: f64,
    /// When the player joined (Unix milliseconds): the older, the wider its window.
    pub joined_at_ms: i64,
}

impl Entry {
    /// The entry as pairing sees it (waiting counted in milliseconds).
    pub fn seeker(&self) -> Seeker {
        Seeker {
            rating: self.rating,
            since: self.joined_at_ms.max(0) as u64,
        }
    }

    fn player_ref(&self) -> PlayerRef {
        PlayerRef {
            id: self.player,
            name: self.name.clone(),
        }
    }
}

/// What the tick thread asks of the Redis task.
pub enum QueueEvent {
    /// Put `entry` in the queue; answer `queue.join` through `reply` once Redis has it.
    Enqueue {
        game: Game,
        mode: Mode,
        entry: Entry,
        reply: Option<ReplyTo>,
    },
    /// Take `entry` out of the queue; answer `queue.leave` through `reply`.
    Dequeue {
        game: Game,
        mode: Mode,
        entry: Entry,
        reply: Option<ReplyTo>,
    },
    /// Tell `entry`'s instance that its player is in `group`, match `match_id`, held here.
    Offer {
        group: u64,
        match_id: MatchId,
        entry: Entry,
    },
    /// This instance's player takes its seat in `owner`'s match: forward the request.
    Accept {
        owner: String,
        group: u64,
        match_id: MatchId,
        entry: Entry,
        /// The connection's codec is MessagePack, and it gets compact `state`s.
        msgpack: bool,
        compact: bool,
    },
    /// Tell `entry`'s instance whether its player was seated (or goes back to the queue).
    Settled {
        group: u64,
        entry: Entry,
        seated: bool,
    },
    /// A match was created from a group here.
    Formed,
}

/// This instance's part of the cluster queues (inside [`Matchmaker`]).
pub struct Shared {
    /// This instance's id.
    instance: String,
    /// To the Redis task.
    events: tokio::sync::mpsc::Sender<QueueEvent>,
    /// This instance's players in a queue (waiting, or offered a match elsewhere).
    mine: HashMap<PlayerId, Mine>,
    /// The groups this instance formed, waiting for their remote players.
    forming: HashMap<u64, Forming>,
}

/// One of this instance's queued players.
struct Mine {
    game: Game,
    mode: Mode,
    entry: Entry,
    outbox: Arc<Outbox>,
    /// Offered a match held elsewhere: by whom, which group, since which tick.
    offered: Option<(String, u64, u64)>,
}

/// The connection that claimed a seat of a group: this instance's, or a virtual one standing
/// for a connection of another instance.
type Claim = (ConnId, Arc<Outbox>);

/// A group formed here, waiting for every member's seat to be claimed.
struct Forming {
    game: Game,
    mode: Mode,
    match_id: MatchId,
    /// Each member, with the connection that claimed its seat (here, or a virtual one).
    members: Vec<(Entry, Option<Claim>)>,
    /// The tick it was formed at.
    since: u64,
}

impl Shared {
    fn send(&self, event: QueueEvent) -> bool {
        self.events.try_send(event).is_ok()
    }
}

/// Turns this instance's matchmaking into its part of the cluster's queues (sent as a tick
/// job by `crate::cluster::queues` when the instance joins its cluster).
pub fn install_shared(
    world: &mut World,
    instance: String,
    events: tokio::sync::mpsc::Sender<QueueEvent>,
) {
    world.init_resource::<Matchmaker>();
    world.resource_mut::<Matchmaker>().shared = Some(Shared {
        instance,
        events,
        mine: HashMap::new(),
        forming: HashMap::new(),
    });
}

fn part(matchmaker: &mut Matchmaker) -> &mut Shared {
    matchmaker.shared.as_mut().expect("cluster queues")
}

/// `queue.join` in a cluster, once the checks of one instance passed.
pub(super) fn join(
    matchmaker: &mut Matchmaker,
    conn: ConnId,
    player: PlayerRef,
    reply: ReplyTo,
    game: Game,
    mode: Mode,
    rating: f64,
) {
    let shared = part(matchmaker);
    let entry = Entry {
        player: player.id,
        name: player.name,
        instance: shared.instance.clone(),
        conn,
        rating,
        joined_at_ms: crate::clock::now_ms(),
    };
    let outbox = reply.outbox.clone();
    let id = entry.player;
    let mine = Mine {
        game,
        mode,
        entry: entry.clone(),
        outbox,
        offered: None,
    };
    let event = QueueEvent::Enqueue {
        game,
        mode,
        entry,
        reply: Some(reply.clone()),
    };
    if !shared.send(event) {
        return reply.error(
            ErrorCode::Unavailable,
            "the cluster's queues cannot be reached: try again later",
        );
    }
    shared.mine.insert(id, mine);
    matchmaker.queued.insert(id, (game, mode));
}

/// `queue.leave` in a cluster: out of Redis (answered by the Redis task), or `not_found`.
pub(super) fn leave(matchmaker: &mut Matchmaker, player: PlayerId, reply: ReplyTo) {
    let waiting = part(matchmaker)
        .mine
        .get(&player)
        .is_some_and(|mine| mine.offered.is_none());
    if !waiting {
        // Not queued, or a match was just found for it (as on one instance).
        return reply.error(ErrorCode::NotFound, "not in a queue");
    }
    matchmaker.queued.remove(&player);
    let shared = part(matchmaker);
    let mine = shared.mine.remove(&player).expect("queued");
    let event = QueueEvent::Dequeue {
        game: mine.game,
        mode: mine.mode,
        entry: mine.entry,
        reply: Some(reply.clone()),
    };
    if !shared.send(event) {
        reply.error(
            ErrorCode::Unavailable,
            "the cluster's queues cannot be reached",
        );
    }
}

/// A connection closed: its players leave their queues at once, and their seats in groups
/// forming here are unclaimed.
pub(super) fn forget_connection(matchmaker: &mut Matchmaker, conn: ConnId) {
    let shared = part(matchmaker);
    let leaving: Vec<PlayerId> = shared
        .mine
        .values()
        .filter(|mine| mine.entry.conn == conn)
        .map(|mine| mine.entry.player)
        .collect();
    for forming in shared.forming.values_mut() {
        for (_, claimed) in &mut forming.members {
            if claimed
                .as_ref()
                .is_some_and(|(claimer, _)| *claimer == conn)
            {
                *claimed = None;
            }
        }
    }
    for player in &leaving {
        let mine = shared.mine.remove(player).expect("listed");
        if mine.offered.is_none() {
            shared.send(QueueEvent::Dequeue {
                game: mine.game,
                mode: mine.mode,
                entry: mine.entry,
                reply: None,
            });
        }
    }
    for player in leaving {
        matchmaker.queued.remove(&player);
    }
}

/// Redis refused `entry` (down, or the player already queued through another instance):
/// this instance forgets it, if it still stands for that join.
pub fn refused(world: &mut World, entry: &Entry) {
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    let Some(shared) = matchmaker.shared.as_mut() else {
        return;
    };
    if shared
        .mine
        .get(&entry.player)
        .is_some_and(|mine| mine.entry == *entry && mine.offered.is_none())
    {
        shared.mine.remove(&entry.player);
        matchmaker.queued.remove(&entry.player);
    }
}

/// A pass of this instance took `entries` out of the `game`/`mode` queue: this instance owns
/// the match. Its own players are seated at once, the others are offered it.
pub fn form(world: &mut World, group: u64, game: Game, mode: Mode, entries: Vec<Entry>) {
    let match_id = MatchId(rand::random::<u64>() & arcade_systems::model::ID_BITS_MASK);
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    let since = matchmaker.tick;
    let Some(shared) = matchmaker.shared.as_mut() else {
        return;
    };
    let mut members = Vec::with_capacity(entries.len());
    for entry in entries {
        let claimed = if entry.instance == shared.instance {
            // Still waiting through the same connection (it may have left meanwhile).
            shared
                .mine
                .get_mut(&entry.player)
                .filter(|mine| mine.entry == entry && mine.offered.is_none())
                .map(|mine| {
                    mine.offered = Some((shared.instance.clone(), group, since));
                    (entry.conn, mine.outbox.clone())
                })
        } else {
            shared.send(QueueEvent::Offer {
                group,
                match_id,
                entry: entry.clone(),
            });
            None
        };
        members.push((entry, claimed));
    }
    shared.forming.insert(
        group,
        Forming {
            game,
            mode,
            match_id,
            members,
            since,
        },
    );
    start_if_claimed(world, group);
}

/// This instance's player was offered `owner`'s match: it leaves its queue here (still
/// counted as queued until the owner says it is seated) and claims its seat there.
pub fn offered(world: &mut World, owner: String, group: u64, match_id: MatchId, entry: Entry) {
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    let tick = matchmaker.tick;
    let Some(shared) = matchmaker.shared.as_mut() else {
        return;
    };
    let Some(mine) = shared
        .mine
        .get_mut(&entry.player)
        .filter(|mine| mine.entry == entry && mine.offered.is_none())
    else {
        return; // Left, or gone: the owner's group times out without it.
    };
    if mine.outbox.is_closing() {
        return;
    }
    mine.offered = Some((owner.clone(), group, tick));
    let (msgpack, compact) = (
        mine.outbox.codec() == crate::wire::codec::Codec::Msgpack,
        mine.outbox.is_compact(),
    );
    shared.send(QueueEvent::Accept {
        owner,
        group,
        match_id,
        entry,
        msgpack,
        compact,
    });
}

/// A player of another instance claimed its seat in `group` (formed here) through the
/// virtual connection `conn`.
pub fn seat_remote(
    world: &mut World,
    group: u64,
    player: PlayerId,
    conn: ConnId,
    outbox: Arc<Outbox>,
) {
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    let Some(forming) = matchmaker
        .shared
        .as_mut()
        .and_then(|shared| shared.forming.get_mut(&group))
    else {
        return; // Discarded already: its instance was told to queue it again.
    };
    for (entry, claimed) in &mut forming.members {
        if entry.player == player && claimed.is_none() {
            *claimed = Some((conn, outbox.clone()));
        }
    }
    start_if_claimed(world, group);
}

/// The owner of `group` says whether this instance's player was seated; if not, it goes back
/// to the front of its queue (by its first join time).
pub fn settled(world: &mut World, group: u64, player: PlayerId, seated: bool) {
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    let Some(shared) = matchmaker.shared.as_mut() else {
        return;
    };
    let offered_in_group = shared
        .mine
        .get(&player)
        .is_some_and(|mine| matches!(mine.offered, Some((_, offered, _)) if offered == group));
    if !offered_in_group {
        return;
    }
    if seated {
        shared.mine.remove(&player);
        matchmaker.queued.remove(&player);
    } else {
        requeue(shared, player);
    }
}

/// Puts an offered player of this instance back in its queue, with its first join time.
fn requeue(shared: &mut Shared, player: PlayerId) {
    let Some(mine) = shared.mine.get_mut(&player) else {
        return;
    };
    mine.offered = None;
    let event = QueueEvent::Enqueue {
        game: mine.game,
        mode: mine.mode,
        entry: mine.entry.clone(),
        reply: None,
    };
    shared.send(event);
}

/// Starts `group`'s match if every seat is claimed by a connection still open.
fn start_if_claimed(world: &mut World, group: u64) {
    let mut matchmaker = world.resource_mut::<Matchmaker>();
    let shared = part(&mut matchmaker);
    let ready = shared.forming.get(&group).is_some_and(|forming| {
        forming
            .members
            .iter()
            .all(|(_, claimed)| claimed.as_ref().is_some_and(|(_, o)| !o.is_closing()))
    });
    if !ready {
        return;
    }
    let forming = shared.forming.remove(&group).expect("ready");
    let instance = shared.instance.clone();
    let playing: Vec<bool> = forming
        .members
        .iter()
        .map(|(entry, _)| link::playing_in(world, entry.player).is_some())
        .collect();
    if playing.contains(&true) {
        // Seated elsewhere meanwhile (the queue rules prevent it): the others go back.
        let members = forming.members.into_iter().zip(playing);
        let back = members.filter(|(_, playing)| !playing).map(|(m, _)| m);
        let mut matchmaker = world.resource_mut::<Matchmaker>();
        return discard(&mut matchmaker, group, back.collect());
    }
    let mut matchmaker = world.resource_mut::<Matchmaker>();
    let shared = part(&mut matchmaker);
    let mut seated = Vec::with_capacity(forming.members.len());
    for (entry, claimed) in forming.members {
        let (conn, outbox) = claimed.expect("claimed");
        if entry.instance == instance {
            shared.mine.remove(&entry.player);
        } else {
            shared.send(QueueEvent::Settled {
                group,
                entry: entry.clone(),
                seated: true,
            });
        }
        seated.push(Waiting {
            conn,
            player: entry.player_ref(),
            outbox,
            seeker: entry.seeker(),
        });
    }
    shared.send(QueueEvent::Formed);
    for waiting in &seated {
        matchmaker.queued.remove(&waiting.player.id);
    }
    let ratings: Vec<f64> = seated.iter().map(|waiting| waiting.seeker.rating).collect();
    let mut slots: Vec<Option<Waiting>> = seated.into_iter().map(Some).collect();
    let order = super::pairing::seating_order(&ratings, forming.mode)
        .into_iter()
        .filter_map(|index| slots[index].take())
        .collect();
    start_match(world, forming.match_id, forming.game, forming.mode, order);
    tracing::debug!(
        match_id = %forming.match_id,
        queue = %queue_name(forming.game, forming.mode),
        "cluster queue match formed"
    );
}

/// Gives up `group` (formed here): its members of this instance go back to the front of the
/// queue, and the instances of the others are told to put theirs back.
fn discard(matchmaker: &mut Matchmaker, group: u64, members: Vec<(Entry, Option<Claim>)>) {
    let shared = part(matchmaker);
    for (entry, _) in members {
        if entry.instance == shared.instance {
            // Still here through the same connection (one that left or closed is gone).
            let here = shared.mine.get(&entry.player).is_some_and(
                |mine| matches!(mine.offered, Some((_, offered, _)) if offered == group),
            );
            if here {
                requeue(shared, entry.player);
            }
        } else {
            shared.send(QueueEvent::Settled {
                group,
                entry,
                seated: false,
            });
        }
    }
}

/// Every tick in a cluster: groups formed here whose seats were not all claimed within
/// [`SEAT_TIMEOUT`] are discarded; this instance's players offered a match that nobody
/// confirmed within [`OFFER_TIMEOUT`] go back to their queue.
pub(super) fn expire(world: &mut World, tick_rate: u32) {
    let mut matchmaker = world.resource_mut::<Matchmaker>();
    let now = matchmaker.tick;
    let ticks = |timeout: Duration| (timeout.as_secs_f64() * f64::from(tick_rate)) as u64;
    let shared = part(&mut matchmaker);
    let expired: Vec<u64> = shared
        .forming
        .iter()
        .filter(|(_, forming)| now.saturating_sub(forming.since) > ticks(SEAT_TIMEOUT))
        .map(|(&group, _)| group)
        .collect();
    let stale: Vec<PlayerId> = shared
        .mine
        .values()
        .filter(|mine| {
            mine.offered.as_ref().is_some_and(|(owner, _, since)| {
                *owner != shared.instance && now.saturating_sub(*since) > ticks(OFFER_TIMEOUT)
            })
        })
        .map(|mine| mine.entry.player)
        .collect();
    for player in stale {
        requeue(shared, player);
    }
    for group in expired {
        let forming = part(&mut matchmaker)
            .forming
            .remove(&group)
            .expect("listed");
        tracing::info!(
            match_id = %forming.match_id,
            "a queue group was discarded: a player never claimed its seat"
        );
        discard(&mut matchmaker, group, forming.members);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matchmaking::{QueueRequest, is_queued, join_queue, leave_queue, match_queues};
    use crate::wire::codec::Codec;
    use arcade_systems::sim::{SimConfig, Simulation};
    use tokio::sync::mpsc::{Receiver, channel};

    fn world_of(instance: &str) -> (Simulation, Receiver<QueueEvent>) {
        let mut sim = Simulation::new(SimConfig::default());
        sim.world.init_resource::<link::Lobby>();
        let (events, received) = channel(64);
        install_shared(&mut sim.world, instance.into(), events);
        (sim, received)
    }

    fn reply(outbox: &Arc<Outbox>) -> ReplyTo {
        ReplyTo {
            outbox: outbox.clone(),
            codec: Codec::Json,
            request_id: None,
        }
    }

    /// Queues player `n` through connection `n`; returns its entry as sent to Redis.
    fn queue(world: &mut World, events: &mut Receiver<QueueEvent>, n: u64) -> Entry {
        let outbox = Arc::new(Outbox::new(Codec::Json));
        let player = PlayerRef {
            id: PlayerId(n),
            name: format!("p{n}"),
        };
        let request = QueueRequest {
            game: Game::Pong,
            mode: Mode::OneVsOne,
            rating: 1500.0,
        };
        join_queue(world, n, player, reply(&outbox), request);
        match events.try_recv() {
            Ok(QueueEvent::Enqueue { entry, reply, .. }) => {
                assert!(reply.is_some(), "queue.join is answered once Redis has it");
                entry
            }
            _ => panic!("no Enqueue"),
        }
    }

    fn remote(n: u64) -> Entry {
        Entry {
            player: PlayerId(n),
            name: format!("p{n}"),
            instance: "b".into(),
            conn: n,
            rating: 1500.0,
            joined_at_ms: 1,
        }
    }

    #[test]
    fn a_group_of_this_instance_starts_at_once_and_nothing_pairs_locally() {
        let (mut sim, mut events) = world_of("a");
        let world = &mut sim.world;
        let first = queue(world, &mut events, 1);
        let second = queue(world, &mut events, 2);
        assert_eq!(first.instance, "a");
        match_queues(world);
        assert!(
            link::playing_in(world, PlayerId(1)).is_none(),
            "Redis pairs"
        );
        form(world, 7, Game::Pong, Mode::OneVsOne, vec![first, second]);
        let game = link::playing_in(world, PlayerId(1)).expect("seated");
        assert_eq!(link::playing_in(world, PlayerId(2)), Some(game));
        assert!(!is_queued(world, PlayerId(1)) && !is_queued(world, PlayerId(2)));
        assert!(matches!(events.try_recv(), Ok(QueueEvent::Formed)));
    }

    #[test]
    fn a_remote_member_is_offered_and_seated_through_its_virtual_connection() {
        let (mut sim, mut events) = world_of("a");
        let world = &mut sim.world;
        let mine = queue(world, &mut events, 1);
        form(world, 7, Game::Pong, Mode::OneVsOne, vec![mine, remote(2)]);
        assert!(matches!(
            events.try_recv(),
            Ok(QueueEvent::Offer { group: 7, ref entry, .. }) if entry.player == PlayerId(2)
        ));
        assert!(
            link::playing_in(world, PlayerId(1)).is_none(),
            "waits for its seat"
        );
        assert!(is_queued(world, PlayerId(1)));
        let virtual_outbox = Arc::new(Outbox::new(Codec::Json));
        seat_remote(world, 7, PlayerId(2), 99, virtual_outbox);
        let game = link::playing_in(world, PlayerId(1)).expect("started");
        assert_eq!(link::playing_in(world, PlayerId(2)), Some(game));
        assert!(matches!(
            events.try_recv(),
            Ok(QueueEvent::Settled { seated: true, .. })
        ));
    }

    #[test]
    fn an_unclaimed_seat_discards_the_group_and_the_present_go_back_first() {
        let (mut sim, mut events) = world_of("a");
        let world = &mut sim.world;
        let mine = queue(world, &mut events, 1);
        form(
            world,
            7,
            Game::Pong,
            Mode::OneVsOne,
            vec![mine.clone(), remote(2)],
        );
        let _offer = events.try_recv();
        let rate = u64::from(arcade_systems::sim::DEFAULT_TICK_RATE);
        for _ in 0..SEAT_TIMEOUT.as_secs() * rate + 2 {
            match_queues(world);
        }
        assert!(link::playing_in(world, PlayerId(1)).is_none());
        let mut back = None;
        let mut told = false;
        while let Ok(event) = events.try_recv() {
            match event {
                QueueEvent::Enqueue { entry, reply, .. } => back = Some((entry, reply.is_none())),
                QueueEvent::Settled {
                    seated: false,
                    entry,
                    ..
                } => told = entry.player == PlayerId(2),
                _ => {}
            }
        }
        // Back with its first join time (the front), and no second `ack`.
        assert_eq!(back, Some((mine, true)));
        assert!(told, "the remote member's instance is told");
        assert!(is_queued(world, PlayerId(1)));
        // A late claim finds nothing.
        seat_remote(
            world,
            7,
            PlayerId(2),
            99,
            Arc::new(Outbox::new(Codec::Json)),
        );
        assert!(link::playing_in(world, PlayerId(2)).is_none());
    }

    #[test]
    fn an_offered_player_claims_its_seat_and_is_seated_or_queued_again() {
        let (mut sim, mut events) = world_of("b");
        let world = &mut sim.world;
        let entry = queue(world, &mut events, 2);
        offered(world, "a".into(), 7, MatchId(5), entry.clone());
        assert!(matches!(
            events.try_recv(),
            Ok(QueueEvent::Accept { ref owner, group: 7, .. }) if owner == "a"
        ));
        // Matched: `queue.leave` says `not_found`, as on one instance; still counted queued.
        let outbox = Arc::new(Outbox::new(Codec::Json));
        leave_queue(world, PlayerId(2), reply(&outbox));
        assert!(is_queued(world, PlayerId(2)));
        settled(world, 7, PlayerId(2), false);
        assert!(matches!(
            events.try_recv(),
            Ok(QueueEvent::Enqueue { entry: ref back, reply: None, .. }) if *back == entry
        ));
        offered(world, "a".into(), 8, MatchId(6), entry);
        let _accept = events.try_recv();
        settled(world, 8, PlayerId(2), true);
        assert!(!is_queued(world, PlayerId(2)));
        // An offer for a player that left is ignored.
        offered(world, "a".into(), 9, MatchId(7), remote(3));
        assert!(events.try_recv().is_err());
    }
}
