//! Social features: chat channels and their history, presence, friends, blocks and match
//! invitations (PROTOCOL.md "Matchmaking and social").
//!
//! - Chat: `global` fans out through the hub; `dm:<playerId>` reaches the two players (never
//!   a player who blocks the sender); `match:<id>` is fanned out by the tick thread, which
//!   alone knows a match's audience ([`SocialOp::MatchChat`]). Every delivered message is
//!   stored fire-and-forget through the data writer; `GET /api/chat/{channel}` pages it.
//! - Presence: the tick thread keeps each player's status ([`PresenceBook`], updated from the
//!   bridge's connect/disconnect commands and a scan of the match audiences) and hands every
//!   change to [`run_presence_feed`], an async task that sends the `presence` event to the
//!   players who have that player on their friends list.
//! - Friends, blocks and invitations are REST routes and `match.invite`; the relations live
//!   in the database (`arcade_data::social`).
//!
//! The tick thread never waits here: it answers through oneshot channels and outboxes, and
//! writes chat through the writer's unbounded queue.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arcade_data::PlayerRow;
use arcade_data::persist::PersistStore;
use arcade_data::social::{ChatLine, DEFAULT_CHAT_PAGE, MAX_CHAT_PAGE, Relation};
use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{Game, MatchId, Mode, Phase, PlayerId, PlayerRef};
use arcade_systems::{sim, view};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::app::AppState;
use crate::bridge::{Audience, Command, ReplyTo};
use crate::codec::Frame;
use crate::error::ApiError;
use crate::protocol::{Envelope, ErrorCode, PlayerInfo};

/// How long a REST handler or a session waits for the tick thread's answer.
pub const TICK_ANSWER_WAIT: Duration = Duration::from_secs(2);
/// How often (in ticks) the tick thread rescans who plays in a match, for presence.
pub const PRESENCE_SCAN_EVERY_TICKS: u64 = 6;

// ---- channels ---------------------------------------------------------------------------

/// A chat channel, as a client names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Global,
    Match(MatchId),
    /// A conversation with this player.
    Dm(PlayerId),
}

impl Channel {
    /// `global`, `match:<matchId>` or `dm:<playerId>`.
    pub fn parse(text: &str) -> Result<Channel, String> {
        if text == "global" {
            return Ok(Channel::Global);
        }
        if let Some(id) = text.strip_prefix("match:") {
            return id
                .parse()
                .map(Channel::Match)
                .map_err(|_| format!("no such channel {text:?}: match:<matchId>"));
        }
        if let Some(id) = text.strip_prefix("dm:") {
            return id
                .parse()
                .map(Channel::Dm)
                .map_err(|_| format!("no such channel {text:?}: dm:<playerId>"));
        }
        Err(format!(
            "no such channel {text:?}: global, match:<matchId> or dm:<playerId>"
        ))
    }

    /// The channel's name on the wire (for a conversation, as its reader names it).
    pub fn name(self) -> String {
        match self {
            Channel::Global => "global".into(),
            Channel::Match(id) => format!("match:{id}"),
            Channel::Dm(other) => format!("dm:{other}"),
        }
    }

    /// The storage key: the same for both sides of a conversation (`dm:<lower>:<higher>`).
    pub fn key(self, viewer: PlayerId) -> String {
        match self {
            Channel::Dm(other) => {
                let (low, high) = if viewer <= other {
                    (viewer, other)
                } else {
                    (other, viewer)
                };
                format!("dm:{low}:{high}")
            }
            other => other.name(),
        }
    }
}

/// `chat.message` to the members of a channel (owned, so the tick thread can hold it), and
/// an item of `GET /api/chat/{channel}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChatOut {
    pub from: Who,
    /// The channel as the reader names it: `global`, `match:<matchId>`, `dm:<the other
    /// player's id>`.
    #[schema(example = "global")]
    pub channel: String,
    pub text: String,
    /// RFC 3339 UTC with milliseconds.
    #[schema(example = "2026-11-21T23:45:00.123Z")]
    pub at: String,
}

