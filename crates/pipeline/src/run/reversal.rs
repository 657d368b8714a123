//! A reversal's life on the marketplace: sent with its stored bytes, its answer settled by the
//! reversal table ([`reversal_target`], `docs/reference/issuing.md#reversals`), re-driven by
//! every run while it is open or in doubt — whatever the agent's debt is by then — and sent
//! to review after `in_doubt_review_after_runs`, or at once when the marketplace cannot
//! reverse it.

use kudos_client::{ReverseOutcome, StatusOutcome};
use kudos_core::{AgentId, TxnId};
use kudos_ledger::{Command, LedgerError, ReversalState, ReversalView, transition_id};
use serde_json::json;

use super::{Count, PipelineError, Run, error::redact};
use crate::{AlertKind, AuditEvent};

/// What one reversal answer does: the reversal is reversed (the points come back), or it
/// moves to a state that is not final, or (nothing was sent) it stays as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReversalTarget {
    /// Record the reversal: the points come back.
    Reversed,
    /// Mark it open, in doubt or in review.
    Mark(ReversalState),
    /// Nothing reached the marketplace: it stays open, sent again at the next run.
    Unchanged,
}

/// The reversal table: the state an answer moves its reversal to. A reversal that may have
/// happened is never ended: in doubt it stays, and goes to review once recovery has tried
/// more than `review_after` times; one the marketplace refuses goes to review at once, the
/// debt kept.
pub(super) fn reversal_target(
    outcome: &ReverseOutcome,
    recovering: bool,
    attempts: u32,
    review_after: u32,
) -> ReversalTarget {
    match outcome {
        ReverseOutcome::Reversed => ReversalTarget::Reversed,
        ReverseOutcome::NotReversible | ReverseOutcome::Refused { .. } => {
            ReversalTarget::Mark(ReversalState::Review)
        }
        ReverseOutcome::InDoubt { .. } if recovering && attempts > review_after => {
            ReversalTarget::Mark(ReversalState::Review)
        }
        ReverseOutcome::InDoubt { .. } => ReversalTarget::Mark(ReversalState::InDoubt),
        ReverseOutcome::NotSent { .. } => ReversalTarget::Unchanged,
    }
}

/// The reversal id Kudos uses for a redemption: derived from it, so that a clawback, a
/// voiding the marketplace reported and an operator all name the same one reversal.
pub(super) fn reversal_id(of: TxnId) -> TxnId {
    TxnId::from_uuid(transition_id(of, "reversal", 0))
}

/// What a reversal answer was, for the audit trail.
fn reason(outcome: &ReverseOutcome) -> String {
    match outcome {
        ReverseOutcome::Reversed => "reversed".to_owned(),
        ReverseOutcome::NotReversible => "the marketplace cannot reverse it".to_owned(),
        ReverseOutcome::InDoubt { reason } | ReverseOutcome::NotSent { reason } => reason.clone(),
        ReverseOutcome::Refused { status, reason } => format!("{status}: {reason}"),
    }
}

