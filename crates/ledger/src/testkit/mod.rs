//! The conformance suites every store must pass — ours and any integrator's, one per port:
//! [`ledger_conformance`] for a [`LedgerStore`], [`lease_conformance`] for a
//! [`LeaseStore`](crate::LeaseStore), [`ingest_conformance`] for an
//! [`IngestLog`](crate::IngestLog), [`anchor_conformance`] for the
//! [`AuditAnchors`](crate::AuditAnchors), [`control_conformance`] for the
//! [`ControlStore`](crate::ControlStore); [`conformance`] runs all five on a
//! [`RunStore`](crate::RunStore).
//!
//! Call one from an async test with a store (it may already hold data: each check uses fresh
//! agent, transaction and file ids):
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! kudos_ledger::testkit::conformance(&kudos_ledger::MemoryStore::new()).await;
//! # });
//! ```
//!
//! Each check panics with a message naming the broken promise: this module is for tests.

#![allow(
    clippy::missing_panics_doc,
    reason = "the suite reports failures by panicking, as tests do"
)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kudos_core::{
    AgentId, Clock, Day, EventKey, ManualClock, MetricName, PointEvent, Points, RewardType, RuleId,
    SystemClock, Tier, TierId, TxnId,
};

use crate::{Command, Entry, HoldState, Ledger, LedgerError, LedgerStore, Op};

pub(crate) fn now() -> DateTime<Utc> {
    SystemClock.now()
}

pub(crate) fn fresh_agent(tag: &str) -> AgentId {
    AgentId::new(format!(
        "conformance-{tag}-{}",
        TxnId::generate(&SystemClock)
    ))
    .expect("a valid agent id")
}

fn accrual(agent: &AgentId, rule: &str, points: i64) -> Entry {
    let day = Day::parse("2026-10-01").expect("a valid day");
    let key = EventKey::new(
        agent.clone(),
        day,
        RuleId::new(rule).expect("rule"),
        MetricName::new("m").expect("metric"),
        Default::default(),
    );
    Entry {
        id: key.id(),
        at: now(),
        op: Op::Accrual {
            key,
            points: Points::new(points),
            expires: day.add_days(30).expect("day"),
        },
    }
}

/// Gives a fresh account `points` (an adjustment on `day`) and an open hold of `cost` on it.
pub(crate) async fn account_with_a_hold<S: LedgerStore + ?Sized>(
    ledger: &Ledger<&S>,
    clock: &ManualClock,
    agent: &AgentId,
    day: Day,
    points: i64,
    cost: i64,
) -> TxnId {
    ledger
        .execute(
            agent,
            Command::Adjust {
                id: uuid::Uuid::now_v7(),
                day,
                points: Points::new(points),
                expires: day.add_days(90).expect("day"),
                reason: "seed".into(),
            },
        )
        .await
        .expect("adjust");
    let tier = Tier::new(
        TierId::new("t").expect("tier"),
        RewardType::new("r").expect("rt"),
        Points::new(cost),
        None,
    )
    .expect("tier");
    let txn = TxnId::generate(clock);
    ledger
        .execute(
            agent,
            Command::Hold {
                txn,
                day,
                tier,
                payload: b"{}".to_vec(),
            },
        )
        .await
        .expect("hold");
    txn
}

mod anchor;
mod batches;
mod control;
mod ingest;
mod lease;
mod reversal;

pub use anchor::{anchor_conformance, anchors_only_move_forward};
pub use batches::{
    stale_and_ahead_items_leave_the_rest_of_a_batch,
    stale_items_anywhere_in_a_long_batch_leave_the_rest,
};
pub use control::{
    a_lock_has_one_owner_at_a_time, budgets_are_never_exceeded,
    concurrent_claims_stay_within_the_limit, control_conformance, the_pause_switch_is_shared,
    waiting_rewards_keep_their_first_day,
};
pub use ingest::{
    files_are_marked_whole_or_through_a_day, ingest_conformance,
    marks_are_read_and_recorded_many_at_once,
};
pub use lease::{lease_conformance, unresolved_holds_are_leased_to_one_owner};
pub use reversal::{
    operation_ids_are_found, reversals_are_indexed_by_state, unresolved_reversals_are_leased,
};

