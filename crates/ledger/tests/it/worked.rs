//! The worked examples of `docs/reference/ledger.md`, window 30 days, each from an empty account.

use crate::book::Book;

#[test]
fn a_lot_is_live_within_its_window() {
    let mut b = Book::new();
    b.accrue("10-01", "k", 100);
    assert_eq!(b.abd("10-15"), (100, 0, 100));
}

#[test]
fn a_lot_expires_after_its_window() {
    let mut b = Book::new();
    b.accrue("10-01", "k", 100);
    assert_eq!(b.abd("10-30"), (100, 0, 100), "still live on its last day");
    assert_eq!(b.abd("10-31"), (0, 0, 0), "expired on 10-31");
}

#[test]
fn a_deduction_takes_the_oldest_lot_first() {
    let mut b = Book::new();
    b.accrue("09-01", "a", 100);
    b.accrue("09-20", "b", 100);
    b.accrue("09-25", "c", -150);
    assert_eq!(b.abd("10-10"), (50, 0, 50));
}

#[test]
fn debt_is_paid_first_by_arriving_points() {
    let mut b = Book::new();
    b.accrue("10-09", "a", -200);
    b.accrue("10-10", "b", 40);
    assert_eq!(b.abd("10-10"), (0, 160, -160));
}

#[test]
fn a_restatement_to_zero_takes_the_points_back() {
    let mut b = Book::new();
    b.accrue("10-01", "k", 50);
    b.accrue("10-01", "k", 0);
    assert_eq!(b.abd("10-05"), (0, 0, 0));
}

#[test]
fn a_restatement_after_a_redemption_leaves_debt_to_claw_back() {
    let mut b = Book::new();
    b.accrue("10-01", "k", 50);
    let txn = b.hold("10-01", 50);
    b.commit(txn);
    b.accrue("10-01", "k", 0);
    assert_eq!(b.abd("10-05"), (0, 50, -50));
}

#[test]
fn a_release_pays_the_debt_that_arose_while_held() {
    let mut b = Book::new();
    for (d, k) in [("10-01", "a"), ("10-02", "b"), ("10-03", "c")] {
        b.accrue(d, k, 100);
    }
    let txn = b.hold("10-03", 300);
    b.accrue("10-04", "penalty", -300);
    assert_eq!(
        b.abd("10-04"),
        (0, 300, -300),
        "reserved points cannot be deducted: debt"
    );
    b.release(txn, "10-05");
    assert_eq!(b.abd("10-05"), (0, 0, 0));
}

#[test]
fn a_confirmed_reversal_pays_the_debt() {
    let mut b = Book::new();
    for (d, k) in [("10-01", "a"), ("10-02", "b"), ("10-03", "c")] {
        b.accrue(d, k, 100);
    }
    let txn = b.hold("10-03", 300);
    b.commit(txn);
    b.accrue("10-04", "penalty", -300);
    b.reverse(txn, "10-05");
    assert_eq!(b.abd("10-05"), (0, 0, 0));
}

#[test]
fn points_released_into_an_expired_lot_are_gone() {
    let mut b = Book::new();
    b.accrue("09-01", "a", 100);
    let txn = b.hold("09-05", 100);
    b.release(txn, "10-02");
    assert_eq!(b.abd("10-02"), (0, 0, 0));
    assert_eq!(
        b.balance("09-30").available.get(),
        0,
        "gone, not back in the (expired) lot"
    );
}

#[test]
fn held_points_are_reserved_not_available() {
    let mut b = Book::new();
    b.accrue("10-01", "a", 700);
    let txn = b.hold("10-02", 500);
    let bal = b.balance("10-02");
    assert_eq!(
        (bal.available.get(), bal.reserved.get(), bal.balance.get()),
        (200, 500, 200)
    );
    b.commit(txn);
    let bal = b.balance("10-02");
    assert_eq!((bal.available.get(), bal.reserved.get()), (200, 0));
}
