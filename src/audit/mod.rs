//! Audit events and friction counters.
//!
//! Every event names user, device, session and (where there is one) task, and has a unique id
//! (`<session id>.<sequence>`: session ids are random, sequences never repeat within a
//! session), so delivery can be retried freely and the server ingests idempotently. Events map
//! to HL7 FHIR R4 `AuditEvent` resources.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::policy::Decision;
use crate::task::TaskContext;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditKind {
    Decision,
    CeremonyStarted,
    CeremonySucceeded,
    CeremonyCancelled,
    CeremonyFailed,
    CeremonyInterrupted,
    GrantEarned,
    GrantUsed,
    GrantRevoked,
    GrantDropped,
    Lock,
    Unlock,
    Handoff,
    Logout,
    BreakGlassStart,
    BreakGlassStop,
    ChannelMessageDropped,
    ChallengeMismatch,
}

/// The task an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRef {
    pub action: String,
    #[serde(default)]
    pub patient_id: Option<String>,
    pub task_hash: String,
}

impl TaskRef {
    pub fn of(task: &TaskContext) -> TaskRef {
        TaskRef {
            action: task.action.clone(),
            patient_id: task.patient_id().map(str::to_string),
            task_hash: task.hash().to_hex(),
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditEvent {
    pub id: String,
    pub at_ms: u64,
    pub kind: AuditKind,
    #[serde(default)]
    pub user_id: Option<String>,
    pub device_id: String,
    pub session_id: String,
    #[serde(default)]
    pub task: Option<TaskRef>,
    /// A decision effect, an error code, or `ok`.
    pub outcome: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub rule_ids: Vec<String>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub review_required: bool,
    /// For a handoff: who handed over.
    #[serde(default)]
    pub previous_user_id: Option<String>,
    /// For grant events: the grant's id.
    #[serde(default)]
    pub grant_id: Option<String>,
}

impl AuditEvent {
    /// A bare event; fill in the optional parts with struct update syntax.
    pub fn new(
        id: String,
        at_ms: u64,
        kind: AuditKind,
        user_id: Option<String>,
        device_id: &str,
        session_id: &str,
        outcome: &str,
    ) -> AuditEvent {
        AuditEvent {
            id,
            at_ms,
            kind,
            user_id,
            device_id: device_id.to_string(),
            session_id: session_id.to_string(),
            task: None,
            outcome: outcome.to_string(),
            reason: None,
            rule_ids: Vec::new(),
            duration_ms: None,
            review_required: false,
            previous_user_id: None,
            grant_id: None,
        }
    }

    /// The event for a decision.
    pub fn for_decision(
        id: String,
        at_ms: u64,
        session_id: &str,
        task: &TaskContext,
        decision: &Decision,
    ) -> AuditEvent {
        let effect = serde_json::to_value(decision.effect)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        AuditEvent {
            task: Some(TaskRef::of(task)),
            reason: Some(decision.reason.clone()),
            rule_ids: decision.rule_ids.clone(),
            review_required: decision.review_required,
            grant_id: decision.grant_id.clone(),
            ..AuditEvent::new(
                id,
                at_ms,
                AuditKind::Decision,
                Some(task.user.id.clone()),
                &task.device.id,
                session_id,
                &effect,
            )
        }
    }
}

/// Friction signals: prompts that do not fit practice show up here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FrictionCounters {
    pub decisions: u32,
    pub allowed_without_prompt: u32,
    pub grants_reused: u32,
    pub prompts: u32,
    pub approvals: u32,
    pub cancels: u32,
    pub failures: u32,
    pub interrupted: u32,
    pub resumed: u32,
    pub app_switches_during_prompt: u32,
    pub current_failure_streak: u32,
    pub max_failure_streak: u32,
    pub break_glass: u32,
    pub locks: u32,
    pub handoffs: u32,
}

/// ISO 8601 UTC with milliseconds from Unix ms (proleptic Gregorian, no clock read).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01 (non-negative).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// FHIR ids are `[A-Za-z0-9\-\.]{1,64}`: other characters become `-`, and a longer id keeps
/// its last 64 characters (the unique sequence is at the end).
fn fhir_id(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let skip = cleaned.chars().count().saturating_sub(64);
    let out: String = cleaned.chars().skip(skip).collect();
    if out.is_empty() {
        String::from("-")
    } else {
        out
    }
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// Map an event to an HL7 FHIR R4 `AuditEvent`.
///
/// Type: DICOM 110114 "User Authentication" for ceremonies, grants, lock, unlock, handoff and
/// logout; 110113 "Security Alert" for dropped channel messages and challenge mismatches;
/// wardgate's own code system (`urn:wardgate:audit`) for decisions. Break-glass adds subtype
/// DICOM 110127 "Emergency Override Started" (110138 "Emergency Override Stopped") and purpose
/// of use v3-ActReason ETREAT.
pub fn to_fhir(e: &AuditEvent) -> Value {
    use AuditKind as K;
    let kind_code = serde_json::to_value(e.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let type_ = match e.kind {
        K::ChannelMessageDropped | K::ChallengeMismatch | K::GrantDropped => {
            coding(DCM, "110113", "Security Alert")
        }
        K::Decision | K::BreakGlassStart | K::BreakGlassStop => {
            coding("urn:wardgate:audit", "decision", "Task-initiation decision")
        }
        _ => coding(DCM, "110114", "User Authentication"),
    };
    let mut subtype = vec![coding("urn:wardgate:audit", &kind_code, &kind_code)];
    match e.kind {
        K::BreakGlassStart => subtype.push(coding(DCM, "110127", "Emergency Override Started")),
        K::BreakGlassStop => subtype.push(coding(DCM, "110138", "Emergency Override Stopped")),
        _ => {}
    }
    let failed = matches!(e.outcome.as_str(), "deny" | "needs-connection")
        || e.outcome.starts_with("WARDGATE_");
    let outcome = if matches!(e.kind, K::ChannelMessageDropped | K::ChallengeMismatch) {
        "8"
    } else if failed {
        "4"
    } else {
        "0"
    };
    let mut agents = vec![json!({
        "who": { "identifier": { "value": e.user_id.clone().unwrap_or_else(|| String::from("unknown")) } },
        "requestor": true,
        "altId": e.session_id,
    })];
    if let Some(prev) = &e.previous_user_id {
        agents.push(json!({ "who": { "identifier": { "value": prev } }, "requestor": false }));
    }
    agents.push(json!({
        "who": { "identifier": { "value": e.device_id } },
        "requestor": false,
        "network": { "address": e.device_id, "type": "1" },
    }));
    let mut entities = Vec::new();
    if let Some(t) = &e.task {
        if let Some(p) = &t.patient_id {
            entities.push(json!({ "what": { "reference": format!("Patient/{p}") },
                "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person") }));
        }
        entities.push(json!({
            "what": { "identifier": { "system": "urn:wardgate:task-hash", "value": t.task_hash } },
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
            "detail": [
                { "type": "action", "valueString": t.action },
                { "type": "ruleIds", "valueString": e.rule_ids.join(" ") }
            ]
        }));
    }
    let mut r = json!({
        "resourceType": "AuditEvent",
        "id": fhir_id(&e.id),
        "type": type_,
        "subtype": subtype,
        "action": "E",
        "recorded": iso8601(e.at_ms),
        "outcome": outcome,
        "outcomeDesc": e.reason.clone().unwrap_or_else(|| e.outcome.clone()),
        "agent": agents,
        "source": { "observer": { "identifier": { "value": e.device_id } },
                    "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "1", "User Device")] },
        "entity": entities,
    });
    if e.review_required || matches!(e.kind, K::BreakGlassStart | K::BreakGlassStop) {
        if let Some(obj) = r.as_object_mut() {
            obj.insert(
                "purposeOfEvent".into(),
                json!([{ "coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "ETREAT", "Emergency Treatment")] }]),
            );
        }
    }
    r
}
