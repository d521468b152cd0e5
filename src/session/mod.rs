//! Session continuity as a pure state machine: `step(state, event, now) -> (state, effects)`.
//!
//! The browser layer feeds it page-lifecycle, connectivity, ceremony and cross-tab events and
//! carries out the effects (persist to sessionStorage, broadcast to sibling tabs, prompt, audit,
//! lock, wipe). Timers are data: every step first applies the idle and absolute limits lazily
//! against `now_ms`, because hidden tabs' timers are throttled and frozen tabs run none.
//!
//! Decisions where the spec was silent: a grant arriving from another tab while this one is
//! locked is still kept (the evaluator denies everything while locked, and unlocking should not
//! cost a second prompt for what the clinician earned elsewhere); a grant whose claims do not
//! bind to this tab's user, session and device is dropped and counted, never an error.

mod channel;

pub use channel::{ChannelKind, ChannelMessage};

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditKind, FrictionCounters, TaskRef};
use crate::error::{Error, Result, limits};
use crate::grant::GrantClaims;
use crate::policy::{Decision, Effect as DecisionEffect, SessionFacts, SessionLimits};
use crate::task::{Device, TaskContext, User};

/// Least time between two activity messages to sibling tabs.
pub const ACTIVITY_BROADCAST_MS: u64 = 30_000;

/// The current state format version.
pub const STATE_VERSION: u32 = 1;

/// Why a session is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockReason {
    Idle,
    Absolute,
    Manual,
}

/// Whether the clinician can work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status", from = "StatusJson")]
pub enum Status {
    Active,
    Locked {
        reason: LockReason,
        #[serde(rename = "sinceMs")]
        since_ms: u64,
    },
    LoggedOut,
}

/// `Status` as read: serde ignores unknown keys next to the tag of a unit variant even with
/// `deny_unknown_fields`, so every variant is a struct here.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status", deny_unknown_fields)]
enum StatusJson {
    Active {},
    Locked {
        reason: LockReason,
        #[serde(rename = "sinceMs")]
        since_ms: u64,
    },
    LoggedOut {},
}

impl From<StatusJson> for Status {
    fn from(s: StatusJson) -> Status {
        match s {
            StatusJson::Active {} => Status::Active,
            StatusJson::Locked { reason, since_ms } => Status::Locked { reason, since_ms },
            StatusJson::LoggedOut {} => Status::LoggedOut,
        }
    }
}

/// A grant held by this tab: the token (sent to the server) and its decoded claims (read here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeldGrant {
    pub token: String,
    pub claims: GrantClaims,
}

/// A task waiting for its step-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PendingTask {
    pub task: TaskContext,
    pub task_hash: String,
    pub requested_at_ms: u64,
    pub attempts: u32,
    /// Cut off by a tab or app switch; to be offered again.
    pub interrupted: bool,
    /// Offered again after an interruption (counts as resumed when it succeeds).
    #[serde(default)]
    pub resumed: bool,
}

/// The ceremony in this tab.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state", from = "CeremonyJson")]
pub enum Ceremony {
    #[default]
    Idle,
    Running {
        #[serde(rename = "taskHash")]
        task_hash: String,
        #[serde(rename = "startedAtMs")]
        started_at_ms: u64,
        #[serde(rename = "hiddenDuring")]
        hidden_during: bool,
    },
}

/// `Ceremony` as read (see `StatusJson`).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state", deny_unknown_fields)]
enum CeremonyJson {
    Idle {},
    Running {
        #[serde(rename = "taskHash")]
        task_hash: String,
        #[serde(rename = "startedAtMs")]
        started_at_ms: u64,
        #[serde(rename = "hiddenDuring")]
        hidden_during: bool,
    },
}

impl From<CeremonyJson> for Ceremony {
    fn from(c: CeremonyJson) -> Ceremony {
        match c {
            CeremonyJson::Idle {} => Ceremony::Idle,
            CeremonyJson::Running {
                task_hash,
                started_at_ms,
                hidden_during,
            } => Ceremony::Running {
                task_hash,
                started_at_ms,
                hidden_during,
            },
        }
    }
}

