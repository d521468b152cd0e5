//! The protected API, end to end over HTTP: RFC 9470 step-up challenges, task-bound step-up,
//! grants that cover (or do not), single-use EPCS grants, refused grants, break-glass, and what
//! the server recorded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use serde_json::{Value, json};
use support::soft_authenticator::{SoftAuthenticator, b64, unb64};
use support::{ORIGIN, RP_ID, TestServer, tablet, task_hash, workstation};

fn sign_body(patient: &str, summary: &str) -> Value {
    json!({ "patientId": patient, "summary": summary })
}

#[tokio::test]
async fn register_sign_in_session_and_sign_out() {
    let srv = TestServer::start().await;
    srv.get("/api/session", None, None)
        .await
        .expect_code(401, "WARDGATE_UNAUTHENTICATED");
    let c = srv.clinician("dr-okafor", workstation()).await;
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM credentials WHERE user_id = 'dr-okafor'"),
        1
    );
    let s = srv
        .get("/api/session", Some(&c.cookie), None)
        .await
        .expect(200);
    let info = &s.body["session"];
    assert_eq!(info["sessionId"], c.sid());
    assert_eq!(info["user"]["id"], "dr-okafor");
    assert_eq!(info["user"]["name"], "Dr A. Okafor");
    assert_eq!(info["user"]["roles"], json!(["physician"]));
    assert_eq!(info["device"], workstation());
    assert_eq!(info["startedAtMs"], json!(srv.time()));
    assert_eq!(info["lastStrongAuthMs"], json!(srv.time()));
    // The session id is not the cookie (the id travels in grants and audit events).
    assert_ne!(c.cookie, c.sid());
    assert_eq!(
        srv.audit_rows(&c.sid(), "sign-in"),
        vec![("ok".into(), None)]
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM audit WHERE kind = 'register' AND user_id = 'dr-okafor' AND outcome = 'ok'"),
        1
    );

    let out = srv
        .post("/api/signout", &json!({}), Some(&c.cookie))
        .await
        .expect(200);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    srv.get("/api/session", Some(&c.cookie), None)
        .await
        .expect_code(401, "WARDGATE_UNAUTHENTICATED");
    assert_eq!(srv.audit_rows(&c.sid(), "logout").len(), 1);
    assert_eq!(
        srv.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE id = '{}' AND ended_ms IS NOT NULL",
            c.sid()
        )),
        1
    );
}

#[tokio::test]
async fn low_risk_chart_view_needs_no_step_up() {
    let srv = TestServer::start().await;
    let c = srv.clinician("rn-ade", tablet()).await;
    let list = srv
        .get("/api/patients", Some(&c.cookie), None)
        .await
        .expect(200);
    assert_eq!(list.body["patients"].as_array().unwrap().len(), 8);
    let chart = srv
        .get("/api/patients/p-1001", Some(&c.cookie), None)
        .await
        .expect(200);
    assert_eq!(chart.body["patient"]["name"], "Eleanor Voss");
    assert_eq!(chart.body["decision"]["effect"], "allow");
    assert_eq!(chart.body["decision"]["ruleIds"], json!(["chart-view"]));
    assert!(chart.body["orders"].as_array().unwrap().len() >= 2);
    assert_eq!(chart.header("cache-control").as_deref(), Some("no-store"));
    // No ceremony was issued; the decision is on record.
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM ceremonies WHERE kind = 'step-up'"),
        0
    );
    assert_eq!(
        srv.audit_rows(&c.sid(), "decision"),
        vec![("allow".into(), Some("allowed by policy".into()))]
    );
    srv.get("/api/patients/p-9999", Some(&c.cookie), None)
        .await
        .expect_code(404, "WARDGATE_NOT_FOUND");
}

