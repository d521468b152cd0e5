//! The gate's engine: it feeds browser events to the session state machine
//! (`session::step`) and carries out the effects it returns (persist, broadcast, prompt, audit,
//! lock, wipe, flush). It decides nothing about the session itself.
//!
//! Re-entrancy rule: no `RefCell` borrow is held across a call into JS that can call back
//! into wasm (dispatching an event, the configured clock, a test double of `fetch`), so a
//! portal's listener may call any gate method.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Function;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use super::ceremony::{self, Disposition, Failure, OurAbort, RequestOptionsJson, Running};
use super::config::{Config, Endpoints, PolicySource, SessionInfo};
use super::error::{BrowserError, CeremonyCode};
use super::js;
use super::listen::{Channel, Interval, Listener, Timeout};
use super::storage::{self, AuditQueue};
use super::transport;
use crate::audit::{AuditEvent, AuditKind, FrictionCounters, TaskRef};
use crate::error::Error;
use crate::grant::{self, GrantClaims};
use crate::policy::{
    AllowedBy, Decision, Effect as DecisionEffect, Policy, ScopeKind, StepUp, UserVerification,
};
use crate::session::{self, Ceremony, ChannelMessage, Effect, Event, HeldGrant, State, Status};
use crate::task::{Connectivity, TaskContext};

/// How often the idle and absolute limits are checked (they are also checked lazily at every
/// decision, on focus and when the page becomes visible: hidden tabs' timers are throttled).
pub const IDLE_CHECK_MS: i32 = 15_000;
/// Least time between two `Activity` events fed to the state machine.
pub const ACTIVITY_THROTTLE_MS: u64 = 1_000;
/// A ceremony cut off by a tab or app switch is offered again at most this many times.
pub const MAX_INTERRUPTIONS: u32 = 3;
/// Options older than their timeout less this margin are fetched again before a re-offer.
const OPTIONS_MARGIN_MS: u64 = 5_000;

/// What `gate.begin(task)` resolves to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Outcome {
    Allowed {
        by: AllowedBy,
        #[serde(skip_serializing_if = "Option::is_none")]
        grant_id: Option<String>,
        decision: Decision,
    },
    SteppedUp {
        grant: String,
        claims: GrantClaims,
        decision: Decision,
    },
    Denied {
        reason: String,
        rule_ids: Vec<String>,
        decision: Decision,
    },
    Cancelled {
        code: &'static str,
    },
    NeedsConnection {
        reason: String,
        decision: Decision,
    },
    BreakGlass {
        decision: Decision,
    },
}

impl Outcome {
    /// The outcome of a decision that needs no ceremony.
    pub fn of(decision: Decision) -> Outcome {
        match decision.effect {
            DecisionEffect::Allow => Outcome::Allowed {
                by: decision.allowed_by.unwrap_or(AllowedBy::Policy),
                grant_id: decision.grant_id.clone(),
                decision,
            },
            DecisionEffect::NeedsConnection => Outcome::NeedsConnection {
                reason: decision.reason.clone(),
                decision,
            },
            DecisionEffect::BreakGlass => Outcome::BreakGlass { decision },
            // A step-up reaching here has no ceremony to run: fail closed.
            DecisionEffect::Deny | DecisionEffect::StepUp => Outcome::Denied {
                reason: decision.reason.clone(),
                rule_ids: decision.rule_ids.clone(),
                decision,
            },
        }
    }

    fn cancelled(code: CeremonyCode) -> Outcome {
        Outcome::Cancelled { code: code.code() }
    }
}

/// What `gate.unlock()` resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum UnlockOutcome {
    Unlocked,
    NotLocked,
    Cancelled { code: &'static str },
}

/// `gate.metrics()`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    #[serde(flatten)]
    pub counters: FrictionCounters,
    pub dropped_messages: u32,
    pub audit_queued: u32,
    pub audit_not_durable: u32,
    pub audit_lost: u32,
    pub storage_failures: u32,
}

/// `POST /api/step-up/options` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OptionsAnswer {
    decision: Decision,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    task_hash: Option<String>,
    #[serde(default)]
    public_key: Option<RequestOptionsJson>,
}

/// `POST /api/step-up/verify` answer (the claims are read from the token itself).
#[derive(Debug, Deserialize)]
struct VerifyAnswer {
    grant: String,
}

/// `POST /api/unlock/start` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnlockStart {
    request_id: String,
    public_key: RequestOptionsJson,
}

/// `POST /api/unlock/finish` answer.
#[derive(Debug, Deserialize)]
struct UnlockFinish {
    session: SessionInfo,
}

/// `POST /api/audit` answer.
#[derive(Debug, Deserialize)]
struct AuditAck {
    acknowledged: Vec<String>,
}

/// `401` body of the protected API (PROTOCOL.md).
#[derive(Debug, Deserialize)]
struct StepUpRequired {
    code: String,
    task: serde_json::Value,
}

/// Checked options, ready for a ceremony.
#[derive(Debug, Clone)]
struct Prepared {
    request_id: String,
    options: RequestOptionsJson,
    fetched_at_ms: u64,
}

enum Prep {
    Ceremony(Prepared),
    Decided(Outcome),
}

/// A step-up the server asked for (RFC 9470), rather than the local policy.
#[derive(Debug, Clone)]
struct Forced {
    requirement: StepUp,
    /// The grant the server just refused: never offered again.
    exclude_jti: Option<String>,
}

/// What a step-up carries from one attempt to the next.
#[derive(Debug, Default)]
struct Run {
    prepared: Option<Prepared>,
    interruptions: u32,
    attempts: u32,
}

enum Attempt {
    Done(Box<Outcome>),
    /// Wait (without the Web Lock) until the task is offered again.
    Wait(Option<js_sys::Promise>),
}

/// A `begin()` waiting for its task to be offered again (after an interruption or a lock).
#[derive(Debug)]
struct Waiter {
    task_hash: String,
    offered: bool,
    resolve: Function,
}

/// Releases a Web Lock (or the in-tab fallback) when dropped.
struct LockGuard {
    release: Option<Function>,
    tab: Option<(Weak<Inner>, String)>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
        if let Some((weak, name)) = self.tab.take() {
            if let Some(inner) = weak.upgrade() {
                inner.release_tab_lock(&name);
            }
        }
    }
}

