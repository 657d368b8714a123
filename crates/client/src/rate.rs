//! A request-rate limit on an injected clock.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use kudos_core::Clock;

/// Spaces requests to at most `per_second` (0 = unlimited), with a burst of one: real
/// marketplaces cap order creation (Tango Card: one order per second). Clones share the
/// budget.
#[derive(Debug, Clone)]
pub struct RateLimit {
    clock: Arc<dyn Clock>,
    interval: Option<TimeDelta>,
    next: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl RateLimit {
    /// A limit of `per_second` requests per second (0: no limit).
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>, per_second: u32) -> Self {
        let interval =
            (per_second > 0).then(|| TimeDelta::nanoseconds(1_000_000_000 / i64::from(per_second)));
        Self {
            clock,
            interval,
            next: Arc::new(Mutex::new(None)),
        }
    }

    /// Takes a slot now if one is free; otherwise says how long until the next one.
    ///
    /// # Errors
    ///
    /// The wait, when the budget is spent.
    pub fn try_acquire(&self) -> Result<(), TimeDelta> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        match *next {
            Some(at) if now < at => Err(at - now),
            _ => {
                *next = Some(now + interval);
                Ok(())
            }
        }
    }
}
