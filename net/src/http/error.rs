//! The HTTP error type and its one JSON shape (tokio threads).
//!
//! HTTP errors in the one shape of PROTOCOL.md:
//! `{"error": {"code": "snake_case_code", "message": "for humans"}}` with a status that means
//! what happened.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<arcade_data::DataError> for ApiError {
    fn from(error: arcade_data::DataError) -> ApiError {
        // Refused at once by the open circuit breaker: said plainly, not logged per request.
        if let arcade_data::DataError::Unavailable(reason) = error {
            return ApiError::unavailable(format!("storage is unavailable: {reason}"));
        }
        tracing::error!(%error, "storage error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is unavailable",
        )
    }
}

impl From<crate::state::Unavailable> for ApiError {
    fn from(error: crate::state::Unavailable) -> ApiError {
        use crate::state::Unavailable;
        match error {
            Unavailable::Storage => ApiError::internal(error.to_string()),
            Unavailable::Data(error) => ApiError::from(error),
            Unavailable::TickStopped | Unavailable::TickSilent => {
                ApiError::unavailable(error.to_string())
            }
        }
    }
}
