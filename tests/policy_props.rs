//! Property tests of the policy engine: random policies (rules over a small clinical vocabulary,
//! random session timers and offline sections) against random task contexts and sessions.
//!
//! Besides the invariants (deny wins, step-ups only get stricter, default deny holds, break-glass
//! needs an emergency, no panics, offline never prompts), the evaluator is checked against a
//! reference model written here from the specification, independently of `src/policy`, and
//! grant coverage is checked to be exactly what `GrantClaims::covers` says under the merged
//! requirement.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use wardgate::grant::{GrantClaims, GrantScope, Issue};
use wardgate::policy::{
    AllowedBy, AuthenticatorAttachment, Decision, DefaultEffect, DeviceCondition, Effect, Offline,
    Policy, PolicyDocument, Rule, RuleEffect, ScopeKind, SessionFacts, SessionPreset, Sessions,
    SetCondition, StepUp, Timers, UserVerification, When,
};
use wardgate::task::{Connectivity, Device, Emergency, Patient, TaskContext, User};

const NOW: u64 = 1_764_057_600_000;
const S: u64 = 1000;
const ACTIONS: &[&str] = &[
    "patient-view",
    "order-sign",
    "medication-prescribe",
    "note-sign",
    "record-export",
    "vitals-record",
];
/// Never named by a generated rule's `actions`.
const UNNAMED_ACTION: &str = "bed-transfer";
const ROLES: &[&str] = &["nurse", "physician", "resident", "pharmacist", "student"];
const LABELS: &[&str] = &["vip", "restricted", "controlled-substance"];
const ZONES: &[&str] = &["icu", "ward-4b", "home"];
const SCOPES: [ScopeKind; 4] = [
    ScopeKind::Task,
    ScopeKind::ActionPatient,
    ScopeKind::Action,
    ScopeKind::Session,
];
const EFFECTS: [RuleEffect; 4] = [
    RuleEffect::Allow,
    RuleEffect::Deny,
    RuleEffect::StepUp,
    RuleEffect::BreakGlass,
];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

fn strings(xs: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(xs, 0..=xs.len())
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
}

fn one_of(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(xs).prop_map(str::to_string)
}

fn set_cond(xs: &'static [&'static str]) -> impl Strategy<Value = Option<SetCondition>> {
    proptest::option::weighted(
        0.4,
        (strings(xs), strings(xs)).prop_filter_map("anyOf or noneOf", |(any_of, none_of)| {
            (!any_of.is_empty() || !none_of.is_empty()).then_some(SetCondition { any_of, none_of })
        }),
    )
}

fn opt_bool(p: f64) -> impl Strategy<Value = Option<bool>> {
    proptest::option::weighted(p, any::<bool>())
}

