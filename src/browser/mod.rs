//! The browser layer (wasm32 only): `Gate`, the object a portal talks to.
//!
//! Thin over the core: the session state machine (`session::step`) decides; this layer feeds it
//! browser events (page lifecycle, connectivity, activity, cross-tab messages, ceremony
//! results) and carries out its effects (sessionStorage, BroadcastChannel, prompts, the durable
//! audit queue, locks, wipes). WebAuthn, Web Locks, fetch and RFC 9470 live here because they
//! are browser APIs; none of them decides whether a task may go ahead.
//!
//! - [`ceremony`]: `navigator.credentials.get`, the `DOMException` → code table ([`classify`]);
//! - [`transport`]: JSON requests to the relying party (docs/PROTOCOL.md);
//! - [`storage`]: sessionStorage state and the localStorage audit queue;
//! - [`listen`]: listener, timer and channel handles that clean up when dropped;
//! - [`error`]: [`BrowserError`] and its stable codes.

pub mod ceremony;
pub mod config;
pub mod error;
mod gate;
pub(crate) mod js;
pub(crate) mod listen;
pub mod storage;
pub mod transport;

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

pub use ceremony::{Classified, Disposition, OurAbort, classify};
pub use error::{BrowserError, CeremonyCode};
pub use gate::{Metrics, Outcome, UnlockOutcome};

use gate::Inner;

/// Step-up at task initiation, in the browser: decisions, passkey ceremonies, grants that
/// carry across tabs and reloads, locks, handoffs, and a durable audit queue.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Gate {
    inner: Rc<Inner>,
}

fn reject(e: BrowserError) -> JsValue {
    e.into_js()
}

fn promise_of<T: serde::Serialize>(
    f: impl std::future::Future<Output = Result<T, BrowserError>> + 'static,
) -> Promise {
    future_to_promise(async move {
        let value = f.await.map_err(reject)?;
        js::to_js(&value).map_err(reject)
    })
}

#[wasm_bindgen]
impl Gate {
    /// Create a gate: parse the configuration, load the policy, restore this tab's session
    /// state from sessionStorage when it is for the same session (reload, discarded or
    /// duplicated tab), listen to the page and to sibling tabs.
    #[wasm_bindgen(unchecked_return_type = "Promise<Gate>")]
    pub fn create(#[wasm_bindgen(unchecked_param_type = "GateConfig")] config: JsValue) -> Promise {
        future_to_promise(async move {
            let inner = Inner::create(config).await.map_err(reject)?;
            Ok(JsValue::from(Gate { inner }))
        })
    }

    /// Decide a task; run a task-bound passkey step-up when the policy asks for one (one
    /// ceremony across tabs for the same grant scope).
    #[wasm_bindgen(unchecked_return_type = "Promise<Outcome>")]
    pub fn begin(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TaskContext")] task: JsValue,
    ) -> Promise {
        promise_of(Rc::clone(&self.inner).begin(task))
    }

    /// `fetch` that attaches a held grant covering `init.wardgateTask` and answers an RFC 9470
    /// step-up challenge (`401` + `WWW-Authenticate: Bearer
    /// error="insufficient_user_authentication"`) with one step-up and one retry. Resolves to
    /// the real `Response`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInfo | URL")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GateRequestInit")] init: Option<
            js_sys::Object,
        >,
    ) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move { inner.fetch(input, init).await.map_err(reject) })
    }

    /// Lock the session here and in every tab.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn lock(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise_of(async move { inner.lock() })
    }

    /// Unlock with a passkey (the unlock endpoints); a task pending when the session locked
    /// is then offered again.
    #[wasm_bindgen(unchecked_return_type = "Promise<UnlockOutcome>")]
    pub fn unlock(&self) -> Promise {
        promise_of(Rc::clone(&self.inner).unlock())
    }

    /// Another clinician takes the shared device: wipe this clinician's grants and pending
    /// task in every tab, and continue with the new session.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn handoff(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SessionInfo", js_name = newSession)]
        new_session: JsValue,
    ) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise_of(async move { inner.handoff(&new_session) })
    }

    /// Log out here and in every tab (the portal signs out with the server itself).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn logout(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise_of(async move { inner.logout() })
    }

    /// Friction counters, dropped cross-tab messages and the audit queue.
    #[wasm_bindgen(unchecked_return_type = "GateMetrics")]
    pub fn metrics(&self) -> Result<JsValue, JsValue> {
        self.inner.metrics().map_err(reject)
    }

    /// A snapshot of this tab's session state (for debugging and tests).
    #[wasm_bindgen(unchecked_return_type = "GateState")]
    pub fn state(&self) -> Result<JsValue, JsValue> {
        self.inner.state_js().map_err(reject)
    }

    /// The `EventTarget` the gate dispatches its `CustomEvent`s on.
    #[wasm_bindgen(getter)]
    pub fn events(&self) -> web_sys::EventTarget {
        self.inner.events.clone()
    }

    /// `gate.events.addEventListener(...)` (typed in the `.d.ts` by `GateEventMap`).
    #[wasm_bindgen(js_name = addEventListener, skip_typescript)]
    pub fn add_event_listener(&self, kind: JsValue, listener: JsValue, options: JsValue) {
        self.delegate("addEventListener", &kind, &listener, &options);
    }

    /// `gate.events.removeEventListener(...)`.
    #[wasm_bindgen(js_name = removeEventListener, skip_typescript)]
    pub fn remove_event_listener(&self, kind: JsValue, listener: JsValue, options: JsValue) {
        self.delegate("removeEventListener", &kind, &listener, &options);
    }

    /// Remove every listener, close the channel, clear the timers, abort a running ceremony.
    /// The session state stays in sessionStorage (a new gate restores it). Afterwards every
    /// method rejects (or throws) `WARDGATE_DISPOSED`.
    pub fn dispose(&self) {
        self.inner.dispose();
    }
}

impl Gate {
    fn delegate(&self, method: &str, kind: &JsValue, listener: &JsValue, options: &JsValue) {
        let target: &JsValue = self.inner.events.as_ref();
        if let Some(f) = js::get_fn(target, method) {
            let _ = f.call3(target, kind, listener, options);
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.inner.dispose();
    }
}
