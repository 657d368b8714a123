//! A store that fails in the middle of the accrue step, while the issue step works beside it
//! (decision 0028): no reward is decided for an agent whose events were not appended, the run
//! fails with the store's error, and the next run on the healthy store issues every reward
//! once.
//!
//! The fault is injected at the store seam: a wrapper that hands every call to the run's real
//! SQLite store, but fails the second batch of deferred accruals.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::{AgentId, Day, Points, TxnId};
use kudos_ledger::{
    AppendItem, AuditAnchor, AuditAnchors, BudgetClaim, ClaimView, ContentHash, ControlStore,
    Entry, HoldState, HoldView, IngestLog, IngestMark, IngestRecord, Lease, LeaseStore,
    LedgerError, LedgerStore, Pause, ReversalState, ReversalView, RunStore, Stored, Waiting,
};
use kudos_privacy::{Pseudonymizer, SecretString};
use kudos_sim::SimConfig;
use uuid::Uuid;

use crate::run::{World, agent};

/// The run's store, but the `fail_at`-th batch of deferred appends fails (nothing of it written).
#[derive(Debug)]
struct FailingAccrual {
    inner: Arc<dyn RunStore>,
    calls: AtomicU32,
    fail_at: u32,
}

#[async_trait]
impl LedgerStore for FailingAccrual {
    async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError> {
        self.inner.load(agent).await
    }
    async fn append(
        &self,
        agent: &AgentId,
        expected: u64,
        entries: &[Entry],
        holds: &[HoldView],
        reversals: &[ReversalView],
    ) -> Result<u64, LedgerError> {
        self.inner
            .append(agent, expected, entries, holds, reversals)
            .await
    }
    async fn load_many(&self, agents: &[AgentId]) -> Result<Vec<Stored>, LedgerError> {
        self.inner.load_many(agents).await
    }
    async fn append_many(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        self.inner.append_many(batch).await
    }
    async fn append_many_deferred(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(LedgerError::Store {
                message: "injected: the disk is full".into(),
                source: None,
            });
        }
        self.inner.append_many_deferred(batch).await
    }
    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
        self.inner.find(id).await
    }
    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
        self.inner.holds(state).await
    }
    async fn holds_made_since(
        &self,
        state: HoldState,
        since: DateTime<Utc>,
    ) -> Result<Vec<HoldView>, LedgerError> {
        self.inner.holds_made_since(state, since).await
    }
    async fn reversals(
        &self,
        state: Option<ReversalState>,
    ) -> Result<Vec<ReversalView>, LedgerError> {
        self.inner.reversals(state).await
    }
    async fn agents(&self) -> Result<Vec<AgentId>, LedgerError> {
        self.inner.agents().await
    }
}

#[async_trait]
impl LeaseStore for FailingAccrual {
    async fn lease(&self, txn: TxnId, owner: &str, length: Duration) -> Result<bool, LedgerError> {
        self.inner.lease(txn, owner, length).await
    }
    async fn lease_many(
        &self,
        txns: &[TxnId],
        owner: &str,
        length: Duration,
    ) -> Result<Vec<bool>, LedgerError> {
        self.inner.lease_many(txns, owner, length).await
    }
    async fn end_leases(&self, txns: &[TxnId], owner: &str) -> Result<(), LedgerError> {
        self.inner.end_leases(txns, owner).await
    }
    async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError> {
        self.inner.lease_of(txn).await
    }
}

#[async_trait]
impl IngestLog for FailingAccrual {
    async fn ingest_mark(
        &self,
        hash: &ContentHash,
        as_of: Day,
    ) -> Result<Option<IngestMark>, LedgerError> {
        self.inner.ingest_mark(hash, as_of).await
    }
    async fn record_ingest(
        &self,
        hash: &ContentHash,
        name: &str,
        mark: IngestMark,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.inner.record_ingest(hash, name, mark, at).await
    }
    async fn ingest_marks(
        &self,
        hashes: &[ContentHash],
        as_of: Day,
    ) -> Result<Vec<Option<IngestMark>>, LedgerError> {
        self.inner.ingest_marks(hashes, as_of).await
    }
    async fn record_ingests(
        &self,
        records: &[IngestRecord],
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.inner.record_ingests(records, at).await
    }
}

