//! Audit ingest (idempotent by event id) and read (PROTOCOL.md, "Audit").

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wardgate::audit::AuditEvent;

use crate::AppState;
use crate::body::{AUDIT_BODY_LIMIT, media_type, parse_json, read_limited};
use crate::db::AuditRow;
use crate::error::{ApiError, ApiResult, codes};

/// Events per request.
pub const MAX_EVENTS: usize = 500;
/// Events returned by a read.
pub const READ_LIMIT: u32 = 2000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Batch {
    events: Vec<AuditEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadQuery {
    #[serde(default)]
    session_id: Option<String>,
}

fn check_id(path: String, v: &str) -> ApiResult<()> {
    if v.is_empty() || v.chars().count() > 256 || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "`{path}` must be 1 to 256 characters without control characters"
        ))
        .with("path", json!(path)));
    }
    Ok(())
}

/// `POST /api/audit`: `application/json`, or `text/plain` from `navigator.sendBeacon`. Needs
/// the cookie of a session this server issued (live or ended: a tab may flush after sign-out).
/// All or nothing: a malformed event refuses the batch and nothing is written. Duplicates are
/// acknowledged and not stored twice.
pub async fn ingest(State(state): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let (parts, body) = req.into_parts();
    match media_type(&parts.headers).as_deref() {
        Some("application/json" | "text/plain") => {}
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::BAD_REQUEST,
                "the body must be `application/json` (or `text/plain` from sendBeacon)",
            ));
        }
    }
    let bytes = read_limited(&parts.headers, body, AUDIT_BODY_LIMIT).await?;
    let batch: Batch = parse_json(&bytes)?;
    if batch.events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::BODY_TOO_LARGE,
            format!(
                "{} events in one request, at most {MAX_EVENTS}",
                batch.events.len()
            ),
        ));
    }
    let submitter = state
        .cookie_session(&parts.headers)?
        .ok_or_else(ApiError::unauthenticated)?;
    let mut rows = Vec::with_capacity(batch.events.len());
    for (i, e) in batch.events.iter().enumerate() {
        check_id(format!("events[{i}].id"), &e.id)?;
        check_id(format!("events[{i}].sessionId"), &e.session_id)?;
        check_id(format!("events[{i}].deviceId"), &e.device_id)?;
        let event =
            serde_json::to_value(e).map_err(|e| ApiError::internal(format!("audit: {e}")))?;
        let kind = event
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        rows.push(AuditRow {
            id: e.id.clone(),
            source: "client",
            at_ms: e.at_ms,
            kind,
            user_id: e.user_id.clone(),
            device_id: Some(e.device_id.clone()),
            session_id: Some(e.session_id.clone()),
            action: e.task.as_ref().map(|t| t.action.clone()),
            patient_id: e.task.as_ref().and_then(|t| t.patient_id.clone()),
            task_hash: e.task.as_ref().map(|t| t.task_hash.clone()),
            outcome: e.outcome.clone(),
            grant_id: e.grant_id.clone(),
            submitted_by: Some(submitter.id.clone()),
            event,
        });
    }
    state.db().insert_audit(&rows, state.now())?;
    let acknowledged: Vec<&str> = batch.events.iter().map(|e| e.id.as_str()).collect();
    Ok(Json(json!({ "acknowledged": acknowledged })))
}

/// `GET /api/audit?sessionId=…`: the events of one of the caller's sessions (default: the
/// current one), browser and server alike, oldest first.
pub async fn read(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(format!("bad query: {e}")))?;
    let s = state.live_session(&headers)?;
    let sid = q.session_id.unwrap_or_else(|| s.id.clone());
    if sid != s.id {
        let other = state.db().session(&sid)?;
        if other.is_none_or(|o| o.user_id != s.user_id) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::DENIED,
                "only your own sessions' audit events can be read here",
            ));
        }
    }
    let events = state.db().audit_for_session(&sid, READ_LIMIT)?;
    Ok(Json(json!({ "sessionId": sid, "events": events })))
}
