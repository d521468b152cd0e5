//! Transport in headless Chromium: the configuration's errors, `gate.fetch` with grants and
//! RFC 9470 step-up challenges, and the durable audit queue (localStorage first, removed only
//! when acknowledged, kept in memory and reported when storage fails).
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
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

fn queued_ids() -> Vec<String> {
    let s = local_storage();
    let mut ids: Vec<String> = (0..s.length().unwrap())
        .filter_map(|i| s.key(i).unwrap())
        .filter_map(|k| k.strip_prefix("wardgate:audit:").map(str::to_string))
        .collect();
    ids.sort();
    ids
}

fn sent_ids(srv: &JsValue) -> Vec<String> {
    val(&get(srv, "auditIds"))
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[wasm_bindgen_test]
async fn a_bad_configuration_names_the_field() {
    reset_page();
    let base = config("s-tr-1", "tr-1");
    let cases: Vec<(Value, &str)> = vec![
        (json!("nope"), "$"),
        (
            {
                let mut c = base.clone();
                c["session"].as_object_mut().unwrap().remove("sessionId");
                c
            },
            "session",
        ),
        (
            {
                let mut c = base.clone();
                c["session"]["sessionId"] = json!("");
                c
            },
            "session.sessionId",
        ),
        (
            {
                let mut c = base.clone();
                c["session"]["user"]["id"] = json!(7);
                c
            },
            "session.user.id",
        ),
        (
            {
                let mut c = base.clone();
                c["sesion"] = json!({});
                c
            },
            "sesion",
        ),
        (
            {
                let mut c = base.clone();
                c.as_object_mut().unwrap().remove("device");
                c
            },
            "device",
        ),
        (
            {
                let mut c = base.clone();
                c["endpoints"] = json!({ "stepUpOption": "/x" });
                c
            },
            "endpoints.stepUpOption",
        ),
        (
            {
                let mut c = base.clone();
                c["endpoints"] = json!({ "audit": "" });
                c
            },
            "endpoints.audit",
        ),
        (
            {
                let mut c = base.clone();
                c["auditFlushIntervalMs"] = json!(1);
                c
            },
            "auditFlushIntervalMs",
        ),
        (
            {
                let mut c = base.clone();
                c["clock"] = json!(5);
                c
            },
            "clock",
        ),
        (
            {
                let mut c = base.clone();
                c["policy"] = json!(5);
                c
            },
            "policy",
        ),
        (
            {
                let mut c = base.clone();
                c["policy"] = json!({ "url": 5 });
                c
            },
            "policy.url",
        ),
    ];
    for (cfg, path) in cases {
        let err = create_err(js(&cfg)).await;
        assert_eq!(code(&err), "WARDGATE_CONFIG_INVALID", "{path}");
        assert_eq!(get(&err, "path").as_string().unwrap_or_default(), path);
    }
    // A policy that breaks its own rules keeps the policy's code and path.
    let mut c = base.clone();
    c["policy"]["version"] = json!("wardgate/9");
    assert_eq!(code(&create_err(js(&c)).await), "WARDGATE_POLICY_VERSION");
    // The policy as JSON text, and the server's SessionInfo (with name and device) as is.
    let mut c = base.clone();
    c["policy"] = json!(POLICY);
    c["session"]["user"]["name"] = json!("Dr A. Okafor");
    c["session"]["device"] = c["device"].clone();
    c.as_object_mut().unwrap().remove("device");
    let gate = create(&c).await;
    dispose(&gate);
}

#[wasm_bindgen_test]
async fn fetch_attaches_a_covering_grant_only_when_asked() {
    reset_page();
    let srv = server("s-tr-2");
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-tr-2", "tr-2")).await;
    call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap();
    let init = json!({ "method": "POST", "body": "{}", "wardgateTask": order_sign("p-7") });
    let resp = call_async(
        &gate,
        "fetch",
        &[JsValue::from_str("/api/orders/42/sign"), js(&init)],
    )
    .await
    .unwrap();
    assert!(resp.is_instance_of::<web_sys::Response>());
    assert_eq!(num(&resp, "status"), 200.0);
    let sent = requests_to(&srv, "/api/orders/42/sign");
    assert_eq!(sent.len(), 1);
    assert!(sent[0]["auth"].as_str().unwrap().starts_with("Bearer ey"));
    assert_eq!(sent[0]["body"], "{}");
    // Without a task, no grant leaves the tab; another patient is not covered.
    set(&srv, "protectedMode", &JsValue::from_str("no-task"));
    let r2 = call_async(&gate, "fetch", &[JsValue::from_str("/api/orders/43/sign")]).await;
    let init3 = json!({ "method": "POST", "wardgateTask": order_sign("p-8") });
    let r3 = call_async(
        &gate,
        "fetch",
        &[JsValue::from_str("/api/orders/44/sign"), js(&init3)],
    )
    .await;
    assert_eq!(code(&r2.unwrap_err()), "WARDGATE_RFC9470_MALFORMED");
    assert_eq!(code(&r3.unwrap_err()), "WARDGATE_RFC9470_MALFORMED");
    assert!(requests_to(&srv, "/api/orders/43/sign")[0]["auth"].is_null());
    assert!(requests_to(&srv, "/api/orders/44/sign")[0]["auth"].is_null());
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_401_step_up_challenge_runs_one_step_up_and_retries_once() {
    reset_page();
    let srv = server("s-tr-3");
    set(&srv, "protectedTask", &js(&order_sign("p-7")));
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-tr-3", "tr-3")).await;
    let init = json!({ "method": "POST", "body": "{\"patientId\":\"p-7\"}",
                       "headers": { "Content-Type": "application/json" } });
    let resp = call_async(
        &gate,
        "fetch",
        &[JsValue::from_str("/api/orders/42/sign"), js(&init)],
    )
    .await
    .unwrap();
    assert_eq!(num(&resp, "status"), 200.0);
    let sent = requests_to(&srv, "/api/orders/42/sign");
    assert_eq!(sent.len(), 2, "one request, one retry");
    assert!(sent[0]["auth"].is_null());
    assert!(sent[1]["auth"].as_str().unwrap().starts_with("Bearer "));
    assert_eq!(
        sent[1]["body"], "{\"patientId\":\"p-7\"}",
        "the body is sent again"
    );
    assert_eq!(num(&srv, "optionsCalls"), 1.0);
    assert_eq!(num(&creds, "calls"), 1.0);
    // The grant now covers the next request for that task: no 401, no prompt.
    let again = call_async(&gate, "fetch", &[JsValue::from_str("/api/orders/42/sign")])
        .await
        .unwrap();
    assert_eq!(num(&again, "status"), 200.0);
    assert_eq!(num(&srv, "optionsCalls"), 1.0);
    assert_eq!(num(&creds, "calls"), 1.0);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_malformed_challenge_rejects_after_one_request() {
    reset_page();
    let srv = server("s-tr-4");
    set(&srv, "protectedTask", &js(&order_sign("p-7")));
    set(
        &srv,
        "protectedMode",
        &JsValue::from_str("malformed-header"),
    );
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-tr-4", "tr-4")).await;
    let err = call_async(&gate, "fetch", &[JsValue::from_str("/api/orders/42/sign")])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "WARDGATE_RFC9470_MALFORMED");
    assert_eq!(requests_to(&srv, "/api/orders/42/sign").len(), 1);
    assert_eq!(num(&srv, "optionsCalls"), 0.0);
    assert_eq!(num(&creds, "calls"), 0.0);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_cancelled_step_up_hands_back_the_401() {
    reset_page();
    let srv = server("s-tr-5");
    set(&srv, "protectedTask", &js(&order_sign("p-7")));
    let creds = stub_credentials(plan(&["cancel"]));
    let gate = create(&config("s-tr-5", "tr-5")).await;
    let resp = call_async(&gate, "fetch", &[JsValue::from_str("/api/orders/42/sign")])
        .await
        .unwrap();
    assert_eq!(num(&resp, "status"), 401.0);
    assert_eq!(requests_to(&srv, "/api/orders/42/sign").len(), 1);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn the_audit_queue_survives_a_reload_and_forgets_only_what_was_acknowledged() {
    reset_page();
    let srv = server("s-tr-6");
    set(&srv, "auditMode", &JsValue::from_str("fail"));
    let gate = create(&config("s-tr-6", "tr-6")).await;
    for p in ["p-1", "p-2", "p-3", "p-4"] {
        call_async(&gate, "begin", &[js(&chart_view(p))])
            .await
            .unwrap();
    }
    let queued = queued_ids();
    assert_eq!(queued.len(), 4, "localStorage first");
    // A flush while the server is down keeps everything.
    dispatch_window("online");
    sleep(30).await;
    assert_eq!(queued_ids(), queued);
    assert_eq!(
        num(&call(&gate, "metrics", &[]).unwrap(), "auditQueued"),
        4.0
    );
    dispose(&gate); // the tab goes away

    // The next page load sends them; the server acknowledges half.
    set(&srv, "auditIds", &js(&json!([])));
    set(&srv, "auditMode", &JsValue::from_str("half"));
    let next = create(&config("s-tr-6", "tr-6")).await;
    sleep(30).await;
    let mut first = sent_ids(&srv);
    first.sort();
    assert_eq!(first, queued);
    let left = queued_ids();
    assert_eq!(left.len(), 2, "only acknowledged events are removed");
    // Next flush: only the two left are sent again; then nothing.
    set(&srv, "auditIds", &js(&json!([])));
    set(&srv, "auditMode", &JsValue::from_str("ack"));
    dispatch_window("online");
    sleep(30).await;
    let mut second = sent_ids(&srv);
    second.sort();
    assert_eq!(second, left);
    assert!(queued_ids().is_empty());
    set(&srv, "auditIds", &js(&json!([])));
    dispatch_window("online");
    sleep(30).await;
    assert!(
        sent_ids(&srv).is_empty(),
        "acknowledged events are not sent again"
    );
    dispose(&next);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn without_storage_audit_events_stay_in_memory_and_metrics_say_so() {
    reset_page();
    let srv = server("s-tr-7");
    set(&srv, "auditMode", &JsValue::from_str("fail"));
    let gate = create(&config("s-tr-7", "tr-7")).await;
    let put_back = break_local_storage();
    call_async(&gate, "begin", &[js(&chart_view("p-1"))])
        .await
        .unwrap();
    call_async(&gate, "begin", &[js(&chart_view("p-2"))])
        .await
        .unwrap();
    put_back.call0(&JsValue::UNDEFINED).unwrap();
    let m = call(&gate, "metrics", &[]).unwrap();
    assert_eq!(num(&m, "auditNotDurable"), 2.0);
    assert_eq!(num(&m, "auditQueued"), 2.0);
    assert!(queued_ids().is_empty());
    // They are still delivered.
    set(&srv, "auditMode", &JsValue::from_str("ack"));
    dispatch_window("online");
    sleep(30).await;
    assert_eq!(sent_ids(&srv).len(), 2);
    assert_eq!(
        num(&call(&gate, "metrics", &[]).unwrap(), "auditQueued"),
        0.0
    );
    dispose(&gate);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn the_policy_can_come_from_a_url() {
    reset_page();
    let srv = server("s-tr-8");
    // The fake server answers 404 for it: the error says so.
    let mut c = config("s-tr-8", "tr-8");
    c["policy"] = json!({ "url": "/policies/ward.json" });
    let err = create_err(js(&c)).await;
    assert_eq!(code(&err), "WARDGATE_SERVER");
    assert_eq!(num(&err, "status"), 404.0);
    restore(&srv);
}
