//! `/api/auth/*`: guests, registration, login, logout (tokio threads).
//!
//! Accounts over HTTP (PROTOCOL.md "HTTP", `/api/auth/*`): guests, registration, login with a
//! lockout, the bearer's own player, and logout.
//!
//! - Passwords are hashed with argon2id (a PHC string with its own salt) on the
//!   [`HashPool`]'s fixed threads only (each hash takes ~19 MiB and tens of ms by design, so
//!   hashing memory is bounded by the pool). Neither a password nor its hash is ever logged or
//!   sent.
//! - A token names a player and a session; [`authenticated`] checks both, so a logged-out
//!   token fails at once. Logout also closes every WebSocket connection that was identified by
//!   that token's session (`error` `unauthorized`, then close 1008 `logged out`).
//! - [`LoginGuard`] is the lockout. An attempt is counted *before* its password is hashed
//!   (so concurrent attempts cannot all slip past the check), against three keys: the name
//!   from this address ([`FREE_FAILURES_PER_NAME`]), the name from any address
//!   ([`FREE_FAILURES_PER_NAME_ANY_ADDRESS`], looser, so that another address cannot lock the
//!   owner out) and the address for any name ([`FREE_FAILURES_PER_ADDRESS`]). Past a key's
//!   free failures each further failure locks it for twice as long as the last, from
//!   [`LOCK_BASE`] up to [`LOCK_MAX`], and attempts on it go one at a time; while locked,
//!   login answers 429 with `Retry-After` without hashing.
//! - Register checks the name is free before hashing, and failed registrations (invalid,
//!   taken) count per address: past [`FREE_FAILED_REGISTRATIONS`] they lock the address's
//!   registrations the same way (429).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use arcade_data::{DataError, SessionId};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, SaltString};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::auth::Claims;
use crate::http::error::ApiError;
use crate::http::hash_pool::{HashError, HashPool};
use crate::outbox::CloseReason;
use crate::state::AppState;
use crate::wire::protocol::{self, ErrorCode, PlayerInfo};

/// Names: 3 to 20 characters, each an ASCII letter, digit, `_` or `-`.
pub const NAME_MIN_CHARS: usize = 3;
pub const NAME_MAX_CHARS: usize = 20;
/// Passwords: 8 to 128 characters (any Unicode).
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Wrong passwords for one name from one address before that pair is locked.
pub const FREE_FAILURES_PER_NAME: u32 = 5;
/// Wrong passwords for one name from all addresses together before the name is locked
/// everywhere (looser than [`FREE_FAILURES_PER_NAME`]: one address cannot lock the owner out).
pub const FREE_FAILURES_PER_NAME_ANY_ADDRESS: u32 = 50;
/// Failed registrations (invalid or taken) from one address before its registrations lock.
pub const FREE_FAILED_REGISTRATIONS: u32 = 10;
/// Wrong passwords from one address (any names) before the lockout starts.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// The first lock; each further failure doubles it.
pub const LOCK_BASE: Duration = Duration::from_secs(1);
/// The longest lock.
pub const LOCK_MAX: Duration = Duration::from_secs(15 * 60);
/// Failures older than this (with no lock running) are forgotten.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// The largest login body read.
const MAX_LOGIN_BODY_BYTES: usize = 64 * 1024;
/// Past this many tracked names and addresses, forgotten ones are swept out.
const MAX_TRACKED_KEYS: usize = 100_000;
/// How a connection is closed when its session logs out.
pub const CLOSE_LOGGED_OUT: CloseReason = CloseReason {
    code: 1008,
    reason: "logged out",
};

/// The accounts routes, with their own state (the lockout and the hashing permits).
pub fn routes(app: AppState) -> Router<AppState> {
    let hashing = HashPool::start(app.metrics.password_hashes.clone());
    let state = Accounts {
        app,
        guard: Arc::new(LoginGuard::default()),
        hashing,
    };
    Router::new()
        .route("/api/auth/guest", post(guest))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route(
            "/api/auth/me",
            get(me)
                .patch(super::manage::rename)
                .delete(super::manage::delete_account),
        )
        .route("/api/auth/logout", post(logout))
        .merge(super::manage::routes())
        .with_state(state)
}

