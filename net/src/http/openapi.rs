//! `/api/openapi.json`, generated from the handlers (tokio threads).
//!
//! `GET /api/openapi.json`: the OpenAPI 3.1 document of every `/api` route, generated with
//! utoipa from the handlers' `#[utoipa::path]` attributes and the response types.
//!
//! Each module that serves `/api` routes describes them in its own `#[derive(OpenApi)]`
//! struct; [`document`] merges them (**register new modules there**). The routes that
//! `app.rs` serves (the ◆ seed routes and the match history) are described here by
//! description-only functions that mirror their handlers, with schema types that mirror the
//! store's wire shapes (`arcade_data` has no utoipa dependency).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::state::AppState;

/// The document, with every module's routes merged in.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = CoreApi::openapi();
    // ---- every module with `/api` routes registers its description here ----
    doc.merge(crate::http::accounts::AccountsApi::openapi());
    doc.merge(crate::http::manage::ManageApi::openapi());
    doc.merge(crate::http::players::PlayersApi::openapi());
    doc.merge(crate::http::social::SocialApi::openapi());
    doc.merge(crate::http::replays::ReplaysApi::openapi());
    doc.merge(crate::http::moderation::ModerationApi::openapi());
    doc.merge(crate::tournament::http::TournamentsApi::openapi());
    doc
}

/// The route serving the document.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(serve))
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_json()
        .unwrap_or_else(|error| format!(r#"{{"error": "{error}"}}"#))
});

async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT_JSON.as_str(),
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "arcade",
        description = "The HTTP API of the arcade game server (PROTOCOL.md \"HTTP\"). Errors are \
            `{\"error\": {\"code\", \"message\"}}`; tokens go in `Authorization: Bearer`.",
        version = "1"
    ),
    paths(
        visits, visit, users_ping, games_ping, chat_ping, tournaments_ping, openapi_json,
        list_matches, live_matches, get_match
    ),
    components(schemas(
        ErrorBody, ErrorDetail, OkBody, TotalBody, VisitBody, MatchRecordView, RecordPlayerView,
        TournamentLinkView, MatchOptionsView, MatchPageView, LiveMatchesView, LiveMatchView, SeatedPlayerView
    )),
    modifiers(&BearerAuth)
)]
struct CoreApi;

/// Adds the `bearer` security scheme (the token of `/api/auth/*`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

// ---- shared shapes --------------------------------------------------------------------------

/// The body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `rate_limited`, `too_large`, `internal`, `unavailable`...
    #[schema(example = "not_found")]
    pub code: String,
    /// For humans.
    pub message: String,
}

/// `{"ok": true}`.
#[derive(Serialize, ToSchema)]
pub struct OkBody {
    pub ok: bool,
}

/// ◆ `GET /api/visits`.
#[derive(Serialize, ToSchema)]
pub struct TotalBody {
    pub total: i64,
}

/// ◆ `POST /api/visit`.
#[derive(Serialize, ToSchema)]
pub struct VisitBody {
    pub ok: bool,
    pub total: i64,
}

/// The options a match was played with (defaults filled in).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchOptionsView {
    /// Pong: points to win.
    #[schema(nullable = false)]
    pub score_limit: Option<u32>,
    /// Breakout versus: seconds.
    #[schema(nullable = false)]
    pub time_limit: Option<u32>,
    /// Pong vs_bot: `easy`, `normal` or `hard`.
    #[schema(nullable = false)]
    pub bot: Option<String>,
    /// Absent when false.
    #[schema(nullable = false)]
    pub private: Option<bool>,
}

/// One seat of a finished match.
#[derive(Serialize, ToSchema)]
pub struct RecordPlayerView {
    #[schema(example = "p_000a1b2c3d4e5f60")]
    pub id: String,
    pub name: String,
    /// `left`, `right`, `left_back`, `left_front`, `right_back`, `right_front`, `p1`, `p2`.
    pub seat: String,
    pub score: u32,
    /// `win`, `loss`, `draw`, or `none` (aborted).
    pub result: String,
}

/// A finished match (`GET /api/matches/{id}`, and each item of `GET /api/matches`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchRecordView {
    #[schema(example = "m_000a1b2c3d4e5f60")]
    pub id: String,
    /// `pong` or `breakout`.
    pub game: String,
    /// `1v1`, `2v2`, `vs_bot`, `solo`, `versus`.
    pub mode: String,
    pub options: MatchOptionsView,
    /// Below 2^53.
    pub seed: u64,
    #[schema(example = "2026-11-21T23:45:00.123Z")]
    pub started_at: String,
    #[schema(example = "2026-11-21T23:46:00.000Z")]
    pub ended_at: String,
    pub ticks: u64,
    pub tick_rate: u32,
    /// `score_limit`, `lives`, `cleared`, `time`, `forfeit`, `aborted`.
    pub reason: String,
    /// Whether `GET /api/matches/{id}/replay` plays it (stored with a replay of this server's
    /// game version).
    pub has_replay: bool,
    /// Present only for a match a tournament created (issue 13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tournament: Option<TournamentLinkView>,
    pub players: Vec<RecordPlayerView>,
}

/// The tournament and round a finished match was played in.
#[derive(Serialize, ToSchema)]
pub struct TournamentLinkView {
    #[schema(example = "t_000a1b2c3d4e5f60")]
    pub id: String,
    /// Counted from 1.
    pub round: u32,
}

/// A page of finished matches, newest first.
#[derive(Serialize, ToSchema)]
pub struct MatchPageView {
    pub matches: Vec<MatchRecordView>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next: Option<String>,
}

/// A player in a live match.
#[derive(Serialize, ToSchema)]
pub struct SeatedPlayerView {
    pub id: String,
    pub name: String,
    pub seat: String,
}

