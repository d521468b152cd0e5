//! Grants: what a clinician earned by a step-up. A grant is a short-lived JWT (RFC 7519) minted
//! and signed by the server. The browser only reads its claims, to decide whether a task is
//! already covered and no prompt is needed; the server verifies the signature (feature `server`)
//! and never trusts the browser's reading.

use serde::{Deserialize, Serialize};

use crate::policy::{AuthenticatorAttachment, ScopeKind};

/// The scope of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantScope {
    pub kind: ScopeKind,
    /// Actions covered (empty for `session`).
    #[serde(default)]
    pub actions: Vec<String>,
    /// The patient covered (for `task` and `action-patient`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// Hex SHA-256 of the canonical task (for `task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// The claims of a grant. Times are JWT NumericDates (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantClaims {
    /// Issuer (the relying party's origin).
    pub iss: String,
    /// The clinician (user id).
    pub sub: String,
    /// The portal session id.
    pub sid: String,
    /// The device id.
    pub dev: String,
    /// Authentication context class: `phr` (phishing-resistant) or `phrh` (phishing-resistant,
    /// hardware-protected: a cross-platform authenticator).
    pub acr: String,
    /// Authentication methods (RFC 8176): `hwk` (proof of possession of a key), `user` (user
    /// presence), `mfa` (user verification made it multi-factor), `swk` where the key is a
    /// synced software key.
    pub amr: Vec<String>,
    /// When the user-verified ceremony happened.
    pub auth_time: u64,
    pub iat: u64,
    pub exp: u64,
    /// Unique grant id.
    pub jti: String,
    /// What the grant covers.
    pub scp: GrantScope,
    /// The authenticator attachment used for the ceremony.
    #[serde(default)]
    pub att: AuthenticatorAttachment,
    /// Single use (EPCS): spent by its first use.
    #[serde(default)]
    pub once: bool,
}
