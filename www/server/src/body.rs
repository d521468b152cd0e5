//! Request bodies: content type, size limit and strict JSON parsing, each failure a 4xx JSON
//! error that names what is wrong (and, for JSON, where) before anything is written.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, codes};

/// Largest JSON body of an ordinary request.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest audit batch body.
pub const AUDIT_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body of at most [`BODY_LIMIT`] bytes, `Content-Type: application/json`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        if !is_json(&parts.headers) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::BAD_REQUEST,
                "the body must be `application/json`",
            ));
        }
        let bytes = read_limited(&parts.headers, body, BODY_LIMIT).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Whether the request says `application/json` (parameters such as `charset=utf-8` allowed).
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m == "application/json")
}

/// The media type of the request, lowercase, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(essence)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::BODY_TOO_LARGE,
        format!("the body is larger than {limit} bytes"),
    )
}

/// Read a body of at most `limit` bytes (a `Content-Length` over the limit is refused before
/// reading).
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if over {
                Err(too_large(limit))
            } else {
                Err(ApiError::bad_request(format!(
                    "the body could not be read: {e}"
                )))
            }
        }
    }
}

/// Parse JSON strictly; the error names the JSON path of the offending value.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." || path == "?" {
            String::from("$")
        } else {
            path
        };
        let mut message = e.into_inner().to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        ApiError::bad_request(format!("malformed JSON at `{path}`: {message}"))
            .with("path", serde_json::Value::String(path))
    })?;
    de.end().map_err(|_| {
        ApiError::bad_request("malformed JSON: trailing characters after the value")
    })?;
    Ok(value)
}
