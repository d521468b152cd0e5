//! Grant tokens: strict decoding, Ed25519 minting and verification, and every way a token is
//! refused, each with its stable code. Decoding (the browser's side) is tested without the
//! `server` feature too, on hand-built tokens.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
#[cfg(feature = "server")]
use wardgate::grant::server::{Expected, GrantKeys};
use wardgate::grant::{GrantClaims, Issue, check_binding, decode};
use wardgate::policy::{AuthenticatorAttachment, ScopeKind, StepUp, UserVerification};
use wardgate::task::TaskContext;

const NOW: u64 = 1_764_057_600_000;

#[cfg(feature = "server")]
fn keys() -> GrantKeys {
    GrantKeys::from_seed(&[7u8; 32]).unwrap()
}

fn task() -> TaskContext {
    TaskContext::from_json(r#"{"user":{"id":"dr-okafor","roles":["physician"]},"action":"order-sign","patient":{"id":"p-3"},"targets":["MedicationRequest/42"],"device":{"id":"ws-12"}}"#).unwrap()
}

fn claims(scope: ScopeKind) -> GrantClaims {
    let req = StepUp {
        user_verification: UserVerification::Required,
        max_auth_age_seconds: 900,
        scope,
        grant_lifetime_seconds: 900,
        authenticator: AuthenticatorAttachment::Any,
        single_use: false,
    };
    GrantClaims::for_step_up(
        &task(),
        &req,
        Issue {
            issuer: "http://localhost:8080",
            session_id: "s-1",
            auth_time_ms: NOW - 5_000,
            now_ms: NOW,
            jti: "g-1".into(),
            attachment: AuthenticatorAttachment::Any,
        },
    )
}

#[cfg(feature = "server")]
fn token() -> String {
    keys().mint(&claims(ScopeKind::ActionPatient)).unwrap()
}

/// Rebuild a token from JSON header and payload, with the given signature bytes.
fn forge(header: &Value, payload: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string()),
        B64.encode(sig)
    )
}

#[cfg(feature = "server")]
fn parts(t: &str) -> (Value, Value) {
    let p: Vec<&str> = t.split('.').collect();
    (
        serde_json::from_slice(&B64.decode(p[0]).unwrap()).unwrap(),
        serde_json::from_slice(&B64.decode(p[1]).unwrap()).unwrap(),
    )
}

#[test]
#[cfg(feature = "server")]
fn mint_decode_verify_round_trip() {
    let t = token();
    let c = decode(&t).unwrap();
    assert_eq!(c, claims(ScopeKind::ActionPatient));
    assert_eq!(c.scp.patient.as_deref(), Some("p-3"));
    assert_eq!(c.exp - c.iat, 900);
    assert_eq!(keys().verify(&t, NOW).unwrap(), c);
    let exp = Expected {
        user_id: "dr-okafor",
        session_id: "s-1",
        device_id: "ws-12",
    };
    keys().verify_for(&t, NOW, &exp).unwrap();
    // Each scope kind mints and verifies.
    for kind in [
        ScopeKind::Task,
        ScopeKind::ActionPatient,
        ScopeKind::Action,
        ScopeKind::Session,
    ] {
        let t = keys().mint(&claims(kind)).unwrap();
        assert_eq!(keys().verify(&t, NOW).unwrap().scp.kind, kind);
    }
    assert_eq!(
        decode(&keys().mint(&claims(ScopeKind::Task)).unwrap())
            .unwrap()
            .scp
            .task,
        Some(task().hash().to_hex())
    );
}

