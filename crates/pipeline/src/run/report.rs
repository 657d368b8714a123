//! What a run reports: its [`Summary`] (the last line of `kudos run`), the pipeline's
//! [`Metrics`], and the counters behind both.

use std::sync::atomic::{AtomicU64, Ordering};

use kudos_client::{BreakerState, ProviderStats};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The last line of `kudos run` (`docs/reference/run.md#summary`): what the run did. Fields
/// are added as the run learns to count more (`#[non_exhaustive]`: read it, or start from
/// `Summary::default()`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Summary {
    /// Records ingested (dated on or before `--as-of`).
    pub records: u64,
    /// Rows rejected by the parser or the rules.
    pub rejected_rows: u64,
    /// Records dated after `--as-of`, left for a later run.
    pub future_rows: u64,
    /// Point events computed from the records.
    pub events: u64,
    /// Holds made.
    pub holds: u64,
    /// Rewards issued (holds committed), recovered ones included.
    pub issued: u64,
    /// Rewards the marketplace rejected.
    pub rejected: u64,
    /// Holds released (rejected rewards, and recovered holds the marketplace never issued).
    pub released: u64,
    /// Holds this run left in doubt.
    pub in_doubt: u64,
    /// Holds this run sent to review.
    pub review: u64,
    /// Redemptions reversed (clawback confirmed, or voided by the marketplace).
    pub reversed: u64,
    /// Reversals (clawbacks) recorded and requested.
    #[serde(default)]
    pub reversals_requested: u64,
    /// Reversals this run left unresolved for the next run: in doubt, or not sent.
    #[serde(default)]
    pub reversals_in_doubt: u64,
    /// Reversals this run sent to review (the marketplace cannot reverse them, or they stayed
    /// in doubt too long): the debt stays until an operator settles them.
    #[serde(default)]
    pub reversals_review: u64,
    /// Holds of earlier runs this run resolved (committed or released).
    pub recovered: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Rewards that wait, no hold made: a budget would be exceeded, or the funds do not cover
    /// them (`[budget]`, `[funding]`). A later run issues them, oldest first.
    #[serde(default)]
    pub waiting: u64,
    /// Holds made this run that wait for an operator's approval (`[approval] above_cost`).
    #[serde(default)]
    pub awaiting_approval: u64,
    /// Whether the programme was paused (`kudos pause`): no new hold, no new request.
    #[serde(default)]
    pub paused: bool,
    /// The run's id (also the audit chain's).
    pub run_id: Uuid,
}

impl Summary {
    /// Whether something needs an operator: rows rejected, an alert, a hold or reversal left
    /// in doubt or in review, a reward waiting (on a budget, funds or an approval), or the
    /// programme paused.
    #[must_use]
    pub fn needs_attention(&self) -> bool {
        self.rejected_rows > 0
            || self.alerts > 0
            || self.in_doubt > 0
            || self.review > 0
            || self.reversals_in_doubt > 0
            || self.reversals_review > 0
            || self.waiting > 0
            || self.awaiting_approval > 0
            || self.paused
    }
}

/// What a run counts: one per field of [`Summary`] (but the run id).
#[derive(Debug, Clone, Copy)]
pub(super) enum Count {
    Records,
    RejectedRows,
    FutureRows,
    Events,
    Holds,
    Issued,
    Rejected,
    Released,
    InDoubt,
    Review,
    Reversed,
    ReversalsRequested,
    ReversalsInDoubt,
    ReversalsReview,
    Recovered,
    Alerts,
    Waiting,
    AwaitingApproval,
    Paused,
}

/// Counters: one set per run (its [`Summary`]), one cumulative set per pipeline (its
/// [`Metrics`]).
#[derive(Debug, Default)]
pub(super) struct Counters {
    records: AtomicU64,
    rejected_rows: AtomicU64,
    future_rows: AtomicU64,
    events: AtomicU64,
    holds: AtomicU64,
    issued: AtomicU64,
    rejected: AtomicU64,
    released: AtomicU64,
    in_doubt: AtomicU64,
    review: AtomicU64,
    reversed: AtomicU64,
    reversals_requested: AtomicU64,
    reversals_in_doubt: AtomicU64,
    reversals_review: AtomicU64,
    recovered: AtomicU64,
    alerts: AtomicU64,
    waiting: AtomicU64,
    awaiting_approval: AtomicU64,
    paused: AtomicU64,
}

