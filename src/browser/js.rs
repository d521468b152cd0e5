//! Small helpers over js-sys / web-sys. Nothing here panics: `window`, storage and every
//! property read from JS may be missing (workers, private browsing, old browsers, test doubles).

use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::BrowserError;

#[wasm_bindgen]
extern "C" {
    /// The global object, seen as something with a `fetch`.
    type FetchScope;
    /// `window.fetch(request)`, looked up at call time (so a test double on `window.fetch`
    /// is used) and with a synchronous throw caught rather than unwinding through wasm.
    #[wasm_bindgen(method, catch, js_name = fetch)]
    fn fetch(this: &FetchScope, input: &web_sys::Request) -> Result<Promise, JsValue>;
}

pub(crate) fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

pub(crate) fn document() -> Option<web_sys::Document> {
    window().and_then(|w| w.document())
}

/// `obj[key]`, `undefined` when absent or when the read throws.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key]` as a function, if it is one.
pub(crate) fn get_fn(obj: &JsValue, key: &str) -> Option<Function> {
    get(obj, key).dyn_into::<Function>().ok()
}

pub(crate) fn set(obj: &JsValue, key: &str, value: &JsValue) -> bool {
    Reflect::set(obj, &JsValue::from_str(key), value).unwrap_or(false)
}

/// A value as JSON text (`JSON.stringify`), `None` if it has no JSON form or the stringify
/// throws (cycles, BigInt).
pub(crate) fn stringify(value: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
}

/// A Rust value as a plain JS object (through JSON: plain objects, no `Map`s, no `u64`s).
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, BrowserError> {
    let text = serde_json::to_string(value).map_err(|e| {
        BrowserError::Core(crate::Error::Internal {
            message: e.to_string(),
        })
    })?;
    js_sys::JSON::parse(&text).map_err(|_| {
        BrowserError::Core(crate::Error::Internal {
            message: String::from("a value could not cross into JS"),
        })
    })
}

/// Wall-clock milliseconds (`Date.now()`).
pub(crate) fn date_now() -> u64 {
    ms_from_f64(js_sys::Date::now()).unwrap_or(0)
}

/// A JS number of milliseconds as `u64`: whole (rounded down), finite, non-negative, below
/// 2^53.
pub(crate) fn ms_from_f64(v: f64) -> Option<u64> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if v.is_finite() && (0.0..=MAX_SAFE).contains(&v) {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked above: finite, non-negative, below 2^53"
        )]
        Some(v.floor() as u64)
    } else {
        None
    }
}

/// A promise and its `resolve` function.
pub(crate) fn deferred() -> Option<(Promise, Function, Function)> {
    let mut slots: Option<(Function, Function)> = None;
    let promise = Promise::new(&mut |resolve, reject| slots = Some((resolve, reject)));
    slots.map(|(resolve, reject)| (promise, resolve, reject))
}

/// Wait `ms` milliseconds (a macrotask even for 0: lets pending messages and events run).
pub(crate) async fn sleep(ms: i32) {
    let Some(w) = window() else { return };
    let Some((promise, resolve, _)) = deferred() else {
        return;
    };
    if w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
        .is_ok()
    {
        let _ = JsFuture::from(promise).await;
    }
}

/// `fetch(request)`, never throwing synchronously; a rejection is `WARDGATE_NETWORK`.
pub(crate) async fn fetch(request: &web_sys::Request) -> Result<web_sys::Response, BrowserError> {
    let w = window().ok_or_else(|| BrowserError::Network {
        message: String::from("no window"),
        cause: None,
    })?;
    let network = |cause: JsValue| BrowserError::Network {
        message: error_message(&cause),
        cause: Some(cause),
    };
    let promise = w
        .unchecked_ref::<FetchScope>()
        .fetch(request)
        .map_err(network)?;
    let value = JsFuture::from(promise).await.map_err(network)?;
    value
        .dyn_into::<web_sys::Response>()
        .map_err(|_| BrowserError::server(0, "fetch did not resolve to a Response"))
}

/// `error.message` or `error.name`, for messages; never the whole value.
pub(crate) fn error_message(err: &JsValue) -> String {
    get(err, "message")
        .as_string()
        .filter(|m| !m.is_empty())
        .or_else(|| get(err, "name").as_string())
        .map(|m| m.chars().take(200).collect())
        .unwrap_or_else(|| String::from("unknown error"))
}

/// Random hex (`crypto.getRandomValues`, falling back to `Math.random`): page-load ids.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let filled = window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut buf).is_ok());
    if !filled {
        for b in &mut buf {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "Math.random() * 256 is in [0, 256)"
            )]
            {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
    crate::task::hex_encode(&buf)
}