/// The OpenAPI description of these routes (merged into `/api/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    paths(guest, register, login, me, logout),
    components(schemas(
        GuestRequest,
        CredentialsRequest,
        AuthResponse,
        MeResponse,
        PlayerSummary
    ))
)]
pub struct AccountsApi;

#[derive(Clone)]
pub(crate) struct Accounts {
    pub(crate) app: AppState,
    /// Login attempts and failed registrations.
    pub(crate) guard: Arc<LoginGuard>,
    /// The only threads that hash.
    pub(crate) hashing: HashPool,
}

// ---- shapes ---------------------------------------------------------------------------------

/// Body of `POST /api/auth/guest` (may be empty).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GuestRequest {
    /// 3..=20 of `A-Z a-z 0-9 _ -`; `guest-NNNN` when absent.
    #[schema(example = "ada_99", pattern = "^[A-Za-z0-9_-]{3,20}$")]
    pub name: Option<String>,
}

/// Body of `register` and `login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// 3..=20 of `A-Z a-z 0-9 _ -`, unique case-insensitively.
    #[schema(example = "ada_99", pattern = "^[A-Za-z0-9_-]{3,20}$")]
    pub name: String,
    /// 8..=128 characters.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128)]
    pub password: String,
}

/// A player as the accounts routes show it.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct PlayerSummary {
    /// `p_` and 16 hex digits.
    #[schema(value_type = String, example = "p_000a1b2c3d4e5f60")]
    pub id: arcade_systems::model::PlayerId,
    pub name: String,
    pub guest: bool,
}

impl From<PlayerInfo> for PlayerSummary {
    fn from(info: PlayerInfo) -> Self {
        PlayerSummary {
            id: info.id,
            name: info.name,
            guest: info.guest,
        }
    }
}

/// A token and whose it is.
#[derive(Serialize, ToSchema)]
pub struct AuthResponse {
    /// `Authorization: Bearer <token>`, or `?token=` / `auth` on the WebSocket.
    pub token: String,
    pub player: PlayerSummary,
}

/// `GET /api/auth/me`.
#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub player: PlayerSummary,
}

// ---- bearer tokens --------------------------------------------------------------------------

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

pub(crate) fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid bearer token is required",
    )
}

/// The bearer's player and token claims: 401 unless the request carries a well-signed token
/// whose session is live.
pub async fn authenticated(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(PlayerInfo, Claims), ApiError> {
    let token = bearer_token(headers).ok_or_else(unauthorized)?;
    let claims = state.tokens.verify(token).ok_or_else(unauthorized)?;
    let player = state
        .player_of_token(token)
        .await
        .ok_or_else(unauthorized)?;
    // A banned account's token opens nothing (issue 14).
    if let Some(ban) = crate::moderation::ban_of(state, player.id).await? {
        return Err(crate::moderation::banned_error(&ban));
    }
    Ok((player, claims))
}

// ---- validation and hashing -----------------------------------------------------------------

/// Checks a player name against the rule of PROTOCOL.md "Decisions".
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if (NAME_MIN_CHARS..=NAME_MAX_CHARS).contains(&chars) && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "name must be {NAME_MIN_CHARS}..={NAME_MAX_CHARS} characters of A-Z, a-z, 0-9, _ and -"
        )))
    }
}

pub(crate) fn validate_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "password must be {PASSWORD_MIN_CHARS}..={PASSWORD_MAX_CHARS} characters"
        )))
    }
}

/// The most argon2 memory one hashing thread keeps (blocks of 1 KiB): hashes stored with a
/// higher memory cost than this are refused rather than allowed to grow the buffer.
const MAX_HASH_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// The argon2 working memory of this thread, allocated once and reused by every hash (so
    /// that malloc does not keep a fresh 19 MiB per hash; only the hash pool's threads hash).
    static HASH_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2id with `params` of `password` and `salt` into `out`, in this thread's reused memory.
fn argon2_into(params: argon2::Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Option<()> {
    let blocks = params.block_count();
    if blocks > MAX_HASH_BLOCKS {
        return None;
    }
    let hasher = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    HASH_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        hasher
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .ok()
    })
}

