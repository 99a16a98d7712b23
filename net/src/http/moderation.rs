//! The moderation REST routes (tokio threads; issue 14, PROTOCOL.md "Moderation"): roles,
//! message deletion, mutes, bans, reports, the audit log, the online backup and ending a live
//! match.
//!
//! Every route answers in one order: 401 without a valid token, 403 when the bearer's role is
//! too low, 400 for a bad body or query, 404 for an unknown target, 403 when the target's role
//! is not below the bearer's (a moderator acts on players only; an admin on players and
//! moderators), 409 when the target is so already (or is the bearer, for a role). Every action
//! that changes something writes its audit entry in the same savepoint.

use arcade_data::moderation::{
    Applied, AuditEntry, AuditFilter, DEFAULT_MOD_PAGE, MAX_MOD_PAGE, MessageId, ModAction,
    NewReport, ReportId, Role, Sanction, SanctionKind,
};
use arcade_data::{Cursor, DataError};
use arcade_systems::bevy_ecs::prelude::*;
use arcade_systems::model::{MatchId, Phase, PlayerId};
use arcade_systems::{sim, view};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::http::accounts::json_body;
use crate::http::error::ApiError;
use crate::http::openapi::{ErrorBody, OkBody};
use crate::link::{Audience, Command};
use crate::social::chat::{Channel, Who};
use crate::state::AppState;
use crate::wire::protocol::{Envelope, PlayerInfo};

/// The longest mute or timed ban: one year.
pub const MAX_SANCTION_SECONDS: u64 = 365 * 24 * 3600;
/// The longest reason, report or note, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The OpenAPI description of these routes (merged into `/api/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    paths(
        set_role,
        player_moderation,
        mute,
        unmute,
        ban,
        unban,
        delete_message,
        report,
        open_reports,
        resolve_report,
        audit,
        backup,
        abort_match
    ),
    components(schemas(
        RoleBody,
        RoleView,
        MuteBody,
        BanBody,
        SanctionView,
        PlayerModeration,
        ReportBody,
        MessageReport,
        PlayerReport,
        ReportCreated,
        ReportView,
        ReportsPage,
        ResolveBody,
        AuditView,
        AuditPageView,
        BackupView
    ))
)]
pub struct ModerationApi;

/// The moderation routes, merged into the router by `http::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/players/{id}", get(player_moderation))
        .route("/api/admin/players/{id}/role", post(set_role))
        .route("/api/admin/players/{id}/mute", post(mute).delete(unmute))
        .route("/api/admin/players/{id}/ban", post(ban).delete(unban))
        .route(
            "/api/chat/messages/{id}",
            axum::routing::delete(delete_message),
        )
        .route("/api/reports", post(report))
        .route("/api/admin/reports", get(open_reports))
        .route("/api/admin/reports/{id}/resolve", post(resolve_report))
        .route("/api/admin/audit", get(audit))
        .route("/api/admin/backup", post(backup))
        .route("/api/admin/matches/{id}/abort", post(abort_match))
}

// ---- shapes ----------------------------------------------------------------------------------

/// Body of `POST /api/admin/players/{id}/role`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    /// `player` (takes a role away), `moderator` or `admin`.
    #[schema(value_type = String, example = "moderator", pattern = "^(player|moderator|admin)$")]
    role: String,
}

/// A player's role.
#[derive(Serialize, ToSchema)]
struct RoleView {
    player: Who,
    /// `player`, `moderator` or `admin`.
    #[schema(example = "moderator")]
    role: &'static str,
    /// Whether it was another role before.
    changed: bool,
}

/// Body of a mute.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MuteBody {
    /// How long, 1..=31536000 s.
    #[schema(minimum = 1, maximum = 31536000, example = 600)]
    seconds: u64,
    /// 1..=500 characters.
    #[schema(min_length = 1, max_length = 500, example = "spam")]
    reason: String,
}

/// Body of a ban.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BanBody {
    /// How long, 1..=31536000 s; without it, for good.
    #[schema(minimum = 1, maximum = 31536000, example = 86400)]
    seconds: Option<u64>,
    /// 1..=500 characters.
    #[schema(min_length = 1, max_length = 500, example = "cheating")]
    reason: String,
}

/// A mute or a ban in force.
#[derive(Serialize, ToSchema)]
struct SanctionView {
    /// RFC 3339 UTC; `null` for a ban for good.
    #[schema(example = "2026-11-21T23:55:00.000Z")]
    until: Option<String>,
    reason: String,
    /// Who imposed it.
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    by: PlayerId,
    /// RFC 3339 UTC.
    at: String,
}