#[tokio::test]
async fn order_sign_steps_up_and_the_grant_covers_that_patient_only() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;

    // 1. No grant: RFC 9470 challenge with the exact task.
    let first = srv
        .post_bearer(
            "/api/orders/o-1001-1/sign",
            &sign_body("p-1001", "sign amoxicillin"),
            &c.cookie,
            None,
        )
        .await
        .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    assert_eq!(
        first.header("www-authenticate").as_deref(),
        Some(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"signing orders needs your passkey\", acr_values=\"phr\", max_age=900"
        )
    );
    let task = first.body["task"].clone();
    assert_eq!(task["action"], "order-sign");
    assert_eq!(
        task["user"],
        json!({ "id": "dr-okafor", "roles": ["physician"] })
    );
    assert_eq!(task["patient"]["id"], "p-1001");
    assert_eq!(task["targets"], json!(["MedicationRequest/o-1001-1"]));
    assert_eq!(task["summary"], "sign amoxicillin");
    assert_eq!(task["device"], workstation());

    // 2. Options: the challenge is nonce(16) ‖ SHA-256(WGT1(task)).
    let opts = srv.options(&c, &task).await.expect(200);
    assert_eq!(opts.body["decision"]["effect"], "step-up");
    assert_eq!(opts.body["taskHash"], task_hash(&task));
    let pk = &opts.body["publicKey"];
    assert_eq!(pk["userVerification"], "required");
    assert_eq!(pk["rpId"], RP_ID);
    assert_eq!(pk["timeout"], 120000);
    assert_eq!(pk["allowCredentials"][0]["id"], c.auth.credential_id_b64());
    let challenge = unb64(pk["challenge"].as_str().unwrap());
    assert_eq!(challenge.len(), 48);
    assert_eq!(
        wardgate::task::hex_encode(&challenge[16..]),
        task_hash(&task)
    );
    let parsed: wardgate::task::TaskContext = serde_json::from_value(task.clone()).unwrap();
    wardgate::task::check_challenge(&challenge, &parsed).unwrap();

    // 3. Verify: a grant for this action and patient.
    let credential = c.auth.assert(pk);
    let verified = srv
        .verify(&c, &opts.body["requestId"], &task, &credential)
        .await
        .expect(200);
    let grant = verified.body["grant"].as_str().unwrap().to_string();
    let claims = &verified.body["claims"];
    assert_eq!(claims["sub"], "dr-okafor");
    assert_eq!(claims["sid"], c.sid());
    assert_eq!(claims["dev"], "ws-4b-office");
    assert_eq!(claims["acr"], "phr");
    assert_eq!(claims["scp"]["kind"], "action-patient");
    assert_eq!(claims["scp"]["patient"], "p-1001");
    assert_eq!(claims["exp"], json!(srv.time() / 1000 + 900));
    assert_eq!(claims["once"], false);
    assert_eq!(
        wardgate::grant::decode(&grant).unwrap().jti,
        claims["jti"].as_str().unwrap()
    );
    let jti = claims["jti"].as_str().unwrap().to_string();

    // 4. Retry with the grant: signed.
    let signed = srv
        .post_bearer(
            "/api/orders/o-1001-1/sign",
            &sign_body("p-1001", "sign amoxicillin"),
            &c.cookie,
            Some(&grant),
        )
        .await
        .expect(200);
    assert_eq!(signed.body["order"]["status"], "signed");
    assert_eq!(signed.body["decision"]["allowedBy"], "grant");
    // 5. Same patient, another order: the grant covers it, no prompt.
    srv.post_bearer(
        "/api/orders/o-1001-2/sign",
        &sign_body("p-1001", "sign FBC"),
        &c.cookie,
        Some(&grant),
    )
    .await
    .expect(200);
    // 6. Another patient: step up again.
    let other = srv
        .post_bearer(
            "/api/orders/o-1002-1/sign",
            &sign_body("p-1002", "sign enoxaparin"),
            &c.cookie,
            Some(&grant),
        )
        .await
        .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    assert_eq!(other.body["task"]["patient"]["id"], "p-1002");
    // Signing twice is a conflict, not a second signature.
    srv.post_bearer(
        "/api/orders/o-1001-1/sign",
        &sign_body("p-1001", "again"),
        &c.cookie,
        Some(&grant),
    )
    .await
    .expect_code(409, "WARDGATE_CONFLICT");

    // What the server recorded.
    let db = srv.db();
    let status = |id: &str| -> (String, Option<String>) {
        db.query_row(
            "SELECT status, grant_id FROM orders WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(status("o-1001-1"), ("signed".into(), Some(jti.clone())));
    assert_eq!(status("o-1001-2"), ("signed".into(), Some(jti.clone())));
    assert_eq!(status("o-1002-1"), ("draft".into(), None));
    assert_eq!(
        srv.count(&format!("SELECT COUNT(*) FROM grants WHERE jti = '{jti}'")),
        1
    );
    assert_eq!(srv.audit_rows(&c.sid(), "challenge-issued").len(), 1);
    assert_eq!(srv.audit_rows(&c.sid(), "ceremony-succeeded").len(), 1);
    assert_eq!(srv.audit_rows(&c.sid(), "grant-earned").len(), 1);
    assert_eq!(srv.audit_rows(&c.sid(), "grant-used").len(), 2);
    let audit = srv
        .get("/api/audit", Some(&c.cookie), None)
        .await
        .expect(200);
    let kinds: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"grant-used"), "{kinds:?}");
    let used = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "grant-used")
        .unwrap();
    assert_eq!(used["grantId"], jti);
    assert_eq!(used["task"]["patientId"], "p-1001");
    assert_eq!(used["source"], "server");
    // The session's last strong authentication moved to the step-up.
    let s = srv
        .get("/api/session", Some(&c.cookie), None)
        .await
        .expect(200);
    assert_eq!(s.body["session"]["lastStrongAuthMs"], json!(srv.time()));
}

