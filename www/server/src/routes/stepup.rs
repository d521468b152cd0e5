//! Step-up for a task (PROTOCOL.md): task-bound options, then verification and a grant.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use wardgate::grant::{GrantClaims, Issue};
use wardgate::policy::{AuthenticatorAttachment, Effect, StepUp};
use wardgate::task::{TaskContext, TaskHash};
use webauthn_rs::prelude::{Passkey, PublicKeyCredential};

use super::auth::{
    challenge_unknown, parse_credential, rate_limited, user_passkeys, verify_assertion,
};
use crate::body::JsonBody;
use crate::db::CeremonyRow;
use crate::enforce::{normalize_task, session_facts};
use crate::error::{ApiError, ApiResult, codes};
use crate::passkeys::{CEREMONY_TIMEOUT, b64url, b64url_decode};
use crate::{AppState, ServerEvent, random_bytes, random_id};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionsBody {
    task: TaskContext,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyBody {
    request_id: String,
    task: TaskContext,
    credential: Value,
}

fn effect_name(e: Effect) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `POST /api/step-up/options`: evaluate the task natively; for a step-up, issue a challenge
/// `nonce(16) ‖ SHA-256(WGT1(task))` bound into webauthn-rs's state.
pub async fn options(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OptionsBody>,
) -> ApiResult<Json<Value>> {
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let task = normalize_task(&state, &user, &s, body.task)?;
    let now = state.now();
    let decision = state.policy().evaluate(&task, &session_facts(&s), now);
    if decision.effect != Effect::StepUp {
        state.record(
            ServerEvent::for_session("decision", &s, &effect_name(decision.effect))
                .task(&task)
                .reason(decision.reason.clone())
                .rules(&decision.rule_ids),
        )?;
        return Ok(Json(json!({ "decision": decision })));
    }
    let requirement = decision
        .requirement
        .clone()
        .ok_or_else(|| ApiError::internal("a step-up decision without its requirement"))?;
    let passkeys: Vec<Passkey> = user_passkeys(&state, &user.id)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if passkeys.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::NO_CREDENTIALS,
            format!("`{}` has no passkey registered", user.id),
        ));
    }
    let hash = task.hash();
    let nonce = random_bytes::<16>()?;
    let challenge = wardgate::task::challenge(&nonce, &hash)
        .map_err(|e| ApiError::internal(format!("challenge: {e}")))?;
    // Fail closed: what we send must carry this task's hash.
    wardgate::task::check_challenge(&challenge, &task)
        .map_err(|e| ApiError::internal(format!("challenge: {e}")))?;
    let started = state
        .passkeys()
        .start_authentication(&passkeys, Some(&challenge))
        .map_err(|e| ApiError::internal(format!("could not start the ceremony: {e}")))?;
    let mut public_key = started.public_key;
    if requirement.authenticator == AuthenticatorAttachment::CrossPlatform
        && let Some(pk) = public_key.as_object_mut()
    {
        pk.insert("hints".into(), json!(["security-key", "hybrid"]));
    }
    let timeout = u64::try_from(CEREMONY_TIMEOUT.as_millis()).unwrap_or(120_000);
    let task_json =
        serde_json::to_string(&task).map_err(|e| ApiError::internal(format!("task: {e}")))?;
    let requirement_json = serde_json::to_string(&requirement)
        .map_err(|e| ApiError::internal(format!("requirement: {e}")))?;
    let row = CeremonyRow {
        id: random_id("r-")?,
        kind: String::from("step-up"),
        user_id: user.id.clone(),
        session_id: Some(s.id.clone()),
        challenge: b64url(&challenge),
        task: Some(task_json),
        task_hash: Some(hash.to_hex()),
        requirement: Some(requirement_json),
        state: started.state,
        created_ms: now,
        expires_ms: now.saturating_add(timeout),
        used_ms: None,
    };
    state.db().insert_ceremony(&row)?;
    state.record(
        ServerEvent::for_session("challenge-issued", &s, "step-up")
            .task(&task)
            .reason(decision.reason.clone())
            .rules(&decision.rule_ids),
    )?;
    Ok(Json(json!({
        "decision": decision,
        "requestId": row.id,
        "taskHash": hash.to_hex(),
        "publicKey": public_key,
    })))
}

