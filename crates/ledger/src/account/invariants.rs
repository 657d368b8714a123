//! The account's invariants, checked after every [`Account::apply`] in debug builds.
//!
//! Stated on the fields (a *reservation* is a [`Reservation`] in an unresolved hold's
//! [`Hold::lots`](super::Hold::lots)):
//!
//! 1. **Lot bounds** — for every lot, `0 <= lot.reserved <= lot.remaining`.
//! 2. **One unresolved hold** — at most one hold has `state.is_unresolved()`.
//! 3. **Reservations match** — for every lot, `lot.reserved` is the sum of the `points` of
//!    the unresolved holds' reservations whose `lot_seq` is `lot.seq`; and summed over all
//!    lots, `lot.reserved` is the sum of the unresolved holds' `cost`. Over *all* lots, not
//!    the live ones: a reservation stays on its lot after the lot expires, until the hold
//!    is resolved (a release then returns nothing to the expired lot).
//! 4. **Debt** — `debt >= 0`.
//! 5. **Reversals** — each reversal's `of` is a committed hold of the account, with no other
//!    reversal; a hold's `reversed_by` is `Some(txn)` exactly when reversal `txn` of it is
//!    `reversed`.
//!
//! Entries planned by [`Account::plan`] keep them; the fold itself does not re-validate
//! what it applies (a second commit of the same hold, say), so a corrupt log can break
//! them, and the debug check then stops at the first entry that does.

use std::collections::HashMap;

use super::{Account, Reservation};

impl Account {
    /// Checks the invariants in the module doc; the error says which one broke, and where.
    pub(super) fn check_invariants(&self) -> Result<(), String> {
        for lot in &self.lots {
            if lot.reserved.is_negative() || lot.reserved > lot.remaining {
                return Err(format!(
                    "lot bounds: lot {} has {} reserved of {} remaining",
                    lot.seq, lot.reserved, lot.remaining
                ));
            }
        }

        let unresolved: Vec<_> = self
            .holds
            .values()
            .filter(|hold| hold.state.is_unresolved())
            .collect();
        if unresolved.len() > 1 {
            let txns: Vec<String> = unresolved.iter().map(|hold| hold.txn.to_string()).collect();
            return Err(format!(
                "one unresolved hold: {} are unresolved ({})",
                unresolved.len(),
                txns.join(", ")
            ));
        }

        let mut reserved_by_holds: HashMap<u64, i128> = HashMap::new();
        for Reservation { lot_seq, points } in unresolved.iter().flat_map(|hold| &hold.lots) {
            *reserved_by_holds.entry(*lot_seq).or_default() += i128::from(points.get());
        }
        for lot in &self.lots {
            let by_holds = reserved_by_holds.get(&lot.seq).copied().unwrap_or_default();
            if i128::from(lot.reserved.get()) != by_holds {
                return Err(format!(
                    "reservations match: lot {} has {} reserved, its unresolved holds' \
                     reservations on it sum to {by_holds}",
                    lot.seq, lot.reserved
                ));
            }
        }
        let reserved: i128 = self
            .lots
            .iter()
            .map(|lot| i128::from(lot.reserved.get()))
            .sum();
        let cost: i128 = unresolved
            .iter()
            .map(|hold| i128::from(hold.cost.get()))
            .sum();
        if reserved != cost {
            return Err(format!(
                "reservations match: the lots have {reserved} reserved, the unresolved holds \
                 cost {cost}"
            ));
        }

        let remaining: i128 = self
            .lots
            .iter()
            .map(|lot| i128::from(lot.remaining.get()))
            .sum();
        if remaining != i128::from(self.held.get()) {
            return Err(format!(
                "points held: the lots hold {remaining}, the account counts {}",
                self.held
            ));
        }

        if self.debt.is_negative() {
            return Err(format!("debt: the debt is {}", self.debt));
        }

        let mut reversed_holds = std::collections::HashSet::new();
        for reversal in self.reversals.values() {
            let Some(hold) = self.holds.get(&reversal.of) else {
                return Err(format!(
                    "reversals: reversal {} is of {}, no hold of the account",
                    reversal.txn, reversal.of
                ));
            };
            if hold.state != crate::HoldState::Committed {
                return Err(format!(
                    "reversals: reversal {} is of hold {}, which is {}",
                    reversal.txn,
                    hold.txn,
                    hold.state.name()
                ));
            }
            if !reversed_holds.insert(reversal.of) {
                return Err(format!("reversals: hold {} has two reversals", reversal.of));
            }
            let reversed = reversal.state == crate::ReversalState::Reversed;
            if reversed != (hold.reversed_by == Some(reversal.txn)) {
                return Err(format!(
                    "reversals: reversal {} is {} but hold {} is reversed by {:?}",
                    reversal.txn,
                    reversal.state.name(),
                    hold.txn,
                    hold.reversed_by
                ));
            }
        }
        if let Some(hold) = self
            .holds
            .values()
            .find(|hold| hold.reversed_by.is_some() && !reversed_holds.contains(&hold.txn))
        {
            return Err(format!(
                "reversals: hold {} is reversed by {:?}, which is not recorded",
                hold.txn, hold.reversed_by
            ));
        }
        Ok(())
    }
}
