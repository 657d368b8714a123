//! The `LedgerStore` port: the ledger's log and hold index — small on purpose, so anything
//! with a conditional write can back it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::{AgentId, Day, Points, RewardType, TierId, TxnId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Entry, HoldState, LedgerError, ReversalState};

/// An account as stored: its entries in append order, and its version (the number of
/// entries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The entries.
    pub entries: Vec<Entry>,
    /// The version: the number of entries.
    pub version: u64,
}

/// A hold as the store indexes it, for listing by state and for leases. The ledger computes
/// it; the store only keeps the latest one per transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    /// The transaction id.
    pub txn: TxnId,
    /// The agent.
    pub agent: AgentId,
    /// The tier.
    pub tier: TierId,
    /// The reward type.
    pub reward_type: RewardType,
    /// The points reserved.
    pub cost: Points,
    /// The state.
    pub state: HoldState,
    /// Attempts so far.
    pub attempts: u32,
    /// The day it was made on.
    pub day: Day,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl HoldView {
    /// Whether the hold is unresolved (open, in doubt or in review). Stores write this flag
    /// beside each hold index row and filter on it (leases are taken only on unresolved
    /// holds), so that which states count is decided here, never spelled in a query.
    #[must_use]
    pub const fn is_unresolved(&self) -> bool {
        self.state.is_unresolved()
    }
}

/// A reversal as the store indexes it (beside the holds, so that leases cover it too), for
/// listing by state. The ledger computes it; the store only keeps the latest one per
/// transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalView {
    /// The reversal's transaction id.
    pub txn: TxnId,
    /// The redemption it reverses.
    pub of: TxnId,
    /// The agent.
    pub agent: AgentId,
    /// The points that come back if it is reversed (the redemption's cost).
    pub cost: Points,
    /// The agent's debt when it was asked for.
    pub debt: Points,
    /// The state.
    pub state: ReversalState,
    /// Attempts so far.
    pub attempts: u32,
    /// The day it was asked for.
    pub day: Day,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

impl ReversalView {
    /// Whether the reversal is unresolved (open, in doubt or in review): the flag stores
    /// write beside its index row, as for holds.
    #[must_use]
    pub const fn is_unresolved(&self) -> bool {
        self.state.is_unresolved()
    }
}

impl Stored {
    /// Groups `(agent, entry)` rows — each agent's entries in append order — into the accounts
    /// asked for, in the order asked (an agent without rows is an empty account). For stores
    /// that load many accounts with one query.
    #[must_use]
    pub fn group(agents: &[AgentId], rows: impl IntoIterator<Item = (String, Entry)>) -> Vec<Self> {
        let mut by_agent: std::collections::HashMap<String, Vec<Entry>> =
            std::collections::HashMap::with_capacity(agents.len());
        for (agent, entry) in rows {
            by_agent.entry(agent).or_default().push(entry);
        }
        agents
            .iter()
            .map(|a| {
                let entries = by_agent.remove(a.as_str()).unwrap_or_default();
                let version = entries.len() as u64;
                Self { entries, version }
            })
            .collect()
    }
}

/// One account's part of a batched append: see [`LedgerStore::append_many`].
#[derive(Debug, Clone, Copy)]
pub struct AppendItem<'a> {
    /// The account.
    pub agent: &'a AgentId,
    /// The version the entries were planned against.
    pub expected: u64,
    /// The entries.
    pub entries: &'a [Entry],
    /// The hold index updates that go with them.
    pub holds: &'a [HoldView],
    /// The reversal index updates that go with them.
    pub reversals: &'a [ReversalView],
}

/// Where accounts live.
///
/// The domain logic lives once, in this crate; a store only persists. It must:
/// - append entries to an account only if its version still matches (`Conflict` otherwise),
///   atomically with the hold index updates that come with them;
/// - find which account recorded an operation id;
/// - list holds and reversals by state, as the ledger's views say; a reversal's index row
///   sits beside the holds' (with its own kind), so that a lease can be taken on it.
///
/// The run's own bookkeeping has ports of its own: [`LeaseStore`](crate::LeaseStore) and
/// [`IngestLog`](crate::IngestLog); a database store implements all three
/// ([`RunStore`](crate::RunStore)).
///
/// `testkit::ledger_conformance` (feature `testkit`) checks all of this for any implementation.
#[async_trait]
pub trait LedgerStore: Send + Sync + std::fmt::Debug {
    /// Loads an account (empty, version 0, if it has no entries).
    async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError>;

    /// Appends `entries` to the account if its version is still `expected`, and upserts
    /// `holds` and `reversals` in the index, all or nothing. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Conflict`] when the version moved on.
    async fn append(
        &self,
        agent: &AgentId,
        expected: u64,
        entries: &[Entry],
        holds: &[HoldView],
        reversals: &[ReversalView],
    ) -> Result<u64, LedgerError>;

