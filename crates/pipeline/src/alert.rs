//! Alerts: what needs an operator's attention, logged always and posted to a webhook when one
//! is configured.

use std::sync::Arc;

use async_trait::async_trait;
use kudos_client::{Request, Transport};
use serde::Serialize;
use uuid::Uuid;

/// What an alert is about (`docs/reference/run.md#alerts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// A source file could not be read or parsed; the run stopped before any hold.
    FileError,
    /// Rows were rejected (above `max_bad_row_ratio`, the run stopped).
    RejectedRows,
    /// The marketplace rejected a reward (out of stock, say); its hold was released.
    RewardRejected,
    /// A hold needs an operator (`kudos review`).
    Review,
    /// The marketplace may have issued a reward; the hold is re-driven at the next run.
    InDoubt,
    /// A clawback reversal was refused, or stayed in doubt too long: it waits in review
    /// (`kudos review`), the debt kept.
    ReversalFailed,
    /// A clawback reversal may have happened, or could not be sent; the next run checks.
    ReversalInDoubt,
    /// The circuit breaker is open (or nothing could be sent): holds wait.
    CircuitOpen,
    /// A reward could not be prepared (privacy check, recipient directory); no hold was made.
    PayloadRefused,
    /// A ledger operation failed for one agent; the run went on with the others.
    LedgerError,
    /// The marketplace voided a reward after it was issued (a cancelled order, a bounced
    /// delivery); its points went back to the agent.
    RewardVoided,
    /// Rewards wait: a budget (`[budget]`) would be exceeded. No hold was made; their points
    /// stay the agents', and a later run issues them, oldest first.
    BudgetExceeded,
    /// Rewards wait for an operator's approval (`kudos review approve`), their points held.
    ApprovalNeeded,
    /// The programme is paused (`kudos pause`): no new hold was made and no new request sent.
    Paused,
    /// The marketplace's balance is below `[funding] low_balance_below`.
    LowBalance,
    /// Rewards wait for funds: the balance could not cover them, or the marketplace answered
    /// `402`. Nothing was issued for them.
    InsufficientFunds,
}

impl AlertKind {
    /// The name, as it appears in logs and webhook bodies.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::FileError => "file_error",
            Self::RejectedRows => "rejected_rows",
            Self::RewardRejected => "reward_rejected",
            Self::Review => "review",
            Self::InDoubt => "in_doubt",
            Self::ReversalFailed => "reversal_failed",
            Self::ReversalInDoubt => "reversal_in_doubt",
            Self::CircuitOpen => "circuit_open",
            Self::PayloadRefused => "payload_refused",
            Self::LedgerError => "ledger_error",
            Self::RewardVoided => "reward_voided",
            Self::BudgetExceeded => "budget_exceeded",
            Self::ApprovalNeeded => "approval_needed",
            Self::Paused => "paused",
            Self::LowBalance => "low_balance",
            Self::InsufficientFunds => "insufficient_funds",
        }
    }
}

/// One alert. Carries ids, pseudonyms and figures — never a name, an e-mail or a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// The run that raised it.
    pub run_id: Uuid,
    /// A sentence for a human.
    pub message: String,
    /// Details (`txn_id`, `agent` pseudonym, `file`…).
    pub data: serde_json::Value,
}

/// Where alerts go. Delivery is best effort: a sink that cannot deliver logs why and the run
/// goes on (the audit trail is the record; alerts are the nudge).
#[async_trait]
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// Delivers one alert (or queues it: it must not hold up the run for long).
    async fn alert(&self, alert: &Alert);

    /// Called when run `run_id` ends: sends what the sink held back for it (an aggregated
    /// storm) and waits, within a deadline, for queued alerts to go. The default does nothing.
    async fn flush(&self, run_id: Uuid) {
        let _ = run_id;
    }
}

/// Logs every alert as a `tracing` warning (target `kudos::alert`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAlerts;

#[async_trait]
impl AlertSink for LogAlerts {
    async fn alert(&self, alert: &Alert) {
        tracing::warn!(
            target: "kudos::alert",
            kind = alert.kind.name(),
            run_id = %alert.run_id,
            data = %alert.data,
            "{}",
            alert.message
        );
    }
}

/// POSTs every alert as JSON (`{"kind","run_id","message","data"}`) to a webhook, through the
/// same [`Transport`] as the marketplace client (rustls, timeouts, no redirects). A failed
/// delivery is logged, not retried: the log sink has it too. Each delivery waits for the
/// webhook: put it behind a [`QueuedAlerts`](crate::QueuedAlerts) (as `Config::alerts` does)
/// so that none holds up a run.
#[derive(Debug, Clone)]
pub struct WebhookAlerts {
    url: String,
    transport: Arc<dyn Transport>,
}

impl WebhookAlerts {
    /// Posts to `url` through `transport`.
    #[must_use]
    pub fn new(url: impl Into<String>, transport: Arc<dyn Transport>) -> Self {
        Self {
            url: url.into(),
            transport,
        }
    }
}

#[async_trait]
impl AlertSink for WebhookAlerts {
    async fn alert(&self, alert: &Alert) {
        let body = match serde_json::to_vec(alert) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(target: "kudos::alert", "cannot encode an alert: {e}");
                return;
            }
        };
        let request = Request {
            method: "POST",
            url: self.url.clone(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body,
        };
        match self.transport.send(request).await {
            Ok(answer) if (200..300).contains(&answer.status) => {}
            Ok(answer) => tracing::error!(
                target: "kudos::alert",
                status = answer.status,
                "the alert webhook refused an alert"
            ),
            Err(e) => tracing::error!(
                target: "kudos::alert",
                "the alert webhook cannot be reached: {e}"
            ),
        }
    }
}

/// Sends each alert to every sink in turn (the log first).
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    sinks: Vec<Arc<dyn AlertSink>>,
}

impl Alerts {
    /// Alerts that are only logged.
    #[must_use]
    pub fn log_only() -> Self {
        Self {
            sinks: vec![Arc::new(LogAlerts)],
        }
    }

    /// Adds a sink.
    #[must_use]
    pub fn with(mut self, sink: Arc<dyn AlertSink>) -> Self {
        self.sinks.push(sink);
        self
    }
}

#[async_trait]
impl AlertSink for Alerts {
    async fn alert(&self, alert: &Alert) {
        for sink in &self.sinks {
            sink.alert(alert).await;
        }
    }

    async fn flush(&self, run_id: Uuid) {
        for sink in &self.sinks {
            sink.flush(run_id).await;
        }
    }
}
