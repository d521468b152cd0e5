//! Attacks the relying party must refuse (issue 6's table), each also audited: replayed
//! assertions, assertions for another task or user, challenges not issued or too old, wrong
//! origin or RP ID, no user verification, a signature counter going back, and grants re-signed
//! with another key or with `alg` switched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use serde_json::{Value, json};
use support::soft_authenticator::{SoftAuthenticator, Tweaks, b64, unb64};
use support::{TestServer, workstation};

fn sign_body(patient: &str, summary: &str) -> Value {
    json!({ "patientId": patient, "summary": summary })
}

/// The task the server names in its RFC 9470 challenge for signing `order`.
async fn order_task(srv: &TestServer, c: &support::Clinician, order: &str, patient: &str) -> Value {
    srv.post_bearer(
        &format!("/api/orders/{order}/sign"),
        &sign_body(patient, "sign"),
        &c.cookie,
        None,
    )
    .await
    .expect_code(401, "WARDGATE_STEP_UP_REQUIRED")
    .body["task"]
        .clone()
}

fn refusals(srv: &TestServer, c: &support::Clinician) -> Vec<String> {
    srv.audit_rows(&c.sid(), "ceremony-failed")
        .into_iter()
        .chain(srv.audit_rows(&c.sid(), "challenge-mismatch"))
        .map(|(o, _)| o)
        .collect()
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let task = order_task(&srv, &c, "o-1001-1", "p-1001").await;
    let opts = srv.options(&c, &task).await.expect(200);
    let credential = c.auth.assert(&opts.body["publicKey"]);
    srv.verify(&c, &opts.body["requestId"], &task, &credential)
        .await
        .expect(200);
    srv.verify(&c, &opts.body["requestId"], &task, &credential)
        .await
        .expect_code(400, "WARDGATE_CHALLENGE_UNKNOWN");
    // The same assertion against a fresh request id: its challenge is not that request's.
    let fresh = srv.options(&c, &task).await.expect(200);
    srv.verify(&c, &fresh.body["requestId"], &task, &credential)
        .await
        .expect_code(400, "WARDGATE_ASSERTION_INVALID");
    assert_eq!(
        refusals(&srv, &c),
        ["WARDGATE_CHALLENGE_UNKNOWN", "WARDGATE_ASSERTION_INVALID"]
    );
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 1);
}

#[tokio::test]
async fn an_assertion_for_another_task_or_patient_is_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let task = order_task(&srv, &c, "o-1001-1", "p-1001").await;
    let opts = srv.options(&c, &task).await.expect(200);
    let credential = c.auth.assert(&opts.body["publicKey"]);
    let mut other_patient = task.clone();
    other_patient["patient"]["id"] = json!("p-1002");
    srv.verify(&c, &opts.body["requestId"], &other_patient, &credential)
        .await
        .expect_code(400, "WARDGATE_CHALLENGE_TASK_MISMATCH");
    let opts = srv.options(&c, &task).await.expect(200);
    let credential = c.auth.assert(&opts.body["publicKey"]);
    let mut other_order = task.clone();
    other_order["targets"] = json!(["MedicationRequest/o-1001-3"]);
    srv.verify(&c, &opts.body["requestId"], &other_order, &credential)
        .await
        .expect_code(400, "WARDGATE_CHALLENGE_TASK_MISMATCH");
    assert_eq!(
        refusals(&srv, &c),
        [
            "WARDGATE_CHALLENGE_TASK_MISMATCH",
            "WARDGATE_CHALLENGE_TASK_MISMATCH"
        ]
    );
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 0);
}

#[tokio::test]
async fn an_assertion_by_another_users_passkey_is_refused() {
    let srv = TestServer::start().await;
    let a = srv.clinician("dr-okafor", workstation()).await;
    let mut b = srv.clinician("dr-lee", workstation()).await;
    let task = order_task(&srv, &a, "o-1001-1", "p-1001").await;
    let opts = srv.options(&a, &task).await.expect(200);
    // Dr Lee's passkey answers Dr Okafor's challenge, sent in Dr Okafor's session.
    let credential = b.auth.assert(&opts.body["publicKey"]);
    let answer = srv
        .verify(&a, &opts.body["requestId"], &task, &credential)
        .await;
    assert!(
        matches!(
            answer.code(),
            "WARDGATE_CREDENTIAL_NOT_USERS" | "WARDGATE_ASSERTION_INVALID"
        ),
        "{}",
        answer.body
    );
    assert!(answer.status == 400 || answer.status == 403);
    assert_eq!(refusals(&srv, &a).len(), 1);
    // And in Dr Lee's own session, a request id issued to Dr Okafor's is unknown.
    let opts = srv.options(&a, &task).await.expect(200);
    let credential = b.auth.assert(&opts.body["publicKey"]);
    srv.verify(&b, &opts.body["requestId"], &task, &credential)
        .await
        .expect_code(400, "WARDGATE_CHALLENGE_UNKNOWN");
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 0);
}