fn step_up() -> impl Strategy<Value = StepUp> {
    (
        proptest::sample::select(&[0u32, 60, 300, 900, 1800, 3600, 86_400][..]),
        0usize..4,
        proptest::sample::select(&[1u32, 60, 120, 300, 900, 3600, 86_400][..]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(age, scope, life, cross, once)| StepUp {
            user_verification: UserVerification::Required,
            max_auth_age_seconds: age,
            scope: SCOPES[scope],
            grant_lifetime_seconds: life,
            authenticator: if cross {
                AuthenticatorAttachment::CrossPlatform
            } else {
                AuthenticatorAttachment::Any
            },
            single_use: once,
        })
}

fn when() -> impl Strategy<Value = When> {
    (
        proptest::option::weighted(0.7, proptest::sample::subsequence(ACTIONS, 1..=3)),
        set_cond(ROLES),
        set_cond(LABELS),
        set_cond(ZONES),
        opt_bool(0.15),
        (opt_bool(0.25), opt_bool(0.15)),
        proptest::option::weighted(0.2, any::<bool>()),
        opt_bool(0.2),
        opt_bool(0.15),
    )
        .prop_map(
            |(
                actions,
                roles,
                labels,
                zones,
                has_patient,
                (shared, managed),
                offline,
                emergency,
                role_changed,
            )| {
                When {
                    actions: actions.map(|v| v.into_iter().map(str::to_string).collect()),
                    roles,
                    labels,
                    has_patient,
                    device: (shared.is_some() || managed.is_some())
                        .then_some(DeviceCondition { shared, managed }),
                    zones,
                    connectivity: offline.map(|o| {
                        if o {
                            Connectivity::Offline
                        } else {
                            Connectivity::Online
                        }
                    }),
                    emergency,
                    role_changed,
                }
            },
        )
}

/// A valid rule with the given id; `effects` are the allowed effects (indices into EFFECTS).
fn rule(id: String, effects: &'static [usize]) -> impl Strategy<Value = Rule> {
    (
        when(),
        proptest::sample::select(effects),
        step_up(),
        proptest::option::weighted(0.5, "[a-z][a-z ]{0,19}"),
        proptest::bool::weighted(0.3),
    )
        .prop_map(move |(mut when, effect, su, reason, strengthens)| {
            let effect = EFFECTS[effect];
            if effect == RuleEffect::BreakGlass {
                when.emergency = Some(true); // the validator insists
            }
            Rule {
                id: id.clone(),
                description: None,
                when,
                effect,
                step_up: (effect == RuleEffect::StepUp).then_some(su),
                strengthens_only: strengthens && effect == RuleEffect::StepUp,
                reason,
            }
        })
}

const ALL_EFFECTS: &[usize] = &[0, 1, 2, 3];
const NO_BREAK_GLASS: &[usize] = &[0, 1, 2];
const STEP_HEAVY: &[usize] = &[0, 0, 1, 2, 2, 2, 2];

fn rules(
    n: std::ops::RangeInclusive<usize>,
    effects: &'static [usize],
) -> impl Strategy<Value = Vec<Rule>> {
    n.prop_flat_map(move |len| {
        (0..len)
            .map(|i| rule(format!("r-{i}"), effects))
            .collect::<Vec<_>>()
    })
}

fn sessions() -> impl Strategy<Value = Sessions> {
    let idle = || {
        proptest::option::weighted(
            0.3,
            proptest::sample::select(&[60u64, 300, 900, 3600, 7200][..]),
        )
    };
    let abs = || {
        proptest::option::weighted(
            0.3,
            proptest::sample::select(&[300u64, 3600, 28_800, 43_200, 86_400, 604_800][..]),
        )
    };
    (
        proptest::sample::select(
            &[
                SessionPreset::Nist4Aal2,
                SessionPreset::Nist4Aal3,
                SessionPreset::Nist3Aal2,
            ][..],
        ),
        idle(),
        abs(),
        proptest::option::weighted(0.3, (idle(), abs())),
    )
        .prop_map(
            |(preset, idle_lock_seconds, absolute_limit_seconds, shared)| Sessions {
                preset,
                idle_lock_seconds,
                absolute_limit_seconds,
                shared_device: shared.map(|(idle_lock_seconds, absolute_limit_seconds)| Timers {
                    idle_lock_seconds,
                    absolute_limit_seconds,
                }),
            },
        )
        // Only documents the validator must accept: the idle lock within the absolute limit.
        .prop_filter("idle <= absolute", |s| {
            let ((pi, pa), (si, sa)) = model_limits(s);
            pi <= pa && si <= sa
        })
}

fn offline() -> impl Strategy<Value = Option<Offline>> {
    proptest::option::weighted(
        0.6,
        (
            proptest::sample::subsequence(ACTIONS, 0..=ACTIONS.len()),
            proptest::sample::select(&[0u64, 600, 3600, 14_400, 604_800][..]),
        )
            .prop_map(|(actions, window)| Offline {
                actions: actions.into_iter().map(str::to_string).collect(),
                max_since_strong_auth_seconds: window,
            }),
    )
}

fn document(
    rules: Vec<Rule>,
    default: Option<DefaultEffect>,
    sessions: Sessions,
    offline: Option<Offline>,
) -> PolicyDocument {
    PolicyDocument {
        version: "wardgate/1".into(),
        id: "prop".into(),
        description: None,
        // A policy without rules must say its default.
        default: if rules.is_empty() {
            Some(default.unwrap_or_default())
        } else {
            default
        },
        sessions,
        offline,
        rules,
    }
}

fn policy_doc(
    n: std::ops::RangeInclusive<usize>,
    effects: &'static [usize],
) -> impl Strategy<Value = PolicyDocument> {
    (
        rules(n, effects),
        proptest::option::of(proptest::sample::select(
            &[DefaultEffect::Deny, DefaultEffect::Allow][..],
        )),
        sessions(),
        offline(),
    )
        .prop_map(|(rules, default, sessions, offline)| document(rules, default, sessions, offline))
}

/// Mostly step-up rules, and often a step-up that matches every task (random requirement), so
/// that step-ups, their merging and grant coverage are exercised often.
fn step_heavy_doc() -> impl Strategy<Value = PolicyDocument> {
    (
        policy_doc(0..=6, STEP_HEAVY),
        proptest::option::weighted(0.7, (step_up(), any::<bool>())),
    )
        .prop_map(|(mut doc, catch_all)| {
            if let Some((su, strengthens_only)) = catch_all {
                doc.rules.push(Rule {
                    id: "r-every-task".into(),
                    description: None,
                    when: When::default(),
                    effect: RuleEffect::StepUp,
                    step_up: Some(su),
                    strengthens_only,
                    reason: None,
                });
            }
            doc
        })
}

fn build(doc: PolicyDocument) -> Policy {
    match Policy::new(doc.clone()) {
        Ok(p) => p,
        Err(e) => panic!("a valid generated policy was refused: {e}\n{doc:#?}"),
    }
}

fn context() -> impl Strategy<Value = TaskContext> {
    (
        prop_oneof![8 => one_of(ACTIONS), 1 => Just(UNNAMED_ACTION.to_string())],
        strings(ROLES),
        proptest::option::weighted(0.85, (one_of(&["p-1", "p-2"]), strings(LABELS))),
        (any::<bool>(), any::<bool>()),
        proptest::option::weighted(0.6, one_of(ZONES)),
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.25),
        strings(&["MedicationRequest/1", "MedicationRequest/2"]),
        one_of(&["u-1", "u-2"]),
    )
        .prop_map(
            |(
                action,
                roles,
                patient,
                (shared, managed),
                zone,
                offline,
                emergency,
                targets,
                user,
            )| {
                TaskContext {
                    user: User { id: user, roles },
                    action,
                    patient: patient.map(|(id, labels)| Patient { id, labels }),
                    encounter_id: None,
                    targets,
                    summary: None,
                    device: Device {
                        id: "d-1".into(),
                        shared,
                        managed,
                    },
                    zone,
                    connectivity: if offline {
                        Connectivity::Offline
                    } else {
                        Connectivity::Online
                    },
                    emergency: emergency.then(|| Emergency {
                        reason: "code blue, bed 4".into(),
                    }),
                }
            },
        )
}

