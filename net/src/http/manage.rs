//! Accounts people manage (tokio threads; images and hashes on the blocking and hashing pools):
//! sessions, password, name, avatar, two-factor sign-in and deletion (issue 14 items 1-4,
//! PROTOCOL.md "Managing an account").
//!
//! - Sessions: every token is a session; `GET /api/auth/sessions` lists the live ones with
//!   what opened them, `DELETE /api/auth/sessions/{id}` ends one, `POST /api/auth/logout-all`
//!   ends all, a password change ends every other. Each ended session's live sockets get
//!   `error` `unauthorized` and close 1008 at once ([`close_sessions`]).
//! - Avatars: a PNG or JPEG of at most [`MAX_AVATAR_BYTES`], decoded under [`Limits`] (at most
//!   [`MAX_AVATAR_SIDE`] a side and [`MAX_DECODE_ALLOC`] bytes, so a decompression bomb is
//!   refused before it is inflated), cropped and re-encoded to a [`AVATAR_SIDE`]² PNG: no
//!   uploaded byte is ever served. A player without one gets a drawn default.
//! - Two-factor sign-in: RFC 6238 TOTP (SHA-1, 6 digits, 30 s, one step of skew) with
//!   `totp-rs`; a code is accepted once (its time step is stored); ten one-time recovery codes
//!   stored as SHA-256. Login asks for a code after the password; a wrong code counts against
//!   the lockout as a wrong password does, and a missing one counts nothing.
//! - Passwords confirmed here (password change, deletion, two-factor setup and removal) go
//!   through the login lockout too, keyed on the player's name.

use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arcade_data::accounts::{SessionClient, SessionRow};
use arcade_data::time::format_rfc3339_ms;
use arcade_data::{DataError, SessionId};
use arcade_systems::model::PlayerId;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use image::{ImageFormat, ImageReader, Limits, Rgba, RgbaImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};
use utoipa::{OpenApi, ToSchema};

use crate::auth::Claims;
use crate::http::accounts::{
    Accounts, GuardKey, LoginGuard, MeResponse, authenticated, hash_password, json_body,
    locked_out, password_matches, unauthorized, validate_name, validate_password,
};
use crate::http::error::ApiError;
use crate::outbox::CloseReason;
use crate::wire::protocol::{self, ErrorCode, PlayerInfo};

/// The largest avatar upload: 256 KiB.
pub const MAX_AVATAR_BYTES: usize = 256 * 1024;
/// The largest side of an avatar image that is decoded at all.
pub const MAX_AVATAR_SIDE: u32 = 4096;
/// The most memory one avatar's decoding may take.
pub const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;
/// Avatars decoded at once (the others wait): decoding memory stays under this many times
/// [`MAX_DECODE_ALLOC`].
pub const AVATAR_DECODES_AT_ONCE: usize = 2;
/// The side of a stored avatar, in pixels.
pub const AVATAR_SIDE: u32 = 128;
/// How long a client may keep a stored avatar before asking again (with its ETag).
pub const AVATAR_MAX_AGE_SECONDS: u32 = 60;
/// How long a client may keep a drawn default avatar.
pub const DEFAULT_AVATAR_MAX_AGE_SECONDS: u32 = 300;
/// The longest `User-Agent` kept with a session.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// The largest JSON body of these routes.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// TOTP: digits, step (seconds), steps of skew either way, secret bytes (160 bits).
pub const TOTP_DIGITS: usize = 6;
pub const TOTP_STEP_SECONDS: u64 = 30;
pub const TOTP_SKEW_STEPS: u8 = 1;
const TOTP_SECRET_BYTES: usize = 20;
/// The issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "arcade";
/// Recovery codes made at enrolment, and their letters (two groups of five).
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_CODE_LETTERS: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// How a connection is closed when its session is ended from elsewhere or its account deleted.
pub const CLOSE_SESSION_ENDED: CloseReason = CloseReason {
    code: 1008,
    reason: "unauthorized",
};

/// The routes of this module (mounted by `accounts::routes`, which also puts `PATCH` and
/// `DELETE` on `/api/auth/me`).
pub(crate) fn routes() -> Router<Accounts> {
    Router::new()
        .route("/api/auth/sessions", get(list_sessions))
        .route("/api/auth/sessions/{id}", delete(end_session))
        .route("/api/auth/logout-all", post(logout_all))
        .route("/api/auth/password", post(change_password))
        .route(
            "/api/auth/me/avatar",
            put(upload_avatar).delete(remove_avatar),
        )
        .route("/api/players/{id}/avatar", get(get_avatar))
        .route("/api/auth/2fa", get(two_factor_state))
        .route("/api/auth/2fa/setup", post(two_factor_setup))
        .route("/api/auth/2fa/enable", post(two_factor_enable))
        .route("/api/auth/2fa/disable", post(two_factor_disable))
}

