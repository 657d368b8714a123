//! The programme's controls, kept in the ledger's store so that every worker sees them: the
//! budgets' claims (points spent per day and month, each claim by the hold it pays for),
//! the rewards waiting on a budget, and the pause switch.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::{AgentId, Day, Points, RewardType, TierId, TxnId};
use serde::{Deserialize, Serialize};

use crate::LedgerError;

/// One budget a claim must stay within: its bucket (`day:2026-03-04`,
/// `month:2026-03:gift_card_50_usd`…) and its limit in points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLimit {
    /// The bucket: what the spent points are counted under.
    pub bucket: String,
    /// The most points the bucket may count.
    pub limit: Points,
}

impl BudgetLimit {
    /// `limit` points in `bucket`.
    #[must_use]
    pub fn new(bucket: impl Into<String>, limit: Points) -> Self {
        Self {
            bucket: bucket.into(),
            limit,
        }
    }
}

/// A claim on the budgets for one hold, made just before the hold: granted only if every one
/// of its buckets stays within its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetClaim {
    /// The hold it pays for (its id; one claim per hold).
    pub txn: TxnId,
    /// The agent.
    pub agent: AgentId,
    /// The run's day.
    pub day: Day,
    /// The reward type.
    pub reward_type: RewardType,
    /// The points it spends.
    pub points: Points,
    /// The budgets it must stay within (none: granted, and only recorded).
    pub limits: Vec<BudgetLimit>,
    /// When it is made (the run's clock, as the hold's creation time will be).
    pub at: DateTime<Utc>,
}

/// A claim as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    /// The hold it pays for.
    pub txn: TxnId,
    /// The agent.
    pub agent: AgentId,
    /// The run's day.
    pub day: Day,
    /// The reward type.
    pub reward_type: RewardType,
    /// The points.
    pub points: Points,
    /// The buckets it counts in.
    pub buckets: Vec<String>,
    /// Whether it was given back (its hold was released, or never made).
    pub returned: bool,
    /// When it was made (the run's clock).
    pub at: DateTime<Utc>,
}

impl ClaimView {
    /// The view of `claim`, not given back.
    #[must_use]
    pub fn of(claim: &BudgetClaim) -> Self {
        Self {
            txn: claim.txn,
            agent: claim.agent.clone(),
            day: claim.day,
            reward_type: claim.reward_type.clone(),
            points: claim.points,
            buckets: claim.limits.iter().map(|l| l.bucket.clone()).collect(),
            returned: false,
            at: claim.at,
        }
    }
}

/// A reward waiting for a budget (or for funds): no hold was made, the points stay the
/// agent's, and it goes before newer ones when the budget allows (oldest `since` first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// The agent.
    pub agent: AgentId,
    /// The tier it would get.
    pub tier: TierId,
    /// Its reward type.
    pub reward_type: RewardType,
    /// Its cost.
    pub points: Points,
    /// The first run's day it waited on (kept when it waits again).
    pub since: Day,
    /// Why it waits: the budget's bucket, or `funds`.
    pub reason: String,
}

/// The pause switch, when on: who set it, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Why (the operator's words).
    pub reason: String,
    /// Who paused.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The programme's controls, in the store every worker shares.
///
/// `testkit::control_conformance` (feature `testkit`) checks an implementation, including
/// that concurrent claims never take a bucket past its limit.
#[async_trait]
pub trait ControlStore: Send + Sync + std::fmt::Debug {
    /// Claims budget for holds, in order, atomically with every other claim (whatever
    /// process makes it): each is granted only if, with the claims granted before it, every
    /// bucket it names stays within its limit; a refused claim changes nothing. A claim whose
    /// hold already has one (granted, or given back) is answered `true` and counted once.
    async fn claim_budget(&self, claims: &[BudgetClaim]) -> Result<Vec<bool>, LedgerError>;

    /// Gives back the claims of `txns` (their holds were released, or never made): their
    /// points no longer count. Idempotent; a hold without a claim is ignored. Returns how
    /// many were given back now.
    async fn return_budget(&self, txns: &[TxnId]) -> Result<u64, LedgerError>;

    /// The points counted in `bucket` now (claims made and not given back).
    async fn budget_spent(&self, bucket: &str) -> Result<Points, LedgerError>;

    /// The claims made on or after `since` (the run's day), given back or not, oldest first.
    async fn budget_claims(&self, since: Day) -> Result<Vec<ClaimView>, LedgerError>;

    /// The rewards waiting, oldest first.
    async fn waiting(&self) -> Result<Vec<Waiting>, LedgerError>;

    /// Records rewards that wait (an agent already waiting keeps its `since`, the rest is
    /// replaced) and forgets the agents in `done` (they got a hold, or no longer afford one).
    async fn set_waiting(&self, wait: &[Waiting], done: &[AgentId]) -> Result<(), LedgerError>;

