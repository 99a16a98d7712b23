//! `GET /api/matches/{id}/replay` and `GET /api/matches/{id}/replay/frames` (tokio threads;
//! the store read and the frames' simulation run on tokio's blocking pool): a finished
//! match's replay (PROTOCOL.md "Replays"), and the `state` frames the server renders from it.

use std::ops::ControlFlow;

use arcade_data::StoredMatch;
use arcade_systems::model::{MatchId, PlayerRef};
use arcade_systems::replay::{self, GAME_VERSION, Replay, ReplayError};
use arcade_systems::view::serialize_state;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::http::error::ApiError;
use crate::http::openapi::{ErrorBody, MatchRecordView};
use crate::state::AppState;

/// The most frames one `replay/frames` response holds.
pub const MAX_FRAMES: u64 = 3600;
/// The largest `step` of `replay/frames` (one frame every `step` ticks).
pub const MAX_FRAME_STEP: u64 = 600;

/// The replay routes, merged into the router by `http::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/matches/{id}/replay", get(get_replay))
        .route("/api/matches/{id}/replay/frames", get(get_frames))
}

/// The description of the replay routes for `/api/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    paths(get_replay, get_frames),
    components(schemas(ReplayView, ReplayPlayerView, FramesView))
)]
pub struct ReplaysApi;

/// `GET /api/matches/{id}/replay`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayView {
    /// The finished match, as `GET /api/matches/{id}` gives it.
    #[serde(rename = "match")]
    #[schema(value_type = MatchRecordView)]
    pub record: StoredMatch,
    /// The rules' version it was recorded under (the server's own: others are 410).
    pub game_version: u32,
    /// The server's reconnect grace in ticks when it was recorded.
    pub reconnect_grace_ticks: u64,
    /// Everyone who sat down, in order of first join: the log names them by index.
    pub players: Vec<ReplayPlayerView>,
    /// The state hash at the end (PROTOCOL.md "Replays"), 16 hex digits.
    #[schema(example = "8f3a00001234abcd")]
    pub final_hash: String,
    /// The log's bytes (PROTOCOL.md "Replays"), base64 (standard alphabet, padded).
    pub log: String,
    /// The log's length in bytes.
    pub log_bytes: usize,
}

/// A player of a replay.
#[derive(Serialize, ToSchema)]
pub struct ReplayPlayerView {
    #[schema(example = "p_000a1b2c3d4e5f60")]
    pub id: String,
    pub name: String,
}

/// `GET /api/matches/{id}/replay/frames`: `frames` are the `data` of `state` messages
/// (PROTOCOL.md "state"), in tick order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FramesView {
    pub match_id: String,
    /// The ticks the match lasted: the last frame's tick.
    pub ticks: u64,
    pub tick_rate: u32,
    pub from: u64,
    pub to: u64,
    pub step: u64,
    /// `state` data objects, exactly as the live match sent them (acks included).
    #[schema(value_type = Vec<Object>)]
    pub frames: Vec<serde_json::Value>,
}

/// Query of `replay/frames`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FramesQuery {
    /// First tick (default 0).
    from: Option<u64>,
    /// Last tick (default: `from + 3600 × step`, at most that many frames, and the match's end);
    /// one below `from` is read as `from`.
    to: Option<u64>,
    /// One frame every `step` ticks, 1..=600 (default 1); the last tick is always included.
    #[param(minimum = 1, maximum = 600)]
    step: Option<u64>,
}

/// One finished match's replay.
#[utoipa::path(get, path = "/api/matches/{id}/replay", tag = "matches",
    params(("id" = String, Path, description = "a match id, `m_` and 16 hex digits")),
    responses(
        (status = 200, body = ReplayView),
        (status = 404, description = "no such finished match", body = ErrorBody),
        (status = 410, description = "the match has no replay: stored before replays existed, \
            or recorded under another game version", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody)))]
async fn get_replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (record, replay) = load(&state, &id).await?;
    let view = ReplayView {
        record,
        game_version: replay.game_version,
        reconnect_grace_ticks: replay.reconnect_grace_ticks,
        players: replay
            .players
            .iter()
            .map(|PlayerRef { id, name }| ReplayPlayerView {
                id: id.to_string(),
                name: name.clone(),
            })
            .collect(),
        final_hash: format!("{:016x}", replay.final_hash),
        log: base64::engine::general_purpose::STANDARD.encode(&replay.log),
        log_bytes: replay.log.len(),
    };
    Ok(axum::Json(view).into_response())
}

