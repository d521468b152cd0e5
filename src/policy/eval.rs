//! Evaluation: `(policy, task context, session facts, now) -> Decision`. It cannot fail.

use serde::Serialize;

use super::document::{DefaultEffect, PolicyDocument, Rule, RuleEffect};
use super::types::{
    AllowedBy, AuthenticatorAttachment, Decision, Effect, SessionFacts, SessionLimits, StepUp,
};
use crate::error::Result;
use crate::task::{Connectivity, TaskContext};

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    doc: PolicyDocument,
    personal: SessionLimits,
    shared: SessionLimits,
}

/// What `validatePolicy` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    pub id: String,
    pub version: String,
    pub description: Option<String>,
    pub default: DefaultEffect,
    pub rule_ids: Vec<String>,
    pub sessions: SessionsSummary,
    pub offline_actions: Vec<String>,
}

/// Session limits for both kinds of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsSummary {
    pub personal: SessionLimits,
    pub shared: SessionLimits,
}

impl Policy {
    /// Parse and validate a policy document.
    pub fn from_json(text: &str) -> Result<Policy> {
        Ok(Policy::from_document(PolicyDocument::from_json(text)?))
    }

    /// Wrap an already validated document.
    fn from_document(doc: PolicyDocument) -> Policy {
        Policy {
            personal: doc.session_limits(false),
            shared: doc.session_limits(true),
            doc,
        }
    }

    /// Build from a document, validating it first.
    pub fn new(doc: PolicyDocument) -> Result<Policy> {
        doc.validate()?;
        Ok(Policy::from_document(doc))
    }

    pub fn id(&self) -> &str {
        &self.doc.id
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.doc
    }

    /// Idle-lock and absolute limits for a personal or shared device.
    pub fn session_limits(&self, shared_device: bool) -> SessionLimits {
        if shared_device {
            self.shared
        } else {
            self.personal
        }
    }

    pub fn summary(&self) -> PolicySummary {
        PolicySummary {
            id: self.doc.id.clone(),
            version: self.doc.version.clone(),
            description: self.doc.description.clone(),
            default: self.doc.default.unwrap_or_default(),
            rule_ids: self.doc.rules.iter().map(|r| r.id.clone()).collect(),
            sessions: SessionsSummary {
                personal: self.personal,
                shared: self.shared,
            },
            offline_actions: self
                .doc
                .offline
                .as_ref()
                .map(|o| o.actions.clone())
                .unwrap_or_default(),
        }
    }