impl Counters {
    fn cell(&self, count: Count) -> &AtomicU64 {
        match count {
            Count::Records => &self.records,
            Count::RejectedRows => &self.rejected_rows,
            Count::FutureRows => &self.future_rows,
            Count::Events => &self.events,
            Count::Holds => &self.holds,
            Count::Issued => &self.issued,
            Count::Rejected => &self.rejected,
            Count::Released => &self.released,
            Count::InDoubt => &self.in_doubt,
            Count::Review => &self.review,
            Count::Reversed => &self.reversed,
            Count::ReversalsRequested => &self.reversals_requested,
            Count::ReversalsInDoubt => &self.reversals_in_doubt,
            Count::ReversalsReview => &self.reversals_review,
            Count::Recovered => &self.recovered,
            Count::Alerts => &self.alerts,
            Count::Waiting => &self.waiting,
            Count::AwaitingApproval => &self.awaiting_approval,
            Count::Paused => &self.paused,
        }
    }

    pub(super) fn add(&self, count: Count, n: u64) {
        self.cell(count).fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back `n` counted earlier (a row counted as taken, then rejected).
    pub(super) fn remove(&self, count: Count, n: u64) {
        self.cell(count).fetch_sub(n, Ordering::Relaxed);
    }

    pub(super) fn get(&self, count: Count) -> u64 {
        self.cell(count).load(Ordering::Relaxed)
    }

    pub(super) fn summary(&self, run_id: Uuid) -> Summary {
        Summary {
            records: self.get(Count::Records),
            rejected_rows: self.get(Count::RejectedRows),
            future_rows: self.get(Count::FutureRows),
            events: self.get(Count::Events),
            holds: self.get(Count::Holds),
            issued: self.get(Count::Issued),
            rejected: self.get(Count::Rejected),
            released: self.get(Count::Released),
            in_doubt: self.get(Count::InDoubt),
            review: self.get(Count::Review),
            reversed: self.get(Count::Reversed),
            reversals_requested: self.get(Count::ReversalsRequested),
            reversals_in_doubt: self.get(Count::ReversalsInDoubt),
            reversals_review: self.get(Count::ReversalsReview),
            recovered: self.get(Count::Recovered),
            alerts: self.get(Count::Alerts),
            waiting: self.get(Count::Waiting),
            awaiting_approval: self.get(Count::AwaitingApproval),
            paused: self.get(Count::Paused) > 0,
            run_id,
        }
    }
}

/// Counters an integrator can export (Prometheus, `OpenTelemetry`…): totals over every run of
/// this pipeline, and the marketplace client's retries and breaker state. Fields are added as
/// the pipeline counts more (`#[non_exhaustive]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Rewards issued.
    pub issued: u64,
    /// Rewards rejected.
    pub rejected: u64,
    /// Holds left in doubt.
    pub in_doubt: u64,
    /// Holds sent to review.
    pub review: u64,
    /// Redemptions reversed.
    pub reversed: u64,
    /// Holds made.
    pub holds: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Requests the client sent again after a retryable failure.
    pub retries: u64,
    /// `closed`, `open`, `half_open`, or `unknown` when the provider has no breaker.
    pub breaker: &'static str,
}

impl Metrics {
    /// The pipeline's totals and the client's figures.
    pub(super) fn from_totals(totals: &Counters, stats: &ProviderStats) -> Self {
        Self {
            issued: totals.get(Count::Issued),
            rejected: totals.get(Count::Rejected),
            in_doubt: totals.get(Count::InDoubt),
            review: totals.get(Count::Review),
            reversed: totals.get(Count::Reversed),
            holds: totals.get(Count::Holds),
            alerts: totals.get(Count::Alerts),
            retries: stats.retries,
            breaker: match stats.breaker {
                Some(BreakerState::Closed) => "closed",
                Some(BreakerState::Open) => "open",
                Some(BreakerState::HalfOpen) => "half_open",
                None => "unknown",
            },
        }
    }
}