#[tokio::test]
async fn epcs_single_use_grant_is_spent_on_second_use() {
    let srv = TestServer::start().await;
    let key = srv
        .register(
            "dr-okafor",
            SoftAuthenticator::new(RP_ID, ORIGIN).cross_platform(),
        )
        .await;
    let mut c = srv.sign_in("dr-okafor", key, workstation()).await;
    let body = json!({
        "patientId": "p-1006", "drug": "oxycodone 5 mg tablet", "controlled": true,
        "summary": "oxycodone 5 mg every 6 h as needed, 10 tablets — I attest this is my prescription"
    });
    let first = srv
        .post_bearer("/api/prescriptions", &body, &c.cookie, None)
        .await
        .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    // maxAuthAgeSeconds 0: no max_age parameter.
    assert_eq!(
        first.header("www-authenticate").as_deref(),
        Some(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"controlled substance (EPCS): approve this prescription with your security key or phone\", acr_values=\"phr\""
        )
    );
    let task = first.body["task"].clone();
    assert!(
        task["patient"]["labels"]
            .as_array()
            .unwrap()
            .contains(&json!("controlled-substance"))
    );
    assert_eq!(task["targets"], json!(["Medication/oxycodone 5 mg tablet"]));
    let opts = srv.options(&c, &task).await.expect(200);
    assert_eq!(
        opts.body["publicKey"]["hints"],
        json!(["security-key", "hybrid"])
    );
    let credential = c.auth.assert(&opts.body["publicKey"]);
    let v = srv
        .verify(&c, &opts.body["requestId"], &task, &credential)
        .await
        .expect(200);
    let grant = v.body["grant"].as_str().unwrap().to_string();
    assert_eq!(v.body["claims"]["once"], true);
    assert_eq!(v.body["claims"]["scp"]["kind"], "task");
    assert_eq!(v.body["claims"]["scp"]["task"], task_hash(&task));
    assert_eq!(v.body["claims"]["acr"], "phrh");
    assert_eq!(v.body["claims"]["att"], "cross-platform");
    let jti = v.body["claims"]["jti"].as_str().unwrap().to_string();

    srv.post_bearer("/api/prescriptions", &body, &c.cookie, Some(&grant))
        .await
        .expect(201);
    let again = srv
        .post_bearer("/api/prescriptions", &body, &c.cookie, Some(&grant))
        .await
        .expect_code(401, "WARDGATE_GRANT_SPENT");
    assert!(
        again
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"insufficient_user_authentication\"")
    );
    assert_eq!(again.body["task"], task);
    // Another drug is another task: the grant never covered it.
    let mut other = body.clone();
    other["drug"] = json!("morphine sulfate 10 mg");
    srv.post_bearer("/api/prescriptions", &other, &c.cookie, Some(&grant))
        .await
        .expect_code(401, "WARDGATE_GRANT_SPENT");

    assert_eq!(srv.count("SELECT COUNT(*) FROM prescriptions"), 1);
    assert_eq!(
        srv.count(&format!("SELECT COUNT(*) FROM spent_grants WHERE jti = '{jti}' AND action = 'medication-prescribe'")),
        1
    );
    assert_eq!(
        srv.count(&format!(
            "SELECT COUNT(*) FROM prescriptions WHERE grant_id = '{jti}' AND controlled = 1"
        )),
        1
    );
    let refused = srv.audit_rows(&c.sid(), "grant-refused");
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|(o, _)| o == "WARDGATE_GRANT_SPENT"));
}