/// The OpenAPI description of these routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_sessions,
        end_session,
        logout_all,
        change_password,
        rename,
        delete_account,
        upload_avatar,
        remove_avatar,
        get_avatar,
        two_factor_state,
        two_factor_setup,
        two_factor_enable,
        two_factor_disable
    ),
    components(schemas(
        LoginRequest,
        SessionView,
        SessionsResponse,
        EndedResponse,
        PasswordChange,
        RenameRequest,
        PasswordConfirm,
        TwoFactorState,
        TwoFactorSetup,
        CodeRequest,
        RecoveryCodes
    ))
)]
pub struct ManageApi;

// ---- shapes ---------------------------------------------------------------------------------

/// Body of `POST /api/auth/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// 3..=20 of `A-Z a-z 0-9 _ -`, compared case-insensitively.
    #[schema(example = "ada_99", pattern = "^[A-Za-z0-9_-]{3,20}$")]
    pub name: String,
    /// 8..=128 characters.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128)]
    pub password: String,
    /// With two-factor sign-in on: the authenticator's 6 digits, or a recovery code.
    #[schema(example = "123456")]
    pub code: Option<String>,
}

/// One live session.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// `s_` and 16 hex digits.
    #[schema(example = "s_00000000075bcd15")]
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, to within a minute; `null` when unknown.
    pub last_seen_at: Option<String>,
    pub user_agent: Option<String>,
    pub address: Option<String>,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

/// `GET /api/auth/sessions`.
#[derive(Serialize, ToSchema)]
pub struct SessionsResponse {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// What ending sessions answers.
#[derive(Serialize, ToSchema)]
pub struct EndedResponse {
    pub ok: bool,
    /// How many sessions were ended.
    pub ended: usize,
}

/// Body of `POST /api/auth/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordChange {
    #[schema(min_length = 8, max_length = 128)]
    pub old_password: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Body of `PATCH /api/auth/me`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// The same rule as registration; unique case-insensitively.
    #[schema(example = "ada_2", pattern = "^[A-Za-z0-9_-]{3,20}$")]
    pub name: String,
}

/// A password that confirms the request (`DELETE /api/auth/me`, two-factor setup and removal).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    /// Required of a registered player; a guest sends `{}` or nothing.
    #[schema(min_length = 8, max_length = 128)]
    pub password: Option<String>,
}

/// `GET /api/auth/2fa`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorState {
    /// Two-factor sign-in is on.
    pub enabled: bool,
    /// A secret was set up and waits for its first code.
    pub pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

/// `POST /api/auth/2fa/setup`.
#[derive(Serialize, ToSchema)]
pub struct TwoFactorSetup {
    /// The secret in base32 (for typing into an authenticator).
    pub secret: String,
    /// `otpauth://totp/arcade:NAME?secret=…&issuer=arcade…` (for the QR code).
    pub uri: String,
}

/// A code from the authenticator.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[schema(example = "123456")]
    pub code: String,
}

/// The recovery codes, shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// Each works once, in place of a code, at login.
    pub recovery_codes: Vec<String>,
}

// ---- helpers --------------------------------------------------------------------------------

/// What a new session shows of the request that opened it.
pub(crate) fn session_client(headers: &HeaderMap, address: Option<IpAddr>) -> SessionClient {
    SessionClient {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect()),
        address: address.map(|ip| ip.to_string()),
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn guests_cannot(what: &str) -> ApiError {
    forbidden(&format!("a guest cannot {what}; register first"))
}

fn session_of(claims: &Claims) -> Result<SessionId, ApiError> {
    claims.sid.parse::<SessionId>().map_err(|_| unauthorized())
}

/// A JSON body read with this module's limit (413 `too_large` past it).
async fn read_json<T: for<'de> Deserialize<'de>>(body: axum::body::Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            )
        })?;
    json_body(&bytes)
}

/// Sends `error` `unauthorized` to, then closes 1008, every live socket of these sessions.
fn close_sessions(state: &Accounts, sessions: &[SessionId], why: &str) -> usize {
    let error = protocol::error(ErrorCode::Unauthorized, why, None);
    sessions
        .iter()
        .map(|session| {
            state
                .app
                .hub
                .close_session(&session.to_string(), &error, CLOSE_SESSION_ENDED)
        })
        .sum()
}

