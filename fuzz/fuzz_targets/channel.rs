//! Cross-tab messages: decoding never panics, and a decoded message applied to a session keeps
//! every held grant bound to the session.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wardgate::policy::SessionLimits;
use wardgate::session::{ChannelMessage, State, event_from_channel, step};
use wardgate::task::{Device, User};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(msg) = ChannelMessage::decode(text) else { return };
    let s = State::new("s-1", User { id: "u".into(), roles: vec![] }, Device { id: "d".into(), shared: true, managed: true },
        SessionLimits { idle_lock_ms: 300_000, absolute_limit_ms: 28_800_000 }, 1_000, Some(1_000));
    let ev = event_from_channel(&s, msg.clone(), wardgate::grant::decode);
    let (s, _) = step(s, ev, 2_000);
    for g in &s.grants {
        assert_eq!(g.claims.sid, s.session_id);
        assert_eq!(Some(g.claims.sub.as_str()), s.user.as_ref().map(|u| u.id.as_str()));
    }
    let _ = ChannelMessage::decode(&msg.encode()).unwrap();
});