/// A PHC string (argon2id, default cost, 16 random salt bytes, 32 output bytes).
pub(crate) fn hash_password(password: &str) -> Result<String, ApiError> {
    let failed = || ApiError::internal("password hashing failed");
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|_| failed())?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|_| failed())?;
    let params = argon2::Params::default();
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2_into(params.clone(), password.as_bytes(), salt_bytes, &mut out).ok_or_else(failed)?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(argon2::Version::V0x13.into()),
        params: (&params).try_into().map_err(|_| failed())?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(|_| failed())?),
    };
    Ok(hash.to_string())
}

/// Whether `password` is the one `hash` (an argon2id PHC string) was made of; compared in
/// constant time.
pub(crate) fn password_matches(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    argon2_into(params, password.as_bytes(), salt_bytes, &mut out).is_some()
        && argon2::password_hash::Output::new(&out).is_ok_and(|out| out == expected)
}

/// Checked against when the name is unknown, so that an unknown name takes as long to refuse
/// as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not the password of anyone").unwrap_or_default());

impl Accounts {
    /// Runs slow hashing work on the hash pool's threads.
    pub(crate) async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.hashing.run(work).await.map_err(|error| match error {
            HashError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "password hashing is busy; retry shortly",
            ),
            HashError::Stopped => ApiError::internal("password hashing failed"),
        })
    }

    /// Opens a session for `player` (showing `client` in its sessions) and answers its token.
    async fn issue(
        &self,
        player: PlayerInfo,
        client: arcade_data::accounts::SessionClient,
    ) -> Result<AuthResponse, ApiError> {
        let id = player.id;
        let session = self
            .app
            .blocking(move |store| store.open_session(id, client))
            .await??;
        Ok(AuthResponse {
            token: self.app.tokens.issue(id, &session.to_string()),
            player: player.into(),
        })
    }
}

/// Parses a JSON body into `T` (an empty body reads as `{}`), or 400 `bad_request`.
/// 413 `too_large` for a body over the route's limit, else 400.
fn body_error(error: axum::Error) -> ApiError {
    if error
        .into_inner()
        .downcast_ref::<http_body_util::LengthLimitError>()
        .is_some()
    {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {MAX_LOGIN_BODY_BYTES} bytes"),
        )
    } else {
        ApiError::bad_request("the body could not be read")
    }
}

pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

// ---- handlers -------------------------------------------------------------------------------

