//! Passkeys with webauthn-rs, and the task binding of step-up challenges.
//!
//! webauthn-rs's safe API (`start_passkey_authentication`) draws its own random challenge. A
//! wardgate step-up needs the challenge `nonce(16) ‖ SHA-256(WGT1(task))`, so [`Passkeys::
//! start_authentication`] takes the caller's challenge and binds it into both halves of the
//! ceremony: the options sent to the browser (`publicKey.challenge`) and webauthn-rs's
//! server-side `PasskeyAuthentication` state. The state is serialisable under webauthn-rs's
//! `danger-allow-state-serialisation` feature (we keep it server-side, in SQLite, never in the
//! browser); its challenge is replaced in the serialised form and read back after
//! deserialising, so a change of webauthn-rs's state format fails closed instead of silently
//! dropping the binding. Verification is webauthn-rs's own `finish_passkey_authentication`:
//! client data type, challenge, origin, RP ID hash, user presence, user verification (the
//! passkey policy is `required`), signature and signature counter.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, CredentialID, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder, WebauthnError,
};

/// How long a ceremony may take; also the challenge's lifetime.
pub const CEREMONY_TIMEOUT: Duration = Duration::from_secs(120);

/// The relying party's WebAuthn configuration.
#[derive(Debug)]
pub struct Passkeys {
    webauthn: Webauthn,
}

/// Options for the browser (`publicKey`) and the state to keep server-side (JSON).
#[derive(Debug)]
pub struct Started {
    pub public_key: Value,
    pub challenge: Vec<u8>,
    pub state: String,
}

/// Why a ceremony could not start or finish.
#[derive(Debug)]
pub enum PasskeyError {
    /// webauthn-rs refused (verification failed, or bad options).
    Webauthn(WebauthnError),
    /// The stored state could not be (de)serialised or the challenge could not be bound.
    State(String),
}

impl std::fmt::Display for PasskeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasskeyError::Webauthn(e) => write!(f, "{e}"),
            PasskeyError::State(m) => write!(f, "{m}"),
        }
    }
}

impl From<WebauthnError> for PasskeyError {
    fn from(e: WebauthnError) -> PasskeyError {
        PasskeyError::Webauthn(e)
    }
}

fn state_err(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::State(e.to_string())
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

impl Passkeys {
    pub fn new(rp_id: &str, origin: &str) -> Result<Passkeys, String> {
        let origin = Url::parse(origin).map_err(|e| format!("origin `{origin}`: {e}"))?;
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .map_err(|e| format!("rp id `{rp_id}` / origin `{origin}`: {e}"))?
            .rp_name("wardgate demo ward")
            .timeout(CEREMONY_TIMEOUT)
            .build()
            .map_err(|e| format!("webauthn configuration: {e}"))?;
        Ok(Passkeys { webauthn })
    }

    /// Start registering a passkey. The options ask for a discoverable credential
    /// (`residentKey: "required"`) with user verification required.
    pub fn start_registration(
        &self,
        handle: Uuid,
        user_id: &str,
        display_name: &str,
        exclude: Vec<CredentialID>,
    ) -> Result<Started, PasskeyError> {
        let exclude = if exclude.is_empty() {
            None
        } else {
            Some(exclude)
        };
        let (ccr, reg): (CreationChallengeResponse, PasskeyRegistration) = self
            .webauthn
            .start_passkey_registration(handle, user_id, display_name, exclude)?;
        let challenge = ccr.public_key.challenge.clone();
        let mut public_key = serde_json::to_value(&ccr.public_key).map_err(state_err)?;
        if let Some(pk) = public_key.as_object_mut() {
            let sel = pk
                .entry("authenticatorSelection")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(sel) = sel.as_object_mut() {
                sel.insert("residentKey".into(), Value::from("required"));
                sel.insert("requireResidentKey".into(), Value::from(true));
                sel.insert("userVerification".into(), Value::from("required"));
            }
        }
        let state = serde_json::to_string(&reg).map_err(state_err)?;
        Ok(Started {
            public_key,
            challenge,
            state,
        })
    }

    pub fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &str,
    ) -> Result<Passkey, PasskeyError> {
        let reg: PasskeyRegistration = serde_json::from_str(state).map_err(state_err)?;
        Ok(self
            .webauthn
            .finish_passkey_registration(credential, &reg)?)
    }

    /// Start an authentication with `passkeys` (user verification required). With
    /// `challenge`, the ceremony is bound to it (see the module documentation); without, it is
    /// webauthn-rs's random challenge (sign-in, unlock).
    pub fn start_authentication(
        &self,
        passkeys: &[Passkey],
        challenge: Option<&[u8]>,
    ) -> Result<Started, PasskeyError> {
        let (mut rcr, auth) = self.webauthn.start_passkey_authentication(passkeys)?;
        let auth = match challenge {
            Some(c) => {
                rcr.public_key.challenge = c.to_vec();
                bind_challenge(&auth, c)?
            }
            None => auth,
        };
        let challenge = rcr.public_key.challenge.clone();
        if stored_challenge(&auth)? != challenge {
            return Err(PasskeyError::State(String::from(
                "the options and the stored state carry different challenges",
            )));
        }
        let public_key = serde_json::to_value(&rcr.public_key).map_err(state_err)?;
        let state = serde_json::to_string(&auth).map_err(state_err)?;
        Ok(Started {
            public_key,
            challenge,
            state,
        })
    }

    /// Verify an assertion against the stored state (webauthn-rs's full verification).
    pub fn finish_authentication(
        &self,
        credential: &PublicKeyCredential,
        state: &str,
        expected_challenge: &[u8],
    ) -> Result<AuthenticationResult, PasskeyError> {
        let auth: PasskeyAuthentication = serde_json::from_str(state).map_err(state_err)?;
        // The state must still carry the challenge the ceremony row says was issued.
        if stored_challenge(&auth)? != expected_challenge {
            return Err(PasskeyError::State(String::from(
                "the stored state does not carry the issued challenge",
            )));
        }
        Ok(self
            .webauthn
            .finish_passkey_authentication(credential, &auth)?)
    }
}

