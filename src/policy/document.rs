//! The policy document (`wardgate/1`): its JSON shape and its validation.

use serde::{Deserialize, Serialize};

use super::types::{SessionLimits, StepUp};
use crate::error::{Error, Result, limits};
use crate::task::{Connectivity, is_valid_action};

/// What happens when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultEffect {
    #[default]
    Deny,
    Allow,
}

/// A rule's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleEffect {
    Allow,
    Deny,
    StepUp,
    BreakGlass,
}

/// `anyOf` / `noneOf` over a set of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCondition {
    #[serde(default)]
    pub any_of: Vec<String>,
    #[serde(default)]
    pub none_of: Vec<String>,
}

impl SetCondition {
    pub(crate) fn matches(&self, values: &[String]) -> bool {
        (self.any_of.is_empty() || self.any_of.iter().any(|a| values.contains(a)))
            && !self.none_of.iter().any(|n| values.contains(n))
    }
}

/// Device conditions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceCondition {
    #[serde(default)]
    pub shared: Option<bool>,
    #[serde(default)]
    pub managed: Option<bool>,
}

/// A rule's conditions; every present one must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct When {
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub roles: Option<SetCondition>,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub labels: Option<SetCondition>,
    #[serde(default)]
    pub has_patient: Option<bool>,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub device: Option<DeviceCondition>,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub zones: Option<SetCondition>,
    #[serde(default)]
    pub connectivity: Option<Connectivity>,
    #[serde(default)]
    pub emergency: Option<bool>,
    #[serde(default)]
    pub role_changed: Option<bool>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "crate::json::object")]
    pub when: When,
    pub effect: RuleEffect,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub step_up: Option<StepUp>,
    /// A step-up that never permits anything by itself: it only adds its requirement to a task
    /// that other rules allow or step up (e.g. "re-confirm after a role change"), so matching
    /// it can never turn a deny into an allow.
    #[serde(default)]
    pub strengthens_only: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Session timer presets (NIST SP 800-63B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SessionPreset {
    /// Rev 4 AAL2: inactivity 1 h, overall 24 h. The default.
    #[default]
    #[serde(rename = "nist-800-63b-4-aal2")]
    Nist4Aal2,
    /// Rev 4 AAL3: inactivity 15 min, overall 12 h.
    #[serde(rename = "nist-800-63b-4-aal3")]
    Nist4Aal3,
    /// Rev 3 AAL2: inactivity 30 min, overall 12 h.
    #[serde(rename = "nist-800-63b-3-aal2")]
    Nist3Aal2,
}

impl SessionPreset {
    /// (idle, absolute) in seconds.
    pub fn seconds(self) -> (u64, u64) {
        match self {
            SessionPreset::Nist4Aal2 => (3600, 24 * 3600),
            SessionPreset::Nist4Aal3 => (900, 12 * 3600),
            SessionPreset::Nist3Aal2 => (1800, 12 * 3600),
        }
    }
}

/// Overrides of the session timers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timers {
    #[serde(default)]
    pub idle_lock_seconds: Option<u64>,
    #[serde(default)]
    pub absolute_limit_seconds: Option<u64>,
}

/// The `sessions` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sessions {
    #[serde(default)]
    pub preset: SessionPreset,
    #[serde(default)]
    pub idle_lock_seconds: Option<u64>,
    #[serde(default)]
    pub absolute_limit_seconds: Option<u64>,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub shared_device: Option<Timers>,
}

/// The `offline` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Offline {
    #[serde(default)]
    pub actions: Vec<String>,
    pub max_since_strong_auth_seconds: u64,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDocument {
    pub version: String,
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<DefaultEffect>,
    #[serde(default, deserialize_with = "crate::json::object")]
    pub sessions: Sessions,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub offline: Option<Offline>,
    #[serde(deserialize_with = "crate::json::objects")]
    pub rules: Vec<Rule>,
}

/// The only format version this build reads.
pub const VERSION: &str = "wardgate/1";

/// Shared devices lock after at most this long idle unless the policy says otherwise.
pub const SHARED_DEFAULT_IDLE_SECONDS: u64 = 300;
/// Shared devices need a new strong authentication after at most this long by default.
pub const SHARED_DEFAULT_ABSOLUTE_SECONDS: u64 = 12 * 3600;

fn invalid(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::PolicyInvalid {
        path: path.into(),
        message: message.into(),
    }
}

#[derive(Deserialize)]
struct VersionOnly {
    version: Option<serde_json::Value>,
}