    /// Decide a task. See the module and README for the order of checks.
    pub fn evaluate(&self, task: &TaskContext, session: &SessionFacts, now_ms: u64) -> Decision {
        if session.locked {
            return synthetic(Effect::Deny, "$session-locked", "the session is locked");
        }
        let limits = self.session_limits(task.device.shared);
        let auth_base = session.last_strong_auth_ms.unwrap_or(session.started_at_ms);
        if auth_base.saturating_add(limits.absolute_limit_ms) <= now_ms {
            return synthetic(
                Effect::Deny,
                "$session-expired",
                "the session has passed its absolute limit: sign in again",
            );
        }
        if let Some(last) = session.last_activity_ms {
            if last.saturating_add(limits.idle_lock_ms) <= now_ms {
                return synthetic(
                    Effect::Deny,
                    "$session-idle",
                    "the session has been idle too long: unlock with a passkey",
                );
            }
        }

        let role_changed = roles_differ(&task.user.roles, &session.roles_at_start);
        let mut deny: Vec<&Rule> = Vec::new();
        let mut glass: Vec<&Rule> = Vec::new();
        let mut step: Vec<&Rule> = Vec::new();
        let mut strengthen: Vec<&Rule> = Vec::new();
        let mut allow: Vec<&Rule> = Vec::new();
        for rule in &self.doc.rules {
            if matches(rule, task, role_changed) {
                match rule.effect {
                    RuleEffect::Deny => deny.push(rule),
                    RuleEffect::BreakGlass => glass.push(rule),
                    RuleEffect::StepUp if rule.strengthens_only => strengthen.push(rule),
                    RuleEffect::StepUp => step.push(rule),
                    RuleEffect::Allow => allow.push(rule),
                }
            }
        }

        // Strengthen-only step-ups join a decision that other rules permit; alone they are
        // ignored (the default applies).
        // When they turn an allow into a step-up, the allow rules are named too.
        let strengthened_allow = step.is_empty() && !strengthen.is_empty() && !allow.is_empty();
        if !strengthen.is_empty() && (!step.is_empty() || !allow.is_empty()) {
            step.extend(strengthen);
        }
        let decision = if !deny.is_empty() {
            from_rules(Effect::Deny, &deny, "denied by policy")
        } else if !glass.is_empty() && task.emergency.is_some() {
            let mut d = from_rules(
                Effect::BreakGlass,
                &glass,
                "emergency override: allowed, flagged for review",
            );
            d.review_required = true;
            return d; // break-glass proceeds offline too
        } else if !step.is_empty() {
            let requirement = merge(&step);
            let mut d = from_rules(Effect::StepUp, &step, "a passkey step-up is required");
            if strengthened_allow {
                let mut ids: Vec<String> = allow.iter().map(|r| r.id.clone()).collect();
                ids.append(&mut d.rule_ids);
                d.rule_ids = ids;
            }
            // Say why in the words of the strictest rule (EPCS over ordinary prescribing).
            if let Some(r) = step
                .iter()
                .filter(|r| r.reason.is_some())
                .min_by_key(|r| {
                    r.step_up
                        .as_ref()
                        .map(|su| (su.scope, su.max_auth_age_seconds))
                })
                .and_then(|r| r.reason.clone())
            {
                d.reason = r;
            }
            let hash = task.hash();
            if let Some(g) = session
                .grants
                .iter()
                .find(|g| g.covers(task, &hash, &requirement, session, now_ms))
            {
                d.effect = Effect::Allow;
                d.allowed_by = Some(AllowedBy::Grant);
                d.grant_id = Some(g.jti.clone());
                d.reason = String::from("covered by a grant earned earlier");
            }
            d.requirement = Some(requirement);
            d
        } else if !allow.is_empty() {
            let mut d = from_rules(Effect::Allow, &allow, "allowed by policy");
            d.allowed_by = Some(AllowedBy::Policy);
            d
        } else {
            match self.doc.default.unwrap_or_default() {
                DefaultEffect::Deny => synthetic(
                    Effect::Deny,
                    "$default",
                    "no rule allows this task (default deny)",
                ),
                DefaultEffect::Allow => {
                    let mut d = synthetic(Effect::Allow, "$default", "allowed by default");
                    d.allowed_by = Some(AllowedBy::Policy);
                    d
                }
            }
        };

        if task.connectivity == Connectivity::Offline && decision.effect != Effect::Deny {
            return self.offline(task, session, now_ms, decision);
        }
        decision
    }

