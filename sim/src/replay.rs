//! Replay a trace through wardgate's core, the way the browser gate (`src/browser/gate.rs`)
//! drives it, and through two baselines on the same session machine.
//!
//! Per device the simulator keeps one `session::State` and feeds it what the browser would:
//! `Tick` and `Activity` at a task, `Decided` with the policy's decision, `CeremonyStarted`
//! when a step-up prompts, `CeremonySucceeded` with a grant from `GrantClaims::for_step_up`
//! when the (simulated) clinician approves, `GrantSpent` when a single-use grant is used,
//! `Hidden`/`Visible` and `CeremonyInterrupted` around tab and app switches (and the prompt
//! offered again on return), `Unlock` after an idle lock, `UserSwitch` at a handoff,
//! `Offline`/`Online`. Time comes from the trace only.
//!
//! Strategies:
//! - `wardgate`: `Policy::evaluate` with the grants the session holds.
//! - `every-action`: a prompt for every task whose no-grant decision is a step-up.
//! - `reauth-15min`: a prompt at the first such task once 15 minutes have passed since the
//!   clinician's last re-authentication in this session; in between, every such task is
//!   allowed.

use std::collections::BTreeMap;

use serde::Serialize;
use wardgate::audit::FrictionCounters;
use wardgate::grant::{GrantClaims, Issue};
use wardgate::policy::{
    AllowedBy, AuthenticatorAttachment, Decision, Effect as Verdict, Policy, ScopeKind,
    SessionFacts, StepUp, UserVerification,
};
use wardgate::session::{self, Effect, Event, State};
use wardgate::task::{Connectivity, Device, Emergency, TaskContext, User};

use crate::oracle::{self, Approval};
use crate::trace::{DEFAULT_DEVICE, TaskLine, Trace, TraceEvent, device};

/// How long a user-verified platform passkey approval takes (ms).
pub const APPROVE_MS: u64 = 5_000;
/// How long a cross-platform approval (security key, phone over hybrid) takes (ms).
pub const APPROVE_CROSS_PLATFORM_MS: u64 = 15_000;
/// The `reauth-15min` baseline's window.
pub const REAUTH_WINDOW_MS: u64 = 15 * 60_000;
/// The error code the browser maps a `get()` cut off by a tab or app switch to.
pub const INTERRUPTED_CODE: &str = "WARDGATE_CEREMONY_NOT_ALLOWED";
/// The error code of a ceremony given up (a new one, a handoff, an unlock on return).
pub const ABORTED_CODE: &str = "WARDGATE_CEREMONY_ABORTED";
const ISSUER: &str = "https://ward.example";

/// Who decides whether a protected task prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Wardgate,
    EveryAction,
    #[serde(rename = "reauth-15min")]
    Reauth15,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [
        Strategy::Wardgate,
        Strategy::EveryAction,
        Strategy::Reauth15,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Wardgate => "wardgate",
            Strategy::EveryAction => "every-action",
            Strategy::Reauth15 => "reauth-15min",
        }
    }
}

/// What happened during a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Task lines.
    pub tasks: u64,
    /// Tasks whose decision with no grant held is a step-up.
    pub protected: u64,
    /// Tasks that went ahead (by policy, grant, re-auth window, ceremony or break-glass).
    pub executed: u64,
    pub allowed_by_policy: u64,
    /// Allowed without a prompt thanks to an earlier approval: a covering grant (wardgate) or
    /// the 15-minute window (`reauth-15min`).
    pub grants_reused: u64,
    /// Passkey prompts shown (ceremonies started, a prompt offered again after an
    /// interruption included).
    pub prompts: u64,
    /// Ceremonies the clinician completed.
    pub approvals: u64,
    /// Ceremonies cut off by a tab or app switch.
    pub interrupted: u64,
    /// Approvals that completed after an interruption.
    pub resumed: u64,
    /// Interrupted prompts never completed (handoff, lock, the clinician moved on).
    pub abandoned: u64,
    pub locks: u64,
    pub unlocks: u64,
    pub handoffs: u64,
    pub break_glass: u64,
    pub needs_connection: u64,
    pub denied: u64,
    /// Protected tasks allowed without an approval that meets the policy's requirement.
    pub unsafe_allows: u64,
}

