//! `/api/auth/*`: guests, registration, login, logout (tokio threads).
//!
//! Accounts over HTTP (PROTOCOL.md "HTTP", `/api/auth/*`): guests, registration, login with a
//! lockout, the bearer's own player, and logout.
//!
//! - Passwords are hashed with argon2id (a PHC string with its own salt) on tokio's blocking
//!   pool, at most [`MAX_CONCURRENT_HASHES`] at a time (each takes ~19 MiB and tens of ms by
//!   design). Neither a password nor its hash is ever logged or sent.
//! - A token names a player and a session; [`authenticated`] checks both, so a logged-out
//!   token fails at once. Logout also closes every WebSocket connection that was identified by
//!   that token's session (`error` `unauthorized`, then close 1008 `logged out`).
//! - [`LoginGuard`] is the lockout: after [`FREE_FAILURES_PER_NAME`] wrong passwords for one
//!   name (or [`FREE_FAILURES_PER_ADDRESS`] from one address), each further failure locks
//!   logins for that name (address) for twice as long as the last, from [`LOCK_BASE`] up to
//!   [`LOCK_MAX`]; while locked, login answers 429 with `Retry-After` without checking the
//!   password.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use arcade_data::{DataError, SessionId};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::auth::Claims;
use crate::http::error::ApiError;
use crate::outbox::CloseReason;
use crate::state::AppState;
use crate::wire::protocol::{self, ErrorCode, PlayerInfo};

/// Names: 3 to 20 characters, each an ASCII letter, digit, `_` or `-`.
pub const NAME_MIN_CHARS: usize = 3;
pub const NAME_MAX_CHARS: usize = 20;
/// Passwords: 8 to 128 characters (any Unicode).
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Password hashes computed at the same time; more requests wait their turn.
pub const MAX_CONCURRENT_HASHES: usize = 4;
/// Wrong passwords for one name before the lockout starts.
pub const FREE_FAILURES_PER_NAME: u32 = 5;
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
    let state = Accounts {
        app,
        guard: Arc::new(LoginGuard::default()),
        hashing: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)),
    };
    Router::new()
        .route("/api/auth/guest", post(guest))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
        .route("/api/auth/logout", post(logout))
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
struct Accounts {
    app: AppState,
    guard: Arc<LoginGuard>,
    hashing: Arc<Semaphore>,
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

fn unauthorized() -> ApiError {
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

fn validate_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "password must be {PASSWORD_MIN_CHARS}..={PASSWORD_MAX_CHARS} characters"
        )))
    }
}

/// A PHC string (argon2id, default cost, 16 random salt bytes).
fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|_| ApiError::internal("password hashing failed"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| ApiError::internal("password hashing failed"))
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Checked against when the name is unknown, so that an unknown name takes as long to refuse
/// as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not the password of anyone").unwrap_or_default());

impl Accounts {
    /// Runs slow hashing work on the blocking pool, holding one of the hashing permits.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("hashing is shut down"))?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|_| ApiError::internal("password hashing failed"))
    }

    /// Opens a session for `player` and answers its token.
    async fn issue(&self, player: PlayerInfo) -> Result<AuthResponse, ApiError> {
        let id = player.id;
        let session = self
            .app
            .blocking(move |store| store.create_session(id))
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

fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

// ---- handlers -------------------------------------------------------------------------------

/// Becomes a new guest player.
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
    let name = match request.name {
        Some(name) => {
            validate_name(&name)?;
            name
        }
        None => format!("guest-{:04}", rand::random_range(0..10_000u32)),
    };
    let row = state
        .app
        .blocking(move |store| store.create_guest(&name))
        .await??;
    let player = PlayerInfo {
        id: row.id,
        name: row.name,
        guest: true,
    };
    Ok(Json(state.issue(player).await?))
}

/// Registers a player with a password.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "accounts",
    request_body = CredentialsRequest,
    responses(
        (status = 201, description = "registered; a token for the new player", body = AuthResponse),
        (status = 400, description = "invalid body, name or password", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "the name is taken (case-insensitively)", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn register(State(state): State<Accounts>, body: Bytes) -> Result<Response, ApiError> {
    let request: CredentialsRequest = json_body(&body)?;
    validate_name(&request.name)?;
    validate_password(&request.password)?;
    let password = request.password;
    let hash = state.hashing(move || hash_password(&password)).await??;
    let name = request.name;
    let created = state
        .app
        .blocking(move |store| store.create_player(&name, &hash))
        .await?;
    let row = match created {
        Ok(row) => row,
        Err(DataError::NameTaken) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the name is taken",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let player = PlayerInfo {
        id: row.id,
        name: row.name,
        guest: false,
    };
    let answer = state.issue(player).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Logs in with a name and password.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "accounts",
    request_body = CredentialsRequest,
    responses(
        (status = 200, description = "a token for the player", body = AuthResponse),
        (status = 400, description = "invalid body", body = crate::http::openapi::ErrorBody),
        (status = 413, description = "a body over 64 KiB", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "wrong name or password", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "locked out after repeated failures; retry after `Retry-After` seconds",
            body = crate::http::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the lock ends"))),
        (status = 503, description = "storage unavailable", body = crate::http::openapi::ErrorBody),
    )
)]
async fn login(
    State(state): State<Accounts>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let address = client_address(
        state.app.config.ops.trust_forwarded_for,
        &headers,
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
    );
    let body = axum::body::to_bytes(request.into_body(), MAX_LOGIN_BODY_BYTES)
        .await
        .map_err(body_error)?;
    let request: CredentialsRequest = json_body(&body)?;
    // Nothing is looked up, hashed or counted for a name that could not be registered.
    validate_name(&request.name)?;
    validate_password(&request.password)?;
    let keys = [GuardKey::name(&request.name), GuardKey::address(address)];
    if let Err(wait) = state.guard.check(&keys, Instant::now()) {
        return Ok(locked_out(wait));
    }
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
    let Some(credentials) = credentials.filter(|_| ok) else {
        state.guard.failed(&keys, Instant::now());
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong name or password",
        ));
    };
    state.guard.succeeded(&keys[0]);
    let player = PlayerInfo {
        id: credentials.player.id,
        name: credentials.player.name,
        guest: false,
    };
    Ok(Json(state.issue(player).await?).into_response())
}

