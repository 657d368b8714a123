//! An agent's points statement: every movement of the balance — points earned by rule and
//! day (and the restatements that changed them), penalties, adjustments, expiries, holds,
//! rewards issued, releases and clawbacks — that adds up, to the point, to the balance the
//! ledger reports, with the debt and the points about to expire.
//!
//! How the amounts add up: each entry's movement is the change it made to the account's
//! unreserved points less its debt, over every lot; a lot that expired by the statement's
//! last day then leaves with what it still held, as an `expired` movement on its expiry day.
//! The sum of the movements is therefore the balance on that day.

use std::collections::BTreeMap;

use kudos_core::{AgentId, Day, MetricName, RewardType, RuleId, TxnId};
use serde::Serialize;

use crate::{Account, Entry, LedgerError, Op};

/// What moved the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MovementKind {
    /// Points a rule gave for a day's record, the first time.
    Earned,
    /// A restatement of a record's points: the change.
    Restated,
    /// Negative points from a rule (a penalty), the first time.
    Penalty,
    /// An operator's adjustment.
    Adjustment,
    /// Points that expired unspent (on their expiry day).
    Expired,
    /// Points reserved for a reward in flight.
    Held,
    /// The reward was issued: the held points are spent (no change to the balance).
    Issued,
    /// The reward was not issued: the held points came back (less any that expired
    /// meanwhile).
    Released,
    /// A reward was clawed back (or voided by the marketplace): its cost came back, paying
    /// debt first.
    Reversed,
    /// A state change of a reward in flight or of a reversal (no change to the balance).
    Noted,
}

/// One movement of an agent's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Movement {
    /// The day it counts on.
    pub day: Day,
    /// What moved it.
    pub kind: MovementKind,
    /// The change to the balance (negative: down).
    pub points: i64,
    /// The rule, for points a rule gave (earned, restated, penalty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
    /// The metric the rule read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricName>,
    /// The record's points now, for a restatement (its change is `points`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// The reward's transaction id (holds, issues, releases, reversals).
    #[serde(rename = "txn_id", skip_serializing_if = "Option::is_none")]
    pub txn: Option<TxnId>,
    /// The reward type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_type: Option<RewardType>,
    /// Why (an adjustment's reason, a state's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Movement {
    fn new(day: Day, kind: MovementKind, points: i64) -> Self {
        Self {
            day,
            kind,
            points,
            rule: None,
            metric: None,
            total: None,
            txn: None,
            reward_type: None,
            note: None,
        }
    }
}

/// Points that expire on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expiring {
    /// The day they expire on (they are gone from that day).
    pub day: Day,
    /// How many.
    pub points: i64,
}

/// An agent's statement from `from` to `to`: an opening balance (what moved it before
/// `from`), the movements in between, what the ledger already counts from later days, and the
/// closing figures on `to` — which agree with [`Account::balance`] on `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The agent.
    pub agent: AgentId,
    /// The first day listed (`None`: from the first movement).
    pub from: Option<Day>,
    /// The last day listed, and the day the closing figures are for.
    pub to: Day,
    /// The sum of the movements before `from`.
    pub opening: i64,
    /// The movements from `from` to `to`, in day order (entries in the order recorded).
    pub movements: Vec<Movement>,
    /// The sum of movements dated after `to` that the ledger already counts (a run with a
    /// later `--as-of`, say).
    pub later: i64,
    /// The balance on `to` (`available − debt`).
    pub balance: i64,
    /// The points available on `to`.
    pub available: i64,
    /// The points reserved for rewards in flight.
    pub reserved: i64,
    /// The debt.
    pub debt: i64,
    /// The available points that expire within `expiring_days` after `to`, by day.
    pub expiring: Vec<Expiring>,
}

/// The days ahead of `to` a statement lists expiring points for.
pub const EXPIRING_DAYS: i64 = 30;

/// The unreserved points of every lot, less the debt: what each entry's movement is the
/// change of.
fn position(account: &Account) -> i64 {
    let unreserved: i64 = account
        .lots()
        .iter()
        .map(|lot| lot.remaining.get() - lot.reserved.get())
        .sum();
    unreserved.saturating_sub(account.debt().get())
}

/// The points that expire within `days` after `day`, by expiry day (unreserved, of lots live
/// on `day`).
#[must_use]
pub fn expiring(account: &Account, day: Day, days: i64) -> Vec<Expiring> {
    let until = day.add_days(days).unwrap_or(day);
    let mut by_day: BTreeMap<Day, i64> = BTreeMap::new();
    for lot in account.lots() {
        let unreserved = lot.remaining.get() - lot.reserved.get();
        if lot.live_on(day) && lot.expires <= until && unreserved > 0 {
            *by_day.entry(lot.expires).or_insert(0) += unreserved;
        }
    }
    by_day
        .into_iter()
        .map(|(day, points)| Expiring { day, points })
        .collect()
}

