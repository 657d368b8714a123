//! Where "now" comes from.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time. Library code reads time only through a `Clock`, so tests and
/// simulations can control it ([`ManualClock`]); `clippy.toml` bans wall-clock reads elsewhere.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock. The one place in Kudos that reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "SystemClock is the one allowed wall-clock read"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move; clones share the same time.
///
/// ```
/// use kudos_core::{Clock, ManualClock};
/// let clock = ManualClock::at_rfc3339("2026-03-04T06:00:00Z")?;
/// let seen_by_other_part = clock.clone();
/// clock.advance(chrono::TimeDelta::seconds(90));
/// assert_eq!(seen_by_other_part.now().to_rfc3339(), "2026-03-04T06:01:30+00:00");
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `now`.
    #[must_use]
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// A clock showing an RFC 3339 instant.
    ///
    /// # Errors
    ///
    /// When `text` is not RFC 3339.
    pub fn at_rfc3339(text: &str) -> Result<Self, chrono::ParseError> {
        Ok(Self::new(
            DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc),
        ))
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Moves the time by `delta` (which may be negative).
    pub fn advance(&self, delta: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.checked_add_signed(delta).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