/// Offsets (ms) before `NOW`, around the interesting limits; negative is in the future.
fn ago() -> impl Strategy<Value = i64> {
    prop_oneof![
        // Mostly a session in good standing and fresh grants,
        2 => proptest::sample::select(&[0i64, 1_000, 10_000, 30_000][..]),
        // and every limit, exactly and on either side.
        3 => any_ago(),
    ]
}

fn any_ago() -> impl Strategy<Value = i64> {
    proptest::sample::select(
        &[
            -60_000i64,
            0,
            1_000,
            59_000,
            60_000,
            299_000,
            300_000,
            301_000,
            600_000,
            900_000,
            3_599_000,
            3_600_000,
            3_601_000,
            7_200_000,
            14_399_000,
            14_400_000,
            14_401_000,
            28_800_000,
            43_200_000,
            86_400_000,
            604_800_000,
            700_000_000,
        ][..],
    )
}

fn at(ago: i64) -> u64 {
    NOW.checked_add_signed(-ago).unwrap()
}

/// A grant for the context's task or something near it. `task` scopes carry either the real
/// hash of the context (when `this_task`) or another one.
fn grant(ctx: &TaskContext) -> impl Strategy<Value = GrantClaims> + use<> {
    let user = ctx.user.id.clone();
    let hash = ctx.hash().to_hex();
    let action = ctx.action.clone();
    let patient = ctx.patient_id().map(str::to_string);
    (
        (
            prop_oneof![2 => Just(0usize), 1 => 1usize..4],
            prop_oneof![3 => Just(action), 1 => one_of(ACTIONS)],
            prop_oneof![3 => Just(patient), 1 => Just(Some("p-9".to_string())), 1 => Just(None)],
            proptest::bool::weighted(0.7),
        ),
        (
            prop_oneof![4 => Just(user), 1 => Just("u-other".to_string())],
            prop_oneof![4 => Just("s-1".to_string()), 1 => Just("s-other".to_string())],
            prop_oneof![4 => Just("d-1".to_string()), 1 => Just("d-other".to_string())],
        ),
        (proptest::bool::weighted(0.85), any::<bool>(), any::<bool>()),
        (
            ago(),
            proptest::sample::select(&[1u64, 60, 300, 900, 3600][..]),
        ),
    )
        .prop_map(
            move |(
                (scope, action, patient, this_task),
                (sub, sid, dev),
                (mfa, cross, once),
                (auth_ago, life),
            )| {
                let auth_s = at(auth_ago) / S;
                GrantClaims {
                    iss: "https://ward.example".into(),
                    sub,
                    sid,
                    dev,
                    acr: if cross { "phrh" } else { "phr" }.into(),
                    amr: if mfa {
                        vec!["hwk".into(), "user".into(), "mfa".into()]
                    } else {
                        vec!["hwk".into(), "user".into()]
                    },
                    auth_time: auth_s,
                    iat: auth_s,
                    exp: auth_s + life,
                    jti: String::from("g"),
                    scp: GrantScope {
                        kind: SCOPES[scope],
                        actions: vec![action],
                        patient,
                        task: Some(if this_task {
                            hash.clone()
                        } else {
                            "ab".repeat(32)
                        }),
                    },
                    att: if cross {
                        AuthenticatorAttachment::CrossPlatform
                    } else {
                        AuthenticatorAttachment::Any
                    },
                    once,
                }
            },
        )
}

