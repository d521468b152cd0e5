//! The policy's public vocabulary: step-up requirements, session facts and decisions. These
//! shapes cross the JS boundary (camelCase) and are shared by `grant` and `session`.

use serde::{Deserialize, Serialize};

use crate::grant::GrantClaims;

/// How wide a grant earned by a step-up is, narrowest first. A grant covers a task only if its
/// scope is at most as wide as the requirement's and it matches the task within that scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeKind {
    /// Exactly this task (same task hash).
    Task,
    /// The same action for the same patient.
    ActionPatient,
    /// The same action for any patient.
    Action,
    /// Anything in this session.
    Session,
}

/// Which authenticators satisfy a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorAttachment {
    /// Any passkey with user verification.
    #[default]
    Any,
    /// A roaming / hybrid authenticator (security key, phone): "separate from the computer",
    /// as DEA EPCS asks of the second factor on a shared tablet.
    CrossPlatform,
}

/// WebAuthn user verification. Only `required` exists: with `preferred`, an assertion with
/// UV=0 passes (webauthn-rs PR #284), which is no step-up at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserVerification {
    #[default]
    Required,
}

/// What a step-up must achieve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepUp {
    #[serde(default)]
    pub user_verification: UserVerification,
    /// The strong authentication may be at most this old. 0 means a ceremony for this very
    /// task, now.
    pub max_auth_age_seconds: u32,
    /// How wide the grant it yields is.
    pub scope: ScopeKind,
    /// How long the grant it yields lives.
    pub grant_lifetime_seconds: u32,
    #[serde(default)]
    pub authenticator: AuthenticatorAttachment,
    /// The grant may be spent once only (EPCS signing).
    #[serde(default)]
    pub single_use: bool,
}

/// What the evaluator needs to know about the session (a projection of `session::State`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionFacts {
    pub session_id: String,
    /// When the session began (sign-in), Unix ms.
    pub started_at_ms: u64,
    /// Last clinician activity, Unix ms.
    #[serde(default)]
    pub last_activity_ms: Option<u64>,
    /// Last user-verified passkey ceremony (sign-in, unlock or step-up), Unix ms. Every ceremony
    /// needs the server, so this is also the last *online* strong authentication.
    #[serde(default)]
    pub last_strong_auth_ms: Option<u64>,
    /// Roles when the session began; a difference from the task's roles is a role change.
    #[serde(default)]
    pub roles_at_start: Vec<String>,
    /// Grants held (claims only; the browser never verifies signatures).
    #[serde(default, deserialize_with = "crate::json::objects")]
    pub grants: Vec<GrantClaims>,
    /// `jti`s of single-use grants already spent in this session.
    #[serde(default)]
    pub spent_grants: Vec<String>,
    /// The session is locked (idle or by hand).
    #[serde(default)]
    pub locked: bool,
}

impl SessionFacts {
    /// Parse session facts from JSON text (size-limited; errors name the path).
    pub fn from_json(text: &str) -> crate::Result<SessionFacts> {
        use crate::error::{Error, limits};
        if text.len() > limits::STATE_BYTES {
            return Err(Error::InputTooLarge {
                what: "session facts",
                limit: limits::STATE_BYTES,
            });
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let crate::json::Obj::<SessionFacts>(facts) = serde_path_to_error::deserialize(&mut *de)
            .map_err(|e| {
                Error::from_serde_path(e, |path, message| Error::StateInvalid { path, message })
            })?;
        Error::json_end(de, |path, message| Error::StateInvalid { path, message })?;
        facts.validate()?;
        Ok(facts)
    }

    /// Check what the types cannot: a real session id, times JavaScript holds exactly.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::error::Error;
        crate::task::check_id("sessionId", &self.session_id).map_err(|e| e.into_state(""))?;
        Error::check_time("startedAtMs", Some(self.started_at_ms))?;
        Error::check_time("lastActivityMs", self.last_activity_ms)?;
        Error::check_time("lastStrongAuthMs", self.last_strong_auth_ms)
    }
}

/// The kind of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Go ahead (by policy, or by a grant that covers the task).
    Allow,
    /// Ask for a passkey step-up bound to this task.
    StepUp,
    /// Refuse.
    Deny,
    /// The task needs the server (a step-up, or outside the offline window) and the portal is
    /// offline.
    NeedsConnection,
    /// Emergency override: go ahead without step-up, flagged for after-the-fact review.
    BreakGlass,
}

/// Why an `allow` was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowedBy {
    Policy,
    Grant,
}

/// A decision is a value, never an error: the effect, the rule ids that produced it, a reason a
/// clinician can read, and what a step-up must achieve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub effect: Effect,
    /// Rule ids that decided it; synthetic ids start with `$` (`$default`, `$session-locked`,
    /// `$session-expired`, `$offline`).
    pub rule_ids: Vec<String>,
    /// Human-readable reason.
    pub reason: String,
    /// For `step-up`: what is required. For an allow by grant: what the grant satisfied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirement: Option<StepUp>,
    /// For `allowedBy: grant`: the covering grant's `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_by: Option<AllowedBy>,
    /// Break-glass: must be reviewed after the fact.
    #[serde(default)]
    pub review_required: bool,
}

/// Session timers for one kind of device, from the policy's `sessions` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionLimits {
    /// Lock after this long without activity.
    pub idle_lock_ms: u64,
    /// Require a new strong authentication after this long since it (re-authentication resets
    /// it, per NIST SP 800-63B).
    pub absolute_limit_ms: u64,
}