/// Runs every check of every port on a store that implements them all.
pub async fn conformance(store: &dyn crate::RunStore) {
    ledger_conformance(store).await;
    lease_conformance(store).await;
    ingest_conformance(store).await;
    anchor_conformance(store).await;
    control_conformance(store).await;
}

/// Runs every check of the ledger's port.
pub async fn ledger_conformance(store: &dyn LedgerStore) {
    appends_are_conditional(store).await;
    entries_come_back_in_order_and_intact(store).await;
    ids_are_found(store).await;
    operation_ids_are_found(store).await;
    holds_are_indexed_by_state(store).await;
    reversals_are_indexed_by_state(store).await;
    ledger_operations_round_trip(store).await;
    batches_are_conditional_per_account(store).await;
    a_batch_of_stale_items_writes_nothing(store).await;
    batches_chain_items_and_run_long(store).await;
    deferred_batches_are_appends_like_any_other(store).await;
    stale_and_ahead_items_leave_the_rest_of_a_batch(store).await;
    stale_items_anywhere_in_a_long_batch_leave_the_rest(store).await;
}

/// `append_many_deferred` is conditional per account as `append_many` is, and what it wrote is
/// what the next load, and the next append (deferred or not), sees at once.
pub async fn deferred_batches_are_appends_like_any_other(store: &dyn LedgerStore) {
    let (a, b) = (fresh_agent("deferred-a"), fresh_agent("deferred-b"));
    store
        .append(&b, 0, &[accrual(&b, "x", 1)], &[], &[])
        .await
        .expect("append");
    let (ea, eb) = ([accrual(&a, "y", 2)], [accrual(&b, "y", 3)]);
    let results = store
        .append_many_deferred(&[fresh_item(&a, &ea), fresh_item(&b, &eb)])
        .await
        .expect("append_many_deferred");
    assert!(
        matches!(results[0], Ok(1)),
        "a matching item is applied: {:?}",
        results[0]
    );
    assert!(
        matches!(results[1], Err(LedgerError::Conflict { .. })),
        "a stale item is a Conflict: {:?}",
        results[1]
    );
    assert_eq!(
        store.load(&a).await.expect("load").entries,
        ea.to_vec(),
        "a deferred append is read back at once"
    );
    assert_eq!(store.load(&b).await.expect("load").version, 1);
    // A durable append after it sees its version, and so does a deferred one after that.
    let durable = [accrual(&a, "z", 4)];
    assert!(matches!(
        store.append(&a, 0, &durable, &[], &[]).await,
        Err(LedgerError::Conflict { .. })
    ));
    store
        .append(&a, 1, &durable, &[], &[])
        .await
        .expect("a durable append on a deferred one's version");
    let later = [accrual(&a, "w", 5)];
    let results = store
        .append_many_deferred(&[crate::AppendItem {
            expected: 2,
            ..fresh_item(&a, &later)
        }])
        .await
        .expect("append_many_deferred");
    assert!(matches!(results[0], Ok(3)), "{:?}", results[0]);
    let stored = store.load(&a).await.expect("load");
    assert_eq!(
        stored.entries,
        [ea[0].clone(), durable[0].clone(), later[0].clone()],
        "deferred and durable appends keep their order"
    );
}

/// A batch item of `entries` for `agent`'s account as new (version 0), with no hold index rows.
fn fresh_item<'a>(agent: &'a AgentId, entries: &'a [Entry]) -> crate::AppendItem<'a> {
    crate::AppendItem {
        agent,
        expected: 0,
        entries,
        holds: &[],
        reversals: &[],
    }
}

/// One item per agent, each of its `entries`, every account as new (version 0).
pub(crate) fn fresh_items<'a, const N: usize>(
    agents: &'a [AgentId],
    entries: &'a [[Entry; N]],
) -> Vec<crate::AppendItem<'a>> {
    agents
        .iter()
        .zip(entries)
        .map(|(agent, e)| fresh_item(agent, e))
        .collect()
}

