//! Exponential backoff with full jitter, from a seeded generator.

use std::time::Duration;

/// `delay(n)` is uniform in `[0, min(cap, base × 2^n)]` ("full jitter"), unless the server said
/// how long to wait (`Retry-After`), which wins (capped too). The same seed gives the same
/// delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    rng: kudos_core::SeededRng,
}

impl Backoff {
    /// A schedule starting at `base`, never above `cap`, jitter drawn from `seed`.
    #[must_use]
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            base,
            cap,
            rng: kudos_core::SeededRng::new(seed),
        }
    }

    /// The wait before retry number `attempt` (0 for the first retry).
    pub fn delay(&mut self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.cap);
        }
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        ceiling.mul_f64(self.rng.next_f64())
    }
}
