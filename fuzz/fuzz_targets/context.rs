//! Task context decoding, canonical encoding and evaluation against the shipped policy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wardgate::policy::{Policy, SessionFacts};
use wardgate::task::TaskContext;

static POLICY: OnceLock<Policy> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let policy = POLICY.get_or_init(|| Policy::from_json(include_str!("../../pkg-config/policies/clinical-default.json")).unwrap());
    if let Ok(ctx) = TaskContext::from_json(text) {
        let a = ctx.hash();
        assert_eq!(a, TaskContext::from_json(&serde_json::to_string(&ctx).unwrap()).unwrap().hash());
        let facts = SessionFacts { session_id: "s".into(), started_at_ms: 0, ..SessionFacts::default() };
        let d = policy.evaluate(&ctx, &facts, 1_000);
        assert!(!d.rule_ids.is_empty());
        let ch = wardgate::task::challenge(&[1u8; 16], &a).unwrap();
        wardgate::task::check_challenge(&ch, &ctx).unwrap();
    }
});
