//! The programme owner's actions: approving or rejecting a reward that waits for an approval
//! (`kudos review approve` / `reject`), and the pause switch (`kudos pause` / `resume`).
//! Each is on the audit trail with who did it; the time is the record's.

use kudos_core::{Day, TxnId};
use kudos_ledger::{Command, HoldState, HoldView, Pause};

use super::{Operator, Pipeline, PipelineError, Run};
use crate::{AuditEvent, AuditSink};

impl Pipeline {
    /// `kudos review approve`: a reward that waits for an approval goes to `open`, unsent;
    /// the next run sends it. Returns the hold afterwards.
    ///
    /// # Errors
    ///
    /// [`PipelineError::UnknownHold`], [`PipelineError::NotReviewable`] (it does not await an
    /// approval, or a run has it right now), a store or audit failure.
    pub async fn review_approve(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        day: Day,
        operator: &Operator,
    ) -> Result<HoldView, PipelineError> {
        self.decide(audit, txn, day, operator, true).await
    }

    /// `kudos review reject`: a reward that waits for an approval is not sent; its hold is
    /// released on `day` (its points return, paying debt first) and its budget given back.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::review_approve`].
    pub async fn review_reject(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        day: Day,
        operator: &Operator,
    ) -> Result<HoldView, PipelineError> {
        self.decide(audit, txn, day, operator, false).await
    }

    /// Approves (to `open`, unsent) or rejects (released) a hold that awaits an approval.
    async fn decide(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        day: Day,
        operator: &Operator,
        approve: bool,
    ) -> Result<HoldView, PipelineError> {
        self.action(audit, day, async |run: &Run<'_>| {
            let hold = run.claim_awaiting(txn).await?;
            let (agent, cost, operator) =
                (run.pseudonym(&hold.agent), hold.cost, operator.name.clone());
            let (decided, command, after) = if approve {
                (
                    AuditEvent::ReviewApproved {
                        txn_id: txn,
                        agent,
                        cost,
                        operator,
                    },
                    Command::Mark {
                        txn,
                        state: HoldState::Open,
                        attempts: 0,
                    },
                    AuditEvent::HoldMarked {
                        txn_id: txn,
                        state: HoldState::Open,
                        attempts: 0,
                    },
                )
            } else {
                (
                    AuditEvent::ReviewRejected {
                        txn_id: txn,
                        agent,
                        cost,
                        operator,
                    },
                    Command::Release { txn, day },
                    AuditEvent::HoldReleased { txn_id: txn },
                )
            };
            run.audit(decided).await?;
            run.resolve(&hold.agent, command).await?;
            run.audit(after).await?;
            if !approve && self.parts.controls.budget.is_set() {
                run.store.return_budget(&[txn]).await?;
            }
            run.lapse_leases().await;
            run.view(&hold.agent, txn).await
        })
        .await
    }

    /// The pause switch as the store has it (`None`: not paused).
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn pause_state(&self) -> Result<Option<Pause>, PipelineError> {
        Ok(self.parts.store.pause_state().await?)
    }

    /// `kudos pause` (an operator action on `day`, the run's day in `[run] time_zone`): every run from now on (any worker on this store) ingests, accrues and
    /// settles what is in doubt by lookup, but makes no new hold and sends no new request,
    /// until [`resume`](Self::resume). Returns the pause it replaced, if any.
    ///
    /// # Errors
    ///
    /// A store or audit failure.
    pub async fn pause(
        &self,
        audit: Box<dyn AuditSink>,
        reason: &str,
        day: Day,
        operator: &Operator,
    ) -> Result<Option<Pause>, PipelineError> {
        self.action(audit, day, async |run: &Run<'_>| {
            let pause = Pause {
                reason: reason.to_owned(),
                by: operator.name.clone(),
                at: run.now(),
            };
            run.audit(AuditEvent::Paused {
                reason: reason.to_owned(),
                operator: operator.name.clone(),
            })
            .await?;
            Ok(run.store.set_pause(Some(&pause)).await?)
        })
        .await
    }

    /// `kudos resume`: runs issue again. Returns the pause it ended (`None`: it was not
    /// paused).
    ///
    /// # Errors
    ///
    /// A store or audit failure.
    pub async fn resume(
        &self,
        audit: Box<dyn AuditSink>,
        day: Day,
        operator: &Operator,
    ) -> Result<Option<Pause>, PipelineError> {
        self.action(audit, day, async |run: &Run<'_>| {
            let before = run.store.pause_state().await?;
            run.audit(AuditEvent::Resumed {
                operator: operator.name.clone(),
                reason: before
                    .as_ref()
                    .map(|p| p.reason.clone())
                    .unwrap_or_default(),
            })
            .await?;
            run.store.set_pause(None).await?;
            Ok(before)
        })
        .await
    }
}

impl Run<'_> {
    /// Finds a hold that awaits an approval and leases it to this (operator) run.
    async fn claim_awaiting(&self, txn: TxnId) -> Result<HoldView, PipelineError> {
        let hold = self.claim(txn).await?;
        if hold.state != HoldState::AwaitingApproval {
            self.lapse_leases().await;
            return Err(PipelineError::NotReviewable {
                txn,
                state: hold.state.name(),
                reason: "it does not await an approval",
            });
        }
        Ok(hold)
    }
}
