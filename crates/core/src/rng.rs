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
/// // Neighbouring seeds are different streams.
/// assert_ne!(kudos_core::SeededRng::new(2).next_f64(), kudos_core::SeededRng::new(3).next_f64());
/// ```
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator for `seed` (any value, zero included).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed: every seed its own stream (xorshift needs a non-zero state;
        // splitmix64 maps exactly one seed to zero, and that one is moved off it).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z })
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
