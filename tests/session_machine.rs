//! The session state machine, played like a ward shift with a fake clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use wardgate::audit::AuditKind;
use wardgate::grant::{GrantClaims, GrantScope};
use wardgate::policy::{
    AuthenticatorAttachment, Decision, Effect as D, Policy, ScopeKind, SessionLimits,
};
use wardgate::session::{
    ChannelKind, ChannelMessage, Effect, Event, LockReason, State, Status, event_from_channel, step,
};
use wardgate::task::{Device, TaskContext, User};

const T0: u64 = 1_764_057_600_000;
const MIN: u64 = 60_000;

fn nurse() -> User {
    User {
        id: "rn-ade".into(),
        roles: vec!["nurse".into()],
    }
}
fn tablet() -> Device {
    Device {
        id: "tablet-4b-1".into(),
        shared: true,
        managed: true,
    }
}
fn limits() -> SessionLimits {
    SessionLimits {
        idle_lock_ms: 5 * MIN,
        absolute_limit_ms: 8 * 60 * MIN,
    }
}
fn fresh() -> State {
    State::new("s-1", nurse(), tablet(), limits(), T0, Some(T0))
}
fn vip_view() -> TaskContext {
    TaskContext::from_json(r#"{"user":{"id":"rn-ade","roles":["nurse"]},"action":"patient-view","patient":{"id":"p-7","labels":["vip"]},"device":{"id":"tablet-4b-1","shared":true,"managed":true}}"#).unwrap()
}
fn grant(jti: &str, sub: &str, sid: &str, exp_ms: u64) -> GrantClaims {
    GrantClaims {
        iss: "http://localhost:8080".into(),
        sub: sub.into(),
        sid: sid.into(),
        dev: "tablet-4b-1".into(),
        acr: "phr".into(),
        amr: vec!["hwk".into(), "user".into(), "mfa".into()],
        auth_time: T0 / 1000,
        iat: T0 / 1000,
        exp: exp_ms / 1000,
        jti: jti.into(),
        scp: GrantScope {
            kind: ScopeKind::ActionPatient,
            actions: vec!["patient-view".into()],
            patient: Some("p-7".into()),
            task: None,
        },
        att: AuthenticatorAttachment::Any,
        once: false,
    }
}
fn run(s: State, events: Vec<(u64, Event)>) -> (State, Vec<Effect>) {
    let mut all = Vec::new();
    let mut s = s;
    for (t, e) in events {
        let (n, fx) = step(s, e, t);
        s = n;
        all.extend(fx);
    }
    (s, all)
}
fn audits(fx: &[Effect]) -> Vec<AuditKind> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Audit { event } => Some(event.kind),
            _ => None,
        })
        .collect()
}
fn earn(s: State, at: u64, jti: &str) -> State {
    let (s, _) = step(s, Event::CeremonyStarted { task: vip_view() }, at);
    step(
        s,
        Event::CeremonySucceeded {
            token: format!("tok-{jti}"),
            claims: grant(jti, "rn-ade", "s-1", at + 30 * MIN),
        },
        at + 2000,
    )
    .0
}

#[test]
fn a_grant_survives_tab_and_app_switches_and_a_reload() {
    let s = earn(fresh(), T0 + MIN, "g-1");
    assert_eq!(s.grants.len(), 1);
    let (s, fx) = run(
        s,
        vec![
            (T0 + 2 * MIN, Event::Hidden),
            (T0 + 3 * MIN, Event::PageHide),
        ],
    );
    assert!(fx.contains(&Effect::Persist) && fx.contains(&Effect::FlushAudit));
    let restored = State::from_json(&s.to_json().unwrap()).unwrap();
    assert_eq!(restored, s);
    let (s, _) = run(
        restored,
        vec![
            (T0 + 4 * MIN, Event::PageShow { persisted: false }),
            (T0 + 4 * MIN, Event::Visible),
        ],
    );
    assert_eq!(s.grants.len(), 1);
    let policy =
        Policy::from_json(include_str!("../pkg-config/policies/clinical-default.json")).unwrap();
    let d = policy.evaluate(&vip_view(), &s.facts(), T0 + 4 * MIN);
    assert_eq!(d.effect, D::Allow);
    assert_eq!(d.grant_id.as_deref(), Some("g-1"));
}

