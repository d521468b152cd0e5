//! Shared helpers of the browser suites (`tests/browser_*.rs`, headless Chromium): a fake
//! relying party installed on `window.fetch`, test doubles of `navigator.credentials.get`,
//! page-lifecycle switches, and calls into the `Gate` through its JS surface (what a portal
//! sees).
//!
//! The fake relying party and the credential double are test doubles of the server and of the
//! browser's WebAuthn API: the real server and a real (virtual) authenticator are the
//! end-to-end suite's job.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use js_sys::{Function, Promise, Reflect};
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
const b64u = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const b64uText = (text) => b64u(new TextEncoder().encode(text));
const hexBytes = (hex) => Uint8Array.from(hex.match(/../g).map((h) => parseInt(h, 16)));

// A fake relying party on window.fetch. `hash(taskJson)` is the crate's own task hash.
export function installServer(hash) {
  const original = window.fetch;
  const s = {
    requests: [],
    optionsCalls: 0,
    verifyCalls: 0,
    auditIds: [],
    auditMode: 'ack',       // 'ack' | 'fail' | 'half'
    challengeMode: 'bound', // 'bound' | 'other-task'
    scope: 'action-patient',
    once: false,
    lifetime: 900,
    timeout: 120000,
    userVerification: 'required',
    grantSeq: 0,
    protectedCalls: 0,
    protectedMode: 'step-up', // 'step-up' | 'malformed-header' | 'no-task'
    protectedTask: null,
    session: null,
    restore() { window.fetch = original; },
  };
  window.fetch = async (input, init) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url, location.href).pathname;
    const text = await req.clone().text();
    const auth = req.headers.get('Authorization');
    s.requests.push({ url, method: req.method, auth, body: text, keepalive: req.keepalive });
    const body = text ? JSON.parse(text) : null;
    const reply = (status, obj, headers = {}) => new Response(JSON.stringify(obj), {
      status, headers: { 'Content-Type': 'application/json', ...headers } });
    if (url === '/api/step-up/options') {
      s.optionsCalls++;
      const task = body.task;
      const taskHash = hash(JSON.stringify(task));
      let carried = taskHash;
      if (s.challengeMode === 'other-task') carried = 'ab'.repeat(32);
      const nonce = crypto.getRandomValues(new Uint8Array(16));
      const challenge = new Uint8Array([...nonce, ...hexBytes(carried)]);
      return reply(200, {
        decision: { effect: 'step-up', ruleIds: ['order-sign'], reason: 'signing orders needs your passkey',
                    requirement: { userVerification: 'required', maxAuthAgeSeconds: 900, scope: s.scope, grantLifetimeSeconds: s.lifetime },
                    reviewRequired: false },
        requestId: 'r-' + s.optionsCalls, taskHash,
        publicKey: { challenge: b64u(challenge), rpId: 'localhost', timeout: s.timeout,
                     userVerification: s.userVerification,
                     allowCredentials: [{ type: 'public-key', id: b64uText('cred-1') }] },
      });
    }
    if (url === '/api/step-up/verify') {
      s.verifyCalls++;
      const task = body.task;
      const now = Math.floor(Date.now() / 1000);
      s.grantSeq++;
      const scp = s.scope === 'task'
        ? { kind: 'task', actions: [task.action], patient: task.patient ? task.patient.id : undefined, task: hash(JSON.stringify(task)) }
        : s.scope === 'action' ? { kind: 'action', actions: [task.action] }
        : { kind: 'action-patient', actions: [task.action], patient: task.patient.id };
      const claims = { iss: 'https://rp.test', sub: task.user.id, sid: s.session, dev: task.device.id,
        acr: 'phr', amr: ['hwk', 'user', 'mfa'], auth_time: now, iat: now, exp: now + s.lifetime,
        jti: 'g-' + s.grantSeq, scp, att: 'any', once: s.once };
      return reply(200, { grant: s.mint(claims), claims });
    }
    if (url === '/api/unlock/start') {
      const challenge = crypto.getRandomValues(new Uint8Array(32));
      return reply(200, { requestId: 'u-1', publicKey: { challenge: b64u(challenge), rpId: 'localhost',
        timeout: s.timeout, userVerification: 'required' } });
    }
    if (url === '/api/unlock/finish') {
      return reply(200, { session: { sessionId: s.session, user: { id: 'dr-okafor', name: 'Dr A. Okafor', roles: ['physician'] },
        device: { id: 'tablet-4b-1', shared: true, managed: true }, startedAtMs: Date.now() - 1000, lastStrongAuthMs: Date.now() } });
    }
    if (url === '/api/audit') {
      const ids = body.events.map((e) => e.id);
      s.auditIds.push(...ids);
      if (s.auditMode === 'fail') return reply(500, { code: 'WARDGATE_INTERNAL', message: 'down' });
      const acked = s.auditMode === 'half' ? ids.filter((_, i) => i % 2 === 0) : ids;
      return reply(200, { acknowledged: acked });
    }
    if (url.startsWith('/api/orders/')) {
      s.protectedCalls++;
      if (auth && auth.startsWith('Bearer ')) return reply(200, { signed: true });
      if (s.protectedMode === 'malformed-header') {
        return reply(401, { code: 'WARDGATE_STEP_UP_REQUIRED', message: 'step up', task: s.protectedTask },
          { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", max_age=soon' });
      }
      const task = s.protectedMode === 'no-task' ? undefined : s.protectedTask;
      return reply(401, { code: 'WARDGATE_STEP_UP_REQUIRED', message: 'step up', task },
        { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", error_description="sign needs a passkey", acr_values="phr", max_age=900' });
    }
    return reply(404, { code: 'WARDGATE_BAD_REQUEST', message: 'no route' });
  };
  s.mint = (claims) => b64uText(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' })) + '.' +
    b64uText(JSON.stringify(claims)) + '.' + b64u(new Uint8Array(64));
  return s;
}

// A test double of navigator.credentials.get. `plan` is a list of steps, one per call:
// 'ok' | 'cancel' | 'hang' | 'security' | 'interrupt-hidden' | 'interrupt-blur'.
export function stubCredentials(plan) {
  const creds = navigator.credentials;
  const original = creds.get;
  const state = { calls: 0, options: [], restore() { delete creds.get; if (creds.get !== original) creds.get = original; } };
  const fake = { type: 'public-key', id: 'cred-1', toJSON() { return { id: 'Y3JlZC0x', rawId: 'Y3JlZC0x', type: 'public-key',
    response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA', userHandle: null },
    authenticatorAttachment: 'platform', clientExtensionResults: {} }; } };
  creds.get = (options) => {
    const step = plan[Math.min(state.calls, plan.length - 1)];
    state.calls++;
    state.options.push(options);
    const signal = options.signal;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason instanceof DOMException ? signal.reason : new DOMException('aborted', 'AbortError'));
      if (signal) { if (signal.aborted) return onAbort(); signal.addEventListener('abort', onAbort, { once: true }); }
      if (step === 'ok') setTimeout(() => resolve(fake), 5);
      else if (step === 'cancel') setTimeout(() => reject(new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError')), 5);
      else if (step === 'security') setTimeout(() => reject(new DOMException('This is an invalid domain.', 'SecurityError')), 5);
      else if (step === 'interrupt-hidden') setTimeout(() => { setVisibility('hidden'); reject(new DOMException('The document is not focused.', 'NotAllowedError')); }, 5);
      else if (step === 'interrupt-blur') setTimeout(() => { setFocus(false); reject(new DOMException('The document is not focused.', 'NotAllowedError')); }, 5);
      // 'hang': only the signal ends it
    });
  };
  return state;
}

export function setVisibility(v) {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => v });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => v === 'hidden' });
  document.dispatchEvent(new Event('visibilitychange'));
}