/// Checks a registered player's password through the login lockout (keyed on the name and the
/// address). `Err` is the answer: 403 for a wrong password, 429 while locked.
async fn confirm_password(
    state: &Accounts,
    player: &PlayerInfo,
    password: Option<String>,
    address: Option<IpAddr>,
) -> Result<(), Response> {
    let Some(password) = password else {
        return Err(ApiError::bad_request("`password` is required").into_response());
    };
    validate_password(&password).map_err(IntoResponse::into_response)?;
    let keys = GuardKey::login(&player.name, address);
    if let Err(wait) = state.guard.begin(&keys, Instant::now()) {
        return Err(locked_out(wait, "too many wrong passwords"));
    }
    let id = player.id;
    let hash = match state
        .app
        .blocking(move |store| store.password_hash(id))
        .await
    {
        Ok(Ok(Some(hash))) => hash,
        Ok(Ok(None)) => {
            state.guard.abandoned(&keys);
            return Err(unauthorized().into_response());
        }
        Ok(Err(error)) => {
            state.guard.abandoned(&keys);
            return Err(ApiError::from(error).into_response());
        }
        Err(error) => {
            state.guard.abandoned(&keys);
            return Err(ApiError::from(error).into_response());
        }
    };
    match state
        .hashing(move || password_matches(&password, &hash))
        .await
    {
        Ok(true) => {
            state.guard.succeeded(&keys, &keys[0]);
            Ok(())
        }
        Ok(false) => {
            state.guard.failed(&keys, Instant::now());
            Err(forbidden("wrong password").into_response())
        }
        Err(error) => {
            state.guard.abandoned(&keys);
            Err(error.into_response())
        }
    }
}

/// The client address of a request with these headers and this peer.
fn address_of(
    state: &Accounts,
    headers: &HeaderMap,
    peer: Option<&axum::extract::ConnectInfo<std::net::SocketAddr>>,
) -> Option<IpAddr> {
    crate::http::accounts::client_address(state.app.config.ops.trust_forwarded_for, headers, peer)
}

/// A request's client address and its body.
fn split_request(
    state: &Accounts,
    headers: &HeaderMap,
    request: axum::extract::Request,
) -> (Option<IpAddr>, axum::body::Body) {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .cloned();
    (
        address_of(state, headers, peer.as_ref()),
        request.into_body(),
    )
}

/// The bearer of a request that its `{"password"}` body confirms: its player and claims, or
/// the answer to send instead (`Ok(Err(..))`: a wrong password, the lockout). A guest has no
/// password: it passes when `guest_cannot_do` is `None`, else it is refused (403).
async fn confirmed_bearer(
    state: &Accounts,
    headers: &HeaderMap,
    request: axum::extract::Request,
    guest_cannot_do: Option<&str>,
) -> Result<Result<(PlayerInfo, Claims), Response>, ApiError> {
    let (address, body) = split_request(state, headers, request);
    let (player, claims) = authenticated(&state.app, headers).await?;
    let confirm: Option<PasswordConfirm> = read_json(body).await?;
    if player.guest {
        return match guest_cannot_do {
            None => Ok(Ok((player, claims))),
            Some(what) => Err(guests_cannot(what)),
        };
    }
    let password = confirm.unwrap_or_default().password;
    if let Err(refused) = confirm_password(state, &player, password, address).await {
        return Ok(Err(refused));
    }
    Ok(Ok((player, claims)))
}

fn view(row: SessionRow, current: &str) -> SessionView {
    let id = row.id.to_string();
    SessionView {
        current: id == current,
        id,
        created_at: format_rfc3339_ms(row.created_at_ms),
        last_seen_at: row.last_seen_ms.map(format_rfc3339_ms),
        user_agent: row.user_agent,
        address: row.address,
    }
}

// ---- sessions -------------------------------------------------------------------------------

/// The bearer's live sessions (a guest has one: its token's).
#[utoipa::path(
    get, path = "/api/auth/sessions", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the live sessions, newest first", body = SessionsResponse),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn list_sessions(
    State(state): State<Accounts>,
    headers: HeaderMap,
) -> Result<Json<SessionsResponse>, ApiError> {
    let (player, claims) = authenticated(&state.app, &headers).await?;
    let id = player.id;
    let mut rows = state
        .app
        .blocking(move |store| store.sessions(id))
        .await??;
    if claims.guest.is_some() && rows.is_empty() {
        // A guest's session has no row: its token is its record.
        rows.push(SessionRow {
            id: session_of(&claims)?,
            created_at_ms: i64::try_from(claims.iat.saturating_mul(1000)).unwrap_or(0),
            last_seen_ms: None,
            user_agent: None,
            address: None,
        });
    }
    let sessions = rows.into_iter().map(|row| view(row, &claims.sid)).collect();
    Ok(Json(SessionsResponse { sessions }))
}

