//! The simulated operator: works the review queue — holds and reversals — from the
//! marketplace's own records, as a person with its back office open would. Sometimes it tries
//! the wrong action first (Kudos must refuse it: the refusal is counted; one accepted is found
//! by the final check in the audit trail), sometimes it retries a hold instead of settling it.

use std::collections::HashMap;
use std::time::Duration;

use kudos_core::Day;
use kudos_ledger::{HoldState, LedgerStore, ReversalState};
use kudos_pipeline::{AuditLog, Operator, Pipeline, PipelineError};
use uuid::Uuid;

use super::Rng;
use crate::run::World;

/// What the operator did in one pass.
#[derive(Debug, Default)]
pub(super) struct Worked {
    /// Holds and reversals settled.
    pub(super) settled: u64,
    /// Wrong actions Kudos refused.
    pub(super) refused: u64,
    /// Retries asked.
    pub(super) retried: u64,
    /// Rewards approved.
    pub(super) approved: u64,
}

/// Settles everything in review, and decides some of the rewards that await an approval (all
/// of them, approved, with `approve_all`). `lag` is how far the marketplace's lookups lag: the
/// operator acts no sooner (a person answers an alert in minutes, a lookup catches up in
/// milliseconds).
#[allow(
    clippy::too_many_arguments,
    reason = "a test harness's one entry point"
)]
pub(super) async fn work_the_queue(
    w: &World,
    pipeline: &Pipeline,
    day: &str,
    rng: &mut Rng,
    wrong_action_chance: f64,
    lag: Duration,
    approve_all: bool,
) -> Result<Worked, String> {
    tokio::time::sleep(lag).await;
    let day = Day::parse(day).unwrap();
    // The marketplace's records: each reward's status by request id.
    let records: HashMap<String, String> = w
        .sim
        .rewards()
        .into_iter()
        .map(|r| (r.request_id, r.status))
        .collect();
    let audit = || {
        Box::new(AuditLog::open_keyed(&w.audit_path(), Uuid::now_v7(), super::audit_key()).unwrap())
    };
    let operator = |force: bool| Operator {
        name: "simulated operator".into(),
        force,
    };
    let mut worked = Worked::default();
    for hold in w
        .store
        .holds(Some(HoldState::AwaitingApproval))
        .await
        .unwrap()
    {
        let decided = if approve_all || rng.chance(0.6) {
            let approved = pipeline
                .review_approve(audit(), hold.txn, day, &operator(false))
                .await;
            worked.approved += u64::from(approved.is_ok());
            approved
        } else if rng.chance(0.3) {
            pipeline
                .review_reject(audit(), hold.txn, day, &operator(false))
                .await
        } else {
            continue;
        };
        match decided {
            Ok(_) | Err(PipelineError::NotReviewable { .. }) => {}
            Err(e) => return Err(format!("operator decision on {}: {e}", hold.txn)),
        }
    }
    for hold in w.store.holds(Some(HoldState::Review)).await.unwrap() {
        let issued = records.contains_key(&hold.txn.to_string());
        if rng.chance(0.2) {
            // A retry: re-sent (within the key retention) or looked up (past it); either way
            // it must not issue a second reward — the final check counts.
            worked.retried += 1;
            match pipeline
                .review_retry(audit(), hold.txn, day, &operator(false))
                .await
            {
                Ok(after) if !after.state.is_unresolved() => {
                    worked.settled += 1;
                    continue;
                }
                Ok(_) | Err(PipelineError::Refused { .. }) => {}
                Err(e) => return Err(format!("operator retry of {}: {e}", hold.txn)),
            }
        }
        if rng.chance(wrong_action_chance) {
            match pipeline
                .review_settle(audit(), hold.txn, !issued, day, &operator(false))
                .await
            {
                Err(PipelineError::Refused { .. }) => worked.refused += 1,
                Err(PipelineError::NotReviewable { .. }) => continue,
                // Accepted: the hold is now settled against the marketplace's records, which
                // the final check finds in the audit trail (and in the ledger).
                Ok(_) => continue,
                Err(e) => return Err(format!("operator settle of {}: {e}", hold.txn)),
            }
        }
        if settle_hold(pipeline, &audit, hold.txn, issued, day, &operator).await? {
            worked.settled += 1;
        }
    }
    for reversal in w
        .store
        .reversals(Some(ReversalState::Review))
        .await
        .unwrap()
    {
        let reversed = records
            .get(&reversal.of.to_string())
            .is_some_and(|status| status == "REVERSED");
        if rng.chance(wrong_action_chance) {
            match pipeline
                .review_settle_reversal(audit(), reversal.txn, !reversed, day, &operator(false))
                .await
            {
                Err(PipelineError::Refused { .. }) => worked.refused += 1,
                Err(PipelineError::NotReviewable { .. }) => continue,
                Ok(_) => continue, // found by the final check, as above
                Err(e) => return Err(format!("operator settle of {}: {e}", reversal.txn)),
            }
        }
        let mut settled = pipeline
            .review_settle_reversal(audit(), reversal.txn, reversed, day, &operator(false))
            .await;
        if let Err(PipelineError::Refused { reason, .. }) = &settled
            && reason.contains("could not be asked")
        {
            // The lookup failed (a fault): the operator checked the records, and forces.
            settled = pipeline
                .review_settle_reversal(audit(), reversal.txn, reversed, day, &operator(true))
                .await;
        }
        match settled {
            Ok(_) => worked.settled += 1,
            Err(PipelineError::NotReviewable { .. }) => {}
            Err(e) => {
                return Err(format!(
                    "operator settle of reversal {} (reversed: {reversed}): {e}",
                    reversal.txn
                ));
            }
        }
    }
    Ok(worked)
}

/// Settles a hold as the records say; forces only when the marketplace cannot be asked.
/// Returns whether it was settled (a live run may hold it: then not, this time).
async fn settle_hold(
    pipeline: &Pipeline,
    audit: &impl Fn() -> Box<AuditLog>,
    txn: kudos_core::TxnId,
    issued: bool,
    day: Day,
    operator: &impl Fn(bool) -> Operator,
) -> Result<bool, String> {
    let mut settled = pipeline
        .review_settle(audit(), txn, issued, day, &operator(false))
        .await;
    if let Err(PipelineError::Refused { reason, .. }) = &settled
        && reason.contains("could not be asked")
    {
        settled = pipeline
            .review_settle(audit(), txn, issued, day, &operator(true))
            .await;
    }
    match settled {
        Ok(_) => Ok(true),
        Err(PipelineError::NotReviewable { .. }) => Ok(false),
        Err(e) => Err(format!(
            "operator settle of hold {txn} (issued: {issued}): {e}"
        )),
    }
}
