//! The one error type of `kudos-ledger`.

use kudos_core::{AgentId, CoreError, Day, Points, TxnId};
use uuid::Uuid;

/// What can go wrong in the ledger. Every variant names the agent or transaction at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The account changed since it was loaded (another writer appended first). The ledger
    /// reloads and retries; this surfaces only when retries run out.
    #[error(
        "agent {agent}: the account changed while this operation was prepared (version {expected} expected)"
    )]
    Conflict {
        /// The agent.
        agent: AgentId,
        /// The version the operation was prepared against.
        expected: u64,
    },
    /// An operation id was reused with different content.
    #[error("operation {id} was already recorded as {first}; refusing {second} under the same id")]
    IdReused {
        /// The id.
        id: Uuid,
        /// The operation first recorded.
        first: String,
        /// The operation refused.
        second: String,
    },
    /// The agent already has an unresolved hold (open, in doubt or in review).
    #[error("agent {agent} already has an unresolved hold ({txn}); one at a time")]
    HoldUnresolved {
        /// The agent.
        agent: AgentId,
        /// The unresolved hold.
        txn: TxnId,
    },
    /// The balance does not reach the tier's threshold.
    #[error("agent {agent}: balance {balance} on {day} is below the threshold {threshold}")]
    Insufficient {
        /// The agent.
        agent: AgentId,
        /// The day.
        day: Day,
        /// The balance on that day.
        balance: Points,
        /// The threshold.
        threshold: Points,
    },
    /// No hold with this transaction id on the account.
    #[error("agent {agent}: no hold {txn}")]
    UnknownHold {
        /// The agent.
        agent: AgentId,
        /// The transaction id.
        txn: TxnId,
    },
    /// No reversal with this transaction id on the account.
    #[error("agent {agent}: no reversal {txn}")]
    UnknownReversal {
        /// The agent.
        agent: AgentId,
        /// The transaction id.
        txn: TxnId,
    },
    /// The hold (or reversal) is already resolved another way.
    #[error("{txn} is already {state}; it cannot be {asked}")]
    AlreadyResolved {
        /// The hold.
        txn: TxnId,
        /// Its state.
        state: &'static str,
        /// What was asked.
        asked: &'static str,
    },
    /// A reversal was asked for a hold that is not committed.
    #[error("hold {txn} is {state}, not committed: there is nothing to reverse")]
    NotCommitted {
        /// The hold.
        txn: TxnId,
        /// Its state.
        state: &'static str,
    },
    /// The redemption was already reversed by another reversal.
    #[error("redemption {txn} was already reversed by {by}")]
    AlreadyReversed {
        /// The redemption.
        txn: TxnId,
        /// The reversal that reversed it.
        by: TxnId,
    },
    /// An operation that makes no sense (a zero adjustment, an expiry before its day…).
    #[error("agent {agent}: {reason}")]
    Invalid {
        /// The agent.
        agent: AgentId,
        /// What is wrong.
        reason: String,
    },
    /// Points arithmetic overflowed.
    #[error("agent {agent}: points arithmetic overflowed")]
    Overflow {
        /// The agent.
        agent: AgentId,
        /// The overflow.
        source: CoreError,
    },
    /// A stored entry cannot be applied: the log is corrupt.
    #[error("agent {agent}: entry {index} ({id}) cannot be applied: {reason}")]
    Corrupt {
        /// The agent.
        agent: AgentId,
        /// Its 0-based position in the account.
        index: u64,
        /// Its id.
        id: Uuid,
        /// Why.
        reason: String,
    },
    /// The store failed (unreachable, I/O…). Whether a write went through is unknown: the
    /// ledger reloads the account before acting on it again, so nothing is applied twice.
    #[error("store: {message}")]
    Store {
        /// What failed, without secrets.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl LedgerError {
    /// A store error from any error type.
    pub fn store(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Store {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}
