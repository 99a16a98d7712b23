//! The HTTP edge (tokio threads): the router of every route in PROTOCOL.md "HTTP", request
//! counting and ids, and the small handlers (seed routes, `/health`, `/metrics`). Each folder
//! of the crate that serves routes hands its own `Router` here.

use crate::clock::TICK_ALIVE_WITHIN;
use crate::state::AppState;

pub mod accounts;
pub mod error;
pub mod guard;
pub mod hash_pool;
pub mod manage;
pub mod matches;
pub mod moderation;
pub mod openapi;
pub mod ops;
pub mod players;
pub mod replays;
pub mod social;

use crate::http::error::ApiError;
use crate::wire::codec::Codec;
use crate::ws::session::ConnectParams;
use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::services::ServeDir;

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let api = Router::new()
        .route("/api/visits", get(get_visits))
        .route("/api/visit", post(post_visit))
        .route("/api/users/ping", get(ping))
        .route("/api/games/ping", get(ping))
        .route("/api/chat/ping", get(ping))
        .route("/api/tournaments/ping", get(ping))
        .merge(matches::routes())
        .merge(replays::routes())
        // accounts, players and leaderboard, the OpenAPI document (each module's own routes)
        .merge(crate::http::accounts::routes(state.clone()))
        .merge(crate::http::players::routes())
        .merge(crate::http::openapi::routes())
        .merge(social::routes())
        // roles, moderation, reports, audit, backup (issue 14)
        .merge(moderation::routes())
        .merge(crate::tournament::http::routes())
        .route("/api/{*rest}", axum::routing::any(not_found))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/health/details", get(crate::http::ops::health_details))
        .route("/ws", get(websocket));
    let assets = ServeDir::new(&state.config.assets)
        .not_found_service(axum::routing::any(not_found).with_state(()));
    crate::http::ops::apply(api.fallback_service(assets), &state)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(
            x_request_id,
            NewRequestId::default(),
        ))
        .with_state(state)
}

/// Makes request ids for requests that come without one.
#[derive(Clone, Default)]
struct NewRequestId {
    next: Arc<AtomicU64>,
}

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-{n:x}", rand::random::<u32>());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Counts every request by method, route pattern and status.
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "/*static".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [method.as_str(), route.as_str(), status.as_str()];
    state.metrics.http_requests.with_label_values(&labels).inc();
    state
        .metrics
        .http_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn ping() -> Json<serde_json::Value> {
    Json(json!({"ok": true}))
}

async fn get_visits(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let total = state.blocking(|store| store.visits()).await??;
    Ok(Json(json!({"total": total})))
}

async fn post_visit(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let total = state.blocking(|store| store.increment_visits()).await??;
    Ok(Json(json!({"ok": true, "total": total})))
}

async fn health(State(state): State<AppState>) -> Response {
    let ticking = state.clock.since_last_tick() < TICK_ALIVE_WITHIN;
    let database = state.blocking(|store| store.ping()).await.unwrap_or(false);
    // In a cluster, Redis answering the last heartbeat; always true when running alone.
    let redis = state.cluster.as_ref().is_none_or(|cluster| cluster.is_up());
    if ticking && database && redis {
        return Json(json!({"status": "ok"})).into_response();
    }
    let message = match (ticking, database) {
        (false, false) => "the tick loop and the database are down",
        (false, true) => "the tick loop is not ticking",
        (true, false) => "the database does not answer",
        (true, true) => "Redis does not answer: this instance is cut off from its cluster",
    };
    let mut body = json!({
        "status": "unavailable",
        "tick": ticking,
        "database": database,
        "error": {"code": "unavailable", "message": message},
    });
    if state.cluster.is_some() {
        body["redis"] = json!(redis);
    }
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.db.record(&state.store);
    let body = state.metrics.render();
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

/// Query of `GET /ws`.
#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
    codec: Option<String>,
}

/// `GET /ws`: reads the query, checks the WebSocket handshake (400 when it is not one), takes
/// one of the address's connection slots (429 when it holds `--ws-per-address` already), then
/// hands the upgrade to the WebSocket transport. The upgrade rate (`--ws-upgrades`) is checked
/// before, with the other rate limits.
async fn websocket(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let accept = crate::ws::accept_key(request.headers())?;
    let address = accounts::client_address(
        state.config.ops.trust_forwarded_for,
        request.headers(),
        request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>(),
    )
    .unwrap_or(crate::limits::UNKNOWN_ADDRESS);
    let Some(slot) = state.limits.open_connection(address) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "at most {} open connections per address",
                state.config.ops.abuse.ws_per_address
            ),
        ));
    };
    let compact = query.codec.as_deref() == Some("compact");
    let codec = match query.codec.as_deref() {
        None | Some("") => None,
        Some("compact") => Some(Codec::Msgpack),
        Some(name) => Some(Codec::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "codec must be json, msgpack or compact, not {name:?}"
            ))
        })?),
    };
    let params = ConnectParams {
        token: query.token.filter(|t| !t.is_empty()),
        codec,
        address,
        compact,
    };
    Ok(crate::ws::upgrade(request, accept, state, params, slot))
}