/// A player as events name one: `{"id", "name"}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct Who {
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    pub id: PlayerId,
    pub name: String,
}

impl From<&PlayerInfo> for Who {
    fn from(player: &PlayerInfo) -> Who {
        Who {
            id: player.id,
            name: player.name.clone(),
        }
    }
}

/// Delivers and stores a chat message the session has validated (text trimmed, length and
/// rate checked). `Err` is a malformed channel, for the session's `bad_request` accounting;
/// every other answer goes through `reply`.
pub async fn send_chat(
    state: &AppState,
    sender: &PlayerInfo,
    reply: ReplyTo,
    channel: Option<&str>,
    text: &str,
) -> Result<(), String> {
    let channel = Channel::parse(channel.unwrap_or("global"))?;
    let now = crate::session::now_ms();
    let line = ChatLine {
        channel: channel.key(sender.id),
        sender: sender.id,
        sender_name: sender.name.clone(),
        text: text.to_owned(),
        at_ms: now,
    };
    let event = ChatOut {
        from: Who::from(sender),
        channel: channel.name(),
        text: text.to_owned(),
        at: arcade_data::time::format_rfc3339_ms(now),
    };
    match channel {
        Channel::Global => {
            reply.ack_bare();
            state
                .hub
                .broadcast(&Envelope::event("chat.message", &event), |_| true);
            state.store.record_chat(line);
        }
        Channel::Match(match_id) => {
            let op = SocialOp::MatchChat {
                match_id,
                player: sender.id,
                message: Box::new((event, line)),
                reply,
            };
            if let Err(error) = state.commands.send(Command::Social(op))
                && let Command::Social(SocialOp::MatchChat { reply, .. }) = error.0
            {
                reply.error(ErrorCode::Internal, "the game loop is not running");
            }
        }
        Channel::Dm(other) => {
            if other == sender.id {
                return Err("a direct message goes to another player".into());
            }
            let me = sender.id;
            let checked = state
                .blocking(move |store| {
                    let exists = store.get_player(other)?.is_some();
                    let blocked = store.has_relation(Relation::Block, other, me)?;
                    Ok::<_, arcade_data::DataError>((exists, blocked))
                })
                .await;
            let (exists, blocked) = match checked {
                Ok(Ok(found)) => found,
                _ => {
                    reply.error(ErrorCode::Internal, "storage is unavailable");
                    return Ok(());
                }
            };
            if !exists {
                reply.error(ErrorCode::NotFound, format!("no player {other}"));
                return Ok(());
            }
            reply.ack_bare();
            // The sender always sees the message, so a block is never revealed.
            state
                .hub
                .send_to_players(&Envelope::event("chat.message", &event), &[me]);
            if !blocked {
                let theirs = ChatOut {
                    channel: Channel::Dm(me).name(),
                    ..event
                };
                state
                    .hub
                    .send_to_players(&Envelope::event("chat.message", &theirs), &[other]);
                state.store.record_chat(line);
            }
        }
    }
    Ok(())
}

// ---- invitations ------------------------------------------------------------------------

/// `match.invite` from a client.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchInvite {
    pub match_id: MatchId,
    pub player_id: PlayerId,
}

/// The `match.invite` event the invited player gets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InviteEvent {
    match_id: MatchId,
    from: Who,
    game: Game,
    mode: Mode,
}

/// Why the tick thread refuses an invitation.
#[derive(Debug, PartialEq, Eq)]
pub enum InviteRefusal {
    NoMatch,
    NotAMember,
}

