//! The protected demo API (PROTOCOL.md, "Protected API"): each route names its action, builds
//! its task from the request and the server's records, and is enforced before it acts.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::body::JsonBody;
use crate::db::{OrderRow, PatientRow};
use crate::enforce::{TaskSpec, enforce, server_task};
use crate::error::{ApiError, ApiResult, codes};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoteBody {
    text: String,
}

/// Vital signs: each value as the nurse typed it (short text), at least one.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VitalsBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    heart_rate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blood_pressure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spo2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    temperature: Option<String>,
}

impl VitalsBody {
    fn values(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("heartRate", self.heart_rate.as_deref()),
            ("bloodPressure", self.blood_pressure.as_deref()),
            ("spo2", self.spo2.as_deref()),
            ("temperature", self.temperature.as_deref()),
        ]
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignBody {
    patient_id: String,
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrescribeBody {
    patient_id: String,
    drug: String,
    #[serde(default)]
    controlled: bool,
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakGlassBody {
    patient_id: String,
    reason: String,
}

fn path_id(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    p.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_request(format!("bad path: {e}")))
}

fn patient_json(p: &PatientRow) -> Value {
    json!({ "id": p.id, "name": p.name, "born": p.born, "ward": p.ward, "bed": p.bed, "labels": p.labels })
}

fn order_json(o: &OrderRow) -> Value {
    json!({
        "id": o.id, "patientId": o.patient_id, "resource": o.resource, "summary": o.summary,
        "status": o.status, "signedBy": o.signed_by, "signedAtMs": o.signed_ms,
    })
}

fn patient_row(state: &AppState, id: &str) -> ApiResult<PatientRow> {
    state
        .db()
        .patient(id)?
        .ok_or_else(|| ApiError::not_found(format!("no patient `{}`", short(id))))
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

fn chart(state: &AppState, p: &PatientRow) -> ApiResult<Value> {
    let orders: Vec<Value> = state.db().orders(&p.id)?.iter().map(order_json).collect();
    Ok(json!({
        "patient": patient_json(p),
        "orders": orders,
        "notes": state.db().notes(&p.id)?,
        "vitals": state.db().vitals(&p.id)?,
    }))
}

/// `GET /api/policy`: the policy this server enforces (the browser evaluates the same one).
pub async fn policy(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.policy_json().to_string(),
    )
        .into_response()
}

/// `GET /api/patients`: the ward list (needs a session; opening a chart is `patient-view`).
pub async fn patients(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    state.live_session(&headers)?;
    let list: Vec<Value> = state.db().patients()?.iter().map(patient_json).collect();
    Ok(Json(json!({ "patients": list })))
}

/// `GET /api/patients/{id}`: `patient-view` (VIP and restricted charts step up).
pub async fn patient(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let id = path_id(id)?;
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let p = patient_row(&state, &id)?;
    let task = server_task(
        &user,
        &s,
        TaskSpec {
            action: "patient-view",
            patient: Some(&p),
            ..TaskSpec::default()
        },
    )?;
    let allowed = enforce(&state, &headers, &s, &task)?;
    let mut out = chart(&state, &p)?;
    if let Some(o) = out.as_object_mut() {
        o.insert("decision".into(), json!(allowed.decision));
    }
    Ok(Json(out))
}

/// `POST /api/patients/{id}/notes`: `note-sign`; the note's text is the task's summary.
pub async fn note(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<NoteBody>,
) -> ApiResult<Response> {
    let id = path_id(id)?;
    if body.text.trim().is_empty() {
        return Err(ApiError::bad_request("`text` must not be empty").with("path", json!("text")));
    }
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let p = patient_row(&state, &id)?;
    let task = server_task(
        &user,
        &s,
        TaskSpec {
            action: "note-sign",
            patient: Some(&p),
            summary: Some(body.text.clone()),
            ..TaskSpec::default()
        },
    )?;
    let allowed = enforce(&state, &headers, &s, &task)?;
    let note_id = state.db().insert_note(
        &p.id,
        &user.id,
        &body.text,
        allowed.grant_id.as_deref(),
        state.now(),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "note": { "id": note_id, "patientId": p.id, "author": user.id, "text": body.text }, "decision": allowed.decision })),
    )
        .into_response())
}