impl From<Sanction> for SanctionView {
    fn from(sanction: Sanction) -> Self {
        SanctionView {
            until: sanction.until_ms.map(arcade_data::time::format_rfc3339_ms),
            reason: sanction.reason,
            by: sanction.by,
            at: arcade_data::time::format_rfc3339_ms(sanction.at_ms),
        }
    }
}

/// `GET /api/admin/players/{id}`.
#[derive(Serialize, ToSchema)]
struct PlayerModeration {
    player: Who,
    #[schema(example = "player")]
    role: &'static str,
    mute: Option<SanctionView>,
    ban: Option<SanctionView>,
}

/// Body of `POST /api/reports`: a message (its sender is the player reported) or a player.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum ReportBody {
    Message(MessageReport),
    Player(PlayerReport),
}

/// A report of a chat message.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MessageReport {
    /// The reported chat message (`c_…`).
    #[schema(example = "c_0000012a3b4c5d6e")]
    message: String,
    /// 1..=500 characters.
    #[schema(min_length = 1, max_length = 500, example = "insults")]
    reason: String,
}

/// A report of a player.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PlayerReport {
    /// The reported player (`p_…`).
    #[schema(example = "p_000a1b2c3d4e5f60")]
    player: String,
    /// 1..=500 characters.
    #[schema(min_length = 1, max_length = 500, example = "insults")]
    reason: String,
}

/// `201` of `POST /api/reports`.
#[derive(Serialize, ToSchema)]
struct ReportCreated {
    /// `r_` and 16 hex digits.
    #[schema(example = "r_0000000000000001")]
    id: String,
}

/// An open report.
#[derive(Serialize, ToSchema)]
struct ReportView {
    #[schema(example = "r_0000000000000001")]
    id: String,
    reporter: Who,
    player: Who,
    /// The reported message, when a message was reported (even if deleted since).
    message: Option<ReportedMessage>,
    reason: String,
    at: String,
}

/// A reported message as the report shows it.
#[derive(Serialize, ToSchema)]
struct ReportedMessage {
    id: String,
    /// The channel's storage key (`global`, `match:m_…`, `dm:p_…:p_…`).
    channel: String,
    text: String,
    deleted: bool,
}

/// `GET /api/admin/reports`: open reports, oldest first.
#[derive(Serialize, ToSchema)]
struct ReportsPage {
    reports: Vec<ReportView>,
    /// Pass as `after` for the next page; null on the last.
    next: Option<String>,
}

/// Body of `POST /api/admin/reports/{id}/resolve` (may be empty).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// What was done, up to 500 characters.
    #[schema(max_length = 500, example = "message deleted, player muted")]
    note: Option<String>,
}

/// An audit entry.
#[derive(Serialize, ToSchema)]
struct AuditView {
    /// RFC 3339 UTC.
    at: String,
    actor: Who,
    /// `role.set`, `message.delete`, `player.mute`, `player.unmute`, `player.ban`,
    /// `player.unban`, `report.resolve`, `match.abort`, `backup`.
    #[schema(example = "player.ban")]
    action: String,
    /// The id acted on.
    target: Option<String>,
    detail: String,
}

/// `GET /api/admin/audit`: newest first.
#[derive(Serialize, ToSchema)]
struct AuditPageView {
    entries: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; null on the last.
    next: Option<String>,
}

/// `POST /api/admin/backup`.
#[derive(Serialize, ToSchema)]
struct BackupView {
    /// The copy, on the server's disk (a folder `backups` beside the database).
    path: String,
    bytes: u64,
}

/// Query of `GET /api/admin/reports`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportsQuery {
    /// The `next` of the previous page.
    #[param(value_type = Option<String>, pattern = "^c[0-9a-f]{1,16}$")]
    after: Option<String>,
    /// 1..=100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Query of `GET /api/admin/audit`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this actor's entries (`p_…`; an id of nobody matches nothing).
    actor: Option<String>,
    /// Only this action (e.g. `player.ban`).
    action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-21T00:00:00Z")]
    since: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<String>, pattern = "^c[0-9a-f]{1,16}$")]
    before: Option<String>,
    /// 1..=100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

// ---- checks ----------------------------------------------------------------------------------

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