export function setFocus(f) {
  document.hasFocus = () => f;
  if (f) window.dispatchEvent(new Event('focus'));
}

export function dispatchWindow(name) { window.dispatchEvent(new Event(name)); }
export function dispatchDocument(name) { document.dispatchEvent(new Event(name)); }
export function pageShow(persisted) { window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted })); }

export function postChannel(name, data) { const c = new BroadcastChannel(name); c.postMessage(data); c.close(); }

export function record(target, types) {
  const seen = [];
  for (const t of types) target.addEventListener(t, (e) => seen.push({ type: t, detail: e.detail }));
  return seen;
}

export function resetPage() {
  sessionStorage.clear();
  localStorage.clear();
  setVisibility('visible');
  document.hasFocus = () => true;
}

export function breakLocalStorage() {
  const original = Storage.prototype.setItem;
  Storage.prototype.setItem = function (k, v) {
    if (this === localStorage) throw new DOMException('quota', 'QuotaExceededError');
    return original.call(this, k, v);
  };
  return () => { Storage.prototype.setItem = original; };
}

export function hideWebAuthn() {
  const d = Object.getOwnPropertyDescriptor(window, 'PublicKeyCredential');
  Object.defineProperty(window, 'PublicKeyCredential', { configurable: true, writable: true, value: undefined });
  return () => Object.defineProperty(window, 'PublicKeyCredential', d);
}

