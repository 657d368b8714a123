//! The operator's actions on a hold in review: `kudos review retry` and `kudos review settle`.

use kudos_core::{Day, TxnId};
use kudos_ledger::{Command, HoldView};

use super::{NoProgress, Pipeline, PipelineError, Run, RunOptions};
use crate::{AuditEvent, AuditSink};

impl Pipeline {
    /// `kudos review retry`: sends a hold's stored request again (the same bytes, the same
    /// idempotency key) and settles the answer as a run would; returns the hold afterwards.
    ///
    /// # Errors
    ///
    /// [`PipelineError::UnknownHold`], [`PipelineError::NotReviewable`] (resolved, or leased
    /// by a live run), a store or audit failure.
    pub async fn review_retry(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        day: Day,
    ) -> Result<HoldView, PipelineError> {
        let run = self.operator(audit, day);
        let hold = run.claim(txn).await?;
        let agent = hold.agent.clone();
        run.audit(AuditEvent::ReviewRetry {
            txn_id: txn,
            agent: run.pseudonym(&agent),
            state: hold.state,
        })
        .await?;
        let account = run.ledger.account(&agent).await?;
        let payload = account
            .holds()
            .get(&txn)
            .map(|h| h.payload.clone())
            .unwrap_or_default();
        let outcome = run.provider.issue(txn, &payload).await;
        run.settle(&agent, txn, hold.attempts + 1, outcome, false)
            .await?;
        run.lapse_leases().await;
        run.view(&agent, txn).await
    }

    /// `kudos review settle`: an operator who checked with the marketplace says whether the
    /// reward was issued — the hold is committed, or released (its points return).
    ///
    /// # Errors
    ///
    /// As [`Pipeline::review_retry`].
    pub async fn review_settle(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        issued: bool,
        day: Day,
    ) -> Result<HoldView, PipelineError> {
        let run = self.operator(audit, day);
        let hold = run.claim(txn).await?;
        let agent = hold.agent.clone();
        run.audit(AuditEvent::ReviewSettled {
            txn_id: txn,
            agent: run.pseudonym(&agent),
            state: hold.state,
            issued,
        })
        .await?;
        if issued {
            run.resolve(&agent, Command::Commit { txn }).await?;
            run.audit(AuditEvent::HoldCommitted { txn_id: txn }).await?;
        } else {
            run.resolve(&agent, Command::Release { txn, day }).await?;
            run.audit(AuditEvent::HoldReleased { txn_id: txn }).await?;
        }
        run.lapse_leases().await;
        run.view(&agent, txn).await
    }

    /// An operator's action: a run over the pipeline's own parts, on `day`.
    fn operator(&self, audit: Box<dyn AuditSink>, day: Day) -> Run<'_> {
        let options = RunOptions {
            as_of: day,
            dry_run: false,
        };
        self.start(self.real_wiring(audit), options, &NoProgress)
    }
}