/// A data error, with `NotFound` as 404 `message`.
fn data_error(error: DataError, missing: impl FnOnce() -> String) -> ApiError {
    match error {
        DataError::NotFound => not_found(missing()),
        other => ApiError::from(other),
    }
}

/// The bearer and their role: 401 without a valid token, 403 below `least`.
async fn staff(
    state: &AppState,
    headers: &HeaderMap,
    least: Role,
) -> Result<(PlayerInfo, Role), ApiError> {
    let (me, _) = crate::http::accounts::authenticated(state, headers).await?;
    let role = crate::moderation::role_of(state, &me).await?;
    if role < least {
        return Err(forbidden(format!("this needs the {least} role")));
    }
    Ok((me, role))
}

/// The player `text` names, written first if it is a connected guest not stored yet; 404
/// when nobody.
async fn target(state: &AppState, text: &str) -> Result<PlayerInfo, ApiError> {
    let missing = || not_found(format!("no player {text}"));
    let id: PlayerId = text.parse().map_err(|_| missing())?;
    let stored = state.blocking(move |store| store.get_player(id)).await??;
    match stored {
        Some(row) => Ok(PlayerInfo {
            id: row.id,
            name: row.name,
            guest: row.guest,
        }),
        None => {
            let online = state.hub.player(id).ok_or_else(missing)?;
            state.store_guest(&online).await?;
            Ok(online)
        }
    }
}

/// 403 unless `actor`'s role is above `target`'s.
async fn outrank(state: &AppState, actor: Role, target: &PlayerInfo) -> Result<Role, ApiError> {
    let theirs = crate::moderation::role_of(state, target).await?;
    if theirs >= actor {
        return Err(forbidden(format!(
            "a {actor} cannot act on a {theirs} ({})",
            target.name
        )));
    }
    Ok(theirs)
}

fn reason_of(text: &str) -> Result<String, ApiError> {
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(format!(
            "reason must be 1..={MAX_REASON_CHARS} characters"
        )));
    }
    Ok(text.trim().to_owned())
}

fn entry(me: &PlayerInfo, action: &str, target: String, detail: String) -> AuditEntry {
    AuditEntry {
        actor: me.id,
        actor_name: me.name.clone(),
        action: action.into(),
        target: Some(target),
        detail,
    }
}

/// Runs a moderation write off the async threads.
async fn moderate(
    state: &AppState,
    action: ModAction,
    audit: AuditEntry,
    missing: impl FnOnce() -> String,
) -> Result<Applied, ApiError> {
    state
        .blocking(move |store| store.moderate(action, Some(audit)))
        .await?
        .map_err(|error| data_error(error, missing))
}

fn limit_of(text: Option<&str>) -> Result<u32, ApiError> {
    match text {
        None | Some("") => Ok(DEFAULT_MOD_PAGE),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_MOD_PAGE).contains(limit))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be 1..={MAX_MOD_PAGE}"))),
    }
}

fn cursor_of(text: Option<&str>, name: &str) -> Result<Option<Cursor>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<Cursor>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{name} is not a cursor from `next`"))),
    }
}

const E401: &str = "no valid bearer token";

// ---- roles -----------------------------------------------------------------------------------

