//! A software passkey authenticator for tests: one P-256 (ES256) credential, `"fmt": "none"`
//! registration, assertions signed over `authenticatorData ‖ SHA-256(clientDataJSON)`, and
//! switches to misbehave (no UV, wrong origin, wrong RP ID, a chosen counter).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;

/// How an assertion should (mis)behave.
#[derive(Debug, Clone, Default)]
pub struct Tweaks {
    /// Clear the user-verified flag.
    pub no_uv: bool,
    /// Report this origin in clientDataJSON.
    pub origin: Option<String>,
    /// Hash this RP ID into authenticatorData.
    pub rp_id: Option<String>,
    /// Use exactly this signature counter (instead of the next one).
    pub counter: Option<u32>,
    /// Sign this challenge (base64url) instead of the one in the options.
    pub challenge: Option<String>,
}

/// One credential on a software authenticator.
#[derive(Debug, Clone)]
pub struct SoftAuthenticator {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The last signature counter used.
    pub counter: u32,
    pub rp_id: String,
    pub origin: String,
    /// The WebAuthn user handle given at registration.
    pub user_handle: Option<Vec<u8>>,
    /// `platform` or `cross-platform` (reported as `authenticatorAttachment`).
    pub attachment: &'static str,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .expect("base64url")
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("os randomness");
    b
}

// --- minimal CBOR (RFC 8949) for the attestation object and the COSE key ---

fn cbor_head(out: &mut Vec<u8>, major: u8, len: usize) {
    let m = major << 5;
    if len < 24 {
        out.push(m | len as u8);
    } else if len < 256 {
        out.push(m | 24);
        out.push(len as u8);
    } else {
        out.push(m | 25);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len());
    out.extend_from_slice(b);
}

impl SoftAuthenticator {
    /// A fresh credential for `rp_id` at `origin`.
    pub fn new(rp_id: &str, origin: &str) -> SoftAuthenticator {
        let key = loop {
            if let Ok(k) = SigningKey::from_slice(&random::<32>()) {
                break k;
            }
        };
        SoftAuthenticator {
            key,
            credential_id: random::<32>().to_vec(),
            counter: 0,
            rp_id: rp_id.to_string(),
            origin: origin.to_string(),
            user_handle: None,
            attachment: "platform",
        }
    }

    /// A roaming authenticator (security key, phone): `authenticatorAttachment:
    /// "cross-platform"`.
    pub fn cross_platform(mut self) -> SoftAuthenticator {
        self.attachment = "cross-platform";
        self
    }

    pub fn credential_id_b64(&self) -> String {
        b64(&self.credential_id)
    }

    /// COSE_Key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let x = point.x().expect("x");
        let y = point.y().expect("y");
        let mut out = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(&mut out, x);
        out.push(0x22);
        cbor_bytes(&mut out, y);
        out
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        }))
        .expect("client data")
    }

    /// Answer `navigator.credentials.create()` options (`publicKey`) with a
    /// `RegistrationResponseJSON`.
    pub fn register(&mut self, public_key: &Value) -> Value {
        let challenge = public_key["challenge"].as_str().expect("challenge");
        let rp_id = public_key["rp"]["id"]
            .as_str()
            .unwrap_or(&self.rp_id)
            .to_string();
        assert_eq!(rp_id, self.rp_id, "the options name another RP");
        self.user_handle = public_key["user"]["id"].as_str().map(unb64);
        let client_data = Self::client_data("webauthn.create", challenge, &self.origin);
        let mut auth_data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        auth_data.push(FLAG_UP | FLAG_UV | FLAG_AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        let mut att = vec![0xa3];
        cbor_text(&mut att, "fmt");
        cbor_text(&mut att, "none");
        cbor_text(&mut att, "attStmt");
        att.push(0xa0);
        cbor_text(&mut att, "authData");
        cbor_bytes(&mut att, &auth_data);
        let transports = if self.attachment == "cross-platform" {
            json!(["usb", "hybrid"])
        } else {
            json!(["internal"])
        };
        json!({
            "id": self.credential_id_b64(),
            "rawId": self.credential_id_b64(),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&att),
                "transports": transports,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": self.attachment,
        })
    }

    /// Answer `navigator.credentials.get()` options (`publicKey`) with an
    /// `AuthenticationResponseJSON`. Like a real authenticator it signs whatever challenge it
    /// is given; unlike one, it ignores `allowCredentials` (so tests can present a credential
    /// the server did not ask for).
    pub fn assert_with(&mut self, public_key: &Value, t: &Tweaks) -> Value {
        let challenge = t.challenge.clone().unwrap_or_else(|| {
            public_key["challenge"]
                .as_str()
                .expect("challenge")
                .to_string()
        });
        let origin = t.origin.clone().unwrap_or_else(|| self.origin.clone());
        let rp_id = t.rp_id.clone().unwrap_or_else(|| self.rp_id.clone());
        let counter = match t.counter {
            Some(c) => c,
            None => self.counter + 1,
        };
        self.counter = self.counter.max(counter);
        let client_data = Self::client_data("webauthn.get", &challenge, &origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(if t.no_uv { FLAG_UP } else { FLAG_UP | FLAG_UV });
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let sig: Signature = self.key.sign(&signed);
        let mut response = json!({
            "clientDataJSON": b64(&client_data),
            "authenticatorData": b64(&auth_data),
            "signature": b64(sig.to_der().as_bytes()),
        });
        if let Some(h) = &self.user_handle {
            response["userHandle"] = json!(b64(h));
        }
        json!({
            "id": self.credential_id_b64(),
            "rawId": self.credential_id_b64(),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": self.attachment,
        })
    }

    pub fn assert(&mut self, public_key: &Value) -> Value {
        self.assert_with(public_key, &Tweaks::default())
    }
}
