//! Per-user token buckets (in memory) for the ceremony endpoints that verify assertions.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A token bucket per `(endpoint, user)`: `capacity` attempts, refilled continuously at
/// `capacity` per `window_ms`.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: u64,
    window_ms: u64,
    /// (endpoint, user) -> (tokens in thousandths, last refill ms)
    buckets: Mutex<HashMap<(String, String), (u64, u64)>>,
}

/// Verify attempts per user and endpoint per minute.
pub const ATTEMPTS_PER_MINUTE: u64 = 10;

impl RateLimiter {
    pub fn new(capacity: u64, window_ms: u64) -> RateLimiter {
        RateLimiter {
            capacity,
            window_ms: window_ms.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token; `false` when the bucket is empty (answer 429).
    pub fn allow(&self, endpoint: &str, user: &str, now_ms: u64) -> bool {
        const MILLI: u64 = 1000;
        let full = self.capacity.saturating_mul(MILLI);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = buckets
            .entry((endpoint.to_string(), user.to_string()))
            .or_insert((full, now_ms));
        let elapsed = now_ms.saturating_sub(entry.1);
        // tokens (thousandths) gained: elapsed * capacity * 1000 / window
        let gained = u128::from(elapsed) * u128::from(full) / u128::from(self.window_ms);
        let tokens = u128::from(entry.0)
            .saturating_add(gained)
            .min(u128::from(full));
        entry.1 = now_ms.max(entry.1);
        let tokens = u64::try_from(tokens).unwrap_or(full);
        if tokens >= MILLI {
            entry.0 = tokens - MILLI;
            true
        } else {
            entry.0 = tokens;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_per_minute_then_refill() {
        let rl = RateLimiter::new(10, 60_000);
        for _ in 0..10 {
            assert!(rl.allow("verify", "u", 1_000));
        }
        assert!(!rl.allow("verify", "u", 1_000));
        assert!(rl.allow("verify", "other", 1_000));
        assert!(rl.allow("signin", "u", 1_000));
        assert!(!rl.allow("verify", "u", 6_000));
        assert!(rl.allow("verify", "u", 7_100));
        assert!(!rl.allow("verify", "u", 7_100));
    }
}
