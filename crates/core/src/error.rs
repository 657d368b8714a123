//! The one error type of `kudos-core`.

/// What is wrong with a value given to a `kudos-core` constructor or operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A name or identifier is empty.
    #[error("{kind} is empty")]
    Empty {
        /// Which kind of value (`agent id`, `metric name`, …).
        kind: &'static str,
    },
    /// A name or identifier is longer than allowed.
    #[error("{kind} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Which kind of value.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A name or identifier holds a character that is not allowed (control characters, or
    /// whitespace at either end).
    #[error("{kind} {value:?} {reason}")]
    InvalidChars {
        /// Which kind of value.
        kind: &'static str,
        /// The value, escaped for display.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A day is not a valid `YYYY-MM-DD` calendar date between years 1 and 9999.
    #[error("{value:?} is not a valid day (expected YYYY-MM-DD)")]
    InvalidDay {
        /// The text given.
        value: String,
    },
    /// A day computation left the supported range.
    #[error("day arithmetic out of range: {day} + {days} days")]
    DayOutOfRange {
        /// The starting day.
        day: String,
        /// The number of days added.
        days: i64,
    },
    /// Points arithmetic overflowed `i64`.
    #[error("points overflow: {op}")]
    PointsOverflow {
        /// The operation that overflowed, e.g. `9223372036854775807 + 1`.
        op: String,
    },
    /// A metric value is NaN, infinite or larger in magnitude than 2^53.
    #[error("metric value {value} is not a finite number within ±2^53")]
    InvalidValue {
        /// The value, as text.
        value: String,
    },
    /// A tier is inconsistent.
    #[error("tier {tier}: {reason}")]
    InvalidTier {
        /// The tier id.
        tier: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An amount of money is not `AMOUNT CURRENCY` (`50.00 USD`), or is out of range.
    #[error("{value:?} is not an amount of money: {reason}")]
    InvalidMoney {
        /// The text given (escaped for display).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A transaction id is not a UUID.
    #[error("{value:?} is not a transaction id (expected a UUID)")]
    InvalidTxnId {
        /// The text given.
        value: String,
    },
}
