//! Errors of the browser layer, with stable codes (`WARDGATE_...`), thrown in JS as
//! `WardgateError` with the original (a `DOMException`, a `TypeError` from `fetch`) as `cause`.
//!
//! One choke point, [`BrowserError::into_js`], turns an error into the thrown value; codes are
//! API (the README table and the `.d.ts` union list them), messages are not.

use std::fmt;

use wasm_bindgen::JsValue;

use crate::error::Error;

/// Which way a WebAuthn ceremony failed. Each maps to one stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyCode {
    /// `NotAllowedError`: the clinician dismissed the prompt, or the browser refused it (no
    /// focus, no user gesture).
    NotAllowed,
    /// `AbortError`: the ceremony was aborted (by wardgate: a newer ceremony, a lock, a
    /// handoff; or by the browser).
    Aborted,
    /// `SecurityError`: the RP ID does not match the origin, or the context is not secure.
    Security,
    /// `InvalidStateError`: e.g. the authenticator is in an unexpected state.
    InvalidState,
    /// `UnknownError` or a `DOMException` name the spec does not list.
    Unknown,
    /// The ceremony outlived the server's `timeout`.
    Timeout,
    /// No WebAuthn in this browser or context (or no `parseRequestOptionsFromJSON` / `toJSON`).
    Unsupported,
    /// The server's options are malformed or weaker than `userVerification: "required"`.
    OptionsInvalid,
}

impl CeremonyCode {
    pub fn code(self) -> &'static str {
        match self {
            CeremonyCode::NotAllowed => "WARDGATE_CEREMONY_NOT_ALLOWED",
            CeremonyCode::Aborted => "WARDGATE_CEREMONY_ABORTED",
            CeremonyCode::Security => "WARDGATE_CEREMONY_SECURITY",
            CeremonyCode::InvalidState => "WARDGATE_CEREMONY_INVALID_STATE",
            CeremonyCode::Unknown => "WARDGATE_CEREMONY_UNKNOWN",
            CeremonyCode::Timeout => "WARDGATE_CEREMONY_TIMEOUT",
            CeremonyCode::Unsupported => "WARDGATE_CEREMONY_UNSUPPORTED",
            CeremonyCode::OptionsInvalid => "WARDGATE_CEREMONY_OPTIONS_INVALID",
        }
    }
}

/// Everything the browser layer can fail with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BrowserError {
    /// `Gate.create` was given a malformed configuration; `path` names the field.
    ConfigInvalid { path: String, message: String },
    /// A WebAuthn ceremony failed; `cause` is the `DOMException` when there is one.
    Ceremony {
        code: CeremonyCode,
        message: String,
        cause: Option<JsValue>,
    },
    /// The relying party could not be reached (`fetch` rejected); `cause` is its error.
    Network {
        message: String,
        cause: Option<JsValue>,
    },
    /// The relying party answered with an error (`status`, and its `code` when the body had
    /// one) or with a body that is not what the protocol says.
    Server {
        status: u16,
        server_code: Option<String>,
        message: String,
    },
    /// The gate was disposed.
    Disposed,
    /// The session is locked: unlock first.
    Locked,
    /// Browser storage failed where wardgate could not do without it.
    Storage {
        message: String,
        cause: Option<JsValue>,
    },
    /// An error of the core (task context, grant, challenge, RFC 9470 header, ...).
    Core(Error),
}

impl From<Error> for BrowserError {
    fn from(e: Error) -> Self {
        BrowserError::Core(e)
    }
}

impl BrowserError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BrowserError::ConfigInvalid { .. } => "WARDGATE_CONFIG_INVALID",
            BrowserError::Ceremony { code, .. } => code.code(),
            BrowserError::Network { .. } => "WARDGATE_NETWORK",
            BrowserError::Server { .. } => "WARDGATE_SERVER",
            BrowserError::Disposed => "WARDGATE_DISPOSED",
            BrowserError::Locked => "WARDGATE_LOCKED",
            BrowserError::Storage { .. } => "WARDGATE_STORAGE",
            BrowserError::Core(e) => e.code(),
        }
    }

    /// Every code the browser layer adds to the core's.
    pub const CODES: &'static [&'static str] = &[
        "WARDGATE_CONFIG_INVALID",
        "WARDGATE_CEREMONY_NOT_ALLOWED",
        "WARDGATE_CEREMONY_ABORTED",
        "WARDGATE_CEREMONY_SECURITY",
        "WARDGATE_CEREMONY_INVALID_STATE",
        "WARDGATE_CEREMONY_UNKNOWN",
        "WARDGATE_CEREMONY_TIMEOUT",
        "WARDGATE_CEREMONY_UNSUPPORTED",
        "WARDGATE_CEREMONY_OPTIONS_INVALID",
        "WARDGATE_NETWORK",
        "WARDGATE_SERVER",
        "WARDGATE_DISPOSED",
        "WARDGATE_LOCKED",
        "WARDGATE_STORAGE",
    ];

    pub(crate) fn config(path: &str, message: impl Into<String>) -> BrowserError {
        BrowserError::ConfigInvalid {
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn server(status: u16, message: impl Into<String>) -> BrowserError {
        BrowserError::Server {
            status,
            server_code: None,
            message: message.into(),
        }
    }

    pub(crate) fn ceremony(code: CeremonyCode, message: impl Into<String>) -> BrowserError {
        BrowserError::Ceremony {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// The thrown value: a `WardgateError` with `code`, `message`, `path`, `cause` and, for
    /// server errors, `status` and `serverCode`.
    pub fn into_js(self) -> JsValue {
        let code = self.code();
        let message = self.to_string();
        match self {
            BrowserError::ConfigInvalid { path, .. } => {
                crate::wasm::wardgate_error(code, &message, Some(path), &JsValue::UNDEFINED)
            }
            BrowserError::Ceremony { cause, .. }
            | BrowserError::Network { cause, .. }
            | BrowserError::Storage { cause, .. } => crate::wasm::wardgate_error(
                code,
                &message,
                None,
                &cause.unwrap_or(JsValue::UNDEFINED),
            ),
            BrowserError::Server {
                status,
                server_code,
                ..
            } => crate::wasm::wardgate_server_error(&message, status, server_code),
            BrowserError::Core(e) => crate::wasm::wardgate_error(
                code,
                &message,
                e.path().map(str::to_string),
                &JsValue::UNDEFINED,
            ),
            BrowserError::Disposed | BrowserError::Locked => {
                crate::wasm::wardgate_error(code, &message, None, &JsValue::UNDEFINED)
            }
        }
    }
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserError::ConfigInvalid { path, message } => {
                write!(f, "gate configuration `{path}`: {message}")
            }
            BrowserError::Ceremony { message, .. } => write!(f, "passkey ceremony: {message}"),
            BrowserError::Network { message, .. } => {
                write!(f, "the server could not be reached: {message}")
            }
            BrowserError::Server {
                status,
                server_code,
                message,
            } => match server_code {
                Some(c) => write!(f, "the server answered {status} `{c}`: {message}"),
                None => write!(f, "the server answered {status}: {message}"),
            },
            BrowserError::Disposed => write!(f, "the gate was disposed"),
            BrowserError::Locked => write!(f, "the session is locked: unlock it first"),
            BrowserError::Storage { message, .. } => write!(f, "browser storage: {message}"),
            BrowserError::Core(e) => e.fmt(f),
        }
    }
}