impl Metrics {
    pub fn add(&mut self, o: &Metrics) {
        let pairs: [(&mut u64, u64); 17] = [
            (&mut self.tasks, o.tasks),
            (&mut self.protected, o.protected),
            (&mut self.executed, o.executed),
            (&mut self.allowed_by_policy, o.allowed_by_policy),
            (&mut self.grants_reused, o.grants_reused),
            (&mut self.prompts, o.prompts),
            (&mut self.approvals, o.approvals),
            (&mut self.interrupted, o.interrupted),
            (&mut self.resumed, o.resumed),
            (&mut self.abandoned, o.abandoned),
            (&mut self.locks, o.locks),
            (&mut self.unlocks, o.unlocks),
            (&mut self.handoffs, o.handoffs),
            (&mut self.break_glass, o.break_glass),
            (&mut self.needs_connection, o.needs_connection),
            (&mut self.denied, o.denied),
            (&mut self.unsafe_allows, o.unsafe_allows),
        ];
        for (a, b) in pairs {
            *a = a.saturating_add(b);
        }
    }
}

/// One unsafe allow, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnsafeAllow {
    pub line: usize,
    pub t: u64,
    pub clinician: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    pub why: String,
}

/// The outcome of one strategy on one trace.
#[derive(Debug, Clone)]
pub struct Run {
    pub strategy: Strategy,
    pub metrics: Metrics,
    /// When each prompt was shown (trace ms).
    pub prompt_times: Vec<u64>,
    /// Prompts per action.
    pub prompts_by_action: BTreeMap<String, u64>,
    /// Prompts per cause: `first` (nothing approved covered it), `per-task` (the requirement
    /// asks for a fresh approval of each task), `expired` (an earlier approval of this session
    /// would have matched but is too old), `after-handoff` (the clinician approved it in an
    /// earlier session on this device, still young enough, wiped by the handoff), `covered`
    /// (an approval of this session still covers it: only a baseline prompts then).
    pub prompt_causes: BTreeMap<String, u64>,
    pub unsafe_allows: Vec<UnsafeAllow>,
    /// The session machine's own friction counters, summed over sessions (they restart at
    /// each handoff).
    pub counters: FrictionCounters,
}

#[derive(Debug, Clone)]
enum Phase {
    Running {
        end: u64,
    },
    /// Cut off by a switch; offered again when the tab is visible.
    Waiting,
}

#[derive(Debug, Clone)]
struct Flight {
    task: TaskContext,
    requirement: StepUp,
    line: usize,
    started_at: u64,
    approve_ms: Option<u64>,
    phase: Phase,
    interrupted: bool,
}

#[derive(Debug)]
struct Lane {
    state: State,
    flight: Option<Flight>,
    ledger: Vec<Approval>,
    reauth_at: Option<u64>,
}

#[derive(Debug)]
struct Window {
    device: String,
    until: u64,
    patient: Option<String>,
    reason: String,
}

/// A task on its way: where it came from and when it was started.
#[derive(Debug, Clone)]
struct Pending {
    line: usize,
    started_at: u64,
    approve_ms: Option<u64>,
    interrupted: bool,
}

#[derive(Debug)]
struct Ctx<'a> {
    policy: &'a Policy,
    strategy: Strategy,
    online: bool,
    metrics: Metrics,
    prompt_times: Vec<u64>,
    prompts_by_action: BTreeMap<String, u64>,
    prompt_causes: BTreeMap<String, u64>,
    /// Every approval of the replay, with its session.
    history: Vec<Approval>,
    unsafe_allows: Vec<UnsafeAllow>,
    counters: FrictionCounters,
    sessions: u64,
    jtis: u64,
    emergencies: Vec<Window>,
}

