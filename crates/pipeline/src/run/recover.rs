//! The recover step: holds earlier runs left open (their lease lapsed) or in doubt are looked
//! up on the marketplace and settled — committed, released, re-sent with their stored bytes,
//! or kept in doubt. Then reversals left open or in doubt are re-driven the same way
//! (`reversal`), whatever their agent's debt is now.

use kudos_client::{Outcome, StatusOutcome};
use kudos_ledger::{HoldState, HoldView, ReversalState};
use tracing::Instrument as _;

use super::{PipelineError, Run};
use crate::AuditEvent;

impl Run<'_> {
    pub(super) async fn recover(&self) -> Result<(), PipelineError> {
        let mut holds = self.store.holds(Some(HoldState::InDoubt)).await?;
        holds.extend(self.store.holds(Some(HoldState::Open)).await?);
        self.progress
            .step("recover", Some(u64::try_from(holds.len()).unwrap_or(0)));
        for hold in holds {
            self.progress.advance(1);
            if self.dry_run {
                tracing::info!(txn = %hold.txn, "would re-drive");
                continue;
            }
            let now = self.now();
            let lease_length =
                chrono::TimeDelta::from_std(self.lease_length()).unwrap_or(chrono::TimeDelta::MAX);
            if hold.state == HoldState::Open
                && self.store.lease_of(hold.txn).await?.is_none()
                && hold
                    .created_at
                    .checked_add_signed(lease_length)
                    .is_none_or(|until| until > now)
            {
                // Being made right now by another run (it leases it next). Only a shortcut: a
                // run whose new hold's lease is not granted does not send it.
                continue;
            }
            if !self
                .store
                .lease(hold.txn, &self.owner, self.lease_length())
                .await?
            {
                continue; // another live run has it
            }
            self.hold_lease(hold.txn);
            let span = tracing::info_span!("reward", txn = %hold.txn, agent = %self.pseudonym(&hold.agent));
            self.redrive(&hold).instrument(span).await?;
        }
        self.recover_reversals().await
    }

    /// Re-drives the reversals earlier runs left open (their lease lapsed) or in doubt.
    async fn recover_reversals(&self) -> Result<(), PipelineError> {
        let mut reversals = self.store.reversals(Some(ReversalState::InDoubt)).await?;
        reversals.extend(self.store.reversals(Some(ReversalState::Open)).await?);
        for reversal in reversals {
            if self.dry_run {
                tracing::info!(txn = %reversal.txn, "would re-drive the reversal");
                continue;
            }
            if reversal.state == ReversalState::Open
                && self.being_made(reversal.txn, reversal.created_at).await?
            {
                continue;
            }
            if !self
                .store
                .lease(reversal.txn, &self.owner, self.lease_length())
                .await?
            {
                continue; // another live run has it
            }
            self.hold_lease(reversal.txn);
            let span = tracing::info_span!("reversal", txn = %reversal.txn, of = %reversal.of, agent = %self.pseudonym(&reversal.agent));
            self.redrive_reversal(&reversal).instrument(span).await?;
        }
        Ok(())
    }

    /// Whether an open hold or reversal without a lease is being made right now by another
    /// run (which leases it next): made less than a lease length ago. Only a shortcut: a run
    /// whose new hold's lease is not granted does not send it.
    async fn being_made(
        &self,
        txn: kudos_core::TxnId,
        created_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, PipelineError> {
        let lease_length =
            chrono::TimeDelta::from_std(self.lease_length()).unwrap_or(chrono::TimeDelta::MAX);
        Ok(self.store.lease_of(txn).await?.is_none()
            && created_at
                .checked_add_signed(lease_length)
                .is_none_or(|until| until > self.now()))
    }

    /// Re-drives one hold of an earlier run: a status lookup, then commit, release, re-send
    /// the stored payload, or keep it in doubt.
    pub(super) async fn redrive(&self, hold: &HoldView) -> Result<(), PipelineError> {
        self.audit(AuditEvent::HoldRecovering {
            txn_id: hold.txn,
            agent: self.pseudonym(&hold.agent),
            state: hold.state,
            attempts: hold.attempts,
        })
        .await?;
        let attempts = hold.attempts + 1;
        let outcome = match self.provider.status(hold.txn).await {
            StatusOutcome::Issued { reward_id } => Outcome::Issued { reward_id },
            // Issued, then voided by someone else: the reward was issued (commit), and the
            // agent does not have it (the reversal returns the points).
            StatusOutcome::Reversed { reward_id } => {
                self.settle(
                    &hold.agent,
                    hold.txn,
                    attempts,
                    Outcome::Issued { reward_id },
                    true,
                )
                .await?;
                return self.record_voided(&hold.agent, hold.txn).await;
            }
            StatusOutcome::Rejected { reason } => Outcome::Rejected { reason },
            // Paused: the marketplace never had it, and nothing new is sent. It waits, as it is.
            StatusOutcome::NotFound if self.paused().is_some() => return Ok(()),
            StatusOutcome::NotFound => {
                let account = self.ledger.account(&hold.agent).await?;
                let Some(payload) = account.holds().get(&hold.txn).map(|h| h.payload.clone())
                else {
                    return Ok(());
                };
                self.audit(AuditEvent::RequestSent {
                    txn_id: hold.txn,
                    attempt: attempts,
                    resend: true,
                })
                .await?;
                self.provider.issue(hold.txn, &payload).await
            }
            StatusOutcome::Unknown { reason } => Outcome::InDoubt { reason },
        };
        self.settle(&hold.agent, hold.txn, attempts, outcome, true)
            .await?;
        Ok(())
    }
}
