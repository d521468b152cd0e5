//! Continuity in headless Chromium: grants shared over BroadcastChannel (and forged messages
//! dropped), Web Locks single-flight across "tabs" (several gates in one page), sessionStorage
//! restore after a reload, the page lifecycle (visibility, pagehide, pageshow, focus),
//! offline/online, lock/unlock, handoff, and dispose.
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod browser_common;

use std::cell::Cell;
use std::rc::Rc;

use browser_common::*;
use serde_json::{Value, json};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn session_storage() -> web_sys::Storage {
    web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap()
}

fn stored_state() -> Value {
    serde_json::from_str(
        &session_storage()
            .get_item("wardgate:state")
            .unwrap()
            .unwrap(),
    )
    .unwrap()
}

fn grant_count(gate: &JsValue) -> usize {
    val(&call(gate, "state", &[]).unwrap())["grants"]
        .as_array()
        .unwrap()
        .len()
}

#[wasm_bindgen_test]
async fn a_grant_earned_in_one_tab_is_used_in_another() {
    reset_page();
    let srv = server("s-con-1");
    let creds = stub_credentials(plan(&["ok"]));
    let a = create(&config("s-con-1", "con-1")).await;
    let b = create(&config("s-con-1", "con-1")).await;
    let seen_b = record(&b, js(&json!(["grant"])));
    let out = val(&call_async(&a, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "stepped-up");
    sleep(20).await;
    let grants = events(&seen_b, "grant");
    assert_eq!(grants.len(), 1, "tab B heard of the grant");
    assert_eq!(grants[0]["source"], "elsewhere");
    assert_eq!(grants[0]["claims"]["jti"], out["claims"]["jti"]);
    // B decides locally: allowed by the grant, no prompt, no server call.
    let calls = val(&get(&srv, "requests")).as_array().unwrap().len();
    let out_b = val(&call_async(&b, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(out_b["kind"], "allowed", "{out_b}");
    assert_eq!(out_b["by"], "grant");
    assert_eq!(out_b["grantId"], out["claims"]["jti"]);
    assert_eq!(val(&get(&srv, "requests")).as_array().unwrap().len(), calls);
    assert_eq!(num(&creds, "calls"), 1.0);
    dispose(&a);
    dispose(&b);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn forged_malformed_and_foreign_messages_are_dropped_and_counted() {
    reset_page();
    let srv = server("s-con-2");
    let gate = create(&config("s-con-2", "con-2")).await;
    let mint = |claims: Value| -> String {
        let f: js_sys::Function = get(&srv, "mint").dyn_into().unwrap();
        f.call1(&srv, &js(&claims)).unwrap().as_string().unwrap()
    };
    let now = (js_sys::Date::now() / 1000.0) as u64;
    let claims = |sub: &str, sid: &str| {
        json!({ "iss": "x", "sub": sub, "sid": sid, "dev": DEVICE, "acr": "phr",
                "amr": ["hwk", "user", "mfa"], "auth_time": now, "iat": now, "exp": now + 900,
                "jti": format!("forged-{sub}-{sid}"),
                "scp": { "kind": "session", "actions": [] } })
    };
    let name = "wardgate:con-2";
    let messages: Vec<JsValue> = vec![
        JsValue::from_str("not json"),
        js(&json!({ "v": 1, "sessionId": "s-con-2", "type": "grant", "token": "a.b.c" })),
        JsValue::from_str(&json!({ "v": 2, "sessionId": "s-con-2", "type": "logout" }).to_string()),
        JsValue::from_str(
            &json!({ "v": 1, "sessionId": "s-con-2", "type": "logout", "extra": true }).to_string(),
        ),
        JsValue::from_str(
            &json!({ "v": 1, "sessionId": "s-con-2", "type": "grant", "token": "a.b.c" })
                .to_string(),
        ),
        // A well-formed grant for another clinician of this session id.
        JsValue::from_str(
            &json!({ "v": 1, "sessionId": "s-con-2", "type": "grant",
                     "token": mint(claims("dr-mallory", "s-con-2")) })
            .to_string(),
        ),
        // Foreign: another session's message.
        JsValue::from_str(
            &json!({ "v": 1, "sessionId": "s-other", "type": "grant",
                     "token": mint(claims(USER, "s-other")) })
            .to_string(),
        ),
        JsValue::from_str(&json!({ "v": 1, "sessionId": "s-other", "type": "logout" }).to_string()),
    ];
    for m in &messages {
        post_channel(name, m);
    }
    sleep(50).await;
    let m = call(&gate, "metrics", &[]).unwrap();
    assert_eq!(num(&m, "droppedMessages"), messages.len() as f64);
    let state = val(&call(&gate, "state", &[]).unwrap());
    assert_eq!(state["grants"], json!([]));
    assert_eq!(
        state["status"]["status"], "active",
        "a foreign logout changed nothing"
    );
    // Still a step-up: nothing was granted.
    let creds = stub_credentials(plan(&["cancel"]));
    let out = val(&call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "cancelled");
    assert_eq!(num(&creds, "calls"), 1.0);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn k_tabs_needing_the_same_step_up_run_one_ceremony() {
    reset_page();
    let srv = server("s-con-3");
    let creds = stub_credentials(plan(&["ok"]));
    let mut gates = Vec::new();
    for _ in 0..5 {
        gates.push(create(&config("s-con-3", "con-3")).await);
    }
    let pending: Vec<JsValue> = gates
        .iter()
        .map(|g| settled(&call(g, "begin", &[js(&order_sign("p-7"))]).unwrap()))
        .collect();
    for _ in 0..100 {
        sleep(20).await;
        if pending.iter().all(|p| get(p, "done").as_bool().unwrap()) {
            break;
        }
    }
    let outs: Vec<Value> = pending.iter().map(|p| val(&get(p, "value"))).collect();
    assert_eq!(num(&srv, "optionsCalls"), 1.0, "{outs:?}");
    assert_eq!(num(&srv, "verifyCalls"), 1.0);
    assert_eq!(num(&creds, "calls"), 1.0);
    let stepped = outs.iter().filter(|o| o["kind"] == "stepped-up").count();
    let by_grant = outs
        .iter()
        .filter(|o| o["kind"] == "allowed" && o["by"] == "grant")
        .count();
    assert_eq!((stepped, by_grant), (1, 4), "{outs:?}");
    for g in &gates {
        dispose(g);
    }
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_reload_restores_grants_and_the_pending_task() {
    reset_page();
    let srv = server("s-con-4");
    let creds = stub_credentials(plan(&["ok", "hang"]));
    let gate = create(&config("s-con-4", "con-4")).await;
    let out = val(&call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "stepped-up");
    // A second task whose ceremony is running when the page goes away.
    let mut export = order_sign("p-9");
    export["action"] = json!("record-export");
    let cut = settled(&call(&gate, "begin", &[js(&export)]).unwrap());
    sleep(50).await;
    assert_eq!(stored_state()["ceremony"]["state"], "running");
    dispose(&gate); // the page is gone (reload, discarded tab)
    sleep(10).await;
    assert_eq!(code(&get(&cut, "error")), "WARDGATE_DISPOSED");

    let again = create(&config("s-con-4", "con-4")).await;
    let seen = record(&again, js(&json!(["prompt"])));
    let state = val(&call(&again, "state", &[]).unwrap());
    assert_eq!(state["grants"].as_array().unwrap().len(), 1, "{state}");
    assert_eq!(state["grants"][0]["claims"]["jti"], out["claims"]["jti"]);
    assert_eq!(state["pending"]["task"]["action"], "record-export");
    assert_eq!(state["pending"]["interrupted"], true);
    assert_ne!(state["instanceId"], json!(""));
    sleep(10).await;
    // The portal is told the task waits (nothing in this page is waiting for it).
    let prompts = events(&seen, "prompt");
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    assert_eq!(prompts[0]["kind"], "pending");
    assert_eq!(prompts[0]["task"]["action"], "record-export");
    // The grant still covers order signing for p-7: no prompt.
    let out2 = val(&call_async(&again, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(out2["by"], "grant");
    dispose(&again);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn another_session_in_storage_is_wiped() {
    reset_page();
    let srv = server("s-con-5");
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-con-5", "con-5")).await;
    call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap();
    assert_eq!(grant_count(&gate), 1);
    dispose(&gate);
    let next = create(&config("s-con-5b", "con-5")).await;
    let state = val(&call(&next, "state", &[]).unwrap());
    assert_eq!(state["sessionId"], "s-con-5b");
    assert_eq!(state["grants"], json!([]));
    assert_eq!(stored_state()["sessionId"], "s-con-5b");
    dispose(&next);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn visibility_pagehide_and_pageshow_persist_flush_and_relock() {
    reset_page();
    let srv = server("s-con-6");
    let gate = create(&config("s-con-6", "con-6")).await;
    let seen = record(&gate, js(&json!(["lock"])));
    // A decision to audit.
    call_async(&gate, "begin", &[js(&chart_view("p-7"))])
        .await
        .unwrap();
    set_visibility("hidden");
    assert_eq!(val(&call(&gate, "state", &[]).unwrap())["visible"], false);
    session_storage()
        .set_item("wardgate:state", "stale")
        .unwrap();
    let audit_before = requests_to(&srv, "/api/audit").len();
    dispatch_window("pagehide");
    // pagehide persisted the state at once...
    assert_eq!(stored_state()["visible"], false);
    sleep(30).await;
    // ... and flushed the audit queue with keepalive.
    let audits = requests_to(&srv, "/api/audit");
    assert_eq!(audits.len(), audit_before + 1, "{audits:?}");
    assert_eq!(audits.last().unwrap()["keepalive"], true);
    assert_eq!(
        num(&call(&gate, "metrics", &[]).unwrap(), "auditQueued"),
        0.0
    );
    // Back from the bfcache while locked: the lock screen comes back.
    call_async(&gate, "lock", &[]).await.unwrap();
    set_visibility("visible");
    page_show(true);
    sleep(10).await;
    let locks = events(&seen, "lock");
    assert_eq!(locks.len(), 2, "{locks:?}");
    assert_eq!(locks[1]["reason"], "manual");
    // freeze persists too.
    session_storage()
        .set_item("wardgate:state", "stale")
        .unwrap();
    dispatch_document("freeze");
    assert_eq!(stored_state()["frozen"], true);
    dispatch_document("resume");
    assert_eq!(val(&call(&gate, "state", &[]).unwrap())["frozen"], false);
    dispose(&gate);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn idle_lock_is_evaluated_lazily_against_the_clock() {
    reset_page();
    let srv = server("s-con-7");
    let now = Rc::new(Cell::new(js_sys::Date::now()));
    let n2 = Rc::clone(&now);
    let clock = Closure::<dyn Fn() -> f64>::new(move || n2.get());
    let cfg = js(&config("s-con-7", "con-7"));
    set(&cfg, "clock", clock.as_ref());
    let gate = wasm_bindgen_futures::JsFuture::from(wardgate::browser::Gate::create(cfg))
        .await
        .unwrap();
    let seen = record(&gate, js(&json!(["lock", "unlock"])));
    // Shared tablet: idle lock after 300 s. Timers in a hidden tab may never fire: the next
    // focus (or decision) evaluates against wall time.
    now.set(now.get() + 301_000.0);
    set_focus(true);
    sleep(10).await;
    let locks = events(&seen, "lock");
    assert_eq!(locks, vec![json!({ "reason": "idle" })]);
    let out = val(&call_async(&gate, "begin", &[js(&chart_view("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "denied");
    assert_eq!(out["ruleIds"], json!(["$session-locked"]));
    // Unlock with a passkey.
    let creds = stub_credentials(plan(&["ok"]));
    let res = val(&call_async(&gate, "unlock", &[]).await.unwrap());
    assert_eq!(res, json!({ "kind": "unlocked" }));
    sleep(10).await;
    assert_eq!(events(&seen, "unlock").len(), 1);
    let out = val(&call_async(&gate, "begin", &[js(&chart_view("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "allowed");
    dispose(&gate);
    drop(clock);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn offline_order_signing_needs_the_connection_and_calls_nothing() {
    reset_page();
    let srv = server("s-con-8");
    let creds = stub_credentials(plan(&["ok"]));
    let gate = create(&config("s-con-8", "con-8")).await;
    sleep(10).await;
    let before = val(&get(&srv, "requests")).as_array().unwrap().len();
    dispatch_window("offline");
    let out = val(&call_async(&gate, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap());
    assert_eq!(out["kind"], "needs-connection", "{out}");
    assert_eq!(
        out["decision"]["ruleIds"],
        json!(["order-sign", "order-sign-shared", "$offline"])
    );
    // Offline-listed work still proceeds.
    let view = val(&call_async(&gate, "begin", &[js(&chart_view("p-7"))])
        .await
        .unwrap());
    assert_eq!(view["kind"], "allowed");
    sleep(10).await;
    assert_eq!(
        val(&get(&srv, "requests")).as_array().unwrap().len(),
        before
    );
    assert_eq!(num(&creds, "calls"), 0.0);
    // Back online: the queued audit events go out at once.
    dispatch_window("online");
    sleep(30).await;
    let audits = requests_to(&srv, "/api/audit");
    assert_eq!(audits.len(), 1);
    let body: Value = serde_json::from_str(audits[0]["body"].as_str().unwrap()).unwrap();
    let outcomes: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["needs-connection", "allow"]);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_lock_mid_ceremony_keeps_the_task_until_unlock() {
    reset_page();
    let srv = server("s-con-9");
    let creds = stub_credentials(plan(&["hang", "ok", "ok"]));
    let gate = create(&config("s-con-9", "con-9")).await;
    let pending = settled(&call(&gate, "begin", &[js(&order_sign("p-7"))]).unwrap());
    sleep(30).await;
    call_async(&gate, "lock", &[]).await.unwrap();
    sleep(30).await;
    assert!(
        !get(&pending, "done").as_bool().unwrap(),
        "the task waits for the unlock"
    );
    let state = val(&call(&gate, "state", &[]).unwrap());
    assert_eq!(state["status"]["status"], "locked");
    assert_eq!(state["pending"]["task"]["action"], "order-sign");
    let res = val(&call_async(&gate, "unlock", &[]).await.unwrap());
    assert_eq!(res["kind"], "unlocked");
    sleep(50).await;
    assert!(get(&pending, "done").as_bool().unwrap());
    assert_eq!(val(&get(&pending, "value"))["kind"], "stepped-up");
    assert_eq!(num(&creds, "calls"), 3.0);
    dispose(&gate);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_handoff_wipes_the_previous_clinician_in_every_tab() {
    reset_page();
    let srv = server("s-con-10");
    let creds = stub_credentials(plan(&["ok"]));
    let a = create(&config("s-con-10", "con-10")).await;
    let b = create(&config("s-con-10", "con-10")).await;
    let seen_b = record(&b, js(&json!(["handoff"])));
    call_async(&a, "begin", &[js(&order_sign("p-7"))])
        .await
        .unwrap();
    sleep(20).await;
    assert_eq!(grant_count(&b), 1);
    let next = json!({ "sessionId": "s-con-10b", "user": { "id": "rn-adeyemi", "roles": ["nurse"] },
                       "startedAtMs": js_sys::Date::now() as u64, "lastStrongAuthMs": js_sys::Date::now() as u64 });
    call_async(&a, "handoff", &[js(&next)]).await.unwrap();
    sleep(20).await;
    for g in [&a, &b] {
        let s = val(&call(g, "state", &[]).unwrap());
        assert_eq!(s["sessionId"], "s-con-10b");
        assert_eq!(s["user"]["id"], "rn-adeyemi");
        assert_eq!(s["grants"], json!([]));
        assert!(s["pending"].is_null());
    }
    let h = events(&seen_b, "handoff");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["previousUserId"], USER);
    // A malformed handoff names the field.
    let err = call_async(
        &a,
        "handoff",
        &[js(
            &json!({ "sessionId": "", "user": { "id": "x" }, "startedAtMs": 1 }),
        )],
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "WARDGATE_CONFIG_INVALID");
    assert_eq!(get(&err, "path").as_string().unwrap(), "session.sessionId");
    dispose(&a);
    dispose(&b);
    restore(&creds);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn logout_in_one_tab_logs_out_every_tab() {
    reset_page();
    let srv = server("s-con-11");
    let a = create(&config("s-con-11", "con-11")).await;
    let b = create(&config("s-con-11", "con-11")).await;
    let seen_b = record(&b, js(&json!(["logout"])));
    call_async(&a, "logout", &[]).await.unwrap();
    sleep(20).await;
    assert_eq!(events(&seen_b, "logout").len(), 1);
    let s = val(&call(&b, "state", &[]).unwrap());
    assert_eq!(s["status"]["status"], "logged-out");
    assert!(s["user"].is_null());
    dispose(&a);
    dispose(&b);
    restore(&srv);
}

#[wasm_bindgen_test]
async fn after_dispose_nothing_listens_and_every_method_refuses() {
    reset_page();
    let srv = server("s-con-12");
    let gate = create(&config("s-con-12", "con-12")).await;
    let seen = record(
        &gate,
        js(&json!(["lock", "audit", "grant", "logout", "prompt"])),
    );
    sleep(10).await;
    let requests = val(&get(&srv, "requests")).as_array().unwrap().len();
    dispose(&gate);
    session_storage()
        .set_item("wardgate:state", "marker")
        .unwrap();
    set_visibility("hidden");
    set_visibility("visible");
    dispatch_window("pagehide");
    page_show(true);
    dispatch_window("offline");
    dispatch_window("online");
    dispatch_document("freeze");
    dispatch_document("pointerdown");
    set_focus(true);
    post_channel(
        "wardgate:con-12",
        &JsValue::from_str(
            &json!({ "v": 1, "sessionId": "s-con-12", "type": "lock", "reason": "manual" })
                .to_string(),
        ),
    );
    post_channel("wardgate:con-12", &JsValue::from_str("garbage"));
    sleep(50).await;
    assert_eq!(
        session_storage()
            .get_item("wardgate:state")
            .unwrap()
            .unwrap(),
        "marker"
    );
    assert_eq!(val(&seen), json!([]));
    assert_eq!(
        val(&get(&srv, "requests")).as_array().unwrap().len(),
        requests
    );
    for m in ["begin", "fetch", "lock", "unlock", "logout", "handoff"] {
        let arg = if m == "fetch" {
            JsValue::from_str("/api/orders/1/sign")
        } else {
            js(&chart_view("p-7"))
        };
        let err = call_async(&gate, m, &[arg]).await.unwrap_err();
        assert_eq!(code(&err), "WARDGATE_DISPOSED", "{m}");
    }
    for m in ["state", "metrics"] {
        let err = call(&gate, m, &[]).unwrap_err();
        assert_eq!(code(&err), "WARDGATE_DISPOSED", "{m}");
    }
    dispose(&gate); // twice is fine
    restore(&srv);
}

#[wasm_bindgen_test]
async fn a_tab_waiting_after_an_interruption_does_not_hold_up_its_siblings() {
    reset_page();
    let srv = server("s-con-13");
    let creds = stub_credentials(plan(&["interrupt-hidden", "ok"]));
    let a = create(&config("s-con-13", "con-13")).await;
    let b = create(&config("s-con-13", "con-13")).await;
    let first = settled(&call(&a, "begin", &[js(&order_sign("p-7"))]).unwrap());
    sleep(60).await;
    assert_eq!(num(&creds, "calls"), 1.0);
    assert!(!get(&first, "done").as_bool().unwrap());
    // Tab A waits to be offered again; tab B needs the same grant and is not held up.
    let second = settled(&call(&b, "begin", &[js(&order_sign("p-7"))]).unwrap());
    sleep(100).await;
    assert!(
        get(&second, "done").as_bool().unwrap(),
        "B was held up by A's lock"
    );
    assert_eq!(val(&get(&second, "value"))["kind"], "stepped-up");
    // B's grant reached A and covers A's waiting task: settled, no second prompt.
    let out = val(&get(&first, "value"));
    assert_eq!(out["kind"], "allowed", "{out}");
    assert_eq!(out["by"], "grant");
    assert_eq!(num(&creds, "calls"), 2.0);
    assert_eq!(num(&srv, "verifyCalls"), 1.0);
    assert!(val(&call(&a, "state", &[]).unwrap())["pending"].is_null());
    set_visibility("visible");
    dispose(&a);
    dispose(&b);
    restore(&creds);
    restore(&srv);
}
