//! Property tests for the core's invariants (proptest; cases per property are set below and
//! reported in the closing notes).
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::too_many_arguments,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use proptest::prelude::*;
use wardgate::grant::{GrantClaims, GrantScope};
use wardgate::policy::{
    AuthenticatorAttachment, DefaultEffect, DeviceCondition, Effect, Policy, PolicyDocument, Rule,
    RuleEffect, ScopeKind, SessionFacts, SessionLimits, Sessions, SetCondition, StepUp,
    UserVerification, When,
};
use wardgate::session::{Effect as Fx, Event, State, Status, step};
use wardgate::task::{Connectivity, Device, Emergency, Patient, TaskContext, User};

const NOW: u64 = 1_764_057_600_000;
const ACTIONS: &[&str] = &[
    "patient-view",
    "order-sign",
    "medication-prescribe",
    "note-sign",
    "record-export",
    "vitals-record",
];
const ROLES: &[&str] = &["nurse", "physician", "resident", "student"];
const LABELS: &[&str] = &["vip", "restricted", "controlled-substance"];
const PATIENTS: &[&str] = &["p-1", "p-2", "p-3"];
const SCOPES: [ScopeKind; 4] = [
    ScopeKind::Task,
    ScopeKind::ActionPatient,
    ScopeKind::Action,
    ScopeKind::Session,
];

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(xs).prop_map(str::to_string)
}
fn subset(xs: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(xs, 0..=xs.len())
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
}

fn step_up() -> impl Strategy<Value = StepUp> {
    (
        0u32..2000,
        0usize..4,
        1u32..3600,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(age, sc, life, cross, once)| StepUp {
            user_verification: UserVerification::Required,
            max_auth_age_seconds: age,
            scope: SCOPES[sc],
            grant_lifetime_seconds: life,
            authenticator: if cross {
                AuthenticatorAttachment::CrossPlatform
            } else {
                AuthenticatorAttachment::Any
            },
            single_use: once,
        })
}

fn set_cond(xs: &'static [&'static str]) -> impl Strategy<Value = Option<SetCondition>> {
    proptest::option::of(
        (subset(xs), subset(xs)).prop_filter_map("non-empty", |(a, n)| {
            (!a.is_empty() || !n.is_empty()).then_some(SetCondition {
                any_of: a,
                none_of: n,
            })
        }),
    )
}

/// A random rule; break-glass rules always require an emergency (the policy validator
/// enforces that).
fn rule(id: usize, allow_glass: bool) -> impl Strategy<Value = Rule> {
    (
        proptest::option::of(proptest::sample::subsequence(ACTIONS, 1..=3)),
        set_cond(ROLES),
        set_cond(LABELS),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        0u8..if allow_glass { 4 } else { 3 },
        step_up(),
    )
        .prop_map(
            move |(actions, roles, labels, shared, offline, emergency, eff, su)| {
                let effect = [
                    RuleEffect::Allow,
                    RuleEffect::Deny,
                    RuleEffect::StepUp,
                    RuleEffect::BreakGlass,
                ][usize::from(eff)];
                Rule {
                    id: format!("r-{id}"),
                    description: None,
                    when: When {
                        actions: actions.map(|v| v.into_iter().map(str::to_string).collect()),
                        roles,
                        labels,
                        device: shared.map(|s| DeviceCondition {
                            shared: Some(s),
                            managed: None,
                        }),
                        connectivity: offline.map(|o| {
                            if o {
                                Connectivity::Offline
                            } else {
                                Connectivity::Online
                            }
                        }),
                        emergency: if effect == RuleEffect::BreakGlass {
                            Some(true)
                        } else {
                            emergency
                        },
                        ..When::default()
                    },
                    effect,
                    step_up: (effect == RuleEffect::StepUp).then_some(su),
                    strengthens_only: false,
                    reason: None,
                }
            },
        )
}

fn rules(n: std::ops::Range<usize>, glass: bool) -> impl Strategy<Value = Vec<Rule>> {
    proptest::collection::vec(0usize..1, n).prop_flat_map(move |v| {
        v.iter()
            .enumerate()
            .map(|(i, _)| rule(i, glass))
            .collect::<Vec<_>>()
    })
}