/// Which running ceremonies an event lets finish early.
#[derive(Debug, Clone, Copy)]
enum Settle<'a> {
    /// Only those due by now.
    Due,
    /// The clinician moved on on this device: its ceremony was approved just before.
    Device(&'a str),
    /// Something every device sees (an idle gap, the network).
    All,
}

/// Replay `trace` under `strategy`.
pub fn replay(policy: &Policy, trace: &Trace, strategy: Strategy) -> Run {
    let mut ctx = Ctx {
        policy,
        strategy,
        online: true,
        metrics: Metrics::default(),
        prompt_times: Vec::new(),
        prompts_by_action: BTreeMap::new(),
        prompt_causes: BTreeMap::new(),
        history: Vec::new(),
        unsafe_allows: Vec::new(),
        counters: FrictionCounters::default(),
        sessions: 0,
        jtis: 0,
        emergencies: Vec::new(),
    };
    let mut lanes: Vec<Lane> = Vec::new();
    for (n, line) in &trace.lines {
        let t = line.t;
        match &line.event {
            TraceEvent::Task(task) => {
                let dev = task.device();
                settle(&mut ctx, &mut lanes, t, Settle::Device(&dev.id));
                let user = User {
                    id: task.clinician.clone(),
                    roles: task.roles.clone(),
                };
                let i = lane_for(&mut ctx, &mut lanes, dev, user, t);
                if let Some(lane) = lanes.get_mut(i) {
                    on_task(&mut ctx, lane, *n, task, t);
                }
            }
            TraceEvent::TabSwitch { ms, device } | TraceEvent::AppSwitch { ms, device } => {
                settle(&mut ctx, &mut lanes, t, Settle::Due);
                let id = device.as_deref().unwrap_or(DEFAULT_DEVICE);
                if let Some(lane) = lanes.iter_mut().find(|l| l.state.device.id == id) {
                    on_switch(&mut ctx, lane, t, *ms);
                }
            }
            TraceEvent::Idle { ms } => {
                settle(&mut ctx, &mut lanes, t, Settle::All);
                let end = t.saturating_add(*ms);
                for lane in &mut lanes {
                    feed(&mut ctx, lane, Event::Tick, end);
                }
            }
            TraceEvent::Handoff {
                to,
                roles,
                device: id,
                shared,
                managed,
            } => {
                let dev = device(id.as_deref(), *shared, *managed);
                settle(&mut ctx, &mut lanes, t, Settle::Device(&dev.id));
                let user = User {
                    id: to.clone(),
                    roles: roles.clone(),
                };
                match lanes.iter_mut().find(|l| l.state.device.id == dev.id) {
                    Some(lane) => handoff(&mut ctx, lane, user, t),
                    None => {
                        lane_for(&mut ctx, &mut lanes, dev, user, t);
                    }
                }
            }
            TraceEvent::Offline {} | TraceEvent::Online {} => {
                settle(&mut ctx, &mut lanes, t, Settle::All);
                let offline = matches!(line.event, TraceEvent::Offline {});
                ctx.online = !offline;
                for lane in &mut lanes {
                    let event = if offline {
                        Event::Offline
                    } else {
                        Event::Online
                    };
                    feed(&mut ctx, lane, event, t);
                }
            }
            TraceEvent::Emergency {
                reason,
                ms,
                patient,
                device: id,
            } => {
                settle(&mut ctx, &mut lanes, t, Settle::Due);
                ctx.emergencies.push(Window {
                    device: id.as_deref().unwrap_or(DEFAULT_DEVICE).to_string(),
                    until: t.saturating_add(*ms),
                    patient: patient.clone(),
                    reason: reason.clone(),
                });
            }
        }
    }
    settle(&mut ctx, &mut lanes, u64::MAX, Settle::Due);
    for lane in &mut lanes {
        if lane.flight.take().is_some() {
            ctx.metrics.abandoned = ctx.metrics.abandoned.saturating_add(1);
        }
        add_counters(&mut ctx.counters, &lane.state.counters);
        ctx.counters.handoffs = ctx
            .counters
            .handoffs
            .saturating_add(lane.state.counters.handoffs);
    }
    Run {
        strategy,
        metrics: ctx.metrics,
        prompt_times: ctx.prompt_times,
        prompts_by_action: ctx.prompts_by_action,
        prompt_causes: ctx.prompt_causes,
        unsafe_allows: ctx.unsafe_allows,
        counters: ctx.counters,
    }
}