/// The whole session state of one tab (persisted to sessionStorage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    pub version: u32,
    pub session_id: String,
    pub user: Option<User>,
    pub device: Device,
    pub limits: SessionLimits,
    pub started_at_ms: u64,
    pub last_activity_ms: u64,
    pub last_strong_auth_ms: Option<u64>,
    pub roles_at_start: Vec<String>,
    pub status: Status,
    pub visible: bool,
    pub frozen: bool,
    pub online: bool,
    pub grants: Vec<HeldGrant>,
    pub spent_grants: Vec<String>,
    pub pending: Option<PendingTask>,
    pub ceremony: Ceremony,
    pub audit_seq: u64,
    pub counters: FrictionCounters,
    pub dropped_messages: u32,
    /// This page load's random id, set by the browser on every load (also after a reload or in
    /// a duplicated tab, which copies sessionStorage): audit ids are
    /// `<session>.<instance>.<seq>`, unique across sibling tabs.
    #[serde(default)]
    pub instance_id: String,
    /// When this tab last told its siblings about activity (throttled).
    #[serde(default)]
    pub last_activity_broadcast_ms: u64,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "kebab-case",
    tag = "type",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Event {
    Activity,
    ActivityElsewhere {
        at_ms: u64,
    },
    Hidden,
    Visible,
    PageHide,
    PageShow {
        persisted: bool,
    },
    Freeze,
    Resume,
    Online,
    Offline,
    Tick,
    Decided {
        task: TaskContext,
        decision: Decision,
    },
    CeremonyStarted {
        task: TaskContext,
    },
    CeremonySucceeded {
        token: String,
        claims: GrantClaims,
    },
    CeremonyCancelled {
        code: String,
    },
    CeremonyFailed {
        code: String,
    },
    CeremonyInterrupted {
        code: String,
    },
    /// A grant from another tab (a hint: kept only if it binds to this session).
    GrantEarned {
        token: String,
        claims: GrantClaims,
    },
    GrantRevoked {
        jti: String,
        here: bool,
    },
    GrantSpent {
        jti: String,
        here: bool,
    },
    Lock,
    /// Another tab locked. A manual lock applies here too; an idle or absolute lock only
    /// makes this tab check its own timers (its clinician may be active here).
    LockElsewhere {
        reason: LockReason,
    },
    Unlock {
        strong_auth_at_ms: u64,
    },
    /// Another tab unlocked with a passkey (audited there).
    UnlockElsewhere {
        strong_auth_at_ms: u64,
    },
    /// Another clinician takes the shared device.
    UserSwitch {
        session_id: String,
        user: User,
        strong_auth_at_ms: Option<u64>,
    },
    /// Another tab handed the device over: wipe here too, without re-broadcasting.
    HandoffElsewhere {
        session_id: String,
        user: User,
        strong_auth_at_ms: Option<u64>,
    },
    Logout {
        here: bool,
    },
    ChannelMessageDropped {
        reason: String,
    },
}

/// What the browser layer must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "kebab-case",
    tag = "type",
    rename_all_fields = "camelCase"
)]
pub enum Effect {
    Persist,
    Broadcast { message: ChannelMessage },
    Prompt { task: TaskContext },
    Audit { event: AuditEvent },
    Lock { reason: LockReason },
    Wipe,
    FlushAudit,
}

impl State {
    /// A fresh session for `user` on `device`.
    pub fn new(
        session_id: &str,
        user: User,
        device: Device,
        limits: SessionLimits,
        now_ms: u64,
        strong_auth_at_ms: Option<u64>,
    ) -> State {
        State {
            version: STATE_VERSION,
            session_id: session_id.to_string(),
            roles_at_start: user.roles.clone(),
            user: Some(user),
            device,
            limits,
            started_at_ms: now_ms,
            last_activity_ms: now_ms,
            last_strong_auth_ms: strong_auth_at_ms,
            status: Status::Active,
            visible: true,
            frozen: false,
            online: true,
            grants: Vec::new(),
            spent_grants: Vec::new(),
            pending: None,
            ceremony: Ceremony::Idle,
            audit_seq: 0,
            counters: FrictionCounters::default(),
            dropped_messages: 0,
            instance_id: String::new(),
            last_activity_broadcast_ms: 0,
        }
    }

