//! [`send_updates`] (tick thread, last in `SimSystems::Send`): the tick's match events as
//! `match.start` / `match.event` / `match.end`, and every match's `state`, encoded once per
//! codec and shared by every member's outbox. Compact members (`?codec=compact`) get the
//! match's one delta, or its one keyframe when their chain is broken ([`CompactStreams`]).

use std::collections::HashMap;

use arcade_data::persist::CommitGates;
use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::compact::MatchStream;
use arcade_systems::components::MatchPhase;
use arcade_systems::model::{Game, MatchId, MatchOptions, Mode, Phase, PlayerId, Seat};
use arcade_systems::sim::{MatchEvent, MatchEvents};
use arcade_systems::tick::SimConfig;
use arcade_systems::view::{self, StateJson, StateReader, StateView};
use serde::Serialize;

use crate::bridge::BridgeConfig;
use crate::bridge::match_metrics::MetricsHandle;
use crate::bridge::receive::seated_players;
use crate::bridge::wake::{Delivery, WakeUps};
use crate::link::SeatedPlayer;
use crate::link::audience::{Audience, Encodings, Lobby, MatchIdOf, Members};
use crate::outbox::ConnId;
use crate::wire::arena::FrameArena;
use crate::wire::codec::{Codec, Frame, TextBytes};
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
/// indexes: its compact stream, its members' watch lists, its seats, its join code.
pub(crate) fn forget_match(world: &mut World, game: Entity, id: MatchId, audience: &Audience) {
    if let Some(mut streams) = world.get_resource_mut::<CompactStreams>() {
        streams.0.remove(&game);
    }
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

/// Each match's compact stream (its previous and current snapshot and this tick's frames),
/// kept while it has compact members. Tick thread only.
#[derive(Resource, Default)]
pub struct CompactStreams(HashMap<Entity, MatchStream>);

/// How a JSON `state` frame starts: the envelope around the match's `data` object.
const STATE_JSON_HEAD: &[u8] = b"{\"type\":\"state\",\"data\":";

/// How a MessagePack `state` frame starts: a map of 2, `"type": "state"`, then the key
/// `"data"` of the match's `data` map.
const STATE_MSGPACK_HEAD: &[u8] = b"\x82\xa4type\xa5state\xa4data";

/// What the tick's `state` frames are read and written with, kept across ticks (in the
/// `Lobby`). A match is read once a tick (`view::StateReader`) for every codec its members use.
#[derive(Default)]
pub struct StateFrames {
    /// What a state reads of the World (its queries), made by [`StateFrames::prepare`].
    reader: Option<StateReader>,
    writers: StateWriters,
    /// The matches whose member encodings a sender asked to be read again this tick.
    recount: Vec<Entity>,
}

#[derive(Default)]
struct StateWriters {
    /// Where every `state` frame ends up (JSON, MessagePack and compact).
    arena: FrameArena,
    /// The JSON writer (and its table of float texts).
    json: StateJson,
    /// A state is written here, then copied into the arena in one go (writing it in place,
    /// through `BytesMut::extend_from_slice`, costs more: see BENCHMARKS.md).
    buf: Vec<u8>,
}

impl StateFrames {
    /// Readies the reader for this tick's states: made once for `world` (its queries need the
    /// World to register what they read), then brought up to date with its archetypes.
    fn prepare(&mut self, world: &mut World) -> &StateReader {
        let reader = self.reader.get_or_insert_with(|| StateReader::new(world));
        reader.update(world);
        reader
    }
}

impl StateWriters {
    /// A match's `state` frame in `codec`: the same bytes as `codec.encode(&StateMessage ..)`
    /// (both written by hand, see `view::StateJson` and `view::write_state_msgpack`).
    fn encode(&mut self, codec: Codec, state: &StateView<'_>) -> Frame {
        self.buf.clear();
        match codec {
            Codec::Json => {
                self.buf.extend_from_slice(STATE_JSON_HEAD);
                self.json.write(state, &mut self.buf);
                self.buf.push(b'}');
                Frame::Text(TextBytes::written(self.arena.copy(&self.buf)))
            }
            Codec::Msgpack => {
                self.buf.extend_from_slice(STATE_MSGPACK_HEAD);
                view::write_state_msgpack(state, &mut self.buf);
                Frame::Binary(self.arena.copy(&self.buf))
            }
        }
    }
}

/// Hands every match's `state` of this tick to the senders (`bridge::wake`): read once, written
/// once per encoding its members read (the compact delta, and the keyframe when a member
/// needs one), with the member list as it is. No member's connection is read here.
fn send_states(world: &mut World, audiences: &mut AudienceQuery) {
    let mut frames = std::mem::take(&mut world.resource_mut::<Lobby>().frames);
    frames.prepare(world);
    let StateFrames {
        reader,
        writers,
        recount,
    } = &mut frames;
    let reader = reader.as_ref().expect("prepared");
    let mut wake_ups = std::mem::take(&mut *world.get_resource_or_init::<WakeUps>());
    let mut streams = std::mem::take(&mut world.get_resource_or_init::<CompactStreams>().0);
    let tick_rate = world.resource::<SimConfig>().tick_rate;
    for (game, audience, id, phase) in audiences.iter(world) {
        if audience.members.is_empty() || phase.is_none_or(|phase| phase.phase == Phase::Finished) {
            continue;
        }
        let asks = audience.members.take_asks();
        let encodings = if asks & Members::ASK_RECOUNT != 0 {
            recount.push(game);
            Encodings::of(&audience.members)
        } else {
            audience.encodings
        };
        let state = reader.read(world, game);
        let mut delivery = Delivery {
            match_id: id.0,
            members: audience.members.clone(),
            plain: [None, None],
            delta: None,
            keyframe: None,
        };
        for (codec, wanted) in [
            (Codec::Json, encodings.json),
            (Codec::Msgpack, encodings.msgpack),
        ] {
            if wanted {
                let state = state.as_ref().expect("a live match has a state");
                delivery.plain[codec.index()] = Some(writers.encode(codec, state));
            }
        }
        if encodings.compact {
            let stream = streams
                .entry(game)
                .or_insert_with(|| MatchStream::new(tick_rate));
            let ready = match &state {
                Ok(state) => stream.update(state).is_ok(),
                Err(_) => {
                    stream.reset();
                    false
                }
            };
            if ready {
                let arena = &mut writers.arena;
                delivery.delta = stream.delta().map(|bytes| Frame::Binary(arena.copy(bytes)));
                let wanted = asks & Members::ASK_KEYFRAME != 0 || encodings.keyframes_only;
                if wanted || delivery.delta.is_none() {
                    delivery.keyframe = Some(Frame::Binary(arena.copy(stream.keyframe())));
                }
            } else {
                // Asked again at the next snapshot the stream takes.
                audience.members.ask(asks & Members::ASK_KEYFRAME);
            }
        }
        wake_ups.deliver(delivery);
    }
    for game in recount.drain(..) {
        if let Some(mut audience) = world.get_mut::<Audience>(game) {
            audience.recount();
        }
    }
    wake_ups.flush();
    let dropped = wake_ups.take_dropped();
    *world.resource_mut::<WakeUps>() = wake_ups;
    world.resource_mut::<CompactStreams>().0 = streams;
    world.resource_mut::<Lobby>().frames = frames;
    if let Some(metrics) = world.get_resource::<MetricsHandle>() {
        metrics.0.ws_dropped_frames.inc_by(dropped);
    }
}

#[cfg(test)]
mod tests {
    use arcade_systems::model::{BotLevel, MatchOptions, PlayerRef};
    use arcade_systems::sim::{self, MatchSpec, SimConfig, Simulation};

    use serde::ser::SerializeMap;

    use super::*;

    /// The `state` message of one match, serialized straight from the World through serde:
    /// what the hand-written frames must equal.
    struct StateMessage<'w> {
        world: &'w World,
        game: Entity,
    }

    struct StateData<'w> {
        world: &'w World,
        game: Entity,
    }

    impl Serialize for StateMessage<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("type", "state")?;
            map.serialize_entry(
                "data",
                &StateData {
                    world: self.world,
                    game: self.game,
                },
            )?;
            map.end()
        }
    }

    impl Serialize for StateData<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            view::serialize_state(self.world, self.game, serializer)
        }
    }

    /// Pong and Breakout matches of bots and players, stepped into play: the frames written in
    /// the arena are the bytes the codec gives for the same message, in both codecs, every tick.
    #[test]
    fn state_frames_from_the_arena_are_the_codecs_bytes() {
        let mut sim = Simulation::new(SimConfig {
            tick_rate: 60,
            reconnect_grace_ticks: 600,
        });
        let mut games = Vec::new();
        for (n, mode) in [Mode::OneVsOne, Mode::TwoVsTwo, Mode::Versus]
            .into_iter()
            .enumerate()
        {
            let game = if mode.fits(Game::Pong) {
                Game::Pong
            } else {
                Game::Breakout
            };
            let options = MatchOptions::default().resolve(game, mode).unwrap();
            let spec = MatchSpec {
                id: MatchId(0x1234_5678 + n as u64),
                game,
                mode,
                options,
                seed: n as u64,
                started_at_ms: 0,
            };
            let entity = sim::create_match(&mut sim.world, spec);
            let player = PlayerRef {
                id: PlayerId(n as u64 + 1),
                name: "p".into(),
            };
            sim::join_match(&mut sim.world, entity, player).unwrap();
            sim::fill_with_bots(&mut sim.world, entity, BotLevel::Hard).unwrap();
            games.push(entity);
        }
        let mut frames = StateFrames::default();
        let mut buf = Vec::new();
        for _ in 0..600 {
            sim.step();
            // As `send_states` does before each tick's states.
            frames.prepare(&mut sim.world);
            let StateFrames {
                reader, writers, ..
            } = &mut frames;
            let reader = reader.as_ref().unwrap();
            for &game in &games {
                let message = StateMessage {
                    world: &sim.world,
                    game,
                };
                let state = reader.read(&sim.world, game).unwrap();
                for codec in Codec::ALL {
                    let frame = writers.encode(codec, &state);
                    assert_eq!(frame, codec.encode(&message, &mut buf));
                }
            }
        }
    }
}
