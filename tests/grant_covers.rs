//! When a grant covers a task: a table of unit cases, then properties over random tasks and
//! grants (proptest, 1024 cases each) that say what a grant must never cover.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use wardgate::grant::{CLOCK_SKEW_MS, GrantClaims, Issue};
use wardgate::policy::{
    AuthenticatorAttachment, ScopeKind, SessionFacts, StepUp, UserVerification,
};
use wardgate::task::{Connectivity, Device, Patient, TaskContext, User};

const NOW: u64 = 1_764_057_600_000;
const CASES: u32 = 1024;
const SCOPES: [ScopeKind; 4] = [
    ScopeKind::Task,
    ScopeKind::ActionPatient,
    ScopeKind::Action,
    ScopeKind::Session,
];

// ---------------------------------------------------------------------------------------------
// Fixtures

fn task(user: &str, action: &str, patient: Option<&str>, targets: &[&str]) -> TaskContext {
    TaskContext {
        user: User {
            id: user.into(),
            roles: vec!["physician".into()],
        },
        action: action.into(),
        patient: patient.map(|id| Patient {
            id: id.into(),
            labels: Vec::new(),
        }),
        encounter_id: None,
        targets: targets.iter().map(|t| (*t).to_string()).collect(),
        summary: None,
        device: Device {
            id: "ws-12".into(),
            shared: true,
            managed: true,
        },
        zone: Some("ward-4b".into()),
        connectivity: Connectivity::Online,
        emergency: None,
    }
}

/// Sign order 42 for patient p-3.
fn sign42() -> TaskContext {
    task(
        "dr-okafor",
        "order-sign",
        Some("p-3"),
        &["MedicationRequest/42"],
    )
}

fn req(scope: ScopeKind, max_age: u32) -> StepUp {
    StepUp {
        user_verification: UserVerification::Required,
        max_auth_age_seconds: max_age,
        scope,
        grant_lifetime_seconds: 600,
        authenticator: AuthenticatorAttachment::Any,
        single_use: false,
    }
}

fn facts(session_id: &str) -> SessionFacts {
    SessionFacts {
        session_id: session_id.into(),
        started_at_ms: NOW - 3_600_000,
        last_activity_ms: Some(NOW),
        last_strong_auth_ms: Some(NOW),
        ..SessionFacts::default()
    }
}

/// A grant earned for `earned` under `r`, 10 s ago, after a ceremony 20 s ago.
fn grant_for(earned: &TaskContext, r: &StepUp, att: AuthenticatorAttachment) -> GrantClaims {
    GrantClaims::for_step_up(
        earned,
        r,
        Issue {
            issuer: "https://ehr.example",
            session_id: "s-1",
            auth_time_ms: NOW - 20_000,
            now_ms: NOW - 10_000,
            jti: "g-1".into(),
            attachment: att,
        },
    )
}

fn covers(g: &GrantClaims, t: &TaskContext, r: &StepUp, f: &SessionFacts, now: u64) -> bool {
    g.covers(t, &t.hash(), r, f, now)
}

// ---------------------------------------------------------------------------------------------
// Unit cases