fn locked_out(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many failed logins; retry in {seconds} s"),
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
    let (_, claims) = authenticated(&state.app, &headers).await?;
    let session = claims
        .sid
        .parse::<SessionId>()
        .map_err(|_| unauthorized())?;
    state
        .app
        .blocking(move |store| store.revoke_session(session))
        .await??;
    let error = protocol::error(ErrorCode::Unauthorized, "the session was logged out", None);
    let closed = state
        .app
        .hub
        .close_session(&claims.sid, &error, CLOSE_LOGGED_OUT);
    tracing::debug!(player = %claims.sub, closed, "logged out");
    Ok(Json(serde_json::json!({"ok": true})))
}

// ---- the lockout ----------------------------------------------------------------------------

/// The address a request came from: the socket's peer, or, when the operator trusts the proxy
/// (`trust_forwarded_for`, as the HTTP rate limit does), the last `X-Forwarded-For` hop.
fn client_address(
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
    /// A login name (case-insensitive, like names).
    pub fn name(name: &str) -> GuardKey {
        GuardKey {
            key: format!("n:{}", name.to_lowercase()),
            free: FREE_FAILURES_PER_NAME,
        }
    }

    /// A client address (`None`: unknown, shared by all such clients).
    pub fn address(address: Option<IpAddr>) -> GuardKey {
        let key = address.map_or_else(|| "a:unknown".to_owned(), |ip| format!("a:{ip}"));
        GuardKey {
            key,
            free: FREE_FAILURES_PER_ADDRESS,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed logins per name and per address, and the locks they earned.
#[derive(Default)]
pub struct LoginGuard {
    entries: Mutex<HashMap<String, Failures>>,
}

impl LoginGuard {
    /// `Err(wait)` while any of `keys` is locked, with the longest wait.
    pub fn check(&self, keys: &[GuardKey], now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|key| entries.get(&key.key)?.locked_until)
            .filter(|&until| until > now)
            .map(|until| until - now)
            .max();
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failure against every key, locking those past their free failures.
    pub fn failed(&self, keys: &[GuardKey], now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > MAX_TRACKED_KEYS {
            entries.retain(|_, entry| !forgotten(entry, now));
        }
        for key in keys {
            let entry = entries.entry(key.key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if forgotten(entry, now) {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= key.free {
                let doublings = (entry.count - key.free).min(20);
                let lock = LOCK_BASE.saturating_mul(1 << doublings).min(LOCK_MAX);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    /// Forgets the failures of `key` (a successful login clears its name, not its address).
    pub fn succeeded(&self, key: &GuardKey) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key.key);
    }
}

fn forgotten(entry: &Failures, now: Instant) -> bool {
    entry.locked_until.is_none_or(|until| until <= now)
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

    #[test]
    fn the_lock_starts_after_the_free_failures_grows_and_ends() {
        let guard = LoginGuard::default();
        let keys = [GuardKey::name("Ada"), GuardKey::address(None)];
        let start = Instant::now();
        for _ in 0..FREE_FAILURES_PER_NAME - 1 {
            assert_eq!(guard.check(&keys, start), Ok(()));
            guard.failed(&keys, start);
        }
        assert_eq!(guard.check(&keys, start), Ok(()));
        guard.failed(&keys, start);
        assert_eq!(guard.check(&keys, start), Err(LOCK_BASE));
        assert_eq!(guard.check(&[GuardKey::name("ADA")], start), Err(LOCK_BASE));
        assert_eq!(guard.check(&[GuardKey::name("bob")], start), Ok(()));
        let later = start + LOCK_BASE;
        assert_eq!(guard.check(&keys, later), Ok(()));
        guard.failed(&keys, later);
        assert_eq!(guard.check(&keys, later), Err(LOCK_BASE * 2));
        guard.succeeded(&keys[0]);
        assert_eq!(guard.check(&keys[..1], later), Ok(()));
    }

    #[test]
    fn locks_are_capped_and_old_failures_forgotten() {
        let guard = LoginGuard::default();
        let keys = [GuardKey::name("ada")];
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
