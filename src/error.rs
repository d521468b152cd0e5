//! One error type for the whole crate, with stable `code()` strings.
//!
//! Codes are API (the JS side, the server's JSON errors and the README table list them);
//! messages are not. Messages are lowercase, without a final period, and quote user input in
//! backticks.

use std::fmt;

/// Everything that can go wrong in wardgate's core. Evaluation itself never fails: only parsing,
/// validation, decoding and verification do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The policy document is not valid JSON of the expected shape (wrong type, unknown field,
    /// unknown enum value, missing field). `path` is the JSON path, e.g. `rules[3].when.action`.
    PolicyParse { path: String, message: String },
    /// The policy document parsed but breaks a rule of its own (duplicate ids, absurd durations,
    /// a step-up rule without its requirement, ...).
    PolicyInvalid { path: String, message: String },
    /// The policy declares a format version this build does not understand.
    PolicyVersion { found: String },
    /// A task-initiation context is malformed or incomplete. `path` as for policies.
    ContextInvalid { path: String, message: String },
    /// Session facts or stored session state are malformed (or from an unknown version).
    StateInvalid { path: String, message: String },
    /// A step-up challenge is too short or not decodable.
    ChallengeMalformed { message: String },
    /// The challenge does not carry the hash of the task the clinician is looking at.
    ChallengeTaskMismatch,
    /// A grant token is not a well-formed compact JWT with the expected claims.
    GrantMalformed { message: String },
    /// A grant token names an algorithm other than the one wardgate accepts (`alg: none`,
    /// HS256, ... are refused before any key is touched).
    GrantAlgorithm { alg: String },
    /// A grant token's signature does not verify with the server's key.
    GrantSignature,
    /// A grant token has expired.
    GrantExpired,
    /// A grant token claims to be issued in the future (beyond the allowed clock skew).
    GrantNotYetValid,
    /// A grant token belongs to another user, session or device, or does not cover the task.
    GrantMismatch { message: String },
    /// A key for minting or verifying grants is malformed.
    KeyInvalid { message: String },
    /// An input crossing a boundary is larger than wardgate accepts.
    InputTooLarge { what: &'static str, limit: usize },
    /// A `WWW-Authenticate` header is not a well-formed RFC 9470 / RFC 7235 challenge.
    ChallengeHeaderMalformed { message: String },
    /// A value could not cross the JS boundary (a bug in wardgate, never the caller's input).
    Internal { message: String },
}

