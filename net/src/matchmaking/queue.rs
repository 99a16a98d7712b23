//! The queues ([`Matchmaker`], tick thread): `queue.join`/`queue.leave` applied by the bridge,
//! and [`match_queues`], the system that seats the groups [`super::pairing`] forms.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, ID_BITS_MASK, MatchId, MatchOptions, Mode, PlayerId, PlayerRef};
use arcade_systems::sim::{self, SimConfig};
use serde::Serialize;

use super::pairing::{Seeker, form_groups, seating_order};
use crate::link::{self, Audience, MatchIdOf, QueueRequest, ReplyTo};
use crate::outbox::{ConnId, Outbox};
use crate::wire::protocol::ErrorCode;

/// The most players all queues hold together; `queue.join` past it is `rate_limited`.
pub const MAX_QUEUED_PLAYERS: usize = 10_000;

/// How often (in ticks) a queue nobody joined since its last pass is searched again, for the
/// windows that widened meanwhile (a queue someone joined is searched on the next tick).
pub const REPAIR_EVERY_TICKS: u64 = 15;

/// The `ack` of `queue.join` and `queue.leave`.
#[derive(Serialize)]
struct QueueReply {
    queue: String,
}

/// The name of a queue on the wire: `<game>:<mode>`, e.g. `pong:1v1`, `breakout:versus`.
pub fn queue_name(game: Game, mode: Mode) -> String {
    format!("{}:{}", game.as_str(), mode.as_str())
}

/// One player waiting in a queue.
pub(super) struct Waiting {
    pub(super) conn: ConnId,
    pub(super) player: PlayerRef,
    pub(super) outbox: Arc<Outbox>,
    /// Its rating and when it joined, for [`form_groups`].
    pub(super) seeker: Seeker,
}

/// Every queue, owned by the tick thread.
#[derive(Resource, Default)]
pub struct Matchmaker {
    /// The players of each queue, oldest first.
    queues: HashMap<(Game, Mode), Vec<Waiting>>,
    /// Which queue a player is in (a player is in at most one).
    pub(super) queued: HashMap<PlayerId, (Game, Mode)>,
    /// The queues someone joined since their last pass.
    joined: HashSet<(Game, Mode)>,
    /// Ticks run so far (measures waiting).
    pub(super) tick: u64,
    /// In a cluster (`--redis`): the queues are the cluster's, in Redis ([`super::shared`]);
    /// `queues` stays empty and this instance's part of them is kept here.
    pub(super) shared: Option<super::shared::Shared>,
}

impl Matchmaker {
    /// How many players wait in `game`/`mode`'s queue.
    pub fn waiting(&self, game: Game, mode: Mode) -> usize {
        self.queues.get(&(game, mode)).map_or(0, Vec::len)
    }

    pub(super) fn remove_player(&mut self, player: PlayerId) -> Option<(Game, Mode)> {
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
    if link::playing_in(world, player.id).is_some() {
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
    if matchmaker.shared.is_some() {
        return super::shared::join(&mut matchmaker, conn, player, reply, game, mode, rating);
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
            seeker: Seeker { rating, since },
        });
    reply.ack(QueueReply {
        queue: queue_name(game, mode),
    });
}

/// `queue.leave`: takes the player out of their queue (`not_found` when in none, e.g.
/// because a match was just found).
pub fn leave_queue(world: &mut World, player: PlayerId, reply: ReplyTo) {
    let shared = world
        .get_resource::<Matchmaker>()
        .is_some_and(|matchmaker| matchmaker.shared.is_some());
    if shared {
        return super::shared::leave(&mut world.resource_mut::<Matchmaker>(), player, reply);
    }
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
    if matchmaker.shared.is_some() {
        return super::shared::forget_connection(&mut matchmaker, conn);
    }
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

/// Pairs queued players into matches (runs every tick, after `bridge::receive_commands`).
pub fn match_queues(world: &mut World) {
    let tick_rate = world
        .get_resource::<SimConfig>()
        .map_or(sim::DEFAULT_TICK_RATE, |config| config.tick_rate);
    let Some(mut matchmaker) = world.get_resource_mut::<Matchmaker>() else {
        return;
    };
    matchmaker.tick += 1;
    if matchmaker.shared.is_some() {
        return super::shared::expire(world, tick_rate);
    }
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
        let seekers: Vec<Seeker> = queue.iter().map(|waiting| waiting.seeker).collect();
        let groups = form_groups(&seekers, size, now, tick_rate);
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
        let ratings: Vec<f64> = group.iter().map(|waiting| waiting.seeker.rating).collect();
        let mut slots: Vec<Option<Waiting>> = group.into_iter().map(Some).collect();
        let seated = seating_order(&ratings, mode)
            .into_iter()
            .filter_map(|index| slots[index].take())
            .collect();
        let id = MatchId(rand::random::<u64>() & ID_BITS_MASK);
        start_match(world, id, game, mode, seated);
    }
}

/// Creates a match for a formed group and seats everyone, each connection becoming a
/// member of its audience. If someone of the group is found seated elsewhere (which the queue
/// rules prevent), that player leaves the queue and the rest go back to its front.
pub(super) fn start_match(
    world: &mut World,
    id: MatchId,
    game: Game,
    mode: Mode,
    group: Vec<Waiting>,
) {
    let seated: Vec<bool> = group
        .iter()
        .map(|waiting| link::playing_in(world, waiting.player.id).is_some())
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
        id,
        game,
        mode,
        options,
        seed: rand::random::<u64>() & ID_BITS_MASK,
        started_at_ms: crate::clock::now_ms(),
    };
    let entity = sim::create_match(world, spec);
    world
        .entity_mut(entity)
        .insert((Audience::default(), MatchIdOf(id)));
    for waiting in group {
        match sim::join_match(world, entity, waiting.player.clone()) {
            Ok(seat) => link::add_member(
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
    use crate::wire::codec::Codec;

    fn player(n: u64) -> PlayerRef {
        PlayerRef {
            id: PlayerId(n),
            name: format!("p{n}"),
        }
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
        let world = &mut sim.world;
        world.init_resource::<link::Lobby>();
        install(world);
        let outboxes: Vec<Arc<Outbox>> =
            (0..3).map(|_| Arc::new(Outbox::new(Codec::Json))).collect();
        for (n, outbox) in outboxes.iter().enumerate().take(2) {
            let player = player(n as u64 + 1);
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
        join_queue(world, 3, player(3), reply(&outboxes[2]), request);
        assert!(!is_queued(world, PlayerId(3)));

        match_queues(world);
        assert!(!is_queued(world, PlayerId(1)) && !is_queued(world, PlayerId(2)));
        let game = link::playing_in(world, PlayerId(1)).expect("seated");
        assert_eq!(link::playing_in(world, PlayerId(2)), Some(game));
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
