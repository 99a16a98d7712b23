//! [`send_updates`] (tick thread, last in `SimSystems::Send`): the tick's match events as
//! `match.start` / `match.event` / `match.end`, and every match's `state`: read once and handed
//! with its member list to a sender (`bridge::wake`), which writes it once per encoding its
//! members read (`bridge::encode`) and shares it among them.

use arcade_data::persist::CommitGates;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::components::MatchPhase;
use arcade_systems::model::{Game, MatchId, MatchOptions, Mode, Phase, PlayerId, Seat};
use arcade_systems::sim::{MatchEvent, MatchEvents};
use arcade_systems::tick::SimConfig;
use arcade_systems::view::{self, StateReader};
use serde::Serialize;

use crate::bridge::BridgeConfig;
use crate::bridge::match_metrics::MetricsHandle;
use crate::bridge::receive::seated_players;
use crate::bridge::wake::{Delivery, WakeUps};
use crate::link::SeatedPlayer;
use crate::link::audience::{Audience, Lobby, MatchIdOf};
use crate::outbox::ConnId;
use crate::wire::codec::Frame;
use crate::wire::protocol::Envelope;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchStart<'a> {
    match_id: MatchId,
    game: Game,
    mode: Mode,
    options: &'a MatchOptions,
    seat: Option<Seat>,
    players: &'a [SeatedPlayer],
    tick: u64,
}

