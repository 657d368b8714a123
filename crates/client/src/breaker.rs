//! A circuit breaker on an injected clock.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use kudos_core::Clock;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Nothing is sent until a half-open probe succeeds.
    Open,
    /// One probe is in flight; others wait.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    /// When the current run of failures (without a success) began.
    failing_since: Option<DateTime<Utc>>,
    /// When the breaker opened (a probe is allowed after `retry_after`).
    opened_at: Option<DateTime<Utc>>,
}

/// Opens once the marketplace has failed without a single success for `open_after`; while open
/// nothing is sent (`NotSent`, holds wait); after `probe_after` one request is let through as
/// a probe: its success closes the breaker, its failure opens it again. Clones share state.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    clock: Arc<dyn Clock>,
    open_after: TimeDelta,
    probe_after: TimeDelta,
    inner: Arc<Mutex<Inner>>,
}

impl CircuitBreaker {
    /// A closed breaker.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>, open_after: TimeDelta, probe_after: TimeDelta) -> Self {
        Self {
            clock,
            open_after,
            probe_after,
            inner: Arc::new(Mutex::new(Inner {
                state: BreakerState::Closed,
                failing_since: None,
                opened_at: None,
            })),
        }
    }

    /// The state now.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
    }

    /// Whether a request may be sent now. When open and the probe delay has passed, the first
    /// caller gets `true` and the breaker goes half-open.
    pub fn allow(&self) -> bool {
        let now = self.clock.now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.state {
            BreakerState::Closed => true,
            // While open, and while a probe is out: wait `probe_after` (a probe whose result
            // never came back is taken as lost, and another one goes).
            BreakerState::Open | BreakerState::HalfOpen => {
                let due = inner
                    .opened_at
                    .is_none_or(|at| now - at >= self.probe_after);
                if due {
                    inner.state = BreakerState::HalfOpen;
                    inner.opened_at = Some(now);
                }
                due
            }
        }
    }

    /// A request succeeded: the breaker closes and the failure run ends.
    pub fn record_success(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *inner = Inner {
            state: BreakerState::Closed,
            failing_since: None,
            opened_at: None,
        };
    }

    /// A request failed (a retryable failure: 5xx, timeout, reset). Opens the breaker once the
    /// failures have lasted `open_after` without a success, or at once after a failed probe.
    pub fn record_failure(&self) {
        let now = self.clock.now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let since = *inner.failing_since.get_or_insert(now);
        if inner.state == BreakerState::HalfOpen || now - since >= self.open_after {
            inner.state = BreakerState::Open;
            inner.opened_at = Some(now);
        }
    }
}