/// Ends one of the bearer's sessions (the current one too: that is a logout).
#[utoipa::path(
    delete, path = "/api/auth/sessions/{id}", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "`s_` and 16 hex digits")),
    responses(
        (status = 200, description = "ended; its sockets closed 1008", body = EndedResponse),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "no live session of the bearer's with this id", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn end_session(
    State(state): State<Accounts>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<EndedResponse>, ApiError> {
    let (player, claims) = authenticated(&state.app, &headers).await?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such live session");
    let session = id.parse::<SessionId>().map_err(|_| not_found())?;
    let ended = if claims.guest.is_some() && id == claims.sid {
        let (pid, name) = (player.id, player.name.clone());
        state
            .app
            .blocking(move |store| store.revoke_guest_session(pid, &name, session))
            .await??;
        vec![session]
    } else {
        let pid = player.id;
        state
            .app
            .blocking(move |store| store.end_sessions(pid, Some(session), None))
            .await??
    };
    if ended.is_empty() {
        return Err(not_found());
    }
    close_sessions(&state, &ended, "the session was ended");
    Ok(Json(EndedResponse {
        ok: true,
        ended: ended.len(),
    }))
}

/// Ends every session of the bearer's, this one included ("log out everywhere").
#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every session ended; their sockets closed 1008", body = EndedResponse),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn logout_all(
    State(state): State<Accounts>,
    headers: HeaderMap,
) -> Result<Json<EndedResponse>, ApiError> {
    let (player, claims) = authenticated(&state.app, &headers).await?;
    let current = session_of(&claims)?;
    let (pid, name, guest) = (player.id, player.name.clone(), claims.guest.is_some());
    let mut ended = state
        .app
        .blocking(move |store| store.end_sessions(pid, None, None))
        .await??;
    if guest && !ended.contains(&current) {
        state
            .app
            .blocking(move |store| store.revoke_guest_session(pid, &name, current))
            .await??;
        ended.push(current);
    }
    close_sessions(&state, &ended, "every session was logged out");
    Ok(Json(EndedResponse {
        ok: true,
        ended: ended.len(),
    }))
}

/// Changes the bearer's password (the old one confirms it) and ends every other session.
#[utoipa::path(
    post, path = "/api/auth/password", tag = "accounts",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "changed; every other session ended", body = EndedResponse),
        (status = 400, description = "invalid body or new password", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "a wrong old password, or a guest", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 16 KiB", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "locked out after repeated wrong passwords",
            body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the lock ends"))),
        (status = 503, description = "storage or hashing unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn change_password(
    State(state): State<Accounts>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (address, body) = split_request(&state, &headers, request);
    let (player, claims) = authenticated(&state.app, &headers).await?;
    let request: PasswordChange = read_json(body).await?;
    if player.guest {
        return Err(guests_cannot("have a password"));
    }
    validate_password(&request.new_password)?;
    let old = Some(request.old_password);
    if let Err(refused) = confirm_password(&state, &player, old, address).await {
        return Ok(refused);
    }
    let new = request.new_password;
    let hash = state.hashing(move || hash_password(&new)).await??;
    let keep = session_of(&claims)?;
    let id = player.id;
    let ended = state
        .app
        .blocking(move |store| store.set_password(id, &hash, keep))
        .await??;
    close_sessions(&state, &ended, "the password was changed");
    Ok(Json(EndedResponse {
        ok: true,
        ended: ended.len(),
    })
    .into_response())
}

// ---- profile --------------------------------------------------------------------------------

/// Renames the bearer (a registered player).
#[utoipa::path(
    patch, path = "/api/auth/me", tag = "accounts",
    security(("bearer" = [])),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "renamed", body = MeResponse),
        (status = 400, description = "invalid body or name", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "a guest (guests pick a name when they arrive)", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "the name is taken (case-insensitively)", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 16 KiB", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
pub(crate) async fn rename(
    State(state): State<Accounts>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<MeResponse>, ApiError> {
    let (player, _) = authenticated(&state.app, &headers).await?;
    let request: RenameRequest = read_json(body).await?;
    validate_name(&request.name)?;
    if player.guest {
        return Err(guests_cannot("rename"));
    }
    let (id, name) = (player.id, request.name.clone());
    match state
        .app
        .blocking(move |store| store.rename(id, &name))
        .await?
    {
        Ok(()) => {}
        Err(DataError::NameTaken) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the name is taken",
            ));
        }
        Err(DataError::NotFound) => return Err(unauthorized()),
        Err(error) => return Err(error.into()),
    }
    let renamed = PlayerInfo {
        name: request.name,
        ..player
    };
    Ok(Json(MeResponse {
        player: renamed.into(),
    }))
}