/// The challenge webauthn-rs will verify against, read from its serialised state.
fn stored_challenge(auth: &PasskeyAuthentication) -> Result<Vec<u8>, PasskeyError> {
    let v = serde_json::to_value(auth).map_err(state_err)?;
    v.pointer("/ast/challenge")
        .and_then(Value::as_str)
        .and_then(b64url_decode)
        .ok_or_else(|| PasskeyError::State(String::from("no challenge in the webauthn-rs state")))
}

/// Replace the challenge of webauthn-rs's authentication state with `challenge`; the result is
/// read back, so a state format without `ast.challenge` fails closed.
pub fn bind_challenge(
    auth: &PasskeyAuthentication,
    challenge: &[u8],
) -> Result<PasskeyAuthentication, PasskeyError> {
    let mut v = serde_json::to_value(auth).map_err(state_err)?;
    let slot = v.pointer_mut("/ast/challenge").ok_or_else(|| {
        PasskeyError::State(String::from("no challenge in the webauthn-rs state"))
    })?;
    *slot = Value::String(b64url(challenge));
    let bound: PasskeyAuthentication = serde_json::from_value(v).map_err(state_err)?;
    if stored_challenge(&bound)? != challenge {
        return Err(PasskeyError::State(String::from(
            "the challenge could not be bound into the webauthn-rs state",
        )));
    }
    Ok(bound)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_task_challenge_is_bound_into_options_and_state() {
        let pk = Passkeys::new("localhost", "http://localhost:8080").unwrap();
        let challenge: Vec<u8> = (0u8..48).collect();
        let started = pk.start_authentication(&[], Some(&challenge)).unwrap();
        assert_eq!(started.challenge, challenge);
        assert_eq!(started.public_key["challenge"], b64url(&challenge));
        assert_eq!(started.public_key["userVerification"], "required");
        let state: Value = serde_json::from_str(&started.state).unwrap();
        assert_eq!(state["ast"]["challenge"], b64url(&challenge));
    }

    #[test]
    fn without_a_challenge_webauthn_rs_draws_one() {
        let pk = Passkeys::new("localhost", "http://localhost:8080").unwrap();
        let a = pk.start_authentication(&[], None).unwrap();
        let b = pk.start_authentication(&[], None).unwrap();
        assert_ne!(a.challenge, b.challenge);
        assert!(a.challenge.len() >= 16);
    }
}