#[test]
fn the_builder_scopes_the_grant_as_the_requirement_says() {
    let t = sign42();
    let g = grant_for(&t, &req(ScopeKind::Task, 0), AuthenticatorAttachment::Any);
    assert_eq!(g.scp.kind, ScopeKind::Task);
    assert_eq!(g.scp.task, Some(t.hash().to_hex()));
    assert_eq!(g.scp.patient.as_deref(), Some("p-3"));
    assert_eq!(g.scp.actions, vec!["order-sign".to_string()]);
    assert_eq!(
        (g.sub.as_str(), g.sid.as_str(), g.dev.as_str()),
        ("dr-okafor", "s-1", "ws-12")
    );
    assert_eq!(g.exp - g.iat, 600);
    assert!(g.auth_time <= g.iat);
    assert_eq!(g.acr, "phr");
    assert_eq!(g.amr, vec!["hwk", "user", "mfa"]);
    assert!(!g.once);

    let g = grant_for(
        &t,
        &req(ScopeKind::ActionPatient, 300),
        AuthenticatorAttachment::Any,
    );
    assert_eq!(
        (g.scp.kind, g.scp.patient.as_deref(), g.scp.task.as_deref()),
        (ScopeKind::ActionPatient, Some("p-3"), None)
    );
    let g = grant_for(
        &t,
        &req(ScopeKind::Action, 300),
        AuthenticatorAttachment::Any,
    );
    assert_eq!(
        (g.scp.kind, g.scp.patient.as_deref(), g.scp.actions.len()),
        (ScopeKind::Action, None, 1)
    );
    let g = grant_for(
        &t,
        &req(ScopeKind::Session, 300),
        AuthenticatorAttachment::Any,
    );
    assert_eq!((g.scp.kind, g.scp.actions.len()), (ScopeKind::Session, 0));

    let mut epcs = req(ScopeKind::Task, 0);
    epcs.single_use = true;
    epcs.authenticator = AuthenticatorAttachment::CrossPlatform;
    let g = grant_for(&t, &epcs, AuthenticatorAttachment::CrossPlatform);
    assert!(g.once);
    assert_eq!(g.acr, "phrh");
    assert_eq!(g.att, AuthenticatorAttachment::CrossPlatform);
}

/// One row: what changes from the baseline (a fresh action-patient grant for sign42, asked for
/// sign42 under an action-patient requirement with a 15-minute freshness, at NOW), and whether
/// the grant must still cover.
type Row = (
    &'static str,
    fn(&mut GrantClaims, &mut TaskContext, &mut StepUp, &mut SessionFacts, &mut u64),
    bool,
);