#[tokio::test]
async fn challenges_not_issued_or_too_old_are_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let task = order_task(&srv, &c, "o-1001-1", "p-1001").await;
    // A request id the server never issued.
    let opts = srv.options(&c, &task).await.expect(200);
    let credential = c.auth.assert(&opts.body["publicKey"]);
    srv.verify(&c, &json!("sr-not-issued"), &task, &credential)
        .await
        .expect_code(400, "WARDGATE_CHALLENGE_UNKNOWN");
    // A challenge of the authenticator's own making, under a real request id.
    let forged = {
        let mut raw = unb64(opts.body["publicKey"]["challenge"].as_str().unwrap());
        raw[0] ^= 0xff;
        b64(&raw)
    };
    let t = Tweaks {
        challenge: Some(forged),
        ..Tweaks::default()
    };
    let credential = c.auth.assert_with(&opts.body["publicKey"], &t);
    srv.verify(&c, &opts.body["requestId"], &task, &credential)
        .await
        .expect_code(400, "WARDGATE_ASSERTION_INVALID");
    // A challenge older than its timeout (120 s).
    let opts = srv.options(&c, &task).await.expect(200);
    srv.advance(121_000);
    let credential = c.auth.assert(&opts.body["publicKey"]);
    srv.verify(&c, &opts.body["requestId"], &task, &credential)
        .await
        .expect_code(400, "WARDGATE_CHALLENGE_UNKNOWN");
    let why = srv.audit_rows(&c.sid(), "ceremony-failed");
    assert_eq!(why.len(), 3, "{why:?}");
    assert_eq!(why[2].1.as_deref(), Some("challenge expired"));
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 0);
}

#[tokio::test]
async fn wrong_origin_rp_id_or_missing_user_verification_are_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let task = order_task(&srv, &c, "o-1001-1", "p-1001").await;
    for t in [
        Tweaks {
            origin: Some("https://evil.example".into()),
            ..Tweaks::default()
        },
        Tweaks {
            rp_id: Some("evil.example".into()),
            ..Tweaks::default()
        },
        Tweaks {
            no_uv: true,
            ..Tweaks::default()
        },
    ] {
        srv.step_up_with(&mut c, &task, &t)
            .await
            .expect_code(400, "WARDGATE_ASSERTION_INVALID");
    }
    assert_eq!(refusals(&srv, &c), ["WARDGATE_ASSERTION_INVALID"; 3]);
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 0);
    // The genuine assertion still passes.
    srv.step_up(&mut c, &task).await;
}

#[tokio::test]
async fn a_signature_counter_going_back_is_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let task = order_task(&srv, &c, "o-1001-1", "p-1001").await;
    srv.step_up(&mut c, &task).await;
    srv.step_up(&mut c, &task).await;
    let seen = c.auth.counter;
    assert!(seen >= 3);
    // A cloned authenticator: its counter is behind the one the server has seen.
    let t = Tweaks {
        counter: Some(seen - 2),
        ..Tweaks::default()
    };
    srv.step_up_with(&mut c, &task, &t)
        .await
        .expect_code(400, "WARDGATE_ASSERTION_INVALID");
    assert_eq!(refusals(&srv, &c), ["WARDGATE_ASSERTION_INVALID"]);
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 2);
}

#[tokio::test]
async fn grants_re_signed_with_another_key_or_another_alg_are_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let task = order_task(&srv, &c, "o-1004-1", "p-1004").await;
    let grant = srv.step_up(&mut c, &task).await;
    let claims = wardgate::grant::decode(&grant).unwrap();
    // The same claims, signed by a key the server does not hold (same kid claimed or not).
    let other = wardgate::grant::server::GrantKeys::from_seed(&[7u8; 32]).unwrap();
    let resigned = other.mint(&claims).unwrap();
    let parts: Vec<&str> = grant.split('.').collect();
    let resigned_parts: Vec<&str> = resigned.split('.').collect();
    let same_kid = format!("{}.{}.{}", parts[0], parts[1], resigned_parts[2]);
    // `alg` switched: HS256 keyed with the public key, and `none`.
    let hs = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    for bad in [&resigned, &same_kid, &hs, &none] {
        srv.post_bearer(
            "/api/orders/o-1004-1/sign",
            &sign_body("p-1004", "insulin"),
            &c.cookie,
            Some(bad),
        )
        .await
        .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    }
    let refused: Vec<String> = srv
        .audit_rows(&c.sid(), "grant-refused")
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(
        refused[..2].iter().all(|o| o == "WARDGATE_GRANT_SIGNATURE"),
        "{refused:?}"
    );
    assert!(
        refused[2..].iter().all(|o| o == "WARDGATE_GRANT_ALGORITHM"),
        "{refused:?}"
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM orders WHERE status = 'signed'"),
        0
    );
}

#[tokio::test]
async fn a_fresh_authenticator_for_an_unknown_credential_is_refused() {
    let srv = TestServer::start().await;
    let c = srv.clinician("dr-okafor", workstation()).await;
    let task = order_task(&srv, &c, "o-1001-1", "p-1001").await;
    let opts = srv.options(&c, &task).await.expect(200);
    // A key the server never registered.
    let mut stranger = SoftAuthenticator::new(&c.auth.rp_id, &c.auth.origin);
    let credential = stranger.assert(&opts.body["publicKey"]);
    let answer = srv
        .verify(&c, &opts.body["requestId"], &task, &credential)
        .await;
    assert!(
        answer.status == 400 || answer.status == 403,
        "{}",
        answer.body
    );
    assert_eq!(refusals(&srv, &c).len(), 1);
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 0);
}