    /// Restore persisted state; an unknown version or shape is a typed error (the caller starts
    /// a fresh session rather than trusting it).
    pub fn from_json(text: &str) -> Result<State> {
        if text.len() > limits::STATE_BYTES {
            return Err(Error::InputTooLarge {
                what: "session state",
                limit: limits::STATE_BYTES,
            });
        }
        #[derive(Deserialize)]
        struct V {
            version: Option<serde_json::Value>,
        }
        match serde_json::from_str::<V>(text) {
            Ok(V { version: Some(v) }) if v.as_u64() == Some(u64::from(STATE_VERSION)) => {}
            Ok(V { version }) => {
                return Err(Error::StateInvalid {
                    path: String::from("version"),
                    message: format!(
                        "state version `{}` is not {STATE_VERSION}",
                        version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| String::from("none"))
                    ),
                });
            }
            Err(_) => {} // the full parse below names the problem
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let crate::json::Obj::<State>(state) =
            serde_path_to_error::deserialize(&mut *de).map_err(|e| {
                Error::from_serde_path(e, |path, message| Error::StateInvalid { path, message })
            })?;
        Error::json_end(de, |path, message| Error::StateInvalid { path, message })?;
        state.validate()?;
        Ok(state)
    }

    /// What a restored state must satisfy beyond its types: a pending task is a valid task
    /// (it will be offered again), ids are ids, times fit in a JavaScript number.
    fn validate(&self) -> Result<()> {
        crate::task::check_id("sessionId", &self.session_id).map_err(|e| e.into_state(""))?;
        if let Some(p) = &self.pending {
            p.task
                .validate()
                .map_err(|e| e.into_state("pending.task."))?;
        }
        Error::check_time("startedAtMs", Some(self.started_at_ms))?;
        Error::check_time("lastActivityMs", Some(self.last_activity_ms))?;
        Error::check_time("lastStrongAuthMs", self.last_strong_auth_ms)
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Internal {
            message: e.to_string(),
        })
    }

    /// What the evaluator needs.
    pub fn facts(&self) -> SessionFacts {
        SessionFacts {
            session_id: self.session_id.clone(),
            started_at_ms: self.started_at_ms,
            last_activity_ms: Some(self.last_activity_ms),
            last_strong_auth_ms: self.last_strong_auth_ms,
            roles_at_start: self.roles_at_start.clone(),
            grants: self.grants.iter().map(|g| g.claims.clone()).collect(),
            spent_grants: self.spent_grants.clone(),
            locked: !matches!(self.status, Status::Active),
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self.status, Status::Active)
    }

    fn user_id(&self) -> Option<String> {
        self.user.as_ref().map(|u| u.id.clone())
    }

    fn binds(&self, c: &GrantClaims) -> bool {
        self.user.as_ref().is_some_and(|u| u.id == c.sub)
            && c.sid == self.session_id
            && c.dev == self.device.id
    }

    fn next_audit_id(&mut self) -> String {
        self.audit_seq = self.audit_seq.saturating_add(1);
        if self.instance_id.is_empty() {
            format!("{}.{}", self.session_id, self.audit_seq)
        } else {
            format!(
                "{}.{}.{}",
                self.session_id, self.instance_id, self.audit_seq
            )
        }
    }

    fn audit(&mut self, now_ms: u64, kind: AuditKind, outcome: &str) -> AuditEvent {
        let id = self.next_audit_id();
        AuditEvent::new(
            id,
            now_ms,
            kind,
            self.user_id(),
            &self.device.id,
            &self.session_id,
            outcome,
        )
    }

    fn message(&self, kind: ChannelKind) -> ChannelMessage {
        ChannelMessage {
            v: 1,
            session_id: self.session_id.clone(),
            kind,
        }
    }
}

