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

/// Budgets as the real store counts them, with the dry run's own claims on top (the limits
/// are lowered by what the real store has spent, and the copy counts the rest); the pause
/// switch and the waiting rewards as the real store has them. Nothing reaches the real store.
#[async_trait]
impl kudos_ledger::ControlStore for DryStore {
    async fn claim_budget(
        &self,
        claims: &[kudos_ledger::BudgetClaim],
    ) -> Result<Vec<bool>, LedgerError> {
        let mut lowered = Vec::with_capacity(claims.len());
        for claim in claims {
            let mut claim = claim.clone();
            for limit in &mut claim.limits {
                let real = self.real.budget_spent(&limit.bucket).await?;
                limit.limit = kudos_core::Points::new(limit.limit.get().saturating_sub(real.get()));
            }
            lowered.push(claim);
        }
        self.copy.claim_budget(&lowered).await
    }
    async fn return_budget(&self, txns: &[TxnId]) -> Result<u64, LedgerError> {
        self.copy.return_budget(txns).await
    }
    async fn budget_spent(&self, bucket: &str) -> Result<kudos_core::Points, LedgerError> {
        let real = self.real.budget_spent(bucket).await?;
        let dry = self.copy.budget_spent(bucket).await?;
        Ok(kudos_core::Points::new(
            real.get().saturating_add(dry.get()),
        ))
    }
    async fn budget_claims(&self, since: Day) -> Result<Vec<kudos_ledger::ClaimView>, LedgerError> {
        let mut claims = self.real.budget_claims(since).await?;
        claims.extend(self.copy.budget_claims(since).await?);
        Ok(claims)
    }
    async fn waiting(&self) -> Result<Vec<kudos_ledger::Waiting>, LedgerError> {
        self.real.waiting().await
    }
    async fn set_waiting(
        &self,
        _wait: &[kudos_ledger::Waiting],
        _done: &[AgentId],
    ) -> Result<(), LedgerError> {
        Ok(())
    }
    async fn pause_state(&self) -> Result<Option<kudos_ledger::Pause>, LedgerError> {
        self.real.pause_state().await
    }
    async fn set_pause(
        &self,
        _pause: Option<&kudos_ledger::Pause>,
    ) -> Result<Option<kudos_ledger::Pause>, LedgerError> {
        self.real.pause_state().await
    }
    async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        length: std::time::Duration,
    ) -> Result<bool, LedgerError> {
        self.copy.try_lock(name, owner, length).await
    }
    async fn unlock(&self, name: &str, owner: &str) -> Result<(), LedgerError> {
        self.copy.unlock(name, owner).await
    }
}
