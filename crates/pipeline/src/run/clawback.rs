//! The clawback step: an agent in debt past `reversal_min_debt` has its latest committed
//! redemption (within `reversal_window_days`) reversed on the marketplace, and the reversal
//! recorded in the ledger once the marketplace confirms it.

use chrono::TimeDelta;
use kudos_client::ReverseOutcome;
use kudos_core::{AgentId, TxnId};
use kudos_ledger::{Command, HoldState, LedgerError, transition_id};
use serde_json::json;
use tracing::Instrument as _;

use super::{BATCH, Count, PipelineError, Run, error::redact};
use crate::{AlertKind, AuditEvent};

impl Run<'_> {
    // ---------------------------------------------------------------- clawback

    pub(super) async fn clawback(&self, agents: &[AgentId]) -> Result<(), PipelineError> {
        self.progress.step("clawback", Some(agents.len() as u64));
        let window = TimeDelta::days(i64::from(self.parts.settings.reversal_window_days));
        let now = self.now();
        for chunk in agents.chunks(BATCH) {
            for (agent, account) in chunk.iter().zip(self.accounts(chunk).await?) {
                if account.debt().get() <= self.parts.settings.reversal_min_debt {
                    continue;
                }
                let candidate = account
                    .holds()
                    .values()
                    .filter(|h| h.state == HoldState::Committed && h.reversed_by.is_none())
                    .filter(|h| h.committed_at.is_some_and(|at| now - at < window))
                    .max_by_key(|h| h.committed_at);
                let Some(hold) = candidate else { continue };
                let of = hold.txn;
                let reversal = TxnId::from_uuid(transition_id(of, "reversal", 0));
                let span = tracing::info_span!("reversal", txn = %reversal, of = %of, agent = %self.pseudonym(agent));
                self.reverse(agent, of, reversal, account.debt().get())
                    .instrument(span)
                    .await?;
            }
            self.progress.advance(chunk.len() as u64);
        }
        Ok(())
    }

    /// Records in the ledger that the marketplace voided the committed reward `of` (a
    /// lookup said `REVERSED`): its points go back, under the reversal id a clawback would
    /// use, so the two never both count.
    pub(super) async fn record_voided(
        &self,
        agent: &AgentId,
        of: TxnId,
    ) -> Result<(), PipelineError> {
        let reversal = TxnId::from_uuid(transition_id(of, "reversal", 0));
        self.record_reversal(agent, of, reversal, || {
            format!("reward {of} was voided at the marketplace but cannot be recorded")
        })
        .await
    }

    /// Records a reversal the marketplace made (a clawback's, or a voiding it reported) as the
    /// ledger's `Reverse`: the points go back; counted once, audited. A ledger refusal is an
    /// alert (`what` says what could not be recorded); a store failure stops the run.
    async fn record_reversal(
        &self,
        agent: &AgentId,
        of: TxnId,
        reversal: TxnId,
        what: impl FnOnce() -> String,
    ) -> Result<(), PipelineError> {
        match self
            .ledger
            .execute(
                agent,
                Command::Reverse {
                    txn: reversal,
                    of,
                    day: self.as_of,
                },
            )
            .await
        {
            Ok(applied) => {
                if applied.appended {
                    self.bump(Count::Reversed);
                }
                self.audit(AuditEvent::ReversalConfirmed {
                    txn_id: reversal,
                    of,
                })
                .await
            }
            Err(e @ LedgerError::Store { .. }) => Err(e.into()),
            Err(e) => {
                self.alert(
                    AlertKind::LedgerError,
                    format!("{}: {}", what(), redact(&e, agent)),
                    json!({"txn_id": reversal, "of": of, "agent": self.pseudonym(agent)}),
                )
                .await;
                Ok(())
            }
        }
    }

    pub(super) async fn reverse(
        &self,
        agent: &AgentId,
        of: TxnId,
        reversal: TxnId,
        debt: i64,
    ) -> Result<(), PipelineError> {
        let who = self.pseudonym(agent);
        self.audit(AuditEvent::ReversalRequested {
            txn_id: reversal,
            of,
            agent: who.clone(),
            debt,
        })
        .await?;
        match self.provider.reverse(reversal, of).await {
            ReverseOutcome::Reversed => {
                self.record_reversal(agent, of, reversal, || {
                    format!("reversal {reversal} confirmed but not recorded")
                })
                .await?;
            }
            ReverseOutcome::NotReversible => {
                self.audit(AuditEvent::ReversalRefused {
                    txn_id: reversal,
                    of,
                })
                .await?;
                self.alert(
                    AlertKind::ReversalFailed,
                    format!("the marketplace cannot reverse {of}; the debt of {debt} stays"),
                    json!({"txn_id": reversal, "of": of, "agent": who, "debt": debt}),
                )
                .await;
            }
            ReverseOutcome::Failed { reason } => {
                self.audit(AuditEvent::ReversalFailed {
                    txn_id: reversal,
                    of,
                    reason: reason.clone(),
                })
                .await?;
                self.alert(
                    AlertKind::ReversalFailed,
                    format!("reversal of {of} failed ({reason}); the debt of {debt} stays"),
                    json!({"txn_id": reversal, "of": of, "agent": who, "debt": debt}),
                )
                .await;
            }
        }
        Ok(())
    }
}