/// `match.invite`: the inviter plays or watches the match, the invited player is on the
/// inviter's friends list. `ack` `{"matchId", "playerId"}`; the event reaches the friend
/// unless the friend blocks the inviter (the inviter is not told).
pub async fn invite(state: &AppState, from: &PlayerInfo, reply: ReplyTo, invite: MatchInvite) {
    let (me, to) = (from.id, invite.player_id);
    if to == me {
        return reply.error(ErrorCode::BadRequest, "invite another player");
    }
    let checked = state
        .blocking(move |store| {
            let exists = store.get_player(to)?.is_some();
            let friend = store.has_relation(Relation::Friend, me, to)?;
            let blocked = store.has_relation(Relation::Block, to, me)?;
            Ok::<_, arcade_data::DataError>((exists, friend, blocked))
        })
        .await;
    let (exists, friend, blocked) = match checked {
        Ok(Ok(found)) => found,
        _ => return reply.error(ErrorCode::Internal, "storage is unavailable"),
    };
    if !exists {
        return reply.error(ErrorCode::NotFound, format!("no player {to}"));
    }
    if !friend {
        return reply.error(
            ErrorCode::Forbidden,
            "invitations go to players on your friends list",
        );
    }
    let (answer, answered) = oneshot::channel();
    let op = SocialOp::MatchOf {
        match_id: invite.match_id,
        player: me,
        answer,
    };
    let Some(found) = ask_tick_thread(state, op, answered).await else {
        return reply.error(ErrorCode::Internal, "the game loop did not answer");
    };
    let (game, mode) = match found {
        Ok(found) => found,
        Err(InviteRefusal::NoMatch) => {
            let message = format!("no live match {}", invite.match_id);
            return reply.error(ErrorCode::NotFound, message);
        }
        Err(InviteRefusal::NotAMember) => {
            let message = format!("you neither play nor watch {}", invite.match_id);
            return reply.error(ErrorCode::Forbidden, message);
        }
    };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct InviteReply {
        match_id: MatchId,
        player_id: PlayerId,
    }
    reply.ack(InviteReply {
        match_id: invite.match_id,
        player_id: to,
    });
    if !blocked {
        let event = InviteEvent {
            match_id: invite.match_id,
            from: Who::from(from),
            game,
            mode,
        };
        state
            .hub
            .send_to_players(&Envelope::event("match.invite", event), &[to]);
    }
}

// ---- the tick-thread side ---------------------------------------------------------------

/// A presence status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    InMatch,
    Offline,
}

/// A status change, from the tick thread to [`run_presence_feed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresenceChange {
    pub player: Who,
    pub status: Status,
}

/// What sessions and handlers ask of the tick thread for social features.
pub enum SocialOp {
    /// A message for `match:<id>`: delivered to the match's audience and stored if `player`
    /// plays or watches it; `reply` gets `ack` or `forbidden` / `not_found`.
    MatchChat {
        match_id: MatchId,
        player: PlayerId,
        message: Box<(ChatOut, ChatLine)>,
        reply: ReplyTo,
    },
    /// The game and mode of a live match `player` plays or watches (for an invitation).
    MatchOf {
        match_id: MatchId,
        player: PlayerId,
        answer: oneshot::Sender<Result<(Game, Mode), InviteRefusal>>,
    },
    /// Whether `player` may read `match:<id>` now: `None` when the match is not live,
    /// else whether the player plays or watches it.
    Member {
        match_id: MatchId,
        player: PlayerId,
        answer: oneshot::Sender<Option<bool>>,
    },
    /// The status of each player.
    Presence {
        players: Vec<PlayerId>,
        answer: oneshot::Sender<Vec<Status>>,
    },
}

/// Who is online and who plays, as the tick thread sees it.
#[derive(Resource, Default)]
pub struct PresenceBook {
    /// Open connections and the name of every connected player.
    connected: HashMap<PlayerId, (u32, String)>,
    /// Players with a seat in a live match and a connection in its audience (last scan).
    in_match: HashSet<PlayerId>,
    /// The status last published for each player not offline.
    published: HashMap<PlayerId, (Status, String)>,
    /// Players whose status may have changed since the last publication.
    dirty: HashSet<PlayerId>,
    /// Ticks run so far (paces the scans).
    ticks: u64,
    /// Where changes go; none in tests that do not listen.
    feed: Option<mpsc::UnboundedSender<PresenceChange>>,
}

/// Puts the presence book in the World, publishing changes to `feed`.
pub fn install(world: &mut World, feed: mpsc::UnboundedSender<PresenceChange>) {
    world.insert_resource(PresenceBook {
        feed: Some(feed),
        ..Default::default()
    });
}