/// A session for `ctx`: random timers, sometimes locked, roles at start the same or not, and
/// (when `with_grants`) a few grants, some spent.
fn session(ctx: &TaskContext, with_grants: bool) -> impl Strategy<Value = SessionFacts> + use<> {
    let roles = ctx.user.roles.clone();
    let grants = if with_grants {
        (proptest::collection::vec(grant(ctx), 0..5), any::<bool>())
            .prop_map(|(mut gs, twin)| {
                // Often the same grant twice, so that several grants cover the task.
                if let Some(first) = gs.first().filter(|_| twin).cloned() {
                    gs.push(first);
                }
                // Unique ids, so that which covering grant is named can be checked.
                for (i, g) in gs.iter_mut().enumerate() {
                    g.jti = format!("g-{i}");
                }
                gs
            })
            .boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        (
            ago(),
            proptest::option::weighted(0.9, ago()),
            proptest::option::weighted(0.9, ago()),
        ),
        proptest::bool::weighted(0.05),
        prop_oneof![3 => Just(roles), 1 => strings(ROLES)],
        grants,
        strings(&["g-0", "g-1"]),
    )
        .prop_map(
            |((started, strong, activity), locked, roles_at_start, grants, spent_grants)| {
                SessionFacts {
                    session_id: "s-1".into(),
                    started_at_ms: at(started),
                    last_activity_ms: activity.map(at),
                    last_strong_auth_ms: strong.map(at),
                    roles_at_start,
                    grants,
                    spent_grants,
                    locked,
                }
            },
        )
}

/// A quiet session: active, recently strongly authenticated, same roles, no grants.
fn quiet(ctx: &TaskContext) -> SessionFacts {
    SessionFacts {
        session_id: "s-1".into(),
        started_at_ms: NOW - 60 * S,
        last_activity_ms: Some(NOW - S),
        last_strong_auth_ms: Some(NOW - 60 * S),
        roles_at_start: ctx.user.roles.clone(),
        ..SessionFacts::default()
    }
}

fn context_and_session(with_grants: bool) -> impl Strategy<Value = (TaskContext, SessionFacts)> {
    context().prop_flat_map(move |ctx| {
        let s = session(&ctx, with_grants);
        (Just(ctx), s)
    })
}

// ---------------------------------------------------------------------------------------------
// The reference model, from the specification
// ---------------------------------------------------------------------------------------------

/// ((personal idle, absolute), (shared idle, absolute)) in seconds.
fn model_limits(s: &Sessions) -> ((u64, u64), (u64, u64)) {
    let (preset_idle, preset_abs) = match s.preset {
        SessionPreset::Nist4Aal2 => (3600, 86_400),
        SessionPreset::Nist4Aal3 => (900, 43_200),
        SessionPreset::Nist3Aal2 => (1800, 43_200),
    };
    let idle = s.idle_lock_seconds.unwrap_or(preset_idle);
    let abs = s.absolute_limit_seconds.unwrap_or(preset_abs);
    let shared = s.shared_device.clone().unwrap_or_default();
    (
        (idle, abs),
        (
            shared.idle_lock_seconds.unwrap_or(idle.min(300)),
            shared.absolute_limit_seconds.unwrap_or(abs.min(43_200)),
        ),
    )
}

fn set_holds(c: &Option<SetCondition>, values: &[String]) -> bool {
    let Some(c) = c else { return true };
    let have: BTreeSet<&str> = values.iter().map(String::as_str).collect();
    (c.any_of.is_empty() || c.any_of.iter().any(|x| have.contains(x.as_str())))
        && c.none_of.iter().all(|x| !have.contains(x.as_str()))
}

fn model_matches(rule: &Rule, ctx: &TaskContext, session: &SessionFacts) -> bool {
    let w = &rule.when;
    let labels: Vec<String> = ctx
        .patient
        .as_ref()
        .map(|p| p.labels.clone())
        .unwrap_or_default();
    let zones: Vec<String> = ctx.zone.iter().cloned().collect();
    let now: BTreeSet<&String> = ctx.user.roles.iter().collect();
    let start: BTreeSet<&String> = session.roles_at_start.iter().collect();
    w.actions.as_ref().is_none_or(|a| a.contains(&ctx.action))
        && set_holds(&w.roles, &ctx.user.roles)
        && set_holds(&w.labels, &labels)
        && set_holds(&w.zones, &zones)
        && w.has_patient.is_none_or(|h| h == ctx.patient.is_some())
        && w.device.as_ref().is_none_or(|d| {
            d.shared.is_none_or(|s| s == ctx.device.shared)
                && d.managed.is_none_or(|m| m == ctx.device.managed)
        })
        && w.connectivity.is_none_or(|c| c == ctx.connectivity)
        && w.emergency.is_none_or(|e| e == ctx.emergency.is_some())
        && w.role_changed.is_none_or(|rc| rc == (now != start))
}

/// What the model decides, ignoring grants (a session's grants only turn a step-up into an
/// allow, which is checked against `GrantClaims::covers` separately).
#[derive(Debug, PartialEq)]
struct Expected {
    effect: Effect,
    rule_ids: Vec<String>,
    requirement: Option<StepUp>,
    allowed_by: Option<AllowedBy>,
    review_required: bool,
}

