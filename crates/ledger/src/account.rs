//! One agent's account: the state its entries fold into, the queries on it, and the planning
//! of new operations (validation and idempotency) against it. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kudos_core::{AgentId, CoreError, Day, PointEvent, Points, RewardType, Tier, TierId, TxnId};
use serde::Serialize;
use uuid::Uuid;

use crate::entry::transition_id;
use crate::{Entry, HoldState, LedgerError, Op};

/// Points on a day, that expire: `{day, expires, remaining}`. Live on `d` when
/// `day <= d < expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lot {
    /// The position of the entry that made it (unique within the account).
    pub seq: u64,
    /// The accrual key id or adjustment id it came from.
    pub source: Uuid,
    /// Its day.
    pub day: Day,
    /// First day it is no longer live.
    pub expires: Day,
    /// Points left (reserved ones included).
    pub remaining: Points,
    /// Points of `remaining` reserved by unresolved holds.
    pub reserved: Points,
}

impl Lot {
    /// Whether the lot is live on `day`.
    #[must_use]
    pub fn live_on(&self, day: Day) -> bool {
        self.day <= day && day < self.expires
    }

    fn unreserved(&self) -> Points {
        Points::new(self.remaining.get() - self.reserved.get())
    }
}

/// A hold and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// The reward request's idempotency key.
    pub txn: TxnId,
    /// The day it was made on.
    pub day: Day,
    /// The tier.
    pub tier: TierId,
    /// The reward type.
    pub reward_type: RewardType,
    /// The points reserved.
    pub cost: Points,
    /// The request payload, fixed when the hold was made.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// Its state.
    pub state: HoldState,
    /// How many times its request was sent.
    pub attempts: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Which lots it reserved, and how much of each: (lot seq, points).
    pub lots: Vec<(u64, Points)>,
    /// The reversal that clawed it back, if any.
    pub reversed_by: Option<TxnId>,
    /// When it was committed, if it was.
    pub committed_at: Option<DateTime<Utc>>,
}

/// The figures `ledger balance` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Unreserved remaining points of the lots live on the day.
    pub available: Points,
    /// Points reserved by unresolved holds.
    pub reserved: Points,
    /// Debt.
    pub debt: Points,
    /// `available - debt` (may be negative).
    pub balance: Points,
}

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

/// One agent's account, folded from its entries.
#[derive(Debug, Clone)]
pub struct Account {
    agent: AgentId,
    version: u64,
    /// Lots in consumption order: oldest day first, then by source, then by creation.
    lots: Vec<Lot>,
    debt: Points,
    /// Current points of each accrual key.
    accruals: HashMap<Uuid, Points>,
    holds: BTreeMap<TxnId, Hold>,
    /// Non-accrual entries by id, for idempotency.
    ops: HashMap<Uuid, Entry>,
    /// Entries in append order.
    entries: Vec<Entry>,
}

fn ovf(agent: &AgentId) -> impl Fn(CoreError) -> LedgerError + '_ {
    move |source| LedgerError::Overflow {
        agent: agent.clone(),
        source,
    }
}

impl Account {
    /// An empty account.
    #[must_use]
    pub fn new(agent: AgentId) -> Self {
        Self {
            agent,
            version: 0,
            lots: Vec::new(),
            debt: Points::ZERO,
            accruals: HashMap::new(),
            holds: BTreeMap::new(),
            ops: HashMap::new(),
            entries: Vec::new(),
        }
    }

    /// Folds entries, in append order, into an account.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Corrupt`] when an entry cannot be applied.
    pub fn from_entries(
        agent: AgentId,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Self, LedgerError> {
        let mut account = Self::new(agent);
        for entry in entries {
            account.apply(entry)?;
        }
        Ok(account)
    }

    /// The agent.
    #[must_use]
    pub fn agent(&self) -> &AgentId {
        &self.agent
    }

    /// The number of entries applied (the store's version of the account).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The entries, in append order.
    #[must_use]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The lots, in consumption order.
    #[must_use]
    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }

    /// The holds, by transaction id.
    #[must_use]
    pub fn holds(&self) -> &BTreeMap<TxnId, Hold> {
        &self.holds
    }

    /// The unresolved hold, if any (there is at most one).
    #[must_use]
    pub fn unresolved_hold(&self) -> Option<&Hold> {
        self.holds.values().find(|h| h.state.is_unresolved())
    }

    /// The debt.
    #[must_use]
    pub fn debt(&self) -> Points {
        self.debt
    }

