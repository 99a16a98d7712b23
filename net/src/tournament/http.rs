//! The tournament routes (tokio threads): `POST /api/tournaments`, `GET /api/tournaments`
//! (paged), `GET /api/tournaments/{id}`, and the bearer's `register`, `unregister`, `checkin`,
//! and the host's `start` and `cancel` (PROTOCOL.md "Tournaments").

use arcade_data::Cursor;
use arcade_data::tournaments::TournamentFilter;
use arcade_systems::model::{Game, TournamentId};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::book::{
    CreateRequest, EntrantView, PairingView, StandingView, Status, Tournament, TournamentSummary,
    TournamentView, Who,
};
use super::service;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::wire::protocol::PlayerInfo;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tournaments", get(list).post(create))
        .route("/api/tournaments/{id}", get(get_one))
        .route("/api/tournaments/{id}/register", post(register))
        .route("/api/tournaments/{id}/unregister", post(unregister))
        .route("/api/tournaments/{id}/checkin", post(checkin))
        .route("/api/tournaments/{id}/start", post(start))
        .route("/api/tournaments/{id}/cancel", post(cancel))
}

/// The OpenAPI description of these routes.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, get_one, register, unregister, checkin, start, cancel),
    components(schemas(
        CreateRequest,
        RegisterRequest,
        TournamentView,
        TournamentSummary,
        TournamentPage,
        EntrantView,
        PairingView,
        StandingView,
        Who,
        Status
    ))
)]
pub struct TournamentsApi;

/// The largest request body the routes read.
const MAX_BODY_BYTES: usize = 4096;

/// A JSON body (empty reads as `{}`), or 400.
fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::bad_request(format!(
            "the body is over {MAX_BODY_BYTES} bytes"
        )));
    }
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

async fn bearer(state: &AppState, headers: &HeaderMap) -> Result<PlayerInfo, ApiError> {
    crate::http::accounts::authenticated(state, headers)
        .await
        .map(|(player, _)| player)
}

/// The bearer (or 401) and the path's tournament id (or 404).
async fn bearer_and_id(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(PlayerInfo, TournamentId), ApiError> {
    Ok((bearer(state, headers).await?, tournament_id(id)?))
}

/// A tournament id of the path; one that is malformed names nothing (404).
fn tournament_id(text: &str) -> Result<TournamentId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no tournament {text}"),
        )
    })
}

/// Creates a tournament hosted by the bearer, in `registration`.
#[utoipa::path(
    post, path = "/api/tournaments", tag = "tournaments",
    request_body = CreateRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "the tournament", body = TournamentView),
        (status = 400, description = "invalid body: unknown game, mode or format, cap outside 2..=256, a start in the past, bad options", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<TournamentView>), ApiError> {
    let host = bearer(&state, &headers).await?;
    let request: CreateRequest = json_body(&body)?;
    let view = service::create(&state, &host, request).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Query of `GET /api/tournaments`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `registration`, `checkin`, `running`, `finished` or `cancelled` (empty: all).
    #[param(pattern = "^(registration|checkin|running|finished|cancelled)?$")]
    pub status: Option<String>,
    /// `pong` or `breakout` (empty: every game).
    #[param(pattern = "^(pong|breakout)?$")]
    pub game: Option<String>,
    /// 1..=100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    #[param(pattern = "^c[1-9a-f][0-9a-f]{0,14}$")]
    pub before: Option<String>,
}

/// `GET /api/tournaments`.
#[derive(Serialize, ToSchema)]
pub struct TournamentPage {
    pub tournaments: Vec<TournamentSummary>,
    /// The `before` of the next (older) page; null on the last.
    pub next: Option<String>,
}

