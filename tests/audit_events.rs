//! Audit events: JSON round trip and the HL7 FHIR R4 AuditEvent mapping.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use wardgate::audit::{AuditEvent, AuditKind, TaskRef, iso8601, to_fhir};

#[test]
fn civil_dates_are_right() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(iso8601(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
    assert_eq!(iso8601(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
}

fn event(kind: AuditKind, outcome: &str) -> AuditEvent {
    AuditEvent {
        task: Some(TaskRef {
            action: "patient-view".into(),
            patient_id: Some("p-7".into()),
            task_hash: "ab".repeat(32),
        }),
        review_required: kind == AuditKind::BreakGlassStart,
        reason: Some("code blue".into()),
        rule_ids: vec!["break-glass-clinicians".into()],
        ..AuditEvent::new(
            "s-1.7".into(),
            1_764_057_600_000,
            kind,
            Some("rn-ade".into()),
            "tablet-4b-1",
            "s-1",
            outcome,
        )
    }
}

#[test]
fn events_round_trip_as_json() {
    let e = event(AuditKind::Decision, "allow");
    let text = serde_json::to_string(&e).unwrap();
    assert!(text.contains("\"kind\":\"decision\""));
    assert_eq!(serde_json::from_str::<AuditEvent>(&text).unwrap(), e);
    assert!(serde_json::from_str::<AuditEvent>(&text.replace("\"kind\"", "\"knd\"")).is_err());
}

#[test]
fn break_glass_maps_to_an_emergency_override_audit_event() {
    let f = to_fhir(&event(AuditKind::BreakGlassStart, "break-glass"));
    assert_eq!(f["resourceType"], "AuditEvent");
    assert_eq!(f["id"], "s-1.7");
    assert_eq!(f["recorded"], "2025-11-25T08:00:00.000Z");
    assert!(
        f["subtype"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["code"] == "110127")
    );
    assert_eq!(f["purposeOfEvent"][0]["coding"][0]["code"], "ETREAT");
    assert_eq!(f["agent"][0]["who"]["identifier"]["value"], "rn-ade");
    assert_eq!(f["agent"][0]["altId"], "s-1");
    assert_eq!(
        f["source"]["observer"]["identifier"]["value"],
        "tablet-4b-1"
    );
    assert_eq!(f["entity"][0]["what"]["reference"], "Patient/p-7");
    assert_eq!(f["outcome"], "0");
}

#[test]
fn authentication_and_alerts_map_to_dicom_types() {
    let f = to_fhir(&event(AuditKind::CeremonySucceeded, "ok"));
    assert_eq!(f["type"]["code"], "110114");
    assert!(f.get("purposeOfEvent").is_none());
    let f = to_fhir(&event(
        AuditKind::ChallengeMismatch,
        "WARDGATE_CHALLENGE_TASK_MISMATCH",
    ));
    assert_eq!(
        (f["type"]["code"].as_str(), f["outcome"].as_str()),
        (Some("110113"), Some("8"))
    );
    let f = to_fhir(&event(AuditKind::Decision, "deny"));
    assert_eq!(f["outcome"], "4");
}