/// Frames of a replay, rendered by the server's own simulation.
#[utoipa::path(get, path = "/api/matches/{id}/replay/frames", tag = "matches",
    params(("id" = String, Path, description = "a match id, `m_` and 16 hex digits"), FramesQuery),
    responses(
        (status = 200, body = FramesView),
        (status = 400, description = "bad from, to or step", body = ErrorBody),
        (status = 404, description = "no such finished match", body = ErrorBody),
        (status = 410, description = "the match has no playable replay", body = ErrorBody),
        (status = 500, description = "the replay does not play (a determinism bug)", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody)))]
async fn get_frames(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<FramesQuery>,
) -> Result<Response, ApiError> {
    let step = query.step.unwrap_or(1);
    if !(1..=MAX_FRAME_STEP).contains(&step) {
        return Err(ApiError::bad_request(format!(
            "step must be 1..={MAX_FRAME_STEP}"
        )));
    }
    let from = query.from.unwrap_or(0);
    let to = query
        .to
        .unwrap_or(u64::MAX)
        .min(from.saturating_add(step * (MAX_FRAMES - 1)))
        .max(from);
    let (record, replay) = load(&state, &id).await?;
    let body = state
        .blocking(move |_| render_frames(&record, &replay, from, to, step))
        .await??;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The stored match and its playable replay; 404 or 410 otherwise.
async fn load(state: &AppState, id: &str) -> Result<(StoredMatch, Replay), ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no match {id}"));
    let match_id = id.parse::<MatchId>().map_err(|_| not_found())?;
    let found = state
        .blocking(move |store| store.get_replay(match_id))
        .await??;
    let (record, replay) = found.ok_or_else(not_found)?;
    let gone = |message: String| ApiError::new(StatusCode::GONE, "replay_unavailable", message);
    let replay = replay.ok_or_else(|| {
        gone(format!(
            "match {id} has no replay: it was stored before replays were recorded"
        ))
    })?;
    if replay.game_version != GAME_VERSION {
        return Err(gone(format!(
            "the replay of match {id} was recorded under game version {}; this server plays \
             version {GAME_VERSION} and cannot replay it faithfully",
            replay.game_version
        )));
    }
    Ok((record, replay))
}

/// Plays the replay and writes the frames of ticks `from..=to` (every `step`th, and the last
/// tick of the match) as the JSON body of [`FramesView`].
pub fn render_frames(
    record: &StoredMatch,
    replay: &Replay,
    from: u64,
    to: u64,
    step: u64,
) -> Result<Vec<u8>, ApiError> {
    let ticks = record.ticks;
    let last = to.min(ticks);
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(
        format!(
            r#"{{"matchId":"{}","ticks":{ticks},"tickRate":{},"from":{from},"to":{last},"step":{step},"frames":["#,
            record.id, record.tick_rate
        )
        .as_bytes(),
    );
    // Where the last frame written starts, and its tick: a match that ends between steps
    // (a leave) steps once more at the same tick, and that later frame replaces it.
    let mut previous: Option<(usize, u64)> = None;
    let mut failed = None;
    let played = replay::play(&record.replay_header(), replay, |world, game| {
        let tick = world
            .get::<arcade_systems::components::MatchClock>(game)
            .map_or(0, |clock| clock.tick);
        if tick > last {
            return ControlFlow::Break(());
        }
        let wanted = tick >= from && ((tick - from).is_multiple_of(step) || tick == ticks);
        if wanted {
            match previous {
                Some((start, at)) if at == tick => body.truncate(start),
                Some(_) => body.push(b','),
                None => {}
            }
            previous = Some((body.len(), tick));
            let mut out = serde_json::Serializer::new(&mut body);
            if let Err(error) = serialize_state(world, game, &mut out) {
                failed = Some(error.to_string());
                return ControlFlow::Break(());
            }
        }
        // The end's own tick may come twice: play on to the end then.
        if tick == last && last < ticks {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Some(error) = failed {
        return Err(ApiError::internal(format!("a frame failed: {error}")));
    }
    match played {
        Ok(_) => {}
        Err(error @ ReplayError::Version { .. }) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "replay_unavailable",
                error.to_string(),
            ));
        }
        Err(error) => {
            tracing::error!(match_id = %record.id, %error, "a replay does not play");
            return Err(ApiError::internal(format!(
                "the replay does not play: {error}"
            )));
        }
    }
    body.extend_from_slice(b"]}");
    Ok(body)
}
