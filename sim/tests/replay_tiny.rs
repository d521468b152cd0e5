//! Hand-written traces where the exact number of prompts is known.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{run_of, runs};
use wardgate_sim::Strategy::{EveryAction, Reauth15, Wardgate};

/// A task line for `who` (a physician unless `roles` says otherwise).
fn task(t: u64, who: &str, action: &str, patient: &str, extra: &str) -> String {
    let roles = if who.starts_with("rn") {
        "nurse"
    } else {
        "physician"
    };
    format!(
        r#"{{"t":{t},"kind":"task","clinician":"{who}","roles":["{roles}"],"action":"{action}","patient":"{patient}"{extra}}}"#
    )
}

fn sign(t: u64, patient: &str, order: u32) -> String {
    task(
        t,
        "dr-1",
        "order-sign",
        patient,
        &format!(r#","targets":["MedicationRequest/{order}"]"#),
    )
}

fn epcs(t: u64, patient: &str, order: u32) -> String {
    task(
        t,
        "dr-1",
        "medication-prescribe",
        patient,
        &format!(
            r#","labels":["controlled-substance"],"targets":["MedicationRequest/{order}"],"summary":"EPCS {order}: oxycodone 5 mg""#
        ),
    )
}

const DR: &str = r#"{"t":0,"kind":"handoff","to":"dr-1","roles":["physician"]}"#;

#[test]
fn order_signing_per_patient_and_epcs_per_prescription() {
    let text = [
        DR.to_string(),
        sign(10_000, "p-1", 1),
        sign(40_000, "p-1", 2), // covered by the p-1 grant
        sign(70_000, "p-2", 3), // another patient: a second prompt
        epcs(100_000, "p-1", 4),
        epcs(160_000, "p-1", 5),
    ]
    .join("\n");
    let r = runs(&text);
    let w = run_of(&r, Wardgate);
    assert_eq!(w.metrics.prompts, 4, "{:?}", w.metrics);
    assert_eq!(w.metrics.grants_reused, 1);
    assert_eq!(w.metrics.approvals, 4);
    assert_eq!(w.metrics.executed, 5);
    assert_eq!(w.metrics.unsafe_allows, 0, "{:?}", w.unsafe_allows);
    assert_eq!(w.prompts_by_action["order-sign"], 2);
    assert_eq!(w.prompts_by_action["medication-prescribe (per task)"], 2);

    let e = run_of(&r, EveryAction);
    assert_eq!((e.metrics.prompts, e.metrics.unsafe_allows), (5, 0));

    // One re-authentication covers the lot, and three of the four reuses break the policy:
    // another patient's orders, and both controlled-substance prescriptions.
    let b = run_of(&r, Reauth15);
    assert_eq!(b.metrics.prompts, 1);
    assert_eq!(b.metrics.unsafe_allows, 3, "{:#?}", b.unsafe_allows);
    let lines: Vec<usize> = b.unsafe_allows.iter().map(|u| u.line).collect();
    assert_eq!(lines, vec![4, 5, 6]);
    assert!(
        b.unsafe_allows[0].why.contains("`p-1`"),
        "{}",
        b.unsafe_allows[0].why
    );
    assert!(
        b.unsafe_allows[1].why.contains("fresh approval"),
        "{}",
        b.unsafe_allows[1].why
    );
}

#[test]
fn the_same_epcs_prescription_twice_is_approved_twice() {
    // Same task hash, within the grant's 120 s lifetime: only single use stops the reuse.
    let text = [
        DR.to_string(),
        epcs(10_000, "p-1", 9),
        epcs(40_000, "p-1", 9),
    ]
    .join("\n");
    let r = runs(&text);
    let w = run_of(&r, Wardgate);
    assert_eq!(w.metrics.prompts, 2);
    assert_eq!(w.metrics.grants_reused, 0);
    assert_eq!(w.metrics.unsafe_allows, 0);
    let b = run_of(&r, Reauth15);
    assert_eq!((b.metrics.prompts, b.metrics.unsafe_allows), (1, 1));
    assert!(
        b.unsafe_allows[0].why.contains("single-use"),
        "{}",
        b.unsafe_allows[0].why
    );
}

#[test]
fn an_app_switch_during_the_prompt_interrupts_and_the_prompt_comes_back() {
    let text = [
        DR.to_string(),
        sign(10_000, "p-1", 1),
        // The phone rings 2 s into the 5 s approval; back 20 s later.
        r#"{"t":12000,"kind":"app-switch","ms":20000}"#.to_string(),
        sign(60_000, "p-1", 2),
    ]
    .join("\n");
    let r = runs(&text);
    let w = run_of(&r, Wardgate);
    let m = &w.metrics;
    assert_eq!((m.interrupted, m.resumed, m.abandoned), (1, 1, 0));
    assert_eq!(
        m.prompts, 2,
        "the prompt was shown, cut off, and offered again"
    );
    assert_eq!(m.approvals, 1);
    assert_eq!(m.grants_reused, 1, "the second order for p-1 is covered");
    assert_eq!(w.counters.app_switches_during_prompt, 1);
    assert_eq!(w.counters.interrupted, 1);
    assert_eq!(w.counters.resumed, 1);
    // A tab switch after the approval interrupts nothing.
    let text = [
        DR.to_string(),
        sign(10_000, "p-1", 1),
        r#"{"t":20000,"kind":"tab-switch","ms":5000}"#.to_string(),
    ]
    .join("\n");
    let w = run_of(&runs(&text), Wardgate).clone();
    assert_eq!((w.metrics.prompts, w.metrics.interrupted), (1, 0));
}

#[test]
fn idle_longer_than_the_tablet_limit_locks() {
    let text = [
        DR.to_string(),
        task(10_000, "dr-1", "patient-view", "p-1", ""),
        r#"{"t":20000,"kind":"idle","ms":360000}"#.to_string(),
        task(400_000, "dr-1", "patient-view", "p-1", ""),
    ]
    .join("\n");
    for r in runs(&text) {
        assert_eq!(
            (r.metrics.locks, r.metrics.unlocks),
            (1, 1),
            "{:?}",
            r.strategy
        );
        assert_eq!(r.metrics.prompts, 0);
        assert_eq!(r.metrics.allowed_by_policy, 2);
    }
}

#[test]
fn a_handoff_wipes_the_grants_of_the_clinician_who_leaves() {
    let text = [
        DR.to_string(),
        sign(10_000, "p-1", 1),
        r#"{"t":30000,"kind":"handoff","to":"rn-1","roles":["nurse"]}"#.to_string(),
        task(40_000, "rn-1", "vitals-record", "p-1", ""),
        r#"{"t":60000,"kind":"handoff","to":"dr-1","roles":["physician"]}"#.to_string(),
        sign(70_000, "p-1", 2),
    ]
    .join("\n");
    let w = run_of(&runs(&text), Wardgate).clone();
    assert_eq!(w.metrics.prompts, 2);
    assert_eq!(w.metrics.handoffs, 2);
    assert_eq!(w.prompt_causes["after-handoff"], 1);
    assert_eq!(w.counters.handoffs, 2);
    assert_eq!(w.metrics.unsafe_allows, 0);
}

#[test]
fn offline_step_ups_need_the_connection_and_routine_work_goes_on() {
    let text = [
        DR.to_string(),
        r#"{"t":5000,"kind":"offline"}"#.to_string(),
        sign(10_000, "p-1", 1),
        task(20_000, "dr-1", "patient-view", "p-1", ""),
        r#"{"t":30000,"kind":"online"}"#.to_string(),
        sign(40_000, "p-1", 1),
    ]
    .join("\n");
    for r in runs(&text) {
        let m = &r.metrics;
        assert_eq!(m.needs_connection, 1, "{:?}", r.strategy);
        assert_eq!(m.allowed_by_policy, 1);
        assert_eq!(m.prompts, 1);
        assert_eq!(m.unsafe_allows, 0);
    }
}

#[test]
fn a_code_blue_breaks_the_glass_for_its_patient_only_and_never_for_epcs() {
    let text = [
        DR.to_string(),
        r#"{"t":5000,"kind":"emergency","reason":"code blue, p-1","ms":600000,"patient":"p-1"}"#
            .to_string(),
        sign(10_000, "p-1", 1),
        sign(40_000, "p-2", 2),
        epcs(70_000, "p-1", 3),
    ]
    .join("\n");
    let r = runs(&text);
    for run in &r {
        let m = &run.metrics;
        assert_eq!(m.break_glass, 1, "{:?}", run.strategy);
        assert_eq!(m.denied, 1, "EPCS has no break-glass");
        assert_eq!(m.prompts, 1, "p-2 is not in the emergency");
        assert_eq!(m.unsafe_allows, 0);
    }
    assert_eq!(run_of(&r, Wardgate).counters.break_glass, 1);
}

#[test]
fn an_expired_grant_prompts_again() {
    // Shared tablet: the order-signing grant lives 5 minutes. Views keep the tablet awake.
    let text = [
        DR.to_string(),
        sign(10_000, "p-1", 1),
        task(120_000, "dr-1", "patient-view", "p-1", ""),
        task(240_000, "dr-1", "patient-view", "p-1", ""),
        sign(330_000, "p-1", 2),
    ]
    .join("\n");
    let w = run_of(&runs(&text), Wardgate).clone();
    assert_eq!(w.metrics.prompts, 2);
    assert_eq!(w.prompt_causes["expired"], 1);
}

#[test]
fn sensitive_charts_once_per_patient_and_note_signing_once_per_action() {
    let text = [
        r#"{"t":0,"kind":"handoff","to":"rn-1","roles":["nurse"]}"#.to_string(),
        task(
            10_000,
            "rn-1",
            "patient-view",
            "p-9",
            r#","labels":["vip"]"#,
        ),
        task(
            100_000,
            "rn-1",
            "patient-view",
            "p-9",
            r#","labels":["vip"]"#,
        ),
        task(
            200_000,
            "rn-1",
            "patient-view",
            "p-8",
            r#","labels":["restricted"]"#,
        ),
        task(300_000, "rn-1", "note-sign", "p-1", ""),
        task(400_000, "rn-1", "note-sign", "p-2", ""),
        task(
            500_000,
            "rn-1",
            "patient-view",
            "p-9",
            r#","labels":["vip"]"#,
        ),
    ]
    .join("\n");
    let r = runs(&text);
    let w = run_of(&r, Wardgate);
    assert_eq!(w.metrics.prompts, 3, "p-9, p-8, note signing");
    assert_eq!(w.metrics.grants_reused, 3);
    assert_eq!(run_of(&r, EveryAction).metrics.prompts, 6);
    let b = run_of(&r, Reauth15);
    assert_eq!(b.metrics.prompts, 1);
    assert_eq!(b.metrics.unsafe_allows, 3, "{:#?}", b.unsafe_allows);
}