    fn offline(
        &self,
        task: &TaskContext,
        session: &SessionFacts,
        now_ms: u64,
        mut decision: Decision,
    ) -> Decision {
        let listed = self
            .doc
            .offline
            .as_ref()
            .is_some_and(|o| o.actions.contains(&task.action));
        let window_ms = self
            .doc
            .offline
            .as_ref()
            .map_or(0, |o| o.max_since_strong_auth_seconds.saturating_mul(1000));
        let fresh = session
            .last_strong_auth_ms
            .is_some_and(|t| t.saturating_add(window_ms) >= now_ms);
        let reason = if decision.effect == Effect::StepUp {
            Some(format!(
                "`{}` needs a connection: a passkey step-up cannot complete offline",
                task.action
            ))
        } else if !listed {
            Some(format!(
                "`{}` needs a connection: the policy does not let it proceed offline",
                task.action
            ))
        } else if !fresh {
            Some(format!(
                "`{}` needs a connection: outside the offline window since the last strong authentication",
                task.action
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            decision.effect = Effect::NeedsConnection;
            decision.allowed_by = None;
            decision.grant_id = None;
            decision.reason = reason;
            decision.rule_ids.push(String::from("$offline"));
        }
        decision
    }
}

/// Evaluate one task (same as [`Policy::evaluate`]).
pub fn evaluate(
    policy: &Policy,
    task: &TaskContext,
    session: &SessionFacts,
    now_ms: u64,
) -> Decision {
    policy.evaluate(task, session, now_ms)
}

fn synthetic(effect: Effect, id: &str, reason: &str) -> Decision {
    Decision {
        effect,
        rule_ids: vec![id.to_string()],
        reason: reason.to_string(),
        requirement: None,
        grant_id: None,
        allowed_by: None,
        review_required: false,
    }
}

fn from_rules(effect: Effect, rules: &[&Rule], fallback: &str) -> Decision {
    let reason = rules
        .iter()
        .find_map(|r| r.reason.clone())
        .unwrap_or_else(|| fallback.to_string());
    Decision {
        effect,
        rule_ids: rules.iter().map(|r| r.id.clone()).collect(),
        reason,
        requirement: None,
        grant_id: None,
        allowed_by: None,
        review_required: false,
    }
}

/// The strictest combination of several step-up requirements.
fn merge(rules: &[&Rule]) -> StepUp {
    let mut it = rules.iter().filter_map(|r| r.step_up.as_ref());
    let Some(first) = it.next() else {
        // Unreachable for validated policies (a step-up rule always has its requirement);
        // fail closed with the strictest possible requirement.
        return StepUp {
            user_verification: Default::default(),
            max_auth_age_seconds: 0,
            scope: super::types::ScopeKind::Task,
            grant_lifetime_seconds: 1,
            authenticator: AuthenticatorAttachment::CrossPlatform,
            single_use: true,
        };
    };
    it.fold(first.clone(), |acc, s| StepUp {
        user_verification: acc.user_verification,
        max_auth_age_seconds: acc.max_auth_age_seconds.min(s.max_auth_age_seconds),
        scope: acc.scope.min(s.scope),
        grant_lifetime_seconds: acc.grant_lifetime_seconds.min(s.grant_lifetime_seconds),
        authenticator: acc.authenticator.max(s.authenticator),
        single_use: acc.single_use || s.single_use,
    })
}

fn roles_differ(now: &[String], at_start: &[String]) -> bool {
    now.iter().any(|r| !at_start.contains(r)) || at_start.iter().any(|r| !now.contains(r))
}

fn matches(rule: &Rule, task: &TaskContext, role_changed: bool) -> bool {
    let w = &rule.when;
    if let Some(actions) = &w.actions {
        if !actions.contains(&task.action) {
            return false;
        }
    }
    if let Some(roles) = &w.roles {
        if !roles.matches(&task.user.roles) {
            return false;
        }
    }
    if let Some(labels) = &w.labels {
        if !labels.matches(task.labels()) {
            return false;
        }
    }
    if let Some(has) = w.has_patient {
        if has != task.patient.is_some() {
            return false;
        }
    }
    if let Some(dev) = &w.device {
        if dev.shared.is_some_and(|s| s != task.device.shared)
            || dev.managed.is_some_and(|m| m != task.device.managed)
        {
            return false;
        }
    }
    if let Some(zones) = &w.zones {
        let zone = task.zone.as_slice();
        if !zones.matches(zone) {
            return false;
        }
    }
    if let Some(c) = w.connectivity {
        if c != task.connectivity {
            return false;
        }
    }
    if let Some(e) = w.emergency {
        if e != task.emergency.is_some() {
            return false;
        }
    }
    if let Some(rc) = w.role_changed {
        if rc != role_changed {
            return false;
        }
    }
    true
}
