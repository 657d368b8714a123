//! Planning a command against an account: validation and idempotency decide what, if
//! anything, it appends. One function per command.

use kudos_core::{Day, PointEvent, Points, Tier, TxnId};
use uuid::Uuid;

use super::{Account, Hold};
use crate::entry::transition_id;
use crate::{Entry, HoldState, LedgerError, Op};

/// An operation to plan against an account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Record the points of an event; lots it makes expire on `expires`.
    Accrue {
        /// The event.
        event: PointEvent,
        /// Expiry of the lots it makes (the event's day + the rule set's window).
        expires: Day,
    },
    /// An operator's adjustment.
    Adjust {
        /// The adjustment's id (idempotency).
        id: Uuid,
        /// The day it counts on.
        day: Day,
        /// The points (not zero).
        points: Points,
        /// Expiry of the lot it makes, when positive.
        expires: Day,
        /// Why.
        reason: String,
    },
    /// Reserve a tier's cost for a reward request.
    Hold {
        /// The request's idempotency key.
        txn: TxnId,
        /// The run's day.
        day: Day,
        /// The tier.
        tier: Tier,
        /// The request payload, fixed now.
        payload: Vec<u8>,
    },
    /// Move an unresolved hold to `open`, `in_doubt` or `review`, with its attempt count.
    Mark {
        /// The hold.
        txn: TxnId,
        /// The new state.
        state: HoldState,
        /// Attempts so far.
        attempts: u32,
    },
    /// The reward was issued.
    Commit {
        /// The hold.
        txn: TxnId,
    },
    /// The reward was not issued.
    Release {
        /// The hold.
        txn: TxnId,
        /// The day of the release.
        day: Day,
    },
    /// The marketplace confirmed a reversal of a committed redemption.
    Reverse {
        /// The reversal's own idempotency key.
        txn: TxnId,
        /// The redemption reversed.
        of: TxnId,
        /// The day of the reversal.
        day: Day,
    },
}

/// What planning a command decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to append: the operation is already recorded (the entry, when there is one)
    /// or changes nothing (an accrual with the same points).
    Nothing(Option<Entry>),
    /// Append an entry with this id and operation.
    Append(Uuid, Op),
}

impl Account {
    /// Decides what a command appends, checking it against the account.
    ///
    /// # Errors
    ///
    /// When the command is refused: an id reused with other content, an unresolved hold
    /// already there, a balance below the threshold, an unknown or already resolved hold…
    pub fn plan(&self, command: &Command) -> Result<Plan, LedgerError> {
        match command {
            Command::Accrue { event, expires } => self.plan_accrue(event, *expires),
            Command::Adjust {
                id,
                day,
                points,
                expires,
                reason,
            } => self.plan_adjust(*id, *day, *points, *expires, reason),
            Command::Hold {
                txn,
                day,
                tier,
                payload,
            } => self.plan_hold(*txn, *day, tier, payload),
            Command::Mark {
                txn,
                state,
                attempts,
            } => self.plan_mark(*txn, *state, *attempts),
            Command::Commit { txn } => {
                self.plan_resolve(*txn, HoldState::Committed, Op::Commit { txn: *txn })
            }
            Command::Release { txn, day } => self.plan_resolve(
                *txn,
                HoldState::Released,
                Op::Release {
                    txn: *txn,
                    day: *day,
                },
            ),
            Command::Reverse { txn, of, day } => self.plan_reverse(*txn, *of, *day),
        }
    }

    fn invalid(&self, reason: String) -> LedgerError {
        LedgerError::Invalid {
            agent: self.agent.clone(),
            reason,
        }
    }

    /// An accrual: idempotent by key and points (the same points again append nothing).
    fn plan_accrue(&self, event: &PointEvent, expires: Day) -> Result<Plan, LedgerError> {
        if event.agent() != &self.agent {
            return Err(self.invalid(format!("event for agent {} on this account", event.agent())));
        }
        if expires <= event.day() {
            return Err(self.invalid(format!(
                "expiry {expires} is not after the event's day {}",
                event.day()
            )));
        }
        let before = self.accruals.get(&event.id()).copied();
        if before == Some(event.points()) || (before.is_none() && event.points().is_zero()) {
            return Ok(Plan::Nothing(None));
        }
        Ok(Plan::Append(
            event.id(),
            Op::Accrual {
                key: event.key().clone(),
                points: event.points(),
                expires,
            },
        ))
    }

    /// An operator's adjustment: not zero, expiring after its day; idempotent by id.
    fn plan_adjust(
        &self,
        id: Uuid,
        day: Day,
        points: Points,
        expires: Day,
        reason: &str,
    ) -> Result<Plan, LedgerError> {
        if points.is_zero() {
            return Err(self.invalid("an adjustment of zero points".to_owned()));
        }
        if expires <= day {
            return Err(self.invalid(format!("expiry {expires} is not after the day {day}")));
        }
        let op = Op::Adjustment {
            day,
            points,
            expires,
            reason: reason.to_owned(),
        };
        self.idempotent(id, op)
    }