#[test]
fn idle_lock_at_the_limit_and_not_before() {
    let (s, fx) = step(fresh(), Event::Tick, T0 + 5 * MIN - 1);
    assert!(s.is_active() && fx.is_empty());
    let (s, fx) = step(s, Event::Tick, T0 + 5 * MIN);
    assert!(matches!(
        s.status,
        Status::Locked {
            reason: LockReason::Idle,
            ..
        }
    ));
    assert!(fx.contains(&Effect::Lock {
        reason: LockReason::Idle
    }));
    assert!(audits(&fx).contains(&AuditKind::Lock));
    assert!(fx.iter().any(|e| matches!(e, Effect::Broadcast { message } if matches!(message.kind, ChannelKind::Lock { .. }))));
}

#[test]
fn activity_postpones_the_idle_lock_and_activity_elsewhere_counts() {
    let (s, _) = run(
        fresh(),
        vec![
            (T0 + 4 * MIN, Event::Activity),
            (
                T0 + 8 * MIN,
                Event::ActivityElsewhere {
                    at_ms: T0 + 7 * MIN,
                },
            ),
            (T0 + 11 * MIN, Event::Tick),
        ],
    );
    assert!(s.is_active());
    let (s, _) = step(s, Event::Tick, T0 + 12 * MIN);
    assert!(!s.is_active());
}

#[test]
fn activity_from_the_future_does_not_extend_the_session() {
    let (s, _) = step(
        fresh(),
        Event::ActivityElsewhere {
            at_ms: T0 + 1000 * MIN,
        },
        T0 + MIN,
    );
    assert_eq!(s.last_activity_ms, T0 + MIN);
}

#[test]
fn absolute_limit_locks_even_with_activity() {
    let mut s = fresh();
    for i in 1..=200 {
        s = step(s, Event::Activity, T0 + i * 4 * MIN + 1).0;
        if !s.is_active() {
            break;
        }
    }
    assert!(matches!(
        s.status,
        Status::Locked {
            reason: LockReason::Absolute,
            ..
        }
    ));
}

#[test]
fn events_needing_an_active_session_are_ignored_while_locked() {
    let (s, _) = step(fresh(), Event::Lock, T0 + MIN);
    let (s2, fx) = step(
        s.clone(),
        Event::CeremonyStarted { task: vip_view() },
        T0 + 2 * MIN,
    );
    assert!(fx.is_empty());
    assert_eq!(s2.pending, None);
    let (s3, fx) = step(s, Event::Activity, T0 + 2 * MIN);
    assert!(fx.is_empty());
    assert!(!s3.is_active());
}

#[test]
fn unlock_resumes_the_pending_task_with_a_prompt() {
    let (s, _) = run(
        fresh(),
        vec![
            (T0 + MIN, Event::CeremonyStarted { task: vip_view() }),
            (
                T0 + MIN + 500,
                Event::CeremonyInterrupted {
                    code: "WARDGATE_CEREMONY_NOT_ALLOWED".into(),
                },
            ),
            (T0 + 7 * MIN, Event::Tick),
        ],
    );
    assert!(!s.is_active());
    assert!(s.pending.is_some());
    let (s, fx) = step(
        s,
        Event::Unlock {
            strong_auth_at_ms: T0 + 8 * MIN,
        },
        T0 + 8 * MIN,
    );
    assert!(s.is_active());
    assert_eq!(s.last_strong_auth_ms, Some(T0 + 8 * MIN));
    assert!(fx.contains(&Effect::Prompt { task: vip_view() }));
    assert!(audits(&fx).contains(&AuditKind::Unlock));
}