/// A connection of `player` opened (from `Command::Connected`).
pub fn connected(world: &mut World, player: &PlayerRef) {
    if let Some(mut book) = world.get_resource_mut::<PresenceBook>() {
        let entry = book
            .connected
            .entry(player.id)
            .or_insert((0, player.name.clone()));
        entry.0 += 1;
        entry.1.clone_from(&player.name);
        book.dirty.insert(player.id);
    }
}

/// A connection of `player` closed (from `Command::Disconnected`).
pub fn disconnected(world: &mut World, player: PlayerId) {
    if let Some(mut book) = world.get_resource_mut::<PresenceBook>() {
        if let Some(entry) = book.connected.get_mut(&player) {
            entry.0 = entry.0.saturating_sub(1);
            if entry.0 == 0 {
                book.connected.remove(&player);
            }
        }
        book.dirty.insert(player);
    }
}

/// Applies one [`SocialOp`] (from `bridge::receive_commands`).
pub fn apply(world: &mut World, op: SocialOp) {
    match op {
        SocialOp::MatchChat {
            match_id,
            player,
            message,
            reply,
        } => match membership(world, match_id, player) {
            None => reply.error(ErrorCode::NotFound, format!("no live match {match_id}")),
            Some((_, false)) => {
                let message = format!("you neither play nor watch {match_id}");
                reply.error(ErrorCode::Forbidden, message);
            }
            Some((game, true)) => {
                let (event, line) = *message;
                reply.ack_bare();
                if let Some(audience) = world.get::<Audience>(game) {
                    let envelope = Envelope::event("chat.message", &event);
                    let mut encoded: [Option<Frame>; 2] = [None, None];
                    for member in &audience.members {
                        let codec = member.outbox.codec();
                        let frame = encoded[codec.index()]
                            .get_or_insert_with(|| codec.encode_once(&envelope));
                        member.outbox.push(frame.clone());
                    }
                }
                if let Some(store) = world.get_resource::<PersistStore>() {
                    store.0.record_chat(line);
                }
            }
        },
        SocialOp::MatchOf {
            match_id,
            player,
            answer,
        } => {
            let found = match membership(world, match_id, player) {
                None => Err(InviteRefusal::NoMatch),
                Some((_, false)) => Err(InviteRefusal::NotAMember),
                Some((game, true)) => view::match_summary(world, game)
                    .map(|summary| (summary.game, summary.mode))
                    .ok_or(InviteRefusal::NoMatch),
            };
            let _ = answer.send(found);
        }
        SocialOp::Member {
            match_id,
            player,
            answer,
        } => {
            let _ = answer.send(membership(world, match_id, player).map(|(_, member)| member));
        }
        SocialOp::Presence { players, answer } => {
            let book = world.get_resource::<PresenceBook>();
            let statuses = players
                .iter()
                .map(|player| {
                    book.and_then(|book| book.published.get(player))
                        .map_or(Status::Offline, |(status, _)| *status)
                })
                .collect();
            let _ = answer.send(statuses);
        }
    }
}

/// The entity of a live (not finished) match and whether `player` plays or watches it.
fn membership(world: &World, match_id: MatchId, player: PlayerId) -> Option<(Entity, bool)> {
    let game = sim::find_match(world, match_id)?;
    let audience = world.get::<Audience>(game)?;
    if view::match_phase(world, game).is_none_or(|phase| phase == Phase::Finished) {
        return None;
    }
    let member = sim::seat_of(world, game, player).is_some()
        || audience
            .members
            .iter()
            .any(|member| member.player == player);
    Some((game, member))
}

