//! Operations are idempotent; holds resolve once; one unresolved hold per agent.

use std::sync::Arc;

use kudos_core::{AgentId, EventKey, MetricName, PointEvent, Points, RuleId, TxnId};
use kudos_ledger::{AccountCommands, Command, HoldState, Ledger, LedgerError, MemoryStore};
use uuid::Uuid;

use crate::book::{Book, day, tier};

#[test]
fn the_same_accrual_twice_is_one_accrual() {
    let mut b = Book::new();
    b.accrue("10-01", "k", 100);
    b.accrue("10-01", "k", 100);
    assert_eq!(b.abd("10-02"), (100, 0, 100));
    assert_eq!(
        b.account.entries().len(),
        1,
        "nothing appended the second time"
    );
}

#[test]
fn a_first_accrual_of_zero_stores_nothing() {
    let mut b = Book::new();
    b.accrue("10-01", "k", 0);
    assert!(b.account.entries().is_empty());
    b.accrue("10-01", "k", 30);
    assert_eq!(b.abd("10-02").0, 30);
}

#[test]
fn an_adjustment_id_replayed_returns_the_first_and_reused_with_other_content_is_refused() {
    let mut b = Book::new();
    let id = Uuid::from_u128(7);
    let adjust = |points: i64| Command::Adjust {
        id,
        day: day("10-01"),
        points: Points::new(points),
        expires: day("12-30"),
        reason: "goodwill".into(),
    };
    let first = b.run(adjust(25)).unwrap().unwrap();
    let again = b.run(adjust(25)).unwrap().unwrap();
    assert_eq!(first, again, "the replay returns the first result");
    assert_eq!(b.account.entries().len(), 1);
    let err = b.run(adjust(26)).unwrap_err();
    assert!(matches!(err, LedgerError::IdReused { .. }));
    let text = err.to_string();
    assert!(
        text.contains("adjustment of 25") && text.contains("adjustment of 26"),
        "names both: {text}"
    );
}

#[test]
fn one_unresolved_hold_per_agent() {
    let mut b = Book::new();
    b.accrue("10-01", "a", 2000);
    let first = b.hold("10-02", 500);
    let second = TxnId::generate(b.clock.as_ref());
    let err = b
        .run(Command::Hold {
            txn: second,
            day: day("10-02"),
            tier: tier(500),
            payload: vec![],
        })
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::HoldUnresolved { txn, .. } if txn == first),
        "{err}"
    );
    b.run(Command::Mark {
        txn: first,
        state: HoldState::InDoubt,
        attempts: 1,
    })
    .unwrap();
    let err = b
        .run(Command::Hold {
            txn: second,
            day: day("10-02"),
            tier: tier(500),
            payload: vec![],
        })
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::HoldUnresolved { .. }),
        "an in-doubt hold still blocks: {err}"
    );
    b.commit(first);
    b.run(Command::Hold {
        txn: second,
        day: day("10-02"),
        tier: tier(500),
        payload: vec![],
    })
    .unwrap();
}

#[test]
fn a_hold_needs_the_threshold_and_replays_by_txn() {
    let mut b = Book::new();
    b.accrue("10-01", "a", 499);
    let txn = TxnId::generate(b.clock.as_ref());
    let hold = |payload: &[u8]| Command::Hold {
        txn,
        day: day("10-02"),
        tier: tier(500),
        payload: payload.to_vec(),
    };
    let err = b.run(hold(b"{}")).unwrap_err();
    assert!(
        matches!(err, LedgerError::Insufficient { balance, threshold, .. } if balance.get() == 499 && threshold.get() == 500)
    );
    b.accrue("10-01", "b", 1);
    let first = b.run(hold(b"{}")).unwrap();
    assert_eq!(
        b.run(hold(b"{}")).unwrap(),
        first,
        "the same hold again returns the first"
    );
    assert!(
        matches!(
            b.run(hold(b"{\"other\":1}")).unwrap_err(),
            LedgerError::IdReused { .. }
        ),
        "another payload under the same txn is refused"
    );
}