export function settled(p) {
  const s = { done: false, value: undefined, error: undefined };
  p.then((v) => { s.done = true; s.value = v; }, (e) => { s.done = true; s.error = e; });
  return s;
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = installServer)]
    pub fn install_server(hash: &Function) -> JsValue;
    #[wasm_bindgen(js_name = stubCredentials)]
    pub fn stub_credentials(plan: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = setVisibility)]
    pub fn set_visibility(v: &str);
    #[wasm_bindgen(js_name = setFocus)]
    pub fn set_focus(f: bool);
    #[wasm_bindgen(js_name = dispatchWindow)]
    pub fn dispatch_window(name: &str);
    #[wasm_bindgen(js_name = dispatchDocument)]
    pub fn dispatch_document(name: &str);
    #[wasm_bindgen(js_name = pageShow)]
    pub fn page_show(persisted: bool);
    #[wasm_bindgen(js_name = postChannel)]
    pub fn post_channel(name: &str, data: &JsValue);
    pub fn record(target: &JsValue, types: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = resetPage)]
    pub fn reset_page();
    #[wasm_bindgen(js_name = breakLocalStorage)]
    pub fn break_local_storage() -> Function;
    #[wasm_bindgen(js_name = hideWebAuthn)]
    pub fn hide_webauthn() -> Function;
    pub fn settled(p: &JsValue) -> JsValue;
}

pub const POLICY: &str = include_str!("../../pkg-config/policies/clinical-default.json");
pub const USER: &str = "dr-okafor";
pub const DEVICE: &str = "tablet-4b-1";

/// A JSON value as a JS value.
pub fn js(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

/// A JS value as JSON.
pub fn val(v: &JsValue) -> Value {
    if v.is_undefined() {
        return Value::Null;
    }
    serde_json::from_str(&js_sys::JSON::stringify(v).unwrap().as_string().unwrap()).unwrap()
}

pub fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap()
}

pub fn set(obj: &JsValue, key: &str, v: &JsValue) {
    Reflect::set(obj, &JsValue::from_str(key), v).unwrap();
}

pub fn num(obj: &JsValue, key: &str) -> f64 {
    get(obj, key).as_f64().unwrap_or(f64::NAN)
}

/// The fake server, with the crate's own task hash.
pub fn server(session: &str) -> JsValue {
    let hash = Closure::<dyn Fn(String) -> String>::new(|text: String| {
        wardgate::task::TaskContext::from_json(&text)
            .map(|t| t.hash().to_hex())
            .unwrap_or_default()
    });
    let s = install_server(hash.as_ref().unchecked_ref());
    hash.forget();
    set(&s, "session", &JsValue::from_str(session));
    s
}

pub fn restore(handle: &JsValue) {
    let f: Function = get(handle, "restore").dyn_into().unwrap();
    f.call0(handle).unwrap();
}

pub fn requests_to(server: &JsValue, url: &str) -> Vec<Value> {
    val(&get(server, "requests"))
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["url"] == url)
        .cloned()
        .collect()
}

pub fn config(session: &str, channel: &str) -> Value {
    json!({
        "policy": serde_json::from_str::<Value>(POLICY).unwrap(),
        "session": { "sessionId": session, "user": { "id": USER, "roles": ["physician"] },
                     "startedAtMs": js_sys::Date::now() as u64 - 60_000,
                     "lastStrongAuthMs": js_sys::Date::now() as u64 - 60_000 },
        "device": { "id": DEVICE, "shared": true, "managed": true },
        "channelName": channel,
        "auditFlushIntervalMs": 3_600_000
    })
}

pub async fn create(config: &Value) -> JsValue {
    let p = wardgate::browser::Gate::create(js(config));
    JsFuture::from(p).await.expect("Gate.create")
}

pub async fn create_err(config: JsValue) -> JsValue {
    let p = wardgate::browser::Gate::create(config);
    JsFuture::from(p)
        .await
        .expect_err("Gate.create should reject")
}

/// Call `gate[method](...args)`.
pub fn call(gate: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(gate, method).dyn_into().unwrap();
    let arr = js_sys::Array::new();
    for a in args {
        arr.push(a);
    }
    Reflect::apply(&f, gate, &arr)
}

/// Call a method returning a promise and await it.
pub async fn call_async(
    gate: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, JsValue> {
    let p: Promise = call(gate, method, args)?.dyn_into().unwrap();
    JsFuture::from(p).await
}

pub fn order_sign(patient: &str) -> Value {
    json!({
        "user": { "id": USER, "roles": ["physician"] },
        "action": "order-sign",
        "patient": { "id": patient, "labels": [] },
        "targets": ["MedicationRequest/42"],
        "summary": "sign order 42",
        "device": { "id": DEVICE, "shared": true, "managed": true }
    })
}

pub fn chart_view(patient: &str) -> Value {
    json!({
        "user": { "id": USER, "roles": ["physician"] },
        "action": "patient-view",
        "patient": { "id": patient, "labels": [] },
        "device": { "id": DEVICE, "shared": true, "managed": true }
    })
}

pub async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// The `code` of a thrown `WardgateError`.
pub fn code(err: &JsValue) -> String {
    get(err, "code").as_string().unwrap_or_default()
}

pub fn events(seen: &JsValue, kind: &str) -> Vec<Value> {
    val(seen)
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["detail"].clone())
        .collect()
}

pub fn dispose(gate: &JsValue) {
    call(gate, "dispose", &[]).unwrap();
}

pub fn plan(steps: &[&str]) -> JsValue {
    js(&json!(steps))
}