    /// The balance figures on `day`.
    #[must_use]
    pub fn balance(&self, day: Day) -> Balance {
        // Remaining points fit in i64 by construction (every change is checked), and so do
        // sums of disjoint parts of them.
        let available: i64 = self
            .lots
            .iter()
            .filter(|l| l.live_on(day))
            .map(|l| l.unreserved().get())
            .sum();
        let reserved: i64 = self
            .holds
            .values()
            .filter(|h| h.state.is_unresolved())
            .map(|h| h.cost.get())
            .sum();
        Balance {
            available: Points::new(available),
            reserved: Points::new(reserved),
            debt: self.debt,
            balance: Points::new(available.saturating_sub(self.debt.get())),
        }
    }

    /// Decides what a command appends, checking it against the account.
    ///
    /// # Errors
    ///
    /// When the command is refused: an id reused with other content, an unresolved hold
    /// already there, a balance below the threshold, an unknown or already resolved hold…
    pub fn plan(&self, command: &Command) -> Result<Plan, LedgerError> {
        let agent = &self.agent;
        match command {
            Command::Accrue { event, expires } => {
                if event.agent() != agent {
                    return Err(LedgerError::Invalid {
                        agent: agent.clone(),
                        reason: format!("event for agent {} on this account", event.agent()),
                    });
                }
                if *expires <= event.day() {
                    return Err(LedgerError::Invalid {
                        agent: agent.clone(),
                        reason: format!(
                            "expiry {expires} is not after the event's day {}",
                            event.day()
                        ),
                    });
                }
                let before = self.accruals.get(&event.id()).copied();
                if before == Some(event.points()) || (before.is_none() && event.points().is_zero())
                {
                    return Ok(Plan::Nothing(None));
                }
                Ok(Plan::Append(
                    event.id(),
                    Op::Accrual {
                        key: event.key().clone(),
                        points: event.points(),
                        expires: *expires,
                    },
                ))
            }
            Command::Adjust {
                id,
                day,
                points,
                expires,
                reason,
            } => {
                if points.is_zero() {
                    return Err(LedgerError::Invalid {
                        agent: agent.clone(),
                        reason: "an adjustment of zero points".to_owned(),
                    });
                }
                if expires <= day {
                    return Err(LedgerError::Invalid {
                        agent: agent.clone(),
                        reason: format!("expiry {expires} is not after the day {day}"),
                    });
                }
                let op = Op::Adjustment {
                    day: *day,
                    points: *points,
                    expires: *expires,
                    reason: reason.clone(),
                };
                self.idempotent(*id, op)
            }
            Command::Hold {
                txn,
                day,
                tier,
                payload,
            } => {
                let op = Op::Hold {
                    txn: *txn,
                    day: *day,
                    tier: tier.id().clone(),
                    reward_type: tier.reward_type().clone(),
                    cost: tier.cost(),
                    payload: payload.clone(),
                };
                if self.ops.contains_key(txn.as_uuid()) {
                    return self.idempotent(*txn.as_uuid(), op);
                }
                if let Some(open) = self.unresolved_hold() {
                    return Err(LedgerError::HoldUnresolved {
                        agent: agent.clone(),
                        txn: open.txn,
                    });
                }
                let balance = self.balance(*day).balance;
                if balance < tier.threshold() {
                    return Err(LedgerError::Insufficient {
                        agent: agent.clone(),
                        day: *day,
                        balance,
                        threshold: tier.threshold(),
                    });
                }
                Ok(Plan::Append(*txn.as_uuid(), op))
            }
            Command::Mark {
                txn,
                state,
                attempts,
            } => {
                let hold = self.hold(*txn)?;
                if !state.is_unresolved() {
                    return Err(LedgerError::Invalid {
                        agent: agent.clone(),
                        reason: format!(
                            "a hold is marked open, in_doubt or review, not {}",
                            state.name()
                        ),
                    });
                }
                if !hold.state.is_unresolved() {
                    return Err(LedgerError::AlreadyResolved {
                        txn: *txn,
                        state: hold.state.name(),
                        asked: state.name(),
                    });
                }
                if hold.state == *state && hold.attempts == *attempts {
                    return Ok(Plan::Nothing(None));
                }
                let id = transition_id(*txn, state.name(), *attempts);
                self.idempotent(
                    id,
                    Op::Mark {
                        txn: *txn,
                        state: *state,
                        attempts: *attempts,
                    },
                )
            }
            Command::Commit { txn } => {
                self.resolve(*txn, HoldState::Committed, Op::Commit { txn: *txn })
            }
            Command::Release { txn, day } => self.resolve(
                *txn,
                HoldState::Released,
                Op::Release {
                    txn: *txn,
                    day: *day,
                },
            ),
            Command::Reverse { txn, of, day } => {
                let op = Op::Reversal {
                    txn: *txn,
                    of: *of,
                    day: *day,
                };
                if self.ops.contains_key(txn.as_uuid()) {
                    return self.idempotent(*txn.as_uuid(), op);
                }
                let hold = self.hold(*of)?;
                if hold.state != HoldState::Committed {
                    return Err(LedgerError::NotCommitted {
                        txn: *of,
                        state: hold.state.name(),
                    });
                }
                if let Some(by) = hold.reversed_by {
                    return Err(LedgerError::AlreadyReversed { txn: *of, by });
                }
                Ok(Plan::Append(*txn.as_uuid(), op))
            }
        }
    }

