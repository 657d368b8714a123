//! The settle step: each marketplace answer becomes a hold state by the outcome table
//! ([`target_state`], `docs/reference/issuing.md`), appended to the ledger in batches, then
//! audited and alerted.

use std::sync::PoisonError;

use kudos_client::Outcome;
use kudos_core::{AgentId, TxnId};
use kudos_ledger::{Account, AccountCommands, Command, HoldState, LedgerError};
use serde_json::json;

use super::{BATCH, Count, PipelineError, Run, error::redact};
use crate::{AlertKind, AnswerKind, AuditEvent};

/// A marketplace answer, to settle.
pub(super) struct Answered {
    pub(super) agent: AgentId,
    pub(super) txn: TxnId,
    /// Requests sent for the hold so far, this one included.
    pub(super) attempts: u32,
    pub(super) outcome: Outcome,
}

/// How an agent's issuing goes on: issue the next reward, or stop for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    Continue,
    Stop,
}

/// An agent whose answer was settled, and how its issuing goes on.
pub(super) struct Settled {
    pub(super) agent: AgentId,
    pub(super) next: Next,
}

impl Settled {
    fn stop(agent: AgentId) -> Self {
        Self {
            agent,
            next: Next::Stop,
        }
    }
}

/// The outcome table: the state an answer moves its hold to, or `None` when nothing was sent
/// (the hold waits, open). A reward that may have been issued is never released: in doubt
/// it stays, and goes to review once recovery has tried more than `review_after` times.
pub(super) fn target_state(
    outcome: &Outcome,
    recovering: bool,
    attempts: u32,
    review_after: u32,
) -> Option<HoldState> {
    match outcome {
        Outcome::Issued { .. } => Some(HoldState::Committed),
        // Nothing was issued: the funds did not cover it. The reward waits for funds.
        Outcome::Rejected { .. } | Outcome::Unfunded { .. } => Some(HoldState::Released),
        Outcome::InDoubt { .. } if recovering && attempts > review_after => Some(HoldState::Review),
        Outcome::InDoubt { .. } => Some(HoldState::InDoubt),
        Outcome::NeedsReview { .. } => Some(HoldState::Review),
        Outcome::NotSent { .. } => None,
        // An outcome this release does not know: it may have issued.
        _ => Some(HoldState::InDoubt),
    }
}