/// `load_many` returns accounts in the order asked; `append_many` applies each item only if
/// its own version matches, and reports the others as `Conflict`.
pub async fn batches_are_conditional_per_account(store: &dyn LedgerStore) {
    let (a, b, c) = (
        fresh_agent("batch-a"),
        fresh_agent("batch-b"),
        fresh_agent("batch-c"),
    );
    store
        .append(&b, 0, &[accrual(&b, "x", 1)], &[], &[])
        .await
        .expect("append");
    let loaded = store
        .load_many(&[c.clone(), b.clone(), a.clone()])
        .await
        .expect("load_many");
    assert_eq!(
        loaded.iter().map(|s| s.version).collect::<Vec<_>>(),
        [0, 1, 0],
        "load_many keeps the order asked"
    );
    let (ea, eb, ec) = (
        [accrual(&a, "y", 2)],
        [accrual(&b, "y", 3)],
        [accrual(&c, "y", 4)],
    );
    let batch = [
        crate::AppendItem {
            agent: &a,
            expected: 0,
            entries: &ea,
            holds: &[],
            reversals: &[],
        },
        crate::AppendItem {
            agent: &b,
            expected: 0,
            entries: &eb,
            holds: &[],
            reversals: &[],
        },
        crate::AppendItem {
            agent: &c,
            expected: 0,
            entries: &ec,
            holds: &[],
            reversals: &[],
        },
    ];
    let results = store.append_many(&batch).await.expect("append_many");
    assert!(
        matches!(results[0], Ok(1)),
        "a matching item is applied: {:?}",
        results[0]
    );
    assert!(
        matches!(results[1], Err(LedgerError::Conflict { .. })),
        "a stale item is a Conflict: {:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Ok(1)),
        "items after a conflict are still applied: {:?}",
        results[2]
    );
    assert_eq!(
        store.load(&b).await.expect("load").entries.len(),
        1,
        "the conflicting item wrote nothing"
    );
    assert_eq!(store.load(&c).await.expect("load").entries, ec.to_vec());
}

/// A batch in which every item is stale writes nothing and answers `Conflict` for each: the
/// store does not fail for having nothing to write.
pub async fn a_batch_of_stale_items_writes_nothing(store: &dyn LedgerStore) {
    let (a, b) = (fresh_agent("stale-a"), fresh_agent("stale-b"));
    for agent in [&a, &b] {
        store
            .append(agent, 0, &[accrual(agent, "x", 1)], &[], &[])
            .await
            .expect("append");
    }
    let (ea, eb) = ([accrual(&a, "y", 2)], [accrual(&b, "y", 3)]);
    let results = store
        .append_many(&[fresh_item(&a, &ea), fresh_item(&b, &eb)])
        .await
        .expect("a batch of stale items is not a store failure");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(LedgerError::Conflict { .. }))),
        "every stale item is a Conflict: {results:?}"
    );
    for agent in [&a, &b] {
        assert_eq!(store.load(agent).await.expect("load").version, 1);
    }
}

/// A batch longer than any one statement a store sends is applied whole and in order; two
/// items for one account apply in turn (the second planned on the first's version), and a hold
/// written by both is indexed as the later one left it.
pub async fn batches_chain_items_and_run_long(store: &dyn LedgerStore) {
    let agents: Vec<AgentId> = (0..1100)
        .map(|i| fresh_agent(&format!("long-{i}")))
        .collect();
    let entries: Vec<[Entry; 2]> = agents
        .iter()
        .map(|a| [accrual(a, "x", 1), accrual(a, "y", 2)])
        .collect();
    let batch = fresh_items(&agents, &entries);
    let results = store.append_many(&batch).await.expect("append_many");
    assert_eq!(results.len(), agents.len(), "one result per item");
    assert!(
        results.iter().all(|r| matches!(r, Ok(2))),
        "every item of a long batch is applied"
    );
    let loaded = store.load_many(&agents).await.expect("load_many");
    for (stored, e) in loaded.iter().zip(&entries) {
        assert_eq!(
            stored.entries,
            e.to_vec(),
            "a long batch's entries, in order"
        );
    }

    // One account twice in a batch, with a hold both items write.
    let clock = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock.clone());
    let agent = fresh_agent("twice");
    let day = Day::parse("2026-10-05").expect("day");
    let txn = account_with_a_hold(&ledger, &clock, &agent, day, 500, 100).await;
    let view = store
        .holds(Some(HoldState::Open))
        .await
        .expect("holds")
        .into_iter()
        .find(|h| h.txn == txn)
        .expect("the hold is indexed");
    let version = store.load(&agent).await.expect("load").version;
    let (mut doubt, mut review) = (view.clone(), view);
    (doubt.state, doubt.attempts) = (HoldState::InDoubt, 1);
    (review.state, review.attempts) = (HoldState::Review, 2);
    let (first, second) = ([accrual(&agent, "p", 1)], [accrual(&agent, "q", 1)]);
    let (doubt, review) = ([doubt], [review]);
    let results = store
        .append_many(&[
            crate::AppendItem {
                agent: &agent,
                expected: version,
                entries: &first,
                holds: &doubt,
                reversals: &[],
            },
            crate::AppendItem {
                agent: &agent,
                expected: version + 1,
                entries: &second,
                holds: &review,
                reversals: &[],
            },
        ])
        .await
        .expect("append_many");
    assert!(
        matches!(
            results.as_slice(),
            [Ok(a), Ok(b)] if *a == version + 1 && *b == version + 2
        ),
        "the second item for an account sees the first: {results:?}"
    );
    let entries = store.load(&agent).await.expect("load").entries;
    assert_eq!(
        entries[entries.len() - 2..].to_vec(),
        [first[0].clone(), second[0].clone()],
        "both items' entries, in order"
    );
    let indexed: Vec<_> = store
        .holds(None)
        .await
        .expect("holds")
        .into_iter()
        .filter(|h| h.txn == txn)
        .collect();
    assert_eq!(indexed.len(), 1, "one index row per hold");
    assert_eq!(
        (indexed[0].state, indexed[0].attempts),
        (HoldState::Review, 2),
        "the hold is indexed as the later item left it"
    );
}