fn policy(rules: Vec<Rule>, default: DefaultEffect) -> Policy {
    Policy::new(PolicyDocument {
        version: "wardgate/1".into(),
        id: "prop".into(),
        description: None,
        default: Some(default),
        sessions: Sessions::default(),
        offline: None,
        rules,
    })
    .unwrap()
}

fn context() -> impl Strategy<Value = TaskContext> {
    (
        pick(ACTIONS),
        subset(ROLES),
        proptest::option::of((pick(PATIENTS), subset(LABELS))),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(
            pick(&[
                "MedicationRequest/1",
                "MedicationRequest/2",
                "MedicationRequest/3",
            ]),
            0..3,
        ),
    )
        .prop_map(
            |(action, roles, patient, shared, offline, emergency, targets)| TaskContext {
                user: User {
                    id: "u-1".into(),
                    roles,
                },
                action,
                patient: patient.map(|(id, labels)| Patient { id, labels }),
                encounter_id: None,
                targets,
                summary: None,
                device: Device {
                    id: "d-1".into(),
                    shared,
                    managed: true,
                },
                zone: None,
                connectivity: if offline {
                    Connectivity::Offline
                } else {
                    Connectivity::Online
                },
                emergency: emergency.then(|| Emergency {
                    reason: "code blue".into(),
                }),
            },
        )
}

fn facts(ctx: &TaskContext) -> SessionFacts {
    SessionFacts {
        session_id: "s-1".into(),
        started_at_ms: NOW - 60_000,
        last_activity_ms: Some(NOW - 1000),
        last_strong_auth_ms: Some(NOW - 60_000),
        roles_at_start: ctx.user.roles.clone(),
        ..SessionFacts::default()
    }
}

fn matching_deny(p: &Policy, ctx: &TaskContext) -> bool {
    // A deny rule matches iff adding it alone under default-allow denies.
    p.document()
        .rules
        .iter()
        .filter(|r| r.effect == RuleEffect::Deny)
        .any(|r| {
            let only = policy(vec![r.clone()], DefaultEffect::Allow);
            only.evaluate(ctx, &facts(ctx), NOW).rule_ids == vec![r.id.clone()]
        })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Deny always wins: if a matching rule denies, the decision is deny.
    #[test]
    fn deny_always_wins(rs in rules(1..12, true), ctx in context()) {
        let p = policy(rs, DefaultEffect::Allow);
        let d = p.evaluate(&ctx, &facts(&ctx), NOW);
        if matching_deny(&p, &ctx) {
            prop_assert_eq!(d.effect, Effect::Deny);
        }
        prop_assert!(!d.rule_ids.is_empty());
        prop_assert!(!d.reason.is_empty());
    }

    /// Adding a (non-break-glass) rule never weakens a step-up requirement.
    #[test]
    fn a_step_up_is_never_weakened_by_adding_rules(rs in rules(1..10, false), extra in rule(99, false), ctx in context()) {
        let before = policy(rs.clone(), DefaultEffect::Deny).evaluate(&ctx, &facts(&ctx), NOW);
        let mut more = rs;
        more.push(extra);
        let after = policy(more, DefaultEffect::Deny).evaluate(&ctx, &facts(&ctx), NOW);
        if before.effect == Effect::StepUp {
            prop_assert!(matches!(after.effect, Effect::StepUp | Effect::Deny), "{:?}", after);
            if let (Some(b), Some(a)) = (&before.requirement, &after.requirement) {
                prop_assert!(a.max_auth_age_seconds <= b.max_auth_age_seconds);
                prop_assert!(a.scope <= b.scope);
                prop_assert!(a.grant_lifetime_seconds <= b.grant_lifetime_seconds);
                prop_assert!(a.authenticator >= b.authenticator);
                prop_assert!(a.single_use || !b.single_use);
            }
        }
    }

    /// Under default deny, an action no rule names (and no rule matches without naming
    /// actions) is never allowed.
    #[test]
    fn an_unknown_action_is_never_allowed_under_default_deny(rs in rules(0..10, true), mut ctx in context()) {
        ctx.action = "bed-transfer".into();
        let rs: Vec<Rule> = rs.into_iter().filter(|r| r.when.actions.is_some()).collect();
        let d = policy(rs, DefaultEffect::Deny).evaluate(&ctx, &facts(&ctx), NOW);
        prop_assert_eq!(d.effect, Effect::Deny);
        prop_assert_eq!(d.rule_ids, vec!["$default".to_string()]);
    }

    /// Break-glass only with an emergency, always flagged; offline never yields a plain
    /// step-up (nobody is prompted for a ceremony that cannot complete).
    #[test]
    fn break_glass_and_offline_invariants(rs in rules(1..12, true), ctx in context()) {
        let d = policy(rs, DefaultEffect::Allow).evaluate(&ctx, &facts(&ctx), NOW);
        if d.effect == Effect::BreakGlass {
            prop_assert!(ctx.emergency.is_some());
            prop_assert!(d.review_required);
        }
        if ctx.connectivity == Connectivity::Offline {
            prop_assert!(d.effect != Effect::StepUp);
        }
    }
}