impl Run<'_> {
    /// Sends a reversal's stored request (attempt `attempts`) and settles the answer.
    pub(super) async fn send_reversal(
        &self,
        reversal: &ReversalView,
        payload: &[u8],
        attempts: u32,
        recovering: bool,
    ) -> Result<(), PipelineError> {
        if self.lease_lost(reversal.txn) {
            return Ok(()); // another run drives it now
        }
        if self.paused().is_some() {
            return Ok(()); // paused: nothing new is sent; the next run after resuming sends it
        }
        let outcome = self
            .provider
            .reverse(reversal.txn, reversal.of, payload)
            .await;
        self.settle_reversal(reversal, attempts, &outcome, recovering)
            .await
    }

    /// Settles one reversal answer by the reversal table: recorded, marked (audited, counted
    /// and alerted), or left as it is.
    pub(super) async fn settle_reversal(
        &self,
        reversal: &ReversalView,
        attempts: u32,
        outcome: &ReverseOutcome,
        recovering: bool,
    ) -> Result<(), PipelineError> {
        let review_after = self.parts.settings.in_doubt_review_after_runs;
        let (txn, of, agent) = (reversal.txn, reversal.of, &reversal.agent);
        let who = self.pseudonym(agent);
        let debt = reversal.debt.get();
        let why = reason(outcome);
        let state = match reversal_target(outcome, recovering, attempts, review_after) {
            ReversalTarget::Reversed => {
                return self
                    .record_reversal(agent, of, txn, || {
                        format!("reversal {txn} confirmed but not recorded")
                    })
                    .await;
            }
            ReversalTarget::Unchanged => {
                self.bump(Count::ReversalsInDoubt);
                self.alert(
                    AlertKind::ReversalInDoubt,
                    format!(
                        "reversal {txn} of {of} could not be sent ({why}); the next run sends it"
                    ),
                    json!({"txn_id": txn, "of": of, "agent": who, "debt": debt}),
                )
                .await;
                return Ok(());
            }
            ReversalTarget::Mark(state) => state,
        };
        match self
            .ledger
            .execute(
                agent,
                Command::MarkReversal {
                    txn,
                    state,
                    attempts,
                },
            )
            .await
        {
            Ok(_) => {}
            Err(e @ LedgerError::Store { .. }) => return Err(e.into()),
            Err(e) => {
                self.alert(
                    AlertKind::LedgerError,
                    format!("cannot mark reversal {txn}: {}", redact(&e, agent)),
                    json!({"txn_id": txn, "of": of, "agent": who}),
                )
                .await;
                return Ok(());
            }
        }
        let event = if matches!(outcome, ReverseOutcome::NotReversible) {
            AuditEvent::ReversalRefused { txn_id: txn, of }
        } else {
            AuditEvent::ReversalFailed {
                txn_id: txn,
                of,
                reason: why.clone(),
            }
        };
        self.audit(event).await?;
        self.audit(AuditEvent::ReversalMarked {
            txn_id: txn,
            of,
            state,
            attempts,
        })
        .await?;
        let (count, kind, message) = if state == ReversalState::Review {
            let cause = match outcome {
                ReverseOutcome::InDoubt { .. } => {
                    format!("is still in doubt after {review_after} runs ({why})")
                }
                _ => format!("was refused ({why})"),
            };
            (
                Count::ReversalsReview,
                AlertKind::ReversalFailed,
                format!(
                    "reversal {txn} of {of} {cause}; the debt of {debt} stays until an operator settles it (kudos review)"
                ),
            )
        } else {
            (
                Count::ReversalsInDoubt,
                AlertKind::ReversalInDoubt,
                format!("reversal {txn} of {of} may have happened ({why}); the next run checks"),
            )
        };
        self.bump(count);
        self.alert(
            kind,
            message,
            json!({"txn_id": txn, "of": of, "agent": who, "debt": debt}),
        )
        .await;
        Ok(())
    }

    /// Re-drives a reversal an earlier run left open or in doubt: the redemption is looked up,
    /// then the reversal recorded (the marketplace reversed it), sent again with its stored
    /// bytes (the reward is still issued), or kept in doubt (the lookup could not tell).
    pub(super) async fn redrive_reversal(
        &self,
        reversal: &ReversalView,
    ) -> Result<(), PipelineError> {
        self.audit(AuditEvent::ReversalRecovering {
            txn_id: reversal.txn,
            of: reversal.of,
            state: reversal.state,
            attempts: reversal.attempts,
        })
        .await?;
        let attempts = reversal.attempts + 1;
        let outcome = match self.provider.status(reversal.of).await {
            StatusOutcome::Reversed { .. } => ReverseOutcome::Reversed,
            StatusOutcome::Issued { .. } => {
                let account = self.ledger.account(&reversal.agent).await?;
                let Some(payload) = account
                    .reversals()
                    .get(&reversal.txn)
                    .map(|r| r.payload.clone())
                else {
                    return Ok(());
                };
                return self.send_reversal(reversal, &payload, attempts, true).await;
            }
            // The ledger committed it; the marketplace says it never issued it: a person must
            // look.
            StatusOutcome::Rejected { reason } => ReverseOutcome::Refused {
                status: 200,
                reason: format!("the marketplace says the redemption was not issued ({reason})"),
            },
            StatusOutcome::NotFound => ReverseOutcome::Refused {
                status: 404,
                reason: "the marketplace has no record of the redemption".to_owned(),
            },
            StatusOutcome::Unknown { reason } => ReverseOutcome::InDoubt { reason },
        };
        self.settle_reversal(reversal, attempts, &outcome, true)
            .await
    }

    /// Records in the ledger that the marketplace voided the committed reward `of` (a
    /// lookup said `REVERSED`): its points go back, under the reversal id a clawback would
    /// use, so the two never both count.
    pub(super) async fn record_voided(
        &self,
        agent: &AgentId,
        of: TxnId,
    ) -> Result<(), PipelineError> {
        self.record_reversal(agent, of, reversal_id(of), || {
            format!("reward {of} was voided at the marketplace but cannot be recorded")
        })
        .await
    }

    /// Records a reversal the marketplace made (a clawback's, or a voiding it reported) as the
    /// ledger's `Reverse`: the points go back; counted once, audited. A ledger refusal is an
    /// alert (`what` says what could not be recorded); a store failure stops the run.
    pub(super) async fn record_reversal(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reversal_table() {
        use ReversalState::{InDoubt, Review};
        use ReversalTarget::{Mark, Reversed, Unchanged};
        let doubt = ReverseOutcome::InDoubt {
            reason: "timeout".into(),
        };
        let refused = ReverseOutcome::Refused {
            status: 422,
            reason: "no".into(),
        };
        let not_sent = ReverseOutcome::NotSent {
            reason: "circuit open".into(),
        };
        // (outcome, recovering, attempts, review_after) -> target
        let table: &[(ReverseOutcome, bool, u32, u32, ReversalTarget)] = &[
            (ReverseOutcome::Reversed, false, 1, 2, Reversed),
            (ReverseOutcome::Reversed, true, 9, 2, Reversed),
            (ReverseOutcome::NotReversible, false, 1, 2, Mark(Review)),
            (refused.clone(), false, 1, 2, Mark(Review)),
            (refused, true, 9, 2, Mark(Review)),
            (doubt.clone(), false, 1, 2, Mark(InDoubt)),
            // A run's own answers never go to review by count: only recovery's do.
            (doubt.clone(), false, 9, 2, Mark(InDoubt)),
            (doubt.clone(), true, 2, 2, Mark(InDoubt)),
            (doubt, true, 3, 2, Mark(Review)),
            (not_sent.clone(), false, 1, 2, Unchanged),
            (not_sent, true, 9, 2, Unchanged),
        ];
        for (outcome, recovering, attempts, review_after, want) in table {
            assert_eq!(
                reversal_target(outcome, *recovering, *attempts, *review_after),
                *want,
                "{outcome:?} recovering={recovering} attempts={attempts}"
            );
        }
    }

    #[test]
    fn a_reversal_that_may_have_happened_is_never_ended() {
        let outcomes = [
            ReverseOutcome::InDoubt { reason: "x".into() },
            ReverseOutcome::NotSent { reason: "x".into() },
            ReverseOutcome::NotReversible,
        ];
        for outcome in outcomes {
            for attempts in 0..6 {
                for recovering in [false, true] {
                    assert_ne!(
                        reversal_target(&outcome, recovering, attempts, 2),
                        ReversalTarget::Mark(ReversalState::NotReversed),
                        "{outcome:?}"
                    );
                }
            }
        }
    }
}