/// Appending needs the current version; a stale version is a `Conflict` and writes nothing.
pub async fn appends_are_conditional(store: &dyn LedgerStore) {
    let agent = fresh_agent("conditional");
    let empty = store.load(&agent).await.expect("load an empty account");
    assert_eq!(
        (empty.version, empty.entries.len()),
        (0, 0),
        "a new account is empty at version 0"
    );
    let v1 = store
        .append(&agent, 0, &[accrual(&agent, "a", 10)], &[], &[])
        .await
        .expect("append at version 0");
    assert_eq!(v1, 1, "append returns the new version");
    let stale = store
        .append(&agent, 0, &[accrual(&agent, "b", 20)], &[], &[])
        .await;
    assert!(
        matches!(stale, Err(LedgerError::Conflict { .. })),
        "a stale version must be a Conflict, got {stale:?}"
    );
    let ahead = store
        .append(&agent, 5, &[accrual(&agent, "b", 20)], &[], &[])
        .await;
    assert!(
        matches!(ahead, Err(LedgerError::Conflict { .. })),
        "a version from the future must be a Conflict, got {ahead:?}"
    );
    let loaded = store.load(&agent).await.expect("load");
    assert_eq!(loaded.version, 1, "a refused append writes nothing");
    let v3 = store
        .append(
            &agent,
            1,
            &[accrual(&agent, "b", 20), accrual(&agent, "c", 30)],
            &[],
            &[],
        )
        .await
        .expect("append two");
    assert_eq!(v3, 3, "several entries append together");
}

/// Entries load back exactly as appended, in order, whatever they carry.
pub async fn entries_come_back_in_order_and_intact(store: &dyn LedgerStore) {
    let agent = fresh_agent("intact");
    let txn = TxnId::generate(&SystemClock);
    let entries = vec![
        accrual(&agent, "z", 700),
        Entry {
            id: *txn.as_uuid(),
            at: now(),
            op: Op::Hold {
                txn,
                day: Day::parse("2026-10-05").expect("day"),
                tier: TierId::new("t").expect("tier"),
                reward_type: RewardType::new("r").expect("reward type"),
                cost: Points::new(500),
                payload: b"{\"agent_id\":\"\\u00e9\xff\"}".to_vec(),
            },
        },
        accrual(&agent, "a", -3),
    ];
    store
        .append(&agent, 0, &entries, &[], &[])
        .await
        .expect("append");
    let loaded = store.load(&agent).await.expect("load");
    assert_eq!(
        loaded.entries, entries,
        "entries must load back identical and in append order"
    );
    let other = store.load(&fresh_agent("other")).await.expect("load");
    assert!(other.entries.is_empty(), "accounts are separate");
}