fn model(doc: &PolicyDocument, ctx: &TaskContext, session: &SessionFacts, now: u64) -> Expected {
    let plain = |effect, ids: Vec<String>| Expected {
        effect,
        rule_ids: ids,
        requirement: None,
        allowed_by: None,
        review_required: false,
    };
    let synthetic = |effect, id: &str| plain(effect, vec![id.to_string()]);
    if session.locked {
        return synthetic(Effect::Deny, "$session-locked");
    }
    let (personal, shared) = model_limits(&doc.sessions);
    let (idle, abs) = if ctx.device.shared { shared } else { personal };
    let base = session.last_strong_auth_ms.unwrap_or(session.started_at_ms);
    if base + abs * S <= now {
        return synthetic(Effect::Deny, "$session-expired");
    }
    if session
        .last_activity_ms
        .is_some_and(|a| a + idle * S <= now)
    {
        return synthetic(Effect::Deny, "$session-idle");
    }
    let matching = |effect: RuleEffect| -> Vec<&Rule> {
        doc.rules
            .iter()
            .filter(|r| r.effect == effect && model_matches(r, ctx, session))
            .collect()
    };
    let ids = |rs: &[&Rule]| rs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let (deny, glass, step, allow) = (
        matching(RuleEffect::Deny),
        matching(RuleEffect::BreakGlass),
        matching(RuleEffect::StepUp),
        matching(RuleEffect::Allow),
    );
    // Strengthen-only step-ups never permit by themselves: they join the step-up rules, or turn
    // an allow into a step-up (naming the allow rules first); alone they are ignored.
    let (strengthen, step): (Vec<&Rule>, Vec<&Rule>) =
        step.into_iter().partition(|r| r.strengthens_only);
    let joined: Vec<&Rule> = if step.is_empty() && allow.is_empty() {
        Vec::new()
    } else {
        step.iter().chain(&strengthen).copied().collect()
    };
    let mut e = if !deny.is_empty() {
        plain(Effect::Deny, ids(&deny))
    } else if !glass.is_empty() {
        let mut e = plain(Effect::BreakGlass, ids(&glass));
        e.review_required = true;
        e
    } else if !joined.is_empty() {
        let reqs: Vec<&StepUp> = joined.iter().map(|r| r.step_up.as_ref().unwrap()).collect();
        let named: Vec<&Rule> = if step.is_empty() {
            allow.iter().chain(&strengthen).copied().collect()
        } else {
            joined.clone()
        };
        let mut e = plain(Effect::StepUp, ids(&named));
        e.requirement = Some(StepUp {
            user_verification: UserVerification::Required,
            max_auth_age_seconds: reqs.iter().map(|s| s.max_auth_age_seconds).min().unwrap(),
            scope: reqs.iter().map(|s| s.scope).min().unwrap(),
            grant_lifetime_seconds: reqs.iter().map(|s| s.grant_lifetime_seconds).min().unwrap(),
            authenticator: if reqs
                .iter()
                .any(|s| s.authenticator == AuthenticatorAttachment::CrossPlatform)
            {
                AuthenticatorAttachment::CrossPlatform
            } else {
                AuthenticatorAttachment::Any
            },
            single_use: reqs.iter().any(|s| s.single_use),
        });
        e
    } else if !allow.is_empty() {
        let mut e = plain(Effect::Allow, ids(&allow));
        e.allowed_by = Some(AllowedBy::Policy);
        e
    } else if doc.default.unwrap_or_default() == DefaultEffect::Deny {
        synthetic(Effect::Deny, "$default")
    } else {
        let mut e = synthetic(Effect::Allow, "$default");
        e.allowed_by = Some(AllowedBy::Policy);
        e
    };
    if ctx.connectivity == Connectivity::Offline
        && !matches!(e.effect, Effect::Deny | Effect::BreakGlass)
        && !(e.effect == Effect::Allow && offline_ok(doc, ctx, session, now))
    {
        e.effect = Effect::NeedsConnection;
        e.allowed_by = None;
        e.rule_ids.push("$offline".into());
    }
    e
}

/// The action is an offline action and the last strong authentication is within the window.
fn offline_ok(doc: &PolicyDocument, ctx: &TaskContext, session: &SessionFacts, now: u64) -> bool {
    doc.offline.as_ref().is_some_and(|o| {
        o.actions.contains(&ctx.action)
            && session
                .last_strong_auth_ms
                .is_some_and(|t| t + o.max_since_strong_auth_seconds * S >= now)
    })
}

fn got(d: &Decision) -> Expected {
    Expected {
        effect: d.effect,
        rule_ids: d.rule_ids.clone(),
        requirement: d.requirement.clone(),
        allowed_by: d.allowed_by,
        review_required: d.review_required,
    }
}