/// Why an upload is not an avatar.
fn bad_image(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_image", message)
}

/// Decodes a PNG or JPEG under the decoding limits and re-encodes it as an
/// [`AVATAR_SIDE`]² PNG (centre-cropped to a square). Runs on the blocking pool.
pub fn reencode_avatar(bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    let format = image::guess_format(bytes).ok();
    if !matches!(format, Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "an avatar is a PNG or JPEG image",
        ));
    }
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes));
    reader.set_format(format.unwrap_or(ImageFormat::Png));
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_AVATAR_SIDE);
    limits.max_image_height = Some(MAX_AVATAR_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => bad_image(format!(
            "the image is over {MAX_AVATAR_SIDE}×{MAX_AVATAR_SIDE} pixels or too large to decode"
        )),
        other => bad_image(format!("the image could not be decoded: {other}")),
    })?;
    let square = decoded.resize_to_fill(
        AVATAR_SIDE,
        AVATAR_SIDE,
        image::imageops::FilterType::Triangle,
    );
    encode_png(&square.to_rgba8())
}

fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, ApiError> {
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, ImageFormat::Png)
        .map_err(|_| ApiError::internal("the avatar could not be encoded"))?;
    Ok(png.into_inner())
}

/// A quoted entity tag of `bytes`.
fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The drawn default of `player`: a symmetric 5×5 pattern in a colour of its id.
pub fn default_avatar(player: PlayerId) -> Result<Vec<u8>, ApiError> {
    let seed = Sha256::digest(player.0.to_be_bytes());
    let colour = Rgba([seed[0] / 2 + 64, seed[1] / 2 + 64, seed[2] / 2 + 64, 255]);
    let background = Rgba([240, 240, 240, 255]);
    let cell = AVATAR_SIDE / 8;
    let margin = (AVATAR_SIDE - cell * 5) / 2;
    let image = RgbaImage::from_fn(AVATAR_SIDE, AVATAR_SIDE, |x, y| {
        let inside = |v: u32| (margin..margin + cell * 5).contains(&v);
        if !inside(x) || !inside(y) {
            return background;
        }
        let (cx, cy) = ((x - margin) / cell, (y - margin) / cell);
        let column = cx.min(4 - cx);
        let bit = (seed[3 + (cy * 3 + column) as usize] & 1) == 1;
        if bit { colour } else { background }
    });
    encode_png(&image)
}