impl Run<'_> {
    /// Settles one answer by the outcome table (`docs/reference/issuing.md`).
    pub(super) async fn settle(
        &self,
        agent: &AgentId,
        txn: TxnId,
        attempts: u32,
        outcome: Outcome,
        recovering: bool,
    ) -> Result<Next, PipelineError> {
        let answered = Answered {
            agent: agent.clone(),
            txn,
            attempts,
            outcome,
        };
        let mut settled = self.settle_many(vec![answered], recovering).await?;
        Ok(settled.pop().map_or(Next::Stop, |s| s.next))
    }

    /// Settles answers by the outcome table, in batches: the answers are audited, the ledger
    /// changes appended together, then what became of each hold is audited and alerted.
    /// Returns each agent and whether it may go on to its next reward.
    pub(super) async fn settle_many(
        &self,
        answers: Vec<Answered>,
        recovering: bool,
    ) -> Result<Vec<Settled>, PipelineError> {
        let review_after = self.parts.settings.in_doubt_review_after_runs;
        let mut out = Vec::with_capacity(answers.len());
        let mut rest = answers;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(BATCH));
            let chunk = std::mem::replace(&mut rest, tail);
            let mut records = Vec::with_capacity(chunk.len());
            for a in &chunk {
                let Described { kind, reason } = describe(&a.outcome);
                tracing::info!(txn = %a.txn, agent = %self.pseudonym(&a.agent), outcome = kind.name(), "answered");
                records.push(AuditEvent::RewardAnswered {
                    txn_id: a.txn,
                    outcome: kind,
                    reason,
                    attempts: a.attempts,
                });
            }
            self.audit_many(&records).await?;
            // What each answer does to its hold: the state it goes to, if any.
            let targets: Vec<Option<HoldState>> = chunk
                .iter()
                .map(|a| target_state(&a.outcome, recovering, a.attempts, review_after))
                .collect();
            let work: Vec<AccountCommands> = chunk
                .iter()
                .zip(&targets)
                .filter_map(|(a, to)| {
                    let (txn, attempts) = (a.txn, a.attempts);
                    let command = match (*to)? {
                        HoldState::Committed => Command::Commit { txn },
                        HoldState::Released => Command::Release {
                            txn,
                            day: self.as_of,
                        },
                        state => Command::Mark {
                            txn,
                            state,
                            attempts,
                        },
                    };
                    Some(AccountCommands::new(a.agent.clone(), vec![command]))
                })
                .collect();
            let mut results = if work.is_empty() {
                Vec::new()
            } else {
                // The accounts as this round's holds left them, when every one is at hand.
                let held: Option<Vec<Account>> = {
                    let mut held = self
                        .held_accounts
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    chunk
                        .iter()
                        .zip(&targets)
                        .filter(|(_, to)| to.is_some())
                        .map(|(a, _)| held.remove(&a.txn))
                        .collect()
                };
                match held {
                    Some(accounts) => self.ledger.execute_many_on(&work, accounts).await?,
                    None => self.ledger.execute_many(&work).await?,
                }
            }
            .into_iter();
            let mut records = Vec::new();
            let mut alerts = Vec::new();
            let mut resolved = Vec::new();
            for (a, to) in chunk.into_iter().zip(targets) {
                let who = self.pseudonym(&a.agent);
                let txn = a.txn;
                let Some(to) = to else {
                    out.push(Settled::stop(a.agent)); // not sent: the hold waits, open
                    continue;
                };
                match results.next() {
                    Some(Err(e @ LedgerError::Store { .. })) => return Err(e.into()),
                    Some(Err(e)) => {
                        alerts.push((
                            AlertKind::LedgerError,
                            format!("cannot settle reward {txn}: {}", redact(&e, &a.agent)),
                            json!({"txn_id": txn, "agent": who}),
                        ));
                        out.push(Settled::stop(a.agent));
                        continue;
                    }
                    Some(Ok(_)) | None => {}
                }
                if matches!(to, HoldState::Committed | HoldState::Released) {
                    resolved.push(txn);
                }
                let why = describe(&a.outcome).reason;
                let data = json!({"txn_id": txn, "agent": who, "reason": why});
                if recovering && matches!(to, HoldState::Committed | HoldState::Released) {
                    self.bump(Count::Recovered);
                }
                let next = match to {
                    HoldState::Committed => {
                        self.bump(Count::Issued);
                        records.push(AuditEvent::HoldCommitted { txn_id: txn });
                        Next::Continue
                    }
                    HoldState::Released if matches!(a.outcome, Outcome::Unfunded { .. }) => {
                        self.bump(Count::Released);
                        records.push(AuditEvent::HoldReleased { txn_id: txn });
                        self.out_of_funds(&a.agent, &why);
                        Next::Stop
                    }
                    HoldState::Released => {
                        self.bump(Count::Rejected);
                        self.bump(Count::Released);
                        records.push(AuditEvent::HoldReleased { txn_id: txn });
                        alerts.push((
                            AlertKind::RewardRejected,
                            format!("the marketplace rejected reward {txn}: {why}; its points were released"),
                            data,
                        ));
                        Next::Stop
                    }
                    state => {
                        let (counter, kind, message) = match (&a.outcome, state) {
                            (Outcome::NeedsReview { status, reason }, _) => (
                                Count::Review,
                                AlertKind::Review,
                                format!(
                                    "reward {txn} got {status} ({reason}); it needs an operator (kudos review)"
                                ),
                            ),
                            (_, HoldState::Review) => (
                                Count::Review,
                                AlertKind::Review,
                                format!(
                                    "reward {txn} is still in doubt after {review_after} runs ({why}); it needs an operator (kudos review)"
                                ),
                            ),
                            _ => (
                                Count::InDoubt,
                                AlertKind::InDoubt,
                                format!(
                                    "reward {txn} may have been issued ({why}); the next run checks"
                                ),
                            ),
                        };
                        self.bump(counter);
                        records.push(AuditEvent::HoldMarked {
                            txn_id: txn,
                            state,
                            attempts: a.attempts,
                        });
                        alerts.push((kind, message, data));
                        Next::Stop
                    }
                };
                out.push(Settled {
                    agent: a.agent,
                    next,
                });
            }
            // A resolved hold needs no lease: no run takes it up again, so this one neither
            // renews nor ends it.
            self.drop_leases(&resolved);
            self.audit_many(&records).await?;
            for (kind, message, data) in alerts {
                self.alert(kind, message, data).await;
            }
        }
        Ok(out)
    }

    pub(super) async fn resolve(
        &self,
        agent: &AgentId,
        command: Command,
    ) -> Result<(), PipelineError> {
        self.ledger.execute(agent, command).await?;
        Ok(())
    }
}

