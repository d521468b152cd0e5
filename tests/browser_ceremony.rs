//! The passkey ceremony in headless Chromium: the DOMException → code table, task binding of
//! the challenge, cancel vs interruption (offered again on return), timeouts, one ceremony at
//! a time. `navigator.credentials.get` is a test double here (a real virtual authenticator is
//! the end-to-end suite's); `PublicKeyCredential.parseRequestOptionsFromJSON` is Chromium's own.
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod browser_common;

use browser_common::*;
use serde_json::json;
use wardgate::browser::ceremony::{RequestOptionsJson, classify};
use wardgate::browser::{CeremonyCode as C, Disposition as D, OurAbort as O};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// (DOMException name, hidden during the ceremony, focused now, our abort) → (code, what next).
type Row = (&'static str, bool, bool, Option<O>, C, D);

#[wasm_bindgen_test]
fn dom_exception_table() {
    let rows: &[Row] = &[
        // The clinician dismissed the prompt while looking at it.
        (
            "NotAllowedError",
            false,
            true,
            None,
            C::NotAllowed,
            D::Cancelled,
        ),
        // A tab or app switch cut it off: keep the task, offer it again.
        (
            "NotAllowedError",
            true,
            true,
            None,
            C::NotAllowed,
            D::Interrupted,
        ),
        (
            "NotAllowedError",
            false,
            false,
            None,
            C::NotAllowed,
            D::Interrupted,
        ),
        (
            "NotAllowedError",
            true,
            false,
            None,
            C::NotAllowed,
            D::Interrupted,
        ),
        // Aborted by the browser.
        ("AbortError", false, true, None, C::Aborted, D::Failed),
        ("AbortError", true, true, None, C::Aborted, D::Interrupted),
        // Aborted by wardgate: our reason wins over the name.
        (
            "AbortError",
            false,
            true,
            Some(O::Superseded),
            C::Aborted,
            D::Abandoned,
        ),
        (
            "AbortError",
            false,
            true,
            Some(O::Wiped),
            C::Aborted,
            D::Abandoned,
        ),
        (
            "AbortError",
            false,
            true,
            Some(O::Disposed),
            C::Aborted,
            D::Abandoned,
        ),
        (
            "AbortError",
            false,
            true,
            Some(O::Locked),
            C::Aborted,
            D::Suspended,
        ),
        (
            "AbortError",
            false,
            true,
            Some(O::Timeout),
            C::Timeout,
            D::Failed,
        ),
        (
            "NotAllowedError",
            true,
            false,
            Some(O::Timeout),
            C::Timeout,
            D::Failed,
        ),
        // The rest are failures with their own codes.
        ("SecurityError", false, true, None, C::Security, D::Failed),
        ("SecurityError", true, false, None, C::Security, D::Failed),
        (
            "InvalidStateError",
            false,
            true,
            None,
            C::InvalidState,
            D::Failed,
        ),
        ("UnknownError", false, true, None, C::Unknown, D::Failed),
        ("TimeoutError", false, true, None, C::Timeout, D::Failed),
        (
            "NotSupportedError",
            false,
            true,
            None,
            C::Unsupported,
            D::Failed,
        ),
        ("ConstraintError", false, true, None, C::Unknown, D::Failed),
        ("", false, true, None, C::Unknown, D::Failed),
    ];
    let mut wrong = Vec::new();
    for (name, hidden, focused, ours, code, disposition) in rows {
        let got = classify(name, *hidden, *focused, *ours);
        if got.code != *code || got.disposition != *disposition {
            wrong.push(format!(
                "{name} hidden={hidden} focused={focused} ours={ours:?}: got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(C::NotAllowed.code(), "WARDGATE_CEREMONY_NOT_ALLOWED");
    assert_eq!(C::Aborted.code(), "WARDGATE_CEREMONY_ABORTED");
    assert_eq!(C::Security.code(), "WARDGATE_CEREMONY_SECURITY");
    assert_eq!(C::InvalidState.code(), "WARDGATE_CEREMONY_INVALID_STATE");
    assert_eq!(C::Unknown.code(), "WARDGATE_CEREMONY_UNKNOWN");
    assert_eq!(C::Timeout.code(), "WARDGATE_CEREMONY_TIMEOUT");
    assert_eq!(C::Unsupported.code(), "WARDGATE_CEREMONY_UNSUPPORTED");
}

#[wasm_bindgen_test]
fn options_weaker_than_uv_required_are_refused() {
    for uv in [Some("preferred"), Some("discouraged"), None] {
        let mut o = json!({ "challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
        if let Some(uv) = uv {
            o["userVerification"] = json!(uv);
        }
        let o: RequestOptionsJson = serde_json::from_value(o).unwrap();
        let e = o.check().unwrap_err();
        assert_eq!(e.code(), "WARDGATE_CEREMONY_OPTIONS_INVALID", "{uv:?}");
    }
    let bad: RequestOptionsJson = serde_json::from_value(
        json!({ "challenge": "not base64!", "userVerification": "required" }),
    )
    .unwrap();
    assert_eq!(
        bad.check().unwrap_err().code(),
        "WARDGATE_CEREMONY_OPTIONS_INVALID"
    );
}

#[wasm_bindgen_test]
async fn step_up_runs_one_ceremony_bound_to_the_task() {
    reset_page();
    let srv = server("s-cer-1");
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-cer-1", "cer-1")).await;
    let seen = record(&gate, js(&json!(["prompt", "grant", "audit"])));
    let out = val(&call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "stepped-up", "{out}");
    assert_eq!(out["claims"]["scp"]["patient"], "p-7");
    assert_eq!(out["decision"]["effect"], "step-up");
    assert_eq!(num(&srv, "optionsCalls"), 1.0);
    assert_eq!(num(&srv, "verifyCalls"), 1.0);
    assert_eq!(num(&creds, "calls"), 1.0);
    // The browser got the options with user verification required and our abort signal.
    let opts = get(&get(&creds, "options"), "0");
    let pk = get(&opts, "publicKey");
    assert_eq!(
        get(&pk, "userVerification").as_string().unwrap(),
        "required"
    );
    assert!(get(&pk, "challenge").is_instance_of::<js_sys::ArrayBuffer>());
    assert!(get(&opts, "signal").is_instance_of::<web_sys::AbortSignal>());
    // verify carried the request id, the task and the credential's toJSON().
    let verify = &requests_to(&srv, "/api/step-up/verify")[0];
    let body: serde_json::Value = serde_json::from_str(verify["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["requestId"], "r-1");
    assert_eq!(body["task"]["action"], "order-sign");
    assert_eq!(body["credential"]["type"], "public-key");
    sleep(0).await;
    let prompts = events(&seen, "prompt");
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0]["kind"], "ceremony");
    assert_eq!(events(&seen, "grant")[0]["source"], "here");
    let kinds: Vec<String> = events(&seen, "audit")
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"decision".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"ceremony-started".to_string()), "{kinds:?}");
    assert!(
        kinds.contains(&"ceremony-succeeded".to_string()),
        "{kinds:?}"
    );
    let state = val(&call(&gate, "state", &[]).unwrap());
    assert_eq!(state["grants"].as_array().unwrap().len(), 1);
    assert!(state["pending"].is_null());
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn dismissing_the_prompt_resolves_cancelled() {
    reset_page();
    let srv = server("s-cer-2");
    let creds = stub_credentials(plan(&["cancel"]));
    let gate = create(&config("s-cer-2", "cer-2")).await;
    let out = val(&call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(
        out,
        json!({ "kind": "cancelled", "code": "WARDGATE_CEREMONY_NOT_ALLOWED" })
    );
    let m = call(&gate, "metrics", &[]).unwrap();
    assert_eq!(num(&m, "cancels"), 1.0);
    assert_eq!(num(&m, "prompts"), 1.0);
    assert_eq!(num(&srv, "verifyCalls"), 0.0);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_tab_switch_keeps_the_task_and_offers_it_again() {
    reset_page();
    let srv = server("s-cer-3");
    let creds = stub_credentials(plan(&["interrupt-hidden", "ok"]));
    let gate = create(&config("s-cer-3", "cer-3")).await;
    let seen = record(&gate, js(&json!(["prompt"])));
    let pending = settled(&call(&gate, "begin", &[js(&order_sign("p-7"))]).unwrap());
    sleep(100).await;
    // Interrupted while hidden: begin() is still pending, the task is kept.
    assert!(!get(&pending, "done").as_bool().unwrap());
    let state = val(&call(&gate, "state", &[]).unwrap());
    assert_eq!(state["pending"]["interrupted"], true, "{state}");
    assert_eq!(num(&creds, "calls"), 1.0);
    // Back to the tab: offered again, completes.
    set_visibility("visible");
    sleep(100).await;
    assert!(get(&pending, "done").as_bool().unwrap());
    let out = val(&get(&pending, "value"));
    assert_eq!(out["kind"], "stepped-up", "{out}");
    assert_eq!(num(&creds, "calls"), 2.0);
    let m = call(&gate, "metrics", &[]).unwrap();
    assert_eq!(num(&m, "interrupted"), 1.0);
    assert_eq!(num(&m, "resumed"), 1.0);
    assert_eq!(num(&m, "appSwitchesDuringPrompt"), 1.0);
    let prompts = events(&seen, "prompt");
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert_eq!(prompts[1]["attempt"], 2);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn more_than_three_interruptions_reject() {
    reset_page();
    let srv = server("s-cer-4");
    let creds = stub_credentials(plan(&["interrupt-blur"]));
    let gate = create(&config("s-cer-4", "cer-4")).await;
    let pending = settled(&call(&gate, "begin", &[js(&order_sign("p-7"))]).unwrap());
    for round in 1..=3 {
        sleep(60).await;
        assert!(!get(&pending, "done").as_bool().unwrap(), "round {round}");
        set_focus(true);
    }
    sleep(100).await;
    assert!(get(&pending, "done").as_bool().unwrap());
    let err = get(&pending, "error");
    assert_eq!(code(&err), "WARDGATE_CEREMONY_NOT_ALLOWED");
    assert_eq!(
        get(&get(&err, "cause"), "name").as_string().unwrap(),
        "NotAllowedError"
    );
    assert_eq!(num(&creds, "calls"), 4.0);
    let m = call(&gate, "metrics", &[]).unwrap();
    assert_eq!(num(&m, "interrupted"), 3.0);
    assert_eq!(num(&m, "failures"), 1.0);
    set_focus(true);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_challenge_for_another_task_is_refused_and_audited() {
    reset_page();
    let srv = server("s-cer-5");
    set(&srv, "challengeMode", &JsValue::from_str("other-task"));
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-cer-5", "cer-5")).await;
    let seen = record(&gate, js(&json!(["audit"])));
    let err = call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "WARDGATE_CHALLENGE_TASK_MISMATCH");
    assert_eq!(num(&creds, "calls"), 0.0, "no ceremony for another task");
    sleep(0).await;
    let audits = events(&seen, "audit");
    let mismatch: Vec<_> = audits
        .iter()
        .filter(|e| e["kind"] == "challenge-mismatch")
        .collect();
    assert_eq!(mismatch.len(), 1, "{audits:?}");
    assert_eq!(mismatch[0]["outcome"], "WARDGATE_CHALLENGE_TASK_MISMATCH");
    assert_eq!(mismatch[0]["task"]["action"], "order-sign");
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn server_options_without_uv_required_are_refused() {
    reset_page();
    let srv = server("s-cer-6");
    set(&srv, "userVerification", &JsValue::from_str("preferred"));
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-cer-6", "cer-6")).await;
    let err = call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "WARDGATE_CEREMONY_OPTIONS_INVALID");
    assert_eq!(num(&creds, "calls"), 0.0);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_security_error_rejects_with_the_dom_exception_as_cause() {
    reset_page();
    let srv = server("s-cer-7");
    let creds = stub_credentials(plan(&["security"]));
    let gate = create(&config("s-cer-7", "cer-7")).await;
    let err = call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "WARDGATE_CEREMONY_SECURITY");
    assert_eq!(get(&err, "name").as_string().unwrap(), "WardgateError");
    let cause = get(&err, "cause");
    assert!(cause.is_instance_of::<web_sys::DomException>());
    assert_eq!(get(&cause, "name").as_string().unwrap(), "SecurityError");
    let m = call(&gate, "metrics", &[]).unwrap();
    assert_eq!(num(&m, "failures"), 1.0);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn no_webauthn_is_unsupported() {
    reset_page();
    let srv = server("s-cer-8");
    let gate = create(&config("s-cer-8", "cer-8")).await;
    let put_back = hide_webauthn();
    let err = call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap_err();
    put_back.call0(&JsValue::UNDEFINED).unwrap();
    assert_eq!(code(&err), "WARDGATE_CEREMONY_UNSUPPORTED");
    dispose(&gate);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_ceremony_past_its_timeout_rejects_timeout() {
    reset_page();
    let srv = server("s-cer-9");
    set(&srv, "timeout", &JsValue::from_f64(1000.0));
    let creds = stub_credentials(plan(&["hang"]));
    let gate = create(&config("s-cer-9", "cer-9")).await;
    let err = call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "WARDGATE_CEREMONY_TIMEOUT");
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_new_ceremony_aborts_the_old_one() {
    reset_page();
    let srv = server("s-cer-10");
    let creds = stub_credentials(plan(&["hang", "ok"]));
    let gate = create(&config("s-cer-10", "cer-10")).await;
    let first = settled(&call(&gate, "begin", &[js(&order_sign("p-1"))]).unwrap());
    sleep(50).await;
    let second = val(&call_async(&gate, "begin", &[js(&order_sign("p-2"))])
        .await
        .unwrap());
    assert_eq!(second["kind"], "stepped-up");
    sleep(10).await;
    assert_eq!(
        val(&get(&first, "value")),
        json!({ "kind": "cancelled", "code": "WARDGATE_CEREMONY_ABORTED" })
    );
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn low_risk_work_never_prompts_nor_calls_the_server() {
    reset_page();
    let srv = server("s-cer-11");
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-cer-11", "cer-11")).await;
    sleep(10).await; // the flush at creation (nothing queued yet)
    let before = val(&get(&srv, "requests")).as_array().unwrap().len();
    let seen = record(&gate, js(&json!(["prompt"])));
    let out = val(&call_async(&gate, "begin", &[js(&chart_view("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "allowed");
    assert_eq!(out["by"], "policy");
    assert_eq!(out["decision"]["ruleIds"], json!(["chart-view"]));
    sleep(10).await;
    assert_eq!(
        val(&get(&srv, "requests")).as_array().unwrap().len(),
        before
    );
    assert_eq!(num(&creds, "calls"), 0.0);
    assert!(events(&seen, "prompt").is_empty());
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}
