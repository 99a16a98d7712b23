//! `/api/players/{id}` and `/api/leaderboard` (tokio threads).
//!
//! Players over HTTP: `GET /api/players/{id}` (a profile with per-game statistics and
//! ratings) and `GET /api/leaderboard` (pong by Glicko-2 rating, breakout by best solo
//! score). The numbers come from the store, which keeps them with every match record
//! (`arcade_data::ratings`).

use std::collections::BTreeMap;

use arcade_data::ratings::{DEFAULT_LEADERBOARD_LIMIT, MAX_LEADERBOARD_LIMIT};
use arcade_data::{GameStats, LeaderboardRow};
use arcade_systems::model::{Game, PlayerId};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::http::error::ApiError;
use crate::state::AppState;

/// The players routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/players/{id}", get(get_player))
        .route("/api/leaderboard", get(leaderboard))
}

/// The OpenAPI description of these routes (merged into `/api/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    paths(get_player, leaderboard),
    components(schemas(
        PlayerProfile,
        PlacingView,
        StatsView,
        LeaderboardResponse,
        LeaderboardEntry,
        PlayerRef
    ))
)]
pub struct PlayersApi;

/// One game's numbers for a player.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    /// Finished matches of the game (aborted ones excepted), every mode.
    pub played: u64,
    pub wins: u64,
    pub losses: u64,
    pub draws: u64,
    /// Glicko-2 rating from the rated modes (pong 1v1 and 2v2, breakout versus); 1500 before
    /// the first rated match.
    pub rating: f64,
    /// Glicko-2 rating deviation; 350 before the first rated match.
    pub rd: f64,
    /// How many rated matches the rating is made of.
    pub rated_matches: u64,
    /// Best breakout solo score; null for pong and before the first solo match.
    pub best: Option<u32>,
}

impl From<GameStats> for StatsView {
    fn from(stats: GameStats) -> Self {
        StatsView {
            played: stats.played,
            wins: stats.wins,
            losses: stats.losses,
            draws: stats.draws,
            rating: round2(stats.rating),
            rd: round2(stats.rd),
            rated_matches: stats.rated_matches,
            best: stats.best,
        }
    }
}

/// Ratings to two decimals: enough for people, stable in JSON.
fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// `GET /api/players/{id}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerProfile {
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    pub id: PlayerId,
    pub name: String,
    pub guest: bool,
    /// RFC 3339 UTC with milliseconds.
    #[schema(example = "2026-11-21T23:45:00.123Z")]
    pub created_at: String,
    /// Every game (`pong`, `breakout`), played or not.
    pub stats: BTreeMap<String, StatsView>,
    /// `online`, `in_match` or `offline` (`crate::social`).
    pub presence: crate::social::Status,
    /// The tournaments the player signed up for, newest first (at most 50), with the place.
    pub tournaments: Vec<PlacingView>,
}

/// A player's place in a tournament (issue 13).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacingView {
    #[schema(value_type = String, example = "t_000a1b2c3d4e5f60")]
    pub id: arcade_systems::model::TournamentId,
    pub name: String,
    /// `pong` or `breakout`.
    pub game: String,
    /// `single_elimination`, `round_robin` or `swiss`.
    pub format: String,
    /// `registration`, `checkin`, `running`, `finished` or `cancelled`.
    pub status: String,
    /// 1 for the winner; null until known.
    pub place: Option<u32>,
    /// How many played (or signed up).
    pub entrants: u32,
}

/// A player named in a leaderboard.
#[derive(Serialize, ToSchema)]
pub struct PlayerRef {
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    pub id: PlayerId,
    pub name: String,
    pub guest: bool,
}

/// One place of a leaderboard.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardEntry {
    /// 1 for the top; ties keep the order of their player ids.
    pub rank: u32,
    pub player: PlayerRef,
    #[serde(flatten)]
    pub stats: StatsView,
}

/// `GET /api/leaderboard`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardResponse {
    /// `pong` or `breakout`.
    pub game: String,
    /// What the ranking is by: `rating` (pong) or `best` (breakout).
    pub ranked_by: String,
    pub players: Vec<LeaderboardEntry>,
}

/// Query of `GET /api/leaderboard`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// `pong` (default) or `breakout`.
    #[param(value_type = Option<String>, pattern = "^(pong|breakout)?$")]
    pub game: Option<String>,
    /// 1..=100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A player's profile with per-game statistics.
#[utoipa::path(
    get, path = "/api/players/{id}", tag = "players",
    params(("id" = String, Path, description = "a player id, `p_` and 16 hex digits")),
    responses(
        (status = 200, description = "the player", body = PlayerProfile),
        (status = 404, description = "no such player", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn get_player(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PlayerProfile>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no player {id}"),
        )
    };
    let player_id = id.parse::<PlayerId>().map_err(|_| not_found())?;
    let found = state
        .blocking(move |store| {
            let Some(player) = store.get_player(player_id)? else {
                return Ok(None);
            };
            let stats = store.player_stats(player_id)?;
            let placings = store.placings(player_id)?;
            Ok::<_, arcade_data::DataError>(Some((player, stats, placings)))
        })
        .await??;
    let (player, stats, placings) = found.ok_or_else(not_found)?;
    let presence = crate::social::presence_of(&state, vec![player.id])
        .await
        .pop()
        .unwrap_or(crate::social::Status::Offline);
    Ok(Json(PlayerProfile {
        id: player.id,
        name: player.name,
        guest: player.guest,
        created_at: arcade_data::time::format_rfc3339_ms(player.created_at_ms),
        stats: stats
            .into_iter()
            .map(|(game, stats)| (game.as_str().to_owned(), stats.into()))
            .collect(),
        presence,
        tournaments: placings
            .into_iter()
            .map(|placing| PlacingView {
                id: placing.tournament,
                name: placing.name,
                game: placing.game,
                format: placing.format,
                status: placing.status,
                place: placing.place,
                entrants: placing.entrants,
            })
            .collect(),
    }))
}

/// The best players of a game.
#[utoipa::path(
    get, path = "/api/leaderboard", tag = "players",
    params(LeaderboardQuery),
    responses(
        (status = 200, description = "pong: players with a rated match by rating; breakout: players with a solo score by best score", body = LeaderboardResponse),
        (status = 400, description = "bad game or limit", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn leaderboard(
    State(state): State<AppState>,
    Query(query): Query<LeaderboardQuery>,
) -> Result<Json<LeaderboardResponse>, ApiError> {
    let game = match query.game.as_deref() {
        None | Some("") => Game::Pong,
        Some(text) => text.parse::<Game>().map_err(|_| {
            ApiError::bad_request(format!("game must be pong or breakout, not {text:?}"))
        })?,
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_LEADERBOARD_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_LEADERBOARD_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be 1..={MAX_LEADERBOARD_LIMIT}"))
            })?,
    };
    let rows = state
        .blocking(move |store| store.leaderboard(game, limit))
        .await??;
    Ok(Json(LeaderboardResponse {
        game: game.as_str().to_owned(),
        ranked_by: match game {
            Game::Pong => "rating",
            Game::Breakout => "best",
        }
        .to_owned(),
        players: rows.into_iter().zip(1..).map(entry).collect(),
    }))
}

fn entry((row, rank): (LeaderboardRow, u32)) -> LeaderboardEntry {
    LeaderboardEntry {
        rank,
        player: PlayerRef {
            id: row.player,
            name: row.name,
            guest: row.guest,
        },
        stats: row.stats.into(),
    }
}
