//! The invariant checker fires for each invariant: on states a crafted (corrupt) entry log
//! reaches when the fold allows it, on a hand-broken state when no entry log can.

use chrono::{DateTime, Utc};
use kudos_core::{AgentId, Day, EventKey, MetricName, Points, RewardType, RuleId, TierId, TxnId};
use uuid::Uuid;

use super::Account;
use crate::{Entry, HoldState, Op};

fn day(text: &str) -> Day {
    Day::parse(text).unwrap()
}

fn agent() -> AgentId {
    AgentId::new("a1b2c3d4-0000-4000-8000-000000000001").unwrap()
}

fn txn(n: u128) -> TxnId {
    TxnId::from_uuid(Uuid::from_u128(n))
}

fn entry(id: u128, op: Op) -> Entry {
    Entry {
        id: Uuid::from_u128(id),
        at: "2026-09-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        op,
    }
}

/// An accrual of `points` on 2026-09-01, expiring 30 days later.
fn accrual(points: i64) -> Op {
    let on = day("2026-09-01");
    Op::Accrual {
        key: EventKey::new(
            agent(),
            on,
            RuleId::new("rule").unwrap(),
            MetricName::new("metric").unwrap(),
            Default::default(),
        ),
        points: Points::new(points),
        expires: on.add_days(30).unwrap(),
    }
}

fn hold(txn: TxnId, cost: i64) -> Op {
    Op::Hold {
        txn,
        day: day("2026-09-05"),
        tier: TierId::new("tier").unwrap(),
        reward_type: RewardType::new("gift").unwrap(),
        cost: Points::new(cost),
        payload: b"{}".to_vec(),
    }
}

/// The account the ops fold into, without the debug check (so a broken state is reached).
fn folded(ops: Vec<Op>) -> Account {
    let mut account = Account::new(agent());
    for (n, op) in (1..).zip(ops) {
        account.apply_unchecked(entry(n, op)).unwrap();
    }
    account
}

/// Accruals (one restated down), a released hold, a committed one and its reversal.
fn a_whole_history() -> Vec<Op> {
    vec![
        accrual(100),
        hold(txn(1), 60),
        Op::Release {
            txn: txn(1),
            day: day("2026-09-10"),
        },
        hold(txn(2), 30),
        Op::Commit { txn: txn(2) },
        Op::Reversal {
            txn: txn(3),
            of: txn(2),
            day: day("2026-09-10"),
        },
        accrual(40),
        accrual(-20),
    ]
}

fn broken(account: &Account) -> String {
    account.check_invariants().unwrap_err()
}

#[test]
fn an_account_built_by_its_operations_keeps_the_invariants() {
    let account = folded(a_whole_history());
    assert_eq!(account.check_invariants(), Ok(()));
    // The same entries through `apply`, which checks after each one in debug builds.
    let entries = account.entries().to_vec();
    let again = Account::from_entries(agent(), entries).unwrap();
    assert_eq!(again.lots(), account.lots());
}

#[test]
fn an_account_without_history_has_the_same_state_and_no_entries() {
    let full = folded(a_whole_history());
    let mut lean = Account::without_history(agent());
    for entry in full.entries() {
        lean.apply(entry.clone()).unwrap();
    }
    assert!(lean.entries().is_empty(), "no history kept");
    assert_eq!(lean.version(), full.version());
    assert_eq!(lean.lots(), full.lots());
    assert_eq!(lean.debt(), full.debt());
    for on in ["2026-09-01", "2026-09-20", "2026-10-01", "2026-10-02"] {
        assert_eq!(lean.balance(day(on)), full.balance(day(on)), "{on}");
    }
    assert_eq!(lean.holds(), full.holds());
    // Idempotency by id still holds: the same commit again is recognised, not appended.
    let again = crate::Command::Commit { txn: txn(2) };
    assert_eq!(lean.plan(&again).unwrap(), full.plan(&again).unwrap());
}

#[test]
fn a_second_commit_of_a_hold_breaks_the_lot_bounds() {
    let account = folded(vec![
        accrual(100),
        hold(txn(1), 50),
        Op::Commit { txn: txn(1) },
        Op::Commit { txn: txn(1) },
    ]);
    let lot = &account.lots()[0];
    assert_eq!(
        (lot.reserved, lot.remaining),
        (Points::new(-50), Points::ZERO)
    );
    assert!(broken(&account).starts_with("lot bounds: lot 0 has -50 reserved"));
}

#[test]
fn reserved_above_remaining_breaks_the_lot_bounds() {
    // No entry log reaches this: every operation keeps `remaining - reserved` at zero or
    // more (holds, deductions and restatements take at most that; commit and release lower
    // both by the same points; returned points only add to `remaining`). So by hand.
    let mut account = folded(vec![accrual(100), hold(txn(1), 50)]);
    account.lots[0].remaining = Points::new(40);
    assert_eq!(
        broken(&account),
        "lot bounds: lot 0 has 50 reserved of 40 remaining"
    );
}

#[test]
fn a_second_open_hold_breaks_one_unresolved_hold() {
    let account = folded(vec![accrual(100), hold(txn(1), 30), hold(txn(2), 30)]);
    assert!(broken(&account).starts_with("one unresolved hold: 2 are unresolved"));
}

#[test]
fn a_committed_hold_marked_open_again_breaks_reservations_match() {
    let account = folded(vec![
        accrual(100),
        hold(txn(1), 50),
        Op::Commit { txn: txn(1) },
        Op::Mark {
            txn: txn(1),
            state: HoldState::Open,
            attempts: 1,
        },
    ]);
    assert_eq!(
        broken(&account),
        "reservations match: lot 0 has 0 reserved, its unresolved holds' reservations on it \
         sum to 50"
    );
}

#[test]
fn reservations_short_of_the_cost_break_reservations_match() {
    // No entry log reaches this: a hold entry reserves exactly its cost or is refused as
    // corrupt. So by hand: the reservations agree lot by lot, the cost does not.
    let mut account = folded(vec![accrual(100), hold(txn(1), 50)]);
    account.holds.get_mut(&txn(1)).unwrap().cost = Points::new(60);
    assert_eq!(
        broken(&account),
        "reservations match: the lots have 50 reserved, the unresolved holds cost 60"
    );
}

#[test]
fn negative_debt_breaks_the_debt_invariant() {
    // No entry log reaches this: debt only grows by what a deduction could not take (never
    // negative) and shrinks by at most itself when points arrive. So by hand.
    let mut account = folded(vec![accrual(-20)]);
    assert_eq!(account.debt(), Points::new(20));
    account.debt = Points::new(-1);
    assert_eq!(broken(&account), "debt: the debt is -1");
}

#[test]
fn a_hold_serializes_its_reservations_as_pairs() {
    let account = folded(vec![accrual(100), hold(txn(1), 50)]);
    let json = serde_json::to_value(&account.holds()[&txn(1)]).unwrap();
    assert_eq!(json["lots"], serde_json::json!([[0, 50]]));
}