    /// The pause switch: `Some` while paused.
    async fn pause_state(&self) -> Result<Option<Pause>, LedgerError>;

    /// Sets the pause switch (`None` resumes). Returns the state it replaced.
    async fn set_pause(&self, pause: Option<&Pause>) -> Result<Option<Pause>, LedgerError>;

    /// Takes the lock `name` for `owner` until `length` from now on the store's clock:
    /// granted when it is free, lapsed, or `owner`'s already. Workers that make holds
    /// against a budget take it around each batch, so that no claim of one worker is refused
    /// for a claim another worker is about to give back.
    async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        length: std::time::Duration,
    ) -> Result<bool, LedgerError>;

    /// Gives the lock `name` back, if `owner` has it.
    async fn unlock(&self, name: &str, owner: &str) -> Result<(), LedgerError>;
}

/// How a database store keeps the controls' values: as JSON text (claims, waiting rewards,
/// the pause switch), encoded and decoded in one place, with errors that name what.
pub mod control_text {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::{ClaimView, Pause};
    use crate::LedgerError;

    /// `value` as JSON text; `what` names it in the error.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when it does not encode.
    pub fn encode<T: Serialize>(what: &str, value: &T) -> Result<String, LedgerError> {
        serde_json::to_string(value)
            .map_err(|e| LedgerError::store(format!("{what} does not encode"), e))
    }

    /// A value from its JSON text; `what` names it in the error.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when it does not decode.
    pub fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, LedgerError> {
        serde_json::from_str(text)
            .map_err(|e| LedgerError::store(format!("{what} does not decode"), e))
    }

    /// A claim from its stored view and its `returned` column (which the view does not keep up
    /// to date).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when the view does not decode.
    pub fn claim(view: &str, returned: bool) -> Result<ClaimView, LedgerError> {
        let mut claim: ClaimView = decode("a budget claim", view)?;
        claim.returned = returned;
        Ok(claim)
    }

    /// The pause switch from its stored text, if any.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when it does not decode.
    pub fn pause(stored: Option<String>) -> Result<Option<Pause>, LedgerError> {
        stored.map(|t| decode("the pause switch", &t)).transpose()
    }
}

/// Forwards every method to the store behind a reference or a smart pointer.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: ControlStore + ?Sized> ControlStore for $ty {
            async fn claim_budget(&self, claims: &[BudgetClaim]) -> Result<Vec<bool>, LedgerError> {
                (**self).claim_budget(claims).await
            }
            async fn return_budget(&self, txns: &[TxnId]) -> Result<u64, LedgerError> {
                (**self).return_budget(txns).await
            }
            async fn budget_spent(&self, bucket: &str) -> Result<Points, LedgerError> {
                (**self).budget_spent(bucket).await
            }
            async fn budget_claims(&self, since: Day) -> Result<Vec<ClaimView>, LedgerError> {
                (**self).budget_claims(since).await
            }
            async fn waiting(&self) -> Result<Vec<Waiting>, LedgerError> {
                (**self).waiting().await
            }
            async fn set_waiting(&self, wait: &[Waiting], done: &[AgentId]) -> Result<(), LedgerError> {
                (**self).set_waiting(wait, done).await
            }
            async fn pause_state(&self) -> Result<Option<Pause>, LedgerError> {
                (**self).pause_state().await
            }
            async fn set_pause(&self, pause: Option<&Pause>) -> Result<Option<Pause>, LedgerError> {
                (**self).set_pause(pause).await
            }
            async fn try_lock(&self, name: &str, owner: &str, length: std::time::Duration) -> Result<bool, LedgerError> {
                (**self).try_lock(name, owner, length).await
            }
            async fn unlock(&self, name: &str, owner: &str) -> Result<(), LedgerError> {
                (**self).unlock(name, owner).await
            }
        }
    )*};
}

forward!(&T, std::sync::Arc<T>, Box<T>);

/// Decides a batch of claims against the points each bucket counts now (`spent`, updated as
/// claims are granted): the one rule every store applies inside its own atomic section.
/// `known` says whether a claim's hold already has a claim (then it is granted, uncounted).
pub fn decide_claims(
    claims: &[BudgetClaim],
    spent: &mut std::collections::HashMap<String, i64>,
    known: impl Fn(TxnId) -> bool,
) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    claims
        .iter()
        .map(|claim| {
            if known(claim.txn) || !seen.insert(claim.txn) {
                return true;
            }
            let points = claim.points.get();
            let fits = claim.limits.iter().all(|l| {
                let now = spent.get(&l.bucket).copied().unwrap_or(0);
                now.checked_add(points)
                    .is_some_and(|total| total <= l.limit.get())
            });
            if fits {
                for l in &claim.limits {
                    let now = spent.entry(l.bucket.clone()).or_insert(0);
                    *now = now.saturating_add(points);
                }
            } else {
                seen.remove(&claim.txn);
            }
            fits
        })
        .collect()
}