/// Becomes a new guest player (nothing is written until the guest needs a row).
#[utoipa::path(
    post, path = "/api/auth/guest", tag = "accounts",
    request_body(content = Option<GuestRequest>, description = "optional; `{}` or empty for a generated name"),
    responses(
        (status = 200, description = "a new guest and its token", body = AuthResponse),
        (status = 400, description = "invalid body or name", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn guest(State(state): State<Accounts>, body: Bytes) -> Result<Json<AuthResponse>, ApiError> {
    let request: GuestRequest = json_body::<Option<GuestRequest>>(&body)?.unwrap_or_default();
    if let Some(name) = &request.name {
        validate_name(name)?;
    }
    let (player, token) = state.app.new_guest(request.name);
    Ok(Json(AuthResponse {
        token,
        player: player.into(),
    }))
}

/// Registers a player with a password.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "accounts",
    request_body = CredentialsRequest,
    responses(
        (status = 201, description = "registered; a token for the new player", body = AuthResponse),
        (status = 400, description = "invalid body, name or password", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "the name is taken (case-insensitively)", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "too many failed registrations from this address; retry after `Retry-After` seconds",
            body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the lock ends"))),
        (status = 503, description = "storage or hashing unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn register(
    State(state): State<Accounts>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let address = request_address(&state.app, &headers, &request);
    let key = [GuardKey::registrations(address)];
    if let Err(wait) = state.guard.check(&key, Instant::now()) {
        return Ok(locked_out(wait, "too many failed registrations"));
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_LOGIN_BODY_BYTES)
        .await
        .map_err(|_| ApiError::bad_request("the body could not be read"));
    let client = super::manage::session_client(&headers, address);
    let result = match body {
        Ok(body) => register_new(&state, &body, client).await,
        Err(error) => Err(error),
    };
    if let Err(error) = &result
        && matches!(error.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT)
    {
        state.guard.failed(&key, Instant::now());
    }
    result
}

fn name_taken() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", "the name is taken")
}

/// Validates, checks the name is free (before any hashing), hashes, and creates the player.
async fn register_new(
    state: &Accounts,
    body: &Bytes,
    client: arcade_data::accounts::SessionClient,
) -> Result<Response, ApiError> {
    let request: CredentialsRequest = json_body(body)?;
    validate_name(&request.name)?;
    validate_password(&request.password)?;
    let name = request.name.clone();
    let existing = state
        .app
        .blocking(move |store| store.find_credentials(&name))
        .await??;
    if existing.is_some() {
        return Err(name_taken());
    }
    let password = request.password;
    let hash = state.hashing(move || hash_password(&password)).await??;
    let name = request.name;
    let created = state
        .app
        .blocking(move |store| store.create_player(&name, &hash))
        .await?;
    let row = match created {
        Ok(row) => row,
        Err(DataError::NameTaken) => return Err(name_taken()),
        Err(error) => return Err(error.into()),
    };
    let player = PlayerInfo {
        id: row.id,
        name: row.name,
        guest: false,
    };
    let answer = state.issue(player, client).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// The client address of a request (see [`client_address`]).
pub(crate) fn request_address(
    app: &AppState,
    headers: &HeaderMap,
    request: &axum::extract::Request,
) -> Option<IpAddr> {
    client_address(
        app.config.ops.trust_forwarded_for,
        headers,
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
    )
}

/// Logs in with a name and password.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "accounts",
    request_body = super::manage::LoginRequest,
    responses(
        (status = 200, description = "a token for the player", body = AuthResponse),
        (status = 400, description = "invalid body", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 64 KiB", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "wrong name or password (`unauthorized`), or a right password on an account with two-factor sign-in and no `code` (`totp_required`) or a wrong one (`unauthorized`)", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "the account is banned (`banned`, with `until`)", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "locked out after repeated failures (or attempts in flight past the free ones); retry after `Retry-After` seconds",
            body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the lock ends"))),
        (status = 503, description = "storage or hashing unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn login(
    State(state): State<Accounts>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let address = request_address(&state.app, &headers, &request);
    let body = axum::body::to_bytes(request.into_body(), MAX_LOGIN_BODY_BYTES)
        .await
        .map_err(body_error)?;
    let super::manage::LoginRequest {
        name,
        password,
        code,
    } = json_body(&body)?;
    let request = CredentialsRequest { name, password };
    // Nothing is looked up, hashed or counted for a name that could not be registered.
    validate_name(&request.name)?;
    validate_password(&request.password)?;
    let keys = GuardKey::login(&request.name, address);
    // Counted before hashing: concurrent attempts cannot all pass the check.
    if let Err(wait) = state.guard.begin(&keys, Instant::now()) {
        return Ok(locked_out(wait, "too many failed logins"));
    }
    let outcome = check_password(&state, request).await;
    match outcome {
        Ok(Some(player)) => {
            // Two-factor sign-in: a code is checked, and counted, like a password.
            if let Err(refused) = super::manage::second_factor(&state, &player, code).await {
                return Err(refused.settle(&state.guard, &keys));
            }
            state.guard.succeeded(&keys, &keys[0]);
            // A banned account gets no token (issue 14): 403 `banned` with the end time.
            if let Some(ban) = crate::moderation::ban_of(&state.app, player.id).await? {
                return Ok(crate::moderation::banned_response(&ban));
            }
            let client = super::manage::session_client(&headers, address);
            Ok(Json(state.issue(player, client).await?).into_response())
        }
        Ok(None) => {
            state.guard.failed(&keys, Instant::now());
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong name or password",
            ))
        }
        Err(error) => {
            state.guard.abandoned(&keys);
            Err(error)
        }
    }
}

/// The player whose credentials these are, or `None` for a wrong name or password.
async fn check_password(
    state: &Accounts,
    request: CredentialsRequest,
) -> Result<Option<PlayerInfo>, ApiError> {
    let name = request.name.clone();
    let credentials = state
        .app
        .blocking(move |store| store.find_credentials(&name))
        .await??;
    let password = request.password;
    let (credentials, ok) = state
        .hashing(move || {
            let hash = credentials
                .as_ref()
                .map_or(DUMMY_HASH.as_str(), |c| c.password_hash.as_str());
            let ok = password_matches(&password, hash) && credentials.is_some();
            (credentials, ok)
        })
        .await?;
    Ok(credentials.filter(|_| ok).map(|credentials| PlayerInfo {
        id: credentials.player.id,
        name: credentials.player.name,
        guest: false,
    }))
}

pub(crate) fn locked_out(wait: Duration, what: &str) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("{what}; retry in {seconds} s"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The bearer's player.
#[utoipa::path(
    get, path = "/api/auth/me", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the bearer's player", body = MeResponse),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
    )
)]
async fn me(
    State(state): State<Accounts>,
    headers: HeaderMap,
) -> Result<Json<MeResponse>, ApiError> {
    let (player, _) = authenticated(&state.app, &headers).await?;
    Ok(Json(MeResponse {
        player: player.into(),
    }))
}

/// Revokes the bearer's token, over HTTP and WebSocket.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "revoked: `{\"ok\": true}`", body = crate::http::openapi::OkBody),
        (status = 401, description = "no valid token", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn logout(
    State(state): State<Accounts>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (player, claims) = authenticated(&state.app, &headers).await?;
    let session = claims
        .sid
        .parse::<SessionId>()
        .map_err(|_| unauthorized())?;
    if claims.guest.is_some() {
        // A guest's session has no row until now: write it, revoked.
        let name = player.name.clone();
        state
            .app
            .blocking(move |store| store.revoke_guest_session(player.id, &name, session))
            .await??;
    } else {
        state
            .app
            .blocking(move |store| store.revoke_session(session))
            .await??;
    }
    let error = protocol::error(ErrorCode::Unauthorized, "the session was logged out", None);
    let closed = state
        .app
        .hub
        .close_session(&claims.sid, &error, CLOSE_LOGGED_OUT);
    tracing::debug!(player = %claims.sub, closed, "logged out");
    Ok(Json(serde_json::json!({"ok": true})))
}

// ---- the guest purge -----------------------------------------------------------------------

/// The longest wait between two guest purges.
pub const GUEST_PURGE_EVERY_AT_MOST: Duration = Duration::from_secs(3600);

/// Runs forever (a tokio task): deletes stored guests older than `--guest-purge-age` that
/// have nothing attached (`Store::purge_guests`), every half of that age (at most hourly).
/// Revoked guest sessions younger than a token's lifetime are kept, so that a logged-out
/// guest token stays refused until it expires.
pub async fn purge_guests(app: AppState) {
    let age = app.config.ops.abuse.guest_purge_age;
    let every = (age / 2).clamp(Duration::from_millis(100), GUEST_PURGE_EVERY_AT_MOST);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = crate::clock::now_ms();
        let before = now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
        let lifetime_ms = i64::try_from(crate::auth::TOKEN_LIFETIME_SECONDS * 1000).unwrap_or(0);
        let revoked_since = now.saturating_sub(lifetime_ms);
        match app
            .blocking(move |store| store.purge_guests(before, revoked_since))
            .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(purged)) => tracing::info!(purged, "unused guests purged"),
            Ok(Err(error)) => tracing::warn!(%error, "guest purge failed"),
            Err(error) => tracing::warn!(%error, "guest purge failed"),
        }
    }
}

