//! The frame↔component bridge: the part of the network layer that runs on the tick thread.
//!
//! Sessions send [`Command`]s through a channel; [`receive_commands`] (in `SimSystems::Receive`)
//! drains it at the start of each tick and applies each to the World, replying through the
//! connection's [`Outbox`]. [`send_updates`] (in `SimSystems::Send`) announces the tick's match
//! events and encodes each match's `state` once per codec, sharing the bytes with every
//! subscriber. Nothing here waits: channels are drained with `try_iter` and outboxes never
//! block.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{
    Game, ID_BITS_MASK, MatchId, MatchOptions, Mode, Phase, PlayerId, PlayerRef, Seat,
};
use arcade_systems::sim::{self, InputError, InputFrame, JoinError, MatchEvent, MatchEvents};
use arcade_systems::view::{self, MatchSummary};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::codec::{Codec, Frame, RequestId};
use crate::hub::ConnId;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::protocol::{self, Envelope, ErrorCode, Input, JoinAs, MatchCreate, MatchJoin};

/// What a session asks of the tick thread.
pub enum Command {
    /// A connection opened: it is re-attached to the matches its player holds a seat in.
    Connected {
        conn: ConnId,
        player: PlayerRef,
        outbox: Arc<Outbox>,
    },
    /// A connection closed: its player's seats start their reconnect grace.
    Disconnected { conn: ConnId, player: PlayerId },
    /// A match request from a connection, answered through `reply`.
    Match {
        conn: ConnId,
        player: PlayerRef,
        reply: ReplyTo,
        op: MatchOp,
    },
    /// A player's input (kept apart from `Match` so the hot path carries no name).
    Input {
        player: PlayerId,
        reply: ReplyTo,
        input: Input,
    },
    /// The live matches, for REST.
    ListLive {
        game: Option<Game>,
        reply: tokio::sync::oneshot::Sender<Vec<LiveMatch>>,
    },
    /// Match chat, invitations and presence (`crate::social`).
    Social(crate::social::SocialOp),
}

pub enum MatchOp {
    Create(MatchCreate),
    Join(MatchJoin),
    Leave(MatchId),
    List(Option<Game>),
    /// `queue.join` (`crate::matchmaking`).
    QueueJoin(crate::matchmaking::QueueRequest),
    /// `queue.leave`.
    QueueLeave,
}

/// Where the answer to one request goes: the connection, in the request's own encoding.
pub struct ReplyTo {
    pub outbox: Arc<Outbox>,
    pub codec: Codec,
    pub request_id: Option<RequestId>,
}

impl ReplyTo {
    pub fn ack<T: Serialize>(&self, data: T) {
        let envelope = Envelope::reply("ack", data, self.request_id.as_ref());
        self.outbox.push(self.codec.encode_once(&envelope));
    }

    /// An `ack` without data.
    pub fn ack_bare(&self) {
        let envelope = protocol::bare_ack(self.request_id.as_ref());
        self.outbox.push(self.codec.encode_once(&envelope));
    }

    pub fn error(&self, code: ErrorCode, message: impl Into<String>) {
        let envelope = protocol::error(code, message, self.request_id.as_ref());
        self.outbox.push(self.codec.encode_once(&envelope));
    }
}

/// The inbound end of the command channel.
#[derive(Resource)]
pub struct Inbox(pub crossbeam_channel::Receiver<Command>);

/// Network settings the bridge needs.
#[derive(Resource, Clone, Copy)]
pub struct BridgeConfig {
    /// Send `state` every N ticks.
    pub snapshot_every: u64,
}

/// Who receives a match's frames.
#[derive(Component, Default)]
pub struct Audience {
    pub members: Vec<Member>,
}

pub struct Member {
    pub conn: ConnId,
    pub player: PlayerId,
    /// None for a spectator.
    pub seat: Option<Seat>,
    pub outbox: Arc<Outbox>,
}

impl Audience {
    pub fn spectators(&self) -> usize {
        self.members
            .iter()
            .filter(|member| member.seat.is_none())
            .count()
    }
}

