//! The session state machine under random event sequences; invariants checked on every step.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wardgate::grant::{GrantClaims, GrantScope};
use wardgate::policy::{AuthenticatorAttachment, ScopeKind, SessionLimits};
use wardgate::session::{Effect, Event, State, Status, step};
use wardgate::task::{Device, TaskContext, User};

#[derive(Arbitrary, Debug)]
struct Step { dt: u32, kind: u8, a: u8, b: u8 }

const T0: u64 = 1_764_057_600_000;

fn claims(a: u8, b: u8, now: u64) -> GrantClaims {
    let sub = if a % 3 == 0 { "u-2" } else { "u-1" };
    let sid = ["s-1", "s-2", "s-3"][usize::from(b % 3)];
    GrantClaims {
        iss: "i".into(), sub: sub.into(), sid: sid.into(), dev: "d".into(), acr: "phr".into(),
        amr: vec!["mfa".into()], auth_time: now / 1000, iat: now / 1000, exp: now / 1000 + u64::from(a) + 1,
        jti: format!("g-{b}"), scp: GrantScope { kind: ScopeKind::Session, actions: vec![], patient: None, task: None },
        att: AuthenticatorAttachment::Any, once: a % 2 == 0,
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let task = TaskContext::from_json(r#"{"user":{"id":"u-1"},"action":"order-sign","patient":{"id":"p"},"device":{"id":"d"}}"#).unwrap();
    let mut s = State::new("s-1", User { id: "u-1".into(), roles: vec![] }, Device { id: "d".into(), shared: true, managed: true },
        SessionLimits { idle_lock_ms: 300_000, absolute_limit_ms: 28_800_000 }, T0, Some(T0));
    let mut now = T0;
    let mut ids = std::collections::HashSet::new();
    for st in steps.iter().take(200) {
        now = now.saturating_add(u64::from(st.dt % 600_000));
        let ev = match st.kind % 20 {
            0 => Event::Activity, 1 => Event::Hidden, 2 => Event::Visible, 3 => Event::PageHide,
            4 => Event::PageShow { persisted: st.a % 2 == 0 }, 5 => Event::Freeze, 6 => Event::Resume,
            7 => Event::Online, 8 => Event::Offline, 9 => Event::Tick, 10 => Event::Lock,
            11 => Event::Unlock { strong_auth_at_ms: now },
            12 => Event::CeremonyStarted { task: task.clone() },
            13 => Event::CeremonySucceeded { token: "t".into(), claims: claims(st.a, st.b, now) },
            14 => Event::GrantEarned { token: "t".into(), claims: claims(st.a, st.b, now) },
            15 => Event::CeremonyInterrupted { code: "x".into() },
            16 => Event::GrantSpent { jti: format!("g-{}", st.b), here: st.a % 2 == 0 },
            17 => Event::UserSwitch { session_id: format!("s-{}", st.b), user: User { id: "u-9".into(), roles: vec![] }, strong_auth_at_ms: Some(now) },
            18 => Event::Logout { here: st.a % 2 == 0 },
            _ => Event::CeremonyCancelled { code: "cancelled".into() },
        };
        let wipes = matches!(ev, Event::UserSwitch { .. }) || (matches!(ev, Event::Logout { .. }) && s.status != Status::LoggedOut);
        let (n, fx) = step(s, ev, now);
        s = n;
        if wipes {
            assert_eq!(fx.first(), Some(&Effect::Wipe));
            assert!(s.grants.is_empty() && s.pending.is_none());
        }
        for g in &s.grants {
            assert_eq!(g.claims.sid, s.session_id);
            assert!(g.claims.exp * 1000 > now);
        }
        for e in &fx {
            if let Effect::Audit { event } = e { assert!(ids.insert(event.id.clone())); }
        }
        assert_eq!(State::from_json(&s.to_json().unwrap()).unwrap(), s);
    }
});