    /// Loads several accounts (in the order asked). The default loads them one by one; a
    /// store may do it in fewer round trips.
    async fn load_many(&self, agents: &[AgentId]) -> Result<Vec<Stored>, LedgerError> {
        let mut out = Vec::with_capacity(agents.len());
        for agent in agents {
            out.push(self.load(agent).await?);
        }
        Ok(out)
    }

    /// Appends to several accounts: each item is applied if and only if its account's
    /// version still matches (else its result is [`LedgerError::Conflict`]), as [`append`]
    /// would. The default appends them one by one; a store may use one transaction for all.
    ///
    /// [`append`]: LedgerStore::append
    ///
    /// # Errors
    ///
    /// A store failure; then which items were applied is unknown to the caller, who reloads.
    async fn append_many(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        let mut out = Vec::with_capacity(batch.len());
        for item in batch {
            match self
                .append(
                    item.agent,
                    item.expected,
                    item.entries,
                    item.holds,
                    item.reversals,
                )
                .await
            {
                Err(e @ LedgerError::Conflict { .. }) => out.push(Err(e)),
                Err(e) => return Err(e),
                Ok(v) => out.push(Ok(v)),
            }
        }
        Ok(out)
    }

    /// As [`append_many`](LedgerStore::append_many), for a batch that can be made again from
    /// its source if it is lost — the accrue step's accruals, whose file is read again by the
    /// next run unless its ingest mark (recorded durably, after them) says otherwise. The store
    /// may answer before the batch is on durable storage, as long as:
    ///
    /// - what it answers is what every later read sees, and conflicts are as `append_many`'s;
    /// - a power cut loses at most the deferred batches written after the last durable write,
    ///   never one written before it: every later write that is itself durable (an
    ///   `append_many`, an ingest mark, a lease) makes the deferred batches before it durable
    ///   first;
    /// - what is lost is lost whole, batch by batch.
    ///
    /// The default is [`append_many`](LedgerStore::append_many): durable at once.
    ///
    /// # Errors
    ///
    /// As [`append_many`](LedgerStore::append_many).
    async fn append_many_deferred(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        self.append_many(batch).await
    }

    /// The account that recorded an entry with this id (the first, for accrual keys).
    ///
    /// Runs ask it for holds and reversals (an operator's `TXN`, a marketplace's record) and
    /// adjustments; a store should answer those from an index. Any other id (an accrual's, a
    /// transition's) must be found too, but may cost a scan: an index over every entry id is
    /// an index over random keys, written by every accrual (SQLite keeps none, schema 6).
    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError>;

    /// Holds in `state` (all holds when `None`), ordered by creation time.
    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError>;

    /// Holds in `state` made at or after `since`, ordered by creation time: what a run
    /// re-checks, without loading every hold ever made. The default filters
    /// [`holds`](LedgerStore::holds); a store with an index on (state, creation time) answers
    /// from it.
    async fn holds_made_since(
        &self,
        state: HoldState,
        since: DateTime<Utc>,
    ) -> Result<Vec<HoldView>, LedgerError> {
        let mut holds = self.holds(Some(state)).await?;
        holds.retain(|hold| hold.created_at >= since);
        Ok(holds)
    }

    /// Reversals in `state` (all when `None`), ordered by creation time. Reversals recorded
    /// before schema 3 (release 0.1.0 and 0.2) are in their accounts but not in this index.
    async fn reversals(
        &self,
        state: Option<ReversalState>,
    ) -> Result<Vec<ReversalView>, LedgerError>;

    /// Every agent with an account, sorted.
    async fn agents(&self) -> Result<Vec<AgentId>, LedgerError>;
}

/// Forwards every method to the store behind a reference or a smart pointer, so a
/// `Ledger<&dyn LedgerStore>` or `Ledger<Arc<MyStore>>` works.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: LedgerStore + ?Sized> LedgerStore for $ty {
            async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError> {
                (**self).load(agent).await
            }
            async fn append(&self, agent: &AgentId, expected: u64, entries: &[Entry], holds: &[HoldView], reversals: &[ReversalView]) -> Result<u64, LedgerError> {
                (**self).append(agent, expected, entries, holds, reversals).await
            }
            async fn load_many(&self, agents: &[AgentId]) -> Result<Vec<Stored>, LedgerError> {
                (**self).load_many(agents).await
            }
            async fn append_many(&self, batch: &[AppendItem<'_>]) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
                (**self).append_many(batch).await
            }
            async fn append_many_deferred(&self, batch: &[AppendItem<'_>]) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
                (**self).append_many_deferred(batch).await
            }
            async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
                (**self).find(id).await
            }
            async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
                (**self).holds(state).await
            }
            async fn holds_made_since(&self, state: HoldState, since: DateTime<Utc>) -> Result<Vec<HoldView>, LedgerError> {
                (**self).holds_made_since(state, since).await
            }
            async fn reversals(&self, state: Option<ReversalState>) -> Result<Vec<ReversalView>, LedgerError> {
                (**self).reversals(state).await
            }
            async fn agents(&self) -> Result<Vec<AgentId>, LedgerError> {
                (**self).agents().await
            }
        }
    )*};
}

forward!(&T, std::sync::Arc<T>, Box<T>);
