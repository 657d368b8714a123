//! The conformance checks of the [`ControlStore`] port.

use kudos_core::{Day, Points, RewardType, TxnId};
use uuid::Uuid;

use super::{fresh_agent, now};
use crate::{BudgetClaim, BudgetLimit, ControlStore, Pause, Waiting};

/// Runs every check of the programme's controls.
pub async fn control_conformance(store: &dyn ControlStore) {
    budgets_are_never_exceeded(store).await;
    concurrent_claims_stay_within_the_limit(store).await;
    waiting_rewards_keep_their_first_day(store).await;
    the_pause_switch_is_shared(store).await;
    a_lock_has_one_owner_at_a_time(store).await;
}

fn day(text: &str) -> Day {
    Day::parse(text).expect("a day")
}

fn claim(bucket: &str, limit: i64, points: i64, on: &str) -> BudgetClaim {
    BudgetClaim {
        txn: TxnId::from_uuid(Uuid::now_v7()),
        agent: fresh_agent("claim"),
        day: day(on),
        reward_type: RewardType::new("gift_card_50_usd").expect("a reward type"),
        points: Points::new(points),
        limits: vec![BudgetLimit::new(bucket, Points::new(limit))],
        at: now(),
    }
}

/// A claim is granted only while its bucket stays within its limit, claims in one batch
/// count against each other in order, a hold's claim counts once however often it is made,
/// and a claim given back no longer counts (once, however often it is given back).
pub async fn budgets_are_never_exceeded(store: &dyn ControlStore) {
    let bucket = format!("day:test-{}", Uuid::now_v7());
    let a = claim(&bucket, 1000, 400, "2026-03-04");
    let b = claim(&bucket, 1000, 400, "2026-03-04");
    let c = claim(&bucket, 1000, 400, "2026-03-04");
    let small = claim(&bucket, 1000, 200, "2026-03-05");
    let granted = store
        .claim_budget(&[a.clone(), b.clone(), c.clone(), small.clone()])
        .await
        .expect("claim");
    assert_eq!(
        granted,
        [true, true, false, true],
        "400+400 fit 1000, then only 200 does"
    );
    assert_eq!(
        store.budget_spent(&bucket).await.expect("spent"),
        Points::new(1000)
    );
    assert_eq!(
        store
            .claim_budget(std::slice::from_ref(&a))
            .await
            .expect("again"),
        [true],
        "a hold's claim made again is granted, not counted twice"
    );
    assert_eq!(
        store.budget_spent(&bucket).await.expect("spent"),
        Points::new(1000)
    );
    assert_eq!(
        store.return_budget(&[a.txn, c.txn]).await.expect("return"),
        1
    );
    assert_eq!(
        store.return_budget(&[a.txn]).await.expect("again"),
        0,
        "given back once"
    );
    assert_eq!(
        store.budget_spent(&bucket).await.expect("spent"),
        Points::new(600)
    );
    assert_eq!(
        store
            .claim_budget(std::slice::from_ref(&c))
            .await
            .expect("claim c"),
        [true],
        "what was given back can be spent"
    );
    assert_eq!(
        store.budget_spent(&bucket).await.expect("spent"),
        Points::new(1000)
    );
    let claims: Vec<_> = store
        .budget_claims(day("2026-03-04"))
        .await
        .expect("claims")
        .into_iter()
        .filter(|v| v.buckets == [bucket.clone()])
        .collect();
    assert_eq!(claims.len(), 4, "every claim made is kept: {claims:?}");
    let returned: Vec<_> = claims
        .iter()
        .filter(|v| v.returned)
        .map(|v| v.txn)
        .collect();
    assert_eq!(returned, [a.txn]);
    let from_the_fifth = store
        .budget_claims(day("2026-03-05"))
        .await
        .expect("claims")
        .into_iter()
        .filter(|v| v.buckets == [bucket.clone()])
        .count();
    assert_eq!(from_the_fifth, 1, "claims are listed from a day");
    let unlimited = BudgetClaim {
        limits: vec![
            BudgetLimit::new(bucket.clone(), Points::new(5000)),
            BudgetLimit::new(format!("{bucket}:type"), Points::new(100)),
        ],
        ..claim(&bucket, 0, 200, "2026-03-04")
    };
    assert_eq!(
        store.claim_budget(&[unlimited]).await.expect("claim"),
        [false],
        "a claim must fit every budget it names"
    );
    assert_eq!(
        store.budget_spent(&bucket).await.expect("spent"),
        Points::new(1000)
    );
}

