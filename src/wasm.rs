//! The JS entry points (wasm32 only): decode, call the core, encode. Nothing here decides.
//!
//! Every error reaches JS as a `WardgateError` (see `pkg-config/js/errors.js`) with a stable
//! `code`. Nothing here panics on input: a panic would abort the module for good.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::policy::{self, SessionFacts};
use crate::task::{self, TaskContext};

#[wasm_bindgen(module = "/pkg-config/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeWardgateError)]
    fn make_wardgate_error(
        code: &str,
        message: &str,
        path: Option<String>,
        cause: &JsValue,
        status: Option<u16>,
        server_code: Option<String>,
    ) -> JsValue;
}

/// A `WardgateError` (see `pkg-config/js/errors.js`); `cause` may be `undefined`.
pub(crate) fn wardgate_error(
    code: &str,
    message: &str,
    path: Option<String>,
    cause: &JsValue,
) -> JsValue {
    make_wardgate_error(code, message, path, cause, None, None)
}

/// A `WARDGATE_SERVER` error carrying the HTTP status and the server's own code.
pub(crate) fn wardgate_server_error(
    message: &str,
    status: u16,
    server_code: Option<String>,
) -> JsValue {
    make_wardgate_error(
        "WARDGATE_SERVER",
        message,
        None,
        &JsValue::UNDEFINED,
        Some(status),
        server_code,
    )
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = include_str!("../pkg-config/types.d.ts");

/// Turn a core error into a thrown `WardgateError`.
fn to_js(err: &Error) -> JsValue {
    wardgate_error(
        err.code(),
        &err.to_string(),
        err.path().map(str::to_string),
        &JsValue::UNDEFINED,
    )
}

fn to_value<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    // Through JSON text: plain objects and arrays (what `Serializer::json_compatible()` gave),
    // with one serializer for the whole module instead of two.
    crate::browser::js::to_js(value).map_err(crate::browser::BrowserError::into_js)
}

/// A JS value as JSON text. The core's own `from_json` then applies size limits, rejects
/// unknown fields and names paths (reading the JS object field by field would skip unknown
/// ones, so a typo would pass silently).
fn json_text(
    value: &JsValue,
    what: &str,
    make: fn(String, String) -> Error,
) -> Result<String, JsValue> {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| {
            to_js(&make(
                String::from("$"),
                format!("{what} is not a JSON value"),
            ))
        })
}

fn context_from(value: JsValue) -> Result<TaskContext, JsValue> {
    let text = json_text(&value, "the task context", |path, message| {
        Error::ContextInvalid { path, message }
    })?;
    TaskContext::from_json(&text).map_err(|e| to_js(&e))
}

fn facts_from(value: JsValue) -> Result<SessionFacts, JsValue> {
    let text = json_text(&value, "the session facts", |path, message| {
        Error::StateInvalid { path, message }
    })?;
    SessionFacts::from_json(&text).map_err(|e| to_js(&e))
}

fn now_from(now_ms: f64) -> Result<u64, JsValue> {
    // A JS number is an f64: accept whole, non-negative, safe integers only.
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if now_ms.is_finite() && (0.0..=MAX_SAFE).contains(&now_ms) && now_ms.fract() == 0.0 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked above: a whole, non-negative number below 2^53"
        )]
        Ok(now_ms as u64)
    } else {
        Err(wardgate_error(
            "WARDGATE_CONTEXT_INVALID",
            &format!("nowMs `{now_ms}` is not a whole number of milliseconds since the epoch"),
            Some(String::from("nowMs")),
            &JsValue::UNDEFINED,
        ))
    }
}

/// Parse and validate a policy document; returns its summary or throws a `WardgateError`
/// naming the JSON path.
#[wasm_bindgen(js_name = validatePolicy, unchecked_return_type = "PolicySummary")]
pub fn validate_policy(json: &str) -> Result<JsValue, JsValue> {
    let policy = policy::Policy::from_json(json).map_err(|e| to_js(&e))?;
    to_value(&policy.summary())
}

/// A parsed, validated policy, ready to evaluate many decisions.
#[wasm_bindgen(js_name = Policy)]
#[derive(Debug)]
pub struct JsPolicy {
    inner: policy::Policy,
}

#[wasm_bindgen(js_class = Policy)]
impl JsPolicy {
    /// Parse and validate a policy document (JSON text).
    #[wasm_bindgen]
    pub fn parse(json: &str) -> Result<JsPolicy, JsValue> {
        let inner = policy::Policy::from_json(json).map_err(|e| to_js(&e))?;
        Ok(JsPolicy { inner })
    }

    /// The policy's summary: id, version, rule ids, session limits, offline actions.
    #[wasm_bindgen(unchecked_return_type = "PolicySummary")]
    pub fn summary(&self) -> Result<JsValue, JsValue> {
        to_value(&self.inner.summary())
    }

    /// Decide a task. Never fails on a valid context: the answer is a `Decision` value.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn evaluate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TaskContext")] context: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SessionFacts")] session: JsValue,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let ctx = context_from(context)?;
        let facts = facts_from(session)?;
        let now = now_from(now_ms)?;
        to_value(&self.inner.evaluate(&ctx, &facts, now))
    }

    /// Idle-lock and absolute limits (ms) for a personal or a shared device.
    #[wasm_bindgen(js_name = sessionLimits, unchecked_return_type = "SessionLimits")]
    pub fn session_limits(&self, shared: bool) -> Result<JsValue, JsValue> {
        to_value(&self.inner.session_limits(shared))
    }
}

/// Evaluate one task against a parsed policy (same as `policy.evaluate(...)`).
#[wasm_bindgen(unchecked_return_type = "Decision")]
pub fn evaluate(
    policy: &JsPolicy,
    #[wasm_bindgen(unchecked_param_type = "TaskContext")] context: JsValue,
    #[wasm_bindgen(unchecked_param_type = "SessionFacts")] session: JsValue,
    #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
) -> Result<JsValue, JsValue> {
    policy.evaluate(context, session, now_ms)
}

/// The task's canonical hash (lowercase hex SHA-256 of its `WGT1` encoding).
#[wasm_bindgen(js_name = taskHash)]
pub fn task_hash(
    #[wasm_bindgen(unchecked_param_type = "TaskContext")] context: JsValue,
) -> Result<String, JsValue> {
    Ok(context_from(context)?.hash().to_hex())
}

/// Check that a step-up challenge (raw bytes) carries the hash of `context`; throws
/// `WARDGATE_CHALLENGE_TASK_MISMATCH` or `WARDGATE_CHALLENGE_MALFORMED` otherwise.
#[wasm_bindgen(js_name = checkChallenge)]
pub fn check_challenge(
    challenge: &[u8],
    #[wasm_bindgen(unchecked_param_type = "TaskContext")] context: JsValue,
) -> Result<(), JsValue> {
    let ctx = context_from(context)?;
    task::check_challenge(challenge, &ctx).map_err(|e| to_js(&e))
}

/// Every error code this build can throw.
#[wasm_bindgen(js_name = errorCodes, unchecked_return_type = "WardgateErrorCode[]")]
pub fn error_codes() -> Result<JsValue, JsValue> {
    let all: Vec<&str> = Error::ALL_CODES
        .iter()
        .chain(crate::browser::BrowserError::CODES)
        .copied()
        .collect();
    to_value(&all)
}
