//! `--dry-run`: a copy of the state in memory and a marketplace that says yes to everything.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_client::{Outcome, ReverseOutcome, RewardProvider, StatusOutcome};
use kudos_core::{AgentId, Day, TxnId};
use kudos_ledger::{
    Account, AppendItem, ContentHash, Entry, HoldState, HoldView, IngestLog, IngestMark, Lease,
    LeaseStore, LedgerError, LedgerStore, MemoryStore, ReversalState, ReversalView, RunStore,
    Stored, hold_view, reversal_view,
};
use std::sync::Arc;
use uuid::Uuid;

/// A copy of a store's accounts in memory. Writes go to the copy; which files were ingested
/// is read from the real store too (so a dry run skips what a real run would skip).
#[derive(Debug)]
pub(crate) struct DryStore {
    copy: MemoryStore,
    real: Arc<dyn RunStore>,
}

impl DryStore {
    /// Copies every account of `real`.
    pub(crate) async fn copy_of(real: Arc<dyn RunStore>) -> Result<Self, LedgerError> {
        let copy = MemoryStore::new();
        let agents = real.agents().await?;
        for chunk in agents.chunks(1000) {
            let stored = real.load_many(chunk).await?;
            for (agent, stored) in chunk.iter().zip(stored) {
                let account = Account::from_entries(agent.clone(), stored.entries.clone())?;
                let holds: Vec<HoldView> = account
                    .holds()
                    .keys()
                    .filter_map(|txn| hold_view(&account, *txn))
                    .collect();
                let reversals: Vec<ReversalView> = account
                    .reversals()
                    .keys()
                    .filter_map(|txn| reversal_view(&account, *txn))
                    .collect();
                copy.append(agent, 0, &stored.entries, &holds, &reversals)
                    .await?;
            }
        }
        Ok(Self { copy, real })
    }
}

#[async_trait]
impl LedgerStore for DryStore {
    async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError> {
        self.copy.load(agent).await
    }
    async fn append(
        &self,
        agent: &AgentId,
        expected: u64,
        entries: &[Entry],
        holds: &[HoldView],
        reversals: &[ReversalView],
    ) -> Result<u64, LedgerError> {
        self.copy
            .append(agent, expected, entries, holds, reversals)
            .await
    }
    async fn load_many(&self, agents: &[AgentId]) -> Result<Vec<Stored>, LedgerError> {
        self.copy.load_many(agents).await
    }
    async fn append_many(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        self.copy.append_many(batch).await
    }
    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
        self.copy.find(id).await
    }
    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
        self.copy.holds(state).await
    }
    async fn reversals(
        &self,
        state: Option<ReversalState>,
    ) -> Result<Vec<ReversalView>, LedgerError> {
        self.copy.reversals(state).await
    }
    async fn agents(&self) -> Result<Vec<AgentId>, LedgerError> {
        self.copy.agents().await
    }
}

#[async_trait]
impl LeaseStore for DryStore {
    async fn lease(
        &self,
        txn: TxnId,
        owner: &str,
        length: std::time::Duration,
    ) -> Result<bool, LedgerError> {
        self.copy.lease(txn, owner, length).await
    }
    async fn end_leases(&self, txns: &[TxnId], owner: &str) -> Result<(), LedgerError> {
        self.copy.end_leases(txns, owner).await
    }
    async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError> {
        self.copy.lease_of(txn).await
    }
}

#[async_trait]
impl IngestLog for DryStore {
    /// What this dry run took, or what the real store says real runs took: the more of the
    /// two.
    async fn ingest_mark(
        &self,
        hash: &ContentHash,
        as_of: Day,
    ) -> Result<Option<IngestMark>, LedgerError> {
        let copy = self.copy.ingest_mark(hash, as_of).await?;
        let real = self.real.ingest_mark(hash, as_of).await?;
        Ok(match (copy, real) {
            (Some(IngestMark::Whole), _) | (_, Some(IngestMark::Whole)) => Some(IngestMark::Whole),
            (Some(IngestMark::Through(a)), Some(IngestMark::Through(b))) => {
                Some(IngestMark::Through(a.max(b)))
            }
            (mark, None) | (None, mark) => mark,
        })
    }
    async fn record_ingest(
        &self,
        hash: &ContentHash,
        name: &str,
        mark: IngestMark,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.copy.record_ingest(hash, name, mark, at).await
    }
}

/// The marketplace of a dry run: issues and reverses everything, sends nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DryProvider;

#[async_trait]
impl RewardProvider for DryProvider {
    async fn issue(&self, _txn: TxnId, _payload: &[u8]) -> Outcome {
        Outcome::Issued {
            reward_id: "dry-run".to_owned(),
        }
    }
    async fn status(&self, _txn: TxnId) -> StatusOutcome {
        StatusOutcome::Unknown {
            reason: "dry run".to_owned(),
        }
    }
    async fn reverse(&self, _reversal: TxnId, _of: TxnId, _payload: &[u8]) -> ReverseOutcome {
        ReverseOutcome::Reversed
    }
}

/// A dry run anchors in its copy: the real trail's anchors are read, never written.
#[async_trait]
impl kudos_ledger::AuditAnchors for DryStore {
    async fn anchor(&self, anchor: &kudos_ledger::AuditAnchor) -> Result<(), LedgerError> {
        self.copy.anchor(anchor).await
    }
    async fn anchors(&self, trail: &str) -> Result<Vec<kudos_ledger::AuditAnchor>, LedgerError> {
        self.real.anchors(trail).await
    }
    async fn latest_anchor(
        &self,
        trail: &str,
    ) -> Result<Option<kudos_ledger::AuditAnchor>, LedgerError> {
        self.real.latest_anchor(trail).await
    }
    async fn trails(&self) -> Result<Vec<String>, LedgerError> {
        self.real.trails().await
    }
}
