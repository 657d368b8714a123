//! A seeded random generator, so that jitter and fault plans replay exactly from a seed.

/// xorshift64*: small, fast, and the same draws for the same seed on every platform. Not for
/// anything secret.
///
/// ```
/// let mut a = kudos_core::SeededRng::new(7);
/// let mut b = kudos_core::SeededRng::new(7);
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// assert_eq!(x, b.next_f64());
/// ```
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator for `seed` (any value, zero included).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next draw, uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        #[allow(
            clippy::cast_precision_loss,
            reason = "53 random bits fit an f64 exactly"
        )]
        let f = x as f64 / (1u64 << 53) as f64;
        f
    }
}