/// Sets the bearer's avatar from a PNG or JPEG body (re-encoded; nothing uploaded is kept).
#[utoipa::path(
    put, path = "/api/auth/me/avatar", tag = "accounts",
    security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png",
        description = "a PNG or JPEG of at most 256 KiB and 4096×4096 pixels"),
    responses(
        (status = 200, description = "stored as a 128×128 PNG", body = crate::http::openapi::OkBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 256 KiB", body = crate::http::openapi::ErrorBody),
        (status = 415, description = "not a PNG or JPEG (by its bytes, whatever its name or type)", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "a PNG or JPEG that does not decode, or is over 4096×4096 pixels", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn upload_avatar(
    State(state): State<Accounts>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (player, _) = authenticated(&state.app, &headers).await?;
    let bytes: Bytes = axum::body::to_bytes(body, MAX_AVATAR_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("an avatar is at most {MAX_AVATAR_BYTES} bytes"),
            )
        })?;
    static DECODING: tokio::sync::Semaphore =
        tokio::sync::Semaphore::const_new(AVATAR_DECODES_AT_ONCE);
    let permit = DECODING
        .acquire()
        .await
        .map_err(|_| ApiError::internal("the avatar could not be encoded"))?;
    let png = tokio::task::spawn_blocking(move || reencode_avatar(&bytes))
        .await
        .map_err(|_| ApiError::internal("the avatar could not be encoded"))??;
    drop(permit);
    state.app.store_guest(&player).await?;
    let etag = etag_of(&png);
    let id = player.id;
    state
        .app
        .blocking(move |store| store.set_avatar(id, Some((png, etag))))
        .await??;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// Removes the bearer's avatar (the drawn default is served again).
#[utoipa::path(
    delete, path = "/api/auth/me/avatar", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "removed (or there was none)", body = crate::http::openapi::OkBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn remove_avatar(
    State(state): State<Accounts>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (player, _) = authenticated(&state.app, &headers).await?;
    let id = player.id;
    match state
        .app
        .blocking(move |store| store.set_avatar(id, None))
        .await?
    {
        Ok(()) | Err(DataError::NotFound) => Ok(Json(serde_json::json!({"ok": true}))),
        Err(error) => Err(error.into()),
    }
}

/// A player's avatar: the stored one, or a default drawn from the id.
#[utoipa::path(
    get, path = "/api/players/{id}/avatar", tag = "players",
    params(("id" = String, Path, description = "`p_` and 16 hex digits")),
    responses(
        (status = 200, description = "a 128×128 PNG, with `ETag` and `Cache-Control`", content_type = "image/png", body = Vec<u8>,
            headers(("ETag" = String, description = "the image's entity tag"),
                    ("Cache-Control" = String, description = "`public, max-age=…`"))),
        (status = 304, description = "`If-None-Match` matched the `ETag`",
            headers(("ETag" = String, description = "the image's entity tag"),
                    ("Cache-Control" = String, description = "`public, max-age=…`"))),
        (status = 404, description = "not a player id", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn get_avatar(
    State(state): State<Accounts>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let player = id
        .parse::<PlayerId>()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such player"))?;
    let stored = state
        .app
        .blocking(move |store| store.avatar(player))
        .await??;
    let (png, etag, max_age) = match stored {
        Some(avatar) => (avatar.png, avatar.etag, AVATAR_MAX_AGE_SECONDS),
        None => {
            let png = default_avatar(player)?;
            let etag = etag_of(&png);
            (png, etag, DEFAULT_AVATAR_MAX_AGE_SECONDS)
        }
    };
    let cache = format!("public, max-age={max_age}");
    let matched = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "image/png")], png).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    Ok(response)
}

// ---- deletion -------------------------------------------------------------------------------

/// Deletes the bearer's account: what goes and what stays is PROTOCOL.md "Deleting an account".
#[utoipa::path(
    delete, path = "/api/auth/me", tag = "accounts",
    security(("bearer" = [])),
    request_body(content = Option<PasswordConfirm>, description = "`{\"password\"}` of a registered player; a guest's token is enough"),
    responses(
        (status = 200, description = "deleted; every socket of the account closed 1008", body = crate::http::openapi::OkBody),
        (status = 400, description = "invalid body, or no password for a registered player", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "a wrong password", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "the player holds a seat in a live match (leave it first)", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 16 KiB", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "locked out after repeated wrong passwords",
            body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the lock ends"))),
        (status = 503, description = "storage or hashing unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
pub(crate) async fn delete_account(
    State(state): State<Accounts>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let guest = None;
    let (player, claims) = match confirmed_bearer(&state, &headers, request, guest).await? {
        Ok(bearer) => bearer,
        Err(refused) => return Ok(refused),
    };
    let session = session_of(&claims)?;
    let id = player.id;
    if holds_a_seat(&state, id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "leave your live match first: its record would name you",
        ));
    }
    state
        .app
        .blocking(move |store| store.delete_account(id, session))
        .await??;
    let error = protocol::error(ErrorCode::Unauthorized, "the account was deleted", None);
    let sockets = state.app.hub.outboxes(|entry| entry.player.id == id);
    for outbox in &sockets {
        outbox.push(outbox.codec().encode_once(&error));
        outbox.close(CLOSE_SESSION_ENDED);
    }
    tracing::info!(player = %id, sockets = sockets.len(), "account deleted");
    Ok(Json(serde_json::json!({"ok": true})).into_response())
}

/// Whether `player` holds a seat in a live match (asked of the tick thread, which owns them).
async fn holds_a_seat(state: &Accounts, player: PlayerId) -> Result<bool, ApiError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: crate::link::command::TickJob = Box::new(move |world| {
        let _ = reply.send(crate::link::audience::playing_in(world, player).is_some());
    });
    Ok(state
        .app
        .ask_tick(crate::link::command::Command::Run(job), answer)
        .await?)
}

// ---- two-factor sign-in ---------------------------------------------------------------------

fn totp_for(secret: Vec<u8>, name: &str) -> Result<TOTP, ApiError> {
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        TOTP_SKEW_STEPS,
        TOTP_STEP_SECONDS,
        secret,
        Some(TOTP_ISSUER.to_owned()),
        name.to_owned(),
    )
    .map_err(|_| ApiError::internal("two-factor secret unusable"))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The time step `code` is valid for now (within the skew), if any.
fn code_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = now / TOTP_STEP_SECONDS;
    let skew = u64::from(TOTP_SKEW_STEPS);
    (step.saturating_sub(skew)..=step + skew)
        .find(|&candidate| {
            let expected = totp.generate(candidate * TOTP_STEP_SECONDS);
            // Constant time: every byte compared whatever differs.
            expected.len() == code.len()
                && expected
                    .bytes()
                    .zip(code.bytes())
                    .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                    == 0
        })
        .and_then(|found| i64::try_from(found).ok())
}

