//! Enforcement: the server decides every protected request itself, with the same policy the
//! browser runs, from the task it builds out of the request and its own records, and the
//! presented grant only once `wardgate::grant::server` has verified it for this user, session
//! and device.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::json;
use wardgate::grant::GrantClaims;
use wardgate::grant::server::Expected;
use wardgate::policy::{AllowedBy, Decision, Effect, SessionFacts};
use wardgate::rfc9470::{StepUpChallenge, format_www_authenticate};
use wardgate::task::{Connectivity, Device, Emergency, Patient, TaskContext, User};

use crate::db::{PatientRow, SessionRow, UserRow};
use crate::error::{ApiError, ApiResult, codes};
use crate::{AppState, ServerEvent};

/// The `acr_values` a step-up asks for (RFC 9470): phishing-resistant.
pub const ACR_PHR: &str = "phr";

/// What enforcement allowed.
#[derive(Debug, Clone)]
pub struct Allowed {
    pub decision: Decision,
    /// The grant that covered the task, if one did.
    pub grant_id: Option<String>,
}

/// The parts of a task the route decides.
#[derive(Debug, Clone, Default)]
pub struct TaskSpec<'a> {
    pub action: &'a str,
    pub patient: Option<&'a PatientRow>,
    /// Labels added by the request itself (e.g. `controlled-substance` for an EPCS
    /// prescription).
    pub extra_labels: Vec<String>,
    pub targets: Vec<String>,
    pub summary: Option<String>,
    pub emergency: Option<String>,
}

/// Build a task from the request and the server's records: user and roles from the database,
/// device from the session's sign-in, patient labels from the chart.
pub fn server_task(user: &UserRow, s: &SessionRow, spec: TaskSpec<'_>) -> ApiResult<TaskContext> {
    let patient = spec.patient.map(|p| {
        let mut labels = p.labels.clone();
        for l in spec.extra_labels {
            if !labels.contains(&l) {
                labels.push(l);
            }
        }
        Patient {
            id: p.id.clone(),
            labels,
        }
    });
    let task = TaskContext {
        user: User {
            id: user.id.clone(),
            roles: user.roles.clone(),
        },
        action: spec.action.to_string(),
        patient,
        encounter_id: None,
        targets: spec.targets,
        summary: spec.summary,
        device: session_device(s),
        zone: None,
        connectivity: Connectivity::Online,
        emergency: spec.emergency.map(|reason| Emergency { reason }),
    };
    task.validate()
        .map_err(|e| ApiError::from_core(StatusCode::BAD_REQUEST, &e))?;
    Ok(task)
}

pub fn session_device(s: &SessionRow) -> Device {
    Device {
        id: s.device_id.clone(),
        shared: s.device_shared,
        managed: s.device_managed,
    }
}

/// A task sent by the browser (step-up options and verify), with everything it could lie
/// about replaced by the server's records: it must name the session's user and device; roles
/// come from the database, device flags from sign-in, patient labels from the chart (added to
/// the task's own, never removed), connectivity is online (the request reached us). None of
/// these are in the task hash, so the hash the browser computed stays valid.
pub fn normalize_task(
    state: &AppState,
    user: &UserRow,
    s: &SessionRow,
    mut task: TaskContext,
) -> ApiResult<TaskContext> {
    task.validate().map_err(|e| {
        let mut err = ApiError::from_core(StatusCode::BAD_REQUEST, &e);
        if let Some(p) = e.path() {
            err = err.with("path", json!(format!("task.{p}")));
        }
        err
    })?;
    if task.user.id != s.user_id || task.device.id != s.device_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::GRANT_MISMATCH,
            "the task names another user or device than this session's",
        ));
    }
    task.user.roles = user.roles.clone();
    task.device = session_device(s);
    task.connectivity = Connectivity::Online;
    if let Some(p) = task.patient.as_mut()
        && let Some(row) = state.db().patient(&p.id)?
    {
        for l in row.labels {
            if !p.labels.contains(&l) {
                p.labels.push(l);
            }
        }
    }
    Ok(task)
}

/// The server's facts about a session (no grants).
pub fn session_facts(s: &SessionRow) -> SessionFacts {
    SessionFacts {
        session_id: s.id.clone(),
        started_at_ms: s.started_ms,
        last_activity_ms: Some(s.last_activity_ms),
        last_strong_auth_ms: Some(s.last_strong_auth_ms),
        roles_at_start: s.roles_at_start.clone(),
        grants: Vec::new(),
        spent_grants: Vec::new(),
        locked: false,
    }
}

