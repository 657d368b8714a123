//! The reversal state machine: recorded before its request, open / in doubt / in review until
//! confirmed (`reversed`: the points come back) or ended (`not_reversed`: the debt stays); at
//! most one per redemption, whatever is asked twice.

use kudos_core::{Points, TxnId};
use kudos_ledger::{Command, LedgerError, Op, ReversalState, transition_id};

use crate::book::{Book, day};

/// An account with 500 points, a committed 400-point redemption and a 300-point deduction
/// (100 left; no debt yet: the deduction takes what the lot has left, then owes the rest).
fn redeemed() -> (Book, TxnId) {
    let mut b = Book::new();
    b.accrue("10-01", "a", 500);
    let of = b.hold("10-02", 400);
    b.commit(of);
    b.accrue("10-03", "penalty", -300);
    (b, of)
}

fn request(of: TxnId) -> (TxnId, Command) {
    let txn = TxnId::from_uuid(transition_id(of, "reversal", 0));
    let command = Command::RequestReversal {
        txn,
        of,
        day: day("10-04"),
        debt: Points::new(200),
        payload: b"{\"reason\":\"clawback\"}".to_vec(),
    };
    (txn, command)
}

#[test]
fn a_requested_reversal_moves_no_points_until_the_marketplace_confirms_it() {
    let (mut b, of) = redeemed();
    assert_eq!(b.abd("10-04"), (0, 200, -200), "in debt by 200");
    let (txn, ask) = request(of);
    let recorded = b.run(ask.clone()).unwrap().unwrap();
    assert!(matches!(recorded.op, Op::ReversalRequest { .. }));
    assert_eq!(recorded.id, *txn.as_uuid(), "recorded under its own id");
    assert_eq!(
        b.run(ask).unwrap().unwrap(),
        recorded,
        "asked twice, recorded once"
    );
    let reversal = &b.account.reversals()[&txn];
    assert_eq!(
        (reversal.state, reversal.payload.as_slice()),
        (ReversalState::Open, b"{\"reason\":\"clawback\"}".as_slice()),
        "open, with the bytes its request sends"
    );
    assert_eq!(b.abd("10-04"), (0, 200, -200), "nothing moves yet");
    b.run(Command::MarkReversal {
        txn,
        state: ReversalState::InDoubt,
        attempts: 1,
    })
    .unwrap();
    assert_eq!(b.abd("10-04"), (0, 200, -200), "in doubt, nothing moves");
    let confirm = Command::Reverse {
        txn,
        of,
        day: day("10-05"),
    };
    let confirmed = b.run(confirm.clone()).unwrap().unwrap();
    assert_eq!(
        b.abd("10-05"),
        (200, 0, 200),
        "confirmed: the 400 points pay the debt of 200, 200 go back to their lot"
    );
    assert_eq!(
        b.run(confirm).unwrap(),
        Some(confirmed),
        "confirmed twice, counted once"
    );
    assert_eq!(b.account.reversals()[&txn].state, ReversalState::Reversed);
    assert_eq!(b.account.holds()[&of].reversed_by, Some(txn));
    assert!(matches!(
        b.run(Command::EndReversal { txn }).unwrap_err(),
        LedgerError::AlreadyResolved { .. }
    ));
}

#[test]
fn an_ended_reversal_keeps_the_debt_and_is_never_asked_again() {
    let (mut b, of) = redeemed();
    let (txn, ask) = request(of);
    b.run(ask.clone()).unwrap();
    b.run(Command::MarkReversal {
        txn,
        state: ReversalState::Review,
        attempts: 1,
    })
    .unwrap();
    let ended = b.run(Command::EndReversal { txn }).unwrap();
    assert_eq!(
        b.run(Command::EndReversal { txn }).unwrap(),
        ended,
        "ended twice, recorded once"
    );
    assert_eq!(
        b.account.reversals()[&txn].state,
        ReversalState::NotReversed
    );
    assert_eq!(b.abd("10-04"), (0, 200, -200), "the debt stays");
    assert!(
        matches!(
            b.run(Command::MarkReversal {
                txn,
                state: ReversalState::InDoubt,
                attempts: 2
            })
            .unwrap_err(),
            LedgerError::AlreadyResolved { .. }
        ),
        "an ended reversal is not re-driven"
    );
    let other = TxnId::from_uuid(transition_id(of, "another", 0));
    let again = Command::RequestReversal {
        txn: other,
        of,
        day: day("10-06"),
        debt: Points::new(200),
        payload: b"{}".to_vec(),
    };
    assert!(
        matches!(b.run(again).unwrap_err(), LedgerError::Invalid { .. }),
        "one reversal per redemption"
    );
    // The marketplace later says it did reverse it: the ledger follows the marketplace.
    b.run(Command::Reverse {
        txn,
        of,
        day: day("10-06"),
    })
    .unwrap();
    assert_eq!(b.abd("10-06"), (200, 0, 200));
}

#[test]
fn only_a_committed_redemption_is_asked_to_be_reversed() {
    let mut b = Book::new();
    b.accrue("10-01", "a", 500);
    let of = b.hold("10-02", 400);
    let (_, ask) = request(of);
    assert!(matches!(
        b.run(ask.clone()).unwrap_err(),
        LedgerError::NotCommitted { state: "open", .. }
    ));
    b.commit(of);
    b.reverse(of, "10-03");
    assert!(matches!(
        b.run(ask).unwrap_err(),
        LedgerError::AlreadyReversed { .. }
    ));
    assert!(matches!(
        b.run(Command::MarkReversal {
            txn: TxnId::generate(b.clock.as_ref()),
            state: ReversalState::InDoubt,
            attempts: 1
        })
        .unwrap_err(),
        LedgerError::UnknownReversal { .. }
    ));
}