/// Sum friction counters (all but `handoffs`, which a session carries over itself).
fn add_counters(acc: &mut FrictionCounters, c: &FrictionCounters) {
    let pairs: [(&mut u32, u32); 12] = [
        (&mut acc.decisions, c.decisions),
        (&mut acc.allowed_without_prompt, c.allowed_without_prompt),
        (&mut acc.grants_reused, c.grants_reused),
        (&mut acc.prompts, c.prompts),
        (&mut acc.approvals, c.approvals),
        (&mut acc.cancels, c.cancels),
        (&mut acc.failures, c.failures),
        (&mut acc.interrupted, c.interrupted),
        (&mut acc.resumed, c.resumed),
        (
            &mut acc.app_switches_during_prompt,
            c.app_switches_during_prompt,
        ),
        (&mut acc.break_glass, c.break_glass),
        (&mut acc.locks, c.locks),
    ];
    for (a, b) in pairs {
        *a = a.saturating_add(b);
    }
    acc.max_failure_streak = acc.max_failure_streak.max(c.max_failure_streak);
}

/// The lane of `dev`, signing `user` in on it when nobody holds it yet.
fn lane_for(ctx: &mut Ctx<'_>, lanes: &mut Vec<Lane>, dev: Device, user: User, t: u64) -> usize {
    if let Some(i) = lanes.iter().position(|l| l.state.device.id == dev.id) {
        return i;
    }
    let limits = ctx.policy.session_limits(dev.shared);
    let id = next_session(ctx);
    let strong = ctx.online.then_some(t);
    let mut state = State::new(&id, user, dev, limits, t, strong);
    state.instance_id = String::from("sim");
    let mut lane = Lane {
        state,
        flight: None,
        ledger: Vec::new(),
        reauth_at: None,
    };
    if !ctx.online {
        feed(ctx, &mut lane, Event::Offline, t);
    }
    lanes.push(lane);
    lanes.len().saturating_sub(1)
}

fn next_session(ctx: &mut Ctx<'_>) -> String {
    ctx.sessions = ctx.sessions.saturating_add(1);
    format!("s{}", ctx.sessions)
}

/// Feed one event to the session machine; count locks; return the effects.
fn feed(ctx: &mut Ctx<'_>, lane: &mut Lane, event: Event, now: u64) -> Vec<Effect> {
    let (next, effects) = session::step(lane.state.clone(), event, now);
    lane.state = next;
    for e in &effects {
        if matches!(e, Effect::Lock { .. }) {
            ctx.metrics.locks = ctx.metrics.locks.saturating_add(1);
        }
    }
    effects
}

fn settle(ctx: &mut Ctx<'_>, lanes: &mut [Lane], t: u64, how: Settle<'_>) {
    for lane in lanes.iter_mut() {
        let Some(Flight {
            phase: Phase::Running { end },
            ..
        }) = lane.flight
        else {
            continue;
        };
        let early = match how {
            Settle::Due => false,
            Settle::Device(id) => lane.state.device.id == id,
            Settle::All => true,
        };
        if end <= t {
            complete(ctx, lane, end);
        } else if early {
            complete(ctx, lane, t);
        }
    }
}

/// Session facts as if no grant were held: what the policy asks of the task by itself.
fn without_grants(state: &State) -> SessionFacts {
    let mut facts = state.facts();
    facts.grants.clear();
    facts
}

