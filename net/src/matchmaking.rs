//! Matchmaking: `queue.join` / `queue.leave` and [`match_queues`], the system that pairs
//! queued players into matches.
//!
//! The queues are one Resource ([`Matchmaker`]) owned by the tick thread: sessions reach it
//! only through the command channel (`MatchOp::QueueJoin` / `QueueLeave`, applied by
//! `bridge::receive_commands`), and [`match_queues`] runs right after that in
//! `SimSystems::Receive`, every tick: it searches a queue on the tick after someone joined
//! it, and every queue each [`REPAIR_EVERY_TICKS`] for the windows that widened. Nothing here
//! locks or waits.
//!
//! Pairing prefers close ratings: the oldest waiting player anchors a group and takes the
//! nearest ratings within its window, which starts at [`INITIAL_WINDOW`] rating points and
//! widens by [`WIDEN_PER_SECOND`] for every second of waiting (counted in ticks, so the
//! system reads no clock). The anchor is the oldest of those not yet grouped, so its window
//! is the widest of all. A formed group gets a match with default options, seated in the
//! order that balances the teams, exactly as `match.create` + `match.join` would seat them;
//! `match.start` goes out when the last seat fills (this tick's `Send`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, ID_BITS_MASK, MatchId, MatchOptions, Mode, PlayerId, PlayerRef};
use arcade_systems::sim::{self, SimConfig};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::bridge::{self, Audience, MatchIdOf, ReplyTo};
use crate::hub::ConnId;
use crate::outbox::Outbox;
use crate::protocol::ErrorCode;

/// The rating of a player who has none yet (Glicko's starting rating).
pub const DEFAULT_RATING: f64 = 1500.0;
/// Rating points apart that two players may be paired at once.
pub const INITIAL_WINDOW: f64 = 100.0;
/// How many rating points the window widens per second a player has waited.
pub const WIDEN_PER_SECOND: f64 = 50.0;
/// The most players all queues hold together; `queue.join` past it is `rate_limited`.
pub const MAX_QUEUED_PLAYERS: usize = 10_000;
/// How often (in ticks) a queue nobody joined since its last pass is searched again, for the
/// windows that widened meanwhile (a queue someone joined is searched on the next tick).
pub const REPAIR_EVERY_TICKS: u64 = 15;

/// `queue.join` from a client.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueJoin {
    pub game: Game,
    pub mode: Mode,
}

/// `queue.leave` from a client (no fields).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueLeave {}

/// What a session asks for on `queue.join`: the queue, and the player's rating in it (looked
/// up before the command is sent, see [`rating_for`]).
pub struct QueueRequest {
    pub game: Game,
    pub mode: Mode,
    pub rating: f64,
}

/// The `ack` of `queue.join` and `queue.leave`.
#[derive(Serialize)]
struct QueueReply {
    queue: String,
}

/// The name of a queue on the wire: `<game>:<mode>`, e.g. `pong:1v1`, `breakout:versus`.
pub fn queue_name(game: Game, mode: Mode) -> String {
    format!("{}:{}", game.as_str(), mode.as_str())
}

/// The player's rating for pairing in a queue of `game`: the player's Glicko-2 rating in that
/// game (pong for 1v1 and 2v2, breakout for versus), or [`DEFAULT_RATING`] when the store
/// has none or does not answer. Runs the read on the blocking pool; the tick thread never
/// touches the database.
pub async fn rating_for(state: &AppState, player: PlayerId, game: Game) -> f64 {
    state
        .blocking(move |store| store.player_stats(player))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|stats| {
            stats
                .into_iter()
                .find(|(of, _)| *of == game)
                .map(|(_, stats)| stats.rating)
        })
        .filter(|rating| rating.is_finite())
        .unwrap_or(DEFAULT_RATING)
}

/// One player waiting in a queue.
struct Waiting {
    conn: ConnId,
    player: PlayerRef,
    outbox: Arc<Outbox>,
    rating: f64,
    /// The matchmaker tick the player joined at.
    since: u64,
}