impl PolicyDocument {
    /// Parse and validate.
    pub fn from_json(text: &str) -> Result<PolicyDocument> {
        if text.len() > limits::POLICY_BYTES {
            return Err(Error::InputTooLarge {
                what: "policy",
                limit: limits::POLICY_BYTES,
            });
        }
        // serde would read a JSON array as a struct: a policy is an object.
        if !text.trim_start().starts_with('{') {
            return Err(Error::PolicyParse {
                path: String::from("$"),
                message: String::from("a policy is a JSON object"),
            });
        }
        // The version first, so a future document gets the version error, not a parse error.
        if let Ok(VersionOnly {
            version: Some(version),
        }) = serde_json::from_str::<VersionOnly>(text)
        {
            match version.as_str() {
                Some(VERSION) => {}
                Some(other) => {
                    return Err(Error::PolicyVersion {
                        found: crate::task::truncate_for_message(other),
                    });
                }
                None => {
                    return Err(Error::PolicyVersion {
                        found: crate::task::truncate_for_message(&version.to_string()),
                    });
                }
            }
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let doc: PolicyDocument = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            Error::from_serde_path(e, |path, message| Error::PolicyParse { path, message })
        })?;
        Error::json_end(de, |path, message| Error::PolicyParse { path, message })?;
        doc.validate()?;
        Ok(doc)
    }

    /// Semantic validation; errors name the JSON path.
    pub fn validate(&self) -> Result<()> {
        check_id("id", &self.id)?;
        if let Some(d) = &self.description {
            check_text("description", d)?;
        }
        if self.rules.is_empty() && self.default.is_none() {
            return Err(invalid(
                "rules",
                "a policy without rules must declare its `default`",
            ));
        }
        if self.rules.len() > limits::LIST_ITEMS {
            return Err(invalid(
                "rules",
                format!("has more than {} rules", limits::LIST_ITEMS),
            ));
        }
        self.validate_sessions()?;
        if let Some(off) = &self.offline {
            check_actions("offline.actions", &off.actions)?;
            if off.max_since_strong_auth_seconds > 7 * 86_400 {
                return Err(invalid(
                    "offline.maxSinceStrongAuthSeconds",
                    "must be at most 7 days (604800)",
                ));
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            validate_rule(&at, rule)?;
            if self.rules.iter().take(i).any(|r| r.id == rule.id) {
                return Err(invalid(
                    format!("{at}.id"),
                    format!("duplicate rule id `{}`", rule.id),
                ));
            }
        }
        Ok(())
    }

    fn validate_sessions(&self) -> Result<()> {
        let s = &self.sessions;
        check_timers(
            "sessions",
            s.idle_lock_seconds,
            s.absolute_limit_seconds,
            self.limits_seconds(false),
        )?;
        if let Some(shared) = &s.shared_device {
            check_timers(
                "sessions.sharedDevice",
                shared.idle_lock_seconds,
                shared.absolute_limit_seconds,
                self.limits_seconds(true),
            )?;
        }
        Ok(())
    }

    /// (idle, absolute) seconds for a personal or shared device.
    pub fn limits_seconds(&self, shared: bool) -> (u64, u64) {
        let s = &self.sessions;
        let (p_idle, p_abs) = s.preset.seconds();
        let idle = s.idle_lock_seconds.unwrap_or(p_idle);
        let abs = s.absolute_limit_seconds.unwrap_or(p_abs);
        if !shared {
            return (idle, abs);
        }
        let sd = s.shared_device.clone().unwrap_or_default();
        (
            sd.idle_lock_seconds
                .unwrap_or(idle.min(SHARED_DEFAULT_IDLE_SECONDS)),
            sd.absolute_limit_seconds
                .unwrap_or(abs.min(SHARED_DEFAULT_ABSOLUTE_SECONDS)),
        )
    }

    /// Session limits in ms.
    pub fn session_limits(&self, shared: bool) -> SessionLimits {
        let (idle, abs) = self.limits_seconds(shared);
        SessionLimits {
            idle_lock_ms: idle.saturating_mul(1000),
            absolute_limit_ms: abs.saturating_mul(1000),
        }
    }
}

fn check_timers(
    at: &str,
    idle: Option<u64>,
    absolute: Option<u64>,
    effective: (u64, u64),
) -> Result<()> {
    if let Some(i) = idle {
        if !(60..=86_400).contains(&i) {
            return Err(invalid(
                format!("{at}.idleLockSeconds"),
                format!("`{i}` is outside 60..=86400 seconds"),
            ));
        }
    }
    if let Some(a) = absolute {
        if !(300..=7 * 86_400).contains(&a) {
            return Err(invalid(
                format!("{at}.absoluteLimitSeconds"),
                format!("`{a}` is outside 300..=604800 seconds"),
            ));
        }
    }
    if effective.0 > effective.1 {
        return Err(invalid(
            format!("{at}.idleLockSeconds"),
            "the idle lock must not be longer than the absolute limit",
        ));
    }
    Ok(())
}