/// Apply one event. Pure and total: never fails, never panics.
pub fn step(mut s: State, event: Event, now_ms: u64) -> (State, Vec<Effect>) {
    let mut fx: Vec<Effect> = Vec::new();
    let event_is_cancel = matches!(event, Event::CeremonyCancelled { .. });
    apply_timers(&mut s, now_ms, &mut fx);
    match event {
        Event::Activity => {
            if s.is_active() {
                s.last_activity_ms = s.last_activity_ms.max(now_ms);
                // Siblings must know, or a background tab would idle-lock the session the
                // clinician is using. Throttled: timers are minutes, a message per 30 s is plenty.
                if now_ms.saturating_sub(s.last_activity_broadcast_ms) >= ACTIVITY_BROADCAST_MS {
                    s.last_activity_broadcast_ms = now_ms;
                    let msg = s.message(ChannelKind::Activity { at_ms: now_ms });
                    fx.push(Effect::Broadcast { message: msg });
                }
            }
        }
        Event::ActivityElsewhere { at_ms } => {
            if s.is_active() {
                s.last_activity_ms = s.last_activity_ms.max(at_ms.min(now_ms));
            }
        }
        Event::Hidden => {
            s.visible = false;
            if let Ceremony::Running { hidden_during, .. } = &mut s.ceremony {
                if !*hidden_during {
                    s.counters.app_switches_during_prompt =
                        s.counters.app_switches_during_prompt.saturating_add(1);
                }
                *hidden_during = true;
            }
        }
        Event::Visible => {
            s.visible = true;
            s.frozen = false;
            if s.is_active() {
                if let Some(p) = s.pending.as_ref().filter(|p| p.interrupted) {
                    fx.push(Effect::Prompt {
                        task: p.task.clone(),
                    });
                }
            }
        }
        Event::PageHide | Event::Freeze => {
            if event == Event::Freeze {
                s.frozen = true;
            }
            fx.push(Effect::Persist);
            fx.push(Effect::FlushAudit);
        }
        Event::PageShow { persisted } => {
            s.frozen = false;
            if persisted {
                // bfcache restore: a dead session must not resume (OWASP ASVS 7.4.1).
                match s.status {
                    Status::Locked { reason, .. } => fx.push(Effect::Lock { reason }),
                    Status::LoggedOut => fx.push(Effect::Lock {
                        reason: LockReason::Manual,
                    }),
                    Status::Active => {}
                }
            }
        }
        Event::Resume => s.frozen = false,
        Event::Online => {
            s.online = true;
            fx.push(Effect::FlushAudit);
        }
        Event::Offline => s.online = false,
        Event::Tick => {}
        Event::Decided { task, decision } => {
            if s.user.is_some() {
                s.counters.decisions = s.counters.decisions.saturating_add(1);
                match decision.effect {
                    DecisionEffect::Allow => {
                        s.counters.allowed_without_prompt =
                            s.counters.allowed_without_prompt.saturating_add(1);
                        if decision.grant_id.is_some() {
                            s.counters.grants_reused = s.counters.grants_reused.saturating_add(1);
                        }
                    }
                    DecisionEffect::BreakGlass => {
                        s.counters.break_glass = s.counters.break_glass.saturating_add(1);
                    }
                    _ => {}
                }
                let id = s.next_audit_id();
                let ev = AuditEvent::for_decision(id, now_ms, &s.session_id, &task, &decision);
                fx.push(Effect::Audit { event: ev });
                if decision.effect == DecisionEffect::BreakGlass {
                    let mut ev = s.audit(now_ms, AuditKind::BreakGlassStart, "break-glass");
                    ev.task = Some(TaskRef::of(&task));
                    ev.reason = task.emergency.as_ref().map(|e| e.reason.clone());
                    ev.rule_ids = decision.rule_ids.clone();
                    ev.review_required = true;
                    fx.push(Effect::Audit { event: ev });
                }
                // A pending task decided again without a step-up (a grant now covers it, it is
                // denied, it needs the connection) is settled: never offer it again.
                if decision.effect != DecisionEffect::StepUp {
                    let hash = task.hash().to_hex();
                    if s.pending.as_ref().is_some_and(|p| p.task_hash == hash) {
                        s.pending = None;
                        fx.push(Effect::Persist);
                    }
                }
            }
        }
        Event::CeremonyStarted { task } => {
            if s.is_active() {
                let hash = task.hash().to_hex();
                let attempts = s
                    .pending
                    .as_ref()
                    .filter(|p| p.task_hash == hash)
                    .map_or(0, |p| p.attempts);
                let resumed = s
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.task_hash == hash && (p.interrupted || p.resumed));
                s.pending = Some(PendingTask {
                    task: task.clone(),
                    task_hash: hash.clone(),
                    requested_at_ms: now_ms,
                    attempts: attempts.saturating_add(1),
                    interrupted: false,
                    resumed,
                });
                s.ceremony = Ceremony::Running {
                    task_hash: hash,
                    started_at_ms: now_ms,
                    hidden_during: !s.visible,
                };
                s.counters.prompts = s.counters.prompts.saturating_add(1);
                let mut ev = s.audit(now_ms, AuditKind::CeremonyStarted, "prompt");
                ev.task = Some(TaskRef::of(&task));
                fx.push(Effect::Audit { event: ev });
                fx.push(Effect::Persist);
            }
        }
        Event::CeremonySucceeded { token, claims } => {
            let started = ceremony_started(&s);
            let was_interrupted = s
                .pending
                .as_ref()
                .is_some_and(|p| p.interrupted || p.resumed);
            let task = s.pending.take().map(|p| p.task);
            s.ceremony = Ceremony::Idle;
            if s.binds(&claims) && claims.exp.saturating_mul(1000) > now_ms {
                s.counters.approvals = s.counters.approvals.saturating_add(1);
                s.counters.current_failure_streak = 0;
                if was_interrupted {
                    s.counters.resumed = s.counters.resumed.saturating_add(1);
                }
                s.last_strong_auth_ms = Some(claims.auth_time.saturating_mul(1000));
                s.last_activity_ms = s.last_activity_ms.max(now_ms);
                let mut ev = s.audit(now_ms, AuditKind::CeremonySucceeded, "ok");
                ev.task = task.as_ref().map(TaskRef::of);
                ev.duration_ms = started.map(|t| now_ms.saturating_sub(t));
                ev.grant_id = Some(claims.jti.clone());
                fx.push(Effect::Audit { event: ev });
                let msg = s.message(ChannelKind::Grant {
                    token: token.clone(),
                });
                hold(&mut s, token, claims);
                fx.push(Effect::Broadcast { message: msg });
            } else {
                s.counters.failures = s.counters.failures.saturating_add(1);
                bump_streak(&mut s);
                let mut ev = s.audit(now_ms, AuditKind::GrantDropped, "WARDGATE_GRANT_MISMATCH");
                ev.task = task.as_ref().map(TaskRef::of);
                ev.grant_id = Some(claims.jti.clone());
                fx.push(Effect::Audit { event: ev });
            }
            fx.push(Effect::Persist);
        }
        Event::CeremonyCancelled { code } | Event::CeremonyFailed { code } => {
            let started = ceremony_started(&s);
            let task = s.pending.take().map(|p| p.task);
            s.ceremony = Ceremony::Idle;
            let cancelled = event_is_cancel;
            let kind = if cancelled {
                s.counters.cancels = s.counters.cancels.saturating_add(1);
                AuditKind::CeremonyCancelled
            } else {
                s.counters.failures = s.counters.failures.saturating_add(1);
                AuditKind::CeremonyFailed
            };
            bump_streak(&mut s);
            let mut ev = s.audit(now_ms, kind, &code);
            ev.task = task.as_ref().map(TaskRef::of);
            ev.duration_ms = started.map(|t| now_ms.saturating_sub(t));
            fx.push(Effect::Audit { event: ev });
            fx.push(Effect::Persist);
        }
        Event::CeremonyInterrupted { code } => {
            s.ceremony = Ceremony::Idle;
            if let Some(p) = s.pending.as_mut() {
                p.interrupted = true;
                s.counters.interrupted = s.counters.interrupted.saturating_add(1);
                let task = TaskRef::of(&p.task);
                let mut ev = s.audit(now_ms, AuditKind::CeremonyInterrupted, &code);
                ev.task = Some(task);
                fx.push(Effect::Audit { event: ev });
                if s.visible && s.is_active() {
                    if let Some(p) = &s.pending {
                        fx.push(Effect::Prompt {
                            task: p.task.clone(),
                        });
                    }
                }
            }
            fx.push(Effect::Persist);
        }
        Event::GrantEarned { token, claims } => {
            if s.user.is_some() && s.binds(&claims) && claims.exp.saturating_mul(1000) > now_ms {
                let covers_pending = s.pending.as_ref().is_some_and(|p| {
                    claims.scp.task.as_deref() == Some(p.task_hash.as_str())
                        || (claims.scp.actions.contains(&p.task.action)
                            && (claims.scp.patient.is_none()
                                || claims.scp.patient.as_deref() == p.task.patient_id()))
                });
                if covers_pending && s.ceremony == Ceremony::Idle {
                    s.pending = None;
                }
                hold(&mut s, token, claims);
                fx.push(Effect::Persist);
            } else {
                s.dropped_messages = s.dropped_messages.saturating_add(1);
                let mut ev = s.audit(now_ms, AuditKind::GrantDropped, "WARDGATE_GRANT_MISMATCH");
                ev.grant_id = Some(claims.jti.clone());
                ev.reason = Some(String::from(
                    "a grant from another tab does not bind to this session",
                ));
                fx.push(Effect::Audit { event: ev });
            }
        }
        Event::GrantRevoked { jti, here } => {
            let before = s.grants.len();
            s.grants.retain(|g| g.claims.jti != jti);
            if here {
                let mut ev = s.audit(now_ms, AuditKind::GrantRevoked, "ok");
                ev.grant_id = Some(jti.clone());
                fx.push(Effect::Audit { event: ev });
            }
            if s.grants.len() != before || here {
                fx.push(Effect::Persist);
            }
            if here {
                let msg = s.message(ChannelKind::Revoke { jti });
                fx.push(Effect::Broadcast { message: msg });
            }
        }
        Event::GrantSpent { jti, here } => {
            if !s.spent_grants.contains(&jti) {
                if s.spent_grants.len() >= limits::LIST_ITEMS {
                    s.spent_grants.remove(0);
                }
                s.spent_grants.push(jti.clone());
            }
            s.grants.retain(|g| !(g.claims.once && g.claims.jti == jti));
            if here {
                let mut ev = s.audit(now_ms, AuditKind::GrantUsed, "ok");
                ev.grant_id = Some(jti.clone());
                fx.push(Effect::Audit { event: ev });
                let msg = s.message(ChannelKind::Spent { jti });
                fx.push(Effect::Broadcast { message: msg });
            }
            fx.push(Effect::Persist);
        }
        Event::Lock => {
            if s.is_active() {
                lock(&mut s, LockReason::Manual, now_ms, &mut fx, true);
            }
        }
        Event::LockElsewhere { reason } => {
            if s.is_active() && reason == LockReason::Manual {
                lock(&mut s, LockReason::Manual, now_ms, &mut fx, false);
            }
        }
        Event::UnlockElsewhere { strong_auth_at_ms } => {
            if matches!(s.status, Status::Locked { .. }) && s.user.is_some() {
                s.status = Status::Active;
                s.last_activity_ms = now_ms;
                s.last_strong_auth_ms = Some(strong_auth_at_ms.min(now_ms));
                if let Some(p) = &s.pending {
                    fx.push(Effect::Prompt {
                        task: p.task.clone(),
                    });
                }
                fx.push(Effect::Persist);
            }
        }
        Event::Unlock { strong_auth_at_ms } => {
            if matches!(s.status, Status::Locked { .. }) && s.user.is_some() {
                let auth = strong_auth_at_ms.min(now_ms);
                s.status = Status::Active;
                s.last_activity_ms = now_ms;
                s.last_strong_auth_ms = Some(auth);
                let ev = s.audit(now_ms, AuditKind::Unlock, "ok");
                fx.push(Effect::Audit { event: ev });
                let msg = s.message(ChannelKind::Unlock { at_ms: auth });
                fx.push(Effect::Broadcast { message: msg });
                if let Some(p) = &s.pending {
                    fx.push(Effect::Prompt {
                        task: p.task.clone(),
                    });
                }
                fx.push(Effect::Persist);
            }
        }
        Event::UserSwitch {
            session_id,
            user,
            strong_auth_at_ms,
        } => {
            s = handoff(
                s,
                &session_id,
                user,
                strong_auth_at_ms,
                true,
                now_ms,
                &mut fx,
            );
        }
        Event::HandoffElsewhere {
            session_id,
            user,
            strong_auth_at_ms,
        } => {
            s = handoff(
                s,
                &session_id,
                user,
                strong_auth_at_ms,
                false,
                now_ms,
                &mut fx,
            );
        }
        Event::Logout { here } => {
            if s.status != Status::LoggedOut {
                fx.insert(0, Effect::Wipe);
                if here {
                    let ev = s.audit(now_ms, AuditKind::Logout, "ok");
                    fx.push(Effect::Audit { event: ev });
                }
                s.status = Status::LoggedOut;
                s.user = None;
                s.grants.clear();
                s.spent_grants.clear();
                s.pending = None;
                s.ceremony = Ceremony::Idle;
                if here {
                    let msg = s.message(ChannelKind::Logout);
                    fx.push(Effect::Broadcast { message: msg });
                }
                fx.push(Effect::Persist);
            }
        }
        Event::ChannelMessageDropped { reason } => {
            s.dropped_messages = s.dropped_messages.saturating_add(1);
            let mut ev = s.audit(
                now_ms,
                AuditKind::ChannelMessageDropped,
                "WARDGATE_STATE_INVALID",
            );
            ev.reason = Some(crate::task::truncate_for_message(&reason));
            fx.push(Effect::Audit { event: ev });
        }
    }
    (s, fx)
}

