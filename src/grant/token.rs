//! Compact JWS (RFC 7515) grant tokens: strict decoding without a key (the browser's hint).
//! Minting and verification with the key live in [`super::server`] (feature `server`).
//!
//! Order of checks, each failure final: size, three base64url parts, header is a JSON object,
//! `alg` is exactly `EdDSA` (before anything else in the token is looked at), the rest of the
//! header (`typ`, no `crit`, no embedded key), the signature is 64 bytes, the claims parse
//! strictly (unknown, missing, duplicated or mistyped claims are refused with their path), then
//! [`check_claims`]. Decoding neither verifies the signature nor looks at the clock.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::GrantClaims;
use crate::error::{Error, Result, limits};
use crate::policy::ScopeKind;

/// The only accepted `alg`.
pub const ALG: &str = "EdDSA";
/// Largest time claim accepted (seconds): keeps the millisecond arithmetic below 2^53, the
/// largest integer JavaScript represents exactly.
pub const MAX_TIME_S: u64 = 9_007_199_254_740;
/// Largest number of `amr` entries.
const MAX_AMR: usize = 16;
/// Ed25519 signature length.
const SIGNATURE_BYTES: usize = 64;

/// Header parameters wardgate reads. Parsed only after `alg` has been checked on the raw JSON;
/// serde refuses a duplicated or mistyped known parameter. Other parameters are ignored
/// (RFC 7515 4.1), except those that would bring a key or change how the token is processed.
#[derive(Debug, Deserialize)]
struct Header {
    #[expect(
        dead_code,
        reason = "checked on the raw JSON first; parsed again to refuse a duplicate"
    )]
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
    #[serde(default)]
    b64: Option<serde_json::Value>,
    #[serde(default)]
    jwk: Option<serde_json::Value>,
    #[serde(default)]
    jku: Option<serde_json::Value>,
    #[serde(default)]
    x5u: Option<serde_json::Value>,
    #[serde(default)]
    x5c: Option<serde_json::Value>,
}

fn malformed(message: impl Into<String>) -> Error {
    Error::GrantMalformed {
        message: message.into(),
    }
}

/// serde_json appends " at line X column Y"; the claim path already says where.
fn serde_message(e: &serde_json::Error) -> String {
    let mut message = e.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    message
}

/// The parts of a decoded (not verified) token.
#[derive(Debug)]
#[cfg_attr(
    not(feature = "server"),
    expect(
        dead_code,
        reason = "the key material is read by the server feature only"
    )
)]
pub(crate) struct Parts<'a> {
    /// `header.payload`, the ASCII bytes the signature covers.
    pub signing_input: &'a str,
    pub kid: Option<String>,
    pub signature: [u8; SIGNATURE_BYTES],
    pub claims: GrantClaims,
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format!("{what} is not base64url without padding")))
}

/// The `alg` as the header states it: the string itself, `""` when absent, or the JSON text of
/// a non-string value.
fn stated_alg(header: &serde_json::Map<String, serde_json::Value>) -> String {
    match header.get("alg") {
        Some(serde_json::Value::String(a)) => a.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

pub(crate) fn split(token: &str) -> Result<Parts<'_>> {
    if token.len() > limits::GRANT_BYTES {
        return Err(Error::InputTooLarge {
            what: "grant token",
            limit: limits::GRANT_BYTES,
        });
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(malformed(
            "a grant is three base64url parts separated by `.`",
        ));
    };
    let header_bytes = b64(h, "header")?;
    let raw: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header_bytes)
        .map_err(|e| {
            malformed(format!(
                "header is not a JSON object: {}",
                serde_message(&e)
            ))
        })?;
    // The algorithm is checked before anything else in the token is trusted or even parsed.
    let alg = stated_alg(&raw);
    if alg != ALG {
        return Err(Error::GrantAlgorithm {
            alg: crate::task::truncate_for_message(&alg),
        });
    }
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|e| malformed(format!("header: {}", serde_message(&e))))?;
    if header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(malformed("header `typ` must be `JWT`"));
    }
    if header.crit.is_some() || raw.contains_key("crit") {
        return Err(malformed("header `crit` is not supported"));
    }
    if header.b64.is_some() || raw.contains_key("b64") {
        return Err(malformed("header `b64` is not supported"));
    }
    for (name, present) in [
        // Present in the raw header at all, even as `null`: `Option` would read null as absent.
        ("jwk", header.jwk.is_some() || raw.contains_key("jwk")),
        ("jku", header.jku.is_some() || raw.contains_key("jku")),
        ("x5u", header.x5u.is_some() || raw.contains_key("x5u")),
        ("x5c", header.x5c.is_some() || raw.contains_key("x5c")),
    ] {
        if present {
            return Err(malformed(format!(
                "header `{name}` is refused: the key never comes from the token"
            )));
        }
    }
    let signature: [u8; SIGNATURE_BYTES] = b64(s, "signature")?
        .try_into()
        .map_err(|_| malformed("signature is not 64 bytes"))?;
    let payload = b64(p, "payload")?;
    let de = &mut serde_json::Deserializer::from_slice(&payload);
    let crate::json::Obj::<GrantClaims>(claims) = serde_path_to_error::deserialize(&mut *de)
        .map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." || path == "?" {
                String::from("$")
            } else {
                path
            };
            malformed(format!(
                "claim `{path}`: {}",
                serde_message(&e.into_inner())
            ))
        })?;
    if de.end().is_err() {
        return Err(malformed("trailing characters after the claims"));
    }
    check_claims(&claims)?;
    // `h` and `p` are the first two parts of `token`, so this slice always exists.
    let signing_input = token.get(..h.len() + 1 + p.len()).unwrap_or_default();
    Ok(Parts {
        signing_input,
        kid: header.kid,
        signature,
        claims,
    })
}

