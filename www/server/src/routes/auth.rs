//! Registration, sign-in, session, sign-out and unlock (PROTOCOL.md, "Session").

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use wardgate::task::Device;
use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
    WebauthnError,
};

use crate::body::JsonBody;
use crate::db::{CeremonyRow, SessionRow, UserRow};
use crate::error::{ApiError, ApiResult, codes};
use crate::passkeys::{PasskeyError, b64url, b64url_decode};
use crate::{AppState, SESSION_COOKIE, ServerEvent, random_bytes, random_id, sha256_hex};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserBody {
    user_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterFinish {
    user_id: String,
    #[serde(default)]
    request_id: Option<String>,
    credential: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigninFinish {
    request_id: String,
    credential: Value,
    device: Device,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockFinish {
    request_id: String,
    credential: Value,
}

/// Parse a WebAuthn JSON credential (`RegistrationResponseJSON` / `AuthenticationResponseJSON`).
pub fn parse_credential<T: serde::de::DeserializeOwned>(v: &Value) -> ApiResult<T> {
    let text = v.to_string();
    crate::body::parse_json::<T>(text.as_bytes()).map_err(|mut e| {
        let path = e
            .extra
            .get("path")
            .and_then(Value::as_str)
            .map(|p| {
                if p == "$" {
                    String::from("credential")
                } else {
                    format!("credential.{p}")
                }
            })
            .unwrap_or_else(|| String::from("credential"));
        e.message = format!("`{path}` is not a WebAuthn credential: {}", e.message);
        e.extra.insert("path".into(), json!(path));
        e
    })
}

fn unknown_user(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::UNKNOWN_USER,
        format!("no clinician `{}`", wardgate_truncate(id)),
    )
}

fn wardgate_truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn check_id(path: &str, v: &str) -> ApiResult<()> {
    if v.is_empty() || v.chars().count() > 256 || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "`{path}` must be 1 to 256 characters without control characters"
        ))
        .with("path", json!(path)));
    }
    Ok(())
}

pub(crate) fn challenge_unknown() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        codes::CHALLENGE_UNKNOWN,
        "this ceremony was not issued here, was already used or has expired: start again",
    )
}

pub(crate) fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        "too many attempts: wait a minute",
    )
}

/// The user's passkeys, parsed.
pub fn user_passkeys(state: &AppState, user_id: &str) -> ApiResult<Vec<(String, Passkey)>> {
    state
        .db()
        .passkeys(user_id)?
        .into_iter()
        .map(|(id, json)| match serde_json::from_str::<Passkey>(&json) {
            Ok(p) => Ok((id, p)),
            Err(e) => Err(ApiError::internal(format!("stored passkey `{id}`: {e}"))),
        })
        .collect()
}