/// Wipe everything of the previous clinician (first effect), then start the new clinician's
/// session; broadcast only when the handoff happened in this tab.
fn handoff(
    old: State,
    session_id: &str,
    user: User,
    strong_auth_at_ms: Option<u64>,
    here: bool,
    now_ms: u64,
    fx: &mut Vec<Effect>,
) -> State {
    let previous = old.user_id();
    fx.insert(0, Effect::Wipe);
    let mut s = State::new(
        session_id,
        user.clone(),
        old.device.clone(),
        old.limits,
        now_ms,
        strong_auth_at_ms,
    );
    s.visible = old.visible;
    s.online = old.online;
    s.counters.handoffs = old.counters.handoffs.saturating_add(1);
    // Carry the audit sequence over, so ids stay unique even if a session id came back.
    s.audit_seq = old.audit_seq;
    s.instance_id = old.instance_id.clone();
    if here {
        let mut ev = s.audit(now_ms, AuditKind::Handoff, "ok");
        ev.previous_user_id = previous;
        ev.reason = Some(format!("handoff from session `{}`", old.session_id));
        fx.push(Effect::Audit { event: ev });
        fx.push(Effect::Broadcast {
            message: ChannelMessage {
                v: 1,
                session_id: old.session_id.clone(),
                kind: ChannelKind::Handoff {
                    new_session_id: session_id.to_string(),
                    user,
                    strong_auth_at_ms,
                },
            },
        });
    }
    fx.push(Effect::Persist);
    s
}