/// Every queue, owned by the tick thread.
#[derive(Resource, Default)]
pub struct Matchmaker {
    /// The players of each queue, oldest first.
    queues: HashMap<(Game, Mode), Vec<Waiting>>,
    /// Which queue a player is in (a player is in at most one).
    queued: HashMap<PlayerId, (Game, Mode)>,
    /// The queues someone joined since their last pass.
    joined: HashSet<(Game, Mode)>,
    /// Ticks run so far (measures waiting).
    tick: u64,
}

impl Matchmaker {
    /// How many players wait in `game`/`mode`'s queue.
    pub fn waiting(&self, game: Game, mode: Mode) -> usize {
        self.queues.get(&(game, mode)).map_or(0, Vec::len)
    }

    fn remove_player(&mut self, player: PlayerId) -> Option<(Game, Mode)> {
        let key = self.queued.remove(&player)?;
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|waiting| waiting.player.id != player);
        }
        Some(key)
    }
}

/// Puts the matchmaker's Resource in the World.
pub fn install(world: &mut World) {
    world.init_resource::<Matchmaker>();
}

/// Whether a player waits in a queue (then `match.create` and `match.join` as a player are
/// `conflict`).
pub fn is_queued(world: &World, player: PlayerId) -> bool {
    world
        .get_resource::<Matchmaker>()
        .is_some_and(|matchmaker| matchmaker.queued.contains_key(&player))
}

/// `queue.join`: puts the player in the queue, or answers why not.
pub fn join_queue(
    world: &mut World,
    conn: ConnId,
    player: PlayerRef,
    reply: ReplyTo,
    request: QueueRequest,
) {
    let QueueRequest { game, mode, rating } = request;
    if !mode.fits(game) {
        let message = format!("mode {} is not a mode of {}", mode.as_str(), game.as_str());
        return reply.error(ErrorCode::BadRequest, message);
    }
    if mode.player_seats().len() < 2 {
        let message = format!(
            "{} has no opponent to wait for: start it with match.create",
            mode.as_str()
        );
        return reply.error(ErrorCode::BadRequest, message);
    }
    if bridge::playing_in(world, player.id).is_some() {
        return reply.error(ErrorCode::Conflict, "already playing in a match");
    }
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return reply.error(ErrorCode::Internal, "matchmaking is not running");
    };
    if let Some(&(game, mode)) = matchmaker.queued.get(&player.id) {
        let message = format!("already in queue {}", queue_name(game, mode));
        return reply.error(ErrorCode::Conflict, message);
    }
    if matchmaker.queued.len() >= MAX_QUEUED_PLAYERS {
        return reply.error(
            ErrorCode::RateLimited,
            "the queues are full: try again later",
        );
    }
    let since = matchmaker.tick;
    matchmaker.queued.insert(player.id, (game, mode));
    matchmaker.joined.insert((game, mode));
    matchmaker
        .queues
        .entry((game, mode))
        .or_default()
        .push(Waiting {
            conn,
            player,
            outbox: reply.outbox.clone(),
            rating,
            since,
        });
    reply.ack(QueueReply {
        queue: queue_name(game, mode),
    });
}

/// `queue.leave`: takes the player out of their queue (`not_found` when in none, e.g.
/// because a match was just found).
pub fn leave_queue(world: &mut World, player: PlayerId, reply: ReplyTo) {
    let left = world
        .get_resource_mut::<Matchmaker>()
        .and_then(|mut matchmaker| matchmaker.remove_player(player));
    match left {
        Some((game, mode)) => reply.ack(QueueReply {
            queue: queue_name(game, mode),
        }),
        None => reply.error(ErrorCode::NotFound, "not in a queue"),
    }
}