/// Many claims at once, from many tasks, against a limit that affords exactly some: exactly
/// that many are granted.
pub async fn concurrent_claims_stay_within_the_limit(store: &dyn ControlStore) {
    let bucket = format!("month:test-{}", Uuid::now_v7());
    let claims: Vec<BudgetClaim> = (0..24)
        .map(|_| claim(&bucket, 700, 100, "2026-03-04"))
        .collect();
    let answers = futures_join(
        claims
            .iter()
            .map(|c| store.claim_budget(std::slice::from_ref(c))),
    )
    .await;
    let granted = answers
        .into_iter()
        .map(|a| a.expect("claim"))
        .filter(|g| g == &[true])
        .count();
    assert_eq!(
        granted, 7,
        "a limit of 700 affords exactly seven claims of 100"
    );
    assert_eq!(
        store.budget_spent(&bucket).await.expect("spent"),
        Points::new(700)
    );
}

/// Polls every future together (on one task: a store with a pool runs them on as many
/// connections), without a runtime of our own.
async fn futures_join<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, fut) in pending.iter_mut().enumerate() {
            if out[i].is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// A reward that waits again keeps the day it first waited; waiting rewards come oldest
/// first; an agent that is done is forgotten.
pub async fn waiting_rewards_keep_their_first_day(store: &dyn ControlStore) {
    let (a, b) = (fresh_agent("wait-a"), fresh_agent("wait-b"));
    let wait = |agent: &kudos_core::AgentId, since: &str| Waiting {
        agent: agent.clone(),
        tier: kudos_core::TierId::new("gold").expect("a tier"),
        reward_type: RewardType::new("gift_card_50_usd").expect("a reward type"),
        points: Points::new(500),
        since: day(since),
        reason: "day".into(),
    };
    store
        .set_waiting(&[wait(&a, "2026-03-05"), wait(&b, "2026-03-04")], &[])
        .await
        .expect("wait");
    store
        .set_waiting(&[wait(&b, "2026-03-06")], &[])
        .await
        .expect("wait again");
    let ours = |all: Vec<Waiting>| -> Vec<(String, Day)> {
        all.into_iter()
            .filter(|w| w.agent == a || w.agent == b)
            .map(|w| (w.agent.as_str().to_owned(), w.since))
            .collect()
    };
    assert_eq!(
        ours(store.waiting().await.expect("waiting")),
        [
            (b.as_str().to_owned(), day("2026-03-04")),
            (a.as_str().to_owned(), day("2026-03-05"))
        ],
        "oldest first, each keeping its first day"
    );
    store
        .set_waiting(&[], std::slice::from_ref(&b))
        .await
        .expect("done");
    assert_eq!(
        ours(store.waiting().await.expect("waiting")),
        [(a.as_str().to_owned(), day("2026-03-05"))]
    );
    store.set_waiting(&[], &[a]).await.expect("done");
}

/// The pause switch reads back as set, with its reason, by and time, and resumes (a store
/// paused before the check is left paused as it was).
pub async fn the_pause_switch_is_shared(store: &dyn ControlStore) {
    let before = store.pause_state().await.expect("state");
    store.set_pause(None).await.expect("resume");
    assert_eq!(
        store.pause_state().await.expect("state"),
        None,
        "resumed, it is not paused"
    );
    let pause = Pause {
        reason: "rule change under review".into(),
        by: "ops-oncall".into(),
        at: now(),
    };
    assert_eq!(store.set_pause(Some(&pause)).await.expect("pause"), None);
    assert_eq!(
        store.pause_state().await.expect("state"),
        Some(pause.clone())
    );
    assert_eq!(store.set_pause(None).await.expect("resume"), Some(pause));
    assert_eq!(store.pause_state().await.expect("state"), None);
    store.set_pause(before.as_ref()).await.expect("restore");
}

/// A named lock has one owner at a time; its owner may take it again; another owner's unlock
/// changes nothing; a lapsed lock can be taken.
pub async fn a_lock_has_one_owner_at_a_time(store: &dyn ControlStore) {
    let name = format!("lock-{}", Uuid::now_v7());
    let long = std::time::Duration::from_secs(60);
    assert!(
        store.try_lock(&name, "a", long).await.expect("lock"),
        "a free lock is granted"
    );
    assert!(
        !store.try_lock(&name, "b", long).await.expect("lock"),
        "held by a"
    );
    assert!(
        store.try_lock(&name, "a", long).await.expect("lock"),
        "a takes it again"
    );
    store.unlock(&name, "b").await.expect("unlock");
    assert!(
        !store.try_lock(&name, "b", long).await.expect("lock"),
        "b's unlock did nothing"
    );
    store.unlock(&name, "a").await.expect("unlock");
    assert!(
        store.try_lock(&name, "b", long).await.expect("lock"),
        "given back, b has it"
    );
    store.unlock(&name, "b").await.expect("unlock");
    let short = std::time::Duration::from_millis(1);
    assert!(store.try_lock(&name, "c", short).await.expect("lock"));
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert!(
        store.try_lock(&name, "d", long).await.expect("lock"),
        "a lapsed lock can be taken"
    );
    store.unlock(&name, "d").await.expect("unlock");
}