fn ceremony_started(s: &State) -> Option<u64> {
    match &s.ceremony {
        Ceremony::Running { started_at_ms, .. } => Some(*started_at_ms),
        Ceremony::Idle => None,
    }
}

fn bump_streak(s: &mut State) {
    s.counters.current_failure_streak = s.counters.current_failure_streak.saturating_add(1);
    s.counters.max_failure_streak = s
        .counters
        .max_failure_streak
        .max(s.counters.current_failure_streak);
}

fn hold(s: &mut State, token: String, claims: GrantClaims) {
    s.grants.retain(|g| g.claims.jti != claims.jti);
    if s.grants.len() >= limits::LIST_ITEMS {
        // Drop the grant that expires first rather than grow without bound.
        if let Some(i) = s
            .grants
            .iter()
            .enumerate()
            .min_by_key(|(_, g)| g.claims.exp)
            .map(|(i, _)| i)
        {
            s.grants.remove(i);
        }
    }
    s.grants.push(HeldGrant { token, claims });
}

fn lock(s: &mut State, reason: LockReason, now_ms: u64, fx: &mut Vec<Effect>, broadcast: bool) {
    s.status = Status::Locked {
        reason,
        since_ms: now_ms,
    };
    s.ceremony = Ceremony::Idle;
    s.counters.locks = s.counters.locks.saturating_add(1);
    fx.push(Effect::Lock { reason });
    if !broadcast {
        // Locked because another tab did: that tab audited and announced it.
        fx.push(Effect::Persist);
        return;
    }
    let mut ev = s.audit(now_ms, AuditKind::Lock, "ok");
    ev.reason = Some(
        match reason {
            LockReason::Idle => "idle limit reached",
            LockReason::Absolute => "absolute session limit reached",
            LockReason::Manual => "locked by the clinician",
        }
        .to_string(),
    );
    fx.push(Effect::Audit { event: ev });
    let msg = s.message(ChannelKind::Lock { reason });
    fx.push(Effect::Broadcast { message: msg });
    fx.push(Effect::Persist);
}