fn check_id(path: &str, value: &str) -> Result<()> {
    if value.is_empty()
        || value.chars().count() > limits::ID_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(malformed(format!(
            "claim `{path}` must be a non-empty id of at most {} characters without control \
             characters",
            limits::ID_CHARS
        )));
    }
    Ok(())
}

/// Sanity checks on claims, shared by decoding and minting: bounded non-empty ids, times below
/// 2^53 ms, `exp` after `iat`, `auth_time` not after `iat`, and a scope that carries what its
/// kind needs (`task`: a 32-byte hash in hex; `action-patient`: actions and a patient;
/// `action`: actions; `session`: nothing).
pub fn check_claims(c: &GrantClaims) -> Result<()> {
    for (name, v) in [
        ("iss", &c.iss),
        ("sub", &c.sub),
        ("sid", &c.sid),
        ("dev", &c.dev),
        ("jti", &c.jti),
        ("acr", &c.acr),
    ] {
        check_id(name, v)?;
    }
    if c.amr.len() > MAX_AMR {
        return Err(malformed(format!(
            "claim `amr` has more than {MAX_AMR} entries"
        )));
    }
    for (i, m) in c.amr.iter().enumerate() {
        check_id(&format!("amr[{i}]"), m)?;
    }
    for (name, t) in [("iat", c.iat), ("exp", c.exp), ("auth_time", c.auth_time)] {
        if t > MAX_TIME_S {
            return Err(malformed(format!(
                "claim `{name}` is out of range (at most {MAX_TIME_S} seconds)"
            )));
        }
    }
    if c.exp <= c.iat {
        return Err(malformed("claim `exp` must be after `iat`"));
    }
    if c.auth_time > c.iat {
        return Err(malformed("claim `auth_time` must not be after `iat`"));
    }
    let s = &c.scp;
    if s.actions.len() > limits::LIST_ITEMS {
        return Err(malformed(format!(
            "claim `scp.actions` has more than {} entries",
            limits::LIST_ITEMS
        )));
    }
    for (i, a) in s.actions.iter().enumerate() {
        if !crate::task::is_valid_action(a) {
            return Err(malformed(format!(
                "claim `scp.actions[{i}]` is not an action name: `{}`",
                crate::task::truncate_for_message(a)
            )));
        }
    }
    if let Some(p) = &s.patient {
        check_id("scp.patient", p)?;
    }
    match s.kind {
        ScopeKind::Task => {
            if s.task
                .as_deref()
                .and_then(crate::task::TaskHash::from_hex)
                .is_none()
            {
                return Err(malformed(
                    "claim `scp.task`: a `task` scope needs the 32-byte task hash in hex",
                ));
            }
        }
        ScopeKind::ActionPatient => {
            if s.actions.is_empty() {
                return Err(malformed(
                    "claim `scp.actions`: an `action-patient` scope needs actions",
                ));
            }
            if s.patient.is_none() {
                return Err(malformed(
                    "claim `scp.patient`: an `action-patient` scope needs a patient",
                ));
            }
        }
        ScopeKind::Action => {
            if s.actions.is_empty() {
                return Err(malformed(
                    "claim `scp.actions`: an `action` scope needs actions",
                ));
            }
        }
        ScopeKind::Session => {}
    }
    Ok(())
}

/// Decode a grant's claims WITHOUT verifying its signature or its time: a hint for the UI (is a
/// task already covered?). Only the server's verification is proof; [`GrantClaims::covers`]
/// checks time.
pub fn decode(token: &str) -> Result<GrantClaims> {
    Ok(split(token)?.claims)
}

impl GrantClaims {
    /// Same as [`decode`]: the claims of a well-formed token, signature NOT verified.
    pub fn decode_unverified(token: &str) -> Result<GrantClaims> {
        decode(token)
    }
}

/// Check that claims belong to this user, session and device (a grant that arrives from
/// another tab is a hint, never proof). The error names each of `sub`, `sid`, `dev` that
/// differs.
pub fn check_binding(
    claims: &GrantClaims,
    user_id: &str,
    session_id: &str,
    device_id: &str,
) -> Result<()> {
    let mut wrong = Vec::new();
    if claims.sub != user_id {
        wrong.push("user (`sub`)");
    }
    if claims.sid != session_id {
        wrong.push("session (`sid`)");
    }
    if claims.dev != device_id {
        wrong.push("device (`dev`)");
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Error::GrantMismatch {
            message: format!("issued for another {}", wrong.join(", ")),
        })
    }
}

#[cfg_attr(
    not(feature = "server"),
    expect(dead_code, reason = "minting is server-only")
)]
pub(crate) fn encode_part(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