/// Publishes presence changes (runs in `SimSystems::Send`, after the bridge): connection
/// changes at once, match changes within [`PRESENCE_SCAN_EVERY_TICKS`].
pub fn track_presence(world: &mut World) {
    let Some(ticks) = world.get_resource_mut::<PresenceBook>().map(|mut book| {
        book.ticks += 1;
        book.ticks
    }) else {
        return;
    };
    if ticks.is_multiple_of(PRESENCE_SCAN_EVERY_TICKS) {
        let mut playing = HashSet::new();
        let mut audiences = world.query::<(Entity, &Audience)>();
        for (game, audience) in audiences.iter(world) {
            if view::match_phase(world, game).is_none_or(|phase| phase == Phase::Finished) {
                continue;
            }
            playing.extend(
                audience
                    .members
                    .iter()
                    .filter(|member| member.seat.is_some())
                    .map(|member| member.player),
            );
        }
        let mut book = world.resource_mut::<PresenceBook>();
        let changed: Vec<PlayerId> = book
            .in_match
            .symmetric_difference(&playing)
            .copied()
            .collect();
        book.dirty.extend(changed);
        book.in_match = playing;
    }
    let mut book = world.resource_mut::<PresenceBook>();
    if book.dirty.is_empty() {
        return;
    }
    let book = &mut *book;
    for player in std::mem::take(&mut book.dirty) {
        let status = match book.connected.get(&player) {
            None => Status::Offline,
            Some(_) if book.in_match.contains(&player) => Status::InMatch,
            Some(_) => Status::Online,
        };
        let before = book
            .published
            .get(&player)
            .map_or(Status::Offline, |(s, _)| *s);
        if status == before {
            continue;
        }
        let name = match book.connected.get(&player) {
            Some((_, name)) => name.clone(),
            None => book
                .published
                .get(&player)
                .map(|(_, name)| name.clone())
                .unwrap_or_default(),
        };
        if status == Status::Offline {
            book.published.remove(&player);
        } else {
            book.published.insert(player, (status, name.clone()));
        }
        if let Some(feed) = &book.feed {
            let _ = feed.send(PresenceChange {
                player: Who { id: player, name },
                status,
            });
        }
    }
}

/// Sends every presence change as a `presence` event to the connections of the players who
/// have that player on their friends list (and are not blocked by them). Runs until the tick
/// thread drops its sender.
pub async fn run_presence_feed(
    state: AppState,
    mut changes: mpsc::UnboundedReceiver<PresenceChange>,
) {
    while let Some(change) = changes.recv().await {
        let player = change.player.id;
        let followers = match state.blocking(move |store| store.followers(player)).await {
            Ok(Ok(followers)) => followers,
            _ => continue,
        };
        if !followers.is_empty() {
            state
                .hub
                .send_to_players(&Envelope::event("presence", &change), &followers);
        }
    }
}

/// Sends `op` to the tick thread and waits (bounded) for its answer.
async fn ask_tick_thread<T>(
    state: &AppState,
    op: SocialOp,
    answered: oneshot::Receiver<T>,
) -> Option<T> {
    state.commands.send(Command::Social(op)).ok()?;
    tokio::time::timeout(TICK_ANSWER_WAIT, answered)
        .await
        .ok()?
        .ok()
}

/// The presence of each player. Connections are the hub's (so a player is `online` from
/// `hello` on and `offline` once the socket is gone, without waiting for a tick); whether a
/// connected player is `in_match` is the tick thread's.
pub async fn presence_of(state: &AppState, players: Vec<PlayerId>) -> Vec<Status> {
    let (answer, answered) = oneshot::channel();
    let op = SocialOp::Presence {
        players: players.clone(),
        answer,
    };
    let playing = ask_tick_thread(state, op, answered)
        .await
        .unwrap_or_default();
    players
        .iter()
        .enumerate()
        .map(|(index, &player)| {
            if !state.hub.is_online(player) {
                Status::Offline
            } else if playing.get(index) == Some(&Status::InMatch) {
                Status::InMatch
            } else {
                Status::Online
            }
        })
        .collect()
}

// ---- REST -------------------------------------------------------------------------------

/// The OpenAPI description of these routes (merged into `/api/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    paths(
        chat_history,
        add_friend,
        remove_friend,
        add_block,
        remove_block,
        list_friends,
        list_blocks
    ),
    components(schemas(
        ChatOut,
        Who,
        Status,
        Listed,
        ChatHistory,
        FriendBody,
        FriendsBody,
        BlockedBody
    ))
)]
pub struct SocialApi;