/// A live (public) match.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveMatchView {
    pub id: String,
    pub game: String,
    pub mode: String,
    /// `waiting`, `countdown`, `playing`, `paused`.
    pub phase: String,
    pub players: Vec<SeatedPlayerView>,
    pub spectators: u64,
    pub score: Vec<u32>,
    pub started_at: String,
}

/// `GET /api/matches/live`.
#[derive(Serialize, ToSchema)]
pub struct LiveMatchesView {
    pub matches: Vec<LiveMatchView>,
}

/// Query of `GET /api/matches`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct MatchesQueryDoc {
    /// `pong` or `breakout` (empty: every game).
    #[param(pattern = "^(pong|breakout)?$")]
    game: Option<String>,
    /// Only the matches this player (`p_…`) had a seat in.
    #[param(pattern = "^p_[0-9a-f]{16}$")]
    player: Option<String>,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    #[param(pattern = "^c[1-9a-f][0-9a-f]{0,14}$")]
    before: Option<String>,
}

/// Query of `GET /api/matches/live`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct LiveQueryDoc {
    /// `pong` or `breakout` (empty: every game).
    #[param(pattern = "^(pong|breakout)?$")]
    game: Option<String>,
}

// ---- descriptions of the routes app.rs serves -----------------------------------------------

/// ◆ The visit counter.
#[utoipa::path(get, path = "/api/visits", tag = "site",
    responses(
        (status = 200, body = TotalBody),
        (status = 503, description = "storage unavailable", body = ErrorBody)))]
#[allow(dead_code)]
fn visits() {}

/// ◆ Counts a visit.
#[utoipa::path(post, path = "/api/visit", tag = "site",
    responses(
        (status = 200, body = VisitBody),
        (status = 503, description = "storage unavailable", body = ErrorBody)))]
#[allow(dead_code)]
fn visit() {}

/// ◆ Ping.
#[utoipa::path(get, path = "/api/users/ping", tag = "site", responses((status = 200, body = OkBody)))]
#[allow(dead_code)]
fn users_ping() {}

/// ◆ Ping.
#[utoipa::path(get, path = "/api/games/ping", tag = "site", responses((status = 200, body = OkBody)))]
#[allow(dead_code)]
fn games_ping() {}

/// ◆ Ping.
#[utoipa::path(get, path = "/api/chat/ping", tag = "site", responses((status = 200, body = OkBody)))]
#[allow(dead_code)]
fn chat_ping() {}

/// ◆ Ping.
#[utoipa::path(get, path = "/api/tournaments/ping", tag = "site", responses((status = 200, body = OkBody)))]
#[allow(dead_code)]
fn tournaments_ping() {}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "site",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
#[allow(dead_code)]
fn openapi_json() {}

/// Finished matches, newest first, by pages with a stable cursor.
#[utoipa::path(get, path = "/api/matches", tag = "matches",
    params(MatchesQueryDoc),
    responses(
        (status = 200, body = MatchPageView),
        (status = 400, description = "bad game, player, limit or cursor", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody)))]
#[allow(dead_code)]
fn list_matches() {}

/// Live public matches.
#[utoipa::path(get, path = "/api/matches/live", tag = "matches",
    params(LiveQueryDoc),
    responses(
        (status = 200, body = LiveMatchesView),
        (status = 400, description = "bad game", body = ErrorBody),
        (status = 503, description = "the game loop does not answer", body = ErrorBody)))]
#[allow(dead_code)]
fn live_matches() {}

/// One finished match.
#[utoipa::path(get, path = "/api/matches/{id}", tag = "matches",
    params(("id" = String, Path, description = "a match id, `m_` and 16 hex digits")),
    responses(
        (status = 200, body = MatchRecordView),
        (status = 404, description = "no such finished match", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody)))]
#[allow(dead_code)]
fn get_match() {}

/// The paths of the document, for tests: every one with its methods.
pub fn paths() -> BTreeMap<String, Vec<String>> {
    let doc = serde_json::to_value(document()).unwrap_or_default();
    doc["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .map(|(path, item)| {
                    let methods = item
                        .as_object()
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    (path.clone(), methods)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_described() {
        let paths = paths();
        for (path, method) in [
            ("/api/visits", "get"),
            ("/api/visit", "post"),
            ("/api/users/ping", "get"),
            ("/api/games/ping", "get"),
            ("/api/chat/ping", "get"),
            ("/api/tournaments/ping", "get"),
            ("/api/openapi.json", "get"),
            ("/api/auth/guest", "post"),
            ("/api/auth/register", "post"),
            ("/api/auth/login", "post"),
            ("/api/auth/me", "get"),
            ("/api/auth/logout", "post"),
            ("/api/matches", "get"),
            ("/api/matches/live", "get"),
            ("/api/matches/{id}", "get"),
            ("/api/matches/{id}/replay", "get"),
            ("/api/matches/{id}/replay/frames", "get"),
            ("/api/players/{id}", "get"),
            ("/api/leaderboard", "get"),
            ("/api/tournaments", "get"),
            ("/api/tournaments", "post"),
            ("/api/tournaments/{id}", "get"),
            ("/api/tournaments/{id}/register", "post"),
            ("/api/tournaments/{id}/unregister", "post"),
            ("/api/tournaments/{id}/checkin", "post"),
            ("/api/tournaments/{id}/start", "post"),
            ("/api/tournaments/{id}/cancel", "post"),
        ] {
            let methods = paths
                .get(path)
                .unwrap_or_else(|| panic!("{path} in {paths:?}"));
            assert!(methods.iter().any(|m| m == method), "{method} {path}");
        }
        let json = DOCUMENT_JSON.as_str();
        assert!(json.contains("\"openapi\":\"3.1"), "{}", &json[..80]);
        assert!(json.contains("bearer"));
    }
}
