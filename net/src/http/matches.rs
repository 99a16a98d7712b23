//! `/api/matches`, `/api/matches/live` and `/api/matches/{id}` (tokio threads): finished matches
//! from the store, live ones asked of the tick thread.

use arcade_systems::model::{Game, MatchId, PlayerId};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::http::error::ApiError;
use crate::state::AppState;
use crate::wire::protocol::{NOWHERE, opaque_id};

/// The match routes, merged into the router by `http::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/matches", get(list_matches))
        .route("/api/matches/live", get(live_matches))
        .route("/api/matches/{id}", get(get_match))
}

/// Query of `GET /api/matches`.
#[derive(Deserialize)]
struct MatchesQuery {
    game: Option<String>,
    player: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

pub const DEFAULT_PAGE: u32 = 20;

pub const MAX_PAGE: u32 = 100;

async fn list_matches(
    State(state): State<AppState>,
    Query(query): Query<MatchesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let game = parse_game(query.game.as_deref())?;
    let player = match query.player.as_deref() {
        None | Some("") => None,
        // Ids are opaque: one that names nothing filters everything out.
        Some(text) => Some(opaque_id(text, PlayerId(NOWHERE))),
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be 1..={MAX_PAGE}")))?,
    };
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<arcade_data::Cursor>()
                .map_err(|_| ApiError::bad_request("before is not a cursor from `next`"))?,
        ),
    };
    let filter = arcade_data::MatchFilter {
        game,
        player,
        limit,
        before,
    };
    let page = state
        .blocking(move |store| store.list_matches(&filter))
        .await??;
    Ok(Json(json!({
        "matches": page.matches,
        "next": page.next.map(|cursor| cursor.to_string()),
    })))
}

fn parse_game(text: Option<&str>) -> Result<Option<Game>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => text.parse::<Game>().map(Some).map_err(|_| {
            ApiError::bad_request(format!("game must be pong or breakout, not {text:?}"))
        }),
    }
}

async fn get_match(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<arcade_data::StoredMatch>, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no match {id}"));
    let match_id = id.parse::<MatchId>().map_err(|_| not_found())?;
    let record = state
        .blocking(move |store| store.get_match(match_id))
        .await??;
    record.map(Json).ok_or_else(not_found)
}

#[derive(Deserialize)]
struct LiveQuery {
    game: Option<String>,
}

async fn live_matches(
    State(state): State<AppState>,
    Query(query): Query<LiveQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let game = parse_game(query.game.as_deref())?;
    let listed = state.live_matches(game).await?;
    Ok(Json(json!({"matches": listed})))
}