/// The engine behind a `Gate`.
pub(crate) struct Inner {
    policy: Policy,
    endpoints: Endpoints,
    clock: Option<Function>,
    pub(crate) events: web_sys::EventTarget,
    state: RefCell<State>,
    disposed: Cell<bool>,
    /// Events dispatched before `Gate.create` resolved are delivered a macrotask later, when
    /// the portal has had a chance to listen.
    ready: Cell<bool>,
    early: RefCell<Vec<(String, JsValue)>>,
    channel: RefCell<Option<Channel>>,
    listeners: RefCell<Vec<Listener>>,
    intervals: RefCell<Vec<Interval>>,
    audit: AuditQueue,
    flushing: Cell<bool>,
    ceremony: RefCell<Option<Running>>,
    ceremony_seq: Cell<u32>,
    waiters: RefCell<Vec<Waiter>>,
    tab_locks: RefCell<Vec<(String, Vec<Function>)>>,
    last_activity: Cell<u64>,
    storage_failures: Cell<u32>,
    local_audit_seq: Cell<u32>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("disposed", &self.disposed.get())
            .finish_non_exhaustive()
    }
}

fn now_with(clock: Option<&Function>) -> u64 {
    clock
        .and_then(|f| f.call0(&JsValue::UNDEFINED).ok())
        .and_then(|v| v.as_f64())
        .and_then(js::ms_from_f64)
        .unwrap_or_else(js::date_now)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The Web Lock name for a step-up: the session and the scope the grant will have, so tabs
/// needing the same grant queue behind one ceremony.
fn lock_name(session_id: &str, task: &TaskContext, hash: &str, scope: ScopeKind) -> String {
    let key = match scope {
        ScopeKind::Task => format!("task:{hash}"),
        ScopeKind::ActionPatient => format!(
            "action-patient:{}:{}",
            task.action,
            task.patient_id().unwrap_or("")
        ),
        ScopeKind::Action => format!("action:{}", task.action),
        ScopeKind::Session => String::from("session"),
    };
    format!("wardgate:{session_id}:{key}")
}

fn page_visible() -> bool {
    js::document().is_none_or(|d| d.visibility_state() != web_sys::VisibilityState::Hidden)
}

fn page_focused() -> bool {
    js::document().is_none_or(|d| d.has_focus().unwrap_or(true))
}

impl Inner {
    // ---- construction -------------------------------------------------------------------

    pub(crate) async fn create(config: JsValue) -> Result<Rc<Inner>, BrowserError> {
        let cfg = Config::from_js(&config)?;
        let policy_text = match &cfg.policy {
            PolicySource::Text(t) => t.clone(),
            PolicySource::Url(url) => fetch_text(url).await?,
        };
        let policy = Policy::from_json(&policy_text)?;
        let events = web_sys::EventTarget::new().map_err(|cause| BrowserError::Network {
            message: String::from("no EventTarget"),
            cause: Some(cause),
        })?;
        let limits = policy.session_limits(cfg.device.shared);
        let now = now_with(cfg.clock.as_ref());
        let user = cfg.session.user();
        let restored = storage::load_state().map(|t| State::from_json(&t));
        let mut restored_ceremony = false;
        let mut state = match restored {
            Some(Ok(mut s))
                if s.session_id == cfg.session.session_id
                    && s.device.id == cfg.device.id
                    && s.user.as_ref().is_none_or(|u| u.id == user.id) =>
            {
                s.limits = limits;
                s.device = cfg.device.clone();
                restored_ceremony = matches!(s.ceremony, Ceremony::Running { .. });
                s
            }
            other => {
                if other.is_some() {
                    // Another session's state (a previous clinician) or unreadable: wipe.
                    storage::clear_state();
                }
                let mut s = State::new(
                    &cfg.session.session_id,
                    user,
                    cfg.device.clone(),
                    limits,
                    cfg.session.started_at_ms,
                    cfg.session.last_strong_auth_ms,
                );
                s.last_activity_ms = now.max(cfg.session.started_at_ms);
                s
            }
        };
        state.instance_id = js::random_hex(6);
        let inner = Rc::new(Inner {
            policy,
            endpoints: cfg.endpoints.clone(),
            clock: cfg.clock.clone(),
            events,
            state: RefCell::new(state),
            disposed: Cell::new(false),
            ready: Cell::new(false),
            early: RefCell::new(Vec::new()),
            channel: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            intervals: RefCell::new(Vec::new()),
            audit: AuditQueue::default(),
            flushing: Cell::new(false),
            ceremony: RefCell::new(None),
            ceremony_seq: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
            tab_locks: RefCell::new(Vec::new()),
            last_activity: Cell::new(0),
            storage_failures: Cell::new(0),
            local_audit_seq: Cell::new(0),
        });
        inner.install(&cfg);
        if restored_ceremony {
            // The page went away mid-ceremony (reload, discarded tab): the task is kept and
            // offered again.
            inner.feed(Event::CeremonyInterrupted {
                code: String::from(CeremonyCode::Aborted.code()),
            });
        }
        if !page_visible() {
            inner.feed(Event::Hidden);
        }
        let online = js::window().is_none_or(|w| w.navigator().on_line());
        let was_online = inner.state.borrow().online;
        if !online {
            inner.feed(Event::Offline);
        } else if !was_online {
            inner.feed(Event::Online);
        }
        inner.feed(Event::Tick);
        inner.persist();
        inner.spawn_flush(false);
        let me = Rc::clone(&inner);
        spawn_local(async move {
            js::sleep(0).await;
            me.ready.set(true);
            let early = std::mem::take(&mut *me.early.borrow_mut());
            for (kind, detail) in early {
                me.emit(&kind, &detail);
            }
        });
        Ok(inner)
    }

    fn install(self: &Rc<Self>, cfg: &Config) {
        fn on(
            weak: &Weak<Inner>,
            f: fn(&Rc<Inner>, &web_sys::Event),
        ) -> impl FnMut(web_sys::Event) + 'static {
            let weak = weak.clone();
            move |e| {
                if let Some(inner) = weak.upgrade() {
                    f(&inner, &e);
                }
            }
        }
        let weak = Rc::downgrade(self);
        let mut listeners = Vec::new();
        if let Some(doc) = js::document() {
            let doc: &web_sys::EventTarget = doc.as_ref();
            listeners.push(Listener::new(
                doc,
                "visibilitychange",
                false,
                on(&weak, |i, _| i.on_visibility()),
            ));
            listeners.push(Listener::new(
                doc,
                "freeze",
                false,
                on(&weak, |i, _| i.feed(Event::Freeze)),
            ));
            listeners.push(Listener::new(
                doc,
                "resume",
                false,
                on(&weak, |i, _| i.feed(Event::Resume)),
            ));
            for kind in ["pointerdown", "keydown"] {
                listeners.push(Listener::new(
                    doc,
                    kind,
                    true,
                    on(&weak, |i, _| i.on_activity()),
                ));
            }
        }
        if let Some(w) = js::window() {
            let w: &web_sys::EventTarget = w.as_ref();
            listeners.push(Listener::new(
                w,
                "pagehide",
                false,
                on(&weak, |i, _| i.feed(Event::PageHide)),
            ));
            listeners.push(Listener::new(
                w,
                "pageshow",
                false,
                on(&weak, |i, e| {
                    let persisted = js::get(e, "persisted").as_bool().unwrap_or(false);
                    i.feed(Event::PageShow { persisted });
                    i.try_wake();
                }),
            ));
            listeners.push(Listener::new(
                w,
                "online",
                false,
                on(&weak, |i, _| i.feed(Event::Online)),
            ));
            listeners.push(Listener::new(
                w,
                "offline",
                false,
                on(&weak, |i, _| i.feed(Event::Offline)),
            ));
            listeners.push(Listener::new(
                w,
                "focus",
                false,
                on(&weak, |i, _| {
                    i.feed(Event::Tick);
                    i.try_wake();
                }),
            ));
        }
        *self.listeners.borrow_mut() = listeners.into_iter().flatten().collect();

        let w2 = weak.clone();
        let channel = Channel::new(&format!("wardgate:{}", cfg.channel_name), move |e| {
            if let Some(inner) = w2.upgrade() {
                inner.on_message(&e.data());
            }
        });
        *self.channel.borrow_mut() = channel;

        let w3 = weak.clone();
        let tick = Interval::new(IDLE_CHECK_MS, move || {
            if let Some(inner) = w3.upgrade() {
                inner.feed(Event::Tick);
            }
        });
        let w4 = weak;
        let flush_ms = i32::try_from(cfg.audit_flush_interval_ms).unwrap_or(i32::MAX);
        let flush = Interval::new(flush_ms, move || {
            if let Some(inner) = w4.upgrade() {
                inner.spawn_flush(false);
            }
        });
        *self.intervals.borrow_mut() = [tick, flush].into_iter().flatten().collect();
    }

    // ---- the state machine ----------------------------------------------------------------

    pub(crate) fn now(&self) -> u64 {
        now_with(self.clock.as_ref())
    }

    pub(crate) fn alive(&self) -> Result<(), BrowserError> {
        if self.disposed.get() {
            Err(BrowserError::Disposed)
        } else {
            Ok(())
        }
    }

    /// Feed one event to `session::step` and carry out its effects.
    pub(crate) fn feed(self: &Rc<Self>, event: Event) {
        if self.disposed.get() {
            return;
        }
        let now = self.now();
        let keepalive = matches!(event, Event::PageHide | Event::Freeze);
        let source = if matches!(event, Event::CeremonySucceeded { .. }) {
            "here"
        } else {
            "elsewhere"
        };
        let Ok(mut st) = self.state.try_borrow_mut() else {
            return;
        };
        let jtis_before: Vec<String> = st.grants.iter().map(|g| g.claims.jti.clone()).collect();
        let status_before = st.status.clone();
        let session_before = st.session_id.clone();
        let user_before = st.user.as_ref().map(|u| u.id.clone());
        let (next, effects) = session::step(st.clone(), event, now);
        *st = next;
        let new_grants: Vec<HeldGrant> = st
            .grants
            .iter()
            .filter(|g| !jtis_before.contains(&g.claims.jti))
            .cloned()
            .collect();
        let status_after = st.status.clone();
        let session_after = st.session_id.clone();
        let user_after = st.user.clone();
        let pending_after = st.pending.as_ref().map(|p| p.task_hash.clone());
        drop(st);

        self.execute(effects, keepalive);
        self.wake_settled(pending_after.as_deref());

        if session_after != session_before {
            let detail = serde_json::json!({
                "sessionId": session_after,
                "previousSessionId": session_before,
                "previousUserId": user_before,
                "user": user_after,
            });
            self.emit_json("handoff", &detail);
        }
        for g in new_grants {
            let detail = serde_json::json!({
                "grant": g.token,
                "claims": g.claims,
                "source": source,
            });
            self.emit_json("grant", &detail);
        }
        let was_locked = matches!(status_before, Status::Locked { .. });
        if was_locked && status_after == Status::Active {
            self.emit_json("unlock", &serde_json::json!({}));
        }
        if status_after == Status::LoggedOut && status_before != Status::LoggedOut {
            self.emit_json(
                "logout",
                &serde_json::json!({ "previousUserId": user_before }),
            );
        }
    }

    fn execute(self: &Rc<Self>, effects: Vec<Effect>, keepalive: bool) {
        for effect in effects {
            match effect {
                Effect::Persist => self.persist(),
                Effect::Broadcast { message } => self.broadcast(&message),
                Effect::Prompt { task } => self.on_prompt(&task),
                Effect::Audit { event } => self.record(&event),
                Effect::Lock { reason } => {
                    self.abort_ceremony(OurAbort::Locked);
                    self.emit_json("lock", &serde_json::json!({ "reason": reason }));
                }
                Effect::Wipe => {
                    storage::clear_state();
                    self.abort_ceremony(OurAbort::Wiped);
                    self.release_waiters(false);
                }
                Effect::FlushAudit => self.spawn_flush(keepalive),
            }
        }
    }

    fn persist(&self) {
        let text = self.state.borrow().to_json();
        let saved = text.is_ok_and(|t| storage::save_state(&t));
        if !saved {
            self.storage_failures
                .set(self.storage_failures.get().saturating_add(1));
        }
    }

    fn broadcast(&self, message: &ChannelMessage) {
        let text = message.encode();
        if let Some(c) = self.channel.borrow().as_ref() {
            c.post(&text);
        }
    }

    fn record(&self, event: &AuditEvent) {
        self.audit.push(event);
        if let Ok(detail) = js::to_js(event) {
            self.emit("audit", &detail);
        }
    }

    fn emit_json(&self, kind: &str, detail: &serde_json::Value) {
        if let Ok(d) = js::to_js(detail) {
            self.emit(kind, &d);
        }
    }

    fn emit(&self, kind: &str, detail: &JsValue) {
        if !self.ready.get() {
            self.early
                .borrow_mut()
                .push((kind.to_string(), detail.clone()));
            return;
        }
        let init = web_sys::CustomEventInit::new();
        init.set_detail(detail);
        if let Ok(ev) = web_sys::CustomEvent::new_with_event_init_dict(kind, &init) {
            let _ = self.events.dispatch_event(&ev);
        }
    }

    pub(crate) fn state_js(&self) -> Result<JsValue, BrowserError> {
        self.alive()?;
        js::to_js(&*self.state.borrow())
    }

    pub(crate) fn metrics(&self) -> Result<JsValue, BrowserError> {
        self.alive()?;
        let (counters, dropped) = {
            let st = self.state.borrow();
            (st.counters, st.dropped_messages)
        };
        js::to_js(&Metrics {
            counters,
            dropped_messages: dropped,
            audit_queued: self.audit.queued(),
            audit_not_durable: self.audit.not_durable(),
            audit_lost: self.audit.lost(),
            storage_failures: self.storage_failures.get(),
        })
    }

    // ---- browser events -------------------------------------------------------------------

    fn on_visibility(self: &Rc<Self>) {
        if page_visible() {
            self.feed(Event::Visible);
            self.try_wake();
        } else {
            self.feed(Event::Hidden);
        }
    }

    fn on_activity(self: &Rc<Self>) {
        let now = self.now();
        if now.saturating_sub(self.last_activity.get()) >= ACTIVITY_THROTTLE_MS {
            self.last_activity.set(now);
            self.feed(Event::Activity);
        }
    }

    fn on_message(self: &Rc<Self>, data: &JsValue) {
        let event = match data.as_string().map(|t| ChannelMessage::decode(&t)) {
            None => Event::ChannelMessageDropped {
                reason: String::from("a channel message that is not text"),
            },
            Some(Err(e)) => Event::ChannelMessageDropped {
                reason: e.to_string(),
            },
            Some(Ok(msg)) => session::event_from_channel(&self.state.borrow(), msg, grant::decode),
        };
        self.feed(event);
    }

    // ---- prompts and waiting tasks --------------------------------------------------------

    fn on_prompt(&self, task: &TaskContext) {
        let hash = task.hash().to_hex();
        let mut matched = false;
        for w in self.waiters.borrow_mut().iter_mut() {
            if w.task_hash == hash {
                w.offered = true;
                matched = true;
            }
        }
        if matched {
            self.try_wake();
        } else {
            // Nothing in this tab waits for it (after a reload, or an unlock in another
            // tab): the portal offers the task again with `begin(task)`.
            self.emit_json(
                "prompt",
                &serde_json::json!({ "kind": "pending", "task": task, "taskHash": hash }),
            );
        }
    }

    /// Wake the offered waiters if the page is visible and focused (`get()` needs both).
    fn try_wake(&self) {
        if !page_visible() || !page_focused() {
            return;
        }
        let ready: Vec<Function> = {
            let mut waiters = self.waiters.borrow_mut();
            let (go, stay): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut *waiters)
                .into_iter()
                .partition(|w| w.offered);
            *waiters = stay;
            go.into_iter().map(|w| w.resolve).collect()
        };
        for f in ready {
            let _ = f.call1(&JsValue::UNDEFINED, &JsValue::TRUE);
        }
    }

    /// A waiting task that is no longer pending was settled elsewhere (a sibling's grant
    /// covered it): wake it to re-check, whatever the page's state.
    fn wake_settled(&self, pending: Option<&str>) {
        let settled: Vec<Function> = {
            let mut waiters = self.waiters.borrow_mut();
            let (gone, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut *waiters)
                .into_iter()
                .partition(|w| Some(w.task_hash.as_str()) != pending);
            *waiters = keep;
            gone.into_iter().map(|w| w.resolve).collect()
        };
        for f in settled {
            let _ = f.call1(&JsValue::UNDEFINED, &JsValue::TRUE);
        }
    }

    fn release_waiters(&self, go: bool) {
        let all = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in all {
            let _ = w
                .resolve
                .call1(&JsValue::UNDEFINED, &JsValue::from_bool(go));
        }
    }

    /// Cancel waiters for other tasks: a new ceremony in this tab replaced their pending task.
    fn release_other_waiters(&self, hash: &str) {
        let others: Vec<Waiter> = {
            let mut waiters = self.waiters.borrow_mut();
            let (keep, others): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut *waiters)
                .into_iter()
                .partition(|w| w.task_hash == hash);
            *waiters = keep;
            others
        };
        for w in others {
            let _ = w.resolve.call1(&JsValue::UNDEFINED, &JsValue::FALSE);
        }
    }

    /// Register a waiter for `hash`: its promise resolves `true` to offer the task again,
    /// `false` when it was given up (handoff, logout, dispose, another task).
    fn register_waiter(&self, hash: &str) -> Option<js_sys::Promise> {
        js::deferred().map(|(promise, resolve, _)| {
            self.waiters.borrow_mut().push(Waiter {
                task_hash: hash.to_string(),
                offered: false,
                resolve,
            });
            promise
        })
    }

    // ---- decisions ------------------------------------------------------------------------

    fn online(&self) -> bool {
        self.state.borrow().online
    }

    fn evaluate(&self, task: &TaskContext) -> Decision {
        let now = self.now();
        let st = self.state.borrow();
        self.policy.evaluate(task, &st.facts(), now)
    }

    /// The task as this tab sees it: the clinician and device must be this session's, and
    /// an offline tab says so whatever the portal wrote.
    fn prepare_task(&self, value: &JsValue) -> Result<TaskContext, BrowserError> {
        let text = js::stringify(value).ok_or_else(|| {
            BrowserError::Core(Error::ContextInvalid {
                path: String::from("$"),
                message: String::from("the task context is not a JSON value"),
            })
        })?;
        self.prepare_task_text(&text)
    }

    fn prepare_task_text(&self, text: &str) -> Result<TaskContext, BrowserError> {
        let mut task = TaskContext::from_json(text)?;
        let st = self.state.borrow();
        if st.user.as_ref().is_some_and(|u| u.id != task.user.id) {
            return Err(BrowserError::Core(Error::ContextInvalid {
                path: String::from("user.id"),
                message: String::from("the task's clinician is not this session's"),
            }));
        }
        if st.device.id != task.device.id {
            return Err(BrowserError::Core(Error::ContextInvalid {
                path: String::from("device.id"),
                message: String::from("the task's device is not this session's"),
            }));
        }
        if !st.online {
            task.connectivity = Connectivity::Offline;
        }
        Ok(task)
    }

    /// A held grant that covers `task` under `requirement`.
    fn covering(
        &self,
        task: &TaskContext,
        requirement: &StepUp,
        exclude_jti: Option<&str>,
    ) -> Option<HeldGrant> {
        let now = self.now();
        let hash = task.hash();
        let st = self.state.borrow();
        let facts = st.facts();
        st.grants
            .iter()
            .filter(|g| Some(g.claims.jti.as_str()) != exclude_jti)
            .find(|g| g.claims.covers(task, &hash, requirement, &facts, now))
            .cloned()
    }

    fn held_token(&self, jti: &str) -> Option<HeldGrant> {
        self.state
            .borrow()
            .grants
            .iter()
            .find(|g| g.claims.jti == jti)
            .cloned()
    }

    pub(crate) async fn begin(self: Rc<Self>, value: JsValue) -> Result<Outcome, BrowserError> {
        self.alive()?;
        let task = self.prepare_task(&value)?;
        self.feed(Event::Tick);
        let decision = self.evaluate(&task);
        self.feed(Event::Decided {
            task: task.clone(),
            decision: decision.clone(),
        });
        if decision.effect != DecisionEffect::StepUp {
            return Ok(Outcome::of(decision));
        }
        self.step_up(task, decision, None).await
    }

    /// Run a step-up for `task`: single-flight across tabs (a Web Lock per grant scope),
    /// re-check for a grant, options, challenge check, ceremony, verify. A ceremony cut off
    /// by a tab switch or a lock releases the Web Lock while it waits to be offered again (a
    /// hidden tab must not hold up its siblings), then takes it again and re-checks: a
    /// sibling may have earned the grant meanwhile.
    async fn step_up(
        self: &Rc<Self>,
        task: TaskContext,
        decision: Decision,
        forced: Option<Forced>,
    ) -> Result<Outcome, BrowserError> {
        let hash = task.hash().to_hex();
        let requirement = forced
            .as_ref()
            .map(|f| f.requirement.clone())
            .or_else(|| decision.requirement.clone())
            .unwrap_or_else(strictest);
        let exclude = forced.as_ref().and_then(|f| f.exclude_jti.clone());
        let mut run = Run::default();
        loop {
            let session_id = self.state.borrow().session_id.clone();
            let guard = self
                .acquire(&lock_name(&session_id, &task, &hash, requirement.scope))
                .await;
            // Let messages from the tab that held the lock (its grant) arrive first.
            js::sleep(0).await;
            self.alive()?;
            self.feed(Event::Tick);
            if let Some(g) = self.covering(&task, &requirement, exclude.as_deref()) {
                let d = Decision {
                    effect: DecisionEffect::Allow,
                    rule_ids: decision.rule_ids.clone(),
                    reason: String::from("a grant held by this session covers the task"),
                    requirement: Some(requirement),
                    grant_id: Some(g.claims.jti.clone()),
                    allowed_by: Some(AllowedBy::Grant),
                    review_required: false,
                };
                self.feed(Event::Decided {
                    task,
                    decision: d.clone(),
                });
                return Ok(Outcome::of(d));
            }
            if forced.is_none() {
                // Locked, offline or otherwise changed while waiting for the lock.
                let now_decision = self.evaluate(&task);
                if now_decision.effect != DecisionEffect::StepUp {
                    self.feed(Event::Decided {
                        task,
                        decision: now_decision.clone(),
                    });
                    return Ok(Outcome::of(now_decision));
                }
            } else if !self.state.borrow().is_active() {
                return Err(BrowserError::Locked);
            }
            if !self.online() {
                return Ok(Outcome::NeedsConnection {
                    reason: String::from("a step-up needs the server"),
                    decision,
                });
            }
            match self.attempt(&task, &hash, &decision, &mut run).await? {
                Attempt::Done(outcome) => return Ok(*outcome),
                Attempt::Wait(offer) => {
                    drop(guard);
                    if !offered(offer).await {
                        self.alive()?;
                        return Ok(Outcome::cancelled(CeremonyCode::Aborted));
                    }
                }
            }
        }
    }

    /// One ceremony: options (fetched again when stale), `get()`, verify.
    async fn attempt(
        self: &Rc<Self>,
        task: &TaskContext,
        hash: &str,
        decision: &Decision,
        run: &mut Run,
    ) -> Result<Attempt, BrowserError> {
        let now = self.now();
        let fresh = run.prepared.clone().filter(|p| {
            now.saturating_sub(p.fetched_at_ms)
                .saturating_add(OPTIONS_MARGIN_MS)
                < u64::from(p.options.timeout_ms())
        });
        let p = match fresh {
            Some(p) => p,
            None => match self.prepare(task, hash).await? {
                Prep::Ceremony(p) => {
                    run.prepared = Some(p.clone());
                    p
                }
                Prep::Decided(outcome) => return Ok(Attempt::Done(Box::new(outcome))),
            },
        };
        self.alive()?;
        if !self.state.borrow().is_active() {
            return Err(BrowserError::Locked);
        }
        if !ceremony::supported() {
            return Err(BrowserError::ceremony(
                CeremonyCode::Unsupported,
                "this browser has no WebAuthn (navigator.credentials)",
            ));
        }
        let public_key = ceremony::parse_options(&p.options)?;
        self.release_other_waiters(hash);
        run.attempts = run.attempts.saturating_add(1);
        self.feed(Event::CeremonyStarted { task: task.clone() });
        self.emit_json(
            "prompt",
            &serde_json::json!({
                "kind": "ceremony",
                "task": task,
                "taskHash": hash,
                "attempt": run.attempts,
                "reason": decision.reason,
                "requirement": decision.requirement,
            }),
        );
        let failure = match self.run_ceremony(&public_key, p.options.timeout_ms()).await {
            Ok(credential) => {
                let outcome = self
                    .verify(task.clone(), p, credential, decision.clone())
                    .await?;
                return Ok(Attempt::Done(Box::new(outcome)));
            }
            Err(f) => f,
        };
        let code = failure.classified.code.code().to_string();
        match failure.classified.disposition {
            Disposition::Cancelled => {
                self.feed(Event::CeremonyCancelled { code });
                Ok(Attempt::Done(Box::new(Outcome::cancelled(
                    failure.classified.code,
                ))))
            }
            Disposition::Failed => {
                self.feed(Event::CeremonyFailed { code });
                Err(failure.into_error())
            }
            Disposition::Interrupted => {
                run.interruptions = run.interruptions.saturating_add(1);
                if run.interruptions > MAX_INTERRUPTIONS {
                    self.feed(Event::CeremonyFailed { code });
                    return Err(failure.into_error());
                }
                // Register first: the state machine's prompt may come at once.
                let offer = self.register_waiter(hash);
                self.feed(Event::CeremonyInterrupted { code });
                self.try_wake();
                Ok(Attempt::Wait(offer))
            }
            Disposition::Suspended => {
                // Locked mid-ceremony: the task is kept and offered again on unlock.
                let pending = self
                    .state
                    .borrow()
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.task_hash == hash);
                if pending {
                    Ok(Attempt::Wait(self.register_waiter(hash)))
                } else {
                    self.alive()?;
                    Ok(Attempt::Done(Box::new(Outcome::cancelled(
                        CeremonyCode::Aborted,
                    ))))
                }
            }
            Disposition::Abandoned => {
                self.alive()?;
                Ok(Attempt::Done(Box::new(Outcome::cancelled(
                    CeremonyCode::Aborted,
                ))))
            }
        }
    }

    /// Fetch and check step-up options.
    async fn prepare(
        self: &Rc<Self>,
        task: &TaskContext,
        hash: &str,
    ) -> Result<Prep, BrowserError> {
        let body = format!("{{\"task\":{}}}", json(task));
        let answer: OptionsAnswer =
            transport::post_json(&self.endpoints.step_up_options, &body, false).await?;
        self.alive()?;
        let Some(options) = answer.public_key else {
            // The server decided without a ceremony (allow, deny, break-glass).
            if answer.decision.effect == DecisionEffect::StepUp {
                return Err(BrowserError::server(
                    200,
                    "a step-up decision came without WebAuthn options",
                ));
            }
            self.feed(Event::Decided {
                task: task.clone(),
                decision: answer.decision.clone(),
            });
            return Ok(Prep::Decided(Outcome::of(answer.decision)));
        };
        let request_id = answer
            .request_id
            .filter(|r| !r.is_empty() && r.len() <= 256)
            .ok_or_else(|| BrowserError::server(200, "the options carry no `requestId`"))?;
        let challenge = options.check()?;
        let named_ok = answer
            .task_hash
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(hash));
        let checked = if named_ok {
            crate::task::check_challenge(&challenge, task)
        } else {
            Err(Error::ChallengeTaskMismatch)
        };
        if let Err(e) = checked {
            if e == Error::ChallengeTaskMismatch {
                self.audit_mismatch(task);
            }
            return Err(e.into());
        }
        Ok(Prep::Ceremony(Prepared {
            request_id,
            options,
            fetched_at_ms: self.now(),
        }))
    }

    /// The audit record of a challenge that does not carry the task's hash (a server bug or
    /// an attack: never approve something else than what is on screen).
    fn audit_mismatch(&self, task: &TaskContext) {
        let (session_id, instance, user, device) = {
            let st = self.state.borrow();
            (
                st.session_id.clone(),
                st.instance_id.clone(),
                st.user.as_ref().map(|u| u.id.clone()),
                st.device.id.clone(),
            )
        };
        let seq = self.local_audit_seq.get().saturating_add(1);
        self.local_audit_seq.set(seq);
        let mut event = AuditEvent::new(
            format!("{session_id}.{instance}.challenge-{seq}"),
            self.now(),
            AuditKind::ChallengeMismatch,
            user,
            &device,
            &session_id,
            Error::ChallengeTaskMismatch.code(),
        );
        event.task = Some(TaskRef::of(task));
        event.reason = Some(Error::ChallengeTaskMismatch.to_string());
        self.record(&event);
    }

    async fn verify(
        self: &Rc<Self>,
        task: TaskContext,
        p: Prepared,
        credential: JsValue,
        decision: Decision,
    ) -> Result<Outcome, BrowserError> {
        let credential = js::stringify(&credential).unwrap_or_else(|| String::from("null"));
        let body = format!(
            "{{\"requestId\":{},\"task\":{},\"credential\":{credential}}}",
            json(&p.request_id),
            json(&task)
        );
        let answer: Result<VerifyAnswer, BrowserError> =
            transport::post_json(&self.endpoints.step_up_verify, &body, false).await;
        self.alive()?;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                let code = match &e {
                    BrowserError::Server {
                        server_code: Some(c),
                        ..
                    } => c.clone(),
                    other => other.code().to_string(),
                };
                self.feed(Event::CeremonyFailed { code });
                return Err(e);
            }
        };
        let claims = match grant::decode(&answer.grant) {
            Ok(c) => c,
            Err(e) => {
                self.feed(Event::CeremonyFailed {
                    code: e.code().to_string(),
                });
                return Err(e.into());
            }
        };
        let jti = claims.jti.clone();
        self.feed(Event::CeremonySucceeded {
            token: answer.grant.clone(),
            claims: claims.clone(),
        });
        if self.held_token(&jti).is_none() {
            return Err(BrowserError::Core(Error::GrantMismatch {
                message: String::from(
                    "the server's grant does not bind to this clinician, session and device",
                ),
            }));
        }
        Ok(Outcome::SteppedUp {
            grant: answer.grant,
            claims,
            decision,
        })
    }

    // ---- the ceremony ---------------------------------------------------------------------

    fn abort_ceremony(&self, why: OurAbort) {
        let running = self
            .ceremony
            .borrow()
            .as_ref()
            .map(|r| (r.controller.clone(), Rc::clone(&r.our_abort)));
        if let Some((controller, our)) = running {
            if our.get().is_none() {
                our.set(Some(why));
            }
            controller.abort();
        }
    }

    async fn run_ceremony(
        &self,
        public_key: &JsValue,
        timeout_ms: u32,
    ) -> Result<JsValue, Failure> {
        self.abort_ceremony(OurAbort::Superseded);
        let id = self.ceremony_seq.get().wrapping_add(1);
        self.ceremony_seq.set(id);
        let Some(running) = Running::new(id) else {
            return Err(Failure {
                classified: ceremony::classify("NotSupportedError", false, true, None),
                cause: JsValue::UNDEFINED,
            });
        };
        let signal = running.controller.signal();
        let our = Rc::clone(&running.our_abort);
        let (controller, timer_our) = (running.controller.clone(), Rc::clone(&running.our_abort));
        *self.ceremony.borrow_mut() = Some(running);
        let timeout = i32::try_from(timeout_ms).unwrap_or(i32::MAX);
        let timer = Timeout::new(timeout, move || {
            if timer_our.get().is_none() {
                timer_our.set(Some(OurAbort::Timeout));
            }
            controller.abort();
        });
        let result = ceremony::get(public_key, &signal).await;
        drop(timer);
        let hidden_during = {
            let mut slot = self.ceremony.borrow_mut();
            if slot.as_ref().is_some_and(|r| r.id == id) {
                *slot = None;
            }
            let st = self.state.borrow();
            !st.visible
                || matches!(
                    st.ceremony,
                    Ceremony::Running {
                        hidden_during: true,
                        ..
                    }
                )
        };
        let our_abort = our.get();
        match result {
            // Resolved although we gave up on it (a lock, a handoff): not used.
            Ok(_) if our_abort.is_some() => Err(Failure {
                classified: ceremony::classify("AbortError", hidden_during, true, our_abort),
                cause: JsValue::UNDEFINED,
            }),
            Ok(credential) => Ok(credential),
            Err(cause) => {
                let name = js::get(&cause, "name").as_string().unwrap_or_default();
                let hidden = hidden_during || !page_visible();
                Err(Failure {
                    classified: ceremony::classify(&name, hidden, page_focused(), our_abort),
                    cause,
                })
            }
        }
    }

    // ---- Web Locks ------------------------------------------------------------------------

    /// Take the Web Lock `name` (falls back to an in-tab lock where there is no Web Locks
    /// API). Released when the guard is dropped.
    async fn acquire(self: &Rc<Self>, name: &str) -> LockGuard {
        if let Some(release) = web_lock(name).await {
            return LockGuard {
                release: Some(release),
                tab: None,
            };
        }
        let wait = {
            let mut locks = self.tab_locks.borrow_mut();
            match locks.iter_mut().find(|(n, _)| n == name) {
                None => {
                    locks.push((name.to_string(), Vec::new()));
                    None
                }
                Some((_, queue)) => js::deferred().map(|(p, resolve, _)| {
                    queue.push(resolve);
                    p
                }),
            }
        };
        if let Some(p) = wait {
            let _ = JsFuture::from(p).await;
        }
        LockGuard {
            release: None,
            tab: Some((Rc::downgrade(self), name.to_string())),
        }
    }

    fn release_tab_lock(&self, name: &str) {
        let next = {
            let mut locks = self.tab_locks.borrow_mut();
            let Some(i) = locks.iter().position(|(n, _)| n == name) else {
                return;
            };
            let next = locks
                .get_mut(i)
                .and_then(|(_, q)| (!q.is_empty()).then(|| q.remove(0)));
            if next.is_none() {
                locks.remove(i);
            }
            next
        };
        if let Some(resolve) = next {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    // ---- fetch with RFC 9470 ----------------------------------------------------------------

    pub(crate) async fn fetch(
        self: Rc<Self>,
        input: JsValue,
        init: Option<js_sys::Object>,
    ) -> Result<JsValue, BrowserError> {
        self.alive()?;
        let (task, init) = match init {
            Some(init) => {
                let task_value = js::get(&init, "wardgateTask");
                let copy = js_sys::Object::assign(&js_sys::Object::new(), &init);
                let _ = js_sys::Reflect::delete_property(&copy, &JsValue::from_str("wardgateTask"));
                let task = if task_value.is_undefined() || task_value.is_null() {
                    None
                } else {
                    Some(self.prepare_task(&task_value)?)
                };
                (task, copy)
            }
            None => (None, js_sys::Object::new()),
        };
        let init: web_sys::RequestInit = init.unchecked_into();
        let request = match input.dyn_ref::<web_sys::Request>() {
            Some(r) => web_sys::Request::new_with_request_and_init(r, &init),
            None => {
                // A string or a URL object (its `toString()` is the href).
                let url = input
                    .as_string()
                    .or_else(|| {
                        js::get_fn(&input, "toString")
                            .and_then(|f| f.call0(&input).ok())
                            .and_then(|v| v.as_string())
                    })
                    .unwrap_or_default();
                web_sys::Request::new_with_str_and_init(&url, &init)
            }
        }
        .map_err(|cause| BrowserError::Network {
            message: js::error_message(&cause),
            cause: Some(cause),
        })?;

        let mut sent: Option<HeldGrant> = None;
        if let Some(task) = &task {
            self.feed(Event::Tick);
            let d = self.evaluate(task);
            if d.allowed_by == Some(AllowedBy::Grant) {
                sent = d.grant_id.as_deref().and_then(|j| self.held_token(j));
            }
        }
        let retry = web_sys::Request::clone(&request).ok();
        if let Some(g) = &sent {
            set_bearer(&request, &g.token)?;
        }
        let response = js::fetch(&request).await?;
        self.alive()?;
        if response.status() != 401 {
            self.after_response(&response, sent.as_ref());
            return Ok(response.into());
        }
        let header = response.headers().get("WWW-Authenticate").ok().flatten();
        let Some(header) = header else {
            return Ok(response.into());
        };
        let Some(challenge) = crate::rfc9470::parse_www_authenticate(&header)? else {
            return Ok(response.into());
        };
        let body = match web_sys::Response::clone(&response) {
            Ok(copy) => transport::text(&copy).await.ok(),
            Err(_) => None,
        };
        let required: StepUpRequired =
            body.as_deref()
                .and_then(|b| serde_json::from_str(b).ok())
                .ok_or_else(|| malformed("the 401 body is not `{ code, task }` JSON"))?;
        if required.code != "WARDGATE_STEP_UP_REQUIRED" {
            return Err(malformed(
                "the 401 body's code is not `WARDGATE_STEP_UP_REQUIRED`",
            ));
        }
        let server_task = self
            .prepare_task_text(&required.task.to_string())
            .map_err(|e| malformed(&format!("the 401 body's task is not a task context: {e}")))?;
        let local = self.evaluate(&server_task);
        let mut requirement = local.requirement.clone().unwrap_or(StepUp {
            user_verification: UserVerification::Required,
            max_auth_age_seconds: challenge.max_age.unwrap_or(0),
            scope: if challenge.max_age.unwrap_or(0) == 0 {
                ScopeKind::Task
            } else {
                ScopeKind::Session
            },
            grant_lifetime_seconds: 1,
            authenticator: Default::default(),
            single_use: false,
        });
        if let Some(age) = challenge.max_age.filter(|a| *a > 0) {
            requirement.max_auth_age_seconds = requirement.max_auth_age_seconds.min(age);
        }
        let decision = Decision {
            effect: DecisionEffect::StepUp,
            rule_ids: if local.effect == DecisionEffect::StepUp {
                local.rule_ids.clone()
            } else {
                vec![String::from("$server")]
            },
            reason: challenge
                .description
                .clone()
                .unwrap_or_else(|| local.reason.clone()),
            requirement: Some(requirement.clone()),
            grant_id: None,
            allowed_by: None,
            review_required: false,
        };
        let forced = Forced {
            requirement,
            exclude_jti: sent.as_ref().map(|g| g.claims.jti.clone()),
        };
        let outcome = self.step_up(server_task, decision, Some(forced)).await?;
        let grant = match &outcome {
            Outcome::SteppedUp { claims, .. } => self.held_token(&claims.jti),
            Outcome::Allowed {
                grant_id: Some(j), ..
            } => self.held_token(j),
            _ => None,
        };
        let (Some(grant), Some(retry)) = (grant, retry) else {
            // No step-up (cancelled, offline, denied): the portal sees the server's answer.
            return Ok(response.into());
        };
        set_bearer(&retry, &grant.token)?;
        let second = js::fetch(&retry).await?;
        self.alive()?;
        self.after_response(&second, Some(&grant));
        Ok(second.into())
    }

    /// A single-use grant accepted by the server is spent.
    fn after_response(self: &Rc<Self>, response: &web_sys::Response, sent: Option<&HeldGrant>) {
        if let Some(g) = sent {
            if g.claims.once && response.ok() {
                self.feed(Event::GrantSpent {
                    jti: g.claims.jti.clone(),
                    here: true,
                });
            }
        }
    }

    // ---- lock, unlock, handoff, logout ------------------------------------------------------

    pub(crate) fn lock(self: &Rc<Self>) -> Result<(), BrowserError> {
        self.alive()?;
        self.feed(Event::Lock);
        Ok(())
    }

    pub(crate) fn logout(self: &Rc<Self>) -> Result<(), BrowserError> {
        self.alive()?;
        self.feed(Event::Logout { here: true });
        Ok(())
    }

    pub(crate) fn handoff(self: &Rc<Self>, value: &JsValue) -> Result<(), BrowserError> {
        self.alive()?;
        let text = js::stringify(value)
            .ok_or_else(|| BrowserError::config("session", "must be a session object"))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let info: SessionInfo = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = format!("session.{}", e.path());
            let mut message = e.into_inner().to_string();
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            BrowserError::config(&path, message)
        })?;
        info.validate("session.")?;
        let device = self.state.borrow().device.id.clone();
        if info.device.as_ref().is_some_and(|d| d.id != device) {
            return Err(BrowserError::config(
                "session.device.id",
                "a handoff keeps the device",
            ));
        }
        self.feed(Event::UserSwitch {
            session_id: info.session_id.clone(),
            user: info.user(),
            strong_auth_at_ms: info.last_strong_auth_ms,
        });
        Ok(())
    }

    pub(crate) async fn unlock(self: Rc<Self>) -> Result<UnlockOutcome, BrowserError> {
        self.alive()?;
        self.feed(Event::Tick);
        let (status, session_id, user_id) = {
            let st = self.state.borrow();
            (
                st.status.clone(),
                st.session_id.clone(),
                st.user.as_ref().map(|u| u.id.clone()),
            )
        };
        match status {
            Status::Active => return Ok(UnlockOutcome::NotLocked),
            Status::LoggedOut => return Err(BrowserError::Locked),
            Status::Locked { .. } => {}
        }
        if !self.online() {
            return Err(BrowserError::Network {
                message: String::from("offline: unlocking needs the server"),
                cause: None,
            });
        }
        let start: UnlockStart =
            transport::post_json(&self.endpoints.unlock_start, "{}", false).await?;
        self.alive()?;
        start.public_key.check()?;
        let public_key = ceremony::parse_options(&start.public_key)?;
        let credential = match self
            .run_ceremony(&public_key, start.public_key.timeout_ms())
            .await
        {
            Ok(c) => c,
            Err(f) if f.classified.disposition == Disposition::Failed => {
                return Err(f.into_error());
            }
            Err(f) => {
                self.alive()?;
                return Ok(UnlockOutcome::Cancelled {
                    code: f.classified.code.code(),
                });
            }
        };
        let credential = js::stringify(&credential).unwrap_or_else(|| String::from("null"));
        let body = format!(
            "{{\"requestId\":{},\"credential\":{credential}}}",
            json(&start.request_id)
        );
        let finish: UnlockFinish =
            transport::post_json(&self.endpoints.unlock_finish, &body, false).await?;
        self.alive()?;
        if finish.session.session_id != session_id
            || user_id.as_deref() != Some(finish.session.user.id.as_str())
        {
            return Err(BrowserError::server(
                200,
                "the server unlocked another session or clinician",
            ));
        }
        let at = finish
            .session
            .last_strong_auth_ms
            .unwrap_or_else(|| self.now());
        self.feed(Event::Unlock {
            strong_auth_at_ms: at,
        });
        Ok(UnlockOutcome::Unlocked)
    }

    // ---- audit ------------------------------------------------------------------------------

    fn spawn_flush(self: &Rc<Self>, keepalive: bool) {
        let me = Rc::clone(self);
        spawn_local(async move { me.flush(keepalive).await });
    }

    /// Send queued events in batches; remove only what the server acknowledged. A keepalive
    /// flush (pagehide, freeze) always goes out, even while another flush is in flight:
    /// duplicates are harmless (ids).
    async fn flush(&self, keepalive: bool) {
        if !self.online() || (!keepalive && self.flushing.get()) {
            return;
        }
        if !keepalive {
            self.flushing.set(true);
        }
        loop {
            let mut batch = self.audit.pending(storage::AUDIT_BATCH);
            if batch.is_empty() {
                break;
            }
            if keepalive {
                let mut size = 16usize;
                let keep = batch
                    .iter()
                    .take_while(|q| {
                        size = size.saturating_add(q.json.len() + 1);
                        size <= transport::KEEPALIVE_BYTES
                    })
                    .count();
                batch.truncate(keep.max(1));
            }
            let full = batch.len() >= storage::AUDIT_BATCH;
            let body = storage::batch_body(&batch);
            match transport::post_json::<AuditAck>(&self.endpoints.audit, &body, keepalive).await {
                Ok(ack) => {
                    self.audit.acknowledge(&ack.acknowledged);
                    let all = batch.iter().all(|q| ack.acknowledged.contains(&q.id));
                    if keepalive || !full || !all {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        if !keepalive {
            self.flushing.set(false);
        }
    }

    // ---- dispose ----------------------------------------------------------------------------

    pub(crate) fn dispose(&self) {
        if self.disposed.get() {
            return;
        }
        self.persist();
        self.disposed.set(true);
        self.abort_ceremony(OurAbort::Disposed);
        self.release_waiters(false);
        let listeners = std::mem::take(&mut *self.listeners.borrow_mut());
        drop(listeners);
        let intervals = std::mem::take(&mut *self.intervals.borrow_mut());
        drop(intervals);
        let channel = self.channel.borrow_mut().take();
        drop(channel);
        self.early.borrow_mut().clear();
    }
}

/// Wait for a registered waiter: `true` to offer the task again.
async fn offered(offer: Option<js_sys::Promise>) -> bool {
    match offer {
        Some(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        None => false,
    }
}

fn malformed(message: &str) -> BrowserError {
    BrowserError::Core(Error::ChallengeHeaderMalformed {
        message: message.to_string(),
    })
}

fn set_bearer(request: &web_sys::Request, token: &str) -> Result<(), BrowserError> {
    request
        .headers()
        .set("Authorization", &format!("Bearer {token}"))
        .map_err(|cause| BrowserError::Network {
            message: String::from("the request's headers cannot carry a grant"),
            cause: Some(cause),
        })
}

/// The strictest requirement: a ceremony for this very task (used if a step-up decision
/// somehow lacks its requirement).
fn strictest() -> StepUp {
    StepUp {
        user_verification: UserVerification::Required,
        max_auth_age_seconds: 0,
        scope: ScopeKind::Task,
        grant_lifetime_seconds: 1,
        authenticator: Default::default(),
        single_use: true,
    }
}

/// GET a text resource (the policy by URL).
async fn fetch_text(url: &str) -> Result<String, BrowserError> {
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|cause| {
        BrowserError::Network {
            message: js::error_message(&cause),
            cause: Some(cause),
        }
    })?;
    let response = js::fetch(&request).await?;
    if !response.ok() {
        return Err(BrowserError::server(
            response.status(),
            format!("the policy could not be fetched from `{url}`"),
        ));
    }
    transport::text(&response).await
}

/// Take the Web Lock `name`; `None` if there is no Web Locks API or the request failed.
async fn web_lock(name: &str) -> Option<Function> {
    let w = js::window()?;
    let locks = js::get(&js::get(&w, "navigator"), "locks");
    let request = js::get_fn(&locks, "request")?;
    let (acquired, on_acquired, on_failed) = js::deferred()?;
    let (held, release, _) = js::deferred()?;
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let _ = on_acquired.call0(&JsValue::UNDEFINED);
        held.into()
    });
    let result = request
        .call2(&locks, &JsValue::from_str(name), &callback)
        .ok()?;
    if let Some(catch) = js::get_fn(&result, "catch") {
        let _ = catch.call1(&result, &on_failed);
    }
    JsFuture::from(acquired).await.ok()?;
    Some(release)
}