/// Tournaments, newest first, by pages with a stable cursor.
#[utoipa::path(
    get, path = "/api/tournaments", tag = "tournaments",
    params(ListQuery),
    responses(
        (status = 200, body = TournamentPage),
        (status = 400, description = "bad status, game, limit or cursor", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<TournamentPage>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            Status::parse(text)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "status must be registration, checkin, running, finished or cancelled, not {text:?}"
                    ))
                })?
                .as_str()
                .to_owned(),
        ),
    };
    let game = match query.game.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<Game>()
                .map_err(|_| {
                    ApiError::bad_request(format!("game must be pong or breakout, not {text:?}"))
                })?
                .as_str()
                .to_owned(),
        ),
    };
    let max = arcade_data::MAX_PAGE_LIMIT;
    let limit = match query.limit.as_deref() {
        None | Some("") => arcade_data::DEFAULT_PAGE_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be 1..={max}")))?,
    };
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<Cursor>()
                .map_err(|_| ApiError::bad_request("before is not a cursor from `next`"))?,
        ),
    };
    let filter = TournamentFilter {
        status,
        game,
        limit,
        before,
    };
    let page = state
        .blocking(move |store| store.list_tournaments(&filter))
        .await??;
    let mut tournaments = Vec::with_capacity(page.tournaments.len());
    for stored in page.tournaments {
        let entrants = stored.entrant_count;
        match Tournament::from_stored(stored) {
            Ok(tournament) => {
                let mut summary = tournament.summary();
                summary.entrants = entrants;
                tournaments.push(summary);
            }
            Err(error) => tracing::error!(%error, "a stored tournament could not be read"),
        }
    }
    Ok(Json(TournamentPage {
        tournaments,
        next: page.next.map(|cursor| cursor.to_string()),
    }))
}

/// One tournament: its players, every match with its result and live match id, standings.
#[utoipa::path(
    get, path = "/api/tournaments/{id}", tag = "tournaments",
    params(("id" = String, Path, description = "a tournament id, `t_` and 16 hex digits")),
    responses(
        (status = 200, body = TournamentView),
        (status = 404, description = "no such tournament", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TournamentView>, ApiError> {
    let id = tournament_id(&id)?;
    service::view(&state, id).await.map(Json)
}

/// `POST /api/tournaments/{id}/register`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The name shown in the bracket, 1..=24 characters (default: the player's name).
    #[serde(default)]
    pub alias: Option<String>,
}

/// Signs the bearer up (during registration or check-in).
#[utoipa::path(
    post, path = "/api/tournaments/{id}/register", tag = "tournaments",
    params(("id" = String, Path, description = "a tournament id, `t_` and 16 hex digits")),
    request_body(content = Option<RegisterRequest>, description = "optional; `{}` or empty for no alias"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the tournament", body = TournamentView),
        (status = 400, description = "invalid body or alias", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such tournament", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "registered already, full, the alias taken, or registration closed", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn register(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TournamentView>, ApiError> {
    let (player, id) = bearer_and_id(&state, &headers, &id).await?;
    let request: RegisterRequest = json_body(&body)?;
    service::register(&state, id, &player, request.alias)
        .await
        .map(Json)
}

/// Leaves: before the start the sign-up goes; while running, the bearer forfeits the rest.
#[utoipa::path(
    post, path = "/api/tournaments/{id}/unregister", tag = "tournaments",
    params(("id" = String, Path, description = "a tournament id, `t_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the tournament", body = TournamentView),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such tournament, or not registered", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "the tournament is over, or the bearer left already", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn unregister(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TournamentView>, ApiError> {
    let (player, id) = bearer_and_id(&state, &headers, &id).await?;
    service::unregister(&state, id, player.id).await.map(Json)
}

/// Checks the bearer in (during check-in only; again is fine).
#[utoipa::path(
    post, path = "/api/tournaments/{id}/checkin", tag = "tournaments",
    params(("id" = String, Path, description = "a tournament id, `t_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the tournament", body = TournamentView),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such tournament, or not registered", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "check-in is not open", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn checkin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TournamentView>, ApiError> {
    let (player, id) = bearer_and_id(&state, &headers, &id).await?;
    service::checkin(&state, id, player.id).await.map(Json)
}

/// Starts the tournament now (host only): seeds the players, creates the first round's
/// matches.
#[utoipa::path(
    post, path = "/api/tournaments/{id}/start", tag = "tournaments",
    params(("id" = String, Path, description = "a tournament id, `t_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the tournament, running", body = TournamentView),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "the bearer is not the host", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such tournament", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "started or over already, or fewer than 2 players", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TournamentView>, ApiError> {
    let (player, id) = bearer_and_id(&state, &headers, &id).await?;
    service::start(&state, id, player.id).await.map(Json)
}

/// Cancels the tournament (host only).
#[utoipa::path(
    post, path = "/api/tournaments/{id}/cancel", tag = "tournaments",
    params(("id" = String, Path, description = "a tournament id, `t_` and 16 hex digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the tournament, cancelled", body = TournamentView),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "the bearer is not the host", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no such tournament", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "the tournament is over already", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TournamentView>, ApiError> {
    let (player, id) = bearer_and_id(&state, &headers, &id).await?;
    service::cancel(&state, id, player.id).await.map(Json)
}
