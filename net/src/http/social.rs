//! The social REST routes (tokio threads): chat history, friends, blocks (the rules they
//! call are `crate::social`'s).

use arcade_data::PlayerRow;
use arcade_data::social::{DEFAULT_CHAT_PAGE, MAX_CHAT_PAGE, Relation};
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{MatchId, PlayerId};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::http::error::ApiError;
use crate::social::chat::{Channel, ChatOut, Who};
use crate::social::feed::presence_of;
use crate::social::presence::{SocialOp, Status};
use crate::state::AppState;
use crate::wire::protocol::{Envelope, NOWHERE, PlayerInfo};

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
        friend_requests,
        list_blocks
    ),
    components(schemas(
        ChatOut,
        Who,
        Status,
        Listed,
        ChatHistory,
        FriendBody,
        FriendState,
        FriendsBody,
        RequestsBody,
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
        .route("/api/friends/requests", get(friend_requests))
        .route("/api/blocks", get(list_blocks))
}

/// The bearer of a request, or 401 (`accounts::authenticated`).
async fn bearer(state: &AppState, headers: &HeaderMap) -> Result<PlayerInfo, ApiError> {
    crate::http::accounts::authenticated(state, headers)
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

/// Where a friend request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum FriendState {
    /// Asked, not yet accepted.
    Pending,
    /// Both players asked: friends.
    Friends,
}

/// `POST /api/players/{id}/friend`.
#[derive(Serialize, ToSchema)]
struct FriendBody {
    /// `pending` (a request sent) or `friends` (the other's request accepted, or already friends).
    state: FriendState,
    /// The player asked (`presence` only once friends).
    friend: Listed,
}

/// `GET /api/friends/requests`.
#[derive(Serialize, ToSchema)]
struct RequestsBody {
    /// Requests other players sent the bearer, by name.
    incoming: Vec<Listed>,
    /// Requests the bearer sent, by name.
    outgoing: Vec<Listed>,
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
    params(("channel" = String, Path, description = "`global`, `match:<matchId>`, `dm:<playerId>` or `tournament:<tournamentId>`"), HistoryQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "a page of the channel's history", body = ChatHistory),
        (status = 400, description = "bad limit or cursor", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "a match or DM channel without a valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "not a member of the match", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such channel or match", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage or game loop unavailable", body = crate::http::openapi::ErrorBody),
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
    if parsed == Channel::Dm(PlayerId(NOWHERE)) {
        let message = format!("no player {}", &channel["dm:".len()..]);
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", message));
    }
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
        Channel::Global | Channel::Tournament(_) => None,
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
                // Every stored line has one (older lines got theirs in migration step 8).
                id: line.id.map(|id| id.to_string()).unwrap_or_default(),
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
    match state
        .ask_tick(crate::social::presence::command(op), answered)
        .await
        .ok()
    {
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
/// Answers whether anything changed.
async fn relate(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    relation: Relation,
    on: bool,
) -> Result<(PlayerInfo, PlayerId, bool), ApiError> {
    let me = bearer(state, headers).await?;
    let other = parse_player(id)?;
    if other == me.id {
        return Err(ApiError::bad_request("that is you"));
    }
    if on {
        // Both rows are needed now (foreign keys): guests are written when first needed.
        state.store_guest(&me).await?;
        if let Some(online) = state.player_online(other) {
            state.store_guest(&online).await?;
        }
    }
    let result = state
        .blocking(move |store| store.set_relation(relation, me.id, other, on))
        .await?;
    match result {
        Ok(changed) => Ok((me, other, changed)),
        Err(arcade_data::DataError::NotFound) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no player {other}"),
        )),
        Err(error) => Err(error.into()),
    }
}

/// `POST /api/players/{id}/friend`: sends a friend request, or accepts the other player's:
/// `{"state": "pending" | "friends", "friend": {"id", "name", "guest", "presence"?}}`. The
/// other player's connections get `friend.request` (a new request) or `friend.accepted` (a
/// request of theirs accepted), both `{"from": {"id", "name"}}`. A request to a player who
/// blocks the bearer answers `pending` and is dropped (the block is not revealed).
#[utoipa::path(
    post, path = "/api/players/{id}/friend", tag = "social",
    params(("id" = String, Path, description = "a player id, `p_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "a request sent (`pending`) or accepted (`friends`); asking twice is fine", body = FriendBody),
        (status = 400, description = "the bearer's own id", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn add_friend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<FriendBody>, ApiError> {
    let (me, friend, changed) = relate(&state, &headers, &id, Relation::Friend, true).await?;
    let my_id = me.id;
    let (row, mutual) = state
        .blocking(move |store| {
            let row = store.get_player(friend)?;
            let mutual = store.has_relation(Relation::Friend, my_id, friend)?;
            Ok::<_, arcade_data::DataError>((row, mutual))
        })
        .await??;
    let row = row.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no player {id}"),
        )
    })?;
    if changed {
        let kind = if mutual {
            "friend.accepted"
        } else {
            "friend.request"
        };
        let event = Envelope::event(kind, json!({"from": Who::from(&me)}));
        state.hub.send_to_players(&event, &[friend]);
    }
    let friend_state = if mutual {
        FriendState::Friends
    } else {
        FriendState::Pending
    };
    match listed(&state, vec![row], mutual).await.pop() {
        Some(friend) => Ok(Json(FriendBody {
            state: friend_state,
            friend,
        })),
        None => Err(ApiError::internal("the friend vanished")),
    }
}

/// `DELETE /api/players/{id}/friend`: `{"ok": true}`: ends a friendship, withdraws the
/// bearer's request or declines the other's (also when there was none).
#[utoipa::path(
    delete, path = "/api/players/{id}/friend", tag = "social",
    params(("id" = String, Path, description = "a player id, `p_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "no longer friends, no request either way (also when there was none)", body = crate::http::openapi::OkBody),
        (status = 400, description = "the bearer's own id", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
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
        (status = 200, description = "blocked: their DMs, invitations and friend requests never arrive; friendship and requests both ways are gone", body = crate::http::openapi::OkBody),
        (status = 400, description = "the bearer's own id", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
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
        (status = 200, description = "unblocked (also when not blocked)", body = crate::http::openapi::OkBody),
        (status = 400, description = "the bearer's own id", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such player", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
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

/// `GET /api/friends`: the bearer's friends (requests accepted) with their presence, by name.
#[utoipa::path(
    get, path = "/api/friends", tag = "social",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the bearer's friends with their presence, by name", body = FriendsBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
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

/// `GET /api/friends/requests`: the pending friend requests to and from the bearer.
#[utoipa::path(
    get, path = "/api/friends/requests", tag = "social",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "pending requests, incoming and outgoing, each by name", body = RequestsBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn friend_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RequestsBody>, ApiError> {
    let me = bearer(&state, &headers).await?;
    let (incoming, outgoing) = state
        .blocking(move |store| store.friend_requests(me.id))
        .await??;
    Ok(Json(RequestsBody {
        incoming: listed(&state, incoming, false).await,
        outgoing: listed(&state, outgoing, false).await,
    }))
}

/// `GET /api/blocks`: the players the bearer blocks, by name.
#[utoipa::path(
    get, path = "/api/blocks", tag = "social",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the players the bearer blocks, by name", body = BlockedBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
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
    fn every_social_route_is_in_the_openapi_description() {
        let doc = SocialApi::openapi();
        for path in [
            "/api/chat/{channel}",
            "/api/players/{id}/friend",
            "/api/players/{id}/block",
            "/api/friends",
            "/api/friends/requests",
            "/api/blocks",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path}");
        }
    }
}
