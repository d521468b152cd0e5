//! Malformed policy documents: each yields its typed error code and the JSON path it names.
//! Most cases are the shipped ward policy with one thing broken; rules are found by id, so the
//! table survives edits of the shipped policy. Also: documents at the edge of every limit that
//! must still be accepted. All failing cases are reported at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use serde_json::{Value, json};
use wardgate::policy::Policy;

const PARSE: &str = "WARDGATE_POLICY_PARSE";
const INVALID: &str = "WARDGATE_POLICY_INVALID";
const VERSION: &str = "WARDGATE_POLICY_VERSION";
const TOO_LARGE: &str = "WARDGATE_INPUT_TOO_LARGE";

fn base() -> Value {
    serde_json::from_str(include_str!("../pkg-config/policies/clinical-default.json")).unwrap()
}

/// The index of the shipped rule with this id.
fn at(id: &str) -> usize {
    base()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("the shipped policy has no rule `{id}`"))
}

/// The index of the first shipped rule with this effect.
fn first(effect: &str) -> usize {
    base()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["effect"] == effect)
        .unwrap_or_else(|| panic!("the shipped policy has no `{effect}` rule"))
}

fn with(f: impl FnOnce(&mut Value)) -> String {
    let mut v = base();
    f(&mut v);
    v.to_string()
}

/// A minimal valid policy, changed by `f`.
fn small(f: impl FnOnce(&mut Value)) -> String {
    let mut v = json!({
        "version": "wardgate/1",
        "id": "small",
        "rules": [
            {"id": "a", "when": {"actions": ["patient-view"]}, "effect": "allow"},
            {"id": "b", "when": {"actions": ["order-sign"]}, "effect": "step-up",
             "stepUp": {"maxAuthAgeSeconds": 60, "scope": "task", "grantLifetimeSeconds": 60}}
        ]
    });
    f(&mut v);
    v.to_string()
}

struct Case {
    name: &'static str,
    text: String,
    code: &'static str,
    /// The JSON path the error names ("" for errors without a path).
    path: String,
}

fn case(name: &'static str, text: String, code: &'static str, path: impl Into<String>) -> Case {
    Case {
        name,
        text,
        code,
        path: path.into(),
    }
}

