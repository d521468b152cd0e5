//! Compact JWS (RFC 7515) grant tokens: strict decoding without a key (the browser's hint) and,
//! behind the `server` feature, Ed25519 minting and verification (the server's proof).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::GrantClaims;
use crate::error::{Error, Result, limits};
use crate::policy::ScopeKind;

/// The only accepted `alg`.
pub const ALG: &str = "EdDSA";
/// Largest time claim accepted (seconds): keeps ms arithmetic below 2^53.
const MAX_TIME_S: u64 = 9_007_199_254_740;

#[derive(Debug, Deserialize)]
struct Header {
    #[serde(default)]
    alg: Option<serde_json::Value>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

fn malformed(message: impl Into<String>) -> Error {
    Error::GrantMalformed {
        message: message.into(),
    }
}

/// The parts of a decoded token.
#[derive(Debug)]
#[cfg_attr(
    not(feature = "server"),
    allow(
        dead_code,
        reason = "the key material is read by the server feature only"
    )
)]
pub(crate) struct Parts<'a> {
    pub signing_input: &'a str,
    pub kid: Option<String>,
    pub signature: Vec<u8>,
    pub claims: GrantClaims,
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format!("{what} is not base64url without padding")))
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
    let header: Header = serde_json::from_slice(&b64(h, "header")?)
        .map_err(|e| malformed(format!("header is not a JSON object: {e}")))?;
    // The algorithm is checked before anything else is trusted.
    let alg = match &header.alg {
        Some(serde_json::Value::String(a)) => a.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if alg != ALG {
        return Err(Error::GrantAlgorithm {
            alg: crate::task::truncate_for_message(&alg),
        });
    }
    if header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(malformed("header `typ` must be `JWT`"));
    }
    if header.crit.is_some() {
        return Err(malformed("header `crit` is not supported"));
    }
    let signature = b64(s, "signature")?;
    if signature.len() != 64 {
        return Err(malformed("signature is not 64 bytes"));
    }
    let payload = b64(p, "payload")?;
    let de = &mut serde_json::Deserializer::from_slice(&payload);
    let claims: GrantClaims = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut msg = e.into_inner().to_string();
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        malformed(format!("claim `{path}`: {msg}"))
    })?;
    check_claims(&claims)?;
    let signing_input = token.get(..h.len() + 1 + p.len()).unwrap_or_default();
    Ok(Parts {
        signing_input,
        kid: header.kid,
        signature,
        claims,
    })
}

/// Sanity checks on claims, shared by decoding and minting.
pub fn check_claims(c: &GrantClaims) -> Result<()> {
    for (name, v) in [
        ("sub", &c.sub),
        ("sid", &c.sid),
        ("dev", &c.dev),
        ("jti", &c.jti),
        ("iss", &c.iss),
    ] {
        if v.is_empty() || v.chars().count() > limits::ID_CHARS || v.chars().any(char::is_control) {
            return Err(malformed(format!(
                "claim `{name}` must be a non-empty id of at most {} characters",
                limits::ID_CHARS
            )));
        }
    }
    if c.amr.len() > 16 || c.scp.actions.len() > limits::LIST_ITEMS {
        return Err(malformed("too many `amr` or `scp.actions` entries"));
    }
    for t in [c.iat, c.exp, c.auth_time] {
        if t > MAX_TIME_S {
            return Err(malformed("a time claim is out of range"));
        }
    }
    if c.exp <= c.iat {
        return Err(malformed("`exp` must be after `iat`"));
    }
    if c.auth_time > c.iat {
        return Err(malformed("`auth_time` must not be after `iat`"));
    }
    let s = &c.scp;
    let ok = match s.kind {
        ScopeKind::Task => s
            .task
            .as_deref()
            .is_some_and(|t| crate::task::TaskHash::from_hex(t).is_some()),
        ScopeKind::ActionPatient => {
            !s.actions.is_empty() && s.patient.as_deref().is_some_and(|p| !p.is_empty())
        }
        ScopeKind::Action => !s.actions.is_empty(),
        ScopeKind::Session => true,
    };
    if !ok {
        return Err(malformed(match s.kind {
            ScopeKind::Task => "a `task` scope needs the 32-byte task hash in hex",
            ScopeKind::ActionPatient => "an `action-patient` scope needs actions and a patient",
            ScopeKind::Action => "an `action` scope needs actions",
            ScopeKind::Session => "invalid scope",
        }));
    }
    Ok(())
}

/// Decode a grant's claims WITHOUT verifying its signature or its time: a hint for the UI
/// (is a task already covered?). Only the server's verification is proof.
pub fn decode(token: &str) -> Result<GrantClaims> {
    Ok(split(token)?.claims)
}

/// Check that claims belong to this user, session and device.
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
    allow(dead_code, reason = "minting is server-only")
)]
pub(crate) fn encode_part(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
