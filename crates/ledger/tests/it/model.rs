//! A small reference model of the ledger's semantics (`docs/reference/ledger.md`), written independently
//! and naively, seeded by the worked examples; random operation sequences must give the same
//! decisions and balances in the model and in `Account`, and the invariants must hold.

use std::collections::HashMap;

use kudos_core::{Day, Points, TxnId};
use kudos_ledger::{Command, HoldState, LedgerError};
use proptest::prelude::*;
use uuid::Uuid;

use crate::book::{Book, WINDOW, agent, day, key, tier};

#[derive(Debug, Clone)]
struct MLot {
    day: Day,
    expires: Day,
    src: Uuid,
    n: usize,
    rem: i128,
    res: i128,
}

#[derive(Debug, Clone, PartialEq)]
enum MState {
    Open,
    Committed,
    Released,
}

#[derive(Debug, Clone)]
struct MHold {
    parts: Vec<(usize, i128)>,
    state: MState,
    reversed: bool,
    cost: i128,
}

#[derive(Debug, Default, Clone)]
struct Model {
    lots: Vec<MLot>,
    debt: i128,
    keys: HashMap<Uuid, i128>,
    holds: Vec<MHold>,
}

impl Model {
    /// Lot indices in consumption order: oldest day, then source, then creation.
    fn order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.lots.len()).collect();
        idx.sort_by_key(|&i| (self.lots[i].day, self.lots[i].src, self.lots[i].n));
        idx
    }

    fn live(l: &MLot, d: Day) -> bool {
        l.day <= d && d < l.expires
    }

    fn credit(&mut self, amount: i128, d: Day, src: Uuid) {
        let pay = amount.min(self.debt);
        self.debt -= pay;
        if amount - pay > 0 {
            let n = self.lots.len();
            self.lots.push(MLot {
                day: d,
                expires: d.add_days(WINDOW).unwrap(),
                src,
                n,
                rem: amount - pay,
                res: 0,
            });
        }
    }

    fn deduct(&mut self, mut amount: i128, d: Day) {
        for i in self.order() {
            let l = &mut self.lots[i];
            if Self::live(l, d) {
                let t = amount.min(l.rem - l.res);
                l.rem -= t;
                amount -= t;
            }
        }
        self.debt += amount;
    }

    fn accrue(&mut self, d: Day, src: Uuid, points: i128) {
        let before = self.keys.insert(src, points).unwrap_or(0);
        let diff = points - before;
        if diff > 0 {
            self.credit(diff, d, src);
        } else if diff < 0 {
            let mut need = -diff;
            for i in self.order() {
                let l = &mut self.lots[i];
                if l.src == src {
                    let t = need.min(l.rem - l.res);
                    l.rem -= t;
                    need -= t;
                }
            }
            self.deduct(need, d);
        }
    }

    fn available(&self, d: Day) -> i128 {
        self.lots
            .iter()
            .filter(|l| Self::live(l, d))
            .map(|l| l.rem - l.res)
            .sum()
    }

    fn unresolved(&self) -> bool {
        self.holds.iter().any(|h| h.state == MState::Open)
    }

    fn hold(&mut self, d: Day, cost: i128) -> bool {
        if self.unresolved() || self.available(d) - self.debt < cost {
            return false;
        }
        let mut need = cost;
        let mut parts = Vec::new();
        for i in self.order() {
            let l = &mut self.lots[i];
            if Self::live(l, d) && need > 0 {
                let t = need.min(l.rem - l.res);
                if t > 0 {
                    l.res += t;
                    need -= t;
                    parts.push((i, t));
                }
            }
        }
        self.holds.push(MHold {
            parts,
            state: MState::Open,
            reversed: false,
            cost,
        });
        true
    }

    fn give_back(&mut self, i: usize, amount: i128, d: Day) {
        if d >= self.lots[i].expires {
            return;
        }
        let pay = amount.min(self.debt);
        self.debt -= pay;
        self.lots[i].rem += amount - pay;
    }
}

