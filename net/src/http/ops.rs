//! Operations at the HTTP edge (tokio threads): the layers every route passes through and
//! the operator's routes.
//!
//! - [`apply`] wraps the router, innermost first: request body limit (413), request timeout
//!   (503 `timeout`), the admin guard of `/metrics` and `/health/details` (401), the
//!   per-address rate limit of `/api` (429 with `Retry-After`; tower_governor's limiters),
//!   CORS (same origin only, unless `--cors-origin`), the security headers with the
//!   Content-Security-Policy of `assets/`, the JSON error shape for bodies that layers and
//!   extractors make, and an HTTP trace span carrying the request id.
//! - [`health_details`]: `GET /health/details` (the tick p99 comes from
//!   [`crate::clock::TickWindow`]).

use crate::clock::TICK_ALIVE_WITHIN;
use crate::http::error::ApiError;
use crate::state::AppState;

pub use crate::state::{OpsConfig, RateLimits};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::middleware::NoOpMiddleware;
use prometheus::core::Collector;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The largest request body accepted (kept in step with `client_max_body_size` in
/// proxy/nginx.conf).
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// How long a request may take before it is answered 503 `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a plain-text error body is kept as the JSON error's message.
const MAX_ERROR_TEXT: usize = 1024;

/// The rate limiters forget idle addresses every this many limited requests.
const FORGET_IDLE_EVERY: u64 = 4096;

/// The Content-Security-Policy of the pages in `assets/`: scripts, styles and images from the
/// same origin only, sockets and fetches to the same origin (`connect-src 'self'` covers
/// `ws:`/`wss:` to the same host), no plugins, no framing, no inline code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Headers set on every response that does not set them itself.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    ),
];

/// Wraps `router` in the operational layers (see the module docs).
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let ops = &state.config.ops;
    let limiters = Arc::new(Limiters::new(ops));
    let mut router = router
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), admin_guard))
        .layer(middleware::from_fn_with_state(limiters, rate_limit))
        .layer(cors(&ops.cors_origins));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    router.layer(middleware::from_fn(json_errors)).layer(
        TraceLayer::new_for_http()
            .make_span_with(http_span)
            .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
    )
}

/// The span of one HTTP request: method, route pattern, path and request id.
fn http_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or("");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str())
        .unwrap_or("/*static");
    tracing::info_span!(
        "http",
        method = %request.method(),
        route,
        path = %request.uri().path(),
        request_id,
    )
}

/// Same-origin browsers need no CORS headers; other origins get them only when listed.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// Routes that need the admin token when one is set.
const ADMIN_ROUTES: &[&str] = &["/metrics", "/health/details"];

/// Marks a request that carried the admin bearer token (only when `--admin-token` is set):
/// `/health/details` shows the database path only to it.
#[derive(Clone, Copy, Debug)]
pub struct AdminBearer;

/// With `--admin-token`, `/metrics` and `/health/details` need `Authorization: Bearer <it>`.
async fn admin_guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(token) = state
        .config
        .admin_token
        .as_deref()
        .filter(|token| !token.is_empty())
    else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
        request.extensions_mut().insert(AdminBearer);
        return next.run(request).await;
    }
    if !ADMIN_ROUTES.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this route needs the admin bearer token",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a request to `/api` counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RateClass {
    Read,
    Write,
    Auth,
    /// `GET /ws` (`--ws-upgrades`): refused before the upgrade.
    Upgrade,
}

fn rate_class(method: &Method, path: &str) -> Option<RateClass> {
    if path == "/ws" {
        return Some(RateClass::Upgrade);
    }
    if !(path == "/api" || path.starts_with("/api/")) {
        return None;
    }
    if path.starts_with("/api/auth/") {
        return Some(RateClass::Auth);
    }
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => Some(RateClass::Read),
        _ => Some(RateClass::Write),
    }
}

/// The rate-limit key of a request: the peer address, or with `trust_forwarded_for` the last
/// `X-Forwarded-For` hop (the one the proxy appended; earlier hops are the client's word).
#[derive(Clone, Copy, Debug)]
struct ClientAddress {
    trust_forwarded_for: bool,
}

impl KeyExtractor for ClientAddress {
    type Key = IpAddr;