#[test]
fn coverage_table() {
    let rows: Vec<Row> = vec![
        ("baseline", |_, _, _, _, _| {}, true),
        // Time.
        (
            "just before exp",
            |g, _, _, _, n| *n = g.exp * 1000 - 1,
            true,
        ),
        ("at exp", |g, _, _, _, n| *n = g.exp * 1000, false),
        (
            "long after exp",
            |g, _, _, _, n| *n = g.exp * 1000 + 86_400_000,
            false,
        ),
        (
            "iat within the clock skew",
            |g, _, _, _, n| *n = g.iat * 1000 - CLOCK_SKEW_MS,
            true,
        ),
        (
            "iat beyond the clock skew",
            |g, _, _, _, n| *n = g.iat * 1000 - CLOCK_SKEW_MS - 1,
            false,
        ),
        // Who, which session, which device.
        (
            "another user",
            |_, t, _, _, _| t.user.id = "dr-lee".into(),
            false,
        ),
        (
            "another device",
            |_, t, _, _, _| t.device.id = "tablet-1".into(),
            false,
        ),
        (
            "another session",
            |_, _, _, f, _| f.session_id = "s-2".into(),
            false,
        ),
        // User verification and authenticator.
        (
            "no mfa in amr",
            |g, _, _, _, _| g.amr.retain(|m| m != "mfa"),
            false,
        ),
        (
            "cross-platform asked, platform used",
            |_, _, r, _, _| r.authenticator = AuthenticatorAttachment::CrossPlatform,
            false,
        ),
        (
            "cross-platform asked and used",
            |g, _, r, _, _| {
                r.authenticator = AuthenticatorAttachment::CrossPlatform;
                g.att = AuthenticatorAttachment::CrossPlatform;
            },
            true,
        ),
        (
            "platform asked, cross-platform used",
            |g, _, _, _, _| g.att = AuthenticatorAttachment::CrossPlatform,
            true,
        ),
        // Single use.
        ("single use, unspent", |g, _, _, _, _| g.once = true, true),
        (
            "single use, spent",
            |g, _, _, f, _| {
                g.once = true;
                f.spent_grants.push(g.jti.clone());
            },
            false,
        ),
        (
            "single use, another grant spent",
            |g, _, _, f, _| {
                g.once = true;
                f.spent_grants.push("g-other".into());
            },
            true,
        ),
        // Freshness of the strong authentication.
        (
            "auth exactly max age old",
            |g, _, r, _, n| {
                r.max_auth_age_seconds = 60;
                *n = g.auth_time * 1000 + 60_000;
            },
            true,
        ),
        (
            "auth older than max age",
            |g, _, r, _, n| {
                r.max_auth_age_seconds = 60;
                *n = g.auth_time * 1000 + 60_001;
            },
            false,
        ),
        (
            "max age 0: only a task grant",
            |_, _, r, _, _| r.max_auth_age_seconds = 0,
            false,
        ),
        // Scope width.
        (
            "requirement narrower (task)",
            |_, _, r, _, _| r.scope = ScopeKind::Task,
            false,
        ),
        (
            "requirement wider (session)",
            |_, _, r, _, _| r.scope = ScopeKind::Session,
            true,
        ),
        (
            "action grant, action-patient asked",
            |g, _, _, _, _| {
                g.scp.kind = ScopeKind::Action;
                g.scp.patient = None;
            },
            false,
        ),
        // Matching within the scope.
        (
            "another patient",
            |_, t, _, _, _| t.patient.as_mut().unwrap().id = "p-4".into(),
            false,
        ),
        ("no patient", |_, t, _, _, _| t.patient = None, false),
        (
            "another action",
            |_, t, _, _, _| t.action = "note-sign".into(),
            false,
        ),
        (
            "another order, same patient and action",
            |_, t, _, _, _| t.targets = vec!["MedicationRequest/43".into()],
            true,
        ),
        (
            "grant without patient",
            |g, _, _, _, _| g.scp.patient = None,
            false,
        ),
        (
            "action grant, another patient",
            |g, t, r, _, _| {
                g.scp.kind = ScopeKind::Action;
                r.scope = ScopeKind::Action;
                t.patient.as_mut().unwrap().id = "p-4".into();
            },
            true,
        ),
        (
            "action grant, another action",
            |g, t, r, _, _| {
                g.scp.kind = ScopeKind::Action;
                r.scope = ScopeKind::Action;
                t.action = "note-sign".into();
            },
            false,
        ),
        (
            "session grant, anything",
            |g, t, r, _, _| {
                g.scp.kind = ScopeKind::Session;
                g.scp.actions.clear();
                r.scope = ScopeKind::Session;
                t.action = "record-export".into();
                t.patient = None;
            },
            true,
        ),
        (
            "session grant, action asked",
            |g, _, r, _, _| {
                g.scp.kind = ScopeKind::Session;
                r.scope = ScopeKind::Action;
            },
            false,
        ),
    ];
    assert!(rows.len() >= 30);
    for (name, change, expected) in rows {
        let mut t = sign42();
        let mut r = req(ScopeKind::ActionPatient, 900);
        let mut g = grant_for(&t, &r, AuthenticatorAttachment::Any);
        let mut f = facts("s-1");
        let mut now = NOW;
        change(&mut g, &mut t, &mut r, &mut f, &mut now);
        assert_eq!(covers(&g, &t, &r, &f, now), expected, "{name}");
    }
}

