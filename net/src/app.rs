//! The HTTP edge: the shared [`AppState`], the router of every route in PROTOCOL.md "HTTP",
//! and `/ws`. Handlers that touch the database run its blocking calls on tokio's blocking pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arcade_data::Store;
use arcade_systems::model::{Game, MatchId, PlayerId};
use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State, WebSocketUpgrade};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::services::ServeDir;

use crate::auth::Tokens;
use crate::bridge::{Command, LiveMatch};
use crate::codec::Codec;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::protocol::PlayerInfo;
use crate::session::{self, ConnectParams, MAX_MESSAGE_BYTES};

/// Settings of the network layer.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub tick_rate: u32,
    pub assets: PathBuf,
    pub admin_token: Option<String>,
    pub heartbeat: Heartbeat,
    /// Limits, CORS and proxy trust of the HTTP edge.
    pub ops: crate::ops::OpsConfig,
}

/// When a silent connection is pinged, and when it is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Silence before the server sends a WebSocket ping.
    pub idle: Duration,
    /// Further silence after the ping before the connection is dropped.
    pub timeout: Duration,
}

impl Default for Heartbeat {
    /// PROTOCOL.md: a ping after 15 s of silence, dropped 30 s later.
    fn default() -> Self {
        Heartbeat {
            idle: Duration::from_secs(15),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The tick thread's heartbeat, readable from any thread without a lock.
#[derive(Default)]
pub struct ServerClock {
    tick: AtomicU64,
    /// Microseconds since `started` at the end of the last tick.
    last_tick_us: AtomicU64,
    /// Duration of the last tick, in nanoseconds.
    last_tick_ns: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

impl ServerClock {
    pub fn new() -> ServerClock {
        let clock = ServerClock::default();
        let _ = clock.started.set(Instant::now());
        clock
    }

    fn started(&self) -> Instant {
        *self.started.get_or_init(Instant::now)
    }

    /// Called by the tick thread after every tick.
    pub fn ticked(&self, tick: u64, work: Duration) {
        self.tick.store(tick, Ordering::Relaxed);
        self.last_tick_ns
            .store(work.as_nanos() as u64, Ordering::Relaxed);
        let since_start = self.started().elapsed().as_micros() as u64;
        self.last_tick_us.store(since_start, Ordering::Relaxed);
    }

    pub fn tick(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }

    pub fn last_tick_duration(&self) -> Duration {
        Duration::from_nanos(self.last_tick_ns.load(Ordering::Relaxed))
    }

    /// Time since the last tick ended (forever if none has run).
    pub fn since_last_tick(&self) -> Duration {
        let last = self.last_tick_us.load(Ordering::Relaxed);
        if last == 0 {
            return Duration::MAX;
        }
        let now = self.started().elapsed().as_micros() as u64;
        Duration::from_micros(now.saturating_sub(last))
    }

    pub fn uptime(&self) -> Duration {
        self.started().elapsed()
    }
}

/// The tick loop counts as alive while it has ticked within this.
pub const TICK_ALIVE_WITHIN: Duration = Duration::from_secs(1);

/// Everything a handler or a session may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<NetConfig>,
    pub store: Store,
    pub tokens: Tokens,
    pub hub: Arc<Hub>,
    pub commands: crossbeam_channel::Sender<Command>,
    pub clock: Arc<ServerClock>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// The player a token names, when it is well signed and its session is live.
    pub async fn player_of_token(&self, token: &str) -> Option<PlayerInfo> {
        let claims = self.tokens.verify(token)?;
        let store = self.store.clone();
        let session = claims.sid.parse::<arcade_data::SessionId>().ok()?;
        let player = tokio::task::spawn_blocking(move || {
            if !store.session_valid(session, claims.sub).unwrap_or(false) {
                return None;
            }
            store.get_player(claims.sub).ok().flatten()
        })
        .await
        .ok()??;
        Some(PlayerInfo {
            id: player.id,
            name: player.name,
            guest: player.guest,
        })
    }

    /// Creates a guest with a session and returns it with its token.
    pub async fn new_guest(&self) -> Result<(PlayerInfo, String), ApiError> {
        let store = self.store.clone();
        let (player, session) = tokio::task::spawn_blocking(move || {
            let name = format!("guest-{:04}", rand::random_range(0..10_000u32));
            let player = store.create_guest(&name)?;
            let session = store.create_session(player.id)?;
            Ok::<_, arcade_data::DataError>((player, session))
        })
        .await
        .map_err(|_| ApiError::internal("guest creation failed"))??;
        let token = self.tokens.issue(player.id, &session.to_string());
        Ok((
            PlayerInfo {
                id: player.id,
                name: player.name,
                guest: player.guest,
            },
            token,
        ))
    }

    /// Runs a blocking store call off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|_| ApiError::internal("storage task failed"))
    }
}

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
        .route("/api/matches", get(list_matches))
        .route("/api/matches/live", get(live_matches))
        .route("/api/matches/{id}", get(get_match))
        // accounts, players and leaderboard, the OpenAPI document (each module's own routes)
        .merge(crate::accounts::routes(state.clone()))
        .merge(crate::players::routes())
        .merge(crate::openapi::routes())
        .merge(crate::social::routes())
        .route("/api/{*rest}", axum::routing::any(not_found))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/health/details", get(crate::ops::health_details))
        .route("/ws", get(websocket));
    let assets = ServeDir::new(&state.config.assets)
        .not_found_service(axum::routing::any(not_found).with_state(()));
    crate::ops::apply(api.fallback_service(assets), &state)
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
    if ticking && database {
        return Json(json!({"status": "ok"})).into_response();
    }
    let message = match (ticking, database) {
        (false, false) => "the tick loop and the database are down",
        (false, true) => "the tick loop is not ticking",
        _ => "the database does not answer",
    };
    let body = json!({
        "status": "unavailable",
        "tick": ticking,
        "database": database,
        "error": {"code": "unavailable", "message": message},
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render();
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
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
        Some(text) => Some(text.parse::<PlayerId>().map_err(|_| {
            ApiError::bad_request(format!("player must be a player id like p_…, not {text:?}"))
        })?),
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
    let (reply, answer) = tokio::sync::oneshot::channel::<Vec<LiveMatch>>();
    state
        .commands
        .send(Command::ListLive { game, reply })
        .map_err(|_| ApiError::unavailable("the game loop is not running"))?;
    let matches = tokio::time::timeout(Duration::from_secs(2), answer)
        .await
        .map_err(|_| ApiError::unavailable("the game loop did not answer"))?
        .map_err(|_| ApiError::unavailable("the game loop is not running"))?;
    Ok(Json(json!({"matches": matches})))
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
    codec: Option<String>,
}

/// A connection's WebSocket read buffer, allocated up front (tungstenite's default is 128 KiB,
/// which made an idle connection cost ~170 KiB; BENCHMARKS.md "Connections"). Client messages
/// are small (inputs, chat) and a larger one is still read, in more than one go.
const WS_READ_BUFFER_BYTES: usize = 4 * 1024;
/// Frames fed to the socket are written once this much is buffered (and at every flush); the
/// buffer grows only as needed.
const WS_WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// The most the write buffer may hold (the writer flushes after each batch, so it stays near
/// [`WS_WRITE_BUFFER_BYTES`] plus one frame).
const WS_MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

async fn websocket(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let codec = match query.codec.as_deref() {
        None | Some("") => None,
        Some(name) => Some(Codec::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!("codec must be json or msgpack, not {name:?}"))
        })?),
    };
    let params = ConnectParams {
        token: query.token.filter(|t| !t.is_empty()),
        codec,
    };
    Ok(upgrade
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(WS_WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session::run(socket, state, params)))
}