#[tokio::test]
async fn epcs_refuses_a_platform_passkey() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", tablet()).await; // platform passkey on a shared tablet
    let body = json!({ "patientId": "p-1006", "drug": "morphine sulfate 5 mg", "controlled": true, "summary": "attested" });
    let first = srv
        .post_bearer("/api/prescriptions", &body, &c.cookie, None)
        .await
        .expect(401);
    let task = first.body["task"].clone();
    srv.step_up_with(&mut c, &task, &Default::default())
        .await
        .expect_code(403, "WARDGATE_AUTHENTICATOR_NOT_ALLOWED");
    assert_eq!(srv.count("SELECT COUNT(*) FROM grants"), 0);
    assert_eq!(
        srv.audit_rows(&c.sid(), "ceremony-failed"),
        vec![(
            "WARDGATE_AUTHENTICATOR_NOT_ALLOWED".into(),
            Some("this task needs a cross-platform authenticator (security key or phone), separate from this device".into())
        )]
    );
}

#[tokio::test]
async fn sensitive_charts_step_up_and_students_are_denied() {
    let srv = TestServer::start().await;
    let mut nurse = srv.clinician("rn-ade", workstation()).await;
    let vip = srv
        .get("/api/patients/p-1003", Some(&nurse.cookie), None)
        .await
        .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    assert_eq!(
        vip.header("www-authenticate").as_deref(),
        Some(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"this chart is sensitive: confirm it is you with your passkey\", acr_values=\"phr\", max_age=1800"
        )
    );
    let grant = srv.step_up(&mut nurse, &vip.body["task"]).await;
    srv.get("/api/patients/p-1003", Some(&nurse.cookie), Some(&grant))
        .await
        .expect(200);

    let student = srv.clinician("st-kim", workstation()).await;
    let denied = srv
        .get("/api/patients/p-1003", Some(&student.cookie), None)
        .await
        .expect_code(403, "WARDGATE_DENIED");
    assert_eq!(
        denied.body["decision"]["ruleIds"],
        json!(["chart-view-sensitive-students"])
    );
    // A student may not sign orders either, whatever grant they hold.
    srv.post_bearer(
        "/api/orders/o-1001-1/sign",
        &sign_body("p-1001", "x"),
        &student.cookie,
        None,
    )
    .await
    .expect_code(403, "WARDGATE_DENIED");
    assert_eq!(srv.audit_rows(&student.sid(), "decision").len(), 2);
    assert!(
        srv.audit_rows(&student.sid(), "decision")
            .iter()
            .all(|(o, _)| o == "deny")
    );
}

