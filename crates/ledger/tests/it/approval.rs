//! A hold awaiting approval: made unsent, its points reserved; only an approval (to open,
//! still unsent) or a rejection (release) moves it; nothing can commit it, mark it sent, or
//! put a hold that was sent back to awaiting approval.

use kudos_core::TxnId;
use kudos_ledger::{Command, HoldState, LedgerError};

use crate::book::Book;

fn awaiting() -> (Book, TxnId) {
    let mut b = Book::new();
    b.accrue("10-01", "a", 700);
    let txn = b.hold("10-02", 500);
    b.run(Command::Mark {
        txn,
        state: HoldState::AwaitingApproval,
        attempts: 0,
    })
    .unwrap();
    (b, txn)
}

fn state(b: &Book, txn: TxnId) -> HoldState {
    b.account.holds()[&txn].state
}

#[test]
fn a_hold_awaiting_approval_reserves_its_points_and_blocks_another() {
    let (b, txn) = awaiting();
    assert_eq!(state(&b, txn), HoldState::AwaitingApproval);
    assert_eq!(b.abd("10-02"), (200, 0, 200), "500 reserved, 200 available");
    assert_eq!(b.account.unresolved_hold().map(|h| h.txn), Some(txn));
}

#[test]
fn only_approval_or_rejection_moves_it() {
    let (mut b, txn) = awaiting();
    for (state, attempts) in [
        (HoldState::InDoubt, 1),
        (HoldState::Review, 1),
        (HoldState::Open, 1),
    ] {
        let refused = b.run(Command::Mark {
            txn,
            state,
            attempts,
        });
        assert!(
            matches!(refused, Err(LedgerError::Invalid { .. })),
            "{state:?} after {attempts}: {refused:?}"
        );
    }
    let commit = b.run(Command::Commit { txn });
    assert!(
        matches!(commit, Err(LedgerError::Invalid { .. })),
        "{commit:?}"
    );
    assert_eq!(state(&b, txn), HoldState::AwaitingApproval);
    b.run(Command::Mark {
        txn,
        state: HoldState::Open,
        attempts: 0,
    })
    .unwrap();
    assert_eq!(state(&b, txn), HoldState::Open, "approved: open, unsent");
    b.commit(txn);
    assert_eq!(b.abd("10-02"), (200, 0, 200));
}

#[test]
fn a_rejection_returns_the_points() {
    let (mut b, txn) = awaiting();
    b.release(txn, "10-03");
    assert_eq!(state(&b, txn), HoldState::Released);
    assert_eq!(b.abd("10-03"), (700, 0, 700));
}

#[test]
fn a_hold_that_was_sent_never_goes_back_to_awaiting_approval() {
    let mut b = Book::new();
    b.accrue("10-01", "a", 700);
    let txn = b.hold("10-02", 500);
    b.run(Command::Mark {
        txn,
        state: HoldState::InDoubt,
        attempts: 1,
    })
    .unwrap();
    let back = b.run(Command::Mark {
        txn,
        state: HoldState::AwaitingApproval,
        attempts: 0,
    });
    assert!(matches!(back, Err(LedgerError::Invalid { .. })), "{back:?}");
}