impl Statement {
    /// The statement of `entries` (an account's, in append order) from `from` to `to`.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Corrupt`] when the entries do not fold.
    pub fn of(
        agent: &AgentId,
        entries: &[Entry],
        from: Option<Day>,
        to: Day,
    ) -> Result<Self, LedgerError> {
        let mut account = Account::new(agent.clone());
        let mut all = Vec::with_capacity(entries.len());
        let mut accrued = std::collections::HashSet::new();
        for entry in entries {
            let before = position(&account);
            let restated = matches!(entry.op, Op::Accrual { .. }) && !accrued.insert(entry.id);
            let mut movement = describe(&account, entry, restated, to);
            account.apply(entry.clone())?;
            movement.points = position(&account).saturating_sub(before);
            all.push(movement);
        }
        // A lot that expired by `to` leaves with what it still held, on its expiry day; one
        // not live yet on `to` counts later.
        for lot in account.lots() {
            let unreserved = lot.remaining.get() - lot.reserved.get();
            if unreserved == 0 {
                continue;
            }
            if lot.expires <= to {
                all.push(Movement::new(
                    lot.expires,
                    MovementKind::Expired,
                    -unreserved,
                ));
            } else if lot.day > to {
                // Not live on `to`: its points are not in the balance yet.
                let mut pending = Movement::new(lot.day, MovementKind::Noted, -unreserved);
                pending.note = Some("not live yet".into());
                all.push(pending);
            }
        }
        all.sort_by_key(|m| m.day); // stable: entries keep their order within a day
        let mut opening = 0_i64;
        let mut later = 0_i64;
        let mut movements = Vec::new();
        for m in all {
            if from.is_some_and(|f| m.day < f) {
                opening = opening.saturating_add(m.points);
            } else if m.day > to {
                later = later.saturating_add(m.points);
            } else {
                movements.push(m);
            }
        }
        let b = account.balance(to);
        Ok(Self {
            agent: agent.clone(),
            from,
            to,
            opening,
            movements,
            later,
            balance: b.balance.get(),
            available: b.available.get(),
            reserved: b.reserved.get(),
            debt: b.debt.get(),
            expiring: expiring(&account, to, EXPIRING_DAYS),
        })
    }

    /// The sum of every movement: opening, listed and later — equal to `balance`.
    #[must_use]
    pub fn total(&self) -> i64 {
        self.movements
            .iter()
            .fold(self.opening.saturating_add(self.later), |sum, m| {
                sum.saturating_add(m.points)
            })
    }
}

/// The movement an entry makes, but its points (measured around the entry's fold).
/// `restated`: an accrual of a key seen before. `fallback`: the day of a transition whose
/// subject is unknown (never, in an account that folds).
fn describe(account: &Account, entry: &Entry, restated: bool, fallback: Day) -> Movement {
    let hold = |txn: &TxnId| account.holds().get(txn);
    let day_of = |entry: &Entry| Day::from_naive(entry.at.date_naive()).unwrap_or(fallback);
    match &entry.op {
        Op::Accrual { key, points, .. } => {
            let kind = match (restated, points.is_negative()) {
                (true, _) => MovementKind::Restated,
                (false, true) => MovementKind::Penalty,
                (false, false) => MovementKind::Earned,
            };
            let mut m = Movement::new(key.day, kind, 0);
            m.rule = Some(key.rule.clone());
            m.metric = Some(key.metric.clone());
            if restated {
                m.total = Some(points.get());
            }
            m
        }
        Op::Adjustment { day, reason, .. } => {
            let mut m = Movement::new(*day, MovementKind::Adjustment, 0);
            m.note = Some(reason.clone());
            m
        }
        Op::Hold {
            txn,
            day,
            reward_type,
            ..
        } => {
            let mut m = Movement::new(*day, MovementKind::Held, 0);
            m.txn = Some(*txn);
            m.reward_type = Some(reward_type.clone());
            m
        }
        Op::Commit { txn } | Op::Mark { txn, .. } => {
            let (kind, note) = match &entry.op {
                Op::Mark { state, .. } => (MovementKind::Noted, Some(state.name().to_owned())),
                _ => (MovementKind::Issued, None),
            };
            let day = hold(txn).map_or_else(|| day_of(entry), |h| h.day);
            let mut m = Movement::new(day, kind, 0);
            m.txn = Some(*txn);
            m.reward_type = hold(txn).map(|h| h.reward_type.clone());
            m.note = note;
            m
        }
        Op::Release { txn, day } => {
            let mut m = Movement::new(*day, MovementKind::Released, 0);
            m.txn = Some(*txn);
            m.reward_type = hold(txn).map(|h| h.reward_type.clone());
            m
        }
        Op::Reversal { of, day, .. } => {
            let mut m = Movement::new(*day, MovementKind::Reversed, 0);
            m.txn = Some(*of);
            m.reward_type = hold(of).map(|h| h.reward_type.clone());
            m
        }
        Op::ReversalRequest { of, day, .. } => {
            let mut m = Movement::new(*day, MovementKind::Noted, 0);
            m.txn = Some(*of);
            m.note = Some("clawback requested".into());
            m
        }
        Op::ReversalMark { txn, .. } | Op::ReversalEnd { txn } => {
            let reversal = account.reversals().get(txn);
            let mut m = Movement::new(
                reversal.map_or_else(|| day_of(entry), |r| r.day),
                MovementKind::Noted,
                0,
            );
            m.txn = reversal.map(|r| r.of);
            m.note = Some(match &entry.op {
                Op::ReversalMark { state, .. } => format!("clawback {}", state.name()),
                _ => "clawback ended: not reversed".to_owned(),
            });
            m
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_points_of_an_empty_account_are_zero() {
        let agent = AgentId::new("a1b2c3d4-0000-4000-8000-000000000001").unwrap();
        let day = Day::parse("2026-03-10").unwrap();
        let s = Statement::of(&agent, &[], None, day).unwrap();
        assert_eq!((s.total(), s.balance, s.movements.len()), (0, 0, 0));
    }
}