#[tokio::test]
async fn break_glass_is_allowed_flagged_and_audited() {
    let srv = TestServer::start().await;
    let nurse = srv.clinician("rn-ade", tablet()).await;
    let body = json!({ "patientId": "p-1003", "reason": "code blue, bed 3" });
    let open = srv
        .post("/api/break-glass", &body, Some(&nurse.cookie))
        .await
        .expect(200);
    assert_eq!(open.body["decision"]["effect"], "break-glass");
    assert_eq!(open.body["decision"]["reviewRequired"], true);
    assert_eq!(open.body["patient"]["id"], "p-1003");
    let rows = srv.audit_rows(&nurse.sid(), "break-glass-start");
    assert_eq!(
        rows,
        vec![("break-glass".into(), Some("code blue, bed 3".into()))]
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM audit WHERE kind = 'break-glass-start' AND json_extract(event, '$.reviewRequired') = 1"),
        1
    );
    // Never silent: no reason, no override.
    srv.post(
        "/api/break-glass",
        &json!({ "patientId": "p-1003", "reason": " " }),
        Some(&nurse.cookie),
    )
    .await
    .expect_code(400, "WARDGATE_CONTEXT_INVALID");
}

#[tokio::test]
async fn tampered_grant_is_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let first = srv
        .post_bearer(
            "/api/orders/o-1004-1/sign",
            &sign_body("p-1004", "insulin"),
            &c.cookie,
            None,
        )
        .await
        .expect(401);
    let grant = srv.step_up(&mut c, &first.body["task"]).await;
    // Re-encode the payload for another patient, keep the signature.
    let parts: Vec<&str> = grant.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    claims["scp"]["patient"] = json!("p-1002");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    // And a plain flipped character in the payload.
    let mut flipped: Vec<char> = grant.chars().collect();
    let i = parts[0].len() + 5;
    flipped[i] = if flipped[i] == 'A' { 'B' } else { 'A' };
    let flipped: String = flipped.into_iter().collect();
    for bad in [&forged, &flipped] {
        srv.post_bearer(
            "/api/orders/o-1002-1/sign",
            &sign_body("p-1002", "enoxaparin"),
            &c.cookie,
            Some(bad),
        )
        .await
        .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    }
    srv.post_bearer(
        "/api/orders/o-1004-1/sign",
        &sign_body("p-1004", "insulin"),
        &c.cookie,
        Some(&flipped),
    )
    .await
    .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    let refused = srv.audit_rows(&c.sid(), "grant-refused");
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0].0, "WARDGATE_GRANT_SIGNATURE");
    assert!(
        refused
            .iter()
            .all(|(o, _)| o == "WARDGATE_GRANT_SIGNATURE" || o == "WARDGATE_GRANT_MALFORMED"),
        "{refused:?}"
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM orders WHERE status = 'signed'"),
        0
    );
    // The genuine grant still works.
    srv.post_bearer(
        "/api/orders/o-1004-1/sign",
        &sign_body("p-1004", "insulin"),
        &c.cookie,
        Some(&grant),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_grant_of_another_session_is_refused() {
    let srv = TestServer::start().await;
    let mut a = srv.clinician("dr-okafor", workstation()).await;
    // The same clinician signs in again (another tab after a sign-out elsewhere, a replay...).
    let b = srv
        .sign_in("dr-okafor", a.auth.clone(), workstation())
        .await;
    a.auth.counter = b.auth.counter;
    assert_ne!(a.sid(), b.sid());
    let first = srv
        .post_bearer(
            "/api/orders/o-1007-1/sign",
            &sign_body("p-1007", "ceftriaxone"),
            &a.cookie,
            None,
        )
        .await
        .expect(401);
    let grant = srv.step_up(&mut a, &first.body["task"]).await;
    srv.post_bearer(
        "/api/orders/o-1007-1/sign",
        &sign_body("p-1007", "ceftriaxone"),
        &b.cookie,
        Some(&grant),
    )
    .await
    .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    let refused = srv.audit_rows(&b.sid(), "grant-refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "WARDGATE_GRANT_MISMATCH");
    assert!(
        refused[0].1.as_deref().unwrap().contains("session"),
        "{refused:?}"
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM orders WHERE status = 'signed'"),
        0
    );
}

#[tokio::test]
async fn an_expired_grant_is_refused() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-lee", workstation()).await;
    let first = srv
        .post_bearer(
            "/api/orders/o-1008-1/sign",
            &sign_body("p-1008", "apixaban"),
            &c.cookie,
            None,
        )
        .await
        .expect(401);
    let grant = srv.step_up(&mut c, &first.body["task"]).await;
    srv.advance(901_000); // the grant lives 900 s
    srv.post_bearer(
        "/api/orders/o-1008-1/sign",
        &sign_body("p-1008", "apixaban"),
        &c.cookie,
        Some(&grant),
    )
    .await
    .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    assert_eq!(
        srv.audit_rows(&c.sid(), "grant-refused"),
        vec![(
            "WARDGATE_GRANT_EXPIRED".into(),
            Some("grant has expired".into())
        )]
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM orders WHERE status = 'signed'"),
        0
    );
}

#[tokio::test]
async fn sign_out_kills_the_session_and_its_grants() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("dr-okafor", workstation()).await;
    let first = srv
        .post_bearer(
            "/api/orders/o-1002-2/sign",
            &sign_body("p-1002", "CXR"),
            &c.cookie,
            None,
        )
        .await
        .expect(401);
    let grant = srv.step_up(&mut c, &first.body["task"]).await;
    srv.post("/api/signout", &json!({}), Some(&c.cookie))
        .await
        .expect(200);
    srv.post_bearer(
        "/api/orders/o-1002-2/sign",
        &sign_body("p-1002", "CXR"),
        &c.cookie,
        Some(&grant),
    )
    .await
    .expect_code(401, "WARDGATE_UNAUTHENTICATED");
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM grants WHERE revoked_ms IS NOT NULL"),
        1
    );
    // A new session of the same clinician cannot use it either.
    let c2 = srv
        .sign_in("dr-okafor", c.auth.clone(), workstation())
        .await;
    srv.post_bearer(
        "/api/orders/o-1002-2/sign",
        &sign_body("p-1002", "CXR"),
        &c2.cookie,
        Some(&grant),
    )
    .await
    .expect_code(401, "WARDGATE_STEP_UP_REQUIRED");
    assert_eq!(
        srv.audit_rows(&c2.sid(), "grant-refused")[0].0,
        "WARDGATE_GRANT_MISMATCH"
    );
}

