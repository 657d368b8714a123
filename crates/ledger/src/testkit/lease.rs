//! The conformance checks of the [`LeaseStore`] port.
//!
//! Leases run on the store's own clock, which the suite cannot set, so the one check of a
//! lapse waits for a short lease to end (well under a second).

use std::sync::Arc;
use std::time::Duration;

use kudos_core::{Day, ManualClock, TxnId};

use super::{account_with_a_hold, fresh_agent, now};
use crate::{Command, HoldState, LeaseStore, Ledger, LedgerStore};

/// Runs every check of the lease port (the store must also be the ledger's, whose holds it
/// leases).
pub async fn lease_conformance<S: LedgerStore + LeaseStore + ?Sized>(store: &S) {
    unresolved_holds_are_leased_to_one_owner(store).await;
    super::unresolved_reversals_are_leased(store).await;
}

/// Each unresolved hold — open, in doubt or in review — is leased to one owner at a time, on
/// the store's clock; a lease lapses, is renewed or ended by its owner (only), and a resolved
/// hold is never leased.
pub async fn unresolved_holds_are_leased_to_one_owner<S: LedgerStore + LeaseStore + ?Sized>(
    store: &S,
) {
    let clock = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock.clone());
    let agent = fresh_agent("leases");
    let day = Day::parse("2026-10-05").expect("day");
    let txn = account_with_a_hold(&ledger, &clock, &agent, day, 1000, 400).await;
    let minute = Duration::from_secs(60);
    let lease = |owner: &'static str, length: Duration| store.lease(txn, owner, length);

    assert!(
        lease("run-a", minute).await.expect("lease"),
        "a free hold can be leased"
    );
    assert!(
        !lease("run-b", minute).await.expect("lease"),
        "a live lease excludes other owners"
    );
    assert!(
        lease("run-a", minute).await.expect("lease"),
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
            .lease_many(&[txn, unknown], "run-b", minute)
            .await
            .expect("lease_many"),
        [false, false],
        "leasing many: a live lease excludes, an unknown hold is not leased"
    );
    assert_eq!(
        store
            .lease_many(&[txn], "run-a", minute)
            .await
            .expect("lease_many"),
        [true],
        "the owner renews many"
    );

    store.end_leases(&[txn], "run-b").await.expect("end_leases");
    assert!(
        !lease("run-b", minute).await.expect("lease"),
        "only the owner ends its lease"
    );
    store.end_leases(&[txn], "run-a").await.expect("end_leases");
    assert!(
        lease("run-b", minute).await.expect("lease"),
        "an ended lease is taken over at once"
    );

    // A lease lapses on the store's clock.
    assert!(
        lease("run-b", Duration::from_millis(300))
            .await
            .expect("lease"),
        "the owner renews for less"
    );
    assert!(!lease("run-c", minute).await.expect("lease"), "still live");
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        lease("run-c", minute).await.expect("lease"),
        "a lapsed lease is taken over"
    );

    for (state, owner) in [(HoldState::InDoubt, "run-d"), (HoldState::Review, "run-e")] {
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
        let previous = store
            .lease_of(txn)
            .await
            .expect("lease_of")
            .map(|l| l.owner)
            .expect("a lease");
        store
            .end_leases(&[txn], &previous)
            .await
            .expect("end_leases");
        assert!(
            lease(owner, minute).await.expect("lease"),
            "a hold {} is unresolved, and leased",
            state.name()
        );
    }

    ledger
        .execute(&agent, Command::Commit { txn })
        .await
        .expect("commit");
    store.end_leases(&[txn], "run-e").await.expect("end_leases");
    assert!(
        !lease("run-f", minute).await.expect("lease"),
        "a resolved hold is never leased"
    );
}