/// Verify an assertion for `user` against a ceremony, with webauthn-rs's full verification,
/// then check the credential is the user's (advisories YSA-2026-02 / GHSA-f66q-9rf6-8795) and
/// store the new signature counter. The error carries the code to answer and a reason to audit.
pub fn verify_assertion(
    state: &AppState,
    user: &UserRow,
    ceremony: &CeremonyRow,
    credential: &PublicKeyCredential,
) -> ApiResult<AuthenticationResult> {
    let cred_id = b64url(&credential.raw_id);
    let owner = state.db().credential_owner(&cred_id)?;
    let not_users = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            codes::CREDENTIAL_NOT_USERS,
            "this passkey belongs to another clinician than the session's",
        )
    };
    if owner.as_deref().is_some_and(|o| o != user.id) {
        return Err(not_users());
    }
    let challenge = b64url_decode(&ceremony.challenge)
        .ok_or_else(|| ApiError::internal("stored challenge is not base64url"))?;
    let res = state
        .passkeys()
        .finish_authentication(credential, &ceremony.state, &challenge)
        .map_err(|e| match e {
            PasskeyError::Webauthn(WebauthnError::CredentialNotFound) => ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::ASSERTION_INVALID,
                "this passkey is not registered for this clinician",
            ),
            PasskeyError::Webauthn(WebauthnError::CredentialPossibleCompromise) => ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::ASSERTION_INVALID,
                "signature counter did not increase: possibly a cloned authenticator",
            ),
            PasskeyError::Webauthn(WebauthnError::UserNotVerified) => ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::ASSERTION_INVALID,
                "the authenticator did not verify the user (UV flag not set)",
            ),
            PasskeyError::Webauthn(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::ASSERTION_INVALID,
                format!("webauthn verification failed: {e}"),
            ),
            PasskeyError::State(m) => ApiError::internal(format!("ceremony state: {m}")),
        })?;
    if !res.user_verified() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::ASSERTION_INVALID,
            "the authenticator did not verify the user (UV flag not set)",
        ));
    }
    if b64url(res.cred_id()) != cred_id || owner.as_deref() != Some(user.id.as_str()) {
        return Err(not_users());
    }
    if let Some(handle) = credential.get_user_unique_id() {
        let ours = Uuid::parse_str(&user.handle)
            .map_err(|e| ApiError::internal(format!("user handle: {e}")))?;
        if handle != ours.as_bytes() {
            return Err(not_users());
        }
    }
    let now = state.now();
    for (id, mut pk) in user_passkeys(state, &user.id)? {
        if id == cred_id {
            pk.update_credential(&res);
            let json = serde_json::to_string(&pk)
                .map_err(|e| ApiError::internal(format!("passkey: {e}")))?;
            state.db().update_passkey(&id, &json, now)?;
        }
    }
    Ok(res)
}

fn new_ceremony(
    kind: &str,
    user_id: &str,
    session_id: Option<&str>,
    started: &crate::passkeys::Started,
    now: u64,
) -> ApiResult<CeremonyRow> {
    let timeout = u64::try_from(crate::passkeys::CEREMONY_TIMEOUT.as_millis()).unwrap_or(120_000);
    Ok(CeremonyRow {
        id: random_id("r-")?,
        kind: kind.to_string(),
        user_id: user_id.to_string(),
        session_id: session_id.map(str::to_string),
        challenge: b64url(&started.challenge),
        task: None,
        task_hash: None,
        requirement: None,
        state: started.state.clone(),
        created_ms: now,
        expires_ms: now.saturating_add(timeout),
        used_ms: None,
    })
}

fn start_error(e: PasskeyError) -> ApiError {
    ApiError::internal(format!("could not start the ceremony: {e}"))
}

/// `POST /api/register/start`. Enrollment is open for the seeded clinicians (a demo; a real
/// relying party enrolls after identity proofing).
pub async fn register_start(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<UserBody>,
) -> ApiResult<Json<Value>> {
    let user = state
        .db()
        .user(&body.user_id)?
        .ok_or_else(|| unknown_user(&body.user_id))?;
    let handle = Uuid::parse_str(&user.handle)
        .map_err(|e| ApiError::internal(format!("user handle: {e}")))?;
    let exclude = user_passkeys(&state, &user.id)?
        .into_iter()
        .map(|(_, p)| p.cred_id().clone())
        .collect();
    let started = state
        .passkeys()
        .start_registration(handle, &user.id, &user.name, exclude)
        .map_err(start_error)?;
    let row = new_ceremony("register", &user.id, None, &started, state.now())?;
    state.db().insert_ceremony(&row)?;
    Ok(Json(
        json!({ "requestId": row.id, "publicKey": started.public_key }),
    ))
}

/// The challenge a client data JSON answers.
fn client_data_challenge(client_data_json: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(client_data_json).ok()?;
    let c = v.get("challenge")?.as_str()?;
    Some(b64url(&b64url_decode(c)?))
}