#[test]
fn task_grants_cover_exactly_their_task() {
    let t = sign42();
    let r = req(ScopeKind::Task, 0);
    let g = grant_for(&t, &r, AuthenticatorAttachment::Any);
    let f = facts("s-1");
    assert!(covers(&g, &t, &r, &f, NOW));
    // The same task with its targets listed in another order and repeated: same hash.
    let mut same = task(
        "dr-okafor",
        "order-sign",
        Some("p-3"),
        &["MedicationRequest/42", "MedicationRequest/42"],
    );
    same.zone = Some("icu".into());
    assert!(
        covers(&g, &same, &r, &f, NOW),
        "zone and duplicates are not part of the task"
    );
    let others = [
        (
            "another order",
            task(
                "dr-okafor",
                "order-sign",
                Some("p-3"),
                &["MedicationRequest/43"],
            ),
        ),
        (
            "one more order",
            task(
                "dr-okafor",
                "order-sign",
                Some("p-3"),
                &["MedicationRequest/42", "MedicationRequest/43"],
            ),
        ),
        (
            "another patient",
            task(
                "dr-okafor",
                "order-sign",
                Some("p-4"),
                &["MedicationRequest/42"],
            ),
        ),
        (
            "no patient",
            task("dr-okafor", "order-sign", None, &["MedicationRequest/42"]),
        ),
        (
            "another action",
            task(
                "dr-okafor",
                "note-sign",
                Some("p-3"),
                &["MedicationRequest/42"],
            ),
        ),
        ("another summary", {
            let mut s = sign42();
            s.summary = Some("I attest ...".into());
            s
        }),
        ("another encounter", {
            let mut s = sign42();
            s.encounter_id = Some("e-9".into());
            s
        }),
    ];
    for (name, other) in &others {
        assert!(!covers(&g, other, &r, &f, NOW), "{name}");
        // Not even under the widest requirement: a task grant is bound to its hash.
        assert!(
            !covers(&g, other, &req(ScopeKind::Session, 300), &f, NOW),
            "{name} (session)"
        );
    }
    // A broken hash covers nothing.
    for bad in ["", "zz", "00", &"0".repeat(63), &"g".repeat(64)] {
        let mut b = g.clone();
        b.scp.task = Some(bad.to_string());
        assert!(!covers(&b, &t, &r, &f, NOW), "{bad:?}");
    }
    let mut none = g.clone();
    none.scp.task = None;
    assert!(!covers(&none, &t, &r, &f, NOW));
    // Uppercase hex is the same hash.
    let mut upper = g.clone();
    upper.scp.task = Some(t.hash().to_hex().to_uppercase());
    assert!(covers(&upper, &t, &r, &f, NOW));
}

// ---------------------------------------------------------------------------------------------
// Properties

const USERS: &[&str] = &["u-1", "u-2"];
const ACTIONS: &[&str] = &[
    "patient-view",
    "order-sign",
    "medication-prescribe",
    "note-sign",
];
const PATIENTS: &[Option<&str>] = &[None, Some("p-1"), Some("p-2")];
const TARGETS: &[&str] = &[
    "MedicationRequest/1",
    "MedicationRequest/2",
    "ServiceRequest/3",
];
const DEVICES: &[&str] = &["d-1", "d-2"];
const SESSIONS: &[&str] = &["s-1", "s-2"];
const ATTACHMENTS: [AuthenticatorAttachment; 2] = [
    AuthenticatorAttachment::Any,
    AuthenticatorAttachment::CrossPlatform,
];

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(xs).prop_map(str::to_string)
}

fn a_task() -> impl Strategy<Value = TaskContext> {
    (
        pick(USERS),
        pick(ACTIONS),
        proptest::sample::select(PATIENTS),
        proptest::sample::subsequence(TARGETS, 0..=TARGETS.len()),
        any::<bool>(),
        pick(DEVICES),
    )
        .prop_map(|(user, action, patient, targets, summary, device)| {
            let mut t = task(&user, &action, patient, &targets);
            t.device.id = device;
            t.summary = summary.then(|| "sign the orders shown".to_string());
            t
        })
}