/// A connection closed: whoever queued through it leaves the queue.
pub fn forget_connection(world: &mut World, conn: ConnId) {
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    let leaving: Vec<PlayerId> = matchmaker
        .queues
        .values()
        .flatten()
        .filter(|waiting| waiting.conn == conn)
        .map(|waiting| waiting.player.id)
        .collect();
    for player in leaving {
        matchmaker.remove_player(player);
    }
}

/// The rating window of a player who has waited `waited` ticks.
fn window(waited: u64, tick_rate: u32) -> f64 {
    INITIAL_WINDOW + WIDEN_PER_SECOND * waited as f64 / f64::from(tick_rate.max(1))
}

/// The groups of `size` that can play now, as indexes into `queue` (oldest first). Each
/// group is the oldest player not yet grouped plus the nearest ratings within its window.
fn form_groups(queue: &[Waiting], size: usize, now: u64, tick_rate: u32) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    if size == 0 || queue.len() < size {
        return groups;
    }
    let mut by_rating: Vec<usize> = (0..queue.len()).collect();
    by_rating.sort_by(|&a, &b| queue[a].rating.total_cmp(&queue[b].rating).then(a.cmp(&b)));
    let mut rank = vec![0; queue.len()];
    for (position, &index) in by_rating.iter().enumerate() {
        rank[index] = position;
    }
    let mut taken = vec![false; queue.len()];
    let mut free = queue.len();
    for anchor in 0..queue.len() {
        if free < size {
            break;
        }
        if taken[anchor] {
            continue;
        }
        let reach = window(now.saturating_sub(queue[anchor].since), tick_rate);
        let rating = queue[anchor].rating;
        let mut group = vec![anchor];
        // Walk outwards from the anchor in rating order, always to the nearer side.
        let (mut below, mut above) = (rank[anchor], rank[anchor] + 1);
        while group.len() < size {
            while below > 0 && taken[by_rating[below - 1]] {
                below -= 1;
            }
            while above < by_rating.len() && taken[by_rating[above]] {
                above += 1;
            }
            let lower = (below > 0).then(|| by_rating[below - 1]);
            let upper = (above < by_rating.len()).then(|| by_rating[above]);
            let distance = |index: usize| (queue[index].rating - rating).abs();
            let next = match (lower, upper) {
                (Some(l), Some(u)) if distance(u) < distance(l) => u,
                (Some(l), _) => l,
                (None, Some(u)) => u,
                (None, None) => break,
            };
            if distance(next) > reach {
                break;
            }
            if Some(next) == lower {
                below -= 1;
            } else {
                above += 1;
            }
            group.push(next);
        }
        if group.len() == size {
            for &index in &group {
                taken[index] = true;
            }
            free -= size;
            groups.push(group);
        }
    }
    groups
}

/// The order a group takes the seats of `mode` in ([`Mode::player_seats`] order). For 2v2,
/// by rating the first and fourth play `left_back`/`left_front` against the second and
/// third, so the two teams' ratings are as even as four players allow.
fn seating_order(mut group: Vec<Waiting>, mode: Mode) -> Vec<Waiting> {
    if mode == Mode::TwoVsTwo && group.len() == 4 {
        group.sort_by(|a, b| b.rating.total_cmp(&a.rating));
        group.swap(2, 3);
    }
    group
}