// ---- the lockout ----------------------------------------------------------------------------

/// The address a request came from: the socket's peer, or, when the operator trusts the proxy
/// (`trust_forwarded_for`, as the HTTP rate limit does), the last `X-Forwarded-For` hop.
pub(crate) fn client_address(
    trust_forwarded_for: bool,
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(last) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .next_back()
    {
        return Some(last);
    }
    peer.map(|ConnectInfo(addr)| addr.ip())
}

/// What failures are counted against, and how many are free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardKey {
    key: String,
    free: u32,
}

impl GuardKey {
    /// A login name from any address (case-insensitive, like names).
    pub fn name(name: &str) -> GuardKey {
        GuardKey {
            key: format!("n:{}", name.to_lowercase()),
            free: FREE_FAILURES_PER_NAME_ANY_ADDRESS,
        }
    }

    /// A login name from one address.
    pub fn name_at(name: &str, address: Option<IpAddr>) -> GuardKey {
        GuardKey {
            key: format!("na:{}@{}", name.to_lowercase(), address_text(address)),
            free: FREE_FAILURES_PER_NAME,
        }
    }

    /// A client address, for logins to any name.
    pub fn address(address: Option<IpAddr>) -> GuardKey {
        GuardKey {
            key: format!("a:{}", address_text(address)),
            free: FREE_FAILURES_PER_ADDRESS,
        }
    }