/// `POST /api/register/finish`.
pub async fn register_finish(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterFinish>,
) -> ApiResult<Json<Value>> {
    let credential: RegisterPublicKeyCredential = parse_credential(&body.credential)?;
    let user = state
        .db()
        .user(&body.user_id)?
        .ok_or_else(|| unknown_user(&body.user_id))?;
    let ceremony = match &body.request_id {
        Some(id) => state.db().ceremony(id)?,
        None => match client_data_challenge(&credential.response.client_data_json) {
            Some(c) => state.db().register_ceremony_by_challenge(&user.id, &c)?,
            None => None,
        },
    }
    .filter(|c| c.kind == "register" && c.user_id == user.id)
    .ok_or_else(challenge_unknown)?;
    let now = state.now();
    let event = |outcome: &str| ServerEvent {
        kind: "register",
        user_id: Some(user.id.clone()),
        outcome: outcome.to_string(),
        ..ServerEvent::default()
    };
    if !state.db().consume_ceremony(&ceremony.id, now)? {
        state.record(event(codes::CHALLENGE_UNKNOWN))?;
        return Err(challenge_unknown());
    }
    let passkey = match state
        .passkeys()
        .finish_registration(&credential, &ceremony.state)
    {
        Ok(p) => p,
        Err(e) => {
            let err = match e {
                PasskeyError::Webauthn(e) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    codes::ASSERTION_INVALID,
                    format!("webauthn registration failed: {e}"),
                ),
                PasskeyError::State(m) => ApiError::internal(format!("ceremony state: {m}")),
            };
            state.record(event(err.code).reason(err.message.clone()))?;
            return Err(err);
        }
    };
    let cred_id = b64url(passkey.cred_id());
    let json =
        serde_json::to_string(&passkey).map_err(|e| ApiError::internal(format!("passkey: {e}")))?;
    if !state
        .db()
        .insert_credential(&cred_id, &user.id, &json, now)?
    {
        state.record(event(codes::CREDENTIAL_EXISTS))?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::CREDENTIAL_EXISTS,
            "this passkey is already registered",
        ));
    }
    state.record(event("ok").reason(format!("credential {cred_id}")))?;
    Ok(Json(json!({ "credentialId": cred_id })))
}

/// `POST /api/signin/start`.
pub async fn signin_start(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<UserBody>,
) -> ApiResult<Json<Value>> {
    let user = state
        .db()
        .user(&body.user_id)?
        .ok_or_else(|| unknown_user(&body.user_id))?;
    let passkeys: Vec<Passkey> = user_passkeys(&state, &user.id)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if passkeys.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::NO_CREDENTIALS,
            format!("`{}` has no passkey yet: register one first", user.id),
        ));
    }
    let started = state
        .passkeys()
        .start_authentication(&passkeys, None)
        .map_err(start_error)?;
    let row = new_ceremony("signin", &user.id, None, &started, state.now())?;
    state.db().insert_ceremony(&row)?;
    Ok(Json(
        json!({ "requestId": row.id, "publicKey": started.public_key }),
    ))
}

fn session_cookie(state: &AppState, token: &str, max_age_zero: bool) -> ApiResult<HeaderValue> {
    let secure = if state.config().origin.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = if max_age_zero {
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
    } else {
        format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}")
    };
    HeaderValue::from_str(&value).map_err(|e| ApiError::internal(format!("cookie: {e}")))
}

