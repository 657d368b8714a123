//! The reversal index: reversals are listed by state beside the holds, never among them, and
//! a lease can be taken on an unresolved one.

use std::sync::Arc;
use std::time::Duration;

use kudos_core::{Day, ManualClock, Points, TxnId};

use super::{account_with_a_hold, fresh_agent, now};
use crate::{
    Command, HoldState, LeaseStore, Ledger, LedgerStore, ReversalState, ReversalView, transition_id,
};

/// Gives a fresh account a committed hold of 400 (out of 1000 points) and an open reversal of
/// it, recorded with `debt` and `payload`; returns the hold's and the reversal's ids.
async fn account_with_a_reversal<S: LedgerStore + ?Sized>(
    ledger: &Ledger<&S>,
    clock: &ManualClock,
    agent: &kudos_core::AgentId,
    day: Day,
    debt: i64,
    payload: &[u8],
) -> (TxnId, TxnId) {
    let of = account_with_a_hold(ledger, clock, agent, day, 1000, 400).await;
    ledger
        .execute(agent, Command::Commit { txn: of })
        .await
        .expect("commit");
    let txn = TxnId::from_uuid(transition_id(of, "reversal", 0));
    ledger
        .execute(
            agent,
            Command::RequestReversal {
                txn,
                of,
                day,
                debt: Points::new(debt),
                payload: payload.to_vec(),
            },
        )
        .await
        .expect("request a reversal");
    (of, txn)
}

/// The reversal index keeps the latest view per reversal, lists reversals by state (and
/// never among the holds), and follows a reversal from open to reversed.
pub async fn reversals_are_indexed_by_state(store: &dyn LedgerStore) {
    let clock = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock.clone());
    let agent = fresh_agent("reversals");
    let day = Day::parse("2026-10-05").expect("day");
    let (of, txn) = account_with_a_reversal(
        &ledger,
        &clock,
        &agent,
        day,
        50,
        b"{\"reason\":\"clawback\"}",
    )
    .await;
    let mine = |state| {
        let agent = agent.clone();
        async move {
            store
                .reversals(state)
                .await
                .expect("reversals")
                .into_iter()
                .filter(|r| r.agent == agent)
                .collect::<Vec<ReversalView>>()
        }
    };
    let open = mine(Some(ReversalState::Open)).await;
    assert_eq!(open.len(), 1, "the new reversal is listed as open");
    assert_eq!(
        (open[0].txn, open[0].of, open[0].cost, open[0].debt),
        (txn, of, Points::new(400), Points::new(50)),
        "the reversal's view is kept as the ledger computed it"
    );
    assert!(
        store
            .holds(None)
            .await
            .expect("holds")
            .iter()
            .all(|h| h.txn != txn),
        "a reversal is never listed among the holds"
    );
    assert!(
        store
            .holds(Some(HoldState::Open))
            .await
            .expect("holds")
            .iter()
            .all(|h| h.txn != of),
        "the redemption stays committed"
    );
    ledger
        .execute(
            &agent,
            Command::MarkReversal {
                txn,
                state: ReversalState::InDoubt,
                attempts: 1,
            },
        )
        .await
        .expect("mark");
    assert!(mine(Some(ReversalState::Open)).await.is_empty());
    let doubt = mine(Some(ReversalState::InDoubt)).await;
    assert_eq!(
        doubt.iter().map(|r| r.attempts).collect::<Vec<_>>(),
        [1],
        "the index follows the reversal's state"
    );
    ledger
        .execute(&agent, Command::Reverse { txn, of, day })
        .await
        .expect("reverse");
    assert!(mine(Some(ReversalState::InDoubt)).await.is_empty());
    assert_eq!(mine(Some(ReversalState::Reversed)).await.len(), 1);
    assert_eq!(mine(None).await.len(), 1, "one row per reversal");
}

/// A lease is taken on an unresolved reversal as on a hold, and on a resolved one never.
pub async fn unresolved_reversals_are_leased<S: LedgerStore + LeaseStore + ?Sized>(store: &S) {
    let clock = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock.clone());
    let agent = fresh_agent("reversal-lease");
    let day = Day::parse("2026-10-05").expect("day");
    let (_, txn) = account_with_a_reversal(&ledger, &clock, &agent, day, 50, b"{}").await;
    let minute = Duration::from_secs(60);
    assert!(
        store.lease(txn, "one", minute).await.expect("lease"),
        "an open reversal is leased"
    );
    assert!(
        !store.lease(txn, "two", minute).await.expect("lease"),
        "to one owner at a time"
    );
    ledger
        .execute(&agent, Command::EndReversal { txn })
        .await
        .expect("end");
    store.end_leases(&[txn], "one").await.expect("end leases");
    assert!(
        !store.lease(txn, "two", minute).await.expect("lease"),
        "a resolved reversal is never leased"
    );
}

/// `find` names the account of every kind of operation id: the adjustment, the hold, its
/// transitions and the reversal request (a store may answer each from a narrower index than
/// one over every entry, as SQLite's schema 6 does).
pub async fn operation_ids_are_found(store: &dyn LedgerStore) {
    let clock = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock.clone());
    let agent = fresh_agent("find-ops");
    let other = fresh_agent("find-ops-other");
    let day = Day::parse("2026-10-05").expect("day");
    account_with_a_hold(&ledger, &clock, &other, day, 1000, 400).await;
    account_with_a_reversal(&ledger, &clock, &agent, day, 0, b"{}").await;
    let stored = store.load(&agent).await.expect("load");
    let kinds: Vec<&str> = stored.entries.iter().map(|e| e.op.kind()).collect();
    assert_eq!(
        kinds,
        ["adjustment", "hold", "commit", "reversal_request"],
        "the account holds one operation of each kind"
    );
    for entry in &stored.entries {
        assert_eq!(
            store.find(entry.id).await.expect("find"),
            Some(agent.clone()),
            "the {} is found in its own account, not another's",
            entry.op.kind()
        );
    }
}