/// `find` names the account that recorded an id.
pub async fn ids_are_found(store: &dyn LedgerStore) {
    let agent = fresh_agent("find");
    let entry = accrual(&agent, "f", 1);
    store
        .append(&agent, 0, std::slice::from_ref(&entry), &[], &[])
        .await
        .expect("append");
    assert_eq!(
        store.find(entry.id).await.expect("find"),
        Some(agent),
        "find returns the recording account"
    );
    assert_eq!(
        store
            .find(TxnId::generate(&SystemClock).as_uuid().to_owned())
            .await
            .expect("find"),
        None,
        "an unknown id is None"
    );
}

/// The hold index keeps the latest view per hold and lists holds by state.
pub async fn holds_are_indexed_by_state(store: &dyn LedgerStore) {
    let clock = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock.clone());
    let agent = fresh_agent("holds");
    let day = Day::parse("2026-10-05").expect("day");
    let txn = account_with_a_hold(&ledger, &clock, &agent, day, 1000, 400).await;
    let open: Vec<_> = store
        .holds(Some(HoldState::Open))
        .await
        .expect("holds")
        .into_iter()
        .filter(|h| h.agent == agent)
        .collect();
    assert_eq!(open.len(), 1, "the new hold is listed as open");
    assert_eq!(
        (open[0].txn, open[0].cost, open[0].attempts),
        (txn, Points::new(400), 0)
    );
    let made = open[0].created_at;
    let since = |at| {
        let agent = agent.clone();
        async move {
            store
                .holds_made_since(HoldState::Open, at)
                .await
                .expect("holds_made_since")
                .into_iter()
                .filter(|h| h.agent == agent)
                .count()
        }
    };
    assert_eq!(since(made).await, 1, "a hold made at `since` is listed");
    assert_eq!(
        since(made + chrono::TimeDelta::microseconds(1)).await,
        0,
        "a hold made before `since` is not"
    );

    ledger
        .execute(
            &agent,
            Command::Mark {
                txn,
                state: HoldState::InDoubt,
                attempts: 1,
            },
        )
        .await
        .expect("mark");
    let in_doubt: Vec<_> = store
        .holds(Some(HoldState::InDoubt))
        .await
        .expect("holds")
        .into_iter()
        .filter(|h| h.agent == agent)
        .collect();
    assert_eq!(in_doubt.len(), 1, "the index follows the hold's state");
    assert_eq!(in_doubt[0].attempts, 1);
    assert!(
        store
            .holds(Some(HoldState::Open))
            .await
            .expect("holds")
            .iter()
            .all(|h| h.txn != txn),
        "a hold is listed under one state only"
    );

    ledger
        .execute(&agent, Command::Commit { txn })
        .await
        .expect("commit");
    let all: Vec<_> = store
        .holds(None)
        .await
        .expect("holds")
        .into_iter()
        .filter(|h| h.agent == agent)
        .collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, HoldState::Committed);
}

/// The ledger's operations through this store give the worked example's results
/// (`docs/reference/ledger.md`).
pub async fn ledger_operations_round_trip(store: &dyn LedgerStore) {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now()));
    let ledger = Ledger::new(store, clock);
    let agent = fresh_agent("worked");
    let d = |s: &str| Day::parse(s).expect("day");
    let event = |day: &str, rule: &str, points: i64| Command::Accrue {
        event: PointEvent::new(
            EventKey::new(
                agent.clone(),
                d(day),
                RuleId::new(rule).expect("rule"),
                MetricName::new("m").expect("metric"),
                Default::default(),
            ),
            Points::new(points),
        ),
        expires: d(day).add_days(30).expect("day"),
    };
    ledger
        .execute_all(
            &agent,
            &[
                event("2026-09-01", "a", 100),
                event("2026-09-20", "b", 100),
                event("2026-09-25", "c", -150),
            ],
        )
        .await
        .expect("accrue");
    let account = ledger.account(&agent).await.expect("account");
    let b = account.balance(d("2026-10-10"));
    assert_eq!(
        (b.available, b.debt, b.balance),
        (Points::new(50), Points::ZERO, Points::new(50)),
        "worked example 3 through the store"
    );
    assert!(
        store.agents().await.expect("agents").contains(&agent),
        "agents lists accounts"
    );
}
