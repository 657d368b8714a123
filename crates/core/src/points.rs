//! Integer points with checked arithmetic.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// An amount of points: a signed 64-bit integer whose arithmetic is checked.
///
/// Points are never fractional; the rules round once, when they turn a metric into points.
/// Every operation that could overflow returns [`CoreError::PointsOverflow`] instead of
/// wrapping or panicking.
///
/// ```
/// use kudos_core::Points;
/// let balance = Points::new(500).checked_sub(Points::new(650))?;
/// assert_eq!(balance, Points::new(-150));
/// assert!(balance.is_negative());
/// assert!(Points::MAX.checked_add(Points::new(1)).is_err());
/// # Ok::<(), kudos_core::CoreError>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Points(i64);

impl Points {
    /// No points.
    pub const ZERO: Self = Self(0);
    /// The largest amount.
    pub const MAX: Self = Self(i64::MAX);
    /// The smallest amount.
    pub const MIN: Self = Self(i64::MIN);

    /// Wraps an integer amount.
    #[must_use]
    pub const fn new(value: i64) -> Self {
        Self(value)
    }

    /// The integer amount.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `self + rhs`.
    ///
    /// # Errors
    ///
    /// [`CoreError::PointsOverflow`] when the sum does not fit in `i64`.
    pub fn checked_add(self, rhs: Self) -> Result<Self, CoreError> {
        self.0
            .checked_add(rhs.0)
            .map(Self)
            .ok_or_else(|| CoreError::PointsOverflow {
                op: format!("{} + {}", self.0, rhs.0),
            })
    }

    /// `self - rhs`.
    ///
    /// # Errors
    ///
    /// [`CoreError::PointsOverflow`] when the difference does not fit in `i64`.
    pub fn checked_sub(self, rhs: Self) -> Result<Self, CoreError> {
        self.0
            .checked_sub(rhs.0)
            .map(Self)
            .ok_or_else(|| CoreError::PointsOverflow {
                op: format!("{} - {}", self.0, rhs.0),
            })
    }

    /// `-self`.
    ///
    /// # Errors
    ///
    /// [`CoreError::PointsOverflow`] for [`Points::MIN`], whose negation does not fit.
    pub fn checked_neg(self) -> Result<Self, CoreError> {
        self.0
            .checked_neg()
            .map(Self)
            .ok_or_else(|| CoreError::PointsOverflow {
                op: format!("-({})", self.0),
            })
    }

    /// `self * factor`.
    ///
    /// # Errors
    ///
    /// [`CoreError::PointsOverflow`] when the product does not fit in `i64`.
    pub fn checked_mul(self, factor: i64) -> Result<Self, CoreError> {
        self.0
            .checked_mul(factor)
            .map(Self)
            .ok_or_else(|| CoreError::PointsOverflow {
                op: format!("{} * {}", self.0, factor),
            })
    }

    /// The sum of many amounts.
    ///
    /// # Errors
    ///
    /// [`CoreError::PointsOverflow`] when any partial sum overflows.
    pub fn checked_sum(items: impl IntoIterator<Item = Self>) -> Result<Self, CoreError> {
        items.into_iter().try_fold(Self::ZERO, Self::checked_add)
    }

    /// Whether the amount is above zero.
    #[must_use]
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Whether the amount is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Whether the amount is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl From<i64> for Points {
    fn from(value: i64) -> Self {
        Self(value)
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Points({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn checked_ops_agree_with_i128(a in any::<i64>(), b in any::<i64>()) {
            let (pa, pb) = (Points::new(a), Points::new(b));
            let wide = i128::from(a) + i128::from(b);
            match pa.checked_add(pb) {
                Ok(sum) => prop_assert_eq!(i128::from(sum.get()), wide),
                Err(e) => {
                    prop_assert!(i64::try_from(wide).is_err());
                    let overflow = matches!(e, CoreError::PointsOverflow { .. });
                    prop_assert!(overflow);
                }
            }
            let wide = i128::from(a) - i128::from(b);
            prop_assert_eq!(pa.checked_sub(pb).ok().map(|p| i128::from(p.get())), i64::try_from(wide).ok().map(i128::from));
        }
    }

    #[test]
    fn negating_the_minimum_is_an_error_not_a_panic() {
        assert!(Points::MIN.checked_neg().is_err());
        assert_eq!(Points::new(-7).checked_neg(), Ok(Points::new(7)));
        assert!(Points::checked_sum([Points::MAX, Points::new(1)]).is_err());
        assert_eq!(
            Points::checked_sum([Points::new(2), Points::new(-5)]),
            Ok(Points::new(-3))
        );
    }
}