#[test]
fn a_hold_resolves_at_most_once() {
    let mut b = Book::new();
    b.accrue("10-01", "a", 500);
    let txn = b.hold("10-02", 500);
    let first = b.run(Command::Commit { txn }).unwrap();
    assert_eq!(
        b.run(Command::Commit { txn }).unwrap(),
        first,
        "the same resolution again is a no-op"
    );
    let err = b
        .run(Command::Release {
            txn,
            day: day("10-03"),
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::AlreadyResolved {
                state: "committed",
                asked: "released",
                ..
            }
        ),
        "{err}"
    );
    let err = b
        .run(Command::Mark {
            txn,
            state: HoldState::InDoubt,
            attempts: 2,
        })
        .unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyResolved { .. }), "{err}");
    assert_eq!(b.abd("10-03"), (0, 0, 0));
}

#[test]
fn a_reversal_needs_a_committed_redemption_and_happens_once() {
    let mut b = Book::new();
    b.accrue("10-01", "a", 500);
    let txn = b.hold("10-02", 500);
    let rev = TxnId::generate(b.clock.as_ref());
    let reverse = |rev: TxnId| Command::Reverse {
        txn: rev,
        of: txn,
        day: day("10-03"),
    };
    assert!(matches!(
        b.run(reverse(rev)).unwrap_err(),
        LedgerError::NotCommitted { state: "open", .. }
    ));
    b.commit(txn);
    let first = b.run(reverse(rev)).unwrap();
    assert_eq!(
        b.run(reverse(rev)).unwrap(),
        first,
        "the same reversal again is a no-op"
    );
    let other = TxnId::generate(b.clock.as_ref());
    assert!(
        matches!(b.run(reverse(other)).unwrap_err(), LedgerError::AlreadyReversed { by, .. } if by == rev)
    );
    assert_eq!(
        b.abd("10-03"),
        (500, 0, 500),
        "the cost came back to its lot"
    );
}

#[test]
fn unknown_holds_are_named() {
    let mut b = Book::new();
    let txn = TxnId::generate(b.clock.as_ref());
    let err = b.run(Command::Commit { txn }).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("agent a1b2c3d4-0000-4000-8000-000000000001: no hold {txn}")
    );
}

/// A ledger on `MemoryStore`, its clock at 2026-10-01.
fn memory_ledger() -> Ledger<MemoryStore> {
    Ledger::new(
        MemoryStore::new(),
        Arc::new(kudos_core::ManualClock::at_rfc3339("2026-10-01T00:00:00Z").unwrap()),
    )
}

/// An accrual of `points` by `rule` on 2026-10-01.
fn accrue(agent: &AgentId, rule: &str, points: i64) -> Command {
    let d = day("10-01");
    Command::Accrue {
        event: PointEvent::new(crate::book::key(agent, d, rule), Points::new(points)),
        expires: d.add_days(30).unwrap(),
    }
}

#[tokio::test]
async fn execute_many_gives_each_account_its_own_result() {
    let (ledger, d) = (memory_ledger(), day("10-01"));
    let (a, b) = (AgentId::new("u-a").unwrap(), AgentId::new("u-b").unwrap());
    let refused = Command::Commit {
        txn: TxnId::from_uuid(Uuid::from_u128(9)),
    };
    let results = ledger
        .execute_many(&[
            AccountCommands::new(a.clone(), vec![accrue(&a, "r", 10), accrue(&a, "s", 5)]),
            AccountCommands::new(b.clone(), vec![accrue(&b, "r", 7), refused]),
        ])
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap().len(), 2);
    assert!(
        matches!(results[1], Err(LedgerError::UnknownHold { .. })),
        "b's refusal is b's alone"
    );
    assert_eq!(
        ledger.account(&a).await.unwrap().balance(d).available.get(),
        15
    );
    assert_eq!(
        ledger.account(&b).await.unwrap().version(),
        0,
        "nothing of b's refused batch was appended"
    );
}