/// `POST /api/patients/{id}/vitals`: `vitals-record` (low risk; a portal may queue it offline
/// and send it on reconnect).
pub async fn vitals(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<VitalsBody>,
) -> ApiResult<Response> {
    let id = path_id(id)?;
    let mut any = false;
    for (name, value) in body.values() {
        let Some(v) = value else { continue };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        if v.chars().count() > 32 || v.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "`{name}` must be at most 32 characters without control characters"
            ))
            .with("path", json!(name)));
        }
        any = true;
    }
    if !any {
        return Err(ApiError::bad_request("give at least one vital sign"));
    }
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let p = patient_row(&state, &id)?;
    let task = server_task(
        &user,
        &s,
        TaskSpec {
            action: "vitals-record",
            patient: Some(&p),
            ..TaskSpec::default()
        },
    )?;
    let allowed = enforce(&state, &headers, &s, &task)?;
    let observation =
        serde_json::to_string(&body).map_err(|e| ApiError::internal(format!("vitals: {e}")))?;
    let vitals_id = state
        .db()
        .insert_vitals(&p.id, &user.id, &observation, state.now())?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "vitals": { "id": vitals_id, "patientId": p.id, "author": user.id, "values": body }, "decision": allowed.decision })),
    )
        .into_response())
}

/// `POST /api/orders/{id}/sign`: `order-sign`, targets the order's FHIR reference.
pub async fn sign_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<SignBody>,
) -> ApiResult<Json<Value>> {
    let id = path_id(id)?;
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let order = state
        .db()
        .order(&id)?
        .filter(|o| o.patient_id == body.patient_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no order `{}` for patient `{}`",
                short(&id),
                short(&body.patient_id)
            ))
        })?;
    if order.status != "draft" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::CONFLICT,
            format!("order `{}` is already {}", order.id, order.status),
        ));
    }
    let p = patient_row(&state, &order.patient_id)?;
    let task = server_task(
        &user,
        &s,
        TaskSpec {
            action: "order-sign",
            patient: Some(&p),
            targets: vec![order.resource.clone()],
            summary: body.summary,
            ..TaskSpec::default()
        },
    )?;
    let allowed = enforce(&state, &headers, &s, &task)?;
    if !state.db().sign_order(
        &order.id,
        &user.id,
        allowed.grant_id.as_deref(),
        state.now(),
    )? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::CONFLICT,
            format!("order `{}` was signed meanwhile", order.id),
        ));
    }
    let signed = state
        .db()
        .order(&order.id)?
        .ok_or_else(|| ApiError::internal("the order vanished"))?;
    Ok(Json(
        json!({ "order": order_json(&signed), "decision": allowed.decision }),
    ))
}

/// `POST /api/prescriptions`: `medication-prescribe`; a controlled substance adds the
/// `controlled-substance` label (EPCS: per-task, single-use, cross-platform step-up). The drug
/// is bound into the task as the target `Medication/<drug>`.
pub async fn prescribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PrescribeBody>,
) -> ApiResult<Response> {
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let p = patient_row(&state, &body.patient_id)?;
    let task = server_task(
        &user,
        &s,
        TaskSpec {
            action: "medication-prescribe",
            patient: Some(&p),
            extra_labels: if body.controlled {
                vec![String::from("controlled-substance")]
            } else {
                Vec::new()
            },
            targets: vec![format!("Medication/{}", body.drug)],
            summary: body.summary.clone(),
            ..TaskSpec::default()
        },
    )?;
    let allowed = enforce(&state, &headers, &s, &task)?;
    let rx_id = state.db().insert_prescription(
        &p.id,
        &user.id,
        &body.drug,
        body.controlled,
        body.summary.as_deref(),
        allowed.grant_id.as_deref(),
        state.now(),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "prescription": { "id": rx_id, "patientId": p.id, "drug": body.drug, "controlled": body.controlled, "prescriber": user.id },
            "decision": allowed.decision,
        })),
    )
        .into_response())
}

/// `POST /api/break-glass`: open a chart in an emergency (`patient-view` with
/// `emergency.reason`): no prompt, flagged for review, audited as `break-glass-start`.
pub async fn break_glass(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<BreakGlassBody>,
) -> ApiResult<Json<Value>> {
    let s = state.live_session(&headers)?;
    let user = state.session_user(&s)?;
    let p = patient_row(&state, &body.patient_id)?;
    let task = server_task(
        &user,
        &s,
        TaskSpec {
            action: "patient-view",
            patient: Some(&p),
            emergency: Some(body.reason.clone()),
            ..TaskSpec::default()
        },
    )?;
    let allowed = enforce(&state, &headers, &s, &task)?;
    let mut out = chart(&state, &p)?;
    if let Some(o) = out.as_object_mut() {
        o.insert("decision".into(), json!(allowed.decision));
    }
    Ok(Json(out))
}