/// An outcome as the audit trail and the log tell it.
struct Described {
    /// What the answer was.
    kind: AnswerKind,
    /// The reward id, or what happened.
    reason: String,
}

/// The outcome's name and reason, for the audit trail.
fn describe(outcome: &Outcome) -> Described {
    let (kind, reason) = match outcome {
        Outcome::Issued { reward_id } => (AnswerKind::Issued, reward_id.clone()),
        Outcome::Rejected { reason } => (AnswerKind::Rejected, reason.clone()),
        Outcome::InDoubt { reason } => (AnswerKind::InDoubt, reason.clone()),
        Outcome::NeedsReview { status, reason } => {
            (AnswerKind::Review, format!("{status}: {reason}"))
        }
        Outcome::NotSent { reason } => (AnswerKind::NotSent, reason.clone()),
        Outcome::Unfunded { reason } => (AnswerKind::Unfunded, reason.clone()),
        other => (AnswerKind::InDoubt, format!("{other:?}")),
    };
    Described { kind, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued() -> Outcome {
        Outcome::Issued {
            reward_id: "r-1".into(),
        }
    }
    fn rejected() -> Outcome {
        Outcome::Rejected {
            reason: "no stock".into(),
        }
    }
    fn in_doubt() -> Outcome {
        Outcome::InDoubt {
            reason: "timeout".into(),
        }
    }
    fn review() -> Outcome {
        Outcome::NeedsReview {
            status: 422,
            reason: "payload".into(),
        }
    }
    fn not_sent() -> Outcome {
        Outcome::NotSent {
            reason: "circuit open".into(),
        }
    }

    #[test]
    fn the_outcome_table() {
        use HoldState::{Committed, InDoubt, Released, Review};
        // (outcome, recovering, attempts, review_after) -> state
        let table: &[(Outcome, bool, u32, u32, Option<HoldState>)] = &[
            (issued(), false, 1, 3, Some(Committed)),
            (issued(), true, 9, 3, Some(Committed)),
            (rejected(), false, 1, 3, Some(Released)),
            (rejected(), true, 9, 3, Some(Released)),
            (in_doubt(), false, 1, 3, Some(InDoubt)),
            // A run's own answers never go to review by count: only recovery's do.
            (in_doubt(), false, 9, 3, Some(InDoubt)),
            (in_doubt(), true, 3, 3, Some(InDoubt)),
            (in_doubt(), true, 4, 3, Some(Review)),
            (in_doubt(), true, 1, 0, Some(Review)),
            (review(), false, 1, 3, Some(Review)),
            (review(), true, 1, 3, Some(Review)),
            (not_sent(), false, 1, 3, None),
            (not_sent(), true, 9, 3, None),
        ];
        for (outcome, recovering, attempts, review_after, want) in table {
            assert_eq!(
                target_state(outcome, *recovering, *attempts, *review_after),
                *want,
                "{outcome:?} recovering={recovering} attempts={attempts} review_after={review_after}"
            );
        }
    }

    #[test]
    fn a_reward_that_may_have_been_issued_is_never_released() {
        for outcome in [in_doubt(), review(), not_sent(), issued()] {
            for attempts in 0..6 {
                for recovering in [false, true] {
                    assert_ne!(
                        target_state(&outcome, recovering, attempts, 2),
                        Some(HoldState::Released),
                        "{outcome:?}"
                    );
                }
            }
        }
    }
}