impl Error {
    /// The stable machine-readable code (`WARDGATE_...`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::PolicyParse { .. } => "WARDGATE_POLICY_PARSE",
            Error::PolicyInvalid { .. } => "WARDGATE_POLICY_INVALID",
            Error::PolicyVersion { .. } => "WARDGATE_POLICY_VERSION",
            Error::ContextInvalid { .. } => "WARDGATE_CONTEXT_INVALID",
            Error::StateInvalid { .. } => "WARDGATE_STATE_INVALID",
            Error::ChallengeMalformed { .. } => "WARDGATE_CHALLENGE_MALFORMED",
            Error::ChallengeTaskMismatch => "WARDGATE_CHALLENGE_TASK_MISMATCH",
            Error::GrantMalformed { .. } => "WARDGATE_GRANT_MALFORMED",
            Error::GrantAlgorithm { .. } => "WARDGATE_GRANT_ALGORITHM",
            Error::GrantSignature => "WARDGATE_GRANT_SIGNATURE",
            Error::GrantExpired => "WARDGATE_GRANT_EXPIRED",
            Error::GrantNotYetValid => "WARDGATE_GRANT_NOT_YET_VALID",
            Error::GrantMismatch { .. } => "WARDGATE_GRANT_MISMATCH",
            Error::KeyInvalid { .. } => "WARDGATE_KEY_INVALID",
            Error::InputTooLarge { .. } => "WARDGATE_INPUT_TOO_LARGE",
            Error::ChallengeHeaderMalformed { .. } => "WARDGATE_RFC9470_MALFORMED",
            Error::Internal { .. } => "WARDGATE_INTERNAL",
        }
    }

    /// The JSON path the error points at, where there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::PolicyParse { path, .. }
            | Error::PolicyInvalid { path, .. }
            | Error::ContextInvalid { path, .. }
            | Error::StateInvalid { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Every code this crate can produce, for documentation and the `.d.ts` union.
    pub const ALL_CODES: &'static [&'static str] = &[
        "WARDGATE_POLICY_PARSE",
        "WARDGATE_POLICY_INVALID",
        "WARDGATE_POLICY_VERSION",
        "WARDGATE_CONTEXT_INVALID",
        "WARDGATE_STATE_INVALID",
        "WARDGATE_CHALLENGE_MALFORMED",
        "WARDGATE_CHALLENGE_TASK_MISMATCH",
        "WARDGATE_GRANT_MALFORMED",
        "WARDGATE_GRANT_ALGORITHM",
        "WARDGATE_GRANT_SIGNATURE",
        "WARDGATE_GRANT_EXPIRED",
        "WARDGATE_GRANT_NOT_YET_VALID",
        "WARDGATE_GRANT_MISMATCH",
        "WARDGATE_KEY_INVALID",
        "WARDGATE_INPUT_TOO_LARGE",
        "WARDGATE_RFC9470_MALFORMED",
        "WARDGATE_INTERNAL",
    ];

    /// Parse-error helper: turns a `serde_path_to_error` failure into a typed error with the
    /// JSON path of the offending value. `make` picks the variant.
    pub(crate) fn from_serde_path(
        err: serde_path_to_error::Error<serde_json::Error>,
        make: fn(String, String) -> Error,
    ) -> Error {
        let path = err.path().to_string();
        // `.` is the root; `?` an unknown position (e.g. a syntax error inside a map).
        let path = if path == "." || path == "?" {
            String::from("$")
        } else {
            path
        };
        let inner = err.into_inner();
        // serde_json appends " at line X column Y"; the path already says where.
        let mut message = inner.to_string();
        if let Some(idx) = message.find(" at line ") {
            message.truncate(idx);
        }
        make(path, message)
    }

    /// A context-validation error raised while checking stored or cross-tab state is a state
    /// error (`WARDGATE_STATE_INVALID`), its path prefixed with `prefix`.
    pub(crate) fn into_state(self, prefix: &str) -> Error {
        match self {
            Error::ContextInvalid { path, message } => Error::StateInvalid {
                path: format!("{prefix}{path}"),
                message,
            },
            other => other,
        }
    }

    /// Times crossing the boundary are milliseconds JavaScript holds exactly (≤ 2^53 − 1).
    pub(crate) fn check_time(path: &str, ms: Option<u64>) -> Result<(), Error> {
        if ms.is_some_and(|ms| ms > limits::MAX_SAFE_INTEGER) {
            return Err(Error::StateInvalid {
                path: path.to_string(),
                message: String::from("is beyond 2^53 - 1 milliseconds"),
            });
        }
        Ok(())
    }

    /// After a document: only whitespace may follow (`serde_path_to_error` does not check).
    pub(crate) fn json_end<'a, R: serde_json::de::Read<'a>>(
        de: &mut serde_json::Deserializer<R>,
        make: fn(String, String) -> Error,
    ) -> Result<(), Error> {
        de.end().map_err(|_| {
            make(
                String::from("$"),
                String::from("trailing characters after the JSON document"),
            )
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PolicyParse { path, message } => write!(f, "policy `{path}`: {message}"),
            Error::PolicyInvalid { path, message } => write!(f, "policy `{path}`: {message}"),
            Error::PolicyVersion { found } => {
                write!(
                    f,
                    "policy version `{found}` is not supported (expected `wardgate/1`)"
                )
            }
            Error::ContextInvalid { path, message } => {
                write!(f, "task context `{path}`: {message}")
            }
            Error::StateInvalid { path, message } => write!(f, "session state `{path}`: {message}"),
            Error::ChallengeMalformed { message } => write!(f, "challenge is malformed: {message}"),
            Error::ChallengeTaskMismatch => {
                write!(
                    f,
                    "challenge does not carry the hash of the task being approved"
                )
            }
            Error::GrantMalformed { message } => write!(f, "grant is malformed: {message}"),
            Error::GrantAlgorithm { alg } => {
                write!(f, "grant algorithm `{alg}` is not accepted (only `EdDSA`)")
            }
            Error::GrantSignature => write!(f, "grant signature does not verify"),
            Error::GrantExpired => write!(f, "grant has expired"),
            Error::GrantNotYetValid => write!(f, "grant is issued in the future"),
            Error::GrantMismatch { message } => write!(f, "grant does not apply: {message}"),
            Error::KeyInvalid { message } => write!(f, "key is invalid: {message}"),
            Error::InputTooLarge { what, limit } => {
                write!(f, "{what} is larger than the limit of {limit} bytes")
            }
            Error::ChallengeHeaderMalformed { message } => {
                write!(f, "WWW-Authenticate header is malformed: {message}")
            }
            Error::Internal { message } => write!(f, "internal error: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// Size limits on every input that crosses a boundary (documented in the README).
pub mod limits {
    /// A policy document, as JSON text.
    pub const POLICY_BYTES: usize = 256 * 1024;
    /// A task context, as JSON text.
    pub const CONTEXT_BYTES: usize = 16 * 1024;
    /// A compact grant token.
    pub const GRANT_BYTES: usize = 8 * 1024;
    /// A step-up challenge (decoded).
    pub const CHALLENGE_BYTES: usize = 1024;
    /// Session facts or stored session state, as JSON text.
    pub const STATE_BYTES: usize = 256 * 1024;
    /// Any single identifier (user, patient, rule id, ...).
    pub const ID_CHARS: usize = 256;
    /// Free text (reasons, summaries).
    pub const TEXT_CHARS: usize = 2048;
    /// Entries in any list (rules, roles, labels, targets, grants).
    pub const LIST_ITEMS: usize = 512;
    /// Largest integer JavaScript holds exactly: times (ms) crossing the boundary stay below.
    pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
