//! Server side (feature `server`): mint and verify grants with Ed25519 (`EdDSA`).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::GrantClaims;
use super::token::{ALG, check_binding, check_claims, encode_part, split};
use crate::error::{Error, Result, limits};

/// The server's grant key.
#[derive(Debug)]
pub struct GrantKeys {
    signing: SigningKey,
    verifying: VerifyingKey,
    kid: String,
}

/// Who a grant must belong to.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub device_id: &'a str,
}

impl GrantKeys {
    /// From a 32-byte Ed25519 seed (keep it secret, keep it stable across restarts).
    pub fn from_seed(seed: &[u8]) -> Result<GrantKeys> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| Error::KeyInvalid {
            message: format!("an Ed25519 seed is 32 bytes, not {}", seed.len()),
        })?;
        let signing = SigningKey::from_bytes(&seed);
        let verifying = signing.verifying_key();
        let kid = crate::task::hex_encode(&Sha256::digest(verifying.as_bytes()))
            .chars()
            .take(16)
            .collect();
        Ok(GrantKeys {
            signing,
            verifying,
            kid,
        })
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }

    /// The key id carried in every grant header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Sign claims into a compact JWT.
    pub fn mint(&self, claims: &GrantClaims) -> Result<String> {
        check_claims(claims)?;
        let header = serde_json::json!({ "alg": ALG, "typ": "JWT", "kid": self.kid });
        let h = encode_part(header.to_string().as_bytes());
        let p = encode_part(&serde_json::to_vec(claims).map_err(|e| Error::Internal {
            message: e.to_string(),
        })?);
        let input = format!("{h}.{p}");
        let sig = self.signing.sign(input.as_bytes());
        let token = format!("{input}.{}", encode_part(&sig.to_bytes()));
        // Never mint what `verify` would refuse.
        if token.len() > limits::GRANT_BYTES {
            return Err(Error::InputTooLarge {
                what: "grant token",
                limit: limits::GRANT_BYTES,
            });
        }
        Ok(token)
    }

    /// Verify a grant: algorithm (before any key use), key id, signature, then time.
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<GrantClaims> {
        let parts = split(token)?;
        if parts.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(Error::GrantSignature);
        }
        let sig = Signature::from_bytes(&parts.signature);
        self.verifying
            .verify_strict(parts.signing_input.as_bytes(), &sig)
            .map_err(|_| Error::GrantSignature)?;
        let c = parts.claims;
        if now_ms >= c.exp.saturating_mul(1000) {
            return Err(Error::GrantExpired);
        }
        if c.iat.saturating_mul(1000) > now_ms.saturating_add(super::CLOCK_SKEW_MS) {
            return Err(Error::GrantNotYetValid);
        }
        Ok(c)
    }

    /// Verify and check the grant belongs to this user, session and device.
    pub fn verify_for(
        &self,
        token: &str,
        now_ms: u64,
        expected: &Expected<'_>,
    ) -> Result<GrantClaims> {
        let c = self.verify(token, now_ms)?;
        check_binding(
            &c,
            expected.user_id,
            expected.session_id,
            expected.device_id,
        )?;
        Ok(c)
    }
}
