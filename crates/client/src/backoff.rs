//! Exponential backoff with full jitter, from a seeded generator.

use std::time::Duration;

/// `delay(n)` is uniform in `[0, min(cap, base × 2^n)]` ("full jitter"), unless the server said
/// how long to wait (`Retry-After`), which wins (capped too). The same seed gives the same
/// delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    state: u64,
}

impl Backoff {
    /// A schedule starting at `base`, never above `cap`, jitter drawn from `seed`.
    #[must_use]
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            base,
            cap,
            state: seed ^ 0x9E37_79B9_7F4A_7C15 | 1,
        }
    }

    fn next_unit(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        #[allow(
            clippy::cast_precision_loss,
            reason = "53 random bits fit an f64 exactly"
        )]
        let f = x as f64 / (1u64 << 53) as f64;
        f
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
        ceiling.mul_f64(self.next_unit())
    }
}
