//! The protocol's error answers: every 4xx/5xx is `{ "code": "WARDGATE_...", "message": "..." }`
//! (docs/PROTOCOL.md), sometimes with more fields (`path`, `task`, `decision`) and, for a
//! step-up, the RFC 9470 `WWW-Authenticate` header.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Server-side error codes (in addition to the crate's `WARDGATE_*` codes).
pub mod codes {
    pub const BAD_REQUEST: &str = "WARDGATE_BAD_REQUEST";
    pub const BODY_TOO_LARGE: &str = "WARDGATE_BODY_TOO_LARGE";
    pub const UNAUTHENTICATED: &str = "WARDGATE_UNAUTHENTICATED";
    pub const UNKNOWN_USER: &str = "WARDGATE_UNKNOWN_USER";
    pub const NO_CREDENTIALS: &str = "WARDGATE_NO_CREDENTIALS";
    pub const CREDENTIAL_EXISTS: &str = "WARDGATE_CREDENTIAL_EXISTS";
    pub const CHALLENGE_UNKNOWN: &str = "WARDGATE_CHALLENGE_UNKNOWN";
    pub const ASSERTION_INVALID: &str = "WARDGATE_ASSERTION_INVALID";
    pub const CREDENTIAL_NOT_USERS: &str = "WARDGATE_CREDENTIAL_NOT_USERS";
    pub const AUTHENTICATOR_NOT_ALLOWED: &str = "WARDGATE_AUTHENTICATOR_NOT_ALLOWED";
    pub const CHALLENGE_TASK_MISMATCH: &str = "WARDGATE_CHALLENGE_TASK_MISMATCH";
    pub const STEP_UP_REQUIRED: &str = "WARDGATE_STEP_UP_REQUIRED";
    pub const DENIED: &str = "WARDGATE_DENIED";
    pub const RATE_LIMITED: &str = "WARDGATE_RATE_LIMITED";
    pub const GRANT_SPENT: &str = "WARDGATE_GRANT_SPENT";
    pub const GRANT_MISMATCH: &str = "WARDGATE_GRANT_MISMATCH";
    pub const NOT_FOUND: &str = "WARDGATE_NOT_FOUND";
    pub const CONFLICT: &str = "WARDGATE_CONFLICT";
    pub const INTERNAL: &str = "WARDGATE_INTERNAL";
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra body fields (`path`, `task`, `decision`).
    pub extra: Map<String, Value>,
    /// `WWW-Authenticate` (RFC 9470) for a step-up.
    pub www_authenticate: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            www_authenticate: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
            "no live session: sign in",
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }

    /// A wardgate core error (task context, grant, challenge), as a 400 unless said otherwise.
    pub fn from_core(status: StatusCode, e: &wardgate::Error) -> ApiError {
        let mut err = ApiError::new(status, e.code(), e.to_string());
        if let Some(path) = e.path() {
            err = err.with("path", Value::String(path.to_string()));
        }
        err
    }

    /// Add a body field.
    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.extra.insert(key.to_string(), value);
        self
    }

    pub fn with_www_authenticate(mut self, value: String) -> ApiError {
        self.www_authenticate = Some(value);
        self
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

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::internal(format!("storage: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        for (k, v) in self.extra {
            body.insert(k, v);
        }
        let mut response = (self.status, axum::Json(Value::Object(body))).into_response();
        if let Some(h) = self.www_authenticate
            && let Ok(v) = HeaderValue::from_str(&h)
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
