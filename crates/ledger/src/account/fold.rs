//! The fold: an account is its entries applied in append order, one function per operation.

use chrono::{DateTime, Utc};
use kudos_core::{AgentId, CoreError, Day, Points, TxnId};
use uuid::Uuid;

use super::{Account, Hold, KeyedAccrual, Lot, Reservation, Reversal};
use crate::{Entry, HoldState, LedgerError, Op, ReversalState};

/// Maps a points overflow to the account's [`LedgerError::Overflow`].
fn overflow(agent: &AgentId) -> impl Fn(CoreError) -> LedgerError + '_ {
    move |source| LedgerError::Overflow {
        agent: agent.clone(),
        source,
    }
}

impl Account {
    /// Folds entries, in append order, into an account.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Corrupt`] when an entry cannot be applied.
    pub fn from_entries(
        agent: AgentId,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Self, LedgerError> {
        Self::new(agent).folding(entries)
    }

    /// This account with `entries` applied, in append order (an account made by
    /// [`Account::without_history`] keeps none of them).
    pub(crate) fn folding(
        mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Self, LedgerError> {
        for entry in entries {
            self.apply(entry)?;
        }
        Ok(self)
    }

    /// Applies one entry (in append order).
    ///
    /// In debug builds, then checks the account's invariants and panics if one is broken
    /// (see `check_invariants`).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Corrupt`] when the entry contradicts the account (a commit of an
    /// unknown hold, an overflow…).
    pub fn apply(&mut self, entry: Entry) -> Result<(), LedgerError> {
        self.apply_unchecked(entry)?;
        #[cfg(debug_assertions)]
        self.assert_invariants(format_args!("entry {}", self.version - 1));
        Ok(())
    }

    /// Folds an accrual whose key's id the caller made, as planning
    /// [`Command::Accrue`](crate::Command::Accrue) and applying what it appends would, without
    /// the key: for an account that keeps no entries ([`Account::without_history`]) folded in
    /// memory, such as `kudos points`'s, whose reading thread hashes the keys. Returns whether
    /// the account changed (the same points again change nothing).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Invalid`] when the account keeps its entries (an entry needs its key) or
    /// the expiry is not after the day; [`LedgerError::Overflow`] when the points cannot be
    /// represented, as [`apply`](Self::apply) would.
    pub fn fold_accrual(&mut self, accrual: KeyedAccrual) -> Result<bool, LedgerError> {
        let KeyedAccrual {
            id,
            day,
            points,
            expires,
        } = accrual;
        if self.history {
            return Err(self.invalid(
                "an accrual without its key, on an account that keeps its entries".into(),
            ));
        }
        if !self.accrual_changes(id, day, points, expires)? {
            return Ok(false);
        }
        self.apply_accrual(id, day, points, expires)?;
        self.version += 1;
        #[cfg(debug_assertions)]
        self.assert_invariants(format_args!("accrual {id}"));
        Ok(true)
    }

    /// Panics if the account's invariants no longer hold after `what` (debug builds; see
    /// `check_invariants`).
    #[cfg(debug_assertions)]
    fn assert_invariants(&self, what: std::fmt::Arguments<'_>) {
        if let Err(broken) = self.check_invariants() {
            panic!(
                "agent {}: {what} breaks the account's invariants: {broken}",
                self.agent
            );
        }
    }

    /// [`apply`](Self::apply) without the invariant check.
    pub(super) fn apply_unchecked(&mut self, entry: Entry) -> Result<(), LedgerError> {
        self.fold_entry(&entry)?;
        if self.history {
            self.entries.push(entry);
        }
        Ok(())
    }

    /// As [`apply`](Self::apply), the entry borrowed: copied only if the account keeps its
    /// entries (the ledger's planning, which appends the entry it applies).
    pub(crate) fn apply_borrowed(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        self.fold_entry(entry)?;
        if self.history {
            self.entries.push(entry.clone());
        }
        #[cfg(debug_assertions)]
        self.assert_invariants(format_args!("entry {}", self.version - 1));
        Ok(())
    }

    /// Folds one entry into the account's state (its version counted), without keeping it.
    fn fold_entry(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        match &entry.op {
            Op::Accrual {
                key,
                points,
                expires,
            } => self.apply_accrual(entry.id, key.day, *points, *expires)?,
            Op::Adjustment {
                day,
                points,
                expires,
                ..
            } => self.apply_adjustment(entry.id, *day, *points, *expires)?,
            Op::Hold {
                txn,
                day,
                tier,
                reward_type,
                cost,
                payload,
            } => self.apply_hold(
                entry.id,
                Hold {
                    txn: *txn,
                    day: *day,
                    tier: tier.clone(),
                    reward_type: reward_type.clone(),
                    cost: *cost,
                    payload: payload.clone(),
                    state: HoldState::Open,
                    attempts: 0,
                    created_at: entry.at,
                    lots: Vec::new(),
                    reversed_by: None,
                    committed_at: None,
                },
            )?,
            Op::Mark {
                txn,
                state,
                attempts,
            } => self.apply_mark(entry.id, *txn, *state, *attempts)?,
            Op::Commit { txn } => self.apply_commit(entry.id, *txn, entry.at)?,
            Op::Release { txn, day } => self.apply_release(entry.id, *txn, *day)?,
            Op::ReversalRequest {
                txn,
                of,
                day,
                debt,
                payload,
            } => self.apply_reversal_request(
                entry.id,
                Reversal {
                    txn: *txn,
                    of: *of,
                    day: *day,
                    debt: *debt,
                    payload: payload.clone(),
                    state: ReversalState::Open,
                    attempts: 0,
                    created_at: entry.at,
                },
            )?,
            Op::ReversalMark {
                txn,
                state,
                attempts,
            } => {
                let Some(reversal) = self.reversals.get_mut(txn) else {
                    return Err(self.corrupt(entry.id, format!("mark of unknown reversal {txn}")));
                };
                reversal.state = *state;
                reversal.attempts = *attempts;
            }
            Op::ReversalEnd { txn } => {
                let Some(reversal) = self.reversals.get_mut(txn) else {
                    return Err(self.corrupt(entry.id, format!("end of unknown reversal {txn}")));
                };
                reversal.state = ReversalState::NotReversed;
            }
            Op::Reversal { txn, of, day } => {
                self.apply_reversal(entry.id, *txn, *of, *day, entry.at)?;
            }
        }
        if !matches!(entry.op, Op::Accrual { .. }) {
            self.ops.insert(entry.id, entry.clone());
        }
        self.version += 1;
        Ok(())
    }

    /// The error for the entry being applied (the next one, at `version`).
    fn corrupt(&self, id: Uuid, reason: String) -> LedgerError {
        LedgerError::Corrupt {
            agent: self.agent.clone(),
            index: self.version,
            id,
            reason,
        }
    }

    /// An accrual posts the difference from the key's previous points: a positive one is
    /// credited, a negative one first takes back what is left of the key's own lots.
    ///
    /// `source` is the entry's id, which the ledger wrote as the key's id (taken from the
    /// entry rather than hashed from the key again: a fold meets every accrual of the account).
    fn apply_accrual(
        &mut self,
        source: Uuid,
        day: Day,
        points: Points,
        expires: Day,
    ) -> Result<(), LedgerError> {
        let before = self.accruals.insert(source, points).unwrap_or(Points::ZERO);
        let difference = points.checked_sub(before).map_err(overflow(&self.agent))?;
        if difference.is_positive() {
            self.credit(difference, source, day, expires)?;
        } else if difference.is_negative() {
            let mut need = difference.checked_neg().map_err(overflow(&self.agent))?;
            // A negative restatement first takes back what is left of the key's own lots,
            // live or expired (unreserved points only), then deducts the rest.
            for lot in self.lots.iter_mut().filter(|lot| lot.source == source) {
                let take = need.min(lot.unreserved());
                lot.remaining = Points::new(lot.remaining.get() - take.get());
                self.held = Points::new(self.held.get() - take.get());
                need = Points::new(need.get() - take.get());
            }
            self.deduct(need, day)?;
        }
        Ok(())
    }

    /// An adjustment: positive points are credited, negative ones deducted, on `day`.
    fn apply_adjustment(
        &mut self,
        id: Uuid,
        day: Day,
        points: Points,
        expires: Day,
    ) -> Result<(), LedgerError> {
        if points.is_positive() {
            self.credit(points, id, day, expires)
        } else {
            let deduction = points.checked_neg().map_err(overflow(&self.agent))?;
            self.deduct(deduction, day)
        }
    }

    /// A hold reserves its cost from the unreserved points of the lots live on its day,
    /// oldest first, and is recorded (open) with its reservations.
    fn apply_hold(&mut self, id: Uuid, mut hold: Hold) -> Result<(), LedgerError> {
        let mut need = hold.cost;
        for lot in self.lots.iter_mut().filter(|lot| lot.live_on(hold.day)) {
            if need.is_zero() {
                break;
            }
            let take = need.min(lot.unreserved());
            if take.is_positive() {
                lot.reserved = lot
                    .reserved
                    .checked_add(take)
                    .map_err(overflow(&self.agent))?;
                need = Points::new(need.get() - take.get());
                hold.lots.push(Reservation {
                    lot_seq: lot.seq,
                    points: take,
                });
            }
        }
        if need.is_positive() {
            let (txn, cost, day) = (hold.txn, hold.cost, hold.day);
            return Err(self.corrupt(
                id,
                format!(
                    "hold {txn} of {cost} finds only {} available on {day}",
                    cost.get() - need.get()
                ),
            ));
        }
        self.holds.insert(hold.txn, hold);
        Ok(())
    }

    /// A mark sets a hold's state and attempts.
    fn apply_mark(
        &mut self,
        id: Uuid,
        txn: TxnId,
        state: HoldState,
        attempts: u32,
    ) -> Result<(), LedgerError> {
        let Some(hold) = self.holds.get_mut(&txn) else {
            return Err(self.corrupt(id, format!("mark of unknown hold {txn}")));
        };
        hold.state = state;
        hold.attempts = attempts;
        Ok(())
    }

    /// A commit consumes the hold's reservations: they leave their lots.
    fn apply_commit(&mut self, id: Uuid, txn: TxnId, at: DateTime<Utc>) -> Result<(), LedgerError> {
        let Some(hold) = self.holds.get_mut(&txn) else {
            return Err(self.corrupt(id, format!("commit of unknown hold {txn}")));
        };
        hold.state = HoldState::Committed;
        hold.committed_at = Some(at);
        for reservation in &hold.lots {
            if let Some(lot) = find_lot(&mut self.lots, reservation.lot_seq) {
                lot.reserved = Points::new(lot.reserved.get() - reservation.points.get());
                lot.remaining = Points::new(lot.remaining.get() - reservation.points.get());
                self.held = Points::new(self.held.get() - reservation.points.get());
            }
        }
        Ok(())
    }

    /// A release returns the hold's reservations on `day`: they leave their lots and come
    /// back as arriving points (see [`return_to_lot`](Self::return_to_lot)).
    fn apply_release(&mut self, id: Uuid, txn: TxnId, day: Day) -> Result<(), LedgerError> {
        let Some(hold) = self.holds.get_mut(&txn) else {
            return Err(self.corrupt(id, format!("release of unknown hold {txn}")));
        };
        hold.state = HoldState::Released;
        let reservations = hold.lots.clone();
        for reservation in &reservations {
            if let Some(lot) = find_lot(&mut self.lots, reservation.lot_seq) {
                lot.reserved = Points::new(lot.reserved.get() - reservation.points.get());
                // The points leave the lot and come back as arriving points.
                lot.remaining = Points::new(lot.remaining.get() - reservation.points.get());
                self.held = Points::new(self.held.get() - reservation.points.get());
            }
            self.return_to_lot(reservation.lot_seq, reservation.points, day);
        }
        Ok(())
    }

    /// A reversal request is recorded, open, against a redemption of the account.
    fn apply_reversal_request(&mut self, id: Uuid, reversal: Reversal) -> Result<(), LedgerError> {
        if !self.holds.contains_key(&reversal.of) {
            let of = reversal.of;
            return Err(self.corrupt(id, format!("reversal of unknown redemption {of}")));
        }
        self.reversals.insert(reversal.txn, reversal);
        Ok(())
    }

    /// A confirmed reversal returns a committed redemption's reservations to their lots on
    /// `day`; its reversal, recorded or not before, is reversed.
    fn apply_reversal(
        &mut self,
        id: Uuid,
        txn: TxnId,
        of: TxnId,
        day: Day,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let Some(hold) = self.holds.get_mut(&of) else {
            return Err(self.corrupt(id, format!("reversal of unknown redemption {of}")));
        };
        hold.reversed_by = Some(txn);
        self.reversals
            .entry(txn)
            .or_insert_with(|| Reversal {
                txn,
                of,
                day,
                debt: Points::ZERO,
                payload: Vec::new(),
                state: ReversalState::Reversed,
                attempts: 0,
                created_at: at,
            })
            .state = ReversalState::Reversed;
        let reservations = hold.lots.clone();
        for reservation in &reservations {
            self.return_to_lot(reservation.lot_seq, reservation.points, day);
        }
        Ok(())
    }

    /// Arriving positive points: pay debt first; the rest becomes a lot made by the entry
    /// being applied (its `seq` is the account's version).
    fn credit(
        &mut self,
        points: Points,
        source: Uuid,
        day: Day,
        expires: Day,
    ) -> Result<(), LedgerError> {
        let seq = self.version;
        let pay = points.min(self.debt);
        let rest = Points::new(points.get() - pay.get());
        // Refused before anything changes: the account's points must stay representable.
        let held = self.held.checked_add(rest).map_err(overflow(&self.agent))?;
        self.debt = Points::new(self.debt.get() - pay.get());
        self.held = held;
        if rest.is_positive() {
            let lot = Lot {
                seq,
                source,
                day,
                expires,
                remaining: rest,
                reserved: Points::ZERO,
            };
            let at = self.lots.partition_point(|other| {
                (other.day, other.source, other.seq) <= (day, source, seq)
            });
            if self.lots.len() == self.lots.capacity() {
                // A quarter again, not double: lots are most of what `kudos points` holds (an
                // account of 70 lots would otherwise keep room for 128; grown by half again,
                // for 94).
                self.lots.reserve_exact((self.lots.len() / 4).max(4));
            }
            self.lots.insert(at, lot);
        }
        Ok(())
    }

    /// Points going back to the lot they came from, on `day`: pay debt first; what is left
    /// returns to the lot, unless the lot has expired by then — then it is gone (expired
    /// points pay no debt).
    fn return_to_lot(&mut self, lot_seq: u64, points: Points, day: Day) {
        let Some(lot) = find_lot(&mut self.lots, lot_seq) else {
            return;
        };
        if day >= lot.expires {
            return;
        }
        let pay = points.min(self.debt);
        self.debt = Points::new(self.debt.get() - pay.get());
        lot.remaining = Points::new(lot.remaining.get() + points.get() - pay.get());
        // Back to at most what the lot held before: `held` stays representable.
        self.held = Points::new(self.held.get().saturating_add(points.get() - pay.get()));
    }

    /// A deduction on `day`: consumes the unreserved remaining of the lots live on that day,
    /// oldest first; what they cannot cover becomes debt.
    fn deduct(&mut self, points: Points, day: Day) -> Result<(), LedgerError> {
        let mut need = points;
        for lot in self.lots.iter_mut().filter(|lot| lot.live_on(day)) {
            if need.is_zero() {
                break;
            }
            let take = need.min(lot.unreserved());
            lot.remaining = Points::new(lot.remaining.get() - take.get());
            self.held = Points::new(self.held.get() - take.get());
            need = Points::new(need.get() - take.get());
        }
        self.debt = self.debt.checked_add(need).map_err(overflow(&self.agent))?;
        Ok(())
    }
}

/// The lot made by the entry at `seq`, if any.
fn find_lot(lots: &mut [Lot], seq: u64) -> Option<&mut Lot> {
    lots.iter_mut().find(|lot| lot.seq == seq)
}