#[async_trait]
impl AuditAnchors for FailingAccrual {
    async fn anchor(&self, anchor: &AuditAnchor) -> Result<(), LedgerError> {
        self.inner.anchor(anchor).await
    }
    async fn anchors(&self, trail: &str) -> Result<Vec<AuditAnchor>, LedgerError> {
        self.inner.anchors(trail).await
    }
    async fn latest_anchor(&self, trail: &str) -> Result<Option<AuditAnchor>, LedgerError> {
        self.inner.latest_anchor(trail).await
    }
    async fn trails(&self) -> Result<Vec<String>, LedgerError> {
        self.inner.trails().await
    }
}

#[async_trait]
impl ControlStore for FailingAccrual {
    async fn claim_budget(&self, claims: &[BudgetClaim]) -> Result<Vec<bool>, LedgerError> {
        self.inner.claim_budget(claims).await
    }
    async fn return_budget(&self, txns: &[TxnId]) -> Result<u64, LedgerError> {
        self.inner.return_budget(txns).await
    }
    async fn budget_spent(&self, bucket: &str) -> Result<Points, LedgerError> {
        self.inner.budget_spent(bucket).await
    }
    async fn budget_claims(&self, since: Day) -> Result<Vec<ClaimView>, LedgerError> {
        self.inner.budget_claims(since).await
    }
    async fn waiting(&self) -> Result<Vec<Waiting>, LedgerError> {
        self.inner.waiting().await
    }
    async fn set_waiting(&self, wait: &[Waiting], done: &[AgentId]) -> Result<(), LedgerError> {
        self.inner.set_waiting(wait, done).await
    }
    async fn pause_state(&self) -> Result<Option<Pause>, LedgerError> {
        self.inner.pause_state().await
    }
    async fn set_pause(&self, pause: Option<&Pause>) -> Result<Option<Pause>, LedgerError> {
        self.inner.set_pause(pause).await
    }
    async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        length: Duration,
    ) -> Result<bool, LedgerError> {
        self.inner.try_lock(name, owner, length).await
    }
    async fn unlock(&self, name: &str, owner: &str) -> Result<(), LedgerError> {
        self.inner.unlock(name, owner).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_mid_accrual_decides_nothing_unappended_and_the_next_run_finishes_once() {
    let w = World::new("accrual-fault", SimConfig::default()).await;
    // 2,500 agents, each due one reward: three batches of the accrue step (1,000, 1,000, 500).
    let rows: Vec<(u32, &str, f64)> = (1..=2500).map(|n| (n, "2026-03-02", 150.0)).collect();
    w.export("day.csv", &rows);
    let failing = Arc::new(FailingAccrual {
        inner: w.store.clone(),
        calls: AtomicU32::new(0),
        fail_at: 2,
    });
    let err = w
        .try_run(&w.pipeline_on(failing.clone()), "2026-03-10", false)
        .await
        .expect_err("the accrue step's store failure fails the run");
    assert!(
        format!("{err:?}").contains("injected: the disk is full"),
        "the run fails with the accrue step's error: {err:?}"
    );
    // Only the first batch's agents (the first 1,000 by id) can have been decided (on this
    // machine the issue step had sent 50 of them when the second batch failed); none twice.
    // (The marketplace sees each agent by its keyed pseudonym.)
    let pseudonyms = Pseudonymizer::new(SecretString::from("pseudonym-key"));
    let first_batch: HashSet<String> = (1..=1000)
        .map(|n| pseudonyms.pseudonym(&AgentId::new(agent(n)).unwrap()))
        .collect();
    let rewards = w.sim.rewards();
    let agents: HashSet<&str> = rewards.iter().map(|r| r.agent_id.as_str()).collect();
    assert_eq!(agents.len(), rewards.len(), "no agent was issued twice");
    assert!(
        agents.iter().all(|a| first_batch.contains(*a)),
        "a reward was decided for an agent whose events were not appended"
    );
    // The file was not marked taken: the next run, on the healthy store, reads it again,
    // appends what is missing (what is there is found by key) and issues the rest, once each.
    let s = w.run("2026-03-10").await;
    assert_eq!(s.in_doubt, 0, "{s:?}");
    let rewards = w.sim.rewards();
    let agents: HashSet<&str> = rewards.iter().map(|r| r.agent_id.as_str()).collect();
    assert_eq!(
        (rewards.len(), agents.len()),
        (2500, 2500),
        "every agent has its reward, once"
    );
    for n in [1, 1000, 1001, 2500] {
        assert_eq!(w.balance(n, "2026-03-10").await, 50, "agent {n}");
    }
}