#[tokio::test]
async fn an_idle_shared_tablet_is_denied_until_unlocked() {
    let srv = TestServer::start().await;
    let mut c = srv.clinician("rn-ade", tablet()).await;
    srv.advance(301_000); // shared tablets idle-lock after 300 s
    let idle = srv
        .get("/api/patients/p-1001", Some(&c.cookie), None)
        .await
        .expect_code(403, "WARDGATE_DENIED");
    assert_eq!(idle.body["decision"]["ruleIds"], json!(["$session-idle"]));
    // Unlock: a fresh ceremony by the same clinician.
    let start = srv
        .post("/api/unlock/start", &json!({}), Some(&c.cookie))
        .await
        .expect(200);
    let credential = c.auth.assert(&start.body["publicKey"]);
    let done = srv
        .post(
            "/api/unlock/finish",
            &json!({ "requestId": start.body["requestId"], "credential": credential }),
            Some(&c.cookie),
        )
        .await
        .expect(200);
    assert_eq!(done.body["session"]["lastStrongAuthMs"], json!(srv.time()));
    srv.get("/api/patients/p-1001", Some(&c.cookie), None)
        .await
        .expect(200);
    assert_eq!(
        srv.audit_rows(&c.sid(), "unlock"),
        vec![("ok".into(), None)]
    );
}