fn strictest() -> StepUp {
    StepUp {
        user_verification: UserVerification::Required,
        max_auth_age_seconds: 0,
        scope: ScopeKind::Task,
        grant_lifetime_seconds: 1,
        authenticator: AuthenticatorAttachment::CrossPlatform,
        single_use: true,
    }
}

fn on_task(ctx: &mut Ctx<'_>, lane: &mut Lane, n: usize, line: &TaskLine, t: u64) {
    ctx.metrics.tasks = ctx.metrics.tasks.saturating_add(1);
    feed(ctx, lane, Event::Tick, t);
    let mut task = line.context();
    if !lane.state.online {
        task.connectivity = Connectivity::Offline;
    }
    if task.emergency.is_none() {
        task.emergency = ctx
            .emergencies
            .iter()
            .rev()
            .find(|w| {
                w.device == task.device.id
                    && w.until > t
                    && w.patient
                        .as_deref()
                        .is_none_or(|p| Some(p) == task.patient_id())
            })
            .map(|w| Emergency {
                reason: w.reason.clone(),
            });
    }
    if !lane.state.is_active() {
        if lane.state.online {
            // The clinician unlocks with a passkey (a sign-in, not a step-up).
            let effects = feed(
                ctx,
                lane,
                Event::Unlock {
                    strong_auth_at_ms: t,
                },
                t,
            );
            ctx.metrics.unlocks = ctx.metrics.unlocks.saturating_add(1);
            if effects.iter().any(|e| matches!(e, Effect::Prompt { .. })) {
                // A prompt cut off before the lock: the clinician has moved on to this task.
                abandon(ctx, lane, t);
            }
        } else {
            // Unlocking needs the server.
            let protected = ctx.policy.evaluate(&task, &without_grants(&lane.state), t);
            count_protected(ctx, &protected);
            let d = ctx.policy.evaluate(&task, &lane.state.facts(), t);
            feed(ctx, lane, Event::Decided { task, decision: d }, t);
            ctx.metrics.needs_connection = ctx.metrics.needs_connection.saturating_add(1);
            return;
        }
    }
    feed(ctx, lane, Event::Activity, t);
    let pending = Pending {
        line: n,
        started_at: t,
        approve_ms: line.approve_ms,
        interrupted: false,
    };
    decide(ctx, lane, task, pending, t, false);
}

fn count_protected(ctx: &mut Ctx<'_>, no_grant: &Decision) {
    if no_grant.effect == Verdict::StepUp {
        ctx.metrics.protected = ctx.metrics.protected.saturating_add(1);
    }
}