/// The social routes, merged into the router by `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/chat/{channel}", get(chat_history))
        .route(
            "/api/players/{id}/friend",
            post(add_friend).delete(remove_friend),
        )
        .route(
            "/api/players/{id}/block",
            post(add_block).delete(remove_block),
        )
        .route("/api/friends", get(list_friends))
        .route("/api/blocks", get(list_blocks))
}

/// The bearer of a request, or 401 (`accounts::authenticated`).
async fn bearer(state: &AppState, headers: &HeaderMap) -> Result<PlayerInfo, ApiError> {
    crate::accounts::authenticated(state, headers)
        .await
        .map(|(player, _)| player)
}

fn parse_player(text: &str) -> Result<PlayerId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no player {text}"),
        )
    })
}

/// Query of `GET /api/chat/{channel}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// The `next` of the previous page.
    #[param(value_type = Option<String>, pattern = "^c[0-9a-f]{1,16}$")]
    before: Option<String>,
    /// 1..=100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// `GET /api/chat/{channel}`: newest first.
#[derive(Serialize, ToSchema)]
struct ChatHistory {
    messages: Vec<ChatOut>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next: Option<String>,
}

/// `POST /api/players/{id}/friend`.
#[derive(Serialize, ToSchema)]
struct FriendBody {
    friend: Listed,
}

/// `GET /api/friends`.
#[derive(Serialize, ToSchema)]
struct FriendsBody {
    friends: Vec<Listed>,
}

/// `GET /api/blocks`.
#[derive(Serialize, ToSchema)]
struct BlockedBody {
    blocked: Vec<Listed>,
}

/// `GET /api/chat/{channel}?before=&limit=`: `global` to anyone; `match:<id>` to its players
/// and (while it is live) its spectators; `dm:<playerId>` to the bearer's own conversation
/// with that player.
#[utoipa::path(
    get, path = "/api/chat/{channel}", tag = "social",
    params(("channel" = String, Path, description = "`global`, `match:<matchId>` or `dm:<playerId>`"), HistoryQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "a page of the channel's history", body = ChatHistory),
        (status = 400, description = "bad limit or cursor", body = crate::openapi::ErrorBody),
        (status = 401, description = "a match or DM channel without a valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a member of the match", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such channel or match", body = crate::openapi::ErrorBody),
        (status = 503, description = "storage or game loop unavailable", body = crate::openapi::ErrorBody),
    )
)]
async fn chat_history(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    Query(query): Query<HistoryQuery>,
    headers: HeaderMap,
) -> Result<Json<ChatHistory>, ApiError> {
    let parsed = Channel::parse(&channel)
        .map_err(|message| ApiError::new(StatusCode::NOT_FOUND, "not_found", message))?;
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_CHAT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_CHAT_PAGE).contains(limit))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be 1..={MAX_CHAT_PAGE}")))?,
    };
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<arcade_data::Cursor>()
                .map_err(|_| ApiError::bad_request("before is not a cursor from `next`"))?,
        ),
    };
    let viewer = match parsed {
        Channel::Global => None,
        Channel::Dm(_) => Some(bearer(&state, &headers).await?),
        Channel::Match(match_id) => {
            let me = bearer(&state, &headers).await?;
            may_read_match(&state, match_id, me.id).await?;
            Some(me)
        }
    };
    let key = parsed.key(viewer.as_ref().map_or(PlayerId(0), |me| me.id));
    let page = state
        .blocking(move |store| store.chat_history(&key, before, limit))
        .await??;
    let messages: Vec<ChatOut> = page
        .messages
        .into_iter()
        .map(|stored| {
            // A conversation is `dm:<the other player>` to its reader, whoever wrote.
            let line = stored.line;
            ChatOut {
                from: Who {
                    id: line.sender,
                    name: line.sender_name,
                },
                channel: parsed.name(),
                text: line.text,
                at: arcade_data::time::format_rfc3339_ms(line.at_ms),
            }
        })
        .collect();
    Ok(Json(ChatHistory {
        messages,
        next: page.next.map(|cursor| cursor.to_string()),
    }))
}