fn validate_rule(at: &str, rule: &Rule) -> Result<()> {
    let id_ok = rule.id.len() <= 64
        && rule
            .id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && rule
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(invalid(
            format!("{at}.id"),
            format!(
                "`{}` is not a rule id (lowercase letters, digits and `-`, at most 64)",
                crate::task::truncate_for_message(&rule.id)
            ),
        ));
    }
    if let Some(d) = &rule.description {
        check_text(&format!("{at}.description"), d)?;
    }
    if let Some(r) = &rule.reason {
        check_text(&format!("{at}.reason"), r)?;
    }
    let w = &rule.when;
    if let Some(actions) = &w.actions {
        if actions.is_empty() {
            return Err(invalid(
                format!("{at}.when.actions"),
                "must name at least one action (omit it to match any)",
            ));
        }
        check_actions(&format!("{at}.when.actions"), actions)?;
    }
    for (name, set) in [
        ("roles", &w.roles),
        ("labels", &w.labels),
        ("zones", &w.zones),
    ] {
        if let Some(set) = set {
            let p = format!("{at}.when.{name}");
            if set.any_of.is_empty() && set.none_of.is_empty() {
                return Err(invalid(p, "needs a non-empty `anyOf` or `noneOf`"));
            }
            check_ids(&format!("{p}.anyOf"), &set.any_of)?;
            check_ids(&format!("{p}.noneOf"), &set.none_of)?;
        }
    }
    match (rule.effect, &rule.step_up) {
        (RuleEffect::StepUp, None) => {
            return Err(invalid(
                format!("{at}.stepUp"),
                "a step-up rule needs its `stepUp` requirement",
            ));
        }
        (RuleEffect::StepUp, Some(s)) => {
            if !(1..=86_400).contains(&s.grant_lifetime_seconds) {
                return Err(invalid(
                    format!("{at}.stepUp.grantLifetimeSeconds"),
                    format!(
                        "`{}` is outside 1..=86400 seconds",
                        s.grant_lifetime_seconds
                    ),
                ));
            }
            if s.max_auth_age_seconds > 86_400 {
                return Err(invalid(
                    format!("{at}.stepUp.maxAuthAgeSeconds"),
                    format!("`{}` is more than 86400 seconds", s.max_auth_age_seconds),
                ));
            }
        }
        (_, Some(_)) => {
            return Err(invalid(
                format!("{at}.stepUp"),
                "only a `step-up` rule takes a `stepUp` requirement",
            ));
        }
        (_, None) => {}
    }
    if rule.strengthens_only && rule.effect != RuleEffect::StepUp {
        return Err(invalid(
            format!("{at}.strengthensOnly"),
            "only a `step-up` rule can be `strengthensOnly`",
        ));
    }
    if rule.effect == RuleEffect::BreakGlass && w.emergency != Some(true) {
        return Err(invalid(
            format!("{at}.when.emergency"),
            "a `break-glass` rule must require `\"emergency\": true`",
        ));
    }
    Ok(())
}

fn check_id(path: &str, value: &str) -> Result<()> {
    crate::task::check_id(path, value).map_err(|e| match e {
        Error::ContextInvalid { path, message } => Error::PolicyInvalid { path, message },
        other => other,
    })
}

fn check_text(path: &str, value: &str) -> Result<()> {
    if value.chars().count() > limits::TEXT_CHARS {
        return Err(invalid(
            path,
            format!("is longer than {} characters", limits::TEXT_CHARS),
        ));
    }
    Ok(())
}

fn check_ids(path: &str, values: &[String]) -> Result<()> {
    if values.len() > limits::LIST_ITEMS {
        return Err(invalid(
            path,
            format!("has more than {} entries", limits::LIST_ITEMS),
        ));
    }
    for (i, v) in values.iter().enumerate() {
        check_id(&format!("{path}[{i}]"), v)?;
    }
    Ok(())
}

fn check_actions(path: &str, values: &[String]) -> Result<()> {
    check_ids(path, values)?;
    for (i, v) in values.iter().enumerate() {
        if !is_valid_action(v) {
            return Err(invalid(
                format!("{path}[{i}]"),
                format!(
                    "`{}` is not an action name (lowercase letters, digits, `-`, `.`, `:`)",
                    crate::task::truncate_for_message(v)
                ),
            ));
        }
    }
    Ok(())
}