    fn extract<T>(&self, request: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        if self.trust_forwarded_for
            && let Some(last) = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
                .next_back()
        {
            return Ok(last);
        }
        Ok(request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

type Limiter = GovernorConfig<ClientAddress, NoOpMiddleware>;

/// One tower_governor limiter per class (None when the class is off).
struct Limiters {
    reads: Option<Limiter>,
    writes: Option<Limiter>,
    auth: Option<Limiter>,
    upgrades: Option<Limiter>,
    key: ClientAddress,
    checked: AtomicU64,
}

impl Limiters {
    fn new(ops: &OpsConfig) -> Limiters {
        let key = ClientAddress {
            trust_forwarded_for: ops.trust_forwarded_for,
        };
        let limiter = |per_second: u32| {
            (per_second > 0).then(|| {
                GovernorConfigBuilder::default()
                    .period(Duration::from_secs(1) / per_second)
                    .burst_size(per_second.saturating_mul(2))
                    .key_extractor(key)
                    .finish()
                    .expect("a non-zero period and burst")
            })
        };
        let limits = ops.rate_limits;
        Limiters {
            reads: limiter(limits.reads),
            writes: limiter(limits.writes),
            auth: limiter(limits.auth),
            upgrades: limiter(ops.abuse.ws_upgrades),
            key,
            checked: AtomicU64::new(0),
        }
    }

    fn of(&self, class: RateClass) -> Option<&Limiter> {
        match class {
            RateClass::Read => self.reads.as_ref(),
            RateClass::Write => self.writes.as_ref(),
            RateClass::Auth => self.auth.as_ref(),
            RateClass::Upgrade => self.upgrades.as_ref(),
        }
    }

    /// Whole seconds until the request would be allowed, or None when it is allowed now.
    fn check<T>(&self, class: RateClass, request: &axum::http::Request<T>) -> Option<u64> {
        let limiter = self.of(class)?;
        let key = self.key.extract(request).ok()?;
        let limiter = limiter.limiter();
        if self
            .checked
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(FORGET_IDLE_EVERY)
        {
            limiter.retain_recent();
        }
        let refused = limiter.check_key(&key).err()?;
        let wait = refused.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        // Rounded up, so that a retry after Retry-After is allowed.
        Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    }
}

/// Refuses `/api` requests over their class's rate with 429, `Retry-After` and the JSON error.
async fn rate_limit(
    State(limiters): State<Arc<Limiters>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(class) = rate_class(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(wait) = limiters.check(class, &request) else {
        return next.run(request).await;
    };
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests from this address; retry in {wait} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    response
}

/// Gives error responses that layers or extractors made (405, 408, 413, 415, 503 timeouts,
/// ...) the one JSON error shape of PROTOCOL.md, keeping their status and headers.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .filter(|text| !text.is_empty());
    let (code, fallback) = error_code(status);
    let body =
        json!({"error": {"code": code, "message": text.unwrap_or_else(|| fallback.to_owned())}});
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// The error code and a default message for a status.
fn error_code(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad_request", "bad request"),
        StatusCode::UNAUTHORIZED => ("unauthorized", "authentication needed"),
        StatusCode::FORBIDDEN => ("forbidden", "not allowed"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::CONFLICT => ("conflict", "conflict"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported type"),
        StatusCode::UNPROCESSABLE_ENTITY => ("unprocessable", "invalid request"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests"),
        StatusCode::SERVICE_UNAVAILABLE => ("timeout", "the server did not answer in time"),
        s if s.is_client_error() => ("bad_request", "bad request"),
        _ => ("internal", "internal error"),
    }
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// `GET /health/details` (PROTOCOL.md "Running the server"); the database path only for the
/// admin bearer.
pub async fn health_details(
    State(state): State<AppState>,
    admin: Option<axum::Extension<AdminBearer>>,
) -> Response {
    let ticking = state.clock.since_last_tick() < TICK_ALIVE_WITHIN;
    let database = state
        .blocking(|store| (store.ping(), store.size_bytes(), store.last_write_at_ms()))
        .await
        .ok();
    let (db_ok, size_bytes, last_write) = database.unwrap_or((false, 0, None));
    let metrics = &state.metrics;
    let mut matches = serde_json::Map::new();
    for family in metrics.matches_active.collect() {
        for metric in family.get_metric() {
            let label = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|pair| pair.name() == name)
                    .map(|pair| pair.value().to_owned())
                    .unwrap_or_default()
            };
            let count = metric.get_gauge().value() as i64;
            matches
                .entry(label("game"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("an object")
                .insert(label("phase"), json!(count));
        }
    }
    let redis_ok = state.cluster.as_ref().is_none_or(|cluster| cluster.is_up());
    let ok = ticking && db_ok && redis_ok;
    let mut body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.clock.uptime().as_secs(),
        "tickRate": state.config.tick_rate,
        "tick": {
            "lastMs": millis(state.clock.last_tick_duration()),
            "p99Ms": millis(metrics.tick_window.p99()),
            "overruns": metrics.tick_overruns.get(),
        },
        "matches": matches,
        "connections": {
            "players": metrics.players_connected.get(),
            "spectators": metrics.spectators_connected.get(),
            "total": metrics.ws_connections.get(),
        },
        "database": {
            "ok": db_ok,
            "backend": state.store.backend_name(),
            "sizeBytes": size_bytes,
            "lastWriteAt": last_write.map(arcade_data::time::format_rfc3339_ms),
            "heldRecords": state.store.held_records(),
        },
    });
    if admin.is_some() {
        body["database"]["path"] = json!(state.store.location());
    }
    if let Some(breaker) = state.store.breaker() {
        body["database"]["breaker"] = json!({
            "state": breaker.state,
            "failures": breaker.failures,
            "retryInMs": breaker.retry_in.map(|wait| wait.as_millis() as u64),
        });
    }
    if let Some(pool) = state.store.pool_status() {
        body["database"]["pool"] = json!({
            "maxSize": pool.max_size,
            "size": pool.size,
            "inUse": pool.in_use,
            "idle": pool.idle,
        });
    }
    if let Some(cluster) = &state.cluster {
        body["cluster"] = json!({
            "instance": cluster.instance,
            "redisOk": redis_ok,
            "redisRoundTripMs": millis(cluster.round_trip()),
            "instancesAlive": cluster.instances_alive(),
            "busDropped": cluster.dropped(),
        });
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_api_fall_in_their_rate_class() {
        assert_eq!(
            rate_class(&Method::GET, "/api/visits"),
            Some(RateClass::Read)
        );
        assert_eq!(
            rate_class(&Method::POST, "/api/visit"),
            Some(RateClass::Write)
        );
        assert_eq!(
            rate_class(&Method::POST, "/api/auth/login"),
            Some(RateClass::Auth)
        );
        assert_eq!(
            rate_class(&Method::GET, "/api/auth/me"),
            Some(RateClass::Auth)
        );
        assert_eq!(rate_class(&Method::GET, "/health"), None);
        assert_eq!(rate_class(&Method::GET, "/ws"), Some(RateClass::Upgrade));
        assert_eq!(rate_class(&Method::GET, "/apiary.html"), None);
    }

    #[test]
    fn the_forwarded_address_counts_only_when_trusted_and_only_its_last_hop() {
        let request = axum::http::Request::builder()
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
            .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 5000))))
            .body(())
            .unwrap();
        let trusted = ClientAddress {
            trust_forwarded_for: true,
        };
        let peer = ClientAddress {
            trust_forwarded_for: false,
        };
        assert_eq!(
            trusted.extract(&request).unwrap(),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            peer.extract(&request).unwrap(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn writes_are_limited_before_reads_and_the_wait_is_whole_seconds() {
        let limiters = Limiters::new(&OpsConfig {
            rate_limits: RateLimits {
                reads: 10,
                writes: 1,
                auth: 0,
            },
            ..OpsConfig::default()
        });
        let request = axum::http::Request::builder().body(()).unwrap();
        assert_eq!(limiters.check(RateClass::Write, &request), None);
        assert_eq!(limiters.check(RateClass::Write, &request), None);
        assert_eq!(limiters.check(RateClass::Write, &request), Some(1));
        for _ in 0..20 {
            assert_eq!(limiters.check(RateClass::Read, &request), None);
        }
        assert!(limiters.check(RateClass::Read, &request).is_some());
        assert_eq!(limiters.check(RateClass::Auth, &request), None, "off");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