    fn hold(&self, txn: TxnId) -> Result<&Hold, LedgerError> {
        self.holds
            .get(&txn)
            .ok_or_else(|| LedgerError::UnknownHold {
                agent: self.agent.clone(),
                txn,
            })
    }

    fn resolve(&self, txn: TxnId, to: HoldState, op: Op) -> Result<Plan, LedgerError> {
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

    /// Applies one entry (in append order).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Corrupt`] when the entry contradicts the account (a commit of an
    /// unknown hold, an overflow…).
    pub fn apply(&mut self, entry: Entry) -> Result<(), LedgerError> {
        let seq = self.version;
        let corrupt = |agent: &AgentId, reason: String| LedgerError::Corrupt {
            agent: agent.clone(),
            index: seq,
            id: entry.id,
            reason,
        };
        match &entry.op {
            Op::Accrual {
                key,
                points,
                expires,
            } => {
                let id = key.id();
                let before = self.accruals.insert(id, *points).unwrap_or(Points::ZERO);
                let diff = points.checked_sub(before).map_err(ovf(&self.agent))?;
                if diff.is_positive() {
                    self.credit(diff, seq, id, key.day, *expires)?;
                } else if diff.is_negative() {
                    let mut need = diff.checked_neg().map_err(ovf(&self.agent))?;
                    // A negative restatement first takes back what is left of the key's own
                    // lots, live or expired (unreserved points only), then deducts the rest.
                    for lot in self.lots.iter_mut().filter(|l| l.source == id) {
                        let take = need.min(lot.unreserved());
                        lot.remaining = Points::new(lot.remaining.get() - take.get());
                        need = Points::new(need.get() - take.get());
                    }
                    self.deduct(need, key.day)?;
                }
            }
            Op::Adjustment {
                day,
                points,
                expires,
                ..
            } => {
                if points.is_positive() {
                    self.credit(*points, seq, entry.id, *day, *expires)?;
                } else {
                    self.deduct(points.checked_neg().map_err(ovf(&self.agent))?, *day)?;
                }
                self.ops.insert(entry.id, entry.clone());
            }
            Op::Hold {
                txn,
                day,
                tier,
                reward_type,
                cost,
                payload,
            } => {
                let mut need = *cost;
                let mut reserved = Vec::new();
                for lot in self.lots.iter_mut().filter(|l| l.live_on(*day)) {
                    if need.is_zero() {
                        break;
                    }
                    let take = need.min(lot.unreserved());
                    if take.is_positive() {
                        lot.reserved = lot.reserved.checked_add(take).map_err(ovf(&self.agent))?;
                        need = Points::new(need.get() - take.get());
                        reserved.push((lot.seq, take));
                    }
                }
                if need.is_positive() {
                    return Err(corrupt(
                        &self.agent,
                        format!(
                            "hold {txn} of {cost} finds only {} available on {day}",
                            cost.get() - need.get()
                        ),
                    ));
                }
                let hold = Hold {
                    txn: *txn,
                    day: *day,
                    tier: tier.clone(),
                    reward_type: reward_type.clone(),
                    cost: *cost,
                    payload: payload.clone(),
                    state: HoldState::Open,
                    attempts: 0,
                    created_at: entry.at,
                    lots: reserved,
                    reversed_by: None,
                    committed_at: None,
                };
                self.holds.insert(*txn, hold);
                self.ops.insert(entry.id, entry.clone());
            }
            Op::Mark {
                txn,
                state,
                attempts,
            } => {
                let Some(hold) = self.holds.get_mut(txn) else {
                    return Err(corrupt(&self.agent, format!("mark of unknown hold {txn}")));
                };
                hold.state = *state;
                hold.attempts = *attempts;
                self.ops.insert(entry.id, entry.clone());
            }
            Op::Commit { txn } => {
                let Some(hold) = self.holds.get_mut(txn) else {
                    return Err(corrupt(
                        &self.agent,
                        format!("commit of unknown hold {txn}"),
                    ));
                };
                hold.state = HoldState::Committed;
                hold.committed_at = Some(entry.at);
                for (seq, amount) in &hold.lots {
                    if let Some(lot) = self.lots.iter_mut().find(|l| l.seq == *seq) {
                        lot.reserved = Points::new(lot.reserved.get() - amount.get());
                        lot.remaining = Points::new(lot.remaining.get() - amount.get());
                    }
                }
                self.ops.insert(entry.id, entry.clone());
            }
            Op::Release { txn, day } => {
                let Some(hold) = self.holds.get_mut(txn) else {
                    return Err(corrupt(
                        &self.agent,
                        format!("release of unknown hold {txn}"),
                    ));
                };
                hold.state = HoldState::Released;
                let parts = hold.lots.clone();
                for (seq, amount) in &parts {
                    if let Some(lot) = self.lots.iter_mut().find(|l| l.seq == *seq) {
                        lot.reserved = Points::new(lot.reserved.get() - amount.get());
                        // The points leave the lot and come back as arriving points.
                        lot.remaining = Points::new(lot.remaining.get() - amount.get());
                    }
                    self.return_to_lot(*seq, *amount, *day);
                }
                self.ops.insert(entry.id, entry.clone());
            }
            Op::Reversal { txn, of, day } => {
                let Some(hold) = self.holds.get_mut(of) else {
                    return Err(corrupt(
                        &self.agent,
                        format!("reversal of unknown redemption {of}"),
                    ));
                };
                hold.reversed_by = Some(*txn);
                let parts = hold.lots.clone();
                for (seq, amount) in &parts {
                    self.return_to_lot(*seq, *amount, *day);
                }
                self.ops.insert(entry.id, entry.clone());
            }
        }
        self.version += 1;
        self.entries.push(entry);
        Ok(())
    }

    /// Arriving positive points: pay debt first; the rest becomes a lot.
    fn credit(
        &mut self,
        points: Points,
        seq: u64,
        source: Uuid,
        day: Day,
        expires: Day,
    ) -> Result<(), LedgerError> {
        let pay = points.min(self.debt);
        self.debt = Points::new(self.debt.get() - pay.get());
        let rest = Points::new(points.get() - pay.get());
        if rest.is_positive() {
            let lot = Lot {
                seq,
                source,
                day,
                expires,
                remaining: rest,
                reserved: Points::ZERO,
            };
            let at = self
                .lots
                .partition_point(|l| (l.day, l.source, l.seq) <= (day, source, seq));
            self.lots.insert(at, lot);
        }
        Ok(())
    }

    /// Points going back to the lot they came from, on `day`: pay debt first; what is left
    /// returns to the lot, unless the lot has expired by then — then it is gone (expired
    /// points pay no debt).
    fn return_to_lot(&mut self, seq: u64, amount: Points, day: Day) {
        let Some(lot) = self.lots.iter_mut().find(|l| l.seq == seq) else {
            return;
        };
        if day >= lot.expires {
            return;
        }
        let pay = amount.min(self.debt);
        self.debt = Points::new(self.debt.get() - pay.get());
        lot.remaining = Points::new(lot.remaining.get() + amount.get() - pay.get());
    }

    /// A deduction on `day`: consumes the unreserved remaining of the lots live on that day,
    /// oldest first; what they cannot cover becomes debt.
    fn deduct(&mut self, points: Points, day: Day) -> Result<(), LedgerError> {
        let mut need = points;
        for lot in self.lots.iter_mut().filter(|l| l.live_on(day)) {
            if need.is_zero() {
                break;
            }
            let take = need.min(lot.unreserved());
            lot.remaining = Points::new(lot.remaining.get() - take.get());
            need = Points::new(need.get() - take.get());
        }
        self.debt = self.debt.checked_add(need).map_err(ovf(&self.agent))?;
        Ok(())
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
