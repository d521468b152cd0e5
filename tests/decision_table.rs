//! The decision table: one row per clinical scenario (who, what, where, device, connectivity,
//! freshness) against the shipped ward policy. Runs natively and, through wasm-bindgen-test,
//! in node and headless Chromium. All failing rows are reported at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use serde_json::Value;
use wardgate::policy::{Policy, SessionFacts};
use wardgate::task::TaskContext;

/// Rows may name the hash of their own task as "$TASK_HASH" inside grant scopes.
fn substitute(v: &mut Value, hash: &str) {
    match v {
        Value::String(s) if s == "$TASK_HASH" => *s = hash.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, hash)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, hash)),
        _ => {}
    }
}

/// `expected` is a subset of `actual` (objects: every expected key matches; arrays: equal).
fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| subset(x, y))
        }
        _ => expected == actual,
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_clinical_scenario_gets_its_decision() {
    let policy =
        Policy::from_json(include_str!("../pkg-config/policies/clinical-default.json")).unwrap();
    let table: Value = serde_json::from_str(include_str!("data/decision-table.json")).unwrap();
    let rows = table["scenarios"].as_array().unwrap();
    assert!(rows.len() >= 40, "only {} scenarios", rows.len());
    let mut failures = Vec::new();
    let mut rules_seen = std::collections::BTreeSet::new();
    for row in rows {
        let name = row["name"].as_str().unwrap();
        let ctx = TaskContext::from_json(&row["context"].to_string())
            .unwrap_or_else(|e| panic!("{name}: context: {e}"));
        let mut session = row["session"].clone();
        substitute(&mut session, &ctx.hash().to_hex());
        let facts: SessionFacts =
            serde_json::from_value(session).unwrap_or_else(|e| panic!("{name}: session: {e}"));
        let now = row["nowMs"].as_u64().unwrap();
        let decision = policy.evaluate(&ctx, &facts, now);
        let got = serde_json::to_value(&decision).unwrap();
        if !subset(&row["expect"], &got) {
            failures.push(format!(
                "{name}\n   expected {}\n   got      {got}",
                row["expect"]
            ));
        }
        assert!(!decision.rule_ids.is_empty(), "{name}: no rule ids");
        assert!(!decision.reason.is_empty(), "{name}: no reason");
        rules_seen.extend(decision.rule_ids.iter().cloned());
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    // Every rule of the shipped policy is exercised by at least one row.
    for id in policy.summary().rule_ids {
        assert!(
            rules_seen.contains(&id),
            "no scenario exercises rule `{id}`"
        );
    }
}
