//! Planning a command against an account: validation and idempotency decide what, if
//! anything, it appends. One function per command.

use kudos_core::{Day, PointEvent, Points, Tier, TxnId};
use uuid::Uuid;

use super::{Account, Hold, Reversal};
use crate::entry::transition_id;
use crate::{Entry, HoldState, LedgerError, Op, ReversalState};

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
    /// Move an unresolved hold to `open`, `in_doubt` or `review`, with its attempt count; or
    /// a hold never sent to `awaiting_approval` (and, approved, back to `open`).
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
    /// Record a reversal (clawback) of a committed redemption before its request is sent.
    RequestReversal {
        /// The reversal's own idempotency key.
        txn: TxnId,
        /// The redemption to reverse.
        of: TxnId,
        /// The run's day.
        day: Day,
        /// The agent's debt now.
        debt: Points,
        /// The request body, fixed now.
        payload: Vec<u8>,
    },
    /// Move an unresolved reversal to `open`, `in_doubt` or `review`, with its attempt count.
    MarkReversal {
        /// The reversal.
        txn: TxnId,
        /// The new state.
        state: ReversalState,
        /// Attempts so far.
        attempts: u32,
    },
    /// The reversal did not happen and is not to be re-driven: the redemption and the debt
    /// stay.
    EndReversal {
        /// The reversal.
        txn: TxnId,
    },
    /// The marketplace confirmed a reversal of a committed redemption (a requested one, or
    /// a voiding it reported).
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
            Command::RequestReversal {
                txn,
                of,
                day,
                debt,
                payload,
            } => self.plan_request_reversal(*txn, *of, *day, *debt, payload),
            Command::MarkReversal {
                txn,
                state,
                attempts,
            } => self.plan_mark_reversal(*txn, *state, *attempts),
            Command::EndReversal { txn } => self.plan_end_reversal(*txn),
        }
    }

    pub(super) fn invalid(&self, reason: String) -> LedgerError {
        LedgerError::Invalid {
            agent: self.agent.clone(),
            reason,
        }
    }

    /// An accrual: idempotent by key and points (the same points again append nothing).
    fn plan_accrue(&self, event: &PointEvent, expires: Day) -> Result<Plan, LedgerError> {
        let Some(id) = self.accrual_id(event, expires)? else {
            return Ok(Plan::Nothing(None));
        };
        Ok(Plan::Append(
            id,
            Op::Accrual {
                key: event.key().clone(),
                points: event.points(),
                expires,
            },
        ))
    }

    /// The id an accrual of `event` appends, or `None` when it appends nothing (the same
    /// points again, or zero points for a key never accrued).
    fn accrual_id(&self, event: &PointEvent, expires: Day) -> Result<Option<Uuid>, LedgerError> {
        if event.agent() != &self.agent {
            return Err(self.invalid(format!("event for agent {} on this account", event.agent())));
        }
        // The event's id, with this agent's share of the hashing done once per account.
        let id = self
            .key_ids
            .get_or_init(|| Box::new(kudos_core::AgentKeyIds::new(self.agent.clone())))
            .id(event.key());
        Ok(self
            .accrual_changes(id, event.day(), event.points(), expires)?
            .then_some(id))
    }

    /// Whether an accrual of `points` to the key with id `id`, on `day`, its lots expiring on
    /// `expires`, changes the account: not when the key already has these points, or has none
    /// and these are zero. Refused when the expiry is not after the day.
    pub(super) fn accrual_changes(
        &self,
        id: Uuid,
        day: Day,
        points: Points,
        expires: Day,
    ) -> Result<bool, LedgerError> {
        if expires <= day {
            return Err(self.invalid(format!(
                "expiry {expires} is not after the event's day {day}"
            )));
        }
        let before = self.accruals.get(&id).copied();
        Ok(before != Some(points) && (before.is_some() || !points.is_zero()))
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
                "a hold is marked awaiting_approval, open, in_doubt or review, not {}",
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
        // A hold awaits approval only from the start (never sent), and leaves it only when
        // approved (to open, still unsent) or rejected (released): nothing else may send it.
        if state == HoldState::AwaitingApproval
            && (hold.state != HoldState::Open || hold.attempts != 0 || attempts != 0)
        {
            return Err(self.invalid(format!(
                "hold {txn} cannot await approval: it is {} after {} attempts (only a hold never sent can)",
                hold.state.name(),
                hold.attempts
            )));
        }
        if hold.state == HoldState::AwaitingApproval && (state != HoldState::Open || attempts != 0)
        {
            return Err(self.invalid(format!(
                "hold {txn} awaits approval: approve it (open) or reject it (release), not {}",
                state.name()
            )));
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
        if hold.state == HoldState::AwaitingApproval && to == HoldState::Committed {
            return Err(self.invalid(format!(
                "hold {txn} awaits approval and was never sent: it cannot be committed"
            )));
        }
        Ok(Plan::Append(transition_id(txn, to.name(), 0), op))
    }

    /// A confirmed reversal of a committed, not yet reversed redemption; idempotent. One
    /// recorded by a request first is appended under an id derived from it; one without (a
    /// voiding the marketplace reported) under its own id.
    fn plan_reverse(&self, txn: TxnId, of: TxnId, day: Day) -> Result<Plan, LedgerError> {
        let op = Op::Reversal { txn, of, day };
        if let Some(reversal) = self.reversals.get(&txn) {
            if reversal.of != of {
                return Err(
                    self.invalid(format!("reversal {txn} is of {}, not of {of}", reversal.of))
                );
            }
            if reversal.state == ReversalState::Reversed {
                let recorded = self
                    .ops
                    .get(txn.as_uuid())
                    .filter(|e| matches!(e.op, Op::Reversal { .. }));
                let found = recorded
                    .or_else(|| self.ops.get(&transition_id(txn, "reversed", 0)))
                    .cloned();
                return Ok(Plan::Nothing(found));
            }
            let hold = self.hold(of)?;
            if let Some(by) = hold.reversed_by {
                return Err(LedgerError::AlreadyReversed { txn: of, by });
            }
            return Ok(Plan::Append(transition_id(txn, "reversed", 0), op));
        }
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

    /// A reversal request for a committed redemption not reversed and not asked to be
    /// reversed before; idempotent by its own id.
    fn plan_request_reversal(
        &self,
        txn: TxnId,
        of: TxnId,
        day: Day,
        debt: Points,
        payload: &[u8],
    ) -> Result<Plan, LedgerError> {
        let op = Op::ReversalRequest {
            txn,
            of,
            day,
            debt,
            payload: payload.to_vec(),
        };
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
        if let Some(other) = self.reversals.values().find(|r| r.of == of) {
            return Err(self.invalid(format!(
                "redemption {of} already has reversal {} ({})",
                other.txn,
                other.state.name()
            )));
        }
        Ok(Plan::Append(*txn.as_uuid(), op))
    }

    /// A mark of an unresolved reversal as open, in doubt or in review, with its attempts.
    fn plan_mark_reversal(
        &self,
        txn: TxnId,
        state: ReversalState,
        attempts: u32,
    ) -> Result<Plan, LedgerError> {
        let reversal = self.reversal(txn)?;
        if !state.is_unresolved() {
            return Err(self.invalid(format!(
                "a reversal is marked open, in_doubt or review, not {}",
                state.name()
            )));
        }
        if !reversal.state.is_unresolved() {
            return Err(LedgerError::AlreadyResolved {
                txn,
                state: reversal.state.name(),
                asked: state.name(),
            });
        }
        if reversal.state == state && reversal.attempts == attempts {
            return Ok(Plan::Nothing(None));
        }
        self.idempotent(
            transition_id(txn, state.name(), attempts),
            Op::ReversalMark {
                txn,
                state,
                attempts,
            },
        )
    }

    /// The end of an unresolved reversal, not reversed; the same again is nothing, a
    /// reversed one is refused.
    fn plan_end_reversal(&self, txn: TxnId) -> Result<Plan, LedgerError> {
        let reversal = self.reversal(txn)?;
        let id = transition_id(txn, ReversalState::NotReversed.name(), 0);
        match reversal.state {
            ReversalState::NotReversed => Ok(Plan::Nothing(self.ops.get(&id).cloned())),
            ReversalState::Reversed => Err(LedgerError::AlreadyResolved {
                txn,
                state: reversal.state.name(),
                asked: ReversalState::NotReversed.name(),
            }),
            _ => Ok(Plan::Append(id, Op::ReversalEnd { txn })),
        }
    }

    fn reversal(&self, txn: TxnId) -> Result<&Reversal, LedgerError> {
        self.reversals
            .get(&txn)
            .ok_or_else(|| LedgerError::UnknownReversal {
                agent: self.agent.clone(),
                txn,
            })
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
        Op::ReversalRequest { txn, of, day, .. } => {
            format!("reversal request {txn} of {of} on {day}")
        }
        Op::ReversalMark {
            txn,
            state,
            attempts,
        } => format!(
            "mark of reversal {txn} as {} after {attempts} attempts",
            state.name()
        ),
        Op::ReversalEnd { txn } => format!("end of reversal {txn}, not reversed"),
        Op::Reversal { txn, of, day } => format!("reversal {txn} of {of} on {day}"),
    }
}
