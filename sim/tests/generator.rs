//! The generator: deterministic, realistic in shape, and speaking the shipped policy's words.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use std::collections::BTreeMap;

use wardgate_sim::generate::{GenConfig, GenError, generate_jsonl};
use wardgate_sim::trace::TraceEvent;
use wardgate_sim::{SHIPPED_POLICY, parse};

fn cfg(seed: u64) -> GenConfig {
    GenConfig {
        seed,
        clinicians: 3,
        hours: 12,
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = generate_jsonl(cfg(42)).unwrap();
    let b = generate_jsonl(cfg(42)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, generate_jsonl(cfg(43)).unwrap());
}

#[test]
fn the_shipped_traces_are_what_seeds_1_to_5_generate() {
    for (seed, text, _) in common::shipped_traces() {
        let fresh = generate_jsonl(cfg(seed)).unwrap();
        assert!(
            fresh == text,
            "bench/traces/shift-{seed}.jsonl is stale: regenerate it with \
             `wardgate-sim generate --seed {seed} --clinicians 3 --hours 12`"
        );
    }
}

#[test]
fn generated_traces_parse_and_round_trip() {
    for seed in [1, 7, 99, 12345] {
        let text = generate_jsonl(cfg(seed)).unwrap();
        let trace = parse(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(trace.to_jsonl(), text);
    }
}

/// The actions and roles the shipped policy names.
fn policy_words() -> (Vec<String>, Vec<String>) {
    let doc: serde_json::Value = serde_json::from_str(SHIPPED_POLICY).unwrap();
    let mut actions = Vec::new();
    let mut roles = Vec::new();
    for rule in doc["rules"].as_array().unwrap() {
        for a in rule["when"]["actions"].as_array().into_iter().flatten() {
            actions.push(a.as_str().unwrap().to_string());
        }
        for key in ["anyOf", "noneOf"] {
            for r in rule["when"]["roles"][key].as_array().into_iter().flatten() {
                roles.push(r.as_str().unwrap().to_string());
            }
        }
    }
    (actions, roles)
}

#[test]
fn a_shift_looks_like_a_medical_ward() {
    let (actions, roles) = policy_words();
    for (seed, _, trace) in common::shipped_traces() {
        let mut per_clinician: BTreeMap<String, u64> = BTreeMap::new();
        let mut per_action: BTreeMap<String, u64> = BTreeMap::new();
        let (mut handoffs, mut offline, mut emergencies, mut long_idle) = (0, 0, 0, 0);
        let (mut epcs, mut sensitive_views, mut switches) = (0, 0, 0);
        for (_, line) in &trace.lines {
            match &line.event {
                TraceEvent::Task(task) => {
                    assert!(actions.contains(&task.action), "{}", task.action);
                    for r in &task.roles {
                        assert!(roles.contains(r), "{r}");
                    }
                    assert_eq!(task.shared, Some(true), "one shared ward tablet");
                    *per_clinician.entry(task.clinician.clone()).or_default() += 1;
                    *per_action.entry(task.action.clone()).or_default() += 1;
                    if task.labels.iter().any(|l| l == "controlled-substance") {
                        epcs += 1;
                    }
                    if task.action == "patient-view"
                        && task.labels.iter().any(|l| l == "vip" || l == "restricted")
                    {
                        sensitive_views += 1;
                    }
                }
                TraceEvent::Handoff { .. } => handoffs += 1,
                TraceEvent::Offline {} => offline += 1,
                TraceEvent::Emergency { .. } => emergencies += 1,
                // Longer than the shared tablet's 5-minute idle lock.
                TraceEvent::Idle { ms } if *ms > 300_000 => long_idle += 1,
                TraceEvent::TabSwitch { .. } | TraceEvent::AppSwitch { .. } => switches += 1,
                _ => {}
            }
        }
        let (start, end) = trace.span();
        let hours = (end - start) as f64 / 3_600_000.0;
        assert!((11.5..=12.6).contains(&hours), "seed {seed}: {hours} h");
        assert_eq!(per_clinician.len(), 3, "seed {seed}");
        for (who, n) in &per_clinician {
            assert!((200..=600).contains(n), "seed {seed}: {who} has {n} tasks");
        }
        let total: u64 = per_action.values().sum();
        let routine = [
            "patient-view",
            "vitals-record",
            "med-administer",
            "note-draft",
        ]
        .iter()
        .map(|a| per_action.get(*a).copied().unwrap_or(0))
        .sum::<u64>();
        assert!(
            routine * 2 > total,
            "seed {seed}: mostly routine work {per_action:?}"
        );
        assert!(per_action["order-sign"] > 50, "seed {seed}");
        assert!(
            (1..=10).contains(&epcs),
            "seed {seed}: a few EPCS, got {epcs}"
        );
        assert!(
            sensitive_views * 5 < per_action["patient-view"],
            "seed {seed}: occasional VIP or restricted charts"
        );
        assert!(per_action.get("record-export").copied().unwrap_or(0) <= 3);
        assert!(handoffs >= 10, "seed {seed}: {handoffs} handoffs");
        assert!((1..=2).contains(&offline), "seed {seed}");
        assert!((1..=3).contains(&emergencies), "seed {seed}");
        assert!(
            long_idle >= 1,
            "seed {seed}: some idle gaps exceed the idle lock"
        );
        assert!(switches >= 20, "seed {seed}");
    }
}

#[test]
fn other_sizes_and_refusals() {
    let small = generate_jsonl(GenConfig {
        seed: 3,
        clinicians: 1,
        hours: 2,
    })
    .unwrap();
    let t = parse(&small).unwrap();
    assert_eq!(t.clinicians().len(), 1);
    let big = generate_jsonl(GenConfig {
        seed: 3,
        clinicians: 6,
        hours: 24,
    })
    .unwrap();
    assert_eq!(parse(&big).unwrap().clinicians().len(), 6);
    let e = generate_jsonl(GenConfig {
        seed: 1,
        clinicians: 0,
        hours: 12,
    })
    .unwrap_err();
    assert_eq!(e, GenError::Clinicians(0));
    assert_eq!(e.code(), "WARDGATE_SIM_GEN_CLINICIANS");
    let e = generate_jsonl(GenConfig {
        seed: 1,
        clinicians: 3,
        hours: 25,
    })
    .unwrap_err();
    assert_eq!(e.code(), "WARDGATE_SIM_GEN_HOURS");
}