/// Decide a task (first time, or again when an interrupted prompt is offered again) and act.
fn decide(
    ctx: &mut Ctx<'_>,
    lane: &mut Lane,
    task: TaskContext,
    pending: Pending,
    now: u64,
    again: bool,
) {
    let no_grant = ctx
        .policy
        .evaluate(&task, &without_grants(&lane.state), now);
    if !again {
        count_protected(ctx, &no_grant);
    }
    let decision = match ctx.strategy {
        Strategy::Wardgate => ctx.policy.evaluate(&task, &lane.state.facts(), now),
        Strategy::EveryAction | Strategy::Reauth15 => no_grant,
    };
    let decided = |ctx: &mut Ctx<'_>, lane: &mut Lane, task: &TaskContext, d: &Decision| {
        feed(
            ctx,
            lane,
            Event::Decided {
                task: task.clone(),
                decision: d.clone(),
            },
            now,
        );
    };
    match decision.effect {
        Verdict::StepUp => {
            let window_open = ctx.strategy == Strategy::Reauth15
                && lane
                    .reauth_at
                    .is_some_and(|at| now.saturating_sub(at) < REAUTH_WINDOW_MS);
            if window_open {
                let mut d = decision.clone();
                d.effect = Verdict::Allow;
                d.rule_ids.push(String::from("$reauth-15min"));
                d.reason = String::from("re-authenticated less than 15 minutes ago");
                decided(ctx, lane, &task, &d);
                ctx.metrics.grants_reused = ctx.metrics.grants_reused.saturating_add(1);
                execute(ctx, lane, &task, &pending, now, None);
            } else {
                if !again {
                    decided(ctx, lane, &task, &decision);
                }
                let requirement = decision.requirement.clone().unwrap_or_else(strictest);
                start(ctx, lane, task, requirement, pending, now);
            }
        }
        Verdict::Allow => {
            decided(ctx, lane, &task, &decision);
            if decision.allowed_by == Some(AllowedBy::Grant) {
                ctx.metrics.grants_reused = ctx.metrics.grants_reused.saturating_add(1);
            } else {
                ctx.metrics.allowed_by_policy = ctx.metrics.allowed_by_policy.saturating_add(1);
            }
            execute(ctx, lane, &task, &pending, now, decision.grant_id.clone());
        }
        Verdict::BreakGlass => {
            decided(ctx, lane, &task, &decision);
            ctx.metrics.break_glass = ctx.metrics.break_glass.saturating_add(1);
            execute(ctx, lane, &task, &pending, now, None);
        }
        Verdict::Deny => {
            decided(ctx, lane, &task, &decision);
            ctx.metrics.denied = ctx.metrics.denied.saturating_add(1);
        }
        Verdict::NeedsConnection => {
            decided(ctx, lane, &task, &decision);
            ctx.metrics.needs_connection = ctx.metrics.needs_connection.saturating_add(1);
        }
    }
}

/// Show the passkey prompt for `task`.
fn start(
    ctx: &mut Ctx<'_>,
    lane: &mut Lane,
    task: TaskContext,
    requirement: StepUp,
    pending: Pending,
    now: u64,
) {
    if lane.flight.is_some() {
        // One ceremony at a time: a new one aborts the old.
        abandon(ctx, lane, now);
    }
    feed(
        ctx,
        lane,
        Event::CeremonyStarted { task: task.clone() },
        now,
    );
    ctx.metrics.prompts = ctx.metrics.prompts.saturating_add(1);
    ctx.prompt_times.push(now);
    let key = if requirement.single_use && requirement.max_auth_age_seconds == 0 {
        format!("{} (per task)", task.action)
    } else {
        task.action.clone()
    };
    let n = ctx.prompts_by_action.entry(key).or_insert(0);
    *n = n.saturating_add(1);
    let cause = prompt_cause(ctx, &lane.state.session_id, &task, &requirement, now);
    let n = ctx.prompt_causes.entry(cause.to_string()).or_insert(0);
    *n = n.saturating_add(1);
    let approve = pending.approve_ms.unwrap_or(
        if requirement.authenticator == AuthenticatorAttachment::CrossPlatform {
            APPROVE_CROSS_PLATFORM_MS
        } else {
            APPROVE_MS
        },
    );
    lane.flight = Some(Flight {
        task,
        requirement,
        line: pending.line,
        started_at: pending.started_at,
        approve_ms: pending.approve_ms,
        phase: Phase::Running {
            end: now.saturating_add(approve),
        },
        interrupted: pending.interrupted,
    });
}

/// Why a prompt was needed (see [`Run::prompt_causes`]).
fn prompt_cause(
    ctx: &Ctx<'_>,
    session_id: &str,
    task: &TaskContext,
    requirement: &StepUp,
    now: u64,
) -> &'static str {
    if requirement.max_auth_age_seconds == 0 || requirement.single_use {
        return "per-task";
    }
    let matching = |a: &&Approval| {
        a.claims.sub == task.user.id
            && a.claims.dev == task.device.id
            && a.claims.scp.kind <= requirement.scope
            && oracle::same_within(a.claims.scp.kind, &a.task, task)
    };
    let young = |a: &Approval| {
        now < a.claims.exp.saturating_mul(1000)
            && now.saturating_sub(a.approved_at_ms)
                <= u64::from(requirement.max_auth_age_seconds).saturating_mul(1000)
    };
    let mut here = ctx
        .history
        .iter()
        .filter(matching)
        .filter(|a| a.claims.sid == session_id);
    if here.clone().any(young) {
        // Only a baseline prompts for what an approval of this session already covers.
        "covered"
    } else if here.next().is_some() {
        "expired"
    } else if ctx
        .history
        .iter()
        .filter(matching)
        .any(|a| a.claims.sid != session_id && young(a))
    {
        "after-handoff"
    } else {
        "first"
    }
}

