//! What stops a run or fails it, and how an error is told without personal data.

use kudos_core::{AgentId, TxnId};
use kudos_ledger::LedgerError;

use super::Summary;
use crate::AuditError;

/// What stops a run, or fails it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The run stopped before any hold (a file error, too many rejected rows): nothing was
    /// lost; the next run takes the files again.
    #[error("the run stopped before issuing: {reason}")]
    Stopped {
        /// Why.
        reason: String,
        /// What the run had done.
        summary: Box<Summary>,
    },
    /// The store failed.
    #[error("store")]
    Store(#[from] LedgerError),
    /// The audit sink failed: the run stops, since it must not act without a record.
    #[error("audit")]
    Audit(#[from] AuditError),
    /// A setting is unusable (a bad glob, say).
    #[error("{0}")]
    Config(String),
    /// No hold (or reversal) has this transaction id.
    #[error("no hold or reversal {0}")]
    UnknownHold(TxnId),
    /// The operator's action is for the other kind: a hold is settled `--issued` or
    /// `--not-issued`, a reversal `--reversed` or `--not-reversed`.
    #[error("{txn} is a {kind}: {hint}")]
    WrongKind {
        /// The hold or reversal.
        txn: TxnId,
        /// What it is: `hold` or `reversal`.
        kind: &'static str,
        /// How to settle it.
        hint: &'static str,
    },
    /// The marketplace contradicts the operator's action (or could not be asked, or a
    /// re-send is no longer safe): nothing was done. `--force` overrides a contradiction.
    #[error("hold {txn}: refused: {reason}")]
    Refused {
        /// The hold.
        txn: TxnId,
        /// What the marketplace said, and what to do.
        reason: String,
    },
    /// The hold cannot take this operator action.
    #[error("hold {txn} is {state}: {reason}")]
    NotReviewable {
        /// The hold.
        txn: TxnId,
        /// Its state.
        state: &'static str,
        /// Why not.
        reason: &'static str,
    },
}
/// An error's message with the agent id replaced by a placeholder: alerts leave the machine.
pub(super) fn redact(error: &LedgerError, agent: &AgentId) -> String {
    error_chain(error).replace(agent.as_str(), "<agent>")
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
