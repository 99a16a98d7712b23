//! [`receive_commands`] (tick thread, `SimSystems::Receive`): drains the command queue and
//! applies each command to the World: create, join, leave, inputs, (re)connections, listings.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, ID_BITS_MASK, MatchId, Phase, PlayerId, PlayerRef, Seat};
use arcade_systems::sim::{self, InputError, InputFrame, JoinError};
use arcade_systems::view::{self, MatchSummary};
use serde::Serialize;

use crate::bridge::match_metrics::MetricsHandle;
use crate::bridge::send::send_match_start;
use crate::clock::now_ms;
use crate::link::audience::{Audience, Lobby, MatchIdOf, add_member, playing_in, remove_member};
use crate::link::command::{Command, Inbox, LiveMatch, MatchOp, MatchRequest, SeatedPlayer};
use crate::link::reply::{InputReply, ReplyTo};
use crate::outbox::{ConnId, InputRoute, Outbox};
use crate::wire::protocol::{ErrorCode, Input, JoinAs, MatchCreate, MatchJoin};

/// Drains the command queue into the World (runs first in every tick; `taken` is the batch,
/// its buffer kept from tick to tick).
pub fn receive_commands(
    world: &mut World,
    mut taken: Local<Vec<Command>>,
    mut seats: Local<sim::RoutedSeats>,
) {
    world.resource::<Inbox>().take_into(&mut taken);
    for command in taken.drain(..) {
        match command {
            Command::Connected {
                conn,
                player,
                outbox,
            } => {
                crate::social::connected(world, &player);
                let outboxes = &mut world.resource_mut::<Lobby>().outboxes;
                outboxes.insert(conn, outbox.clone());
                reattach(world, conn, player, outbox);
            }
            Command::Disconnected { conn, player } => {
                world.resource_mut::<Lobby>().outboxes.remove(&conn);
                crate::matchmaking::forget_connection(world, conn);
                crate::social::disconnected(world, player);
                detach(world, conn, player);
            }
            Command::Match(request) => {
                let MatchRequest {
                    conn,
                    player,
                    reply,
                    op,
                } = *request;
                match_request(world, conn, player, reply, op);
            }
            Command::Input {
                player,
                reply,
                input,
                route,
            } => apply_input(world, &mut seats, player, reply, input, route),
            Command::ListLive { game, reply } => {
                let _ = reply.send(live_matches(world, game));
            }
            Command::Run(job) => job(world),
        }
    }
}