    /// A client address, for registrations.
    pub fn registrations(address: Option<IpAddr>) -> GuardKey {
        GuardKey {
            key: format!("r:{}", address_text(address)),
            free: FREE_FAILED_REGISTRATIONS,
        }
    }

    /// The keys a login attempt counts against: the (name, address) pair first.
    pub fn login(name: &str, address: Option<IpAddr>) -> [GuardKey; 3] {
        [
            GuardKey::name_at(name, address),
            GuardKey::name(name),
            GuardKey::address(address),
        ]
    }
}

/// `None` (unknown) is one address shared by all such clients.
fn address_text(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    /// Attempts begun and not yet settled (their passwords are being checked).
    in_flight: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed logins per key, the attempts in flight, and the locks they earned.
#[derive(Default)]
pub struct LoginGuard {
    entries: Mutex<HashMap<String, Failures>>,
}

impl LoginGuard {
    /// `Err(wait)` while any of `keys` is locked, with the longest wait.
    pub fn check(&self, keys: &[GuardKey], now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::wait(&entries, keys, now).map_or(Ok(()), Err)
    }

    fn wait(
        entries: &HashMap<String, Failures>,
        keys: &[GuardKey],
        now: Instant,
    ) -> Option<Duration> {
        keys.iter()
            .filter_map(|key| {
                let entry = entries.get(&key.key)?;
                if let Some(until) = entry.locked_until.filter(|&until| until > now) {
                    return Some(until - now);
                }
                // Past the free failures, attempts go one at a time.
                let past_free = entry.count.saturating_add(entry.in_flight) >= key.free;
                (past_free && entry.in_flight > 0).then_some(LOCK_BASE)
            })
            .max()
    }

    /// Begins an attempt: `Err(wait)` if any key is locked, or already has as many attempts
    /// in flight as it has free failures left (at least one). Otherwise the attempt is counted
    /// on every key until [`LoginGuard::failed`], [`LoginGuard::succeeded`] or
    /// [`LoginGuard::abandoned`] settles it.
    pub fn begin(&self, keys: &[GuardKey], now: Instant) -> Result<(), Duration> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = Self::wait(&entries, keys, now) {
            return Err(wait);
        }
        if entries.len() > MAX_TRACKED_KEYS {
            entries.retain(|_, entry| !forgotten(entry, now));
        }
        for key in keys {
            let entry = entries.entry(key.key.clone()).or_insert(Failures {
                count: 0,
                in_flight: 0,
                last: now,
                locked_until: None,
            });
            if forgotten(entry, now) {
                entry.count = 0;
            }
            entry.in_flight += 1;
            entry.last = now;
        }
        Ok(())
    }

    /// Counts a failure against every key (settling an attempt begun on them, if any),
    /// locking those past their free failures.
    pub fn failed(&self, keys: &[GuardKey], now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > MAX_TRACKED_KEYS {
            entries.retain(|_, entry| !forgotten(entry, now));
        }
        for key in keys {
            let entry = entries.entry(key.key.clone()).or_insert(Failures {
                count: 0,
                in_flight: 0,
                last: now,
                locked_until: None,
            });
            if forgotten(entry, now) {
                entry.count = 0;
            }
            entry.in_flight = entry.in_flight.saturating_sub(1);
            entry.count += 1;
            entry.last = now;
            if entry.count >= key.free {
                let doublings = (entry.count - key.free).min(20);
                let lock = LOCK_BASE.saturating_mul(1 << doublings).min(LOCK_MAX);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    /// Settles a successful attempt: forgets the failures of `clear` (the name from this
    /// address), and only ends the attempt on the other keys.
    pub fn succeeded(&self, keys: &[GuardKey], clear: &GuardKey) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(entry) = entries.get_mut(&key.key) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
                if key == clear {
                    entry.count = 0;
                    entry.locked_until = None;
                }
            }
        }
    }

    /// Settles an attempt that could not be checked (storage down): counts nothing.
    pub fn abandoned(&self, keys: &[GuardKey]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(entry) = entries.get_mut(&key.key) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
            }
        }
    }
}