/// Grants or takes away a role (admins only). The player's sockets get `role.changed` at once.
#[utoipa::path(
    post, path = "/api/admin/players/{id}/role", tag = "moderation",
    params(("id" = String, Path, description = "the player (`p_…`)")),
    request_body = RoleBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the player's role now", body = RoleView),
        (status = 400, description = "not a role", body = ErrorBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not an admin, or the player is an admin", body = ErrorBody),
        (status = 404, description = "no such player", body = ErrorBody),
        (status = 409, description = "the bearer's own role", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn set_role(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RoleView>, ApiError> {
    let (me, my_role) = staff(&state, &headers, Role::Admin).await?;
    let body: RoleBody = json_body(&body)?;
    let role: Role = body
        .role
        .parse()
        .map_err(|_| ApiError::bad_request("role must be player, moderator or admin"))?;
    let player = target(&state, &id).await?;
    if player.id == me.id {
        return Err(conflict("an admin does not change their own role"));
    }
    outrank(&state, my_role, &player).await?;
    let audit = entry(
        &me,
        "role.set",
        player.id.to_string(),
        format!("{} is {role}", player.name),
    );
    let action = ModAction::SetRole {
        player: player.id,
        role,
    };
    let applied = moderate(&state, action, audit, || format!("no player {id}")).await?;
    if applied == Applied::Changed {
        crate::moderation::announce_role(&state, player.id, role);
    }
    Ok(Json(RoleView {
        player: Who::from(&player),
        role: role.as_str(),
        changed: applied == Applied::Changed,
    }))
}

/// A player's role, mute and ban (moderators and admins).
#[utoipa::path(
    get, path = "/api/admin/players/{id}", tag = "moderation",
    params(("id" = String, Path, description = "the player (`p_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the player's standing", body = PlayerModeration),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator", body = ErrorBody),
        (status = 404, description = "no such player", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn player_moderation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PlayerModeration>, ApiError> {
    staff(&state, &headers, Role::Moderator).await?;
    let player = target(&state, &id).await?;
    let role = crate::moderation::role_of(&state, &player).await?;
    let who = player.id;
    let sanctions = state.blocking(move |store| store.sanctions(who)).await??;
    Ok(Json(PlayerModeration {
        player: Who::from(&player),
        role: role.as_str(),
        mute: sanctions.mute.map(SanctionView::from),
        ban: sanctions.ban.map(SanctionView::from),
    }))
}

// ---- mutes and bans --------------------------------------------------------------------------

/// When a sanction of `seconds` (1..=[`MAX_SANCTION_SECONDS`]; `None`: for good) ends, in
/// Unix ms.
fn sanction_end(seconds: Option<u64>) -> Result<Option<i64>, ApiError> {
    if seconds.is_some_and(|seconds| !(1..=MAX_SANCTION_SECONDS).contains(&seconds)) {
        return Err(ApiError::bad_request(format!(
            "seconds must be 1..={MAX_SANCTION_SECONDS}"
        )));
    }
    Ok(seconds.map(|seconds| crate::clock::now_ms() + (seconds as i64) * 1000))
}

/// The audit name of imposing (`player.mute`) or lifting (`player.unmute`) a sanction.
fn action_name(kind: SanctionKind, lifted: bool) -> &'static str {
    match (kind, lifted) {
        (SanctionKind::Mute, false) => "player.mute",
        (SanctionKind::Mute, true) => "player.unmute",
        (SanctionKind::Ban, false) => "player.ban",
        (SanctionKind::Ban, true) => "player.unban",
    }
}

/// Checks a mute or a ban (`(kind, seconds, reason)`) of the player `id` names by `me` (with
/// their role), stores it, then enforces it: a mute in the chat cache, a ban by closing the
/// player's sockets.
async fn impose(
    state: &AppState,
    (me, my_role): (&PlayerInfo, Role),
    id: &str,
    (kind, seconds, reason): (SanctionKind, Option<u64>, &str),
) -> Result<Json<SanctionView>, ApiError> {
    let (until_ms, reason) = (sanction_end(seconds)?, reason_of(reason)?);
    let player = &target(state, id).await?;
    outrank(state, my_role, player).await?;
    let end = until_ms.map_or("for good".to_owned(), |until| {
        format!("until {}", arcade_data::time::format_rfc3339_ms(until))
    });
    let detail = format!("{end}: {reason}");
    let audit = entry(me, action_name(kind, false), player.id.to_string(), detail);
    let action = ModAction::Sanction {
        kind,
        player: player.id,
        until_ms,
        reason: reason.clone(),
        by: me.id,
    };
    moderate(state, action, audit, || format!("no player {}", player.id)).await?;
    match kind {
        SanctionKind::Mute => crate::moderation::set_mute_everywhere(state, player.id, until_ms),
        SanctionKind::Ban => {
            crate::moderation::close_banned(state, player.id, until_ms);
        }
    }
    Ok(Json(SanctionView::from(Sanction {
        until_ms,
        reason,
        by: me.id,
        at_ms: crate::clock::now_ms(),
    })))
}

/// Ends the mute or ban of the player `id` names: 409 when none is in force.
async fn lift(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    kind: SanctionKind,
) -> Result<Json<OkBody>, ApiError> {
    let (me, my_role) = staff(state, headers, Role::Moderator).await?;
    let player = target(state, id).await?;
    outrank(state, my_role, &player).await?;
    let audit = entry(
        &me,
        action_name(kind, true),
        player.id.to_string(),
        String::new(),
    );
    let action = ModAction::Lift(kind, player.id);
    let applied = moderate(state, action, audit, || format!("no player {id}")).await?;
    if kind == SanctionKind::Mute {
        crate::moderation::set_mute_everywhere(state, player.id, None);
    }
    if applied == Applied::Unchanged {
        let state = if kind == SanctionKind::Mute {
            "muted"
        } else {
            "banned"
        };
        return Err(conflict(format!("{} is not {state}", player.name)));
    }
    Ok(Json(OkBody { ok: true }))
}

/// Mutes a player (moderators and admins, on players below them): their chat is refused with
/// `error` `muted` until it ends, across reconnects and restarts. Replaces a mute in force.
#[utoipa::path(
    post, path = "/api/admin/players/{id}/mute", tag = "moderation",
    params(("id" = String, Path, description = "the player (`p_…`)")),
    request_body = MuteBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the mute in force", body = SanctionView),
        (status = 400, description = "bad seconds or reason", body = ErrorBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator, or does not outrank the player", body = ErrorBody),
        (status = 404, description = "no such player", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn mute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SanctionView>, ApiError> {
    let (me, my_role) = staff(&state, &headers, Role::Moderator).await?;
    let body: MuteBody = json_body(&body)?;
    let imposed = (SanctionKind::Mute, Some(body.seconds), body.reason.as_str());
    impose(&state, (&me, my_role), &id, imposed).await
}

/// Ends a player's mute.
#[utoipa::path(
    delete, path = "/api/admin/players/{id}/mute", tag = "moderation",
    params(("id" = String, Path, description = "the player (`p_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "unmuted", body = OkBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator, or does not outrank the player", body = ErrorBody),
        (status = 404, description = "no such player", body = ErrorBody),
        (status = 409, description = "the player is not muted", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn unmute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<OkBody>, ApiError> {
    lift(&state, &headers, &id, SanctionKind::Mute).await
}

/// Bans a player for `seconds` or for good (moderators and admins, on players below them):
/// their live sockets get `error` `banned` and close 1008 `banned`; login, REST and
/// WebSocket re-entry with the account (a guest's token too) are refused until it ends.
#[utoipa::path(
    post, path = "/api/admin/players/{id}/ban", tag = "moderation",
    params(("id" = String, Path, description = "the player (`p_…`)")),
    request_body = BanBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the ban in force", body = SanctionView),
        (status = 400, description = "bad seconds or reason", body = ErrorBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator, or does not outrank the player", body = ErrorBody),
        (status = 404, description = "no such player", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn ban(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SanctionView>, ApiError> {
    let (me, my_role) = staff(&state, &headers, Role::Moderator).await?;
    let body: BanBody = json_body(&body)?;
    let imposed = (SanctionKind::Ban, body.seconds, body.reason.as_str());
    impose(&state, (&me, my_role), &id, imposed).await
}

/// Ends a player's ban.
#[utoipa::path(
    delete, path = "/api/admin/players/{id}/ban", tag = "moderation",
    params(("id" = String, Path, description = "the player (`p_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "unbanned", body = OkBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator, or does not outrank the player", body = ErrorBody),
        (status = 404, description = "no such player", body = ErrorBody),
        (status = 409, description = "the player is not banned", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn unban(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<OkBody>, ApiError> {
    lift(&state, &headers, &id, SanctionKind::Ban).await
}

// ---- messages --------------------------------------------------------------------------------

/// `message.deleted`.
#[derive(Clone, Serialize)]
struct MessageDeleted {
    /// The channel as its reader names it.
    channel: String,
    id: String,
}

/// Deletes a chat message (moderators and admins; not a message of someone of their rank or
/// above): it leaves history for everyone, and the channel's members get
/// `message.deleted {channel, id}`.
#[utoipa::path(
    delete, path = "/api/chat/messages/{id}", tag = "moderation",
    params(("id" = String, Path, description = "the message (`c_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "deleted", body = OkBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator, or does not outrank the sender", body = ErrorBody),
        (status = 404, description = "no such message", body = ErrorBody),
        (status = 409, description = "deleted already", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn delete_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<OkBody>, ApiError> {
    let (me, my_role) = staff(&state, &headers, Role::Moderator).await?;
    let missing = || not_found(format!("no message {id}"));
    let message_id: MessageId = id.parse().map_err(|_| missing())?;
    let stored = state
        .blocking(move |store| store.chat_message(message_id))
        .await??
        .ok_or_else(missing)?;
    // The sender as stored now (a guest's line names a guest, whatever name it chose).
    let sender_id = stored.sender;
    let row = state
        .blocking(move |store| store.get_player(sender_id))
        .await??;
    let sender = PlayerInfo {
        id: stored.sender,
        name: stored.sender_name.clone(),
        guest: row.is_none_or(|row| row.guest),
    };
    outrank(&state, my_role, &sender).await?;
    if stored.deleted {
        return Err(conflict(format!("{id} is deleted already")));
    }
    let excerpt: String = stored.text.chars().take(80).collect();
    let audit = entry(
        &me,
        "message.delete",
        message_id.to_string(),
        format!("{} in {}: {excerpt}", stored.sender_name, stored.channel),
    );
    let action = ModAction::DeleteMessage(message_id);
    let applied = moderate(&state, action, audit, || format!("no message {id}")).await?;
    if applied == Applied::Unchanged {
        return Err(conflict(format!("{id} is deleted already")));
    }
    announce_deleted(&state, &stored.channel, message_id);
    Ok(Json(OkBody { ok: true }))
}

/// `message.deleted` to the members of the channel with storage key `key`.
fn announce_deleted(state: &AppState, key: &str, id: MessageId) {
    let deleted = |channel: String| MessageDeleted {
        channel,
        id: id.to_string(),
    };
    if key == "global" {
        let event = deleted("global".into());
        state
            .hub
            .broadcast_everywhere(&Envelope::event("message.deleted", &event));
    } else if let Some(pair) = key.strip_prefix("dm:") {
        // Each side names the conversation by the other player.
        let ids: Vec<PlayerId> = pair.split(':').filter_map(|id| id.parse().ok()).collect();
        if let [low, high] = ids[..] {
            for (reader, other) in [(low, high), (high, low)] {
                let event = deleted(Channel::Dm(other).name());
                state
                    .hub
                    .send_to_players(&Envelope::event("message.deleted", &event), &[reader]);
            }
        }
    } else if let Some(Ok(match_id)) = key.strip_prefix("match:").map(str::parse::<MatchId>) {
        let event = deleted(Channel::Match(match_id).name());
        let run = move |world: &mut World| {
            let Some(game) = sim::find_match(world, match_id) else {
                return;
            };
            if let Some(audience) = world.get::<Audience>(game) {
                let envelope = Envelope::event("message.deleted", &event);
                for member in &audience.members {
                    member
                        .outbox
                        .push(member.outbox.codec().encode_once(&envelope));
                }
            }
        };
        let _ = state.commands.send(Command::Run(Box::new(run)));
    }
}

// ---- reports ---------------------------------------------------------------------------------

/// Reports a player or a chat message (any player).
#[utoipa::path(
    post, path = "/api/reports", tag = "moderation",
    request_body = ReportBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "the report is filed", body = ReportCreated),
        (status = 400, description = "neither or both of player and message, a bad reason, or the bearer themselves", body = ErrorBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 404, description = "no such player or message", body = ErrorBody),
        (status = 409, description = "the bearer has an open report on it already", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ReportCreated>), ApiError> {
    let (me, _) = crate::http::accounts::authenticated(&state, &headers).await?;
    let body: ReportBody = json_body(&body).map_err(|_| {
        ApiError::bad_request("report either {player, reason} or {message, reason}")
    })?;
    let (player, message, reason) = match body {
        ReportBody::Player(report) => {
            let reason = reason_of(&report.reason)?;
            (target(&state, &report.player).await?.id, None, reason)
        }
        ReportBody::Message(report) => {
            let reason = reason_of(&report.reason)?;
            let text = report.message.as_str();
            let missing = || not_found(format!("no message {text}"));
            let id: MessageId = text.parse().map_err(|_| missing())?;
            let stored = state
                .blocking(move |store| store.chat_message(id))
                .await??
                .ok_or_else(missing)?;
            (stored.sender, Some(id), reason)
        }
    };
    if player == me.id {
        return Err(ApiError::bad_request("a player does not report themselves"));
    }
    state.store_guest(&me).await?;
    let report = NewReport {
        reporter: me.id,
        player,
        message,
        reason,
    };
    let applied = state
        .blocking(move |store| store.moderate(ModAction::Report(report), None))
        .await?
        .map_err(|error| data_error(error, || format!("no player {player}")))?;
    match applied {
        Applied::Created(id) => Ok((
            StatusCode::CREATED,
            Json(ReportCreated {
                id: ReportId(id).to_string(),
            }),
        )),
        _ => Err(conflict("you have an open report on this already")),
    }
}

/// Open reports, oldest first (moderators and admins).
#[utoipa::path(
    get, path = "/api/admin/reports", tag = "moderation",
    params(ReportsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "a page of open reports", body = ReportsPage),
        (status = 400, description = "bad limit or cursor", body = ErrorBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn open_reports(
    State(state): State<AppState>,
    Query(query): Query<ReportsQuery>,
    headers: HeaderMap,
) -> Result<Json<ReportsPage>, ApiError> {
    staff(&state, &headers, Role::Moderator).await?;
    let limit = limit_of(query.limit.as_deref())?;
    let after = cursor_of(query.after.as_deref(), "after")?;
    let page = state
        .blocking(move |store| -> Result<_, DataError> {
            let page = store.open_reports(after, limit)?;
            let mut views = Vec::with_capacity(page.reports.len());
            for report in page.reports {
                let who = |id: PlayerId| -> Result<Who, DataError> {
                    let name = store
                        .get_player(id)?
                        .map_or_else(|| "deleted player".to_owned(), |row| row.name);
                    Ok(Who { id, name })
                };
                let message = match report.report.message {
                    Some(id) => store.chat_message(id)?.map(|stored| ReportedMessage {
                        id: id.to_string(),
                        channel: stored.channel,
                        text: stored.text,
                        deleted: stored.deleted,
                    }),
                    None => None,
                };
                views.push(ReportView {
                    id: report.id.to_string(),
                    reporter: who(report.report.reporter)?,
                    player: who(report.report.player)?,
                    message,
                    reason: report.report.reason,
                    at: arcade_data::time::format_rfc3339_ms(report.at_ms),
                });
            }
            Ok(ReportsPage {
                reports: views,
                next: page.next.map(|cursor| cursor.to_string()),
            })
        })
        .await??;
    Ok(Json(page))
}

/// Resolves an open report (moderators and admins).
#[utoipa::path(
    post, path = "/api/admin/reports/{id}/resolve", tag = "moderation",
    params(("id" = String, Path, description = "the report (`r_…`)")),
    request_body(content = Option<ResolveBody>, description = "optional; `{}` or empty for no note"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "resolved", body = OkBody),
        (status = 400, description = "a note over 500 characters", body = ErrorBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator", body = ErrorBody),
        (status = 404, description = "no such report", body = ErrorBody),
        (status = 409, description = "resolved already", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn resolve_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<OkBody>, ApiError> {
    let (me, _) = staff(&state, &headers, Role::Moderator).await?;
    let body: ResolveBody = json_body(&body)?;
    let note = body.note.unwrap_or_default().trim().to_owned();
    if note.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(format!(
            "note must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    let report: ReportId = id
        .parse()
        .map_err(|_| not_found(format!("no report {id}")))?;
    let audit = entry(&me, "report.resolve", report.to_string(), note.clone());
    let action = ModAction::Resolve {
        report,
        by: me.id,
        note,
    };
    let applied = moderate(&state, action, audit, || format!("no report {id}")).await?;
    if applied == Applied::Unchanged {
        return Err(conflict(format!("{id} is resolved already")));
    }
    Ok(Json(OkBody { ok: true }))
}

// ---- audit, backup, matches ------------------------------------------------------------------

/// The audit log, newest first (admins only).
#[utoipa::path(
    get, path = "/api/admin/audit", tag = "moderation",
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "a page of the audit log", body = AuditPageView),
        (status = 400, description = "bad since, limit or cursor", body = ErrorBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not an admin", body = ErrorBody),
        (status = 503, description = "storage unavailable", body = ErrorBody),
    )
)]
async fn audit(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
    headers: HeaderMap,
) -> Result<Json<AuditPageView>, ApiError> {
    staff(&state, &headers, Role::Admin).await?;
    let since_ms = match query.since.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            arcade_data::time::parse_rfc3339_ms(text)
                .ok_or_else(|| ApiError::bad_request("since must be an RFC 3339 time"))?,
        ),
    };
    let filter = AuditFilter {
        // An id of nobody matches nothing.
        actor: query
            .actor
            .as_deref()
            .filter(|text| !text.is_empty())
            .map(|text| crate::wire::protocol::opaque_id(text, PlayerId(u64::MAX))),
        action: query.action.filter(|text| !text.is_empty()),
        since_ms,
        before: cursor_of(query.before.as_deref(), "before")?,
        limit: limit_of(query.limit.as_deref())?,
    };
    let page = state.blocking(move |store| store.audit(&filter)).await??;
    Ok(Json(AuditPageView {
        entries: page
            .entries
            .into_iter()
            .map(|row| AuditView {
                at: arcade_data::time::format_rfc3339_ms(row.at_ms),
                actor: Who {
                    id: row.entry.actor,
                    name: row.entry.actor_name,
                },
                action: row.entry.action,
                target: row.entry.target,
                detail: row.entry.detail,
            })
            .collect(),
        next: page.next.map(|cursor| cursor.to_string()),
    }))
}

/// Writes a consistent copy of the SQLite database while the server serves (SQLite's online
/// backup API) into `backups/` beside the database (admins only). Restoring is starting a
/// server on the copy.
#[utoipa::path(
    post, path = "/api/admin/backup", tag = "moderation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the copy and its size", body = BackupView),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not an admin", body = ErrorBody),
        (status = 409, description = "the database is PostgreSQL (pg_dump is the tool)", body = ErrorBody),
        (status = 503, description = "the copy could not be written", body = ErrorBody),
    )
)]
async fn backup(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<BackupView>, ApiError> {
    let (me, _) = staff(&state, &headers, Role::Admin).await?;
    let Some(database) = state.store.path().map(std::path::Path::to_path_buf) else {
        return Err(conflict(
            "the database is PostgreSQL: back it up with pg_dump",
        ));
    };
    let folder = database
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("backups");
    let stamp = arcade_data::time::format_rfc3339_ms(crate::clock::now_ms()).replace(':', "-");
    let path = folder.join(format!("arcade-{stamp}-{:04x}.db", rand::random::<u16>()));
    let target = path.clone();
    let bytes = state
        .blocking(move |store| {
            std::fs::create_dir_all(&folder)
                .map_err(|e| DataError::Io(format!("creating {}: {e}", folder.display())))?;
            store.backup(&target).unwrap_or(Err(DataError::NotFound))
        })
        .await??;
    let shown = path.display().to_string();
    let audit = entry(&me, "backup", shown.clone(), format!("{bytes} bytes"));
    moderate(&state, ModAction::Note, audit, String::new).await?;
    Ok(Json(BackupView { path: shown, bytes }))
}

/// How a match abort went on the tick thread.
enum Abort {
    Ended,
    Finished,
    Unknown,
}

/// Ends a live match as `aborted` (moderators and admins): its members get `match.end` with
/// reason `aborted` and no result, and it is stored like any ended match.
#[utoipa::path(
    post, path = "/api/admin/matches/{id}/abort", tag = "moderation",
    params(("id" = String, Path, description = "the match (`m_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the match ends as aborted", body = OkBody),
        (status = 401, description = E401, body = ErrorBody),
        (status = 403, description = "the bearer is not a moderator", body = ErrorBody),
        (status = 404, description = "no live match", body = ErrorBody),
        (status = 409, description = "the match has ended already", body = ErrorBody),
        (status = 503, description = "the game loop or storage unavailable", body = ErrorBody),
    )
)]
async fn abort_match(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<OkBody>, ApiError> {
    let (me, _) = staff(&state, &headers, Role::Moderator).await?;
    let match_id = crate::wire::protocol::opaque_id(&id, MatchId(u64::MAX));
    let (answer, answered) = oneshot::channel();
    let run = move |world: &mut World| {
        let outcome = match sim::find_match(world, match_id) {
            None => Abort::Unknown,
            Some(game) => match view::match_phase(world, game) {
                None | Some(Phase::Finished) => Abort::Finished,
                Some(_) => {
                    sim::abort_match(world, game);
                    Abort::Ended
                }
            },
        };
        let _ = answer.send(outcome);
    };
    match state
        .ask_tick(Command::Run(Box::new(run)), answered)
        .await?
    {
        Abort::Ended => {}
        Abort::Finished => return Err(conflict(format!("{id} has ended already"))),
        Abort::Unknown => {
            let stored = state
                .blocking(move |store| store.get_match(match_id))
                .await??;
            return Err(match stored {
                Some(_) => conflict(format!("{id} has ended already")),
                None => not_found(format!("no live match {id}")),
            });
        }
    }
    let audit = entry(&me, "match.abort", match_id.to_string(), String::new());
    moderate(&state, ModAction::Note, audit, String::new).await?;
    Ok(Json(OkBody { ok: true }))
}
