//! Malformed policy documents: each yields its typed error code and the JSON path it names.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use serde_json::{Value, json};
use wardgate::policy::Policy;

fn base() -> Value {
    serde_json::from_str(include_str!("../pkg-config/policies/clinical-default.json")).unwrap()
}

fn with(f: impl Fn(&mut Value)) -> String {
    let mut v = base();
    f(&mut v);
    v.to_string()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn malformed_policies_name_their_path() {
    let su = json!({"userVerification":"required","maxAuthAgeSeconds":60,"scope":"task","grantLifetimeSeconds":60});
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("not json", "{".into(), "WARDGATE_POLICY_PARSE", "$"),
        ("empty", String::new(), "WARDGATE_POLICY_PARSE", "$"),
        ("array", "[]".into(), "WARDGATE_POLICY_PARSE", "$"),
        (
            "future version",
            with(|v| v["version"] = json!("wardgate/2")),
            "WARDGATE_POLICY_VERSION",
            "",
        ),
        (
            "version number",
            with(|v| v["version"] = json!(1)),
            "WARDGATE_POLICY_VERSION",
            "",
        ),
        (
            "missing id",
            with(|v| {
                v.as_object_mut().unwrap().remove("id");
            }),
            "WARDGATE_POLICY_PARSE",
            "$",
        ),
        (
            "empty id",
            with(|v| v["id"] = json!("")),
            "WARDGATE_POLICY_INVALID",
            "id",
        ),
        (
            "unknown top-level field",
            with(|v| v["defualt"] = json!("allow")),
            "WARDGATE_POLICY_PARSE",
            "defualt",
        ),
        (
            "unknown default",
            with(|v| v["default"] = json!("maybe")),
            "WARDGATE_POLICY_PARSE",
            "default",
        ),
        (
            "rules not an array",
            with(|v| v["rules"] = json!({})),
            "WARDGATE_POLICY_PARSE",
            "rules",
        ),
        (
            "no rules, no default",
            with(|v| {
                v["rules"] = json!([]);
                v.as_object_mut().unwrap().remove("default");
            }),
            "WARDGATE_POLICY_INVALID",
            "rules",
        ),
        (
            "unknown rule field",
            with(|v| v["rules"][2]["priority"] = json!(1)),
            "WARDGATE_POLICY_PARSE",
            "rules[2].priority",
        ),
        (
            "unknown condition",
            with(|v| v["rules"][1]["when"]["ward"] = json!("4b")),
            "WARDGATE_POLICY_PARSE",
            "rules[1].when.ward",
        ),
        (
            "action wrong type",
            with(|v| v["rules"][3]["when"]["actions"] = json!([7])),
            "WARDGATE_POLICY_PARSE",
            "rules[3].when.actions[0]",
        ),
        (
            "action bad name",
            with(|v| v["rules"][3]["when"]["actions"] = json!(["order-sign", "Order Sign"])),
            "WARDGATE_POLICY_INVALID",
            "rules[3].when.actions[1]",
        ),
        (
            "empty actions",
            with(|v| v["rules"][3]["when"]["actions"] = json!([])),
            "WARDGATE_POLICY_INVALID",
            "rules[3].when.actions",
        ),
        (
            "empty anyOf/noneOf",
            with(|v| v["rules"][0]["when"]["roles"] = json!({})),
            "WARDGATE_POLICY_INVALID",
            "rules[0].when.roles",
        ),
        (
            "roles typo",
            with(|v| v["rules"][0]["when"]["roles"] = json!({"anyof": ["nurse"]})),
            "WARDGATE_POLICY_PARSE",
            "rules[0].when.roles.anyof",
        ),
        (
            "unknown effect",
            with(|v| v["rules"][0]["effect"] = json!("permit")),
            "WARDGATE_POLICY_PARSE",
            "rules[0].effect",
        ),
        (
            "duplicate rule id",
            with(|v| v["rules"][5]["id"] = v["rules"][2]["id"].clone()),
            "WARDGATE_POLICY_INVALID",
            "rules[5].id",
        ),
        (
            "bad rule id",
            with(|v| v["rules"][4]["id"] = json!("$default")),
            "WARDGATE_POLICY_INVALID",
            "rules[4].id",
        ),
        (
            "step-up without requirement",
            with(|v| {
                v["rules"][1].as_object_mut().unwrap().remove("stepUp");
            }),
            "WARDGATE_POLICY_INVALID",
            "rules[1].stepUp",
        ),
        (
            "allow with a requirement",
            with(|v| v["rules"][0]["stepUp"] = su.clone()),
            "WARDGATE_POLICY_INVALID",
            "rules[0].stepUp",
        ),
        (
            "preferred user verification",
            with(|v| v["rules"][1]["stepUp"]["userVerification"] = json!("preferred")),
            "WARDGATE_POLICY_PARSE",
            "rules[1].stepUp.userVerification",
        ),
        (
            "negative lifetime",
            with(|v| v["rules"][1]["stepUp"]["grantLifetimeSeconds"] = json!(-5)),
            "WARDGATE_POLICY_PARSE",
            "rules[1].stepUp.grantLifetimeSeconds",
        ),
        (
            "zero lifetime",
            with(|v| v["rules"][1]["stepUp"]["grantLifetimeSeconds"] = json!(0)),
            "WARDGATE_POLICY_INVALID",
            "rules[1].stepUp.grantLifetimeSeconds",
        ),
        (
            "a year-long grant",
            with(|v| v["rules"][1]["stepUp"]["grantLifetimeSeconds"] = json!(31_536_000)),
            "WARDGATE_POLICY_INVALID",
            "rules[1].stepUp.grantLifetimeSeconds",
        ),
        (
            "huge number",
            with(|v| v["rules"][1]["stepUp"]["maxAuthAgeSeconds"] = json!(1e300)),
            "WARDGATE_POLICY_PARSE",
            "rules[1].stepUp.maxAuthAgeSeconds",
        ),
        (
            "unknown scope",
            with(|v| v["rules"][1]["stepUp"]["scope"] = json!("ward")),
            "WARDGATE_POLICY_PARSE",
            "rules[1].stepUp.scope",
        ),
        (
            "break-glass without emergency",
            with(|v| {
                v["rules"][21]["when"]
                    .as_object_mut()
                    .unwrap()
                    .remove("emergency");
            }),
            "WARDGATE_POLICY_INVALID",
            "rules[21].when.emergency",
        ),
        (
            "idle too short",
            with(|v| v["sessions"]["idleLockSeconds"] = json!(5)),
            "WARDGATE_POLICY_INVALID",
            "sessions.idleLockSeconds",
        ),
        (
            "absolute over a week",
            with(|v| v["sessions"]["absoluteLimitSeconds"] = json!(30 * 86_400)),
            "WARDGATE_POLICY_INVALID",
            "sessions.absoluteLimitSeconds",
        ),
        (
            "idle longer than absolute",
            with(|v| {
                v["sessions"]["idleLockSeconds"] = json!(7200);
                v["sessions"]["absoluteLimitSeconds"] = json!(3600);
            }),
            "WARDGATE_POLICY_INVALID",
            "sessions.idleLockSeconds",
        ),
        (
            "shared idle too long",
            with(|v| v["sessions"]["sharedDevice"]["idleLockSeconds"] = json!(100_000)),
            "WARDGATE_POLICY_INVALID",
            "sessions.sharedDevice.idleLockSeconds",
        ),
        (
            "unknown preset",
            with(|v| v["sessions"]["preset"] = json!("nist-aal9")),
            "WARDGATE_POLICY_PARSE",
            "sessions.preset",
        ),
        (
            "offline window over a week",
            with(|v| v["offline"]["maxSinceStrongAuthSeconds"] = json!(1_000_000)),
            "WARDGATE_POLICY_INVALID",
            "offline.maxSinceStrongAuthSeconds",
        ),
        (
            "offline bad action",
            with(|v| v["offline"]["actions"][1] = json!("VITALS")),
            "WARDGATE_POLICY_INVALID",
            "offline.actions[1]",
        ),
        (
            "connectivity typo",
            with(|v| v["rules"][0]["when"]["connectivity"] = json!("onlne")),
            "WARDGATE_POLICY_PARSE",
            "rules[0].when.connectivity",
        ),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            "WARDGATE_POLICY_PARSE",
            "$",
        ),
        (
            "10 MB description",
            with(|v| v["description"] = json!("x".repeat(10_000_000))),
            "WARDGATE_INPUT_TOO_LARGE",
            "",
        ),
        (
            "too many rules",
            with(|v| {
                let r = v["rules"][0].clone();
                v["rules"] = json!(
                    (0..600)
                        .map(|i| {
                            let mut r = r.clone();
                            r["id"] = json!(format!("r-{i}"));
                            r
                        })
                        .collect::<Vec<_>>()
                );
            }),
            "WARDGATE_POLICY_INVALID",
            "rules",
        ),
        (
            "control character in a role",
            with(|v| v["rules"][0]["when"]["roles"]["anyOf"][0] = json!("nu\u{0}rse")),
            "WARDGATE_POLICY_INVALID",
            "rules[0].when.roles.anyOf[0]",
        ),
    ];
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (name, text, code, path) in &cases {
        match Policy::from_json(text) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) => {
                let got_path = e.path().unwrap_or("");
                if e.code() != *code || got_path != *path {
                    failures.push(format!(
                        "{name}: got {} at `{got_path}` ({e}), expected {code} at `{path}`",
                        e.code()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // And the shipped policy itself is valid.
    Policy::from_json(&base().to_string()).unwrap();
}
