//! `kudos run --metrics-file FILE`: the run's figures in the Prometheus text format, for
//! node_exporter's textfile collector — written whole to a temporary file, then renamed.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kudos_pipeline::{Metrics, Summary};

/// The last `kudos_run_last_success_timestamp_seconds` an earlier file recorded, so a failed
/// run keeps the time of the last good one.
fn last_success(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("kudos_run_last_success_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
}

/// What one run gives the file.
pub(crate) struct RunFigures<'a> {
    /// The run's summary (none when it failed before making one).
    pub(crate) summary: Option<&'a Summary>,
    /// The pipeline's and the client's figures.
    pub(crate) metrics: &'a Metrics,
    /// How long the run took.
    pub(crate) duration: Duration,
    /// When it ended.
    pub(crate) ended: DateTime<Utc>,
    /// Whether it finished (exit 0 or 3) rather than stopping or failing.
    pub(crate) finished: bool,
}

/// The file's text.
pub(crate) fn render(run: &RunFigures<'_>, previous_success: Option<f64>) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
    let n = |v: u64| v as f64;
    let s = run.summary;
    let get = |f: fn(&Summary) -> u64| s.map_or(0.0, |s| n(f(s)));
    metric(
        "kudos_rewards_issued_total",
        "counter",
        "Rewards the marketplace issued in the last run.",
        get(|s| s.issued),
    );
    metric(
        "kudos_rewards_rejected_total",
        "counter",
        "Rewards the marketplace refused in the last run (points returned).",
        get(|s| s.rejected),
    );
    metric(
        "kudos_holds_total",
        "counter",
        "Rewards started (holds made) in the last run.",
        get(|s| s.holds),
    );
    metric(
        "kudos_rows_read_total",
        "counter",
        "Export rows read in the last run.",
        get(|s| s.records),
    );
    metric(
        "kudos_rows_rejected_total",
        "counter",
        "Export rows rejected in the last run.",
        get(|s| s.rejected_rows),
    );
    metric(
        "kudos_reversals_total",
        "counter",
        "Clawbacks confirmed (and voided rewards) in the last run.",
        get(|s| s.reversed),
    );
    metric(
        "kudos_alerts_total",
        "counter",
        "Alerts raised in the last run.",
        get(|s| s.alerts),
    );
    metric(
        "kudos_client_retries_total",
        "counter",
        "Requests the marketplace client sent again in the last run.",
        n(run.metrics.retries),
    );
    metric(
        "kudos_holds_in_doubt",
        "gauge",
        "Rewards left in doubt by the last run (the next run asks).",
        get(|s| s.in_doubt),
    );
    metric(
        "kudos_holds_review",
        "gauge",
        "Rewards waiting for an operator after the last run.",
        get(|s| s.review),
    );
    metric(
        "kudos_reversals_in_doubt",
        "gauge",
        "Clawbacks left in doubt by the last run.",
        get(|s| s.reversals_in_doubt),
    );
    metric(
        "kudos_reversals_review",
        "gauge",
        "Clawbacks waiting for an operator after the last run.",
        get(|s| s.reversals_review),
    );
    metric(
        "kudos_circuit_breaker_open",
        "gauge",
        "1 when the marketplace client's circuit breaker was open at the end of the last run.",
        if run.metrics.breaker == "open" {
            1.0
        } else {
            0.0
        },
    );
    metric(
        "kudos_run_needs_attention",
        "gauge",
        "1 when the last run finished with something for a person (exit 3).",
        if s.is_some_and(Summary::needs_attention) {
            1.0
        } else {
            0.0
        },
    );
    metric(
        "kudos_run_success",
        "gauge",
        "1 when the last run finished (exit 0 or 3), 0 when it stopped or failed.",
        if run.finished { 1.0 } else { 0.0 },
    );
    metric(
        "kudos_run_duration_seconds",
        "gauge",
        "How long the last run took.",
        run.duration.as_secs_f64(),
    );
    #[allow(
        clippy::cast_precision_loss,
        reason = "seconds since 1970 in a float, as Prometheus writes them"
    )]
    let ended = run.ended.timestamp_millis() as f64 / 1000.0;
    metric(
        "kudos_run_last_timestamp_seconds",
        "gauge",
        "When the last run ended (Unix time).",
        ended,
    );
    let success = if run.finished {
        Some(ended)
    } else {
        previous_success
    };
    if let Some(at) = success {
        metric(
            "kudos_run_last_success_timestamp_seconds",
            "gauge",
            "When the last run that finished ended (Unix time).",
            at,
        );
    }
    out
}

/// Writes the file: whole, to `FILE.tmp`, then renamed over `FILE`, so a collector never reads
/// half of it.
pub(crate) fn write(path: &Path, run: &RunFigures<'_>) -> std::io::Result<()> {
    let text = render(run, last_success(path));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
