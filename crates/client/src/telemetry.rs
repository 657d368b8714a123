//! What the client reports through the `metrics` facade (names follow Prometheus conventions
//! and are stable; the host service installs the recorder, and without one they cost nothing)
//! and the `tracing` span of each attempt. No label or field carries a token, a header, a
//! body or a personal field: an endpoint is one of a fixed set, a status is a number.

use std::time::Duration;

use crate::BreakerState;

/// Requests the client sent, by `endpoint` and `status` (an HTTP status, or `transport_error`).
pub const REQUESTS_TOTAL: &str = "kudos_client_requests_total";
/// Each attempt's latency in seconds, by `endpoint` and `status`.
pub const REQUEST_DURATION_SECONDS: &str = "kudos_client_request_duration_seconds";
/// Requests sent again after a retryable failure, by `endpoint` and `reason` (`status_429`,
/// `status_5xx`, `status_other` (a 408, say), `transport_error`).
pub const RETRIES_TOTAL: &str = "kudos_client_retries_total";
/// OAuth token requests, by `outcome` (`ok`, `error`).
pub const TOKEN_REFRESHES_TOTAL: &str = "kudos_client_token_refreshes_total";
/// The circuit breaker: 0 closed, 1 half open, 2 open.
pub const BREAKER_STATE: &str = "kudos_client_breaker_state";

/// Every name above, for a test or an exporter's allow list.
pub const NAMES: &[&str] = &[
    REQUESTS_TOTAL,
    REQUEST_DURATION_SECONDS,
    RETRIES_TOTAL,
    TOKEN_REFRESHES_TOTAL,
    BREAKER_STATE,
];

/// The `status` label of an attempt.
pub(crate) fn status_label(status: Option<u16>) -> String {
    status.map_or_else(|| "transport_error".to_owned(), |s| s.to_string())
}

/// The `reason` label of a retry.
pub(crate) fn retry_reason(status: Option<u16>) -> &'static str {
    match status {
        None => "transport_error",
        Some(429) => "status_429",
        Some(500..=599) => "status_5xx",
        Some(_) => "status_other",
    }
}

/// One attempt's figures.
pub(crate) fn attempt(endpoint: &'static str, status: Option<u16>, latency: Duration) {
    let status = status_label(status);
    metrics::counter!(REQUESTS_TOTAL, "endpoint" => endpoint, "status" => status.clone())
        .increment(1);
    metrics::histogram!(REQUEST_DURATION_SECONDS, "endpoint" => endpoint, "status" => status)
        .record(latency.as_secs_f64());
}

/// A retry.
pub(crate) fn retry(endpoint: &'static str, status: Option<u16>) {
    metrics::counter!(RETRIES_TOTAL, "endpoint" => endpoint, "reason" => retry_reason(status))
        .increment(1);
}

/// A token request's outcome.
pub(crate) fn token_refresh(ok: bool) {
    metrics::counter!(TOKEN_REFRESHES_TOTAL, "outcome" => if ok { "ok" } else { "error" })
        .increment(1);
}

/// The breaker's state now.
pub(crate) fn breaker(state: BreakerState) {
    let value = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    metrics::gauge!(BREAKER_STATE).set(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_fixed_words() {
        assert_eq!(status_label(Some(503)), "503");
        assert_eq!(status_label(None), "transport_error");
        assert_eq!(retry_reason(Some(429)), "status_429");
        assert_eq!(retry_reason(Some(502)), "status_5xx");
        assert_eq!(retry_reason(Some(408)), "status_other");
        assert_eq!(retry_reason(None), "transport_error");
    }
}