fn match_request(world: &mut World, conn: ConnId, player: PlayerRef, reply: ReplyTo, op: MatchOp) {
    match op {
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
        MatchOp::Resync(id) => resync(world, conn, reply, id),
        MatchOp::List(game) => {
            let matches = live_matches(world, game);
            reply.ack(ListReply { matches });
        }
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

/// Letters of a join code: no look-alikes (0/O, 1/I).
const JOIN_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

const JOIN_CODE_LENGTH: usize = 6;

pub(crate) fn new_join_code() -> String {
    (0..JOIN_CODE_LENGTH)
        .map(|_| JOIN_CODE_ALPHABET[rand::random_range(0..JOIN_CODE_ALPHABET.len())] as char)
        .collect()
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
    let already_started =
        view::match_phase(world, game).is_some_and(|phase| phase != Phase::Waiting);
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
    // A match that had started before this join owes the joiner its `match.start`; one that
    // this join starts (the last seat filled) announces it to every member this tick.
    if already_started {
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
        // Leaving a started match forfeits it: the leaver's connections still get the
        // `match.end` that says so.
        let started = view::match_phase(world, game).is_some_and(|phase| phase != Phase::Waiting);
        // Every connection of the player leaves with the seat.
        if let Some(mut audience) = world.get_mut::<Audience>(game) {
            let audience = &mut *audience;
            let gone = audience.remove_where(|member| member.player == player);
            if started {
                audience.leavers.extend(member.into_iter().chain(gone));
            }
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

/// `state.resync`: marks the connection's membership so that its next `state` of the match
/// is a keyframe (a connection of any codec may ask; only compact ones see a difference).
fn resync(world: &mut World, conn: ConnId, reply: ReplyTo, id: MatchId) {
    let audience = sim::find_match(world, id).and_then(|game| world.get::<Audience>(game));
    let member = audience.and_then(|audience| audience.members.iter().find(|m| m.conn == conn));
    let Some(member) = member else {
        return reply.error(ErrorCode::NotFound, format!("not in match {id}"));
    };
    member.needs_keyframe.store(true, Ordering::Relaxed);
    reply.ack(LeaveReply { match_id: id });
}

/// Applies an input, or refuses it with an `error` to its connection.
///
/// `route` is where the connection's inputs went last (`Outbox::input_route`): the match's id
/// and the seat ([`sim::InputRoute`]), so that the next input to the same match skips the
/// search of the match and its seats. A route is checked at each use
/// (`sim::submit_routed_input`: the seat still exists and is still the player's), so a leave,
/// an end, a seat taken again or a checkpoint restored (new entities) needs no bookkeeping:
/// the input that finds its route stale takes the long way and keeps the new route in the
/// connection's outbox. The route travels with the command because looking it up here, in a
/// table of every player, cost a cache miss per input at 20,000 players.
fn apply_input(
    world: &mut World,
    seats: &mut sim::RoutedSeats,
    player: PlayerId,
    reply: InputReply,
    input: Input,
    route: Option<InputRoute>,
) {
    // The metrics and the connection's outbox are looked up only for a refused input.
    let refuse = |world: &World, reason: &str, code: ErrorCode, message: String| {
        if let Some(metrics) = world.get_resource::<MetricsHandle>() {
            metrics.0.inputs_rejected.with_label_values(&[reason]).inc();
        }
        if let Some(outbox) = outbox_of(world, reply.conn) {
            reply.to(outbox.clone()).error(code, message);
        }
    };
    let frame = InputFrame {
        seq: input.seq,
        axis: input.axis,
        launch: input.launch,
    };
    let routed = match route {
        Some((id, route)) if id == input.match_id => {
            sim::submit_routed_input(world, seats, route, player, frame)
        }
        _ => None,
    };
    let submitted = match routed {
        Some(submitted) => submitted,
        None => {
            let Some(game) = sim::find_match(world, input.match_id) else {
                let message = format!("no match {}", input.match_id);
                return refuse(world, "not_found", ErrorCode::NotFound, message);
            };
            match sim::input_route(world, game, player) {
                Some(route) => {
                    if let Some(outbox) = outbox_of(world, reply.conn) {
                        outbox.set_input_route((input.match_id, route));
                    }
                    sim::submit_routed_input(world, seats, route, player, frame)
                        .unwrap_or(Err(InputError::NotAPlayer))
                }
                None => Err(InputError::NotAPlayer),
            }
        }
    };
    match submitted {
        Ok(()) => {}
        Err(InputError::NotAPlayer) => {
            let message = format!("not a player of {}", input.match_id);
            refuse(world, "forbidden", ErrorCode::Forbidden, message);
        }
        Err(InputError::BadAxis) => {
            let message = "axis must be a number in [-1, 1]".to_string();
            refuse(world, "bad_request", ErrorCode::BadRequest, message);
        }
    }
}

/// The outbox of open connection `conn` (`Lobby::outboxes`).
fn outbox_of(world: &World, conn: ConnId) -> Option<&Arc<Outbox>> {
    world.resource::<Lobby>().outboxes.get(&conn)
}

/// Seats a (re)connected player back into every live match where it holds a seat: the
/// connection joins the audience, the seat is back (`player_back`, a fresh countdown) and
/// gets `match.start`.
pub(crate) fn reattach(world: &mut World, conn: ConnId, player: PlayerRef, outbox: Arc<Outbox>) {
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

pub(crate) fn seated_players(summary: &MatchSummary) -> Vec<SeatedPlayer> {
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