/// Whether `player` may read `match:<id>`: a member of the live match, or a player of the
/// finished one.
async fn may_read_match(
    state: &AppState,
    match_id: MatchId,
    player: PlayerId,
) -> Result<(), ApiError> {
    let forbidden = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("only the players and spectators of {match_id} read its channel"),
        )
    };
    let (answer, answered) = oneshot::channel();
    let op = SocialOp::Member {
        match_id,
        player,
        answer,
    };
    match ask_tick_thread(state, op, answered).await {
        Some(Some(true)) => return Ok(()),
        Some(Some(false)) => return Err(forbidden()),
        Some(None) => {}
        None => return Err(ApiError::unavailable("the game loop did not answer")),
    }
    let record = state
        .blocking(move |store| store.get_match(match_id))
        .await??;
    match record {
        Some(record) if record.players.iter().any(|seat| seat.id == player) => Ok(()),
        Some(_) => Err(forbidden()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no match {match_id}"),
        )),
    }
}

/// A friend or blocked player as listed: `{"id", "name", "guest", "presence"?}`.
#[derive(Serialize, ToSchema)]
struct Listed {
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    id: PlayerId,
    name: String,
    guest: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence: Option<Status>,
}

async fn listed(state: &AppState, rows: Vec<PlayerRow>, with_presence: bool) -> Vec<Listed> {
    let statuses = if with_presence {
        presence_of(state, rows.iter().map(|row| row.id).collect()).await
    } else {
        Vec::new()
    };
    rows.into_iter()
        .enumerate()
        .map(|(index, row)| Listed {
            id: row.id,
            name: row.name,
            guest: row.guest,
            presence: statuses.get(index).copied(),
        })
        .collect()
}

/// Adds or removes a relation of the bearer's; 404 for an unknown player, 400 for oneself.
async fn relate(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    relation: Relation,
    on: bool,
) -> Result<(PlayerInfo, PlayerId), ApiError> {
    let me = bearer(state, headers).await?;
    let other = parse_player(id)?;
    if other == me.id {
        return Err(ApiError::bad_request("that is you"));
    }
    let result = state
        .blocking(move |store| store.set_relation(relation, me.id, other, on))
        .await?;
    match result {
        Ok(_) => Ok((me, other)),
        Err(arcade_data::DataError::NotFound) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no player {other}"),
        )),
        Err(error) => Err(error.into()),
    }
}

/// `POST /api/players/{id}/friend`: `{"friend": {"id", "name", "guest", "presence"}}`.
#[utoipa::path(
    post, path = "/api/players/{id}/friend", tag = "social",
    params(("id" = String, Path, description = "a player id, `p_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "on the bearer's friends list (adding twice is fine)", body = FriendBody),
        (status = 400, description = "the bearer's own id", body = crate::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::openapi::ErrorBody),
    )
)]
async fn add_friend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<FriendBody>, ApiError> {
    let (_, friend) = relate(&state, &headers, &id, Relation::Friend, true).await?;
    let row = state
        .blocking(move |store| store.get_player(friend))
        .await??
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no player {id}"),
            )
        })?;
    match listed(&state, vec![row], true).await.pop() {
        Some(friend) => Ok(Json(FriendBody { friend })),
        None => Err(ApiError::internal("the friend vanished")),
    }
}

/// `DELETE /api/players/{id}/friend`: `{"ok": true}` (also when it was not a friend).
#[utoipa::path(
    delete, path = "/api/players/{id}/friend", tag = "social",
    params(("id" = String, Path, description = "a player id, `p_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "off the friends list (also when not on it)", body = crate::openapi::OkBody),
        (status = 400, description = "the bearer's own id", body = crate::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::openapi::ErrorBody),
    )
)]
async fn remove_friend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    relate(&state, &headers, &id, Relation::Friend, false).await?;
    Ok(Json(json!({"ok": true})))
}