/// The bridge's own indexes over live matches.
#[derive(Resource, Default)]
pub struct Lobby {
    join_codes: HashMap<String, MatchId>,
    code_of: HashMap<MatchId, String>,
    /// The live matches a player holds a seat in.
    seats_of: HashMap<PlayerId, Vec<Entity>>,
    /// The live matches a connection plays or watches.
    watching: HashMap<ConnId, Vec<Entity>>,
    /// Server ticks run so far (paces snapshots).
    ticks: u64,
    /// Reused by every state encoding.
    buf: Vec<u8>,
}

/// Creates the resources the bridge systems use.
pub fn install(
    world: &mut World,
    inbox: crossbeam_channel::Receiver<Command>,
    config: BridgeConfig,
) {
    world.insert_resource(Inbox(inbox));
    world.insert_resource(config);
    world.init_resource::<Lobby>();
}

/// Drains the command channel into the World (runs first in every tick).
pub fn receive_commands(world: &mut World) {
    let inbox = world.resource::<Inbox>().0.clone();
    for command in inbox.try_iter() {
        match command {
            Command::Connected {
                conn,
                player,
                outbox,
            } => {
                crate::social::connected(world, &player);
                reattach(world, conn, player, outbox);
            }
            Command::Disconnected { conn, player } => {
                crate::matchmaking::forget_connection(world, conn);
                crate::social::disconnected(world, player);
                detach(world, conn, player);
            }
            Command::Match {
                conn,
                player,
                reply,
                op,
            } => match op {
                // A queued player neither creates nor takes a seat (`crate::matchmaking`).
                MatchOp::Create(_)
                | MatchOp::Join(MatchJoin {
                    join_as: JoinAs::Player,
                    ..
                }) if crate::matchmaking::is_queued(world, player.id) => {
                    reply.error(ErrorCode::Conflict, "waiting in a queue: queue.leave first");
                }
                MatchOp::QueueJoin(request) => {
                    crate::matchmaking::join_queue(world, conn, player, reply, request);
                }
                MatchOp::QueueLeave => crate::matchmaking::leave_queue(world, player.id, reply),
                MatchOp::Create(create) => create_match(world, conn, player, reply, create),
                MatchOp::Join(join) => join_match(world, conn, player, reply, join),
                MatchOp::Leave(id) => leave_match(world, conn, player.id, reply, id),
                MatchOp::List(game) => {
                    let matches = live_matches(world, game);
                    reply.ack(ListReply { matches });
                }
            },
            Command::Input {
                player,
                reply,
                input,
            } => apply_input(world, player, reply, input),
            Command::ListLive { game, reply } => {
                let _ = reply.send(live_matches(world, game));
            }
            Command::Social(op) => crate::social::apply(world, op),
        }
    }
}

/// Ends every live match as `aborted` (shutdown); their `match.end` goes out on the next tick.
pub fn abort_all(world: &mut World) {
    let live: Vec<Entity> = world
        .query_filtered::<Entity, With<Audience>>()
        .iter(world)
        .collect();
    for game in live {
        sim::abort_match(world, game);
    }
}

