//! Leases: the holds a run works on are leased to it, renewed in the background every
//! `lease_secs / 3`, and ended with the run, so that exactly one worker drives a hold.

use std::sync::PoisonError;

use kudos_core::{AgentId, TxnId};
use kudos_ledger::{Account, HoldView, ReversalView, hold_view, reversal_view};
use tracing::Instrument as _;

use super::{PipelineError, Run};

/// Aborts a background task when dropped.
pub(super) struct AbortOnDrop<T = ()>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Run<'_> {
    /// Renews the leases of the holds this run works on, every `lease_secs / 3`. A lease the
    /// store no longer grants (it lapsed, and another run took the hold) is lost: the run
    /// stops renewing it and sends nothing more for that hold.
    pub(super) fn spawn_renewer(&self) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let leases = self.leases.clone();
        let lost = self.lost.clone();
        let owner = self.owner.clone();
        let length = self.lease_length();
        let every = std::time::Duration::from_millis(
            (self.parts.settings.lease_secs.max(1) * 1000 / 3).max(100),
        );
        tokio::spawn(
            async move {
                loop {
                    tokio::time::sleep(every).await;
                    let held: Vec<TxnId> = leases
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .iter()
                        .copied()
                        .collect();
                    match store.lease_many(&held, &owner, length).await {
                        Ok(granted) => {
                            let gone: Vec<TxnId> = held
                                .iter()
                                .zip(granted)
                                .filter(|(_, granted)| !granted)
                                .map(|(txn, _)| *txn)
                                .collect();
                            if !gone.is_empty() {
                                tracing::warn!(
                                    holds = gone.len(),
                                    "leases lost to another run; their holds are left to it"
                                );
                                let mut leases =
                                    leases.lock().unwrap_or_else(PoisonError::into_inner);
                                let mut lost = lost.lock().unwrap_or_else(PoisonError::into_inner);
                                for txn in gone {
                                    leases.remove(&txn);
                                    lost.insert(txn);
                                }
                            }
                        }
                        Err(e) => tracing::warn!(holds = held.len(), "cannot renew leases: {e}"),
                    }
                }
            }
            .in_current_span(),
        )
    }

    /// Leases holds this run just made and keeps them renewed; returns which were granted.
    /// One that was not (another run's recovery took it in the instant between the hold and
    /// its lease) is that run's to drive: this run must not send it.
    pub(super) async fn lease_new_holds(&self, txns: &[TxnId]) -> Result<Vec<bool>, PipelineError> {
        let granted = self
            .store
            .lease_many(txns, &self.owner, self.lease_length())
            .await?;
        self.leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(
                txns.iter()
                    .zip(&granted)
                    .filter(|(_, granted)| **granted)
                    .map(|(txn, _)| *txn),
            );
        Ok(granted)
    }

    /// Whether this run lost its lease on `txn` (and must send nothing more for it).
    pub(super) fn lease_lost(&self, txn: TxnId) -> bool {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&txn)
    }

    /// Stops renewing the leases of `txns` (resolved holds, which no run takes up again), and
    /// leaves them out of the leases the run ends.
    pub(super) fn drop_leases(&self, txns: &[TxnId]) {
        if txns.is_empty() {
            return;
        }
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        for txn in txns {
            leases.remove(txn);
        }
    }

    /// Keeps a hold this run has leased renewed until the run ends.
    pub(super) fn hold_lease(&self, txn: TxnId) {
        self.leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(txn);
    }

    /// Ends this run's leases, so the next run can take up what it left (a lease that ends
    /// now has lapsed).
    pub(super) async fn lapse_leases(&self) {
        let held: Vec<TxnId> =
            std::mem::take(&mut *self.leases.lock().unwrap_or_else(PoisonError::into_inner))
                .into_iter()
                .collect();
        if let Err(e) = self.store.end_leases(&held, &self.owner).await {
            tracing::warn!(holds = held.len(), "cannot end leases: {e}");
        }
    }

    /// The account that recorded `txn` (a hold or a reversal).
    pub(super) async fn account_of(&self, txn: TxnId) -> Result<Account, PipelineError> {
        let agent = self
            .store
            .find(*txn.as_uuid())
            .await?
            .ok_or(PipelineError::UnknownHold(txn))?;
        Ok(self.ledger.account(&agent).await?)
    }

    /// Leases a hold or reversal in `state` to this (operator) run, unless it is resolved or
    /// a live run holds it.
    async fn claim_lease(
        &self,
        txn: TxnId,
        state: &'static str,
        unresolved: bool,
    ) -> Result<(), PipelineError> {
        let refuse = |reason| PipelineError::NotReviewable { txn, state, reason };
        if !unresolved {
            return Err(refuse("it is already resolved"));
        }
        if !self
            .store
            .lease(txn, &self.owner, self.lease_length())
            .await?
        {
            return Err(refuse(
                "a run is working on it right now; try again when it has finished",
            ));
        }
        self.hold_lease(txn);
        Ok(())
    }

    /// Finds an unresolved hold and leases it to this (operator) run.
    pub(super) async fn claim(&self, txn: TxnId) -> Result<HoldView, PipelineError> {
        let account = self.account_of(txn).await?;
        if account.reversals().contains_key(&txn) {
            return Err(PipelineError::WrongKind {
                txn,
                kind: "reversal",
                hint: "settle it with --reversed or --not-reversed",
            });
        }
        let hold = hold_view(&account, txn).ok_or(PipelineError::UnknownHold(txn))?;
        self.claim_lease(txn, hold.state.name(), hold.state.is_unresolved())
            .await?;
        Ok(hold)
    }

    /// Finds an unresolved reversal and leases it to this (operator) run.
    pub(super) async fn claim_reversal(&self, txn: TxnId) -> Result<ReversalView, PipelineError> {
        let account = self.account_of(txn).await?;
        if account.holds().contains_key(&txn) {
            return Err(PipelineError::WrongKind {
                txn,
                kind: "hold",
                hint: "settle it with --issued or --not-issued",
            });
        }
        let reversal = reversal_view(&account, txn).ok_or(PipelineError::UnknownHold(txn))?;
        self.claim_lease(txn, reversal.state.name(), reversal.state.is_unresolved())
            .await?;
        Ok(reversal)
    }

    pub(super) async fn reversal_view(
        &self,
        agent: &AgentId,
        txn: TxnId,
    ) -> Result<ReversalView, PipelineError> {
        let account = self.ledger.account(agent).await?;
        reversal_view(&account, txn).ok_or(PipelineError::UnknownHold(txn))
    }

    pub(super) async fn view(
        &self,
        agent: &AgentId,
        txn: TxnId,
    ) -> Result<HoldView, PipelineError> {
        let account = self.ledger.account(agent).await?;
        hold_view(&account, txn).ok_or(PipelineError::UnknownHold(txn))
    }
}