fn apply_timers(s: &mut State, now_ms: u64, fx: &mut Vec<Effect>) {
    if s.is_active() && s.user.is_some() {
        let auth_base = s.last_strong_auth_ms.unwrap_or(s.started_at_ms);
        if auth_base.saturating_add(s.limits.absolute_limit_ms) <= now_ms {
            lock(s, LockReason::Absolute, now_ms, fx, true);
        } else if s.last_activity_ms.saturating_add(s.limits.idle_lock_ms) <= now_ms {
            lock(s, LockReason::Idle, now_ms, fx, true);
        }
    }
    let before = s.grants.len();
    s.grants
        .retain(|g| g.claims.exp.saturating_mul(1000) > now_ms);
    if s.grants.len() != before && !fx.contains(&Effect::Persist) {
        fx.push(Effect::Persist);
    }
}

/// Turn a validated message from another tab into an event for this tab. A message for
/// another session is dropped (and counted by the caller via `ChannelMessageDropped`).
/// `decode_grant` turns a token into claims (the caller passes `grant::decode`).
pub fn event_from_channel(
    s: &State,
    msg: ChannelMessage,
    decode_grant: fn(&str) -> Result<GrantClaims>,
) -> Event {
    if msg.session_id != s.session_id {
        return Event::ChannelMessageDropped {
            reason: String::from("message for another session"),
        };
    }
    match msg.kind {
        ChannelKind::Grant { token } => match decode_grant(&token) {
            Ok(claims) => Event::GrantEarned { token, claims },
            Err(e) => Event::ChannelMessageDropped {
                reason: format!("grant: {}", e.code()),
            },
        },
        ChannelKind::Revoke { jti } => Event::GrantRevoked { jti, here: false },
        ChannelKind::Spent { jti } => Event::GrantSpent { jti, here: false },
        ChannelKind::Lock { reason } => Event::LockElsewhere { reason },
        ChannelKind::Unlock { at_ms } => Event::UnlockElsewhere {
            strong_auth_at_ms: at_ms,
        },
        ChannelKind::Handoff {
            new_session_id,
            user,
            strong_auth_at_ms,
        } => Event::HandoffElsewhere {
            session_id: new_session_id,
            user,
            strong_auth_at_ms,
        },
        ChannelKind::Logout => Event::Logout { here: false },
        ChannelKind::Activity { at_ms } => Event::ActivityElsewhere { at_ms },
    }
}
