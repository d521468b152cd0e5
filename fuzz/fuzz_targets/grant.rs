//! Grant tokens: decoding and verification never panic, and nothing unsigned verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wardgate::grant::server::GrantKeys;

static KEYS: OnceLock<GrantKeys> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let keys = KEYS.get_or_init(|| GrantKeys::from_seed(&[42u8; 32]).unwrap());
    let _ = wardgate::grant::decode(token);
    // A fuzzer cannot forge an Ed25519 signature: verification must always fail.
    assert!(keys.verify(token, 1_764_057_600_000).is_err());
});
