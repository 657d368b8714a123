//! The operator's actions on a hold in review or in doubt: `kudos review retry` and `kudos
//! review settle`. Both ask the marketplace first and refuse what it contradicts; every action,
//! done or refused, is on record with who asked.

use kudos_client::{Outcome, StatusOutcome};
use kudos_core::{Day, TxnId};
use kudos_ledger::{Command, HoldView, ReversalView};

use super::{NoProgress, Pipeline, PipelineError, Run, RunOptions};
use crate::{AuditEvent, AuditSink};

/// Who takes an operator action, and whether they override a marketplace that disagrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The name on record (`--operator`; the CLI defaults it to the login name).
    pub name: String,
    /// Settle even when the marketplace says otherwise (`--force`).
    pub force: bool,
}

impl Operator {
    /// An operator who does not override the marketplace.
    #[must_use]
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            force: false,
        }
    }
}

/// What the marketplace says of a reward, in the audit trail's words.
fn said(status: &StatusOutcome) -> &'static str {
    match status {
        StatusOutcome::Issued { .. } => "issued",
        StatusOutcome::Reversed { .. } => "reversed",
        StatusOutcome::Rejected { .. } => "rejected",
        StatusOutcome::NotFound => "not_found",
        StatusOutcome::Unknown { .. } => "unknown",
    }
}

/// What a transaction id names, for an operator's action: a hold or a reversal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReviewKind {
    /// A hold (`--issued` / `--not-issued`).
    Hold,
    /// A reversal (`--reversed` / `--not-reversed`).
    Reversal,
}

impl ReviewKind {
    /// `hold` or `reversal`, as `kudos review list` prints it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hold => "hold",
            Self::Reversal => "reversal",
        }
    }
}

impl Pipeline {
    /// Whether `txn` is a hold or a reversal.
    ///
    /// # Errors
    ///
    /// [`PipelineError::UnknownHold`] when it is neither; a store failure.
    pub async fn review_kind(&self, txn: TxnId) -> Result<ReviewKind, PipelineError> {
        let ledger = kudos_ledger::Ledger::new(&*self.parts.store, self.parts.clock.clone());
        let agent = self
            .parts
            .store
            .find(*txn.as_uuid())
            .await?
            .ok_or(PipelineError::UnknownHold(txn))?;
        let account = ledger.account(&agent).await?;
        if account.reversals().contains_key(&txn) {
            Ok(ReviewKind::Reversal)
        } else if account.holds().contains_key(&txn) {
            Ok(ReviewKind::Hold)
        } else {
            Err(PipelineError::UnknownHold(txn))
        }
    }