fn claims(
    kind: ScopeKind,
    action: String,
    patient: Option<String>,
    task: Option<String>,
    sub: &str,
    sid: &str,
    dev: &str,
    once: bool,
    att: AuthenticatorAttachment,
    life_s: u64,
) -> GrantClaims {
    GrantClaims {
        iss: "i".into(),
        sub: sub.into(),
        sid: sid.into(),
        dev: dev.into(),
        acr: "phr".into(),
        amr: vec!["hwk".into(), "user".into(), "mfa".into()],
        auth_time: NOW / 1000 - 30,
        iat: NOW / 1000 - 30,
        exp: NOW / 1000 - 30 + life_s,
        jti: "g".into(),
        scp: GrantScope {
            kind,
            actions: vec![action],
            patient,
            task,
        },
        att,
        once,
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// Grant coverage never leaks across patients, tasks, people, devices, sessions or time.
    #[test]
    fn a_grant_never_covers_what_it_was_not_for(
        earned in context(), asked in context(), sc in 0usize..4, req in step_up(),
        sub in pick(&["u-1", "u-2"]), sid in pick(&["s-1", "s-2"]), dev in pick(&["d-1", "d-2"]),
        once in any::<bool>(), spent in any::<bool>(), cross in any::<bool>(), life in 1u64..120,
    ) {
        let kind = SCOPES[sc];
        let att = if cross { AuthenticatorAttachment::CrossPlatform } else { AuthenticatorAttachment::Any };
        let g = claims(kind, earned.action.clone(), earned.patient_id().map(str::to_string), Some(earned.hash().to_hex()), &sub, &sid, &dev, once, att, life);
        let mut f = facts(&asked);
        if spent { f.spent_grants.push("g".into()); }
        let covers = g.covers(&asked, &asked.hash(), &req, &f, NOW);
        if covers {
            prop_assert_eq!(sub.as_str(), asked.user.id.as_str());
            prop_assert_eq!(sid.as_str(), "s-1");
            prop_assert_eq!(dev.as_str(), asked.device.id.as_str());
            prop_assert!(!(once && spent));
            prop_assert!(kind <= req.scope, "a wider grant never covers");
            prop_assert!(req.authenticator != AuthenticatorAttachment::CrossPlatform || cross);
            if matches!(kind, ScopeKind::Task | ScopeKind::ActionPatient) {
                prop_assert_eq!(earned.patient_id(), asked.patient_id(), "another patient's task");
            }
            if kind == ScopeKind::Task {
                prop_assert_eq!(earned.hash(), asked.hash(), "another task");
            }
        }
        // Expired: never.
        prop_assert!(!g.covers(&asked, &asked.hash(), &req, &f, NOW + life * 1000));
    }
}

fn event() -> impl Strategy<Value = Event> {
    let other = || User {
        id: "dr-okafor".into(),
        roles: vec!["physician".into()],
    };
    prop_oneof![
        Just(Event::Activity),
        Just(Event::Hidden),
        Just(Event::Visible),
        Just(Event::PageHide),
        any::<bool>().prop_map(|persisted| Event::PageShow { persisted }),
        Just(Event::Freeze),
        Just(Event::Resume),
        Just(Event::Online),
        Just(Event::Offline),
        Just(Event::Tick),
        Just(Event::Lock),
        (0u64..600_000).prop_map(|d| Event::Unlock {
            strong_auth_at_ms: NOW + d
        }),
        context().prop_map(|task| Event::CeremonyStarted { task }),
        (
            0usize..4,
            pick(&["u-1", "u-2"]),
            pick(&["s-1", "s-2", "s-3"]),
            1u64..3_600
        )
            .prop_map(|(sc, sub, sid, life)| Event::CeremonySucceeded {
                token: "t".into(),
                claims: claims(
                    SCOPES[sc],
                    "order-sign".into(),
                    Some("p-1".into()),
                    Some("00".repeat(32)),
                    &sub,
                    &sid,
                    "d-1",
                    false,
                    AuthenticatorAttachment::Any,
                    life
                )
            }),
        (
            0usize..4,
            pick(&["u-1", "u-2", "dr-okafor"]),
            pick(&["s-1", "s-2", "s-3"]),
            1u64..3_600
        )
            .prop_map(|(sc, sub, sid, life)| Event::GrantEarned {
                token: "t".into(),
                claims: claims(
                    SCOPES[sc],
                    "patient-view".into(),
                    Some("p-2".into()),
                    Some("11".repeat(32)),
                    &sub,
                    &sid,
                    "d-1",
                    false,
                    AuthenticatorAttachment::Any,
                    life
                )
            }),
        Just(Event::CeremonyCancelled {
            code: "cancelled".into()
        }),
        Just(Event::CeremonyFailed {
            code: "WARDGATE_SERVER".into()
        }),
        Just(Event::CeremonyInterrupted {
            code: "WARDGATE_CEREMONY_NOT_ALLOWED".into()
        }),
        any::<bool>().prop_map(|here| Event::GrantSpent {
            jti: "g".into(),
            here
        }),
        any::<bool>().prop_map(|here| Event::GrantRevoked {
            jti: "g".into(),
            here
        }),
        pick(&["s-2", "s-3"]).prop_map(move |sid| Event::UserSwitch {
            session_id: sid,
            user: other(),
            strong_auth_at_ms: Some(NOW)
        }),
        any::<bool>().prop_map(|here| Event::Logout { here }),
        Just(Event::ChannelMessageDropped { reason: "x".into() }),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    /// Random shifts of 1..60 events: invariants hold after every step.
    #[test]
    fn the_session_machine_keeps_its_invariants(events in proptest::collection::vec((0u64..400_000, event()), 1..60)) {
        let limits = SessionLimits { idle_lock_ms: 300_000, absolute_limit_ms: 8 * 3_600_000 };
        let mut s = State::new("s-1", User { id: "u-1".into(), roles: vec!["nurse".into()] }, Device { id: "d-1".into(), shared: true, managed: true }, limits, NOW, Some(NOW));
        let mut now = NOW;
        let mut ids = std::collections::BTreeSet::new();
        let mut seq = 0;
        for (dt, ev) in events {
            now += dt;
            let wipes = matches!(ev, Event::UserSwitch { .. } | Event::Logout { .. });
            let was_logged_out = s.status == Status::LoggedOut;
            let (n, fx) = step(s, ev, now);
            s = n;
            for g in &s.grants {
                prop_assert!(s.user.as_ref().is_some_and(|u| u.id == g.claims.sub));
                prop_assert_eq!(&g.claims.sid, &s.session_id);
                prop_assert_eq!(&g.claims.dev, &s.device.id);
                prop_assert!(g.claims.exp * 1000 > now);
            }
            if wipes && !was_logged_out {
                prop_assert_eq!(fx.first(), Some(&Fx::Wipe));
                prop_assert!(s.grants.is_empty() && s.spent_grants.is_empty() && s.pending.is_none());
            }
            for e in &fx {
                if let Fx::Audit { event } = e {
                    prop_assert!(ids.insert(event.id.clone()), "duplicate audit id {}", event.id);
                    prop_assert_eq!(&event.device_id, "d-1");
                }
            }
            if s.session_id == "s-1" { prop_assert!(s.audit_seq >= seq); }
            seq = s.audit_seq;
            prop_assert_eq!(State::from_json(&s.to_json().unwrap()).unwrap(), s.clone());
        }
    }
}