/// Pairs queued players into matches (runs every tick, after `bridge::receive_commands`).
pub fn match_queues(world: &mut World) {
    let tick_rate = world
        .get_resource::<SimConfig>()
        .map_or(sim::DEFAULT_TICK_RATE, |config| config.tick_rate);
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    matchmaker.tick += 1;
    let now = matchmaker.tick;
    let mut formed: Vec<(Game, Mode, Vec<Waiting>)> = Vec::new();
    let matchmaker = &mut *matchmaker;
    let joined = std::mem::take(&mut matchmaker.joined);
    let widened = now.is_multiple_of(REPAIR_EVERY_TICKS);
    for (&(game, mode), queue) in matchmaker.queues.iter_mut() {
        if !widened && !joined.contains(&(game, mode)) {
            continue;
        }
        let size = mode.player_seats().len();
        let groups = form_groups(queue, size, now, tick_rate);
        if groups.is_empty() {
            continue;
        }
        let mut slots: Vec<Option<Waiting>> = queue.drain(..).map(Some).collect();
        for group in groups {
            let members = group
                .into_iter()
                .filter_map(|index| slots[index].take())
                .collect();
            formed.push((game, mode, members));
        }
        queue.extend(slots.into_iter().flatten());
    }
    for (_, _, group) in &formed {
        for waiting in group {
            matchmaker.queued.remove(&waiting.player.id);
        }
    }
    for (game, mode, group) in formed {
        start_match(world, game, mode, seating_order(group, mode));
    }
}