/// `a` is at least as strict as `b`.
fn at_least_as_strict(a: &StepUp, b: &StepUp) -> bool {
    a.max_auth_age_seconds <= b.max_auth_age_seconds
        && a.scope <= b.scope
        && a.grant_lifetime_seconds <= b.grant_lifetime_seconds
        && (a.authenticator == AuthenticatorAttachment::CrossPlatform
            || b.authenticator == AuthenticatorAttachment::Any)
        && (a.single_use || !b.single_use)
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    /// (1) Deny wins: if any matching rule denies, the decision is deny, and (for a session in
    /// good standing) it names exactly the matching deny rules.
    #[test]
    fn a_matching_deny_rule_always_denies(
        doc in policy_doc(1..=12, ALL_EFFECTS),
        (ctx, session) in context_and_session(true),
    ) {
        let p = build(doc.clone());
        let d = p.evaluate(&ctx, &session, NOW);
        let denying: Vec<String> = doc
            .rules
            .iter()
            .filter(|r| r.effect == RuleEffect::Deny && model_matches(r, &ctx, &session))
            .map(|r| r.id.clone())
            .collect();
        if !denying.is_empty() {
            prop_assert_eq!(d.effect, Effect::Deny, "{:?}", d);
            if !d.rule_ids.iter().any(|id| id.starts_with("$session")) {
                prop_assert_eq!(&d.rule_ids, &denying);
            }
        }
    }

    /// (2) Adding a rule (other than break-glass) never weakens a step-up: the decision stays a
    /// step-up (or becomes a deny) and the requirement is at least as strict, field by field.
    /// Offline, the same holds of the requirement carried by `needs-connection`.
    #[test]
    fn adding_a_rule_never_weakens_a_step_up(
        doc in step_heavy_doc(),
        extra in rule("r-extra".into(), NO_BREAK_GLASS),
        ctx in context(),
    ) {
        let session = quiet(&ctx);
        let before = build(doc.clone()).evaluate(&ctx, &session, NOW);
        let mut more = doc;
        more.rules.push(extra);
        let after = build(more).evaluate(&ctx, &session, NOW);
        if before.effect == Effect::StepUp {
            prop_assert!(matches!(after.effect, Effect::StepUp | Effect::Deny), "{:?}", after);
        }
        if let Some(b) = &before.requirement {
            if after.effect != Effect::Deny {
                prop_assert_eq!(after.effect, before.effect);
                let a = after.requirement.as_ref().expect("still a requirement");
                prop_assert!(at_least_as_strict(a, b), "before {:?}\nafter  {:?}", b, a);
            }
        }
    }

    /// (3) Under default deny, an action that no rule names is never allowed (nor stepped up,
    /// nor overridden): when every rule that can permit lists its actions, only a deny comes
    /// out.
    #[test]
    fn an_action_no_rule_names_is_denied_under_default_deny(
        doc in policy_doc(0..=12, ALL_EFFECTS),
        (mut ctx, _) in context_and_session(false),
        grants_ctx in context(),
    ) {
        let mut doc = doc;
        doc.default = Some(DefaultEffect::Deny);
        // (A strengthen-only step-up permits nothing, so it may match any action.)
        doc.rules.retain(|r| {
            r.effect == RuleEffect::Deny || r.strengthens_only || r.when.actions.is_some()
        });
        if let Some(o) = doc.offline.as_mut() {
            o.actions.push(UNNAMED_ACTION.into()); // even if it may go ahead offline
        }
        ctx.action = UNNAMED_ACTION.into();
        let p = build(doc);
        // A session holding session-wide grants changes nothing either.
        let mut session = quiet(&ctx);
        session.grants = vec![GrantClaims {
            iss: "i".into(),
            sub: ctx.user.id.clone(),
            sid: "s-1".into(),
            dev: "d-1".into(),
            acr: "phrh".into(),
            amr: vec!["hwk".into(), "user".into(), "mfa".into()],
            auth_time: NOW / S,
            iat: NOW / S,
            exp: NOW / S + 3600,
            jti: "g-wide".into(),
            scp: GrantScope { kind: ScopeKind::Session, actions: vec![], patient: None, task: Some(grants_ctx.hash().to_hex()) },
            att: AuthenticatorAttachment::CrossPlatform,
            once: false,
        }];
        let d = p.evaluate(&ctx, &session, NOW);
        prop_assert_eq!(d.effect, Effect::Deny, "{:?}", d);
        prop_assert!(d.allowed_by.is_none() && d.grant_id.is_none());
    }

    /// (4) Break-glass only ever results when the context declares an emergency, and then it is
    /// always flagged for review; it proceeds offline, and only a deny beats it.
    #[test]
    fn break_glass_needs_an_emergency_and_is_always_reviewed(
        doc in policy_doc(1..=12, ALL_EFFECTS),
        (ctx, session) in context_and_session(true),
    ) {
        let d = build(doc).evaluate(&ctx, &session, NOW);
        if d.effect == Effect::BreakGlass {
            prop_assert!(ctx.emergency.is_some());
            prop_assert!(d.review_required);
            prop_assert!(d.allowed_by.is_none() && d.grant_id.is_none() && d.requirement.is_none());
            prop_assert!(!d.rule_ids.iter().any(|id| id.starts_with('$')), "{:?}", d);
        } else {
            prop_assert!(!d.review_required, "{:?}", d);
        }
    }

    /// (5) Evaluation never panics, whatever the clock, the session or the grants say, and every
    /// decision names the rules that produced it and gives a reason.
    #[test]
    fn evaluation_never_panics_and_always_explains(
        doc in policy_doc(0..=12, ALL_EFFECTS),
        (ctx, mut session) in context_and_session(true),
        now in prop_oneof![
            4 => Just(NOW),
            1 => Just(0u64),
            1 => Just(u64::MAX),
            1 => Just(u64::MAX / 1000 + 1),
            2 => any::<u64>(),
        ],
        wild in prop_oneof![
            Just(None),
            Just(Some(u64::MAX)),
            Just(Some(0u64)),
            any::<u64>().prop_map(Some),
        ],
    ) {
        if let Some(t) = wild {
            session.started_at_ms = t;
            session.last_activity_ms = Some(t);
            session.last_strong_auth_ms = Some(t);
            for g in &mut session.grants {
                g.auth_time = t;
                g.iat = t / 2;
                g.exp = t;
            }
        }
        let d = build(doc).evaluate(&ctx, &session, now);
        prop_assert!(!d.rule_ids.is_empty());
        prop_assert!(d.rule_ids.iter().all(|id| !id.is_empty()));
        prop_assert!(!d.reason.is_empty());
        prop_assert_eq!(d.allowed_by.is_some(), d.effect == Effect::Allow, "{:?}", d);
        prop_assert_eq!(d.grant_id.is_some(), d.allowed_by == Some(AllowedBy::Grant), "{:?}", d);
        if d.effect == Effect::StepUp {
            prop_assert!(d.requirement.is_some());
        }
        // And it round-trips through JSON, the way it crosses into JS.
        let json = serde_json::to_string(&d).unwrap();
        prop_assert_eq!(serde_json::from_str::<Decision>(&json).unwrap(), d);
    }

    /// (6) Offline never yields a plain step-up (nobody is prompted for a ceremony that cannot
    /// complete); an allow offline is always for an offline action within the window.
    #[test]
    fn offline_never_prompts(
        doc in policy_doc(0..=12, ALL_EFFECTS),
        (mut ctx, session) in context_and_session(true),
    ) {
        ctx.connectivity = Connectivity::Offline;
        let d = build(doc.clone()).evaluate(&ctx, &session, NOW);
        prop_assert_ne!(d.effect, Effect::StepUp, "{:?}", d);
        if d.effect == Effect::Allow {
            prop_assert!(offline_ok(&doc, &ctx, &session, NOW), "{:?}", d);
        }
        if d.effect == Effect::NeedsConnection {
            prop_assert_eq!(d.rule_ids.last().map(String::as_str), Some("$offline"));
        }
    }

    /// (7) The evaluator agrees with the reference model on everything but grants: effect,
    /// rule ids (in document order), merged requirement, why allowed, review flag.
    #[test]
    fn the_evaluator_agrees_with_the_reference_model(
        doc in policy_doc(0..=14, ALL_EFFECTS),
        (ctx, session) in context_and_session(false),
    ) {
        let d = build(doc.clone()).evaluate(&ctx, &session, NOW);
        prop_assert_eq!(got(&d), model(&doc, &ctx, &session, NOW));
    }

    /// (8) Grants: a step-up becomes an allow exactly when a held grant covers the task under
    /// the merged requirement (`GrantClaims::covers`), and then names that grant.
    #[test]
    fn a_step_up_is_allowed_exactly_when_a_grant_covers_it(
        doc in step_heavy_doc(),
        (mut ctx, session) in context_and_session(true),
    ) {
        ctx.connectivity = Connectivity::Online;
        let expected = model(&doc, &ctx, &session, NOW);
        let d = build(doc).evaluate(&ctx, &session, NOW);
        if expected.effect != Effect::StepUp {
            prop_assert_eq!(got(&d), expected);
            return Ok(());
        }
        let req = expected.requirement.clone().unwrap();
        let hash = ctx.hash();
        let covering: Vec<&str> = session
            .grants
            .iter()
            .filter(|g| g.covers(&ctx, &hash, &req, &session, NOW))
            .map(|g| g.jti.as_str())
            .collect();
        prop_assert_eq!(&d.rule_ids, &expected.rule_ids);
        prop_assert_eq!(d.requirement.as_ref(), Some(&req));
        if covering.is_empty() {
            prop_assert_eq!(d.effect, Effect::StepUp, "{:?}", d);
            prop_assert!(d.grant_id.is_none());
        } else {
            prop_assert_eq!(d.effect, Effect::Allow, "{:?}", d);
            prop_assert_eq!(d.allowed_by, Some(AllowedBy::Grant));
            prop_assert_eq!(d.grant_id.as_deref(), covering.first().copied());
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Session limits come from the preset, the overrides and the shared-device defaults
    /// (at most 5 min idle and 12 h overall unless the policy says otherwise), in ms.
    #[test]
    fn session_limits_follow_the_presets(sessions in sessions()) {
        let p = build(document(Vec::new(), Some(DefaultEffect::Deny), sessions.clone(), None));
        let ((pi, pa), (si, sa)) = model_limits(&sessions);
        let personal = p.session_limits(false);
        let shared = p.session_limits(true);
        prop_assert_eq!((personal.idle_lock_ms, personal.absolute_limit_ms), (pi * S, pa * S));
        prop_assert_eq!((shared.idle_lock_ms, shared.absolute_limit_ms), (si * S, sa * S));
        let summary = p.summary();
        prop_assert_eq!(summary.sessions.personal, personal);
        prop_assert_eq!(summary.sessions.shared, shared);
    }

    /// The shipped ward policy: a role change since sign-in never relaxes a decision. Whatever
    /// is denied with the roles the session started with stays denied after the change, and an
    /// allow may at most become a step-up.
    #[test]
    fn shipped_policy_a_role_change_never_relaxes(
        (ctx, _) in context_and_session(false),
        before in strings(ROLES),
    ) {
        let p = shipped();
        let mut unchanged = quiet(&ctx);
        let same = p.evaluate(&ctx, &unchanged, NOW);
        unchanged.roles_at_start = before;
        let changed = p.evaluate(&ctx, &unchanged, NOW);
        prop_assert!(strictness(changed.effect) >= strictness(same.effect), "{:?}\n{:?}", same, changed);
    }

    /// The shipped ward policy: EPCS prescribing of a controlled substance always asks for a
    /// fresh, per-task, single-use cross-platform approval or is denied, emergency or not.
    #[test]
    fn shipped_policy_epcs_is_never_overridden((mut ctx, _) in context_and_session(false)) {
        ctx.action = "medication-prescribe".into();
        ctx.patient = Some(Patient { id: "p-1".into(), labels: vec!["controlled-substance".into()] });
        ctx.connectivity = Connectivity::Online;
        let d = shipped().evaluate(&ctx, &quiet(&ctx), NOW);
        match d.effect {
            Effect::Deny => {}
            Effect::StepUp => {
                let r = d.requirement.unwrap();
                prop_assert_eq!(r.max_auth_age_seconds, 0);
                prop_assert_eq!(r.scope, ScopeKind::Task);
                prop_assert_eq!(r.authenticator, AuthenticatorAttachment::CrossPlatform);
                prop_assert!(r.single_use);
            }
            other => prop_assert!(false, "EPCS got {:?}: {:?}", other, d),
        }
    }

    /// The shipped ward policy: a grant earned by a step-up carries the same task for as long
    /// as it lives (the design's promise across tab switches, reloads and sibling tabs). A
    /// requirement whose `maxAuthAgeSeconds` is shorter than its `grantLifetimeSeconds` breaks
    /// it: the grant stops covering long before it expires and the clinician is prompted again.
    #[test]
    fn shipped_policy_an_earned_grant_lasts_its_lifetime(
        (mut ctx, session) in context_and_session(false),
        fraction in 0.0f64..1.0,
    ) {
        ctx.connectivity = Connectivity::Online;
        let p = shipped();
        let mut facts = quiet(&ctx);
        facts.roles_at_start = session.roles_at_start; // sometimes a role change
        let d = p.evaluate(&ctx, &facts, NOW);
        if d.effect != Effect::StepUp {
            return Ok(());
        }
        let req = d.requirement.clone().unwrap();
        let claims = GrantClaims::for_step_up(&ctx, &req, Issue {
            issuer: "https://ward.example",
            session_id: "s-1",
            auth_time_ms: NOW,
            now_ms: NOW,
            jti: "g-earned".into(),
            attachment: req.authenticator,
        });
        // Any moment before the grant expires, the clinician active all along.
        let life_ms = u64::from(req.grant_lifetime_seconds) * S;
        let later = NOW + ((life_ms - 1) as f64 * fraction) as u64;
        facts.last_strong_auth_ms = Some(NOW);
        facts.last_activity_ms = Some(later.saturating_sub(S).max(NOW));
        facts.grants = vec![claims];
        let again = p.evaluate(&ctx, &facts, later);
        prop_assert_eq!(again.effect, Effect::Allow, "{} s after {:?}:\n{:?}", (later - NOW) / S, d, again);
        prop_assert_eq!(again.grant_id.as_deref(), Some("g-earned"));
    }
}

fn shipped() -> Policy {
    Policy::from_json(include_str!("../pkg-config/policies/clinical-default.json")).unwrap()
}

/// Deny > needs-connection > step-up > allow; break-glass counts as an allow.
fn strictness(e: Effect) -> u8 {
    match e {
        Effect::Allow | Effect::BreakGlass => 0,
        Effect::StepUp => 1,
        Effect::NeedsConnection => 2,
        Effect::Deny => 3,
    }
}