fn forgotten(entry: &Failures, now: Instant) -> bool {
    entry.in_flight == 0
        && entry.locked_until.is_none_or(|until| until <= now)
        && now.duration_since(entry.last) > FAILURE_MEMORY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for good in ["ada", "Ada_Lovelace-1815", "abcdefghijklmnopqrst"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ab",
            "abcdefghijklmnopqrstu",
            "a b",
            "ädä",
            "x.y",
            "tab\t",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("correct horse"));
        assert!(password_matches("correct horse", &hash));
        assert!(!password_matches("wrong horse", &hash));
        assert!(!password_matches("correct horse", "not a hash"));
    }

    fn fail(guard: &LoginGuard, keys: &[GuardKey], now: Instant) {
        assert_eq!(guard.begin(keys, now), Ok(()));
        guard.failed(keys, now);
    }

    #[test]
    fn the_lock_starts_after_the_free_failures_grows_and_ends() {
        let guard = LoginGuard::default();
        let keys = [GuardKey::name_at("Ada", None), GuardKey::address(None)];
        let start = Instant::now();
        for _ in 0..FREE_FAILURES_PER_NAME {
            fail(&guard, &keys, start);
        }
        assert_eq!(guard.begin(&keys, start), Err(LOCK_BASE));
        let ada = [GuardKey::name_at("ADA", None)];
        assert_eq!(guard.check(&ada, start), Err(LOCK_BASE));
        assert_eq!(
            guard.check(&[GuardKey::name_at("bob", None)], start),
            Ok(())
        );
        let later = start + LOCK_BASE;
        fail(&guard, &keys, later);
        assert_eq!(guard.check(&keys, later), Err(LOCK_BASE * 2));
        let much_later = later + LOCK_BASE * 2;
        assert_eq!(guard.begin(&keys, much_later), Ok(()));
        guard.succeeded(&keys, &keys[0]);
        assert_eq!(guard.check(&keys[..1], much_later), Ok(()));
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked() {
        let guard = LoginGuard::default();
        let keys = GuardKey::login("ada", None);
        let now = Instant::now();
        let begun = (0..20).filter(|_| guard.begin(&keys, now).is_ok()).count();
        assert_eq!(begun as u32, FREE_FAILURES_PER_NAME);
        for _ in 0..begun {
            guard.failed(&keys, now);
        }
        assert_eq!(guard.begin(&keys, now), Err(LOCK_BASE));
    }

    #[test]
    fn another_address_does_not_lock_the_owner_out() {
        let guard = LoginGuard::default();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        let now = Instant::now();
        for _ in 0..FREE_FAILURES_PER_NAME {
            fail(&guard, &GuardKey::login("ada", a), now);
        }
        assert!(guard.begin(&GuardKey::login("ada", a), now).is_err());
        assert_eq!(guard.begin(&GuardKey::login("ada", b), now), Ok(()));
    }

    #[test]
    fn locks_are_capped_and_old_failures_forgotten() {
        let guard = LoginGuard::default();
        let keys = [GuardKey::name_at("ada", None)];
        let now = Instant::now();
        for _ in 0..40 {
            guard.failed(&keys, now);
        }
        assert_eq!(guard.check(&keys, now), Err(LOCK_MAX));
        let much_later = now + LOCK_MAX + FAILURE_MEMORY + Duration::from_secs(1);
        guard.failed(&keys, much_later);
        assert_eq!(
            guard.check(&keys, much_later),
            Ok(()),
            "counting starts over"
        );
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }
}