#[tokio::test]
async fn execute_many_keeping_returns_each_account_as_a_fresh_load_would() {
    let (ledger, d) = (memory_ledger(), day("10-01"));
    let (a, b) = (AgentId::new("u-a").unwrap(), AgentId::new("u-b").unwrap());
    let stale = ledger.account(&a).await.unwrap();
    ledger.execute(&a, accrue(&a, "r", 10)).await.unwrap();
    let fresh_b = ledger.account(&b).await.unwrap();
    // a's account moved since it was loaded (reloaded and retried); b's did not.
    let results = ledger
        .execute_many_keeping(
            &[
                AccountCommands::new(a.clone(), vec![accrue(&a, "s", 5)]),
                AccountCommands::new(b.clone(), vec![accrue(&b, "r", 7), accrue(&b, "r", 7)]),
            ],
            Some(vec![stale, fresh_b]),
        )
        .await
        .unwrap();
    for (agent, result) in [&a, &b].into_iter().zip(results) {
        let (_, kept) = result.unwrap();
        let loaded = ledger.account(agent).await.unwrap();
        assert_eq!(kept.version(), loaded.version(), "{agent}");
        assert_eq!(kept.balance(d), loaded.balance(d), "{agent}");
        assert_eq!(kept.lots(), loaded.lots(), "{agent}");
        assert_eq!(kept.debt(), loaded.debt(), "{agent}");
        assert_eq!(kept.entries(), loaded.entries(), "{agent}");
        // The accrual keys are kept too: the same accrual again plans to nothing on both.
        let again = accrue(agent, "r", if *agent == a { 10 } else { 7 });
        assert_eq!(
            kept.plan(&again).unwrap(),
            loaded.plan(&again).unwrap(),
            "{agent}"
        );
        assert!(matches!(
            kept.plan(&again).unwrap(),
            kudos_ledger::Plan::Nothing(_)
        ));
    }
    assert_eq!(
        ledger.account(&a).await.unwrap().balance(d).available.get(),
        15
    );
    assert_eq!(
        ledger.account(&b).await.unwrap().balance(d).available.get(),
        7
    );
}

#[tokio::test]
async fn execute_many_on_plans_against_given_accounts_and_reloads_stale_ones() {
    let (ledger, d) = (memory_ledger(), day("10-01"));
    let a = AgentId::new("u-a").unwrap();
    let stale = ledger.account(&a).await.unwrap();
    // Another writer moves the account after the caller loaded it.
    ledger.execute(&a, accrue(&a, "r", 10)).await.unwrap();
    let results = ledger
        .execute_many_on(
            &[AccountCommands::new(a.clone(), vec![accrue(&a, "s", 5)])],
            vec![stale],
        )
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let account = ledger.account(&a).await.unwrap();
    assert_eq!(
        (account.version(), account.balance(d).available.get()),
        (2, 15),
        "the stale account was reloaded: nothing lost, nothing written twice"
    );

    // Accounts that are not the work's own are ignored: each item plans on its own account.
    // (Planned on a's account, committing a's hold would be written into b's.)
    let txn = TxnId::from_uuid(Uuid::from_u128(77));
    ledger
        .execute(
            &a,
            Command::Hold {
                txn,
                day: d,
                tier: tier(10),
                payload: b"{}".to_vec(),
            },
        )
        .await
        .unwrap();
    let b = AgentId::new("u-b").unwrap();
    for (rule, points) in [("r", 1), ("s", 2), ("t", 3)] {
        ledger.execute(&b, accrue(&b, rule, points)).await.unwrap();
    }
    let wrong = ledger.account(&a).await.unwrap();
    assert_eq!(wrong.version(), ledger.account(&b).await.unwrap().version());
    let results = ledger
        .execute_many_on(
            &[AccountCommands::new(
                b.clone(),
                vec![Command::Commit { txn }],
            )],
            vec![wrong],
        )
        .await
        .unwrap();
    assert!(
        matches!(results[0], Err(LedgerError::UnknownHold { .. })),
        "b has no such hold: {results:?}"
    );
    assert_eq!(ledger.account(&b).await.unwrap().version(), 3);
}

#[tokio::test]
async fn an_accrual_that_would_take_the_points_past_64_bits_is_refused_and_nothing_wraps() {
    let (ledger, d) = (memory_ledger(), day("10-01"));
    let a = AgentId::new("u-big").unwrap();
    let big = |rule: &str| Command::Accrue {
        event: PointEvent::new(
            EventKey::new(
                a.clone(),
                d,
                RuleId::new(rule).unwrap(),
                MetricName::new("m").unwrap(),
                Default::default(),
            ),
            Points::new(5_000_000_000_000_000_000),
        ),
        expires: d.add_days(30).unwrap(),
    };
    ledger.execute(&a, big("r")).await.unwrap();
    let refused = ledger.execute(&a, big("s")).await.unwrap_err();
    assert!(
        matches!(refused, LedgerError::Overflow { .. }),
        "{refused:?}"
    );
    let account = ledger.account(&a).await.unwrap();
    assert_eq!(
        account.version(),
        1,
        "nothing of the refused accrual was appended"
    );
    assert_eq!(
        account.balance(d).available,
        Points::new(5_000_000_000_000_000_000),
        "the balance is what was taken, not wrapped"
    );
}