/// `POST /api/signin/finish`.
pub async fn signin_finish(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SigninFinish>,
) -> ApiResult<Response> {
    let credential: PublicKeyCredential = parse_credential(&body.credential)?;
    check_id("device.id", &body.device.id)?;
    let ceremony = state
        .db()
        .ceremony(&body.request_id)?
        .filter(|c| c.kind == "signin")
        .ok_or_else(challenge_unknown)?;
    let user = state
        .db()
        .user(&ceremony.user_id)?
        .ok_or_else(|| unknown_user(&ceremony.user_id))?;
    let now = state.now();
    let event = |outcome: &str| ServerEvent {
        kind: "sign-in",
        user_id: Some(user.id.clone()),
        device_id: Some(body.device.id.clone()),
        outcome: outcome.to_string(),
        ..ServerEvent::default()
    };
    if !state.limiter().allow("signin", &user.id, now) {
        state.record(event(codes::RATE_LIMITED))?;
        return Err(rate_limited());
    }
    if !state.db().consume_ceremony(&ceremony.id, now)? {
        state.record(event(codes::CHALLENGE_UNKNOWN))?;
        return Err(challenge_unknown());
    }
    if let Err(e) = verify_assertion(&state, &user, &ceremony, &credential) {
        state.record(event(e.code).reason(e.message.clone()))?;
        return Err(e);
    }
    let token = b64url(&random_bytes::<32>()?);
    let session = SessionRow {
        id: random_id("s-")?,
        user_id: user.id.clone(),
        device_id: body.device.id.clone(),
        device_shared: body.device.shared,
        device_managed: body.device.managed,
        roles_at_start: user.roles.clone(),
        started_ms: now,
        last_strong_auth_ms: now,
        last_activity_ms: now,
        ended_ms: None,
    };
    state
        .db()
        .insert_session(&session, &sha256_hex(token.as_bytes()))?;
    state.record(ServerEvent::for_session("sign-in", &session, "ok"))?;
    let mut response =
        Json(json!({ "session": state.session_info(&session, &user) })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &token, false)?);
    Ok(response)
}

/// `GET /api/session`.
pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    Ok(Json(json!({ "session": state.session_info(&s, &user) })))
}

/// `POST /api/signout`: the session and its grants are dead server-side; always `{}`.
pub async fn signout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(s) = state.cookie_session(&headers)?
        && s.ended_ms.is_none()
    {
        state.db().end_session(&s.id, state.now())?;
        state.record(ServerEvent::for_session("logout", &s, "ok"))?;
    }
    let mut response = Json(json!({})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", true)?);
    Ok(response)
}

/// `POST /api/unlock/start`.
pub async fn unlock_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(_): JsonBody<Empty>,
) -> ApiResult<Json<Value>> {
    let s = state.live_session(&headers)?;
    let passkeys: Vec<Passkey> = user_passkeys(&state, &s.user_id)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let started = state
        .passkeys()
        .start_authentication(&passkeys, None)
        .map_err(start_error)?;
    let row = new_ceremony("unlock", &s.user_id, Some(&s.id), &started, state.now())?;
    state.db().insert_ceremony(&row)?;
    Ok(Json(
        json!({ "requestId": row.id, "publicKey": started.public_key }),
    ))
}

/// `POST /api/unlock/finish`: a fresh ceremony by the session's own clinician.
pub async fn unlock_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UnlockFinish>,
) -> ApiResult<Json<Value>> {
    let credential: PublicKeyCredential = parse_credential(&body.credential)?;
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let now = state.now();
    if !state.limiter().allow("unlock", &user.id, now) {
        state.record(ServerEvent::for_session("unlock", &s, codes::RATE_LIMITED))?;
        return Err(rate_limited());
    }
    let ceremony = state
        .db()
        .ceremony(&body.request_id)?
        .filter(|c| c.kind == "unlock" && c.session_id.as_deref() == Some(s.id.as_str()));
    let Some(ceremony) = ceremony else {
        state.record(ServerEvent::for_session(
            "unlock",
            &s,
            codes::CHALLENGE_UNKNOWN,
        ))?;
        return Err(challenge_unknown());
    };
    if !state.db().consume_ceremony(&ceremony.id, now)? {
        state.record(ServerEvent::for_session(
            "unlock",
            &s,
            codes::CHALLENGE_UNKNOWN,
        ))?;
        return Err(challenge_unknown());
    }
    if let Err(e) = verify_assertion(&state, &user, &ceremony, &credential) {
        state.record(ServerEvent::for_session("unlock", &s, e.code).reason(e.message.clone()))?;
        return Err(e);
    }
    state.db().strong_auth(&s.id, now)?;
    state.record(ServerEvent::for_session("unlock", &s, "ok"))?;
    let s = state
        .db()
        .session(&s.id)?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(Json(json!({ "session": state.session_info(&s, &user) })))
}