/// `POST /api/players/{id}/block`: `{"ok": true}`.
#[utoipa::path(
    post, path = "/api/players/{id}/block", tag = "social",
    params(("id" = String, Path, description = "a player id, `p_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "blocked: their DMs and invitations never arrive", body = crate::openapi::OkBody),
        (status = 400, description = "the bearer's own id", body = crate::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::openapi::ErrorBody),
    )
)]
async fn add_block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    relate(&state, &headers, &id, Relation::Block, true).await?;
    Ok(Json(json!({"ok": true})))
}

/// `DELETE /api/players/{id}/block`: `{"ok": true}`.
#[utoipa::path(
    delete, path = "/api/players/{id}/block", tag = "social",
    params(("id" = String, Path, description = "a player id, `p_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "unblocked (also when not blocked)", body = crate::openapi::OkBody),
        (status = 400, description = "the bearer's own id", body = crate::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::openapi::ErrorBody),
    )
)]
async fn remove_block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    relate(&state, &headers, &id, Relation::Block, false).await?;
    Ok(Json(json!({"ok": true})))
}

/// `GET /api/friends`: the bearer's friends with their presence, by name.
#[utoipa::path(
    get, path = "/api/friends", tag = "social",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the bearer's friends with their presence, by name", body = FriendsBody),
        (status = 401, description = "no valid token", body = crate::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::openapi::ErrorBody),
    )
)]
async fn list_friends(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<FriendsBody>, ApiError> {
    let me = bearer(&state, &headers).await?;
    let rows = state
        .blocking(move |store| store.related(Relation::Friend, me.id))
        .await??;
    Ok(Json(FriendsBody {
        friends: listed(&state, rows, true).await,
    }))
}

/// `GET /api/blocks`: the players the bearer blocks, by name.
#[utoipa::path(
    get, path = "/api/blocks", tag = "social",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the players the bearer blocks, by name", body = BlockedBody),
        (status = 401, description = "no valid token", body = crate::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::openapi::ErrorBody),
    )
)]
async fn list_blocks(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<BlockedBody>, ApiError> {
    let me = bearer(&state, &headers).await?;
    let rows = state
        .blocking(move |store| store.related(Relation::Block, me.id))
        .await??;
    Ok(Json(BlockedBody {
        blocked: listed(&state, rows, false).await,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_and_dm_keys_are_shared_by_both_sides() {
        assert_eq!(Channel::parse("global"), Ok(Channel::Global));
        let (a, b) = (PlayerId(0xa), PlayerId(0xb));
        let dm = Channel::parse(&format!("dm:{b}")).unwrap();
        assert_eq!(dm, Channel::Dm(b));
        assert_eq!(dm.key(a), Channel::Dm(a).key(b));
        assert_eq!(dm.key(a), format!("dm:{a}:{b}"));
        assert_eq!(
            Channel::parse("match:m_0000000000000001"),
            Ok(Channel::Match(MatchId(1)))
        );
        for bad in ["", "lobby", "dm:", "dm:x", "match:p_01"] {
            assert!(Channel::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_social_route_is_in_the_openapi_description() {
        let doc = SocialApi::openapi();
        for path in [
            "/api/chat/{channel}",
            "/api/players/{id}/friend",
            "/api/players/{id}/block",
            "/api/friends",
            "/api/blocks",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path}");
        }
    }

    #[test]
    fn presence_changes_are_published_once_per_change() {
        let (feed, mut changes) = mpsc::unbounded_channel();
        let mut world = World::new();
        install(&mut world, feed);
        let ada = PlayerRef {
            id: PlayerId(1),
            name: "ada".into(),
        };
        connected(&mut world, &ada);
        connected(&mut world, &ada);
        track_presence(&mut world);
        let change = changes.try_recv().unwrap();
        assert_eq!(change.status, Status::Online);
        assert_eq!(change.player.name, "ada");
        disconnected(&mut world, ada.id);
        track_presence(&mut world);
        assert!(changes.try_recv().is_err(), "one connection is still open");
        disconnected(&mut world, ada.id);
        track_presence(&mut world);
        assert_eq!(changes.try_recv().unwrap().status, Status::Offline);
    }
}