/// Creates a match for a formed group and seats everyone, each connection becoming a
/// member of its audience. If someone of the group is found seated elsewhere (which the queue
/// rules prevent), that player leaves the queue and the rest go back to its front.
fn start_match(world: &mut World, game: Game, mode: Mode, group: Vec<Waiting>) {
    let seated: Vec<bool> = group
        .iter()
        .map(|waiting| bridge::playing_in(world, waiting.player.id).is_some())
        .collect();
    if seated.contains(&true) {
        let mut matchmaker = world.resource_mut::<Matchmaker>();
        let back = group.into_iter().zip(seated).filter(|(_, seated)| !seated);
        for (position, (waiting, _)) in back.enumerate() {
            matchmaker.queued.insert(waiting.player.id, (game, mode));
            let queue = matchmaker.queues.entry((game, mode)).or_default();
            queue.insert(position, waiting);
        }
        matchmaker.joined.insert((game, mode));
        return;
    }
    let options = match MatchOptions::default().resolve(game, mode) {
        Ok(options) => options,
        Err(reason) => {
            tracing::error!(%reason, "queue match options");
            return;
        }
    };
    let spec = sim::MatchSpec {
        id: MatchId(rand::random::<u64>() & ID_BITS_MASK),
        game,
        mode,
        options,
        seed: rand::random::<u64>() & ID_BITS_MASK,
        started_at_ms: crate::session::now_ms(),
    };
    let id = spec.id;
    let entity = sim::create_match(world, spec);
    world
        .entity_mut(entity)
        .insert((Audience::default(), MatchIdOf(id)));
    for waiting in group {
        match sim::join_match(world, entity, waiting.player.clone()) {
            Ok(seat) => bridge::add_member(
                world,
                entity,
                waiting.conn,
                waiting.player.id,
                Some(seat),
                waiting.outbox,
            ),
            Err(error) => tracing::error!(%error, match_id = %id, "seating a queued player"),
        }
    }
    tracing::debug!(match_id = %id, queue = %queue_name(game, mode), "queue match formed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

    fn waiting(n: u64, rating: f64, since: u64) -> Waiting {
        Waiting {
            conn: n,
            player: PlayerRef {
                id: PlayerId(n),
                name: format!("p{n}"),
            },
            outbox: Arc::new(Outbox::new(Codec::Json)),
            rating,
            since,
        }
    }

    #[test]
    fn close_ratings_pair_at_once_and_far_ones_wait_for_the_window() {
        let queue = vec![
            waiting(1, 1500.0, 0),
            waiting(2, 1900.0, 0),
            waiting(3, 1550.0, 0),
        ];
        assert_eq!(form_groups(&queue, 2, 0, 60), [vec![0, 2]]);
        let queue = vec![waiting(1, 1500.0, 0), waiting(2, 1900.0, 0)];
        assert!(
            form_groups(&queue, 2, 60, 60).is_empty(),
            "150 wide after 1 s"
        );
        // 400 apart: the window reaches it after (400 - 100) / 50 = 6 s.
        assert!(form_groups(&queue, 2, 6 * 60 - 1, 60).is_empty());
        assert_eq!(form_groups(&queue, 2, 6 * 60, 60), [vec![0, 1]]);
    }

    #[test]
    fn the_oldest_player_anchors_and_takes_the_nearest() {
        let queue = vec![
            waiting(1, 1600.0, 0),
            waiting(2, 1450.0, 50),
            waiting(3, 1620.0, 50),
            waiting(4, 1480.0, 50),
        ];
        assert_eq!(form_groups(&queue, 2, 60, 60), [vec![0, 2], vec![1, 3]]);
        assert_eq!(form_groups(&queue, 4, 60 * 3, 60), [vec![0, 2, 3, 1]]);
        assert!(form_groups(&queue[..3], 4, 600, 60).is_empty());
    }

    #[test]
    fn two_vs_two_balances_the_teams() {
        let group = vec![
            waiting(1, 1500.0, 0),
            waiting(2, 1800.0, 0),
            waiting(3, 1600.0, 0),
            waiting(4, 1700.0, 0),
        ];
        let order: Vec<u64> = seating_order(group, Mode::TwoVsTwo)
            .iter()
            .map(|w| w.player.id.0)
            .collect();
        // left_back 1800 + left_front 1500 against right_back 1700 + right_front 1600.
        assert_eq!(order, [2, 4, 1, 3]);
    }

    fn reply(outbox: &Arc<Outbox>) -> ReplyTo {
        ReplyTo {
            outbox: outbox.clone(),
            codec: Codec::Json,
            request_id: None,
        }
    }

    /// Two players queue; one tick of the system seats both in one match whose audience
    /// holds both connections, and empties the queue.
    #[test]
    fn match_queues_seats_a_pair_in_one_match() {
        let mut sim = sim::Simulation::new(SimConfig::default());
        let (_commands, inbox) = crossbeam_channel::unbounded();
        let config = bridge::BridgeConfig { snapshot_every: 1 };
        bridge::install(&mut sim.world, inbox, config);
        install(&mut sim.world);
        let world = &mut sim.world;
        let outboxes: Vec<Arc<Outbox>> =
            (0..3).map(|_| Arc::new(Outbox::new(Codec::Json))).collect();
        for (n, outbox) in outboxes.iter().enumerate().take(2) {
            let player = waiting(n as u64 + 1, 1500.0, 0).player;
            let request = QueueRequest {
                game: Game::Pong,
                mode: Mode::OneVsOne,
                rating: 1500.0,
            };
            join_queue(world, n as u64 + 1, player, reply(outbox), request);
        }
        assert!(is_queued(world, PlayerId(1)));
        assert_eq!(
            world
                .resource::<Matchmaker>()
                .waiting(Game::Pong, Mode::OneVsOne),
            2
        );
        // A third, in another game's mode, is refused.
        let request = QueueRequest {
            game: Game::Pong,
            mode: Mode::Versus,
            rating: 1500.0,
        };
        join_queue(
            world,
            3,
            waiting(3, 1500.0, 0).player,
            reply(&outboxes[2]),
            request,
        );
        assert!(!is_queued(world, PlayerId(3)));

        match_queues(world);
        assert!(!is_queued(world, PlayerId(1)) && !is_queued(world, PlayerId(2)));
        let game = bridge::playing_in(world, PlayerId(1)).expect("seated");
        assert_eq!(bridge::playing_in(world, PlayerId(2)), Some(game));
        assert_eq!(
            sim::seat_of(world, game, PlayerId(1)),
            Some(arcade_systems::model::Seat::Left)
        );
        let members = &world.get::<Audience>(game).unwrap().members;
        assert_eq!(members.len(), 2);
        assert!(members.iter().all(|member| member.seat.is_some()));
    }

    #[test]
    fn queue_names() {
        assert_eq!(queue_name(Game::Pong, Mode::OneVsOne), "pong:1v1");
        assert_eq!(queue_name(Game::Breakout, Mode::Versus), "breakout:versus");
    }
}