#[test]
#[cfg(feature = "server")]
fn every_refusal_has_its_code() {
    let k = keys();
    let good = token();
    let (h, p) = parts(&good);
    let sig = B64.decode(good.split('.').nth(2).unwrap()).unwrap();
    let other = GrantKeys::from_seed(&[9u8; 32]).unwrap();

    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let with_header = |name: &'static str,
                       f: &dyn Fn(&mut Value),
                       code: &'static str,
                       cases: &mut Vec<(&str, String, &str)>| {
        let mut hh = h.clone();
        f(&mut hh);
        cases.push((name, forge(&hh, &p, &sig), code));
    };
    with_header(
        "alg none",
        &|h| h["alg"] = json!("none"),
        "WARDGATE_GRANT_ALGORITHM",
        &mut cases,
    );
    with_header(
        "alg HS256",
        &|h| h["alg"] = json!("HS256"),
        "WARDGATE_GRANT_ALGORITHM",
        &mut cases,
    );
    with_header(
        "alg RS256",
        &|h| h["alg"] = json!("RS256"),
        "WARDGATE_GRANT_ALGORITHM",
        &mut cases,
    );
    with_header(
        "alg ES256",
        &|h| h["alg"] = json!("ES256"),
        "WARDGATE_GRANT_ALGORITHM",
        &mut cases,
    );
    with_header(
        "alg missing",
        &|h| {
            h.as_object_mut().unwrap().remove("alg");
        },
        "WARDGATE_GRANT_ALGORITHM",
        &mut cases,
    );
    with_header(
        "alg not a string",
        &|h| h["alg"] = json!(1),
        "WARDGATE_GRANT_ALGORITHM",
        &mut cases,
    );
    with_header(
        "alg lowercase",
        &|h| h["alg"] = json!("eddsa"),
        "WARDGATE_GRANT_ALGORITHM",
        &mut cases,
    );
    with_header(
        "crit header",
        &|h| h["crit"] = json!(["exp"]),
        "WARDGATE_GRANT_MALFORMED",
        &mut cases,
    );
    with_header(
        "typ not JWT",
        &|h| h["typ"] = json!("at+jwt"),
        "WARDGATE_GRANT_MALFORMED",
        &mut cases,
    );
    with_header(
        "wrong kid",
        &|h| h["kid"] = json!("0000000000000000"),
        "WARDGATE_GRANT_SIGNATURE",
        &mut cases,
    );
    with_header(
        "no kid",
        &|h| {
            h.as_object_mut().unwrap().remove("kid");
        },
        "WARDGATE_GRANT_SIGNATURE",
        &mut cases,
    );

    // HS256 "signed" with the public key as the HMAC secret: refused before any key use.
    let mut hs = h.clone();
    hs["alg"] = json!("HS256");
    cases.push((
        "hs256 with the public key as secret",
        forge(&hs, &p, &k.public_key()),
        "WARDGATE_GRANT_ALGORITHM",
    ));
    let mut none = h.clone();
    none["alg"] = json!("none");
    cases.push((
        "alg none, empty signature",
        format!(
            "{}.{}.",
            B64.encode(none.to_string()),
            B64.encode(p.to_string())
        ),
        "WARDGATE_GRANT_ALGORITHM",
    ));

    let mut with_claims = |name: &'static str, f: &dyn Fn(&mut Value), code: &'static str| {
        let mut pp = p.clone();
        f(&mut pp);
        cases.push((name, forge(&h, &pp, &sig), code));
    };
    with_claims(
        "patient swapped (signature breaks)",
        &|p| p["scp"]["patient"] = json!("p-4"),
        "WARDGATE_GRANT_SIGNATURE",
    );
    with_claims(
        "exp extended (signature breaks)",
        &|p| p["exp"] = json!(p["exp"].as_u64().unwrap() + 3600),
        "WARDGATE_GRANT_SIGNATURE",
    );
    with_claims(
        "unknown claim",
        &|p| p["admin"] = json!(true),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "missing sub",
        &|p| {
            p.as_object_mut().unwrap().remove("sub");
        },
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "sub not a string",
        &|p| p["sub"] = json!(42),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "empty jti",
        &|p| p["jti"] = json!(""),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "exp 2^63",
        &|p| p["exp"] = json!(9_223_372_036_854_775_807u64),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "negative exp",
        &|p| p["exp"] = json!(-1),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "exp before iat",
        &|p| p["exp"] = p["iat"].clone(),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "auth_time after iat",
        &|p| p["auth_time"] = json!(p["iat"].as_u64().unwrap() + 1),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "task scope without hash",
        &|p| {
            p["scp"]["kind"] = json!("task");
        },
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "task scope with bad hex",
        &|p| {
            p["scp"]["kind"] = json!("task");
            p["scp"]["task"] = json!("zz");
        },
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "action-patient without patient",
        &|p| {
            p["scp"].as_object_mut().unwrap().remove("patient");
        },
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "iat at 2^53 ms",
        &|p| p["iat"] = json!(9_007_199_254_741u64),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "fractional exp",
        &|p| p["exp"] = json!(1.5),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "action not an action name",
        &|p| p["scp"]["actions"] = json!(["Order Sign"]),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "action scope without actions",
        &|p| {
            p["scp"]["kind"] = json!("action");
            p["scp"]["actions"] = json!([]);
        },
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "unknown scope field",
        &|p| p["scp"]["patients"] = json!(["p-3"]),
        "WARDGATE_GRANT_MALFORMED",
    );
    with_claims(
        "unknown scope kind",
        &|p| p["scp"]["kind"] = json!("everything"),
        "WARDGATE_GRANT_MALFORMED",
    );

    let parts3: Vec<&str> = good.split('.').collect();
    cases.push((
        "two parts",
        format!("{}.{}", parts3[0], parts3[1]),
        "WARDGATE_GRANT_MALFORMED",
    ));
    cases.push((
        "four parts",
        format!("{good}.x"),
        "WARDGATE_GRANT_MALFORMED",
    ));
    cases.push(("empty", String::new(), "WARDGATE_GRANT_MALFORMED"));
    cases.push((
        "bad base64",
        format!("{}.{}.!!!", parts3[0], parts3[1]),
        "WARDGATE_GRANT_MALFORMED",
    ));
    cases.push((
        "padding",
        format!("{}=.{}.{}", parts3[0], parts3[1], parts3[2]),
        "WARDGATE_GRANT_MALFORMED",
    ));
    cases.push((
        "header not JSON",
        format!("{}.{}.{}", B64.encode("nope"), parts3[1], parts3[2]),
        "WARDGATE_GRANT_MALFORMED",
    ));
    cases.push((
        "payload not JSON",
        format!("{}.{}.{}", parts3[0], B64.encode("[1,2"), parts3[2]),
        "WARDGATE_GRANT_MALFORMED",
    ));
    cases.push((
        "truncated signature",
        format!("{}.{}.{}", parts3[0], parts3[1], &parts3[2][..40]),
        "WARDGATE_GRANT_MALFORMED",
    ));
    cases.push((
        "oversized",
        format!("{good}{}", "A".repeat(9000)),
        "WARDGATE_INPUT_TOO_LARGE",
    ));
    // Re-signed with another key (but our kid): the signature fails.
    let resigned = {
        let t = other.mint(&claims(ScopeKind::ActionPatient)).unwrap();
        let (_, op) = parts(&t);
        let osig = B64.decode(t.split('.').nth(2).unwrap()).unwrap();
        forge(&h, &op, &osig)
    };
    cases.push((
        "re-signed with another key",
        resigned,
        "WARDGATE_GRANT_SIGNATURE",
    ));
    cases.push((
        "minted by another key entirely",
        other.mint(&claims(ScopeKind::Action)).unwrap(),
        "WARDGATE_GRANT_SIGNATURE",
    ));
    // One bit of the payload flipped (`g-1` becomes `g-0` in `jti`), still valid JSON: only
    // the signature can notice.
    let mut payload = B64.decode(parts3[1]).unwrap();
    let at = payload.windows(5).position(|w| w == b"\"g-1\"").unwrap() + 3;
    payload[at] ^= 0x01;
    cases.push((
        "flipped bit in payload",
        format!("{}.{}.{}", parts3[0], B64.encode(&payload), parts3[2]),
        "WARDGATE_GRANT_SIGNATURE",
    ));
    // Raw headers: a duplicated `alg`, a non-object, `alg` refused before the rest is read.
    let raw_header = |json: &str| format!("{}.{}.{}", B64.encode(json), parts3[1], parts3[2]);
    for (name, json, code) in [
        (
            "duplicate alg, EdDSA last",
            r#"{"alg":"none","alg":"EdDSA","typ":"JWT"}"#,
            "WARDGATE_GRANT_MALFORMED",
        ),
        (
            "duplicate alg, none last",
            r#"{"alg":"EdDSA","alg":"none","typ":"JWT"}"#,
            "WARDGATE_GRANT_ALGORITHM",
        ),
        (
            "header is an array",
            r#"["EdDSA"]"#,
            "WARDGATE_GRANT_MALFORMED",
        ),
        (
            "alg none with crit",
            r#"{"alg":"none","crit":["b64"]}"#,
            "WARDGATE_GRANT_ALGORITHM",
        ),
        (
            "typ not a string",
            r#"{"alg":"EdDSA","typ":7}"#,
            "WARDGATE_GRANT_MALFORMED",
        ),
        (
            "embedded jwk",
            r#"{"alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"AA"}}"#,
            "WARDGATE_GRANT_MALFORMED",
        ),
        (
            "jku",
            r#"{"alg":"EdDSA","jku":"https://evil.example/keys"}"#,
            "WARDGATE_GRANT_MALFORMED",
        ),
        (
            "b64 false",
            r#"{"alg":"EdDSA","b64":false}"#,
            "WARDGATE_GRANT_MALFORMED",
        ),
    ] {
        cases.push((name, raw_header(json), code));
    }

    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (name, t, code) in &cases {
        let err = k.verify(t, NOW).expect_err(name);
        assert!(
            err.code().starts_with(code),
            "{name}: got {} ({err})",
            err.code()
        );
        // Decoding (the browser's hint) refuses the same malformed and algorithm cases.
        if code.contains("MALFORMED") || code.contains("ALGORITHM") || code.contains("TOO_LARGE") {
            assert_eq!(decode(t).unwrap_err().code(), *code, "{name} (decode)");
        }
    }
}

