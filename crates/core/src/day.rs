//! Calendar days.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A calendar day, written `YYYY-MM-DD`, between years 1 and 9999.
///
/// A day carries no time zone: parsers turn instants into days in the zone they are told
/// (`--time-zone`), and the ledger reasons in days.
///
/// ```
/// use kudos_core::Day;
/// let day = Day::parse("2026-02-28")?;
/// assert_eq!(day.add_days(1)?.to_string(), "2026-03-01");
/// assert!(Day::parse("2026-02-30").is_err());
/// assert!(Day::parse("2026-3-1").is_err());
/// # Ok::<(), kudos_core::CoreError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

/// As its `YYYY-MM-DD` text.
impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.ascii_str(&mut [0; 10]))
    }
}

/// Through [`Day::parse`], from a borrowed or an owned string alike (a `serde_json::Value`
/// holds owned ones).
impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DayVisitor;
        impl serde::de::Visitor<'_> for DayVisitor {
            type Value = Day;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a day as YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Day, E> {
                Day::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DayVisitor)
    }
}

impl Day {
    /// Parses exactly `YYYY-MM-DD`.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidDay`] for any other shape, an impossible date (`2026-02-30`) or a
    /// year outside 1..=9999.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let invalid = || CoreError::InvalidDay {
            value: text.escape_debug().to_string(),
        };
        let b = text.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok {
            return Err(invalid());
        }
        // Every byte but the dashes is an ASCII digit: the numbers are read directly.
        let num =
            |r: std::ops::Range<usize>| b[r].iter().fold(0u16, |n, c| n * 10 + u16::from(c - b'0'));
        Self::from_ymd(
            i32::from(num(0..4)),
            u32::from(num(5..7)),
            u32::from(num(8..10)),
        )
        .ok_or_else(invalid)
    }

    /// The day with this year, month and day of month, if it exists and the year is in 1..=9999.
    #[must_use]
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).and_then(Self::from_naive)
    }

    /// Wraps a chrono date, if its year is in 1..=9999.
    #[must_use]
    pub fn from_naive(date: NaiveDate) -> Option<Self> {
        (1..=9999).contains(&date.year()).then_some(Self(date))
    }

    /// The day as `YYYY-MM-DD` in ASCII, as it displays (without formatting machinery: a
    /// year is always in 1..=9999).
    #[must_use]
    pub(crate) fn ascii(self) -> [u8; 10] {
        let digit = |n: u32| b'0' + u8::try_from(n % 10).unwrap_or(0);
        let (y, m, d) = (self.0.year().unsigned_abs(), self.0.month(), self.0.day());
        [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ]
    }

    /// The chrono date.
    #[must_use]
    pub const fn naive(self) -> NaiveDate {
        self.0
    }

    /// This day plus `days` (which may be negative).
    ///
    /// # Errors
    ///
    /// [`CoreError::DayOutOfRange`] when the result leaves years 1..=9999.
    pub fn add_days(self, days: i64) -> Result<Self, CoreError> {
        let out = || CoreError::DayOutOfRange {
            day: self.to_string(),
            days,
        };
        let delta = chrono::TimeDelta::try_days(days).ok_or_else(out)?;
        self.0
            .checked_add_signed(delta)
            .and_then(Self::from_naive)
            .ok_or_else(out)
    }

    /// The number of days from `self` to `later` (negative when `later` is earlier).
    #[must_use]
    pub fn days_until(self, later: Self) -> i64 {
        (later.0 - self.0).num_days()
    }
}

impl Day {
    /// The day as `YYYY-MM-DD`, written into `buf`.
    fn ascii_str(self, buf: &mut [u8; 10]) -> &str {
        *buf = self.ascii();
        // ASCII digits and dashes: always UTF-8.
        std::str::from_utf8(buf).unwrap_or("0000-00-00")
    }
}

impl TryFrom<&str> for Day {
    type Error = CoreError;
    fn try_from(value: &str) -> Result<Self, CoreError> {
        Self::parse(value)
    }
}

impl std::str::FromStr for Day {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Self::parse(s)
    }
}

impl From<Day> for String {
    fn from(day: Day) -> String {
        day.to_string()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.ascii_str(&mut [0; 10]))
    }
}

impl fmt::Debug for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Day({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_the_display() {
        for text in ["0001-01-01", "0999-12-31", "2026-03-02", "9999-12-31"] {
            let day = Day::parse(text).unwrap();
            assert_eq!(&day.ascii(), text.as_bytes());
            assert_eq!(day.to_string().as_bytes(), &day.ascii());
            assert_eq!(format!("[{day:>12}]"), format!("[  {text}]"));
            assert_eq!(serde_json::to_string(&day).unwrap(), format!("\"{text}\""));
        }
    }
    use proptest::prelude::*;

    #[test]
    fn rejects_impossible_and_sloppy_days() {
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "0000-01-01",
            "2026-1-01",
            "2026/01/01",
            "",
            "２０２６-01-01",
            "2026-01-01T00:00:00Z",
            " 2026-01-01",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Day::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
    }

    #[test]
    fn arithmetic_stays_in_range() {
        let last = Day::parse("9999-12-31").unwrap();
        assert!(last.add_days(1).is_err());
        assert!(last.add_days(i64::MAX).is_err());
        let d = Day::parse("2026-10-01").unwrap();
        assert_eq!(d.add_days(30).unwrap().to_string(), "2026-10-31");
        assert_eq!(d.days_until(d.add_days(-5).unwrap()), -5);
    }

    #[test]
    fn serde_reads_owned_strings_and_refuses_bad_days() {
        let value = serde_json::json!("2026-03-04");
        assert_eq!(
            serde_json::from_value::<Day>(value).unwrap(),
            Day::parse("2026-03-04").unwrap()
        );
        assert!(serde_json::from_value::<Day>(serde_json::json!("2026-02-30")).is_err());
        assert!(serde_json::from_str::<Day>("\"2026-02-30\"").is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(days in 0i64..3_652_000) {
            let day = Day::parse("0001-01-01").unwrap().add_days(days).unwrap();
            prop_assert_eq!(Day::parse(&day.to_string()).unwrap(), day);
            let json = serde_json::to_string(&day).unwrap();
            prop_assert_eq!(serde_json::from_str::<Day>(&json).unwrap(), day);
        }
    }
}