/// Drop the ceremony in flight (never completed).
fn abandon(ctx: &mut Ctx<'_>, lane: &mut Lane, now: u64) {
    if lane.flight.take().is_some() {
        ctx.metrics.abandoned = ctx.metrics.abandoned.saturating_add(1);
        if lane.state.pending.is_some() {
            feed(
                ctx,
                lane,
                Event::CeremonyCancelled {
                    code: String::from(ABORTED_CODE),
                },
                now,
            );
        }
    }
}

/// The clinician approves: the server would verify the assertion and mint a grant for the
/// task under its requirement; the session holds it; the task goes ahead with it.
fn complete(ctx: &mut Ctx<'_>, lane: &mut Lane, at: u64) {
    let Some(flight) = lane.flight.take() else {
        return;
    };
    if matches!(flight.phase, Phase::Waiting) {
        lane.flight = Some(flight);
        return;
    }
    ctx.jtis = ctx.jtis.saturating_add(1);
    let jti = format!("g{}", ctx.jtis);
    let attachment = flight.requirement.authenticator;
    let claims = GrantClaims::for_step_up(
        &flight.task,
        &flight.requirement,
        Issue {
            issuer: ISSUER,
            session_id: &lane.state.session_id,
            auth_time_ms: at,
            now_ms: at,
            jti: jti.clone(),
            attachment,
        },
    );
    feed(
        ctx,
        lane,
        Event::CeremonySucceeded {
            token: format!("sim.{jti}"),
            claims: claims.clone(),
        },
        at,
    );
    if !lane.state.grants.iter().any(|g| g.claims.jti == jti) {
        // The session machine refused the grant: the task does not go ahead.
        ctx.metrics.abandoned = ctx.metrics.abandoned.saturating_add(1);
        return;
    }
    ctx.metrics.approvals = ctx.metrics.approvals.saturating_add(1);
    if flight.interrupted {
        ctx.metrics.resumed = ctx.metrics.resumed.saturating_add(1);
    }
    let approval = Approval {
        claims,
        task: flight.task.clone(),
        approved_at_ms: at,
        uses: 0,
    };
    ctx.history.push(approval.clone());
    lane.ledger.push(approval);
    if ctx.strategy == Strategy::Reauth15 {
        lane.reauth_at = Some(at);
    }
    let pending = Pending {
        line: flight.line,
        started_at: flight.started_at,
        approve_ms: flight.approve_ms,
        interrupted: flight.interrupted,
    };
    execute(ctx, lane, &flight.task, &pending, at, Some(jti));
}