#[derive(Serialize)]
struct ListReply {
    matches: Vec<LiveMatch>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateReply {
    match_id: MatchId,
    #[serde(skip_serializing_if = "Option::is_none")]
    join_code: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinReply {
    match_id: MatchId,
    seat: Option<Seat>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Letters of a join code: no look-alikes (0/O, 1/I).
const JOIN_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const JOIN_CODE_LENGTH: usize = 6;

fn new_join_code() -> String {
    (0..JOIN_CODE_LENGTH)
        .map(|_| JOIN_CODE_ALPHABET[rand::random_range(0..JOIN_CODE_ALPHABET.len())] as char)
        .collect()
}

/// The live match a player holds a seat in, other than a finished one.
pub(crate) fn playing_in(world: &World, player: PlayerId) -> Option<Entity> {
    let lobby = world.resource::<Lobby>();
    lobby
        .seats_of
        .get(&player)
        .and_then(|games| games.first().copied())
}

fn create_match(
    world: &mut World,
    conn: ConnId,
    player: PlayerRef,
    reply: ReplyTo,
    create: MatchCreate,
) {
    if let Some(game) = playing_in(world, player.id) {
        let id = world.get::<MatchIdOf>(game).map(|id| id.0);
        let busy = id.map(|id| id.to_string()).unwrap_or_default();
        return reply.error(ErrorCode::Conflict, format!("already playing in {busy}"));
    }
    let options = match create
        .options
        .unwrap_or_default()
        .resolve(create.game, create.mode)
    {
        Ok(options) => options,
        Err(reason) => return reply.error(ErrorCode::BadRequest, reason),
    };
    let private = options.private;
    let spec = sim::MatchSpec {
        id: MatchId(rand::random::<u64>() & ID_BITS_MASK),
        game: create.game,
        mode: create.mode,
        options,
        seed: rand::random::<u64>() & ID_BITS_MASK,
        started_at_ms: now_ms(),
    };
    let id = spec.id;
    let game = sim::create_match(world, spec);
    world
        .entity_mut(game)
        .insert((Audience::default(), MatchIdOf(id)));
    let join_code = private.then(|| {
        let mut lobby = world.resource_mut::<Lobby>();
        let code = loop {
            let code = new_join_code();
            if !lobby.join_codes.contains_key(&code) {
                break code;
            }
        };
        lobby.join_codes.insert(code.clone(), id);
        lobby.code_of.insert(id, code.clone());
        code
    });
    match sim::join_match(world, game, player.clone()) {
        Ok(seat) => {
            add_member(
                world,
                game,
                conn,
                player.id,
                Some(seat),
                reply.outbox.clone(),
            );
            reply.ack(CreateReply {
                match_id: id,
                join_code,
            });
        }
        Err(error) => {
            sim::leave_match(world, game, player.id);
            reply.error(
                ErrorCode::Internal,
                format!("could not seat the creator: {error:?}"),
            );
        }
    }
}

/// The id of a match entity, kept by the bridge for lookups in its own indexes.
#[derive(Component, Clone, Copy)]
pub struct MatchIdOf(pub MatchId);

pub(crate) fn add_member(
    world: &mut World,
    game: Entity,
    conn: ConnId,
    player: PlayerId,
    seat: Option<Seat>,
    outbox: Arc<Outbox>,
) {
    if let Some(mut audience) = world.get_mut::<Audience>(game) {
        audience.members.retain(|member| member.conn != conn);
        audience.members.push(Member {
            conn,
            player,
            seat,
            outbox,
        });
    }
    let mut lobby = world.resource_mut::<Lobby>();
    let watching = lobby.watching.entry(conn).or_default();
    if !watching.contains(&game) {
        watching.push(game);
    }
    if seat.is_some() {
        let seats = lobby.seats_of.entry(player).or_default();
        if !seats.contains(&game) {
            seats.push(game);
        }
    }
}

fn remove_member(world: &mut World, game: Entity, conn: ConnId) -> Option<Member> {
    let mut audience = world.get_mut::<Audience>(game)?;
    let index = audience
        .members
        .iter()
        .position(|member| member.conn == conn)?;
    let member = audience.members.swap_remove(index);
    let mut lobby = world.resource_mut::<Lobby>();
    if let Some(watching) = lobby.watching.get_mut(&conn) {
        watching.retain(|&watched| watched != game);
        if watching.is_empty() {
            lobby.watching.remove(&conn);
        }
    }
    Some(member)
}

fn join_match(world: &mut World, conn: ConnId, player: PlayerRef, reply: ReplyTo, join: MatchJoin) {
    let id = match (join.match_id, join.join_code.as_deref()) {
        (Some(id), None) => id,
        (None, Some(code)) => {
            let code = code.trim().to_ascii_uppercase();
            match world.resource::<Lobby>().join_codes.get(&code) {
                Some(&id) => id,
                None => {
                    return reply.error(ErrorCode::NotFound, format!("no match with code {code}"));
                }
            }
        }
        _ => return reply.error(ErrorCode::BadRequest, "give either matchId or joinCode"),
    };
    let Some(game) =
        sim::find_match(world, id).filter(|&game| world.get::<Audience>(game).is_some())
    else {
        return reply.error(ErrorCode::NotFound, format!("no match {id}"));
    };
    let seat = match join.join_as {
        JoinAs::Spectator => {
            if sim::seat_of(world, game, player.id).is_some() {
                return reply.error(
                    ErrorCode::Conflict,
                    "a player of this match cannot watch it",
                );
            }
            None
        }
        JoinAs::Player => match sim::seat_of(world, game, player.id) {
            Some(seat) => {
                // Rejoining a seat held from an earlier connection.
                sim::player_returned(world, game, player.id);
                Some(seat)
            }
            None => {
                if playing_in(world, player.id).is_some() {
                    return reply.error(ErrorCode::Conflict, "already playing in another match");
                }
                match sim::join_match(world, game, player.clone()) {
                    Ok(seat) => Some(seat),
                    Err(JoinError::NoFreeSeat) => {
                        return reply.error(ErrorCode::Conflict, format!("no free seat in {id}"));
                    }
                    Err(JoinError::AlreadySeated) => sim::seat_of(world, game, player.id),
                    Err(JoinError::NotJoinable) => {
                        return reply.error(ErrorCode::NotFound, format!("match {id} has ended"));
                    }
                }
            }
        },
    };
    add_member(world, game, conn, player.id, seat, reply.outbox.clone());
    reply.ack(JoinReply { match_id: id, seat });
    if view::match_phase(world, game).is_some_and(|phase| phase != Phase::Waiting) {
        send_match_start(world, game, id, Some(conn));
    }
}

fn leave_match(world: &mut World, conn: ConnId, player: PlayerId, reply: ReplyTo, id: MatchId) {
    let Some(game) = sim::find_match(world, id) else {
        return reply.error(ErrorCode::NotFound, format!("no match {id}"));
    };
    let seated = sim::seat_of(world, game, player).is_some();
    let member = remove_member(world, game, conn);
    if !seated && member.is_none() {
        return reply.error(ErrorCode::NotFound, format!("not in match {id}"));
    }
    if seated {
        // Every connection of the player leaves with the seat.
        if let Some(mut audience) = world.get_mut::<Audience>(game) {
            audience.members.retain(|member| member.player != player);
        }
        let mut lobby = world.resource_mut::<Lobby>();
        if let Some(seats) = lobby.seats_of.get_mut(&player) {
            seats.retain(|&held| held != game);
        }
        sim::leave_match(world, game, player);
    }
    reply.ack(LeaveReply { match_id: id });
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeaveReply {
    match_id: MatchId,
}

fn apply_input(world: &mut World, player: PlayerId, reply: ReplyTo, input: Input) {
    let metrics = world.get_resource::<MetricsHandle>().map(|m| m.0.clone());
    let reject = |reason: &str| {
        if let Some(metrics) = &metrics {
            metrics.inputs_rejected.with_label_values(&[reason]).inc();
        }
    };
    let Some(game) = sim::find_match(world, input.match_id) else {
        reject("not_found");
        return reply.error(ErrorCode::NotFound, format!("no match {}", input.match_id));
    };
    let frame = InputFrame {
        seq: input.seq,
        axis: input.axis,
        launch: input.launch,
    };
    match sim::submit_input(world, game, player, frame) {
        Ok(()) => {}
        Err(InputError::NotAPlayer) => {
            reject("forbidden");
            reply.error(
                ErrorCode::Forbidden,
                format!("not a player of {}", input.match_id),
            );
        }
        Err(InputError::BadAxis) => {
            reject("bad_request");
            reply.error(ErrorCode::BadRequest, "axis must be a number in [-1, 1]");
        }
    }
}

/// The metrics registry, when the server runs with one.
#[derive(Resource, Clone)]
pub struct MetricsHandle(pub Arc<Metrics>);

fn reattach(world: &mut World, conn: ConnId, player: PlayerRef, outbox: Arc<Outbox>) {
    let games = world
        .resource::<Lobby>()
        .seats_of
        .get(&player.id)
        .cloned()
        .unwrap_or_default();
    for game in games {
        let Some(seat) = sim::seat_of(world, game, player.id) else {
            continue;
        };
        add_member(world, game, conn, player.id, Some(seat), outbox.clone());
        sim::player_returned(world, game, player.id);
        if let Some(id) = world.get::<MatchIdOf>(game).map(|id| id.0) {
            send_match_start(world, game, id, Some(conn));
        }
    }
}

fn detach(world: &mut World, conn: ConnId, player: PlayerId) {
    let games = world
        .resource_mut::<Lobby>()
        .watching
        .remove(&conn)
        .unwrap_or_default();
    for game in games {
        let Some(member) = remove_member(world, game, conn) else {
            continue;
        };
        let still_here = world
            .get::<Audience>(game)
            .is_some_and(|audience| audience.members.iter().any(|m| m.player == player));
        if member.seat.is_some() && !still_here {
            sim::player_dropped(world, game, player);
        }
    }
}

/// A live match as listed over REST and `match.list`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveMatch {
    pub id: MatchId,
    pub game: Game,
    pub mode: Mode,
    pub phase: Phase,
    pub players: Vec<SeatedPlayer>,
    pub spectators: usize,
    pub score: Vec<u32>,
    pub started_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeatedPlayer {
    pub id: PlayerId,
    pub name: String,
    pub seat: Seat,
}

fn seated_players(summary: &MatchSummary) -> Vec<SeatedPlayer> {
    summary
        .players
        .iter()
        .map(|(player, seat)| SeatedPlayer {
            id: player.id,
            name: player.name.clone(),
            seat: *seat,
        })
        .collect()
}

fn live_matches(world: &mut World, game: Option<Game>) -> Vec<LiveMatch> {
    let mut query = world.query::<(Entity, &Audience)>();
    let games: Vec<(Entity, usize)> = query
        .iter(world)
        .map(|(entity, audience)| (entity, audience.spectators()))
        .collect();
    let mut live = Vec::with_capacity(games.len());
    for (entity, spectators) in games {
        let Some(summary) = view::match_summary(world, entity) else {
            continue;
        };
        if summary.phase == Phase::Finished
            || summary.options.private
            || game.is_some_and(|game| game != summary.game)
        {
            continue;
        }
        live.push(LiveMatch {
            id: summary.id,
            game: summary.game,
            mode: summary.mode,
            phase: summary.phase,
            players: seated_players(&summary),
            spectators,
            score: summary.score.clone(),
            started_at: arcade_data::time::format_rfc3339_ms(summary.started_at_ms),
        });
    }
    live.sort_by_key(|m| m.id);
    live
}

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
fn send_match_start(world: &World, game: Entity, id: MatchId, only: Option<ConnId>) {
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
type AudienceQuery = QueryState<(Entity, &'static Audience, &'static MatchIdOf)>;

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
/// the match in the bridge's indexes.
fn finish<T: Serialize>(world: &mut World, game: Entity, id: MatchId, message: &T) {
    let Some(audience) = world.entity_mut(game).take::<Audience>() else {
        return;
    };
    let mut encoded: [Option<Frame>; 2] = [None, None];
    for member in &audience.members {
        let codec = member.outbox.codec();
        let frame = encoded[codec.index()].get_or_insert_with(|| codec.encode_once(message));
        member.outbox.push_final(id, frame.clone());
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

/// The `state` message of one match, serialized straight from the World.
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

/// Where the tick thread hands the outboxes it filled, to be woken by one task on the tokio
/// runtime (a wake from inside the runtime is a local queue push; thousands from outside it
/// contend on the runtime's shared queue). Without it, outboxes are woken directly.
#[derive(Resource, Default)]
pub struct WakeUps {
    staged: Vec<Arc<Outbox>>,
    waker: Option<Waker>,
}

/// The channels to the waker task: batches out, emptied batches back for reuse.
struct Waker {
    batches: tokio::sync::mpsc::UnboundedSender<Vec<Arc<Outbox>>>,
    emptied: crossbeam_channel::Receiver<Vec<Arc<Outbox>>>,
}

/// Batches the waker task has emptied, kept for reuse.
const RECYCLED_BATCHES: usize = 4;

impl WakeUps {
    /// Wake-ups handed to a task on the runtime, and that task (spawn it there).
    pub fn with_waker_task() -> (WakeUps, impl std::future::Future<Output = ()> + Send) {
        let (batches, mut to_wake) = tokio::sync::mpsc::unbounded_channel::<Vec<Arc<Outbox>>>();
        let (give_back, emptied) = crossbeam_channel::bounded(RECYCLED_BATCHES);
        let task = async move {
            while let Some(mut batch) = to_wake.recv().await {
                for outbox in batch.drain(..) {
                    outbox.wake();
                }
                let _ = give_back.try_send(batch);
            }
        };
        let waker = Waker { batches, emptied };
        (
            WakeUps {
                staged: Vec::new(),
                waker: Some(waker),
            },
            task,
        )
    }

    fn flush(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let Some(waker) = &self.waker else {
            self.staged.drain(..).for_each(|outbox| outbox.wake());
            return;
        };
        let next = waker.emptied.try_recv().unwrap_or_default();
        let staged = std::mem::replace(&mut self.staged, next);
        if let Err(unsent) = waker.batches.send(staged) {
            unsent.0.iter().for_each(|outbox| outbox.wake());
        }
    }
}

fn send_states(world: &mut World, audiences: &mut AudienceQuery) {
    let mut buf = std::mem::take(&mut world.resource_mut::<Lobby>().buf);
    let mut wake_ups = std::mem::take(&mut *world.get_resource_or_init::<WakeUps>());
    let mut dropped = 0u64;
    for (game, audience, id) in audiences.iter(world) {
        if audience.members.is_empty()
            || view::match_phase(world, game).is_none_or(|phase| phase == Phase::Finished)
        {
            continue;
        }
        let mut encoded: [Option<Frame>; 2] = [None, None];
        let message = StateMessage { world, game };
        for member in &audience.members {
            let codec = member.outbox.codec();
            let frame =
                encoded[codec.index()].get_or_insert_with(|| codec.encode(&message, &mut buf));
            if member.outbox.stage_state(id.0, frame.clone()) {
                dropped += 1;
            }
            wake_ups.staged.push(member.outbox.clone());
        }
    }
    wake_ups.flush();
    *world.resource_mut::<WakeUps>() = wake_ups;
    world.resource_mut::<Lobby>().buf = buf;
    if let Some(metrics) = world.get_resource::<MetricsHandle>() {
        metrics.0.ws_dropped_frames.inc_by(dropped);
    }
}

/// How often (in ticks) the live-match gauges are recounted.
const GAUGE_EVERY_TICKS: u64 = 30;

/// Counts finished matches and, every [`GAUGE_EVERY_TICKS`], recounts the live-match and
/// connection gauges.
pub fn update_match_metrics(world: &mut World) {
    let Some(metrics) = world.get_resource::<MetricsHandle>().map(|m| m.0.clone()) else {
        return;
    };
    for (_, _, _, event) in &world.resource::<MatchEvents>().list {
        if let MatchEvent::Ended(record) = event {
            metrics
                .matches_finished
                .with_label_values(&[record.game.as_str(), record.reason.as_str()])
                .inc();
        }
    }
    if !world
        .resource::<Lobby>()
        .ticks
        .is_multiple_of(GAUGE_EVERY_TICKS)
    {
        return;
    }
    let mut counts: HashMap<(Game, Phase), i64> = HashMap::new();
    let (mut players, mut spectators) = (0i64, 0i64);
    let mut query = world.query::<(Entity, &Audience)>();
    for (game, audience) in query.iter(world) {
        if let Some(summary) = view::match_phase(world, game).zip(view::match_game(world, game)) {
            *counts.entry((summary.1, summary.0)).or_default() += 1;
        }
        let watching = audience.spectators() as i64;
        spectators += watching;
        players += audience.members.len() as i64 - watching;
    }
    for game in Game::ALL {
        for phase in Phase::ALL {
            let count = counts.get(&(game, phase)).copied().unwrap_or(0);
            metrics
                .matches_active
                .with_label_values(&[game.as_str(), phase.as_str()])
                .set(count);
        }
    }
    metrics.players_connected.set(players);
    metrics.spectators_connected.set(spectators);
}
