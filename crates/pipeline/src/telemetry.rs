//! What a run reports through the `metrics` facade, once it ends (finished, stopped or
//! failed; a dry run reports nothing). Names follow Prometheus conventions and are stable; the
//! host service installs the recorder (`metrics-exporter-prometheus`, OpenTelemetry, …), and
//! without one they cost nothing. Labels are fixed words, never an agent, a file or a value.
//! The marketplace client's own names are in `kudos_client::telemetry`.

use std::time::Duration;

use crate::Summary;

/// Rewards by `outcome`: `issued`, `rejected`, `released` (a hold's points returned),
/// `in_doubt` (left for the next run), `review` (sent to an operator).
pub const REWARDS_TOTAL: &str = "kudos_rewards_total";
/// Holds made (points reserved before a reward request).
pub const HOLDS_CREATED_TOTAL: &str = "kudos_holds_created_total";
/// Holds the run settled that an earlier run left in doubt.
pub const HOLDS_RECOVERED_TOTAL: &str = "kudos_holds_recovered_total";
/// Unresolved holds in the store when the run ended, by `state`: `in_doubt`, `review`,
/// `awaiting_approval`.
pub const HOLDS: &str = "kudos_holds";
/// Unresolved reversals in the store when the run ended, by `state`: `in_doubt`, `review`.
pub const REVERSALS: &str = "kudos_reversals";
/// Reversals (clawbacks) by `outcome`: `requested`, `reversed`, `in_doubt`, `review`.
pub const REVERSALS_TOTAL: &str = "kudos_reversals_total";
/// Export records read.
pub const RECORDS_TOTAL: &str = "kudos_records_total";
/// Export rows rejected (each named in the run's log and audit trail).
pub const ROWS_REJECTED_TOTAL: &str = "kudos_rows_rejected_total";
/// Export rows dated after the run's day, left for a later run.
pub const ROWS_DEFERRED_TOTAL: &str = "kudos_rows_deferred_total";
/// Alerts raised.
pub const ALERTS_TOTAL: &str = "kudos_alerts_total";
/// Runs by `outcome`: `finished`, `stopped` (a stop condition: the breaker, the store…),
/// `failed`.
pub const RUNS_TOTAL: &str = "kudos_runs_total";
/// How long each run took, in seconds (a histogram; the metrics file's
/// `kudos_run_duration_seconds` is a gauge of the last run, hence the other name).
pub const RUN_DURATION_SECONDS: &str = "kudos_run_seconds";
/// When the last run that finished ended, in Unix seconds.
pub const RUN_LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "kudos_run_last_success_timestamp_seconds";
/// Rewards the last run left waiting on a budget or funds (no hold made).
pub const REWARDS_WAITING: &str = "kudos_rewards_waiting";
/// Whether the last run was paused (`kudos pause`): 1 or 0.
pub const PAUSED: &str = "kudos_paused";

/// Every name above, for a test or an exporter's allow list.
pub const NAMES: &[&str] = &[
    REWARDS_TOTAL,
    HOLDS_CREATED_TOTAL,
    HOLDS_RECOVERED_TOTAL,
    HOLDS,
    REVERSALS,
    REVERSALS_TOTAL,
    RECORDS_TOTAL,
    ROWS_REJECTED_TOTAL,
    ROWS_DEFERRED_TOTAL,
    ALERTS_TOTAL,
    RUNS_TOTAL,
    RUN_DURATION_SECONDS,
    RUN_LAST_SUCCESS_TIMESTAMP_SECONDS,
    REWARDS_WAITING,
    PAUSED,
];

/// How a run ended, for [`RUNS_TOTAL`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ended {
    Finished,
    Stopped,
    Failed,
}

/// The store's unresolved holds and reversals when the run ended (`None` when they could
/// not be read: the gauges keep their last value).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Unresolved {
    pub(crate) holds_in_doubt: usize,
    pub(crate) holds_review: usize,
    pub(crate) holds_awaiting_approval: usize,
    pub(crate) reversals_in_doubt: usize,
    pub(crate) reversals_review: usize,
}

/// Reports a run that ended `ended` after `duration`, with `summary`'s figures, at `now`
/// (Unix seconds).
pub(crate) fn run_ended(
    summary: &Summary,
    ended: Ended,
    duration: Duration,
    now: i64,
    unresolved: Option<Unresolved>,
) {
    let rewards = [
        ("issued", summary.issued),
        ("rejected", summary.rejected),
        ("released", summary.released),
        ("in_doubt", summary.in_doubt),
        ("review", summary.review),
    ];
    for (outcome, n) in rewards {
        metrics::counter!(REWARDS_TOTAL, "outcome" => outcome).increment(n);
    }
    let reversals = [
        ("requested", summary.reversals_requested),
        ("reversed", summary.reversed),
        ("in_doubt", summary.reversals_in_doubt),
        ("review", summary.reversals_review),
    ];
    for (outcome, n) in reversals {
        metrics::counter!(REVERSALS_TOTAL, "outcome" => outcome).increment(n);
    }
    metrics::counter!(HOLDS_CREATED_TOTAL).increment(summary.holds);
    metrics::counter!(HOLDS_RECOVERED_TOTAL).increment(summary.recovered);
    metrics::counter!(RECORDS_TOTAL).increment(summary.records);
    metrics::counter!(ROWS_REJECTED_TOTAL).increment(summary.rejected_rows);
    metrics::counter!(ROWS_DEFERRED_TOTAL).increment(summary.future_rows);
    metrics::counter!(ALERTS_TOTAL).increment(summary.alerts);
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
    metrics::gauge!(REWARDS_WAITING).set(summary.waiting as f64);
    metrics::gauge!(PAUSED).set(if summary.paused { 1.0 } else { 0.0 });
    let outcome = match ended {
        Ended::Finished => "finished",
        Ended::Stopped => "stopped",
        Ended::Failed => "failed",
    };
    metrics::counter!(RUNS_TOTAL, "outcome" => outcome).increment(1);
    metrics::histogram!(RUN_DURATION_SECONDS).record(duration.as_secs_f64());
    if matches!(ended, Ended::Finished) {
        #[allow(
            clippy::cast_precision_loss,
            reason = "Unix seconds are far below 2^53"
        )]
        metrics::gauge!(RUN_LAST_SUCCESS_TIMESTAMP_SECONDS).set(now as f64);
    }
    if let Some(u) = unresolved {
        #[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
        let gauges = [
            (HOLDS, "in_doubt", u.holds_in_doubt as f64),
            (HOLDS, "review", u.holds_review as f64),
            (HOLDS, "awaiting_approval", u.holds_awaiting_approval as f64),
            (REVERSALS, "in_doubt", u.reversals_in_doubt as f64),
            (REVERSALS, "review", u.reversals_review as f64),
        ];
        for (name, state, value) in gauges {
            metrics::gauge!(name, "state" => state).set(value);
        }
    }
}