/// The task goes ahead (with grant `used`, if any). Check it against the policy's own
/// requirement, and spend a single-use grant.
fn execute(
    ctx: &mut Ctx<'_>,
    lane: &mut Lane,
    task: &TaskContext,
    pending: &Pending,
    now: u64,
    used: Option<String>,
) {
    ctx.metrics.executed = ctx.metrics.executed.saturating_add(1);
    let no_grant = ctx.policy.evaluate(task, &without_grants(&lane.state), now);
    if no_grant.effect == Verdict::StepUp {
        let requirement = no_grant.requirement.clone().unwrap_or_else(strictest);
        let session_id = lane.state.session_id.clone();
        let check = |a: &Approval| {
            oracle::meets(a, task, &requirement, &session_id, pending.started_at, now)
        };
        let verdict: Result<usize, String> = match &used {
            Some(jti) => match lane.ledger.iter().position(|a| a.claims.jti == *jti) {
                Some(i) => lane
                    .ledger
                    .get(i)
                    .map_or(Err(String::from("no such approval")), check)
                    .map(|()| i),
                None => Err(format!("grant `{jti}` was never approved by the clinician")),
            },
            None => {
                let mut first_why: Option<String> = None;
                let mut found = None;
                for (i, a) in lane.ledger.iter().enumerate().rev() {
                    match check(a) {
                        Ok(()) => {
                            found = Some(i);
                            break;
                        }
                        Err(why) => {
                            first_why.get_or_insert(why);
                        }
                    }
                }
                found.ok_or_else(|| {
                    first_why.unwrap_or_else(|| {
                        String::from("no passkey approval in this session at all")
                    })
                })
            }
        };
        match verdict {
            Ok(i) => {
                if let Some(a) = lane.ledger.get_mut(i) {
                    a.uses = a.uses.saturating_add(1);
                }
            }
            Err(why) => {
                ctx.metrics.unsafe_allows = ctx.metrics.unsafe_allows.saturating_add(1);
                ctx.unsafe_allows.push(UnsafeAllow {
                    line: pending.line,
                    t: now,
                    clinician: task.user.id.clone(),
                    action: task.action.clone(),
                    patient: task.patient_id().map(str::to_string),
                    why,
                });
            }
        }
    }
    if let Some(jti) = used {
        // The request carrying the grant succeeded: a single-use grant is spent.
        let once = lane
            .state
            .grants
            .iter()
            .any(|g| g.claims.jti == jti && g.claims.once);
        if once {
            feed(ctx, lane, Event::GrantSpent { jti, here: true }, now);
        }
    }
}

fn on_switch(ctx: &mut Ctx<'_>, lane: &mut Lane, t: u64, ms: u64) {
    feed(ctx, lane, Event::Hidden, t);
    if let Some(f) = lane.flight.as_mut() {
        if matches!(f.phase, Phase::Running { .. }) {
            f.phase = Phase::Waiting;
            f.interrupted = true;
            ctx.metrics.interrupted = ctx.metrics.interrupted.saturating_add(1);
            feed(
                ctx,
                lane,
                Event::CeremonyInterrupted {
                    code: String::from(INTERRUPTED_CODE),
                },
                t,
            );
        }
    }
    let back = t.saturating_add(ms);
    let effects = feed(ctx, lane, Event::Visible, back);
    let offered = effects.iter().any(|e| matches!(e, Effect::Prompt { .. }));
    if offered {
        // The prompt is offered again; like the gate, look for a grant and decide afresh.
        if let Some(f) = lane.flight.take() {
            let pending = Pending {
                line: f.line,
                started_at: f.started_at,
                approve_ms: f.approve_ms,
                interrupted: true,
            };
            feed(ctx, lane, Event::Tick, back);
            decide(ctx, lane, f.task, pending, back, true);
        }
    }
}

fn handoff(ctx: &mut Ctx<'_>, lane: &mut Lane, user: User, t: u64) {
    if lane.flight.take().is_some() {
        ctx.metrics.abandoned = ctx.metrics.abandoned.saturating_add(1);
    }
    // The gate's periodic tick would have applied the timers before the next clinician
    // arrived (an idle lock belongs to the session that idled).
    feed(ctx, lane, Event::Tick, t);
    add_counters(&mut ctx.counters, &lane.state.counters);
    let session_id = next_session(ctx);
    let strong = ctx.online.then_some(t);
    feed(
        ctx,
        lane,
        Event::UserSwitch {
            session_id,
            user,
            strong_auth_at_ms: strong,
        },
        t,
    );
    ctx.metrics.handoffs = ctx.metrics.handoffs.saturating_add(1);
    lane.ledger.clear();
    lane.reauth_at = None;
}
