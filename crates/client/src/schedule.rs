//! Retry schedules: how long to wait before each retry, and when to stop (the budget).

use std::fmt;
use std::time::Duration;

/// A retry schedule. Each call gets a fresh sequence of delays; when it ends, the retry budget
/// is spent. A `Retry-After` from the server replaces the next delay (it still counts).
pub trait Schedule: Send + Sync + fmt::Debug {
    /// The delays for one call.
    fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send>;
}

/// The default: backon's exponential backoff with seeded jitter, at most `max_retries`
/// retries and at most `deadline` of waiting in all.
#[derive(Debug, Clone)]
pub struct BackonSchedule(backon::ExponentialBuilder);

impl BackonSchedule {
    /// Waits from `base`, doubling, capped at `cap`, jittered from `seed`; stops after
    /// `max_retries` retries or `deadline` of total waiting.
    #[must_use]
    pub fn new(
        base: Duration,
        cap: Duration,
        max_retries: u32,
        deadline: Duration,
        seed: u64,
    ) -> Self {
        Self(
            backon::ExponentialBuilder::default()
                .with_min_delay(base)
                .with_max_delay(cap)
                .with_factor(2.0)
                .with_jitter()
                .with_jitter_seed(seed)
                .with_max_times(usize::try_from(max_retries).unwrap_or(usize::MAX))
                .with_total_delay(Some(deadline)),
        )
    }
}

impl Schedule for BackonSchedule {
    fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
        Box::new(backon::BackoffBuilder::build(self.0))
    }
}

/// The `backoff` crate's schedule (feature `backoff`): a `backoff::ExponentialBackoff`, as
/// configured by the integrator, including its `max_elapsed_time` as the deadline.
#[cfg(feature = "backoff")]
#[derive(Debug, Clone)]
pub struct BackoffCrateSchedule(pub backoff::ExponentialBackoff);

#[cfg(feature = "backoff")]
impl Schedule for BackoffCrateSchedule {
    fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
        use backoff::backoff::Backoff as _;
        let mut b = self.0.clone();
        b.reset();
        Box::new(std::iter::from_fn(move || b.next_backoff()))
    }
}