    /// A hold: idempotent by its transaction id; otherwise refused while another hold is
    /// unresolved or when the balance on its day is below the tier's threshold.
    fn plan_hold(
        &self,
        txn: TxnId,
        day: Day,
        tier: &Tier,
        payload: &[u8],
    ) -> Result<Plan, LedgerError> {
        let op = Op::Hold {
            txn,
            day,
            tier: tier.id().clone(),
            reward_type: tier.reward_type().clone(),
            cost: tier.cost(),
            payload: payload.to_vec(),
        };
        if self.ops.contains_key(txn.as_uuid()) {
            return self.idempotent(*txn.as_uuid(), op);
        }
        if let Some(open) = self.unresolved_hold() {
            return Err(LedgerError::HoldUnresolved {
                agent: self.agent.clone(),
                txn: open.txn,
            });
        }
        let balance = self.balance(day).balance;
        if balance < tier.threshold() {
            return Err(LedgerError::Insufficient {
                agent: self.agent.clone(),
                day,
                balance,
                threshold: tier.threshold(),
            });
        }
        Ok(Plan::Append(*txn.as_uuid(), op))
    }

    /// A mark of an unresolved hold as open, in doubt or in review, with its attempts.
    fn plan_mark(&self, txn: TxnId, state: HoldState, attempts: u32) -> Result<Plan, LedgerError> {
        let hold = self.hold(txn)?;
        if !state.is_unresolved() {
            return Err(self.invalid(format!(
                "a hold is marked open, in_doubt or review, not {}",
                state.name()
            )));
        }
        if !hold.state.is_unresolved() {
            return Err(LedgerError::AlreadyResolved {
                txn,
                state: hold.state.name(),
                asked: state.name(),
            });
        }
        if hold.state == state && hold.attempts == attempts {
            return Ok(Plan::Nothing(None));
        }
        let id = transition_id(txn, state.name(), attempts);
        self.idempotent(
            id,
            Op::Mark {
                txn,
                state,
                attempts,
            },
        )
    }

    /// A commit or release (`to`) of an unresolved hold; the same resolution again is
    /// nothing, the other one is refused.
    fn plan_resolve(&self, txn: TxnId, to: HoldState, op: Op) -> Result<Plan, LedgerError> {
        let hold = self.hold(txn)?;
        let asked = if to == HoldState::Committed {
            "committed"
        } else {
            "released"
        };
        if hold.state == to {
            let id = transition_id(txn, to.name(), 0);
            return Ok(Plan::Nothing(self.ops.get(&id).cloned()));
        }
        if !hold.state.is_unresolved() {
            return Err(LedgerError::AlreadyResolved {
                txn,
                state: hold.state.name(),
                asked,
            });
        }
        Ok(Plan::Append(transition_id(txn, to.name(), 0), op))
    }

    /// A reversal of a committed, not yet reversed redemption; idempotent by its own id.
    fn plan_reverse(&self, txn: TxnId, of: TxnId, day: Day) -> Result<Plan, LedgerError> {
        let op = Op::Reversal { txn, of, day };
        if self.ops.contains_key(txn.as_uuid()) {
            return self.idempotent(*txn.as_uuid(), op);
        }
        let hold = self.hold(of)?;
        if hold.state != HoldState::Committed {
            return Err(LedgerError::NotCommitted {
                txn: of,
                state: hold.state.name(),
            });
        }
        if let Some(by) = hold.reversed_by {
            return Err(LedgerError::AlreadyReversed { txn: of, by });
        }
        Ok(Plan::Append(*txn.as_uuid(), op))
    }

    fn hold(&self, txn: TxnId) -> Result<&Hold, LedgerError> {
        self.holds
            .get(&txn)
            .ok_or_else(|| LedgerError::UnknownHold {
                agent: self.agent.clone(),
                txn,
            })
    }

    /// Appends `op` under `id` unless `id` is already recorded: the same operation again is
    /// nothing, another one under the same id is refused.
    fn idempotent(&self, id: Uuid, op: Op) -> Result<Plan, LedgerError> {
        match self.ops.get(&id) {
            None => Ok(Plan::Append(id, op)),
            Some(first) if first.op == op => Ok(Plan::Nothing(Some(first.clone()))),
            Some(first) => Err(LedgerError::IdReused {
                id,
                first: describe(&first.op),
                second: describe(&op),
            }),
        }
    }
}

/// A short description of an operation for errors.
fn describe(op: &Op) -> String {
    match op {
        Op::Accrual { key, points, .. } => format!("accrual of {points} for {}", key.id()),
        Op::Adjustment {
            day,
            points,
            reason,
            ..
        } => format!("adjustment of {points} on {day} ({reason:?})"),
        Op::Hold {
            txn, tier, cost, ..
        } => format!("hold {txn} of {cost} for tier {tier}"),
        Op::Mark {
            txn,
            state,
            attempts,
        } => format!(
            "mark of {txn} as {} after {attempts} attempts",
            state.name()
        ),
        Op::Commit { txn } => format!("commit of {txn}"),
        Op::Release { txn, day } => format!("release of {txn} on {day}"),
        Op::Reversal { txn, of, day } => format!("reversal {txn} of {of} on {day}"),
    }
}