/// `POST /api/step-up/verify`, in the order PROTOCOL.md gives: request id (issued to this
/// session, unused, unexpired; then marked used whatever follows), task hash, webauthn
/// verification, credential ownership; then a grant.
pub async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<VerifyBody>,
) -> ApiResult<Json<Value>> {
    let credential: PublicKeyCredential = parse_credential(&body.credential)?;
    let attachment = match body
        .credential
        .get("authenticatorAttachment")
        .and_then(Value::as_str)
    {
        Some("cross-platform") => AuthenticatorAttachment::CrossPlatform,
        _ => AuthenticatorAttachment::Any,
    };
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let now = state.now();
    let refused = |code: &str, task: Option<&TaskContext>, reason: &str| {
        let mut ev = ServerEvent::for_session("ceremony-failed", &s, code).reason(reason);
        if let Some(t) = task {
            ev = ev.task(t);
        }
        if code == codes::CHALLENGE_TASK_MISMATCH {
            ev.kind = "challenge-mismatch";
        }
        state.record(ev)
    };
    if !state.limiter().allow("step-up", &user.id, now) {
        refused(codes::RATE_LIMITED, Some(&body.task), "too many attempts")?;
        return Err(rate_limited());
    }
    let ceremony = state
        .db()
        .ceremony(&body.request_id)?
        .filter(|c| c.kind == "step-up" && c.session_id.as_deref() == Some(s.id.as_str()));
    let Some(ceremony) = ceremony else {
        refused(
            codes::CHALLENGE_UNKNOWN,
            Some(&body.task),
            "request id not issued to this session",
        )?;
        return Err(challenge_unknown());
    };
    if !state.db().consume_ceremony(&ceremony.id, now)? {
        let why = if ceremony.used_ms.is_some() {
            "challenge already used"
        } else {
            "challenge expired"
        };
        refused(codes::CHALLENGE_UNKNOWN, Some(&body.task), why)?;
        return Err(challenge_unknown());
    }
    let task = match normalize_task(&state, &user, &s, body.task.clone()) {
        Ok(t) => t,
        Err(e) => {
            refused(e.code, Some(&body.task), &e.message)?;
            return Err(e);
        }
    };
    let issued_hash = ceremony.task_hash.as_deref().and_then(TaskHash::from_hex);
    let challenge = b64url_decode(&ceremony.challenge).unwrap_or_default();
    let bound = issued_hash == Some(task.hash())
        && wardgate::task::check_challenge(&challenge, &task).is_ok();
    if !bound {
        let e = ApiError::from_core(
            StatusCode::BAD_REQUEST,
            &wardgate::Error::ChallengeTaskMismatch,
        );
        refused(e.code, Some(&task), &e.message)?;
        return Err(e);
    }
    if let Err(e) = verify_assertion(&state, &user, &ceremony, &credential) {
        refused(e.code, Some(&task), &e.message)?;
        return Err(e);
    }
    let requirement: StepUp = ceremony
        .requirement
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| ApiError::internal("the ceremony lost its requirement"))?;
    if requirement.authenticator == AuthenticatorAttachment::CrossPlatform
        && attachment != AuthenticatorAttachment::CrossPlatform
    {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            codes::AUTHENTICATOR_NOT_ALLOWED,
            "this task needs a cross-platform authenticator (security key or phone), separate from this device",
        );
        refused(e.code, Some(&task), &e.message)?;
        return Err(e);
    }
    let claims = GrantClaims::for_step_up(
        &task,
        &requirement,
        Issue {
            issuer: &state.config().origin,
            session_id: &s.id,
            auth_time_ms: now,
            now_ms: now,
            jti: random_id("g-")?,
            attachment,
        },
    );
    let token = state
        .keys()
        .mint(&claims)
        .map_err(|e| ApiError::internal(format!("grant: {e}")))?;
    let claims_json =
        serde_json::to_string(&claims).map_err(|e| ApiError::internal(format!("grant: {e}")))?;
    state.db().insert_grant(&claims, &claims_json, now)?;
    state.db().strong_auth(&s.id, now)?;
    state.record(
        ServerEvent::for_session("ceremony-succeeded", &s, "ok")
            .task(&task)
            .grant(claims.jti.clone()),
    )?;
    state.record(
        ServerEvent::for_session("grant-earned", &s, "ok")
            .task(&task)
            .grant(claims.jti.clone())
            .reason(format!(
                "scope {}, expires {}",
                serde_json::to_value(claims.scp.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                wardgate::audit::iso8601(claims.exp.saturating_mul(1000))
            )),
    )?;
    Ok(Json(json!({ "grant": token, "claims": claims })))
}