/// Sends `match.start` to one connection (`only`) or to every member.
pub(crate) fn send_match_start(world: &World, game: Entity, id: MatchId, only: Option<ConnId>) {
    let (Some(summary), Some(audience)) = (
        view::match_summary(world, game),
        world.get::<Audience>(game),
    ) else {
        return;
    };
    let players = seated_players(&summary);
    for member in &audience.members {
        if only.is_some_and(|conn| conn != member.conn) {
            continue;
        }
        let start = MatchStart {
            match_id: id,
            game: summary.game,
            mode: summary.mode,
            options: &summary.options,
            seat: member.seat,
            players: &players,
            tick: summary.tick,
        };
        let codec = member.outbox.codec();
        member
            .outbox
            .push(codec.encode_once(&Envelope::event("match.start", start)));
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchEventData<'a> {
    match_id: MatchId,
    tick: u64,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seat: Option<Seat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<EventScore<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    player: Option<PlayerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lives: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<u32>,
}

/// A `match.event` score: both sides' in pong, one field's in breakout.
#[derive(Serialize)]
#[serde(untagged)]
enum EventScore<'a> {
    Sides(&'a [u32]),
    Field(u32),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchEnd {
    match_id: MatchId,
    reason: &'static str,
    players: Vec<EndPlayer>,
    ticks: u64,
}

#[derive(Serialize)]
struct EndPlayer {
    id: PlayerId,
    seat: Seat,
    score: u32,
    result: arcade_systems::model::PlayerResult,
}

/// Sends one message to every member of a match, encoded once per codec.
fn announce<T: Serialize>(audience: &Audience, message: &T) {
    let mut encoded: [Option<Frame>; 2] = [None, None];
    for member in &audience.members {
        let codec = member.outbox.codec();
        let frame = encoded[codec.index()].get_or_insert_with(|| codec.encode_once(message));
        member.outbox.push(frame.clone());
    }
}

/// Announces this tick's match events and sends every match's state (runs last in a tick).
/// The matches that have an audience, with their ids: cached across ticks.
/// With each match's phase in the same query (no `World::get` per match).
type AudienceQuery = QueryState<(
    Entity,
    &'static Audience,
    &'static MatchIdOf,
    Option<&'static MatchPhase>,
)>;

pub fn send_updates(world: &mut World, mut audiences: Local<AudienceQuery>) {
    world.resource_scope(|world, events: Mut<MatchEvents>| {
        for (game, id, tick, event) in &events.list {
            announce_event(world, *game, *id, *tick, event);
        }
    });
    let ticks = {
        let mut lobby = world.resource_mut::<Lobby>();
        lobby.ticks += 1;
        lobby.ticks
    };
    let every = world.resource::<BridgeConfig>().snapshot_every.max(1);
    if ticks.is_multiple_of(every) {
        send_states(world, &mut audiences);
    }
}

fn announce_event(world: &mut World, game: Entity, id: MatchId, tick: u64, event: &MatchEvent) {
    let kind = match event {
        MatchEvent::Started => return send_match_start(world, game, id, None),
        MatchEvent::Ended(record) => {
            let end = MatchEnd {
                match_id: id,
                reason: record.reason.as_str(),
                players: record
                    .players
                    .iter()
                    .map(|p| EndPlayer {
                        id: p.id,
                        seat: p.seat,
                        score: p.score,
                        result: p.result,
                    })
                    .collect(),
                ticks: record.ticks,
            };
            return finish(world, game, id, &Envelope::event("match.end", end));
        }
        MatchEvent::Discarded => {
            let end = MatchEnd {
                match_id: id,
                reason: "aborted",
                players: Vec::new(),
                ticks: tick,
            };
            return finish(world, game, id, &Envelope::event("match.end", end));
        }
        MatchEvent::Point { .. } => "point",
        MatchEvent::Paused { .. } => "paused",
        MatchEvent::Resumed => "resumed",
        MatchEvent::PlayerLeft { .. } => "player_left",
        MatchEvent::PlayerBack { .. } => "player_back",
        MatchEvent::Brick { .. } => "brick",
        MatchEvent::LifeLost { .. } => "life_lost",
        MatchEvent::Level { .. } => "level",
    };
    let mut data = MatchEventData {
        match_id: id,
        tick,
        kind,
        seat: None,
        score: None,
        player: None,
        row: None,
        column: None,
        lives: None,
        level: None,
    };
    match event {
        MatchEvent::Point { scorer, score } => {
            data.seat = Some(*scorer);
            data.score = Some(EventScore::Sides(&score[..]));
        }
        MatchEvent::Paused { player }
        | MatchEvent::PlayerLeft { player }
        | MatchEvent::PlayerBack { player } => data.player = Some(*player),
        MatchEvent::Brick {
            seat,
            row,
            column,
            score,
        } => {
            data.seat = Some(*seat);
            data.row = Some(*row);
            data.column = Some(*column);
            data.score = Some(EventScore::Field(*score));
        }
        MatchEvent::LifeLost { seat, lives } => {
            data.seat = Some(*seat);
            data.lives = Some(*lives);
        }
        MatchEvent::Level { seat, level } => {
            data.seat = Some(*seat);
            data.level = Some(*level);
        }
        _ => {}
    }

    if let Some(audience) = world.get::<Audience>(game) {
        announce(audience, &Envelope::event("match.event", data));
    }
}

/// Sends `match.end` to every member (dropping their unsent state of this match) and forgets
/// the match in the bridge's indexes. A match whose record was queued this tick has a gate
/// ([`CommitGates`]): its `match.end` is staged behind it and pushed by the writer thread
/// once the record is committed, so a client never hears of an end that a crash could lose.
/// The tick thread does not wait; nothing of the match follows (its audience is gone).
fn finish<T: Serialize>(world: &mut World, game: Entity, id: MatchId, message: &T) {
    let gate = world
        .get_resource_mut::<CommitGates>()
        .and_then(|mut gates| gates.take(id));
    let Some(audience) = world.entity_mut(game).take::<Audience>() else {
        return;
    };
    // Before the `match.end` is pushed: a sender holding this tick's member list stages no
    // `state` after it.
    audience.members.dismiss();
    let mut encoded: [Option<Frame>; 2] = [None, None];
    let mut held = Vec::new();
    for member in audience.members.iter().chain(&audience.leavers) {
        let codec = member.outbox.codec();
        let frame = encoded[codec.index()].get_or_insert_with(|| codec.encode_once(message));
        if gate.is_some() {
            held.push((member.outbox.clone(), frame.clone()));
        } else {
            member.outbox.push_final(id, frame.clone());
        }
    }
    if let Some(gate) = gate {
        // Sent whether or not the commit succeeded (a lost record is logged and counted):
        // the clients must learn that the match is over.
        gate.then(move |_committed| {
            for (outbox, frame) in held {
                outbox.push_final(id, frame);
            }
        });
    }
    forget_match(world, game, id, &audience);
}

/// Drops a match that is going (ended, or handed over with a checkpoint) from the bridge's
/// indexes: its members' watch lists, its seats, its join code.
pub(crate) fn forget_match(world: &mut World, game: Entity, id: MatchId, audience: &Audience) {
    let mut lobby = world.resource_mut::<Lobby>();
    for member in &audience.members {
        if let Some(watching) = lobby.watching.get_mut(&member.conn) {
            watching.retain(|&watched| watched != game);
        }
    }
    lobby.seats_of.retain(|_, games| {
        games.retain(|&held| held != game);
        !games.is_empty()
    });
    if let Some(code) = lobby.code_of.remove(&id) {
        lobby.join_codes.remove(&code);
    }
}

/// What the tick's `state`s are read with (its queries over the World, made once and brought
/// up to date with the World's archetypes each tick), kept in the `Lobby`.
#[derive(Default)]
pub struct StateReading(Option<StateReader>);

impl StateReading {
    /// Readies the reader for this tick's states: made once for `world` (its queries need the
    /// World to register what they read), then brought up to date with its archetypes.
    fn prepare(&mut self, world: &mut World) -> &StateReader {
        let reader = self.0.get_or_insert_with(|| StateReader::new(world));
        reader.update(world);
        reader
    }
}

/// Hands every match's `state` of this tick to the senders (`bridge::wake`): each match read
/// once (a copy of its components), with the member list as it is. No frame is written and no
/// member's connection is read here: the senders write each frame once (`bridge::encode`).
fn send_states(world: &mut World, audiences: &mut AudienceQuery) {
    let mut reading = std::mem::take(&mut world.resource_mut::<Lobby>().reading);
    let reader = reading.prepare(world);
    world.get_resource_or_init::<WakeUps>();
    // Lent out of the World for the walk, not swapped for a default: a new `WakeUps` builds
    // an encoder (a 12 KiB table), every tick.
    let dropped = world.resource_scope(|world, mut wake_ups: Mut<WakeUps>| {
        let tick_rate = world.resource::<SimConfig>().tick_rate;
        for (game, audience, id, phase) in audiences.iter(world) {
            if audience.members.is_empty()
                || phase.is_none_or(|phase| phase.phase == Phase::Finished)
            {
                continue;
            }
            // A match that cannot be read sends nothing this tick: its compact members' chains
            // still hold, and the next delta starts from the last snapshot sent.
            let Ok(state) = reader.read(world, game) else {
                continue;
            };
            wake_ups.deliver(Delivery {
                match_id: id.0,
                members: audience.members.clone(),
                state,
            });
        }
        wake_ups.flush(tick_rate);
        wake_ups.take_dropped()
    });
    world.resource_mut::<Lobby>().reading = reading;
    if let Some(metrics) = world.get_resource::<MetricsHandle>() {
        metrics.0.ws_dropped_frames.inc_by(dropped);
    }
}
