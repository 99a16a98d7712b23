//! The tick-thread side of tournaments: the jobs that create a tournament match and seat its
//! two players (or make one leave), and [`forward_tournament_results`], the system that hands
//! every ended tournament match to the runner through an unbounded channel (never waits).

use std::collections::HashSet;
use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{
    EndReason, Game, MatchId, MatchOptions, Mode, PlayerId, PlayerRef, PlayerResult,
};
use arcade_systems::sim::{self, SimSystems, Simulation};
use arcade_systems::tick::{MatchEvent, MatchEvents};
use tokio::sync::mpsc;

use crate::link::{Audience, MatchIdOf, TickJob, add_member};
use crate::outbox::{ConnId, Outbox};

/// A tournament match that ended, as the runner needs it.
#[derive(Clone, Debug)]
pub struct EndedMatch {
    pub id: MatchId,
    pub reason: EndReason,
    /// Every seated player: id, score, result.
    pub players: Vec<(PlayerId, u32, PlayerResult)>,
}

/// The tournament matches live on this thread, and where their ends go.
#[derive(Resource)]
pub struct TournamentLink {
    /// Live tournament matches.
    matches: HashSet<MatchId>,
    /// To the runner.
    ended: mpsc::UnboundedSender<EndedMatch>,
    /// The server is stopping: matches aborted now are replayed after the restart, not
    /// counted as double forfeits.
    stopping: bool,
}

/// Puts the link in the World and [`forward_tournament_results`] in `SimSystems::Send`;
/// returns the runner's end of the channel.
pub fn install(sim: &mut Simulation) -> mpsc::UnboundedReceiver<EndedMatch> {
    let (ended, receiver) = mpsc::unbounded_channel();
    sim.world.insert_resource(TournamentLink {
        matches: HashSet::new(),
        ended,
        stopping: false,
    });
    sim.schedule
        .add_systems(forward_tournament_results.in_set(SimSystems::Send));
    receiver
}

/// The server stops (`bridge::abort_all`): aborted tournament matches are not reported.
pub fn stopping(world: &mut World) {
    if let Some(mut link) = world.get_resource_mut::<TournamentLink>() {
        link.stopping = true;
    }
}

/// Whether `id` is a live tournament match (the runner replays those after a restart: they
/// are not kept with `--keep-live-matches`).
pub fn is_tournament_match(world: &World, id: MatchId) -> bool {
    world
        .get_resource::<TournamentLink>()
        .is_some_and(|link| link.matches.contains(&id))
}

/// Sends each tournament match that ended this tick to the runner.
pub fn forward_tournament_results(events: Res<MatchEvents>, mut link: ResMut<TournamentLink>) {
    if link.matches.is_empty() {
        return;
    }
    for (_, id, _, event) in &events.list {
        let MatchEvent::Ended(record) = event else {
            continue;
        };
        if !link.matches.remove(id) {
            continue;
        }
        if link.stopping && record.reason == EndReason::Aborted {
            continue;
        }
        let ended = EndedMatch {
            id: *id,
            reason: record.reason,
            players: record
                .players
                .iter()
                .map(|p| (p.id, p.score, p.result))
                .collect(),
        };
        // The runner is gone only when the server stops.
        let _ = link.ended.send(ended);
    }
}

/// A player of a tournament match and the connections to seat.
pub struct Seating {
    pub player: PlayerRef,
    pub conns: Vec<(ConnId, Arc<Outbox>)>,
}

/// What a tournament match is created with.
pub struct TournamentMatchSpec {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    pub options: MatchOptions,
    pub seed: u64,
    pub started_at_ms: i64,
}

/// The job that creates a tournament match and seats both players: each connection of a
/// player joins the match's audience; a player with none is absent from the first tick on
/// (the reconnect grace runs, then the absent player forfeits).
pub fn start_match_job(spec: TournamentMatchSpec, seats: Vec<Seating>) -> TickJob {
    Box::new(move |world: &mut World| {
        let id = spec.id;
        let entity = sim::create_match(
            world,
            sim::MatchSpec {
                id,
                game: spec.game,
                mode: spec.mode,
                options: spec.options,
                seed: spec.seed,
                started_at_ms: spec.started_at_ms,
            },
        );
        world
            .entity_mut(entity)
            .insert((Audience::default(), MatchIdOf(id)));
        if let Some(mut link) = world.get_resource_mut::<TournamentLink>() {
            link.matches.insert(id);
        }
        let mut seated = Vec::with_capacity(seats.len());
        for seating in seats {
            match sim::join_match(world, entity, seating.player.clone()) {
                Ok(seat) => seated.push((seat, seating)),
                Err(error) => {
                    tracing::error!(%error, match_id = %id, "seating a tournament player")
                }
            }
        }
        for (seat, seating) in seated {
            let player = seating.player.id;
            if seating.conns.is_empty() {
                let mut lobby = world.resource_mut::<crate::link::Lobby>();
                let games = lobby.seats_of.entry(player).or_default();
                if !games.contains(&entity) {
                    games.push(entity);
                }
                sim::player_dropped(world, entity, player);
            }
            for (conn, outbox) in seating.conns {
                add_member(world, entity, conn, player, Some(seat), outbox);
            }
        }
    })
}

/// The job that makes a player leave a tournament match (they left the tournament).
pub fn leave_match_job(id: MatchId, player: PlayerId) -> TickJob {
    Box::new(move |world: &mut World| {
        if let Some(entity) = sim::find_match(world, id) {
            sim::leave_match(world, entity, player);
        }
    })
}
