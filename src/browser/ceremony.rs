//! The WebAuthn ceremony: `navigator.credentials.get` with `userVerification: "required"`,
//! one `AbortController` per ceremony, one ceremony at a time per tab (a new one aborts the
//! old), and `DOMException` names mapped to stable codes by a pure function ([`classify`]).
//!
//! The server's options are parsed fallibly into serde types of our own first (the
//! `webauthn-rs-proto` web-sys conversions `unwrap()` inside), checked (user verification
//! required, challenge is base64url), then handed to the browser's own
//! `PublicKeyCredential.parseRequestOptionsFromJSON()`; the answer is serialised with the
//! credential's `toJSON()`. Both are native in every major browser since 2025.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::{BrowserError, CeremonyCode};
use super::js;

/// `PublicKeyCredentialRequestOptionsJSON` (WebAuthn Level 3), the fields wardgate passes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptionsJson {
    /// base64url: `nonce ‖ SHA-256(task)` for a step-up.
    pub challenge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    #[serde(default)]
    pub allow_credentials: Vec<CredentialDescriptorJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hints: Option<Vec<String>>,
}

/// `PublicKeyCredentialDescriptorJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialDescriptorJson {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<String>>,
}

/// Default ceremony timeout when the server names none (WebAuthn's recommended range tops out
/// at 10 minutes; clinicians get 2).
pub const DEFAULT_TIMEOUT_MS: u32 = 120_000;
/// Longest timeout accepted from a server.
pub const MAX_TIMEOUT_MS: u32 = 600_000;

impl RequestOptionsJson {
    /// Refuse anything weaker than user verification required, and a challenge that is not
    /// base64url. Returns the decoded challenge.
    pub fn check(&self) -> Result<Vec<u8>, BrowserError> {
        if self.user_verification.as_deref() != Some("required") {
            return Err(BrowserError::ceremony(
                CeremonyCode::OptionsInvalid,
                format!(
                    "the server's options say userVerification `{}`; only `required` is a step-up",
                    self.user_verification
                        .as_deref()
                        .unwrap_or("(absent: preferred)")
                ),
            ));
        }
        if self
            .allow_credentials
            .iter()
            .any(|c| c.kind != "public-key")
        {
            return Err(BrowserError::ceremony(
                CeremonyCode::OptionsInvalid,
                "an allowed credential is not of type `public-key`",
            ));
        }
        decode_b64url(&self.challenge).ok_or_else(|| {
            BrowserError::ceremony(
                CeremonyCode::OptionsInvalid,
                "the challenge is not base64url",
            )
        })
    }

    /// The timeout to enforce, clamped.
    pub fn timeout_ms(&self) -> u32 {
        self.timeout
            .unwrap_or(DEFAULT_TIMEOUT_MS)
            .clamp(1_000, MAX_TIMEOUT_MS)
    }
}

/// base64url, with or without padding.
pub fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// Why wardgate itself aborted a ceremony.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OurAbort {
    /// A newer ceremony in this tab (one at a time).
    Superseded,
    /// The server's `timeout` elapsed.
    Timeout,
    /// The session locked (idle, absolute or by hand): the task waits for the unlock.
    Locked,
    /// A handoff or logout wiped the session.
    Wiped,
    /// `gate.dispose()`.
    Disposed,
}

/// What to do after a failed ceremony.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The clinician said no: resolve `{ kind: 'cancelled' }`.
    Cancelled,
    /// Cut off by a tab or app switch: keep the task, offer it again once the page is visible
    /// and focused.
    Interrupted,
    /// Keep the task until the session is unlocked, then offer it again.
    Suspended,
    /// Given up by wardgate (superseded, wiped, disposed): resolve without telling the state
    /// machine, which already knows.
    Abandoned,
    /// Reject with the code.
    Failed,
}

/// The result of [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub code: CeremonyCode,
    pub disposition: Disposition,
}

/// Map a rejected `navigator.credentials.get()` to a stable code and what to do next.
///
/// - `name`: the `DOMException`'s `name` (`""` if the rejection was not one);
/// - `hidden`: the page was hidden at some point during the ceremony or is hidden now;
/// - `focused`: the document has focus now;
/// - `our_abort`: wardgate aborted the ceremony itself, and why.
///
/// The WebAuthn spec (§5.1.4.1 `[[DiscoverFromExternalSource]]`) rejects with
/// `NotAllowedError` both when the user cancels and when the document is not focused or the
/// ceremony times out; browsers do the same when the tab or app is switched away. So a
/// `NotAllowedError` while the page was visible and focused is the clinician cancelling, and
/// one while hidden or unfocused is an interruption to offer again.
pub fn classify(
    name: &str,
    hidden: bool,
    focused: bool,
    our_abort: Option<OurAbort>,
) -> Classified {
    use CeremonyCode as C;
    use Disposition as D;
    let away = hidden || !focused;
    let (code, disposition) = match (our_abort, name) {
        // Our own signal wins over whatever name the rejection carries (§5.1.4.1 step 20:
        // an aborted signal rejects with the signal's reason, an AbortError by default).
        (Some(OurAbort::Timeout), _) => (C::Timeout, D::Failed),
        (Some(OurAbort::Locked), _) => (C::Aborted, D::Suspended),
        (Some(OurAbort::Superseded | OurAbort::Wiped | OurAbort::Disposed), _) => {
            (C::Aborted, D::Abandoned)
        }
        (None, "NotAllowedError") if away => (C::NotAllowed, D::Interrupted),
        (None, "NotAllowedError") => (C::NotAllowed, D::Cancelled),
        // Not our signal: the browser gave up on the ceremony (e.g. on a tab switch).
        (None, "AbortError") if away => (C::Aborted, D::Interrupted),
        (None, "AbortError") => (C::Aborted, D::Failed),
        (None, "SecurityError") => (C::Security, D::Failed),
        (None, "InvalidStateError") => (C::InvalidState, D::Failed),
        (None, "TimeoutError") => (C::Timeout, D::Failed),
        (None, "NotSupportedError") => (C::Unsupported, D::Failed),
        (None, _) => (C::Unknown, D::Failed),
    };
    Classified { code, disposition }
}

