//! Queries on an account: what it holds and the balance figures on a day.

use std::collections::BTreeMap;

use kudos_core::{AgentId, Day, Points, TxnId};
use serde::Serialize;

use super::{Account, Hold, Lot, Reversal};
use crate::Entry;

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

impl Account {
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

    /// The entries, in append order (none for an account made by
    /// [`without_history`](Self::without_history)).
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

    /// The reversals (clawbacks), by their own transaction id.
    #[must_use]
    pub fn reversals(&self) -> &BTreeMap<TxnId, Reversal> {
        &self.reversals
    }

    /// The reversal of a redemption, if one was asked for or recorded (there is at most one).
    #[must_use]
    pub fn reversal_of(&self, of: TxnId) -> Option<&Reversal> {
        self.reversals.values().find(|reversal| reversal.of == of)
    }

    /// The unresolved hold, if any (there is at most one).
    #[must_use]
    pub fn unresolved_hold(&self) -> Option<&Hold> {
        self.holds.values().find(|hold| hold.state.is_unresolved())
    }

    /// The debt.
    #[must_use]
    pub fn debt(&self) -> Points {
        self.debt
    }

    /// The balance figures on `day`.
    #[must_use]
    pub fn balance(&self, day: Day) -> Balance {
        // Every lot's remaining points sum to `held`, which an arrival may never push past
        // i64 (it is refused), so sums of parts of them fit too.
        let available: i64 = self
            .lots
            .iter()
            .filter(|lot| lot.live_on(day))
            .map(|lot| lot.unreserved().get())
            .sum();
        let reserved: i64 = self
            .holds
            .values()
            .filter(|hold| hold.state.is_unresolved())
            .map(|hold| hold.cost.get())
            .sum();
        Balance {
            available: Points::new(available),
            reserved: Points::new(reserved),
            debt: self.debt,
            balance: Points::new(available.saturating_sub(self.debt.get())),
        }
    }
}
