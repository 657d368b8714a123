//! A statement an agent can check line by line: earned by rule and day, the restatement that
//! changed it, a penalty, a reward held and issued, one released, points expired, and the
//! balance, debt and expiring points it ends with — agreeing with the ledger to the point.

use kudos_ledger::{MovementKind, Statement};

use crate::book::{Book, agent, day};

#[test]
fn a_statement_tells_every_movement_and_ends_on_the_ledgers_balance() {
    let mut b = Book::new();
    b.accrue("09-01", "csat", 300); // expires 10-01
    b.accrue("09-20", "sales", 250); // expires 10-20
    b.accrue("09-20", "sales", 200); // restated: −50
    b.accrue("09-21", "late", -30); // a penalty
    let issued = b.hold("09-25", 400);
    b.commit(issued);
    let released = b.hold("09-26", 50);
    b.release(released, "09-27");
    let s = Statement::of(&agent(), b.account.entries(), None, day("10-05")).unwrap();
    let lines: Vec<(String, MovementKind, i64)> = s
        .movements
        .iter()
        .map(|m| (m.day.to_string(), m.kind, m.points))
        .collect();
    use MovementKind::*;
    assert_eq!(
        lines,
        [
            ("2026-09-01".to_owned(), Earned, 300),
            ("2026-09-20".to_owned(), Earned, 250),
            ("2026-09-20".to_owned(), Restated, -50),
            ("2026-09-21".to_owned(), Penalty, -30),
            ("2026-09-25".to_owned(), Held, -400),
            ("2026-09-25".to_owned(), Issued, 0),
            ("2026-09-26".to_owned(), Held, -50),
            ("2026-09-27".to_owned(), Released, 50),
        ],
        "the 09-01 points went first (penalty, then the reward), so nothing of them expired"
    );
    assert_eq!(
        s.movements[0].rule.as_ref().map(ToString::to_string),
        Some("csat".into())
    );
    assert_eq!(s.movements[2].total, Some(200), "the record's points now");
    assert_eq!(s.movements[4].txn, Some(issued));
    assert_eq!((s.balance, s.debt, s.total()), (70, 0, 70));
    assert_eq!(b.abd("10-05"), (70, 0, 70), "as the ledger says");
    assert_eq!(s.expiring.len(), 1);
    assert_eq!(
        (s.expiring[0].day, s.expiring[0].points),
        (day("10-20"), 70)
    );

    // Later, the last 70 expire; a statement from 10-06 opens on what came before.
    let s = Statement::of(
        &agent(),
        b.account.entries(),
        Some(day("10-06")),
        day("10-25"),
    )
    .unwrap();
    assert_eq!(s.opening, 70);
    let lines: Vec<(String, MovementKind, i64)> = s
        .movements
        .iter()
        .map(|m| (m.day.to_string(), m.kind, m.points))
        .collect();
    assert_eq!(lines, [("2026-10-20".to_owned(), Expired, -70)]);
    assert_eq!((s.balance, s.total()), (0, 0));
}

#[test]
fn debt_and_a_clawback_are_on_the_statement() {
    let mut b = Book::new();
    b.accrue("10-01", "k", 500);
    let of = b.hold("10-02", 500);
    b.commit(of);
    b.accrue("10-01", "k", 0); // restated away after the reward: 500 of debt
    b.reverse(of, "10-05"); // clawed back: the debt is paid
    let s = Statement::of(&agent(), b.account.entries(), None, day("10-04")).unwrap();
    assert_eq!(
        (s.balance, s.debt),
        (0, 0),
        "the reversal is already in the ledger"
    );
    assert_eq!(
        s.later, 500,
        "the clawback of 10-05 counts after the statement's last day"
    );
    let kinds: Vec<MovementKind> = s.movements.iter().map(|m| m.kind).collect();
    assert!(kinds.contains(&MovementKind::Restated), "{kinds:?}");
    let s = Statement::of(&agent(), b.account.entries(), None, day("10-05")).unwrap();
    assert_eq!(
        s.movements.last().map(|m| (m.kind, m.points)),
        Some((MovementKind::Reversed, 500))
    );
    assert_eq!(s.total(), s.balance);
}
