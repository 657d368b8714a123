//! The re-check step: rewards issued in the last `recheck_issued_days` are looked up again,
//! at most `recheck_issued_max_per_run` a run (a different share each run), so that one the
//! marketplace voided after issuing it (a cancelled order, a bounced delivery) gives its
//! points back instead of staying spent.

use kudos_client::StatusOutcome;
use kudos_core::TxnId;
use kudos_ledger::{HoldState, HoldView};
use serde_json::json;

use super::{PipelineError, Run};
use crate::AlertKind;

impl Run<'_> {
    pub(super) async fn recheck(&self) -> Result<(), PipelineError> {
        let cap = usize::try_from(self.parts.settings.recheck_issued_max_per_run).unwrap_or(0);
        let days = self.parts.settings.recheck_issued_days;
        if self.dry_run || cap == 0 || days == 0 {
            return Ok(());
        }
        let since = self.now() - chrono::TimeDelta::days(i64::from(days));
        let mut recent: Vec<HoldView> = self
            .store
            .holds_made_since(HoldState::Committed, since)
            .await?;
        if recent.is_empty() {
            return Ok(());
        }
        // A different share each run: start at an offset drawn from the run id, so that over
        // a few runs every recent reward is looked at, whatever the cap.
        recent.sort_by_key(|hold| hold.txn);
        let start = usize::try_from(self.run_id.as_u128() % recent.len() as u128).unwrap_or(0);
        recent.rotate_left(start);
        recent.truncate(cap);
        self.progress
            .step("recheck", Some(u64::try_from(recent.len()).unwrap_or(0)));
        let agents: Vec<_> = recent.iter().map(|hold| hold.agent.clone()).collect();
        let accounts = self.accounts(&agents).await?;
        for (hold, account) in recent.iter().zip(accounts) {
            self.progress.advance(1);
            let already = account
                .holds()
                .get(&hold.txn)
                .is_some_and(|h| h.reversed_by.is_some());
            if already {
                continue;
            }
            if let StatusOutcome::Reversed { .. } = self.provider.status(hold.txn).await {
                self.voided_after_issue(hold.txn, hold).await?;
            }
        }
        Ok(())
    }

    /// Records a reward the marketplace voided after issuing it, and says so.
    async fn voided_after_issue(&self, txn: TxnId, hold: &HoldView) -> Result<(), PipelineError> {
        self.record_voided(&hold.agent, txn).await?;
        self.alert(
            AlertKind::RewardVoided,
            format!(
                "the marketplace voided reward {txn} after issuing it; its {} points went back to the agent",
                hold.cost
            ),
            json!({"txn_id": txn, "agent": self.pseudonym(&hold.agent), "cost": hold.cost}),
        )
        .await;
        Ok(())
    }
}