    /// `kudos review retry` of a reversal: the redemption is looked up, and the reversal
    /// recorded if the marketplace reversed it, or sent again with its stored bytes if the
    /// reward is still issued (safe past the idempotency-key retention too: a reward is
    /// reversed at most once), then settled as a run would; returns the reversal afterwards.
    ///
    /// # Errors
    ///
    /// [`PipelineError::UnknownHold`], [`PipelineError::NotReviewable`] (resolved, or leased
    /// by a live run), a store or audit failure.
    pub async fn review_retry_reversal(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        day: Day,
        operator: &Operator,
    ) -> Result<ReversalView, PipelineError> {
        self.action(audit, day, async |run: &Run<'_>| {
            let reversal = run.claim_reversal(txn).await?;
            run.audit(AuditEvent::ReversalRetry {
                txn_id: txn,
                of: reversal.of,
                agent: run.pseudonym(&reversal.agent),
                state: reversal.state,
                operator: operator.name.clone(),
            })
            .await?;
            run.redrive_reversal(&reversal).await?;
            run.lapse_leases().await;
            run.reversal_view(&reversal.agent, txn).await
        })
        .await
    }

    /// `kudos review settle --reversed | --not-reversed`: an operator says whether the
    /// marketplace reversed the reward — the reversal is recorded (the points come back), or
    /// ended (the reward and the debt stay). The marketplace is asked first; an action it
    /// contradicts (or that it cannot confirm) is refused unless `operator.force`.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::review_retry_reversal`]; [`PipelineError::Refused`] when the
    /// marketplace disagrees (or cannot be asked) and the operator did not force it.
    pub async fn review_settle_reversal(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        reversed: bool,
        day: Day,
        operator: &Operator,
    ) -> Result<ReversalView, PipelineError> {
        self.action(audit, day, async |run: &Run<'_>| {
            let reversal = run.claim_reversal(txn).await?;
            let (agent, of) = (reversal.agent.clone(), reversal.of);
            let status = run.provider.status(of).await;
            let agrees = match &status {
                StatusOutcome::Reversed { .. } => reversed,
                StatusOutcome::Issued { .. } => !reversed,
                // Never issued, or cannot be asked: neither is confirmed.
                StatusOutcome::Rejected { .. }
                | StatusOutcome::NotFound
                | StatusOutcome::Unknown { .. } => false,
            };
            let action = if reversed {
                "settle --reversed"
            } else {
                "settle --not-reversed"
            };
            if !agrees && !operator.force {
                let reason = match &status {
                    StatusOutcome::Unknown { reason } => format!(
                        "the marketplace could not be asked ({reason}); try again, or --force if you \
                         checked with it yourself"
                    ),
                    other => format!(
                        "the marketplace says the reward {of} is {}; {action} contradicts it \
                         (--force overrides)",
                        said(other)
                    ),
                };
                return run.refuse(txn, operator, action, reason).await;
            }
            run.audit(AuditEvent::ReversalSettled {
                txn_id: txn,
                of,
                agent: run.pseudonym(&agent),
                state: reversal.state,
                reversed,
                operator: operator.name.clone(),
                marketplace: said(&status).to_owned(),
                forced: !agrees,
            })
            .await?;
            if reversed {
                run.record_reversal(&agent, of, txn, || {
                    format!("reversal {txn} settled as reversed but not recorded")
                })
                .await?;
            } else {
                run.resolve(&agent, Command::EndReversal { txn }).await?;
            }
            run.lapse_leases().await;
            run.reversal_view(&agent, txn).await

        })
        .await
    }

    /// `kudos review retry`: sends a hold's stored request again (the same bytes, the same
    /// idempotency key) and settles the answer as a run would; returns the hold afterwards.
    /// A hold older than `idempotency_key_retention_hours` is never re-sent (the marketplace
    /// may have forgotten its key, and would issue a second reward): it is looked up instead,
    /// and settled if the marketplace knows it.
    ///
    /// # Errors
    ///
    /// [`PipelineError::UnknownHold`], [`PipelineError::NotReviewable`] (resolved, or leased
    /// by a live run), [`PipelineError::Refused`] (too old to re-send and unknown to the
    /// marketplace), a store or audit failure.
    pub async fn review_retry(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        day: Day,
        operator: &Operator,
    ) -> Result<HoldView, PipelineError> {
        self.action(audit, day, async |run: &Run<'_>| {
            let hold = run.claim(txn).await?;
            let agent = hold.agent.clone();
            if hold.state == kudos_ledger::HoldState::AwaitingApproval {
                let reason = "it awaits an approval: kudos review approve (the next run sends it) or kudos review reject".to_owned();
                return run.refuse(txn, operator, "retry", reason).await;
            }
            if run.paused().is_some() {
                let reason = "the programme is paused: nothing new is sent until kudos resume".to_owned();
                return run.refuse(txn, operator, "retry", reason).await;
            }
            run.audit(AuditEvent::ReviewRetry {
                txn_id: txn,
                agent: run.pseudonym(&agent),
                state: hold.state,
                operator: operator.name.clone(),
            })
            .await?;
            let retention = chrono::TimeDelta::hours(
                i64::try_from(self.parts.settings.idempotency_key_retention_hours).unwrap_or(i64::MAX),
            );
            let too_old = hold
                .created_at
                .checked_add_signed(retention)
                .is_some_and(|kept_until| kept_until <= run.now());
            let mut voided = false;
            let outcome = if too_old {
                match run.provider.status(txn).await {
                    StatusOutcome::Issued { reward_id } => Outcome::Issued { reward_id },
                    StatusOutcome::Reversed { reward_id } => {
                        voided = true;
                        Outcome::Issued { reward_id }
                    }
                    StatusOutcome::Rejected { reason } => Outcome::Rejected { reason },
                    status => {
                        let reason = format!(
                            "made {} hours ago, longer than the marketplace keeps idempotency keys \
                             ({} hours): a re-send could issue a second reward, and the marketplace \
                             answers {}; check with it and settle by hand (kudos review settle)",
                            (run.now() - hold.created_at).num_hours(),
                            self.parts.settings.idempotency_key_retention_hours,
                            said(&status)
                        );
                        return run.refuse(txn, operator, "retry", reason).await;
                    }
                }
            } else {
                let account = run.ledger.account(&agent).await?;
                let payload = account
                    .holds()
                    .get(&txn)
                    .map(|h| h.payload.clone())
                    .unwrap_or_default();
                run.provider.issue(txn, &payload).await
            };
            run.settle(&agent, txn, hold.attempts + 1, outcome, false)
                .await?;
            if voided {
                run.record_voided(&agent, txn).await?;
            }
            run.lapse_leases().await;
            run.view(&agent, txn).await

        })
        .await
    }

    /// `kudos review settle`: an operator says whether the reward was issued — the hold is
    /// committed, or released (its points return). The marketplace is asked first; an action
    /// it contradicts (or that it cannot confirm) is refused unless `operator.force`.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::review_retry`]; [`PipelineError::Refused`] when the marketplace
    /// disagrees (or cannot be asked) and the operator did not force it.
    pub async fn review_settle(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        issued: bool,
        day: Day,
        operator: &Operator,
    ) -> Result<HoldView, PipelineError> {
        self.action(audit, day, async |run: &Run<'_>| {
            let hold = run.claim(txn).await?;
            let agent = hold.agent.clone();
            if hold.state == kudos_ledger::HoldState::AwaitingApproval {
                let reason = "it awaits an approval and was never sent: kudos review approve or kudos review reject".to_owned();
                return run.refuse(txn, operator, "settle", reason).await;
            }
            let status = run.provider.status(txn).await;
            let agrees = match &status {
                // Issued, then voided: it was issued (and the voiding is recorded with it).
                StatusOutcome::Issued { .. } | StatusOutcome::Reversed { .. } => issued,
                StatusOutcome::Rejected { .. } | StatusOutcome::NotFound => !issued,
                StatusOutcome::Unknown { .. } => false,
            };
            let action = if issued {
                "settle --issued"
            } else {
                "settle --not-issued"
            };
            if !agrees && !operator.force {
                let reason = match &status {
                    StatusOutcome::Unknown { reason } => format!(
                        "the marketplace could not be asked ({reason}); try again, or --force if you \
                         checked with it yourself"
                    ),
                    other => format!(
                        "the marketplace says the reward is {}; {action} contradicts it (--force \
                         overrides)",
                        said(other)
                    ),
                };
                return run.refuse(txn, operator, action, reason).await;
            }
            run.audit(AuditEvent::ReviewSettled {
                txn_id: txn,
                agent: run.pseudonym(&agent),
                state: hold.state,
                issued,
                operator: operator.name.clone(),
                marketplace: said(&status).to_owned(),
                forced: !agrees,
            })
            .await?;
            if issued {
                run.resolve(&agent, Command::Commit { txn }).await?;
                run.audit(AuditEvent::HoldCommitted { txn_id: txn }).await?;
                if matches!(status, StatusOutcome::Reversed { .. }) {
                    run.record_voided(&agent, txn).await?;
                }
            } else {
                run.resolve(&agent, Command::Release { txn, day }).await?;
                run.audit(AuditEvent::HoldReleased { txn_id: txn }).await?;
            }
            run.lapse_leases().await;
            run.view(&agent, txn).await

        })
        .await
    }

    /// An operator's action: a run over the pipeline's own parts, on `day`.
    /// Runs one operator action as a run of its own on `day` (its audit chain, leases and
    /// alerts), then sends what the alert sinks held back for it before returning.
    pub(super) async fn action<T>(
        &self,
        audit: Box<dyn AuditSink>,
        day: Day,
        steps: impl AsyncFnOnce(&Run<'_>) -> Result<T, PipelineError>,
    ) -> Result<T, PipelineError> {
        let run = self.start(self.real_wiring(audit), RunOptions::new(day), &NoProgress);
        let result = match run.load_pause().await {
            Ok(()) => steps(&run).await,
            Err(e) => Err(e),
        };
        run.alerts.flush(run.run_id).await;
        result
    }
}

impl Run<'_> {
    /// Records a refused operator action, ends the claim, and returns the refusal.
    pub(super) async fn refuse<T>(
        &self,
        txn: TxnId,
        operator: &Operator,
        action: &str,
        reason: String,
    ) -> Result<T, PipelineError> {
        self.audit(AuditEvent::ReviewRefused {
            txn_id: txn,
            operator: operator.name.clone(),
            action: action.to_owned(),
            reason: reason.clone(),
        })
        .await?;
        self.lapse_leases().await;
        Err(PipelineError::Refused { txn, reason })
    }
}