/// The bearer token of the request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The RFC 9470 answer for a step-up decision.
pub fn step_up_required(task: &TaskContext, decision: &Decision, code: &'static str) -> ApiError {
    let max_age = decision
        .requirement
        .as_ref()
        .map(|r| r.max_auth_age_seconds)
        .filter(|&s| s > 0);
    let header = format_www_authenticate(&StepUpChallenge {
        acr_values: vec![ACR_PHR.to_string()],
        max_age,
        description: Some(decision.reason.clone()),
    });
    let message = if code == codes::GRANT_SPENT {
        String::from("this single-use grant was already used: step up again for this task")
    } else {
        decision.reason.clone()
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
        .with("task", json!(task))
        .with("decision", json!(decision))
        .with_www_authenticate(header)
}

/// Decide a protected request. Allowed: the decision (and the grant that covered it, now spent
/// if single use). Otherwise the error to answer: 401 + RFC 9470 for a step-up, 403 for a
/// deny. Every decision is audited.
pub fn enforce(
    state: &AppState,
    headers: &HeaderMap,
    s: &SessionRow,
    task: &TaskContext,
) -> ApiResult<Allowed> {
    let now = state.now();
    let db = state.db();
    let mut facts = session_facts(s);
    let mut presented: Option<GrantClaims> = None;
    let mut presented_spent = false;
    if let Some(token) = bearer(headers) {
        let expected = Expected {
            user_id: &s.user_id,
            session_id: &s.id,
            device_id: &s.device_id,
        };
        match state.keys().verify_for(token, now, &expected) {
            Ok(claims) => match db.grant_revoked(&claims.jti)? {
                Some(false) => {
                    if claims.once && db.grant_spent(&claims.jti)? {
                        presented_spent = true;
                        facts.spent_grants.push(claims.jti.clone());
                    }
                    facts.grants.push(claims.clone());
                    presented = Some(claims);
                }
                revoked => {
                    let why = if revoked.is_some() {
                        "the grant was revoked (its session ended)"
                    } else {
                        "this server has no record of the grant"
                    };
                    state.record(
                        ServerEvent::for_session("grant-refused", s, codes::GRANT_MISMATCH)
                            .task(task)
                            .grant(claims.jti)
                            .reason(why),
                    )?;
                }
            },
            Err(e) => {
                // The jti of a refused token is only a hint (unverified), for the audit trail.
                let mut ev = ServerEvent::for_session("grant-refused", s, e.code())
                    .task(task)
                    .reason(e.to_string());
                if let Ok(c) = wardgate::grant::decode(token) {
                    ev = ev.grant(c.jti);
                }
                state.record(ev)?;
            }
        }
    }

    let decision = state.policy().evaluate(task, &facts, now);
    let effect = serde_json::to_value(decision.effect)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut ev = ServerEvent::for_session("decision", s, &effect)
        .task(task)
        .reason(decision.reason.clone())
        .rules(&decision.rule_ids);
    ev.review_required = decision.review_required;
    if let Some(g) = &decision.grant_id {
        ev = ev.grant(g.clone());
    }
    state.record(ev)?;

    match decision.effect {
        Effect::Allow if decision.allowed_by == Some(AllowedBy::Grant) => {
            let Some(jti) = decision.grant_id.clone() else {
                return Err(ApiError::internal("a grant decision without a grant id"));
            };
            let once = presented.as_ref().is_some_and(|c| c.jti == jti && c.once);
            if once && !db.spend_grant(&jti, &s.id, &task.action, &task.hash().to_hex(), now)? {
                // Spent by a concurrent request between the check and now.
                state.record(
                    ServerEvent::for_session("grant-refused", s, codes::GRANT_SPENT)
                        .task(task)
                        .grant(jti),
                )?;
                let mut d = decision;
                d.effect = Effect::StepUp;
                d.allowed_by = None;
                d.grant_id = None;
                return Err(step_up_required(task, &d, codes::GRANT_SPENT));
            }
            state.record(
                ServerEvent::for_session("grant-used", s, "ok")
                    .task(task)
                    .grant(jti.clone())
                    .reason(if once {
                        "single-use grant spent"
                    } else {
                        "grant covers the task"
                    }),
            )?;
            db.touch_session(&s.id, now)?;
            Ok(Allowed {
                decision,
                grant_id: Some(jti),
            })
        }
        Effect::Allow | Effect::BreakGlass => {
            if decision.effect == Effect::BreakGlass {
                let mut ev = ServerEvent::for_session("break-glass-start", s, "break-glass")
                    .task(task)
                    .reason(
                        task.emergency
                            .as_ref()
                            .map(|e| e.reason.clone())
                            .unwrap_or_default(),
                    )
                    .rules(&decision.rule_ids);
                ev.review_required = true;
                state.record(ev)?;
            }
            db.touch_session(&s.id, now)?;
            Ok(Allowed {
                decision,
                grant_id: None,
            })
        }
        Effect::StepUp => {
            if presented_spent {
                if let Some(c) = &presented {
                    state.record(
                        ServerEvent::for_session("grant-refused", s, codes::GRANT_SPENT)
                            .task(task)
                            .grant(c.jti.clone())
                            .reason("single-use grant already spent"),
                    )?;
                }
                Err(step_up_required(task, &decision, codes::GRANT_SPENT))
            } else {
                if let Some(c) = &presented {
                    // A genuine grant of this session, spent on a task it does not cover.
                    state.record(
                        ServerEvent::for_session("grant-refused", s, codes::GRANT_MISMATCH)
                            .task(task)
                            .grant(c.jti.clone())
                            .reason(
                                "the grant does not cover this task (action, patient, scope, \
                                 freshness or authenticator)",
                            ),
                    )?;
                }
                Err(step_up_required(task, &decision, codes::STEP_UP_REQUIRED))
            }
        }
        Effect::Deny | Effect::NeedsConnection => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::DENIED,
            decision.reason.clone(),
        )
        .with("decision", json!(decision))),
    }
}