#[test]
fn an_interrupted_ceremony_is_offered_again_on_return() {
    let (s, fx) = run(
        fresh(),
        vec![
            (T0 + MIN, Event::CeremonyStarted { task: vip_view() }),
            (T0 + MIN + 100, Event::Hidden),
            (
                T0 + MIN + 200,
                Event::CeremonyInterrupted {
                    code: "WARDGATE_CEREMONY_NOT_ALLOWED".into(),
                },
            ),
        ],
    );
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Prompt { .. })),
        "no prompt while hidden"
    );
    assert_eq!(s.counters.app_switches_during_prompt, 1);
    assert_eq!(s.counters.interrupted, 1);
    let (s, fx) = step(s, Event::Visible, T0 + 2 * MIN);
    assert!(fx.contains(&Effect::Prompt { task: vip_view() }));
    let (s, _) = step(
        s,
        Event::CeremonyStarted { task: vip_view() },
        T0 + 2 * MIN + 10,
    );
    assert_eq!(s.pending.as_ref().unwrap().attempts, 2);
    let (s, _) = step(
        s,
        Event::CeremonySucceeded {
            token: "t".into(),
            claims: grant("g-2", "rn-ade", "s-1", T0 + 30 * MIN),
        },
        T0 + 2 * MIN + 900,
    );
    assert_eq!(s.counters.resumed, 1);
    assert_eq!(s.counters.approvals, 1);
    assert_eq!(s.pending, None);
}