fn a_requirement() -> impl Strategy<Value = StepUp> {
    (
        proptest::sample::select(vec![0u32, 60, 300, 900, 3600]),
        proptest::sample::select(SCOPES.to_vec()),
        proptest::sample::select(vec![60u32, 300, 900, 43_200]),
        proptest::sample::select(ATTACHMENTS.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(max_age, scope, life, authenticator, single_use)| StepUp {
            user_verification: UserVerification::Required,
            max_auth_age_seconds: max_age,
            scope,
            grant_lifetime_seconds: life,
            authenticator,
            single_use,
        })
}

/// A grant, the task it was earned for, and the task, requirement, session and time it is
/// asked to cover. Half the time the asked task is the earned one, so that coverage happens
/// often enough for the "never" properties to mean something.
#[derive(Debug, Clone)]
struct Case {
    earned: TaskContext,
    grant: GrantClaims,
    asked: TaskContext,
    req: StepUp,
    facts: SessionFacts,
    now: u64,
}

impl Case {
    fn covers(&self) -> bool {
        covers(&self.grant, &self.asked, &self.req, &self.facts, self.now)
    }
}

fn a_case() -> impl Strategy<Value = Case> {
    (
        (a_task(), a_task(), proptest::bool::weighted(0.6)),
        (
            a_requirement(),
            a_requirement(),
            proptest::bool::weighted(0.6),
        ),
        (
            proptest::bool::weighted(0.8),
            0u64..600_000,
            0u64..300_000,
            proptest::sample::select(ATTACHMENTS.to_vec()),
        ),
        (
            pick(SESSIONS),
            proptest::bool::weighted(0.3),
            proptest::bool::weighted(0.1),
        ),
        // Now, relative to when the grant was minted: from 2 minutes before to 12 hours after.
        (-120_000i64..43_200_000, any::<bool>()),
    )
        .prop_map(
            |(
                (earned, other, same_task),
                (grant_req, asked_req, same_req),
                (same_session, auth_age_ms, mint_age_ms, attachment),
                (session_id, spent, drop_mfa),
                (offset, soon),
            )| {
                let asked = if same_task { earned.clone() } else { other };
                let req = if same_req {
                    grant_req.clone()
                } else {
                    asked_req
                };
                let minted_ms = NOW - mint_age_ms;
                let grant_sid = if same_session {
                    session_id.clone()
                } else {
                    String::from("s-other")
                };
                let mut grant = GrantClaims::for_step_up(
                    &earned,
                    &grant_req,
                    Issue {
                        issuer: "https://ehr.example",
                        session_id: &grant_sid,
                        auth_time_ms: minted_ms - auth_age_ms,
                        now_ms: minted_ms,
                        jti: "g-1".into(),
                        attachment,
                    },
                );
                if drop_mfa {
                    grant.amr.retain(|m| m != "mfa");
                }
                let mut facts = facts(&session_id);
                if spent {
                    facts.spent_grants.push("g-1".into());
                }
                // Mostly within the first minutes, where coverage is possible.
                let offset = if soon { offset % 300_000 } else { offset };
                let now = minted_ms.saturating_add_signed(offset);
                Case {
                    earned,
                    grant,
                    asked,
                    req,
                    facts,
                    now,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// (a) A grant never covers a task for another patient unless its scope is action or
    /// session.
    #[test]
    fn another_patient_needs_an_action_or_session_grant(c in a_case()) {
        if c.covers() && c.earned.patient_id() != c.asked.patient_id() {
            prop_assert!(matches!(c.grant.scp.kind, ScopeKind::Action | ScopeKind::Session), "{c:?}");
        }
        if c.covers() && c.grant.scp.kind == ScopeKind::ActionPatient {
            prop_assert!(c.asked.patient_id().is_some());
            prop_assert_eq!(c.grant.scp.patient.as_deref(), c.asked.patient_id());
        }
    }

    /// (b) A task-scoped grant never covers a task with a different hash.
    #[test]
    fn a_task_grant_covers_only_its_hash(c in a_case()) {
        if c.grant.scp.kind == ScopeKind::Task && c.earned.hash() != c.asked.hash() {
            prop_assert!(!c.covers(), "{c:?}");
        }
        if c.covers() && c.grant.scp.kind == ScopeKind::Task {
            prop_assert_eq!(c.grant.scp.task.clone(), Some(c.asked.hash().to_hex()));
        }
    }

    /// (c) An expired grant never covers, whatever else holds.
    #[test]
    fn an_expired_grant_never_covers(c in a_case(), after in 0u64..86_400_000) {
        if c.now >= c.grant.exp * 1000 {
            prop_assert!(!c.covers(), "{c:?}");
        }
        let expired = c.grant.exp * 1000 + after;
        prop_assert!(!covers(&c.grant, &c.asked, &c.req, &c.facts, expired));
        prop_assert!(!covers(&c.grant, &c.earned, &c.req, &c.facts, expired));
    }

    /// (d) A grant never covers a task of another user or device, nor in another session.
    #[test]
    fn a_grant_never_crosses_people_devices_or_sessions(c in a_case()) {
        if c.covers() {
            prop_assert_eq!(&c.grant.sub, &c.asked.user.id);
            prop_assert_eq!(&c.grant.dev, &c.asked.device.id);
            prop_assert_eq!(&c.grant.sid, &c.facts.session_id);
        }
        if c.grant.sub != c.asked.user.id
            || c.grant.dev != c.asked.device.id
            || c.grant.sid != c.facts.session_id
        {
            prop_assert!(!c.covers(), "{c:?}");
        }
    }

    /// (e) A spent single-use grant never covers.
    #[test]
    fn a_spent_single_use_grant_never_covers(c in a_case()) {
        let mut c = c;
        c.grant.once = true;
        c.facts.spent_grants = vec!["g-0".into(), c.grant.jti.clone()];
        prop_assert!(!c.covers(), "{c:?}");
    }

    /// (f) A platform-attachment grant never covers a cross-platform requirement.
    #[test]
    fn a_platform_grant_never_meets_a_cross_platform_requirement(c in a_case()) {
        let mut c = c;
        c.grant.att = AuthenticatorAttachment::Any;
        c.req.authenticator = AuthenticatorAttachment::CrossPlatform;
        prop_assert!(!c.covers(), "{c:?}");
    }

    /// (g) A grant wider than the requirement's scope never covers (and without user
    /// verification, nothing covers).
    #[test]
    fn a_wider_grant_never_covers(c in a_case()) {
        if c.grant.scp.kind > c.req.scope {
            prop_assert!(!c.covers(), "{c:?}");
        }
        if !c.grant.amr.iter().any(|m| m == "mfa") {
            prop_assert!(!c.covers(), "{c:?}");
        }
    }

    /// And the other way round: a grant earned for this very task under this requirement,
    /// with the authenticator it asks for, covers it within its lifetime and freshness.
    #[test]
    fn a_grant_covers_the_task_it_was_earned_for(
        t in a_task(), r in a_requirement(), after in 0u64..43_200_000,
    ) {
        let mut r = r;
        if r.max_auth_age_seconds == 0 {
            r.scope = ScopeKind::Task;
        }
        let g = GrantClaims::for_step_up(&t, &r, Issue {
            issuer: "https://ehr.example",
            session_id: "s-1",
            auth_time_ms: NOW,
            now_ms: NOW,
            jti: "g-1".into(),
            attachment: r.authenticator,
        });
        let now = NOW + after;
        let fresh = r.max_auth_age_seconds == 0
            || now <= NOW + u64::from(r.max_auth_age_seconds) * 1000;
        let alive = now < g.exp * 1000;
        prop_assert_eq!(
            covers(&g, &t, &r, &facts("s-1"), now),
            fresh && alive,
            "{:?} {:?} +{}ms", r, g.scp, after
        );
    }
}

/// The generated cases are not vacuous: a fair share of them are covered, under every scope.
#[test]
fn generated_cases_often_cover() {
    let mut runner = TestRunner::deterministic();
    let strategy = a_case();
    let mut covered = [0u32; 4];
    let n = 4000;
    for _ in 0..n {
        let c = strategy.new_tree(&mut runner).unwrap().current();
        if c.covers() {
            let i = SCOPES.iter().position(|k| *k == c.grant.scp.kind).unwrap();
            covered[i] += 1;
        }
    }
    eprintln!("covered per scope: {covered:?} of {n}");
    for (kind, count) in SCOPES.iter().zip(covered) {
        assert!(count >= 10, "{kind:?} covered only {count} of {n} cases");
    }
}