/// A recovery code as stored: SHA-256 hex of its letters (case and dashes ignored).
fn recovery_hash(code: &str) -> String {
    let letters: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(letters.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_recovery_code() -> String {
    let letters: String = (0..RECOVERY_CODE_LETTERS)
        .map(|_| {
            let index = rand::random_range(0..RECOVERY_ALPHABET.len());
            char::from(RECOVERY_ALPHABET[index])
        })
        .collect();
    format!("{}-{}", &letters[..5], &letters[5..])
}

/// Why a login's second factor refused it.
pub(crate) enum SecondFactor {
    /// Two-factor sign-in is on and no code came: counts nothing.
    Missing,
    /// A wrong, expired or reused code: counts as a failure.
    Wrong,
    /// Storage failed: counts nothing.
    Failed(ApiError),
}

impl SecondFactor {
    /// Settles the login attempt begun on `keys` and gives its answer.
    pub(crate) fn settle(self, guard: &LoginGuard, keys: &[GuardKey]) -> ApiError {
        match self {
            SecondFactor::Missing => {
                guard.abandoned(keys);
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "totp_required",
                    "two-factor sign-in is on: send `code` too",
                )
            }
            SecondFactor::Wrong => {
                guard.failed(keys, Instant::now());
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "wrong, expired or used code",
                )
            }
            SecondFactor::Failed(error) => {
                guard.abandoned(keys);
                error
            }
        }
    }
}

/// Checks a login's second factor for `player`, whose password was right: `Ok` when two-factor
/// sign-in is off, or `code` is a fresh TOTP code or an unused recovery code (used up now).
pub(crate) async fn second_factor(
    state: &Accounts,
    player: &PlayerInfo,
    code: Option<String>,
) -> Result<(), SecondFactor> {
    let id = player.id;
    let failed = |error: ApiError| SecondFactor::Failed(error);
    let found = state
        .app
        .blocking(move |store| store.totp(id))
        .await
        .map_err(|e| failed(e.into()))?
        .map_err(|e| failed(e.into()))?;
    let Some((secret, _)) = found.filter(|(secret, _)| secret.enabled) else {
        return Ok(());
    };
    let code = code.ok_or(SecondFactor::Missing)?;
    let code = code.trim().to_owned();
    let totp = totp_for(secret.secret, &player.name).map_err(failed)?;
    let accepted = match code_step(&totp, &code, unix_seconds()) {
        Some(step) => {
            state
                .app
                .blocking(move |store| store.totp_step(id, step))
                .await
        }
        None => {
            let hash = recovery_hash(&code);
            state
                .app
                .blocking(move |store| store.use_recovery_code(id, &hash))
                .await
        }
    };
    match accepted {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(SecondFactor::Wrong),
        Ok(Err(error)) => Err(failed(error.into())),
        Err(error) => Err(failed(error.into())),
    }
}

/// Whether two-factor sign-in is on for the bearer.
#[utoipa::path(
    get, path = "/api/auth/2fa", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the bearer's two-factor state", body = TwoFactorState),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn two_factor_state(
    State(state): State<Accounts>,
    headers: HeaderMap,
) -> Result<Json<TwoFactorState>, ApiError> {
    let (player, _) = authenticated(&state.app, &headers).await?;
    let id = player.id;
    let found = state.app.blocking(move |store| store.totp(id)).await??;
    Ok(Json(match found {
        Some((secret, left)) => TwoFactorState {
            enabled: secret.enabled,
            pending: !secret.enabled,
            recovery_codes_left: if secret.enabled { left } else { 0 },
        },
        None => TwoFactorState {
            enabled: false,
            pending: false,
            recovery_codes_left: 0,
        },
    }))
}

/// Starts enrolment: a new secret and its `otpauth://` URI (pending until a code confirms it).
#[utoipa::path(
    post, path = "/api/auth/2fa/setup", tag = "accounts",
    security(("bearer" = [])),
    request_body = PasswordConfirm,
    responses(
        (status = 200, description = "the secret and its URI, pending", body = TwoFactorSetup),
        (status = 400, description = "invalid body, or no password", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "a wrong password, or a guest", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "two-factor sign-in is already on", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 16 KiB", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "locked out after repeated wrong passwords",
            body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the lock ends"))),
        (status = 503, description = "storage or hashing unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn two_factor_setup(
    State(state): State<Accounts>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let guest = Some("turn on two-factor sign-in");
    let (player, _) = match confirmed_bearer(&state, &headers, request, guest).await? {
        Ok(bearer) => bearer,
        Err(refused) => return Ok(refused),
    };
    let secret = rand::random::<[u8; TOTP_SECRET_BYTES]>().to_vec();
    let totp = totp_for(secret.clone(), &player.name)?;
    let id = player.id;
    let stored = state
        .app
        .blocking(move |store| store.totp_pending(id, secret))
        .await??;
    if !stored {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "two-factor sign-in is already on",
        ));
    }
    Ok(Json(TwoFactorSetup {
        secret: totp.get_secret_base32(),
        uri: totp.get_url(),
    })
    .into_response())
}

