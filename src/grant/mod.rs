//! Grants: what a clinician earned by a step-up. A grant is a short-lived JWT (RFC 7519) minted
//! and signed by the server. The browser only reads its claims, to decide whether a task is
//! already covered and no prompt is needed; the server verifies the signature (feature `server`)
//! and never trusts the browser's reading.

use serde::{Deserialize, Serialize};

use crate::policy::{AuthenticatorAttachment, ScopeKind, StepUp};
use crate::task::TaskContext;

#[cfg(feature = "server")]
pub mod server;
mod token;

pub use token::{check_binding, check_claims, decode};

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
    #[serde(deserialize_with = "crate::json::object")]
    pub scp: GrantScope,
    /// The authenticator attachment used for the ceremony.
    #[serde(default)]
    pub att: AuthenticatorAttachment,
    /// Single use (EPCS): spent by its first use.
    #[serde(default)]
    pub once: bool,
}

/// Allowed clock skew between the server that minted a grant and the clock deciding now.
pub const CLOCK_SKEW_MS: u64 = 60_000;

impl GrantClaims {
    /// Does this grant cover `task` under `requirement`, for this session, at `now_ms`?
    ///
    /// All of these must hold: not expired and not issued in the future (beyond
    /// [`CLOCK_SKEW_MS`]); same user, session and device; user verification happened (`mfa` in
    /// `amr`); the authenticator attachment is what the requirement asks; the strong
    /// authentication is fresh enough; not a spent single-use grant; and the grant's scope is at
    /// most as wide as the requirement's and matches the task within it. A requirement with
    /// `maxAuthAgeSeconds: 0` is met only by a grant for this very task.
    pub fn covers(
        &self,
        task: &crate::task::TaskContext,
        task_hash: &crate::task::TaskHash,
        requirement: &crate::policy::StepUp,
        session: &crate::policy::SessionFacts,
        now_ms: u64,
    ) -> bool {
        // Claims that break their own invariants (possible when they come from stored state
        // rather than `decode`) cover nothing.
        if self.exp <= self.iat || self.auth_time > self.iat {
            return false;
        }
        let exp_ms = self.exp.saturating_mul(1000);
        let iat_ms = self.iat.saturating_mul(1000);
        let auth_ms = self.auth_time.saturating_mul(1000);
        if now_ms >= exp_ms || iat_ms > now_ms.saturating_add(CLOCK_SKEW_MS) {
            return false;
        }
        if self.sub != task.user.id || self.dev != task.device.id || self.sid != session.session_id
        {
            return false;
        }
        if !self.amr.iter().any(|m| m == "mfa") {
            return false;
        }
        if requirement.authenticator == AuthenticatorAttachment::CrossPlatform
            && self.att != AuthenticatorAttachment::CrossPlatform
        {
            return false;
        }
        if self.once && session.spent_grants.contains(&self.jti) {
            return false;
        }
        if requirement.max_auth_age_seconds == 0 {
            if self.scp.kind != ScopeKind::Task {
                return false;
            }
        } else {
            let max_age_ms = u64::from(requirement.max_auth_age_seconds).saturating_mul(1000);
            if auth_ms.saturating_add(max_age_ms) < now_ms {
                return false;
            }
        }
        if self.scp.kind > requirement.scope {
            return false;
        }
        let action_listed = self.scp.actions.contains(&task.action);
        match self.scp.kind {
            ScopeKind::Task => self
                .scp
                .task
                .as_deref()
                .and_then(crate::task::TaskHash::from_hex)
                .is_some_and(|h| h == *task_hash),
            ScopeKind::ActionPatient => {
                action_listed
                    && self.scp.patient.is_some()
                    && self.scp.patient.as_deref() == task.patient_id()
            }
            ScopeKind::Action => action_listed,
            ScopeKind::Session => true,
        }
    }
}

/// What a server knows when it mints a grant after a verified, user-verified assertion.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub issuer: &'a str,
    pub session_id: &'a str,
    /// When the ceremony happened (ms).
    pub auth_time_ms: u64,
    pub now_ms: u64,
    /// A unique id (random, from the server).
    pub jti: String,
    /// The attachment of the authenticator actually used.
    pub attachment: AuthenticatorAttachment,
}

impl GrantClaims {
    /// The claims of a grant for `task` under `requirement` (scope, lifetime, single use).
    /// Pure: the server signs the result with `server::GrantKeys::mint`.
    ///
    /// An `action-patient` requirement for a task without a patient yields a `task` grant (the
    /// narrower scope: an action-patient grant without a patient would cover nothing and could
    /// not be minted).
    pub fn for_step_up(task: &TaskContext, requirement: &StepUp, issue: Issue<'_>) -> GrantClaims {
        let now_s = issue.now_ms / 1000;
        let kind = match requirement.scope {
            ScopeKind::ActionPatient if task.patient_id().is_none() => ScopeKind::Task,
            kind => kind,
        };
        let scp = match kind {
            ScopeKind::Task => GrantScope {
                kind: ScopeKind::Task,
                actions: vec![task.action.clone()],
                patient: task.patient_id().map(str::to_string),
                task: Some(task.hash().to_hex()),
            },
            ScopeKind::ActionPatient => GrantScope {
                kind: ScopeKind::ActionPatient,
                actions: vec![task.action.clone()],
                patient: task.patient_id().map(str::to_string),
                task: None,
            },
            ScopeKind::Action => GrantScope {
                kind: ScopeKind::Action,
                actions: vec![task.action.clone()],
                patient: None,
                task: None,
            },
            ScopeKind::Session => GrantScope {
                kind: ScopeKind::Session,
                actions: Vec::new(),
                patient: None,
                task: None,
            },
        };
        let cross = issue.attachment == AuthenticatorAttachment::CrossPlatform;
        GrantClaims {
            iss: issue.issuer.to_string(),
            sub: task.user.id.clone(),
            sid: issue.session_id.to_string(),
            dev: task.device.id.clone(),
            acr: String::from(if cross { "phrh" } else { "phr" }),
            amr: vec!["hwk".into(), "user".into(), "mfa".into()],
            auth_time: (issue.auth_time_ms / 1000).min(now_s),
            iat: now_s,
            exp: now_s.saturating_add(u64::from(requirement.grant_lifetime_seconds.max(1))),
            jti: issue.jti,
            scp,
            att: issue.attachment,
            once: requirement.single_use,
        }
    }
}
