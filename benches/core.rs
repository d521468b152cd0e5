//! Native micro-benchmarks of the pure core (criterion): policy evaluation with the shipped
//! policy on a few contexts, policy and context parsing, the grant coverage check, the task
//! hash, and one session step. `cargo bench --bench core` (`-- --quick` for a short run; see
//! `bench/run.sh`, which reads the estimates criterion writes under `target/criterion`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_debug_implementations,
    reason = "benchmarks"
)]

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::{BatchSize, Criterion};
    use serde_json::{Value, json};
    use wardgate::grant::{GrantClaims, Issue};
    use wardgate::policy::{AuthenticatorAttachment, Effect, Policy, SessionFacts};
    use wardgate::session::{self, Event, State};
    use wardgate::task::{Device, TaskContext, User};

    const POLICY: &str = include_str!("../pkg-config/policies/clinical-default.json");
    /// A fixed "now" (Unix ms).
    const NOW: u64 = 1_764_000_000_000;
    const MIN: u64 = 60_000;

    fn task(v: Value) -> TaskContext {
        TaskContext::from_json(&v.to_string()).unwrap()
    }

    fn device(shared: bool) -> Value {
        json!({ "id": "tablet-4b-1", "shared": shared, "managed": true })
    }

    /// The named contexts: one per kind of answer the shipped policy gives.
    fn contexts() -> Vec<(&'static str, TaskContext, Effect)> {
        let physician = json!({ "id": "dr-okafor", "roles": ["physician"] });
        vec![
            (
                "allow-chart-view",
                task(
                    json!({ "user": { "id": "rn-lee", "roles": ["nurse"] }, "action": "patient-view",
                             "patient": { "id": "p-7", "labels": [] }, "device": device(true) }),
                ),
                Effect::Allow,
            ),
            (
                "step-up-order-sign",
                task(json!({ "user": physician, "action": "order-sign",
                             "patient": { "id": "p-7", "labels": [] }, "encounterId": "e-1",
                             "targets": ["MedicationRequest/42"], "summary": "sign order 42",
                             "device": device(true) })),
                Effect::StepUp,
            ),
            (
                "step-up-epcs",
                task(json!({ "user": physician, "action": "medication-prescribe",
                             "patient": { "id": "p-9", "labels": ["controlled-substance"] },
                             "targets": ["MedicationRequest/77"], "summary": "oxycodone 5 mg",
                             "device": device(false) })),
                Effect::StepUp,
            ),
            (
                "deny-student-vip",
                task(
                    json!({ "user": { "id": "st-ng", "roles": ["student"] }, "action": "patient-view",
                             "patient": { "id": "p-1", "labels": ["vip"] }, "device": device(true) }),
                ),
                Effect::Deny,
            ),
            (
                "break-glass",
                task(json!({ "user": physician, "action": "order-sign",
                             "patient": { "id": "p-3", "labels": ["vip"] }, "device": device(true),
                             "emergency": { "reason": "code blue, bed 4" } })),
                Effect::BreakGlass,
            ),
            (
                "needs-connection-offline",
                task(json!({ "user": physician, "action": "order-sign",
                             "patient": { "id": "p-7", "labels": [] }, "device": device(false),
                             "connectivity": "offline" })),
                Effect::NeedsConnection,
            ),
        ]
    }

    fn facts() -> SessionFacts {
        SessionFacts {
            session_id: String::from("s-1"),
            started_at_ms: NOW - 60 * MIN,
            last_activity_ms: Some(NOW - MIN),
            last_strong_auth_ms: Some(NOW - 10 * MIN),
            roles_at_start: Vec::new(), // filled per context: no role change
            grants: Vec::new(),
            spent_grants: Vec::new(),
            locked: false,
        }
    }

    fn facts_for(t: &TaskContext) -> SessionFacts {
        SessionFacts {
            roles_at_start: t.user.roles.clone(),
            ..facts()
        }
    }

    /// A grant earned by a step-up for `t` a minute ago.
    fn grant_for(policy: &Policy, t: &TaskContext) -> GrantClaims {
        let requirement = policy
            .evaluate(t, &facts_for(t), NOW)
            .requirement
            .expect("a step-up");
        GrantClaims::for_step_up(
            t,
            &requirement,
            Issue {
                issuer: "https://rp.example",
                session_id: "s-1",
                auth_time_ms: NOW - MIN,
                now_ms: NOW - MIN,
                jti: String::from("g-1"),
                attachment: AuthenticatorAttachment::CrossPlatform,
            },
        )
    }

    pub fn benches(c: &mut Criterion) {
        let policy = Policy::from_json(POLICY).unwrap();
        let cases = contexts();

        let mut g = c.benchmark_group("evaluate");
        for (name, t, expected) in &cases {
            let f = facts_for(t);
            assert_eq!(policy.evaluate(t, &f, NOW).effect, *expected, "{name}");
            g.bench_function(*name, |b| {
                b.iter(|| policy.evaluate(black_box(t), black_box(&f), black_box(NOW)))
            });
        }
        // A step-up covered by a grant held in the session: the covers() check on the way.
        let (_, order_sign, _) = &cases[1];
        let mut covered = facts_for(order_sign);
        covered.grants = vec![grant_for(&policy, order_sign)];
        let d = policy.evaluate(order_sign, &covered, NOW);
        assert_eq!(d.effect, Effect::Allow, "covered by the grant");
        g.bench_function("allow-by-grant-order-sign", |b| {
            b.iter(|| policy.evaluate(black_box(order_sign), black_box(&covered), black_box(NOW)))
        });
        g.finish();

        let mut g = c.benchmark_group("parse");
        g.bench_function("policy-clinical-default", |b| {
            b.iter(|| Policy::from_json(black_box(POLICY)).unwrap())
        });
        let ctx_text = serde_json::to_string(order_sign).unwrap();
        let facts_text = serde_json::to_string(&covered).unwrap();
        g.bench_function("task-context", |b| {
            b.iter(|| TaskContext::from_json(black_box(&ctx_text)).unwrap())
        });
        g.bench_function("session-facts-with-grant", |b| {
            b.iter(|| SessionFacts::from_json(black_box(&facts_text)).unwrap())
        });
        g.finish();

        let mut g = c.benchmark_group("grant");
        let claims = &covered.grants[0];
        let requirement = d.requirement.clone().expect("the requirement");
        let hash = order_sign.hash();
        assert!(claims.covers(order_sign, &hash, &requirement, &covered, NOW));
        g.bench_function("covers-action-patient", |b| {
            b.iter(|| {
                black_box(claims).covers(
                    black_box(order_sign),
                    black_box(&hash),
                    black_box(&requirement),
                    black_box(&covered),
                    black_box(NOW),
                )
            })
        });
        let (_, epcs, _) = &cases[2];
        let epcs_grant = grant_for(&policy, epcs);
        let epcs_facts = facts_for(epcs);
        let epcs_req = policy
            .evaluate(epcs, &epcs_facts, NOW)
            .requirement
            .expect("a step-up");
        let epcs_hash = epcs.hash();
        assert!(epcs_grant.covers(epcs, &epcs_hash, &epcs_req, &epcs_facts, NOW));
        g.bench_function("covers-task-epcs", |b| {
            b.iter(|| {
                black_box(&epcs_grant).covers(
                    black_box(epcs),
                    black_box(&epcs_hash),
                    black_box(&epcs_req),
                    black_box(&epcs_facts),
                    black_box(NOW),
                )
            })
        });
        g.finish();

        let mut g = c.benchmark_group("task");
        g.bench_function("hash-order-sign", |b| {
            b.iter(|| black_box(order_sign).hash())
        });
        g.finish();

        let mut g = c.benchmark_group("session");
        let state = State::new(
            "s-1",
            User {
                id: String::from("dr-okafor"),
                roles: vec![String::from("physician")],
            },
            Device {
                id: String::from("tablet-4b-1"),
                shared: true,
                managed: true,
            },
            policy.session_limits(true),
            NOW - 2 * MIN,
            Some(NOW - 2 * MIN),
        );
        let (after, _) = session::step(state.clone(), Event::Activity, NOW - MIN);
        assert!(after.is_active());
        g.bench_function("step-activity", |b| {
            b.iter_batched(
                || after.clone(),
                |s| session::step(s, Event::Activity, black_box(NOW)),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }

    pub fn main() {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(50)
            .configure_from_args();
        benches(&mut c);
        c.final_summary();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(target_arch = "wasm32")]
fn main() {}