/// Confirms enrolment with a first code; answers the recovery codes (shown once).
#[utoipa::path(
    post, path = "/api/auth/2fa/enable", tag = "accounts",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "on; the recovery codes", body = RecoveryCodes),
        (status = 400, description = "invalid body", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "a wrong or expired code", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "no setup pending (none, or already on)", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 16 KiB", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn two_factor_enable(
    State(state): State<Accounts>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let (player, _) = authenticated(&state.app, &headers).await?;
    let request: CodeRequest = read_json(body).await?;
    let id = player.id;
    let found = state.app.blocking(move |store| store.totp(id)).await??;
    let not_pending = || ApiError::new(StatusCode::CONFLICT, "conflict", "no setup is pending");
    let (secret, _) = found
        .filter(|(secret, _)| !secret.enabled)
        .ok_or_else(not_pending)?;
    let totp = totp_for(secret.secret, &player.name)?;
    let step = code_step(&totp, request.code.trim(), unix_seconds())
        .ok_or_else(|| forbidden("wrong or expired code"))?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes = codes.iter().map(|code| recovery_hash(code)).collect();
    let enabled = state
        .app
        .blocking(move |store| store.totp_enable(id, step, hashes))
        .await??;
    if !enabled {
        return Err(not_pending());
    }
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Turns two-factor sign-in off (the password confirms it).
#[utoipa::path(
    post, path = "/api/auth/2fa/disable", tag = "accounts",
    security(("bearer" = [])),
    request_body = PasswordConfirm,
    responses(
        (status = 200, description = "off (or it was)", body = crate::http::openapi::OkBody),
        (status = 400, description = "invalid body, or no password", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "a wrong password, or a guest", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 16 KiB", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "locked out after repeated wrong passwords",
            body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the lock ends"))),
        (status = 503, description = "storage or hashing unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn two_factor_disable(
    State(state): State<Accounts>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let guest = Some("use two-factor sign-in");
    let (player, _) = match confirmed_bearer(&state, &headers, request, guest).await? {
        Ok(bearer) => bearer,
        Err(refused) => return Ok(refused),
    };
    let id = player.id;
    state
        .app
        .blocking(move |store| store.totp_disable(id))
        .await??;
    Ok(Json(serde_json::json!({"ok": true})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_pixel(width, height, Rgba([10, 20, 30, 255]));
        encode_png(&image).unwrap()
    }

    #[test]
    fn an_avatar_is_reencoded_to_a_square_png() {
        let png = reencode_avatar(&png_of(300, 200)).unwrap();
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (AVATAR_SIDE, AVATAR_SIDE)
        );
    }

    #[test]
    fn what_is_not_an_avatar_is_refused() {
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip file";
        assert_eq!(reencode_avatar(zip).unwrap_err().status, 415);
        let mut truncated = png_of(64, 64);
        truncated.truncate(60);
        assert_eq!(reencode_avatar(&truncated).unwrap_err().status, 422);
        let huge = png_of(MAX_AVATAR_SIDE + 1, 1);
        assert_eq!(reencode_avatar(&huge).unwrap_err().status, 422);
    }

    #[test]
    fn default_avatars_differ_by_player_and_are_stable() {
        let a = default_avatar(PlayerId(1)).unwrap();
        assert_eq!(a, default_avatar(PlayerId(1)).unwrap());
        assert_ne!(a, default_avatar(PlayerId(2)).unwrap());
    }

    #[test]
    fn codes_are_accepted_within_one_step_only() {
        let totp = totp_for(vec![3; TOTP_SECRET_BYTES], "ada").unwrap();
        let now = 1_000_000_000;
        let code = totp.generate(now);
        assert_eq!(code_step(&totp, &code, now), Some((now / 30) as i64));
        assert!(code_step(&totp, &code, now + 30).is_some(), "one step late");
        assert_eq!(code_step(&totp, &code, now + 90), None, "expired");
        assert_eq!(code_step(&totp, "12345", now), None);
        assert!(totp.get_url().starts_with("otpauth://totp/arcade:ada?"));
    }

    #[test]
    fn recovery_codes_hash_without_case_or_dashes() {
        let code = new_recovery_code();
        assert_eq!(code.len(), RECOVERY_CODE_LETTERS + 1);
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_uppercase().replace('-', ""))
        );
    }
}
