//! The conformance checks of the [`LeaseStore`] port.

use std::sync::Arc;

use chrono::TimeDelta;
use kudos_core::{Clock, Day, ManualClock, TxnId};

use super::{account_with_a_hold, fresh_agent, now};
use crate::{Command, HoldState, LeaseStore, Ledger, LedgerStore};

/// Runs every check of the lease port (the store must also be the ledger's, whose holds it
/// leases).
pub async fn lease_conformance<S: LedgerStore + LeaseStore + ?Sized>(store: &S) {
    unresolved_holds_are_leased_to_one_owner(store).await;
}

/// Each unresolved hold — open, in doubt or in review — is leased to one owner at a time; a
/// lease lapses, is renewed by its owner, and a resolved hold is never leased.
pub async fn unresolved_holds_are_leased_to_one_owner<S: LedgerStore + LeaseStore + ?Sized>(
    store: &S,
) {
    let clock = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock.clone());
    let agent = fresh_agent("leases");
    let day = Day::parse("2026-10-05").expect("day");
    let txn = account_with_a_hold(&ledger, &clock, &agent, day, 1000, 400).await;

    let t0 = clock.now();
    let until = t0 + TimeDelta::seconds(60);
    assert!(
        store.lease(txn, "run-a", t0, until).await.expect("lease"),
        "a free hold can be leased"
    );
    assert!(
        !store
            .lease(txn, "run-b", t0 + TimeDelta::seconds(10), until)
            .await
            .expect("lease"),
        "a live lease excludes other owners"
    );
    assert!(
        store
            .lease(
                txn,
                "run-a",
                t0 + TimeDelta::seconds(20),
                t0 + TimeDelta::seconds(80)
            )
            .await
            .expect("lease"),
        "the owner renews"
    );
    assert_eq!(
        store
            .lease_of(txn)
            .await
            .expect("lease_of")
            .map(|l| l.owner),
        Some("run-a".to_owned())
    );
    let unknown = TxnId::from_uuid(uuid::Uuid::from_u128(0xdead));
    assert_eq!(
        store
            .lease_many(
                &[txn, unknown],
                "run-b",
                t0 + TimeDelta::seconds(30),
                t0 + TimeDelta::seconds(90)
            )
            .await
            .expect("lease_many"),
        [false, false],
        "leasing many: a live lease excludes, an unknown hold is not leased"
    );
    assert_eq!(
        store
            .lease_many(
                &[txn],
                "run-a",
                t0 + TimeDelta::seconds(20),
                t0 + TimeDelta::seconds(80)
            )
            .await
            .expect("lease_many"),
        [true],
        "the owner renews many"
    );
    assert!(
        !store
            .lease(txn, "run-b", t0 + TimeDelta::seconds(79), until)
            .await
            .expect("lease"),
        "a renewed lease still excludes"
    );
    assert!(
        store
            .lease(
                txn,
                "run-b",
                t0 + TimeDelta::seconds(80),
                t0 + TimeDelta::seconds(140)
            )
            .await
            .expect("lease"),
        "a lapsed lease is taken over"
    );

    for (state, owner, at) in [
        (HoldState::InDoubt, "run-c", 200),
        (HoldState::Review, "run-d", 400),
    ] {
        ledger
            .execute(
                &agent,
                Command::Mark {
                    txn,
                    state,
                    attempts: 1,
                },
            )
            .await
            .expect("mark");
        assert!(
            store
                .lease(
                    txn,
                    owner,
                    t0 + TimeDelta::seconds(at),
                    t0 + TimeDelta::seconds(at + 60)
                )
                .await
                .expect("lease"),
            "a hold {} is unresolved, and its lapsed lease is taken over",
            state.name()
        );
    }

    ledger
        .execute(&agent, Command::Commit { txn })
        .await
        .expect("commit");
    assert!(
        !store
            .lease(
                txn,
                "run-e",
                t0 + TimeDelta::seconds(500),
                t0 + TimeDelta::seconds(600)
            )
            .await
            .expect("lease"),
        "a resolved hold is never leased"
    );
}