#[test]
fn handoff_wipes_first_and_starts_the_next_clinician_clean() {
    let s = earn(fresh(), T0 + MIN, "g-1");
    let (s, _) = step(s, Event::CeremonyStarted { task: vip_view() }, T0 + 2 * MIN);
    let dr = User {
        id: "dr-okafor".into(),
        roles: vec!["physician".into()],
    };
    let (s, fx) = step(
        s,
        Event::UserSwitch {
            session_id: "s-2".into(),
            user: dr.clone(),
            strong_auth_at_ms: Some(T0 + 3 * MIN),
        },
        T0 + 3 * MIN,
    );
    assert_eq!(fx.first(), Some(&Effect::Wipe));
    assert!(s.grants.is_empty() && s.pending.is_none() && s.spent_grants.is_empty());
    assert_eq!(s.user.as_ref(), Some(&dr));
    assert_eq!(s.session_id, "s-2");
    let handoff = fx
        .iter()
        .find_map(|e| match e {
            Effect::Audit { event } if event.kind == AuditKind::Handoff => Some(event.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(handoff.previous_user_id.as_deref(), Some("rn-ade"));
    assert_eq!(handoff.user_id.as_deref(), Some("dr-okafor"));
    let msg = fx
        .iter()
        .find_map(|e| match e {
            Effect::Broadcast { message } => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        msg.session_id, "s-1",
        "sibling tabs of the old session must hear it"
    );
    // A sibling tab of the old session wipes too, without re-broadcasting.
    let sibling = earn(fresh(), T0 + MIN, "g-1");
    let ev = event_from_channel(
        &sibling,
        ChannelMessage::decode(&msg.encode()).unwrap(),
        wardgate::grant::decode,
    );
    let (sib, fx) = step(sibling, ev, T0 + 3 * MIN);
    assert_eq!(fx.first(), Some(&Effect::Wipe));
    assert!(sib.grants.is_empty());
    assert_eq!(sib.session_id, "s-2");
    assert!(!fx.iter().any(|e| matches!(e, Effect::Broadcast { .. })));
}

#[test]
fn logout_wipes_and_bfcache_cannot_resume_it() {
    let s = earn(fresh(), T0 + MIN, "g-1");
    let (s, fx) = step(s, Event::Logout { here: true }, T0 + 2 * MIN);
    assert_eq!(fx.first(), Some(&Effect::Wipe));
    assert_eq!(s.status, Status::LoggedOut);
    assert!(s.grants.is_empty() && s.user.is_none());
    let (_, fx) = step(s, Event::PageShow { persisted: true }, T0 + 3 * MIN);
    assert!(fx.iter().any(|e| matches!(e, Effect::Lock { .. })));
}

#[test]
fn a_grant_from_another_tab_is_kept_only_when_it_binds() {
    let s = fresh();
    for (claims, kept) in [
        (grant("g-ok", "rn-ade", "s-1", T0 + 30 * MIN), true),
        (grant("g-user", "dr-okafor", "s-1", T0 + 30 * MIN), false),
        (grant("g-sess", "rn-ade", "s-9", T0 + 30 * MIN), false),
        (grant("g-old", "rn-ade", "s-1", T0 - MIN), false),
    ] {
        let (n, fx) = step(
            s.clone(),
            Event::GrantEarned {
                token: "t".into(),
                claims: claims.clone(),
            },
            T0 + MIN,
        );
        assert_eq!(n.grants.len() == 1, kept, "{}", claims.jti);
        assert_eq!(n.dropped_messages == 1, !kept, "{}", claims.jti);
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Broadcast { .. })),
            "no echo"
        );
    }
}

#[test]
fn foreign_and_malformed_channel_messages_are_dropped() {
    let s = fresh();
    let foreign = ChannelMessage {
        v: 1,
        session_id: "s-other".into(),
        kind: ChannelKind::Logout,
    };
    let ev = event_from_channel(&s, foreign, wardgate::grant::decode);
    let (s, fx) = step(s, ev, T0 + MIN);
    assert_eq!(s.status, Status::Active);
    assert_eq!(s.dropped_messages, 1);
    assert!(audits(&fx).contains(&AuditKind::ChannelMessageDropped));
    let forged = ChannelMessage {
        v: 1,
        session_id: "s-1".into(),
        kind: ChannelKind::Grant {
            token: "not.a.jwt".into(),
        },
    };
    let ev = event_from_channel(&s, forged, wardgate::grant::decode);
    let (s, _) = step(s, ev, T0 + MIN);
    assert!(s.grants.is_empty());
    assert_eq!(s.dropped_messages, 2);
    for bad in [
        "",
        "{}",
        "[]",
        r#"{"v":2,"sessionId":"s-1","type":"logout"}"#,
        r#"{"v":1,"sessionId":"s-1","type":"explode"}"#,
        r#"{"v":1,"sessionId":"s-1","type":"logout","extra":1}"#,
        r#"{"v":1,"sessionId":"","type":"logout"}"#,
        r#"{"v":1,"sessionId":"s-1","type":"revoke"}"#,
        r#"{"v":1,"sessionId":"s-1","type":"grant","token":""}"#,
    ] {
        let e = ChannelMessage::decode(bad).unwrap_err();
        assert_eq!(e.code(), "WARDGATE_STATE_INVALID", "{bad}");
    }
    assert_eq!(
        ChannelMessage::decode(&"x".repeat(20_000))
            .unwrap_err()
            .code(),
        "WARDGATE_INPUT_TOO_LARGE"
    );
}

#[test]
fn a_spent_single_use_grant_is_broadcast_and_not_used_again() {
    let mut c = grant("g-epcs", "rn-ade", "s-1", T0 + 2 * MIN);
    c.once = true;
    let (s, _) = step(
        fresh(),
        Event::CeremonySucceeded {
            token: "t".into(),
            claims: c,
        },
        T0 + MIN,
    );
    let (s, fx) = step(
        s,
        Event::GrantSpent {
            jti: "g-epcs".into(),
            here: true,
        },
        T0 + MIN + 10,
    );
    assert!(s.grants.is_empty());
    assert_eq!(s.spent_grants, vec!["g-epcs".to_string()]);
    assert!(fx.iter().any(|e| matches!(e, Effect::Broadcast { message } if message.kind == ChannelKind::Spent { jti: "g-epcs".into() })));
}

#[test]
fn expired_grants_are_purged_lazily() {
    let s = earn(fresh(), T0 + MIN, "g-1");
    let (s, fx) = step(s, Event::Activity, T0 + MIN + 2000 + 30 * MIN);
    assert!(s.grants.is_empty());
    assert!(fx.contains(&Effect::Persist));
}

#[test]
fn break_glass_is_audited_for_review() {
    let task = TaskContext::from_json(r#"{"user":{"id":"rn-ade","roles":["nurse"]},"action":"patient-view","patient":{"id":"p-7"},"device":{"id":"tablet-4b-1","shared":true},"emergency":{"reason":"code blue, bed 4"}}"#).unwrap();
    let decision = Decision {
        effect: D::BreakGlass,
        rule_ids: vec!["break-glass-clinicians".into()],
        reason: "override".into(),
        requirement: None,
        grant_id: None,
        allowed_by: None,
        review_required: true,
    };
    let (s, fx) = step(fresh(), Event::Decided { task, decision }, T0 + MIN);
    assert_eq!(s.counters.break_glass, 1);
    let bg = fx
        .iter()
        .find_map(|e| match e {
            Effect::Audit { event } if event.kind == AuditKind::BreakGlassStart => {
                Some(event.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(bg.review_required);
    assert_eq!(bg.reason.as_deref(), Some("code blue, bed 4"));
    assert_eq!(bg.task.as_ref().unwrap().patient_id.as_deref(), Some("p-7"));
}

#[test]
fn friction_counters_count_cancels_and_failure_streaks() {
    let (s, _) = run(
        fresh(),
        vec![
            (T0 + 1000, Event::CeremonyStarted { task: vip_view() }),
            (
                T0 + 2000,
                Event::CeremonyCancelled {
                    code: "cancelled".into(),
                },
            ),
            (T0 + 3000, Event::CeremonyStarted { task: vip_view() }),
            (
                T0 + 4000,
                Event::CeremonyFailed {
                    code: "WARDGATE_CEREMONY_SECURITY".into(),
                },
            ),
            (T0 + 5000, Event::CeremonyStarted { task: vip_view() }),
            (
                T0 + 6000,
                Event::CeremonyFailed {
                    code: "WARDGATE_SERVER".into(),
                },
            ),
        ],
    );
    assert_eq!(
        (s.counters.prompts, s.counters.cancels, s.counters.failures),
        (3, 1, 2)
    );
    assert_eq!(s.counters.max_failure_streak, 3);
    let s = step(s, Event::CeremonyStarted { task: vip_view() }, T0 + 7000).0;
    let s = step(
        s,
        Event::CeremonySucceeded {
            token: "t".into(),
            claims: grant("g", "rn-ade", "s-1", T0 + 30 * MIN),
        },
        T0 + 8000,
    )
    .0;
    assert_eq!(s.counters.current_failure_streak, 0);
    assert_eq!(s.counters.max_failure_streak, 3);
}

#[test]
fn stored_state_of_another_version_or_shape_is_refused() {
    let s = fresh();
    let mut v: serde_json::Value = serde_json::from_str(&s.to_json().unwrap()).unwrap();
    v["version"] = 0.into();
    assert_eq!(
        State::from_json(&v.to_string()).unwrap_err().path(),
        Some("version")
    );
    v["version"] = 1.into();
    v["grants"] = "oops".into();
    let e = State::from_json(&v.to_string()).unwrap_err();
    assert_eq!(
        (e.code(), e.path()),
        ("WARDGATE_STATE_INVALID", Some("grants"))
    );
    assert!(State::from_json("not json").is_err());
}

#[test]
fn audit_ids_are_unique_and_name_who_what_where() {
    let (_, fx) = run(
        fresh(),
        vec![
            (T0 + 1000, Event::CeremonyStarted { task: vip_view() }),
            (T0 + 2000, Event::CeremonyInterrupted { code: "x".into() }),
            (T0 + 3000, Event::Lock),
            (
                T0 + 4000,
                Event::Unlock {
                    strong_auth_at_ms: T0 + 4000,
                },
            ),
            (T0 + 5000, Event::Logout { here: true }),
        ],
    );
    let events: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Audit { event } => Some(event.clone()),
            _ => None,
        })
        .collect();
    assert!(events.len() >= 5);
    let mut ids: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len());
    for e in &events {
        assert_eq!(
            (
                e.device_id.as_str(),
                e.session_id.as_str(),
                e.user_id.as_deref()
            ),
            ("tablet-4b-1", "s-1", Some("rn-ade"))
        );
    }
}

#[test]
fn sibling_tabs_write_distinct_audit_ids_and_do_not_echo_locks() {
    let mut a = fresh();
    a.instance_id = "tab-a".into();
    let mut b = a.clone();
    b.instance_id = "tab-b".into();
    let (_, fa) = step(a.clone(), Event::Lock, T0 + MIN);
    let (_, fb) = step(b.clone(), Event::Lock, T0 + MIN);
    let id = |fx: &[Effect]| {
        fx.iter()
            .find_map(|e| match e {
                Effect::Audit { event } => Some(event.id.clone()),
                _ => None,
            })
            .unwrap()
    };
    assert_ne!(id(&fa), id(&fb));
    assert_eq!(id(&fa), "s-1.tab-a.1");
    // Tab B hears tab A's manual lock: locks, but neither audits nor re-broadcasts it.
    let msg = fa
        .iter()
        .find_map(|e| match e {
            Effect::Broadcast { message } => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    let ev = event_from_channel(&b, msg, wardgate::grant::decode);
    let (b2, fx) = step(b.clone(), ev, T0 + MIN);
    assert!(!b2.is_active());
    assert!(audits(&fx).is_empty());
    assert!(!fx.iter().any(|e| matches!(e, Effect::Broadcast { .. })));
    // An idle lock from a background tab does not lock a tab whose clinician is active.
    let (b3, _) = step(b, Event::Activity, T0 + 4 * MIN);
    let idle = ChannelMessage {
        v: 1,
        session_id: "s-1".into(),
        kind: ChannelKind::Lock {
            reason: LockReason::Idle,
        },
    };
    let ev = event_from_channel(&b3, idle, wardgate::grant::decode);
    let (b4, _) = step(b3, ev, T0 + 6 * MIN);
    assert!(b4.is_active());
}

#[test]
fn activity_is_shared_with_sibling_tabs_throttled() {
    let (s, fx) = step(fresh(), Event::Activity, T0 + MIN);
    assert!(fx.iter().any(|e| matches!(e, Effect::Broadcast { message } if matches!(message.kind, ChannelKind::Activity { .. }))));
    let (_, fx) = step(s, Event::Activity, T0 + MIN + 10_000);
    assert!(fx.is_empty(), "throttled");
}

#[test]
fn events_reject_unknown_fields() {
    let e: Result<Event, _> = serde_json::from_str(r#"{"type":"unlock","strongAuthAtMS":1}"#);
    assert!(e.is_err());
    let e: Event = serde_json::from_str(r#"{"type":"unlock","strongAuthAtMs":1}"#).unwrap();
    assert_eq!(
        e,
        Event::Unlock {
            strong_auth_at_ms: 1
        }
    );
}

#[test]
fn a_pending_task_settled_without_a_step_up_is_not_offered_again() {
    // Cut off by an app switch, then decided again while offline: needs the connection.
    let (s, _) = run(
        fresh(),
        vec![
            (T0 + MIN, Event::CeremonyStarted { task: vip_view() }),
            (T0 + MIN + 100, Event::Hidden),
            (
                T0 + MIN + 200,
                Event::CeremonyInterrupted {
                    code: "WARDGATE_CEREMONY_NOT_ALLOWED".into(),
                },
            ),
        ],
    );
    assert!(s.pending.is_some());
    let decision = Decision {
        effect: D::NeedsConnection,
        rule_ids: vec![],
        reason: "offline".into(),
        requirement: None,
        grant_id: None,
        allowed_by: None,
        review_required: false,
    };
    let (s, fx) = step(
        s,
        Event::Decided {
            task: vip_view(),
            decision,
        },
        T0 + 2 * MIN,
    );
    assert!(s.pending.is_none(), "the task has its outcome");
    assert!(fx.contains(&Effect::Persist));
    let (_, fx) = step(s, Event::Visible, T0 + 3 * MIN);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Prompt { .. })),
        "nothing to offer again"
    );
}
