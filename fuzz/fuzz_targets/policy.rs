//! Policy parsing and evaluation: never panics; a parsed policy always decides with rule ids.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wardgate::policy::{Policy, SessionFacts};
use wardgate::task::TaskContext;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(policy) = Policy::from_json(text) {
        let ctx = TaskContext::from_json(r#"{"user":{"id":"u","roles":["nurse"]},"action":"order-sign","patient":{"id":"p","labels":["vip"]},"device":{"id":"d","shared":true}}"#).unwrap();
        let facts = SessionFacts { session_id: "s".into(), started_at_ms: 1_000_000, last_strong_auth_ms: Some(1_000_000), ..SessionFacts::default() };
        for now in [0, 1_000_000, 1_000_500, u64::MAX] {
            let d = policy.evaluate(&ctx, &facts, now);
            assert!(!d.rule_ids.is_empty());
        }
        let _ = policy.summary();
    }
});