#[test]
#[cfg(feature = "server")]
fn time_and_binding() {
    let k = keys();
    let t = token();
    let c = decode(&t).unwrap();
    assert_eq!(
        k.verify(&t, c.exp * 1000).unwrap_err().code(),
        "WARDGATE_GRANT_EXPIRED"
    );
    k.verify(&t, c.exp * 1000 - 1).unwrap();
    assert_eq!(
        k.verify(&t, c.iat * 1000 - 61_000).unwrap_err().code(),
        "WARDGATE_GRANT_NOT_YET_VALID"
    );
    k.verify(&t, c.iat * 1000 - 59_000).unwrap();
    for (u, s, d) in [
        ("dr-lee", "s-1", "ws-12"),
        ("dr-okafor", "s-2", "ws-12"),
        ("dr-okafor", "s-1", "tablet-1"),
    ] {
        let e = k
            .verify_for(
                &t,
                NOW,
                &Expected {
                    user_id: u,
                    session_id: s,
                    device_id: d,
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "WARDGATE_GRANT_MISMATCH", "{u} {s} {d}");
    }
    assert_eq!(
        GrantKeys::from_seed(&[1u8; 31]).unwrap_err().code(),
        "WARDGATE_KEY_INVALID"
    );
}

#[test]
fn decoding_does_not_verify_and_names_the_claim() {
    // A hand-built token with a signature of zeros decodes: decoding is a hint, not proof.
    let header = json!({"alg": "EdDSA", "typ": "JWT"});
    let mut p = serde_json::to_value(claims(ScopeKind::ActionPatient)).unwrap();
    let t = forge(&header, &p, &[0u8; 64]);
    assert_eq!(decode(&t).unwrap(), claims(ScopeKind::ActionPatient));
    assert_eq!(
        GrantClaims::decode_unverified(&t).unwrap(),
        decode(&t).unwrap()
    );
    // Expired long ago: decoding does not look at the clock either.
    p["iat"] = json!(1);
    p["auth_time"] = json!(1);
    p["exp"] = json!(2);
    assert_eq!(decode(&forge(&header, &p, &[0u8; 64])).unwrap().exp, 2);
    // Messages name the claim path.
    let mut q = serde_json::to_value(claims(ScopeKind::ActionPatient)).unwrap();
    q["scp"]["kind"] = json!(3);
    let e = decode(&forge(&header, &q, &[0u8; 64])).unwrap_err();
    assert_eq!(e.code(), "WARDGATE_GRANT_MALFORMED");
    assert!(e.to_string().contains("`scp.kind`"), "{e}");
    let mut q = serde_json::to_value(claims(ScopeKind::ActionPatient)).unwrap();
    q.as_object_mut().unwrap().remove("exp");
    let e = decode(&forge(&header, &q, &[0u8; 64])).unwrap_err();
    assert!(e.to_string().contains("`exp`"), "{e}");
    // Missing alg is reported as the empty algorithm.
    let e = decode(&forge(&json!({"typ": "JWT"}), &p, &[0u8; 64])).unwrap_err();
    assert_eq!(e, wardgate::Error::GrantAlgorithm { alg: String::new() });
}

#[test]
fn binding_names_what_differs() {
    let c = claims(ScopeKind::ActionPatient);
    check_binding(&c, "dr-okafor", "s-1", "ws-12").unwrap();
    for (u, s, d, names) in [
        ("dr-lee", "s-1", "ws-12", &["`sub`"][..]),
        ("dr-okafor", "s-2", "ws-12", &["`sid`"][..]),
        ("dr-okafor", "s-1", "tablet-1", &["`dev`"][..]),
        (
            "dr-lee",
            "s-2",
            "tablet-1",
            &["`sub`", "`sid`", "`dev`"][..],
        ),
    ] {
        let e = check_binding(&c, u, s, d).unwrap_err();
        assert_eq!(e.code(), "WARDGATE_GRANT_MISMATCH");
        let text = e.to_string();
        for n in ["`sub`", "`sid`", "`dev`"] {
            assert_eq!(text.contains(n), names.contains(&n), "{u} {s} {d}: {text}");
        }
    }
}

#[test]
fn an_action_patient_requirement_without_a_patient_yields_a_task_grant() {
    let mut t = task();
    t.patient = None;
    let req = StepUp {
        user_verification: UserVerification::Required,
        max_auth_age_seconds: 300,
        scope: ScopeKind::ActionPatient,
        grant_lifetime_seconds: 300,
        authenticator: AuthenticatorAttachment::Any,
        single_use: false,
    };
    let c = GrantClaims::for_step_up(
        &t,
        &req,
        Issue {
            issuer: "http://localhost:8080",
            session_id: "s-1",
            auth_time_ms: NOW,
            now_ms: NOW,
            jti: "g-2".into(),
            attachment: AuthenticatorAttachment::Any,
        },
    );
    assert_eq!(c.scp.kind, ScopeKind::Task);
    assert_eq!(c.scp.task, Some(t.hash().to_hex()));
    wardgate::grant::check_claims(&c).unwrap();
}

#[test]
#[cfg(feature = "server")]
fn minting_refuses_what_verification_would() {
    let k = keys();
    let mut c = claims(ScopeKind::Action);
    c.exp = c.iat;
    assert_eq!(k.mint(&c).unwrap_err().code(), "WARDGATE_GRANT_MALFORMED");
    let mut c = claims(ScopeKind::Action);
    c.scp.actions = (0..200).map(|i| format!("custom-action-{i:040}")).collect();
    assert_eq!(k.mint(&c).unwrap_err().code(), "WARDGATE_INPUT_TOO_LARGE");
    // The header says EdDSA, JWT and the key id (16 hex chars of SHA-256 of the public key).
    let (h, _) = parts(&token());
    assert_eq!(h, json!({"alg": "EdDSA", "typ": "JWT", "kid": k.kid()}));
    assert_eq!(k.kid().len(), 16);
    assert!(!format!("{k:?}").contains(&format!("{:?}", [7u8; 32])));
}