#[derive(Debug, Clone)]
enum Action {
    Accrue { key: u8, day: i64, points: i64 },
    Hold { day: i64, cost: i64 },
    Commit,
    Release { day: i64 },
    Reverse { day: i64 },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0u8..6, 0i64..50, -120i64..200).prop_map(|(key, day, points)| Action::Accrue { key, day, points }),
        2 => (0i64..60, 1i64..250).prop_map(|(day, cost)| Action::Hold { day, cost }),
        1 => Just(Action::Commit),
        1 => (0i64..70).prop_map(|day| Action::Release { day }),
        1 => (0i64..70).prop_map(|day| Action::Reverse { day }),
    ]
}

fn check_invariants(b: &Book) -> Result<(), TestCaseError> {
    let acct = &b.account;
    prop_assert!(acct.debt().get() >= 0);
    let mut reserved = 0;
    for lot in acct.lots() {
        prop_assert!(
            lot.reserved.get() >= 0 && lot.reserved <= lot.remaining,
            "lot {lot:?}"
        );
        reserved += lot.reserved.get();
    }
    let unresolved: Vec<_> = acct
        .holds()
        .values()
        .filter(|h| h.state.is_unresolved())
        .collect();
    prop_assert!(unresolved.len() <= 1, "two unresolved holds");
    let want: i64 = unresolved.iter().map(|h| h.cost.get()).sum();
    prop_assert_eq!(
        reserved,
        want,
        "reserved points = unresolved holds' cost (nothing reserved twice or lost)"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn account_agrees_with_the_model(actions in proptest::collection::vec(action(), 1..60)) {
        let base = day("09-01");
        let at = |d: i64| base.add_days(d).unwrap();
        let mut b = Book::new();
        let mut m = Model::default();
        let mut txns: Vec<TxnId> = Vec::new();
        for (step, a) in actions.iter().enumerate() {
            match a {
                Action::Accrue { key: k, day: d, points } => {
                    let d = at(*d);
                    let ek = key(&agent(), d, &format!("k{k}"));
                    m.accrue(d, ek.id(), i128::from(*points));
                    let event = kudos_core::PointEvent::new(ek, Points::new(*points));
                    b.run(Command::Accrue { event, expires: d.add_days(WINDOW).unwrap() }).unwrap();
                }
                Action::Hold { day: d, cost } => {
                    let txn = TxnId::from_uuid(Uuid::from_u128(step as u128 + 1));
                    let model_ok = m.hold(at(*d), i128::from(*cost));
                    let real = b.run(Command::Hold { txn, day: at(*d), tier: tier(*cost), payload: vec![] });
                    prop_assert_eq!(model_ok, real.is_ok(), "hold decision differs: {:?}", real);
                    if let Err(e) = real {
                        prop_assert!(matches!(e, LedgerError::HoldUnresolved { .. } | LedgerError::Insufficient { .. }), "{e}");
                    } else {
                        txns.push(txn);
                    }
                }
                Action::Commit => {
                    if let Some(i) = m.holds.iter().position(|h| h.state == MState::Open) {
                        let parts = m.holds[i].parts.clone();
                        for (l, t) in parts {
                            m.lots[l].res -= t;
                            m.lots[l].rem -= t;
                        }
                        m.holds[i].state = MState::Committed;
                        b.run(Command::Commit { txn: txns[i] }).unwrap();
                    }
                }
                Action::Release { day: d } => {
                    if let Some(i) = m.holds.iter().position(|h| h.state == MState::Open) {
                        let parts = m.holds[i].parts.clone();
                        for (l, t) in parts {
                            m.lots[l].res -= t;
                            m.lots[l].rem -= t;
                            m.give_back(l, t, at(*d));
                        }
                        m.holds[i].state = MState::Released;
                        b.run(Command::Release { txn: txns[i], day: at(*d) }).unwrap();
                    }
                }
                Action::Reverse { day: d } => {
                    if let Some(i) = m.holds.iter().rposition(|h| h.state == MState::Committed && !h.reversed) {
                        let parts = m.holds[i].parts.clone();
                        for (l, t) in parts {
                            m.give_back(l, t, at(*d));
                        }
                        m.holds[i].reversed = true;
                        let rev = TxnId::from_uuid(Uuid::from_u128(10_000 + step as u128));
                        b.run(Command::Reverse { txn: rev, of: txns[i], day: at(*d) }).unwrap();
                    }
                }
            }
            check_invariants(&b)?;
            prop_assert_eq!(i128::from(b.account.debt().get()), m.debt, "debt after {:?}", a);
            for q in [0, 10, 25, 40, 55, 70, 90] {
                let bal = b.account.balance(at(q));
                prop_assert_eq!(i128::from(bal.available.get()), m.available(at(q)), "available on day {} after {:?}", q, a);
                let reserved: i128 = m.holds.iter().filter(|h| h.state == MState::Open).map(|h| h.cost).sum();
                prop_assert_eq!(i128::from(bal.reserved.get()), reserved);
            }
            let unresolved = b.account.holds().values().filter(|h| h.state == HoldState::Open).count();
            prop_assert_eq!(unresolved, usize::from(m.unresolved()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever happened to an account, its statement's movements add up to the balance the
    /// ledger reports on the statement's last day, for any first day; its closing figures are
    /// the ledger's, and what it says expires is what the ledger would stop counting.
    #[test]
    fn a_statement_adds_up_to_the_balance(
        actions in proptest::collection::vec(action(), 1..50),
        to in 0i64..100,
        from in proptest::option::of(0i64..100),
    ) {
        let base = day("09-01");
        let at = |d: i64| base.add_days(d).unwrap();
        let mut b = Book::new();
        let mut txns: Vec<TxnId> = Vec::new();
        for (step, a) in actions.iter().enumerate() {
            let open = txns.iter().copied().find(|t| b.account.holds()[t].state == HoldState::Open);
            let _ = match a {
                Action::Accrue { key: k, day: d, points } => {
                    let d = at(*d);
                    let event = kudos_core::PointEvent::new(key(&agent(), d, &format!("k{k}")), Points::new(*points));
                    b.run(Command::Accrue { event, expires: d.add_days(WINDOW).unwrap() })
                }
                Action::Hold { day: d, cost } => {
                    let txn = TxnId::from_uuid(Uuid::from_u128(step as u128 + 1));
                    let made = b.run(Command::Hold { txn, day: at(*d), tier: tier(*cost), payload: vec![] });
                    if made.is_ok() { txns.push(txn); }
                    made
                }
                Action::Commit => match open { Some(txn) => b.run(Command::Commit { txn }), None => Ok(None) },
                Action::Release { day: d } => match open { Some(txn) => b.run(Command::Release { txn, day: at(*d) }), None => Ok(None) },
                Action::Reverse { day: d } => {
                    let of = txns.iter().rev().copied().find(|t| b.account.holds()[t].state == HoldState::Committed && b.account.holds()[t].reversed_by.is_none());
                    match of {
                        Some(of) => b.run(Command::Reverse { txn: TxnId::from_uuid(Uuid::from_u128(10_000 + step as u128)), of, day: at(*d) }),
                        None => Ok(None),
                    }
                }
            };
        }
        let to = at(to);
        let from = from.map(at);
        let s = kudos_ledger::Statement::of(&agent(), b.account.entries(), from, to).unwrap();
        let balance = b.account.balance(to);
        prop_assert_eq!(s.total(), balance.balance.get(), "movements add up: {:?}", s);
        prop_assert_eq!((s.balance, s.available, s.reserved, s.debt),
            (balance.balance.get(), balance.available.get(), balance.reserved.get(), balance.debt.get()));
        prop_assert!(s.movements.iter().all(|m| from.is_none_or(|f| m.day >= f) && m.day <= to));
        // What expires within 30 days is what a statement to that day shows expiring on it.
        for e in &s.expiring {
            prop_assert!(e.day > to && e.points > 0);
            let then = kudos_ledger::Statement::of(&agent(), b.account.entries(), Some(e.day), e.day).unwrap();
            let expired: i64 = then.movements.iter()
                .filter(|m| m.kind == kudos_ledger::MovementKind::Expired)
                .map(|m| m.points).sum();
            prop_assert_eq!(expired, -e.points, "on {}", e.day);
        }
    }
}