fn malformed() -> Vec<Case> {
    let su = json!({"userVerification": "required", "maxAuthAgeSeconds": 60, "scope": "task", "grantLifetimeSeconds": 60});
    let allow = first("allow");
    let step = first("step-up");
    let deny = first("deny");
    let glass = first("break-glass");
    let view = at("chart-view");
    let sensitive = at("chart-view-sensitive");
    vec![
        // --- not a policy at all
        case("not json", "{".into(), PARSE, "$"),
        case("empty text", String::new(), PARSE, "$"),
        case("an array", "[]".into(), PARSE, "$"),
        case("a string", "\"wardgate/1\"".into(), PARSE, "$"),
        case(
            "deep nesting",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            PARSE,
            "$",
        ),
        case(
            "10 MB description",
            with(|v| v["description"] = json!("x".repeat(10_000_000))),
            TOO_LARGE,
            "",
        ),
        // --- version first: a future document gets the version error, not a parse error
        case(
            "future version",
            with(|v| v["version"] = json!("wardgate/2")),
            VERSION,
            "",
        ),
        case(
            "future version with fields this build does not know",
            with(|v| {
                v["version"] = json!("wardgate/2");
                v["rules"][0]["priority"] = json!(3);
                v["audience"] = json!("icu");
            }),
            VERSION,
            "",
        ),
        case(
            "version as a number",
            with(|v| v["version"] = json!(1)),
            VERSION,
            "",
        ),
        case(
            "minor version",
            with(|v| v["version"] = json!("wardgate/1.1")),
            VERSION,
            "",
        ),
        case(
            "missing version",
            with(|v| {
                v.as_object_mut().unwrap().remove("version");
            }),
            PARSE,
            "$",
        ),
        // --- top level
        case(
            "missing id",
            with(|v| {
                v.as_object_mut().unwrap().remove("id");
            }),
            PARSE,
            "$",
        ),
        case("empty id", with(|v| v["id"] = json!("")), INVALID, "id"),
        case(
            "id too long",
            with(|v| v["id"] = json!("p".repeat(257))),
            INVALID,
            "id",
        ),
        case(
            "control character in the id",
            with(|v| v["id"] = json!("clinical\u{7}")),
            INVALID,
            "id",
        ),
        case(
            "description too long",
            with(|v| v["description"] = json!("d".repeat(2049))),
            INVALID,
            "description",
        ),
        case(
            "unknown top-level field",
            with(|v| v["defualt"] = json!("allow")),
            PARSE,
            "defualt",
        ),
        case(
            "unknown default",
            with(|v| v["default"] = json!("maybe")),
            PARSE,
            "default",
        ),
        case(
            "rules not an array",
            with(|v| v["rules"] = json!({})),
            PARSE,
            "rules",
        ),
        case(
            "missing rules",
            small(|v| {
                v.as_object_mut().unwrap().remove("rules");
            }),
            PARSE,
            "$",
        ),
        case(
            "no rules, no default",
            with(|v| {
                v["rules"] = json!([]);
                v.as_object_mut().unwrap().remove("default");
            }),
            INVALID,
            "rules",
        ),
        case(
            "too many rules",
            with(|v| {
                let r = v["rules"][allow].clone();
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
            INVALID,
            "rules",
        ),
        // --- rule shape
        case(
            "unknown rule field",
            with(|v| v["rules"][deny]["priority"] = json!(1)),
            PARSE,
            format!("rules[{deny}].priority"),
        ),
        case(
            "missing effect",
            small(|v| {
                v["rules"][0].as_object_mut().unwrap().remove("effect");
            }),
            PARSE,
            "rules[0]",
        ),
        case(
            "unknown effect",
            with(|v| v["rules"][allow]["effect"] = json!("permit")),
            PARSE,
            format!("rules[{allow}].effect"),
        ),
        case(
            "unknown condition",
            with(|v| v["rules"][sensitive]["when"]["ward"] = json!("4b")),
            PARSE,
            format!("rules[{sensitive}].when.ward"),
        ),
        // --- rule ids
        case(
            "duplicate rule id (the second is named)",
            with(|v| v["rules"][deny + 2]["id"] = v["rules"][deny]["id"].clone()),
            INVALID,
            format!("rules[{}].id", deny + 2),
        ),
        case(
            "synthetic-looking rule id",
            with(|v| v["rules"][step]["id"] = json!("$default")),
            INVALID,
            format!("rules[{step}].id"),
        ),
        case(
            "uppercase rule id",
            small(|v| v["rules"][1]["id"] = json!("Order-Sign")),
            INVALID,
            "rules[1].id",
        ),
        case(
            "rule id starting with a dash",
            small(|v| v["rules"][1]["id"] = json!("-b")),
            INVALID,
            "rules[1].id",
        ),
        case(
            "empty rule id",
            small(|v| v["rules"][0]["id"] = json!("")),
            INVALID,
            "rules[0].id",
        ),
        case(
            "rule id of 65 characters",
            small(|v| v["rules"][1]["id"] = json!("r".repeat(65))),
            INVALID,
            "rules[1].id",
        ),
        // --- conditions
        case(
            "action of the wrong type",
            with(|v| v["rules"][deny]["when"]["actions"] = json!([7])),
            PARSE,
            format!("rules[{deny}].when.actions[0]"),
        ),
        case(
            "invalid action name",
            with(|v| v["rules"][deny]["when"]["actions"] = json!(["order-sign", "Order Sign"])),
            INVALID,
            format!("rules[{deny}].when.actions[1]"),
        ),
        case(
            "empty action list",
            with(|v| v["rules"][deny]["when"]["actions"] = json!([])),
            INVALID,
            format!("rules[{deny}].when.actions"),
        ),
        case(
            "more actions than the list limit",
            small(|v| {
                v["rules"][0]["when"]["actions"] =
                    json!((0..513).map(|i| format!("action-{i}")).collect::<Vec<_>>());
            }),
            INVALID,
            "rules[0].when.actions",
        ),
        case(
            "roles with neither anyOf nor noneOf",
            with(|v| v["rules"][view]["when"]["roles"] = json!({})),
            INVALID,
            format!("rules[{view}].when.roles"),
        ),
        case(
            "labels with two empty lists",
            with(|v| v["rules"][view]["when"]["labels"] = json!({"anyOf": [], "noneOf": []})),
            INVALID,
            format!("rules[{view}].when.labels"),
        ),
        case(
            "empty zones",
            small(|v| v["rules"][0]["when"]["zones"] = json!({"noneOf": []})),
            INVALID,
            "rules[0].when.zones",
        ),
        case(
            "anyOf typo",
            with(|v| v["rules"][view]["when"]["roles"] = json!({"anyof": ["nurse"]})),
            PARSE,
            format!("rules[{view}].when.roles.anyof"),
        ),
        case(
            "labels as a bare list",
            small(|v| v["rules"][0]["when"]["labels"] = json!(["vip"])),
            PARSE,
            "rules[0].when.labels",
        ),
        case(
            "control character in a role",
            with(|v| v["rules"][view]["when"]["roles"]["anyOf"][0] = json!("nu\u{0}rse")),
            INVALID,
            format!("rules[{view}].when.roles.anyOf[0]"),
        ),
        case(
            "role too long",
            small(|v| {
                v["rules"][0]["when"]["roles"] = json!({"noneOf": ["student", "r".repeat(257)]});
            }),
            INVALID,
            "rules[0].when.roles.noneOf[1]",
        ),
        case(
            "more roles than the list limit",
            small(|v| {
                v["rules"][0]["when"]["roles"] = json!({
                    "anyOf": (0..513).map(|i| format!("role-{i}")).collect::<Vec<_>>()
                });
            }),
            INVALID,
            "rules[0].when.roles.anyOf",
        ),
        case(
            "unknown device condition",
            small(|v| v["rules"][0]["when"]["device"] = json!({"trusted": true})),
            PARSE,
            "rules[0].when.device.trusted",
        ),
        case(
            "hasPatient as a string",
            small(|v| v["rules"][0]["when"]["hasPatient"] = json!("yes")),
            PARSE,
            "rules[0].when.hasPatient",
        ),
        case(
            "connectivity typo",
            with(|v| v["rules"][view]["when"]["connectivity"] = json!("onlne")),
            PARSE,
            format!("rules[{view}].when.connectivity"),
        ),
        // --- effects and requirements
        case(
            "step-up without its requirement",
            with(|v| {
                v["rules"][sensitive]
                    .as_object_mut()
                    .unwrap()
                    .remove("stepUp");
            }),
            INVALID,
            format!("rules[{sensitive}].stepUp"),
        ),
        case(
            "allow with a requirement",
            with(|v| v["rules"][allow]["stepUp"] = su.clone()),
            INVALID,
            format!("rules[{allow}].stepUp"),
        ),
        case(
            "deny with a requirement",
            with(|v| v["rules"][deny]["stepUp"] = su.clone()),
            INVALID,
            format!("rules[{deny}].stepUp"),
        ),
        case(
            "break-glass without an emergency condition",
            with(|v| {
                v["rules"][glass]["when"]
                    .as_object_mut()
                    .unwrap()
                    .remove("emergency");
            }),
            INVALID,
            format!("rules[{glass}].when.emergency"),
        ),
        case(
            "break-glass for non-emergencies",
            with(|v| v["rules"][glass]["when"]["emergency"] = json!(false)),
            INVALID,
            format!("rules[{glass}].when.emergency"),
        ),
        case(
            "preferred user verification",
            with(|v| v["rules"][sensitive]["stepUp"]["userVerification"] = json!("preferred")),
            PARSE,
            format!("rules[{sensitive}].stepUp.userVerification"),
        ),
        case(
            "unknown requirement field",
            small(|v| v["rules"][1]["stepUp"]["acr"] = json!("phrh")),
            PARSE,
            "rules[1].stepUp.acr",
        ),
        case(
            "requirement without a scope",
            small(|v| {
                v["rules"][1]["stepUp"]
                    .as_object_mut()
                    .unwrap()
                    .remove("scope");
            }),
            PARSE,
            "rules[1].stepUp",
        ),
        case(
            "unknown scope",
            with(|v| v["rules"][sensitive]["stepUp"]["scope"] = json!("ward")),
            PARSE,
            format!("rules[{sensitive}].stepUp.scope"),
        ),
        case(
            "unknown authenticator",
            small(|v| v["rules"][1]["stepUp"]["authenticator"] = json!("platform")),
            PARSE,
            "rules[1].stepUp.authenticator",
        ),
        case(
            "negative lifetime",
            with(|v| v["rules"][sensitive]["stepUp"]["grantLifetimeSeconds"] = json!(-5)),
            PARSE,
            format!("rules[{sensitive}].stepUp.grantLifetimeSeconds"),
        ),
        case(
            "zero lifetime",
            with(|v| v["rules"][sensitive]["stepUp"]["grantLifetimeSeconds"] = json!(0)),
            INVALID,
            format!("rules[{sensitive}].stepUp.grantLifetimeSeconds"),
        ),
        case(
            "a year-long grant",
            with(|v| v["rules"][sensitive]["stepUp"]["grantLifetimeSeconds"] = json!(31_536_000)),
            INVALID,
            format!("rules[{sensitive}].stepUp.grantLifetimeSeconds"),
        ),
        case(
            "authentication age over a day",
            small(|v| v["rules"][1]["stepUp"]["maxAuthAgeSeconds"] = json!(86_401)),
            INVALID,
            "rules[1].stepUp.maxAuthAgeSeconds",
        ),
        case(
            "huge number",
            with(|v| v["rules"][sensitive]["stepUp"]["maxAuthAgeSeconds"] = json!(1e300)),
            PARSE,
            format!("rules[{sensitive}].stepUp.maxAuthAgeSeconds"),
        ),
        case(
            "fractional seconds",
            small(|v| v["rules"][1]["stepUp"]["grantLifetimeSeconds"] = json!(1.5)),
            PARSE,
            "rules[1].stepUp.grantLifetimeSeconds",
        ),
        case(
            "reason too long",
            small(|v| v["rules"][0]["reason"] = json!("r".repeat(2049))),
            INVALID,
            "rules[0].reason",
        ),
        // --- sessions
        case(
            "unknown preset",
            with(|v| v["sessions"]["preset"] = json!("nist-aal9")),
            PARSE,
            "sessions.preset",
        ),
        case(
            "unknown sessions field",
            with(|v| v["sessions"]["idleLock"] = json!(600)),
            PARSE,
            "sessions.idleLock",
        ),
        case(
            "idle lock under a minute",
            with(|v| v["sessions"]["idleLockSeconds"] = json!(59)),
            INVALID,
            "sessions.idleLockSeconds",
        ),
        case(
            "idle lock over a day",
            with(|v| v["sessions"]["idleLockSeconds"] = json!(86_401)),
            INVALID,
            "sessions.idleLockSeconds",
        ),
        case(
            "absolute limit under 5 minutes",
            with(|v| v["sessions"]["absoluteLimitSeconds"] = json!(299)),
            INVALID,
            "sessions.absoluteLimitSeconds",
        ),
        case(
            "absolute limit over a week",
            with(|v| v["sessions"]["absoluteLimitSeconds"] = json!(30 * 86_400)),
            INVALID,
            "sessions.absoluteLimitSeconds",
        ),
        case(
            "idle longer than absolute",
            with(|v| {
                v["sessions"]["idleLockSeconds"] = json!(7200);
                v["sessions"]["absoluteLimitSeconds"] = json!(3600);
            }),
            INVALID,
            "sessions.idleLockSeconds",
        ),
        case(
            "idle override longer than the preset's absolute limit",
            small(|v| {
                v["sessions"] = json!({"preset": "nist-800-63b-4-aal3", "idleLockSeconds": 86_400});
            }),
            INVALID,
            "sessions.idleLockSeconds",
        ),
        case(
            "shared-device idle over a day",
            with(|v| v["sessions"]["sharedDevice"]["idleLockSeconds"] = json!(100_000)),
            INVALID,
            "sessions.sharedDevice.idleLockSeconds",
        ),
        case(
            "shared-device absolute limit under 5 minutes",
            with(|v| v["sessions"]["sharedDevice"]["absoluteLimitSeconds"] = json!(60)),
            INVALID,
            "sessions.sharedDevice.absoluteLimitSeconds",
        ),
        case(
            "shared-device idle longer than its absolute limit",
            with(|v| {
                v["sessions"]["sharedDevice"] =
                    json!({"idleLockSeconds": 3600, "absoluteLimitSeconds": 1800});
            }),
            INVALID,
            "sessions.sharedDevice.idleLockSeconds",
        ),
        case(
            "unknown shared-device field",
            with(|v| v["sessions"]["sharedDevice"]["wipeOnLock"] = json!(true)),
            PARSE,
            "sessions.sharedDevice.wipeOnLock",
        ),
        // --- offline
        case(
            "offline window over a week",
            with(|v| v["offline"]["maxSinceStrongAuthSeconds"] = json!(1_000_000)),
            INVALID,
            "offline.maxSinceStrongAuthSeconds",
        ),
        case(
            "offline without its window",
            small(|v| v["offline"] = json!({"actions": ["patient-view"]})),
            PARSE,
            "offline",
        ),
        case(
            "invalid offline action",
            with(|v| v["offline"]["actions"][1] = json!("VITALS")),
            INVALID,
            "offline.actions[1]",
        ),
        case(
            "unknown offline field",
            with(|v| v["offline"]["queue"] = json!(true)),
            PARSE,
            "offline.queue",
        ),
    ]
}

/// Documents at the edge of every limit: all valid.
fn at_the_limits() -> Vec<(&'static str, String)> {
    vec![
        (
            "no rules with an explicit default",
            small(|v| {
                v["rules"] = json!([]);
                v["default"] = json!("deny");
            }),
        ),
        ("no default: deny is implied", small(|_| {})),
        (
            "shortest and longest grants, a day-old authentication",
            small(|v| {
                v["rules"][1]["stepUp"]["grantLifetimeSeconds"] = json!(1);
                v["rules"][1]["stepUp"]["maxAuthAgeSeconds"] = json!(86_400);
                let mut r = v["rules"][1].clone();
                r["id"] = json!("c");
                r["stepUp"]["grantLifetimeSeconds"] = json!(86_400);
                r["stepUp"]["maxAuthAgeSeconds"] = json!(0);
                v["rules"].as_array_mut().unwrap().push(r);
            }),
        ),
        (
            "shortest idle lock, longest absolute limit, longest offline window",
            small(|v| {
                v["sessions"] = json!({"idleLockSeconds": 60, "absoluteLimitSeconds": 604_800,
                    "sharedDevice": {"idleLockSeconds": 60, "absoluteLimitSeconds": 300}});
                v["offline"] = json!({"actions": [], "maxSinceStrongAuthSeconds": 604_800});
            }),
        ),
        (
            "idle equal to absolute",
            small(|v| {
                v["sessions"] = json!({"idleLockSeconds": 3600, "absoluteLimitSeconds": 3600});
            }),
        ),
        (
            "a rule id of 64 characters",
            small(|v| v["rules"][0]["id"] = json!("r".repeat(64))),
        ),
        (
            "512 rules",
            small(|v| {
                let r = v["rules"][0].clone();
                v["rules"] = json!(
                    (0..512)
                        .map(|i| {
                            let mut r = r.clone();
                            r["id"] = json!(format!("r-{i}"));
                            r
                        })
                        .collect::<Vec<_>>()
                );
            }),
        ),
        (
            "custom actions and a match-everything rule",
            small(|v| {
                v["rules"][0]["when"]["actions"] =
                    json!(["order-verify", "fhir:observation.write"]);
                v["rules"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"id": "any", "effect": "deny"}));
            }),
        ),
        (
            "every preset",
            small(|v| v["sessions"] = json!({"preset": "nist-800-63b-3-aal2"})),
        ),
    ]
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn malformed_policies_name_their_path() {
    let cases = malformed();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        match Policy::from_json(&c.text) {
            Ok(_) => failures.push(format!("{}: accepted", c.name)),
            Err(e) => {
                let got_path = e.path().unwrap_or("");
                if e.code() != c.code || got_path != c.path {
                    failures.push(format!(
                        "{}: got {} at `{got_path}` ({e}), expected {} at `{}`",
                        c.name,
                        e.code(),
                        c.code,
                        c.path
                    ));
                }
                // Messages follow the house style: lowercase start, no final period.
                let message = e.to_string();
                if message.ends_with('.') || message.starts_with(char::is_uppercase) {
                    failures.push(format!("{}: message style: {message}", c.name));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn documents_at_the_limits_are_accepted() {
    let mut failures = Vec::new();
    for (name, text) in at_the_limits() {
        if let Err(e) = Policy::from_json(&text) {
            failures.push(format!("{name}: {} at `{:?}`: {e}", e.code(), e.path()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // And the shipped policy itself, round-tripped through serde_json.
    let p = Policy::from_json(&base().to_string()).unwrap();
    assert_eq!(p.id(), "clinical-default");
}

/// Text after the document is refused (serde_json's `Deserializer::end`).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn trailing_text_is_refused() {
    for c in [
        case(
            "trailing garbage",
            format!("{} x", small(|_| {})),
            PARSE,
            "$",
        ),
        case(
            "a second document",
            format!("{}{}", small(|_| {}), small(|_| {})),
            PARSE,
            "$",
        ),
    ] {
        let err = Policy::from_json(&c.text).err();
        assert_eq!(err.as_ref().map(|e| e.code()), Some(c.code), "{}", c.name);
        assert_eq!(
            err.as_ref().and_then(|e| e.path()),
            Some(c.path.as_str()),
            "{}",
            c.name
        );
    }
}

/// Objects written as arrays (which serde's derived visitors would read by position) are
/// refused (`src/json.rs`).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn arrays_in_place_of_objects_are_refused() {
    let cases = [
        // serde reads a struct from a JSON array (fields by position), so `deny_unknown_fields`
        // does not stop `[["nurse"], []]` from meaning `{"anyOf": ["nurse"], "noneOf": []}`.
        case(
            "roles as positional arrays",
            small(|v| v["rules"][0]["when"]["roles"] = json!([["nurse"], []])),
            PARSE,
            "rules[0].when.roles",
        ),
        case(
            "a requirement as a positional array",
            small(|v| v["rules"][1]["stepUp"] = json!(["required", 0, "task", 60])),
            PARSE,
            "rules[1].stepUp",
        ),
    ];
    let accepted: Vec<&str> = cases
        .iter()
        .filter(|c| Policy::from_json(&c.text).is_ok())
        .map(|c| c.name)
        .collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}
