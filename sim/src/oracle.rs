//! The safety oracle: was a task whose policy requirement is a step-up allowed on the strength
//! of an approval that meets that requirement?
//!
//! It is deliberately not `GrantClaims::covers`: it judges from the simulator's own ledger (the
//! task the clinician actually approved, when, how often the approval was spent) against the
//! requirement the policy states for the task when no grant is held. A bug in grant coverage,
//! in the session machine's spending of single-use grants, or a baseline's shortcut shows up
//! here as an unsafe allow.

use wardgate::grant::GrantClaims;
use wardgate::policy::{AuthenticatorAttachment, ScopeKind, StepUp};
use wardgate::task::TaskContext;

/// One passkey approval the simulated clinician gave.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The grant minted for it (`GrantClaims::for_step_up`).
    pub claims: GrantClaims,
    /// The task that was on screen when the clinician approved.
    pub task: TaskContext,
    /// When the ceremony completed (ms).
    pub approved_at_ms: u64,
    /// How many tasks went ahead on it so far.
    pub uses: u32,
}

/// Why an allow was unsafe.
pub type Why = String;

/// Does `approval` meet `requirement` for `task` (started at `started_at_ms`, going ahead at
/// `now_ms`, in session `session_id`)?
pub fn meets(
    approval: &Approval,
    task: &TaskContext,
    requirement: &StepUp,
    session_id: &str,
    started_at_ms: u64,
    now_ms: u64,
) -> Result<(), Why> {
    let c = &approval.claims;
    if c.sub != task.user.id || approval.task.user.id != task.user.id {
        return Err(format!(
            "approved by `{}`, not by `{}` who does the task",
            c.sub, task.user.id
        ));
    }
    if c.sid != session_id {
        return Err(String::from(
            "the approval belongs to another session (before a handoff)",
        ));
    }
    if c.dev != task.device.id {
        return Err(String::from("the approval was given on another device"));
    }
    if !c.amr.iter().any(|m| m == "mfa") {
        return Err(String::from("the approval was not user-verified"));
    }
    if now_ms >= c.exp.saturating_mul(1000) {
        return Err(String::from("the approval has expired"));
    }
    if requirement.max_auth_age_seconds == 0 {
        if approval.task.hash() != task.hash() {
            return Err(format!(
                "`{}` needs a fresh approval of this very task (maxAuthAge 0)",
                task.action
            ));
        }
        if (requirement.single_use || c.once) && approval.uses > 0 {
            return Err(String::from("a single-use approval spent a second time"));
        }
        if approval.approved_at_ms < started_at_ms {
            return Err(String::from(
                "the approval predates the task (maxAuthAge 0 asks for one now)",
            ));
        }
    } else {
        let max_ms = u64::from(requirement.max_auth_age_seconds).saturating_mul(1000);
        let age = now_ms.saturating_sub(approval.approved_at_ms);
        if age > max_ms {
            return Err(format!(
                "the approval is {} s old, the requirement allows {} s",
                age / 1000,
                requirement.max_auth_age_seconds
            ));
        }
    }
    if (requirement.single_use || c.once) && approval.uses > 0 {
        return Err(String::from(
            "the approval was already used and the requirement is single use",
        ));
    }
    let approved = c.scp.kind;
    if approved > requirement.scope {
        return Err(format!(
            "an approval of scope `{}` is wider than the `{}` the requirement allows",
            scope_name(approved),
            scope_name(requirement.scope)
        ));
    }
    if !same_within(approved, &approval.task, task) {
        return Err(match approved {
            ScopeKind::ActionPatient => format!(
                "the approval was for `{}` on `{}`, this is `{}` on `{}`",
                approval.task.action,
                approval.task.patient_id().unwrap_or("-"),
                task.action,
                task.patient_id().unwrap_or("-")
            ),
            _ => format!(
                "the approval was for another {} (`{}`)",
                scope_name(approved),
                approval.task.action
            ),
        });
    }
    if requirement.authenticator == AuthenticatorAttachment::CrossPlatform
        && c.att != AuthenticatorAttachment::CrossPlatform
    {
        return Err(String::from(
            "the requirement asks for a cross-platform authenticator",
        ));
    }
    Ok(())
}

/// Are `approved` and `task` the same thing at the width `kind`?
pub fn same_within(kind: ScopeKind, approved: &TaskContext, task: &TaskContext) -> bool {
    match kind {
        ScopeKind::Task => approved.hash() == task.hash(),
        ScopeKind::ActionPatient => {
            approved.action == task.action
                && approved.patient_id().is_some()
                && approved.patient_id() == task.patient_id()
        }
        ScopeKind::Action => approved.action == task.action,
        ScopeKind::Session => true,
    }
}

pub fn scope_name(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::Task => "task",
        ScopeKind::ActionPatient => "action-patient",
        ScopeKind::Action => "action",
        ScopeKind::Session => "session",
    }
}
