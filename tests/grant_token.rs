//! Grant tokens: strict decoding, Ed25519 minting and verification, and every way a token is
//! refused, each with its stable code.
#![cfg(all(not(target_arch = "wasm32"), feature = "server"))]
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
use wardgate::grant::server::{Expected, GrantKeys};
use wardgate::grant::{GrantClaims, Issue, decode};
use wardgate::policy::{AuthenticatorAttachment, ScopeKind, StepUp, UserVerification};
use wardgate::task::TaskContext;

const NOW: u64 = 1_764_057_600_000;

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

fn parts(t: &str) -> (Value, Value) {
    let p: Vec<&str> = t.split('.').collect();
    (
        serde_json::from_slice(&B64.decode(p[0]).unwrap()).unwrap(),
        serde_json::from_slice(&B64.decode(p[1]).unwrap()).unwrap(),
    )
}

#[test]
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
    let mut flipped = good.clone().into_bytes();
    let i = parts3[0].len() + 5;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    cases.push((
        "flipped bit in payload",
        String::from_utf8(flipped).unwrap(),
        "WARDGATE_GRANT_",
    ));

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
