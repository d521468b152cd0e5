//! WWW-Authenticate parsing never panics, and what wardgate writes it reads back unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wardgate::rfc9470::{format_www_authenticate, parse_www_authenticate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(Some(c)) = parse_www_authenticate(text) {
        let again = parse_www_authenticate(&format_www_authenticate(&c)).unwrap().unwrap();
        // Control characters are dropped when writing; compare what survives.
        assert_eq!(again.max_age, c.max_age);
        assert_eq!(again.acr_values, c.acr_values);
    }
});