/// A failed ceremony: the classification and the original rejection.
#[derive(Debug, Clone)]
pub struct Failure {
    pub classified: Classified,
    pub cause: JsValue,
}

impl Failure {
    pub fn into_error(self) -> BrowserError {
        let name = js::get(&self.cause, "name").as_string().unwrap_or_default();
        BrowserError::Ceremony {
            code: self.classified.code,
            message: match self.classified.code {
                CeremonyCode::Timeout => String::from("the passkey prompt timed out"),
                _ if name.is_empty() => js::error_message(&self.cause),
                _ => format!("{name}: {}", js::error_message(&self.cause)),
            },
            cause: Some(self.cause),
        }
    }
}

/// Is WebAuthn with the JSON helpers available here?
pub fn supported() -> bool {
    let Some(w) = js::window() else { return false };
    let pkc = js::get(&w, "PublicKeyCredential");
    js::get_fn(&pkc, "parseRequestOptionsFromJSON").is_some()
        && js::get(&js::get(&w, "navigator"), "credentials").is_object()
}

/// Build the browser's request options from checked JSON options.
pub fn parse_options(options: &RequestOptionsJson) -> Result<JsValue, BrowserError> {
    let unsupported = || {
        BrowserError::ceremony(
            CeremonyCode::Unsupported,
            "this browser has no WebAuthn (PublicKeyCredential.parseRequestOptionsFromJSON)",
        )
    };
    let w = js::window().ok_or_else(unsupported)?;
    let pkc = js::get(&w, "PublicKeyCredential");
    let parse = js::get_fn(&pkc, "parseRequestOptionsFromJSON").ok_or_else(unsupported)?;
    let json = js::to_js(options)?;
    parse
        .call1(&pkc, &json)
        .map_err(|cause| BrowserError::Ceremony {
            code: CeremonyCode::OptionsInvalid,
            message: format!(
                "the browser refused the options: {}",
                js::error_message(&cause)
            ),
            cause: Some(cause),
        })
}

/// Call `navigator.credentials.get({ publicKey, signal })` and serialise the credential with
/// `toJSON()`. Errors are the raw rejection (classified by the caller, who knows the context).
pub async fn get(public_key: &JsValue, signal: &web_sys::AbortSignal) -> Result<JsValue, JsValue> {
    let w = js::window().ok_or(JsValue::UNDEFINED)?;
    let credentials = w.navigator().credentials();
    let options = web_sys::CredentialRequestOptions::new();
    js::set(&options, "publicKey", public_key);
    options.set_signal(signal);
    let promise = credentials.get_with_options(&options)?;
    let credential = JsFuture::from(promise).await?;
    if credential.is_null() || credential.is_undefined() {
        return Err(dom_exception(
            "NotAllowedError",
            "no credential was returned",
        ));
    }
    let to_json = js::get_fn(&credential, "toJSON")
        .ok_or_else(|| dom_exception("NotSupportedError", "the credential has no toJSON()"))?;
    to_json.call0(&credential)
}

/// A `DOMException` made here (so the cause is always one).
fn dom_exception(name: &str, message: &str) -> JsValue {
    web_sys::DomException::new_with_message_and_name(message, name)
        .map(JsValue::from)
        .unwrap_or_else(|_| JsValue::from_str(message))
}

/// The ceremony running in this tab: its controller and why we aborted it, if we did.
#[derive(Debug)]
pub struct Running {
    pub id: u32,
    pub controller: web_sys::AbortController,
    pub our_abort: std::rc::Rc<std::cell::Cell<Option<OurAbort>>>,
}

impl Running {
    pub fn new(id: u32) -> Option<Running> {
        Some(Running {
            id,
            controller: web_sys::AbortController::new().ok()?,
            our_abort: std::rc::Rc::default(),
        })
    }

    pub fn abort(&self, why: OurAbort) {
        if self.our_abort.get().is_none() {
            self.our_abort.set(Some(why));
        }
        self.controller.abort();
    }
}
