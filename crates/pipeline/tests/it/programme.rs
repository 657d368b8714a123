//! The programme owner's controls (issue 21), each over real HTTP against the simulator on a
//! real SQLite file: budgets per day and month (what waits is issued later, oldest first),
//! funding (the balance before a round, `402`), approvals, and the pause switch.

use std::collections::BTreeMap;

use std::sync::Arc;

use kudos_core::{AgentId, Day, Money, Points, RewardType};
use kudos_ledger::{ControlStore, HoldState};
use kudos_pipeline::{
    AlertKind, AuditEvent, AuditLog, AuditRecord, Budget, Controls, Limits, Operator, Pipeline,
};
use kudos_sim::SimConfig;
use uuid::Uuid;

use crate::run::{World, agent, faults};

/// `$scenario(w)` on a SQLite file (`on_sqlite`) and on a fresh PostgreSQL schema
/// (`on_postgres`, when `KUDOS_TEST_POSTGRES_URL` is set; CI requires it), its marketplace
/// configured by `$sim()`.
macro_rules! both_stores {
    ($scenario:ident, $sim:ident, $tag:literal) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let sim = super::$sim();
                super::$scenario(crate::run::World::new($tag, sim).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let Some(url) = super::postgres(concat!($tag, " on PostgreSQL")) else {
                    return;
                };
                let sim = super::$sim();
                let w = crate::run::World::new(concat!($tag, "-pg"), sim).await;
                super::$scenario(super::on_postgres(w, &url, $tag).await).await;
                super::drop_schema(&url, &super::programme_schema($tag)).await;
            }
        }
    };
}

fn small() -> RewardType {
    RewardType::new("gift_card_small").unwrap()
}

fn day_budget(points: i64) -> Budget {
    Budget {
        overall: Limits {
            per_day: Some(Points::new(points)),
            per_month: None,
        },
        per_reward_type: BTreeMap::new(),
    }
}

fn with(w: &World, controls: Controls) -> Pipeline {
    Pipeline::new(w.parts(w.store.clone()).controls(controls))
}

fn audit(w: &World) -> Box<AuditLog> {
    Box::new(AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap())
}

fn events(w: &World) -> Vec<AuditEvent> {
    std::fs::read_to_string(w.audit_path())
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
        .filter_map(|r| AuditEvent::from_record(&r).ok())
        .collect()
}

async fn a_day_budget_issues_what_it_affords_and_what_waits_goes_first_the_next_day(w: World) {
    // Five agents of 100 points: five small rewards of 100, and a budget of 300 a day.
    w.export(
        "d1.csv",
        &(1..=5)
            .map(|n| (n, "2026-03-09", 100.0))
            .collect::<Vec<_>>(),
    );
    let pipeline = with(&w, Controls::new().budget(day_budget(300)));
    let s = w.run_on(&pipeline, "2026-03-10").await;
    assert_eq!((s.issued, s.waiting, s.holds), (3, 2, 3), "{s:?}");
    assert!(
        s.needs_attention(),
        "what waits needs an operator's eye: exit 3"
    );
    assert_eq!(w.sim.rewards().len(), 3);
    let alert = w.alerts.only(AlertKind::BudgetExceeded);
    assert!(
        alert.message.contains("2 (200 points) on day:2026-03-10"),
        "{}",
        alert.message
    );
    assert_eq!(
        w.store.budget_spent("day:2026-03-10").await.unwrap(),
        Points::new(300)
    );
    // The two that wait keep their points, and are recorded as waiting since the 10th.
    let waiting = w.store.waiting().await.unwrap();
    let who: Vec<&str> = waiting.iter().map(|x| x.agent.as_str()).collect();
    assert_eq!(who, [agent(4), agent(5)]);
    assert_eq!(w.balance(4, "2026-03-10").await, 100);

    // The next day a new agent (sorting first) can afford one too; the day's budget affords
    // two: the two that waited go first.
    w.export("d2.csv", &[(0, "2026-03-10", 100.0)]);
    let pipeline = with(&w, Controls::new().budget(day_budget(200)));
    let s = w.run_on(&pipeline, "2026-03-11").await;
    assert_eq!((s.issued, s.waiting), (2, 1), "{s:?}");
    assert_eq!(w.balance(4, "2026-03-11").await, 0);
    assert_eq!(w.balance(5, "2026-03-11").await, 0);
    assert_eq!(w.balance(0, "2026-03-11").await, 100, "the newest waits");
    let waiting = w.store.waiting().await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].agent.as_str(), agent(0));
    assert_eq!(waiting[0].since, Day::parse("2026-03-11").unwrap());
    assert_eq!(
        w.sim.rewards().len(),
        5,
        "no budget was ever exceeded, nothing twice"
    );
}

async fn a_month_budget_per_reward_type_holds_across_days_and_a_release_gives_it_back(w: World) {
    w.export(
        "d1.csv",
        &(1..=3)
            .map(|n| (n, "2026-03-01", 100.0))
            .collect::<Vec<_>>(),
    );
    let budget = Budget {
        overall: Limits::default(),
        per_reward_type: BTreeMap::from([(
            small(),
            Limits {
                per_day: None,
                per_month: Some(Points::new(200)),
            },
        )]),
    };
    let pipeline = with(&w, Controls::new().budget(budget.clone()));
    let s = w.run_on(&pipeline, "2026-03-02").await;
    // Agents 1 and 2 fit the month's 200; agent 1's is rejected, and its 100 points of budget
    // come back at once: the next round gives them to agent 3, who waited.
    assert_eq!(
        (s.holds, s.issued, s.rejected, s.waiting),
        (3, 2, 1, 0),
        "{s:?}"
    );
    assert_eq!(
        w.store
            .budget_spent("month:2026-03:gift_card_small")
            .await
            .unwrap(),
        Points::new(200),
        "the rejected reward's 100 points were given back and spent again"
    );
    // Another day of the same month: agent 1 can afford its reward again, but the month's
    // budget is spent.
    let s = w.run_on(&pipeline, "2026-03-20").await;
    assert_eq!((s.issued, s.waiting), (0, 1), "{s:?}");
    // A new month starts afresh: the last one is issued.
    let s = w.run_on(&pipeline, "2026-04-01").await;
    assert_eq!((s.issued, s.waiting), (1, 0), "{s:?}");
    // Every agent was served by now, each once.
    assert_eq!(
        w.sim
            .rewards()
            .iter()
            .filter(|r| r.status == "ISSUED")
            .count(),
        3
    );
}

fn dollars(text: &str) -> Money {
    Money::parse(text).unwrap()
}

async fn a_round_issues_what_the_balance_covers_and_alerts_below_the_floor(w: World) {
    w.export(
        "d1.csv",
        &(1..=3)
            .map(|n| (n, "2026-03-09", 100.0))
            .collect::<Vec<_>>(),
    );
    let controls = Controls::new()
        .prices(BTreeMap::from([(small(), dollars("100.00 USD"))]))
        .check_funds(Some(dollars("500.00 USD")));
    let s = w.run_on(&with(&w, controls), "2026-03-10").await;
    assert_eq!((s.issued, s.waiting, s.holds), (2, 1, 2), "{s:?}");
    assert_eq!(w.sim.balance(), Some(dollars("50.00 USD")));
    assert_eq!(
        w.issue_requests().len(),
        2,
        "nothing the balance could not cover was sent"
    );
    let kinds = w.alerts.kinds();
    assert!(kinds.contains(&AlertKind::LowBalance), "{kinds:?}");
    assert!(kinds.contains(&AlertKind::InsufficientFunds), "{kinds:?}");
    assert_eq!(w.balance(3, "2026-03-10").await, 100, "its points stay");
    // Funds arrive: the next run issues what waited.
    w.sim.set_balance(Some(dollars("1000.00 USD")));
    let controls = Controls::new()
        .prices(BTreeMap::from([(small(), dollars("100.00 USD"))]))
        .check_funds(None);
    let s = w.run_on(&with(&w, controls), "2026-03-11").await;
    assert_eq!((s.issued, s.waiting), (1, 0), "{s:?}");
    assert!(w.store.waiting().await.unwrap().is_empty());
}

async fn a_402_releases_the_hold_sends_nothing_more_and_the_reward_waits_for_funds(w: World) {
    w.export(
        "d1.csv",
        &(1..=4)
            .map(|n| (n, "2026-03-09", 100.0))
            .collect::<Vec<_>>(),
    );
    let s = w.run("2026-03-10").await;
    assert_eq!(s.issued, 1, "{s:?}");
    assert_eq!(
        s.in_doubt + s.review,
        0,
        "a 402 is not in doubt: nothing was issued"
    );
    assert_eq!(s.waiting, 3, "{s:?}");
    assert_eq!(w.sim.rewards().len(), 1);
    assert!(w.holds(HoldState::Open).await.is_empty());
    assert!(w.holds(HoldState::InDoubt).await.is_empty());
    let released = w.holds(HoldState::Released).await.len() as u64;
    assert!(
        (1..=3).contains(&released),
        "held rewards the 402 stopped were released: {released}"
    );
    let total: i64 = 4 * 100 - 100; // four agents of 100, one reward issued
    let mut left = 0;
    for n in 1..=4 {
        left += w.balance(n, "2026-03-10").await;
    }
    assert_eq!(left, total, "every point of a reward not issued is back");
    w.alerts.only(AlertKind::InsufficientFunds);
    let waiting = w.store.waiting().await.unwrap();
    assert!(waiting.iter().all(|x| x.reason == "funds"), "{waiting:?}");
}

/// Rules with a small tier (100) and a big one (500): rewards above 100 wait for approval.
fn approving(w: &World) -> Pipeline {
    with(
        w,
        Controls::new().approval_above_cost(Some(Points::new(100))),
    )
}

async fn a_reward_above_the_approval_amount_is_never_sent_until_approved_and_then_once(w: World) {
    // Agent 1: 500 → big (awaits approval). Agent 2: 100 → small (sent). Agent 3: 500 → big,
    // to be rejected.
    w.export(
        "d1.csv",
        &[
            (1, "2026-03-09", 500.0),
            (2, "2026-03-09", 100.0),
            (3, "2026-03-09", 500.0),
        ],
    );
    let pipeline = approving(&w);
    let s = w.run_on(&pipeline, "2026-03-10").await;
    assert_eq!((s.holds, s.issued, s.awaiting_approval), (3, 1, 2), "{s:?}");
    assert!(s.needs_attention());
    w.alerts.only(AlertKind::ApprovalNeeded);
    assert_eq!(w.issue_requests().len(), 1, "nothing above the amount left");
    let awaiting = w.holds(HoldState::AwaitingApproval).await;
    assert_eq!(awaiting.len(), 2);
    assert_eq!(
        w.balance(1, "2026-03-10").await,
        0,
        "its points are reserved"
    );

    // Runs before an approval send nothing for it, even their recovery.
    let s = w.run_on(&pipeline, "2026-03-11").await;
    assert_eq!((s.holds, s.issued), (0, 0), "{s:?}");
    assert_eq!(w.issue_requests().len(), 1);
    let (first, second) = if awaiting[0].agent.as_str() == agent(1) {
        (awaiting[0].txn, awaiting[1].txn)
    } else {
        (awaiting[1].txn, awaiting[0].txn)
    };
    // An operator cannot push it out by a retry.
    let day = Day::parse("2026-03-11").unwrap();
    let err = pipeline
        .review_retry(audit(&w), first, day, &Operator::named("ops"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("awaits an approval"), "{err}");
    assert_eq!(w.issue_requests().len(), 1);

    let hold = pipeline
        .review_approve(audit(&w), first, day, &Operator::named("finance-lead"))
        .await
        .unwrap();
    assert_eq!(hold.state, HoldState::Open);
    let hold = pipeline
        .review_reject(audit(&w), second, day, &Operator::named("finance-lead"))
        .await
        .unwrap();
    assert_eq!(hold.state, HoldState::Released);
    assert_eq!(
        w.balance(3, "2026-03-11").await,
        500,
        "a rejection returns the points"
    );
    // Approving what was rejected is refused.
    assert!(
        pipeline
            .review_approve(audit(&w), second, day, &Operator::named("ops"))
            .await
            .is_err()
    );

    // The next run sends the approved reward, once.
    let s = w.run_on(&pipeline, "2026-03-12").await;
    assert_eq!(s.recovered, 1, "{s:?}");
    let big: Vec<_> = w
        .sim
        .rewards()
        .into_iter()
        .filter(|r| r.reward_type == "gift_card_big")
        .collect();
    assert_eq!(big.len(), 1, "the approved reward was issued once");
    assert_eq!(big[0].request_id, first.to_string());
    let s = w.run_on(&pipeline, "2026-03-13").await;
    assert_eq!(s.recovered, 0);
    // Who approved and rejected, on the audit trail.
    let decided: Vec<(String, &str)> = events(&w)
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::ReviewApproved { operator, .. } => Some((operator, "approved")),
            AuditEvent::ReviewRejected { operator, .. } => Some((operator, "rejected")),
            _ => None,
        })
        .collect();
    assert_eq!(
        decided,
        [
            ("finance-lead".to_owned(), "approved"),
            ("finance-lead".to_owned(), "rejected")
        ]
    );
    kudos_pipeline::verify(&w.audit_path()).unwrap();
}

async fn while_paused_runs_accrue_and_settle_by_lookup_but_hold_and_send_nothing_new(w: World) {
    w.export("d1.csv", &[(1, "2026-03-09", 100.0)]);
    let pipeline = w.pipeline();
    let s = w.run_on(&pipeline, "2026-03-10").await;
    assert_eq!(s.in_doubt, 1, "{s:?}");
    let day = Day::parse("2026-03-10").unwrap();
    let was = pipeline
        .pause(
            audit(&w),
            "rule change under review",
            day,
            &Operator::named("ops"),
        )
        .await
        .unwrap();
    assert_eq!(was, None);
    // A second worker on the same store sees the switch.
    let other = w.pipeline_on(w.store.clone());
    assert_eq!(
        other.pause_state().await.unwrap().map(|p| p.reason),
        Some("rule change under review".to_owned())
    );

    w.export("d2.csv", &[(2, "2026-03-10", 300.0)]);
    let requests = w.issue_requests().len();
    let s = w.run_on(&other, "2026-03-11").await;
    assert!(s.paused && s.needs_attention(), "{s:?}");
    assert_eq!(
        (s.records, s.holds, s.issued),
        (1, 0, 1),
        "accrued, settled by lookup: {s:?}"
    );
    assert_eq!(
        w.issue_requests().len(),
        requests,
        "no new request while paused"
    );
    assert_eq!(w.balance(2, "2026-03-11").await, 300, "accrued, not held");
    w.alerts.only(AlertKind::Paused);

    let resumed = pipeline
        .resume(audit(&w), day, &Operator::named("ops"))
        .await
        .unwrap();
    assert_eq!(resumed.map(|p| p.by), Some("ops".to_owned()));
    let s = w.run_on(&pipeline, "2026-03-11").await;
    assert!(!s.paused);
    assert_eq!(
        s.issued, 3,
        "resumed: 300 points are three small rewards: {s:?}"
    );
}

async fn a_dry_run_counts_the_real_budget_and_changes_nothing(w: World) {
    w.export(
        "d1.csv",
        &(1..=4)
            .map(|n| (n, "2026-03-09", 100.0))
            .collect::<Vec<_>>(),
    );
    let pipeline = with(&w, Controls::new().budget(day_budget(300)));
    let s = w.run_on(&pipeline, "2026-03-10").await;
    assert_eq!(s.issued, 3);
    let dry = w.try_run(&pipeline, "2026-03-10", true).await.unwrap();
    assert_eq!(
        (dry.holds, dry.waiting),
        (0, 1),
        "the real spend counts: {dry:?}"
    );
    assert_eq!(
        w.store.budget_spent("day:2026-03-10").await.unwrap(),
        Points::new(300)
    );
    let agent4 = AgentId::new(agent(4)).unwrap();
    assert!(
        w.store
            .waiting()
            .await
            .unwrap()
            .iter()
            .any(|x| x.agent == agent4)
    );
}

/// The PostgreSQL server of `KUDOS_TEST_POSTGRES_URL`, or `None` (after saying so); with
/// `KUDOS_REQUIRE_SERVICES` (CI), a missing server fails the test instead.
#[allow(
    clippy::print_stderr,
    reason = "a test that cannot run says so in the test output"
)]
fn postgres(what: &str) -> Option<String> {
    match std::env::var("KUDOS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("KUDOS_REQUIRE_SERVICES").is_some() => {
            panic!("KUDOS_REQUIRE_SERVICES is set and KUDOS_TEST_POSTGRES_URL is not: {what}")
        }
        _ => {
            eprintln!("KUDOS_TEST_POSTGRES_URL is not set: {what} did NOT run");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_started_together_on_one_postgres_ledger_issue_exactly_what_the_budget_affords() {
    use kudos_ledger::RunStore;
    use kudos_pipeline::{NoProgress, RunOptions};
    use kudos_store_postgres::{PostgresOptions, PostgresStore};

    let Some(url) = postgres("budgets with concurrent workers") else {
        return;
    };
    let w = World::new("budget-pg", SimConfig::default()).await;
    // Thirty agents who can each afford one small reward (100 points).
    w.export(
        "d1.csv",
        &(1..=30)
            .map(|n| (n, "2026-03-09", 100.0))
            .collect::<Vec<_>>(),
    );
    let day = Day::parse("2026-03-10").unwrap();
    const WORKERS: usize = 4;
    for round in 0..8_i64 {
        // A fresh ledger each time; a budget that affords exactly `afford` rewards.
        let schema = format!("kudos_budget_{}_{round}", std::process::id());
        drop_schema(&url, &schema).await;
        let afford = 5 + round % 4;
        let before = w.sim.rewards().len();
        let barrier = Arc::new(tokio::sync::Barrier::new(WORKERS));
        let mut workers = tokio::task::JoinSet::new();
        let mut stores = Vec::new();
        for worker in 0..WORKERS {
            let store: Arc<dyn RunStore> = Arc::new(
                PostgresStore::open_with(
                    &url,
                    &PostgresOptions::default()
                        .max_connections(4)
                        .schema(schema.clone())
                        .migrate(true),
                )
                .await
                .unwrap(),
            );
            stores.push(store.clone());
            let pipeline = Pipeline::new(
                w.parts(store)
                    .controls(Controls::new().budget(day_budget(afford * 100))),
            );
            let audit = AuditLog::open(
                &w.dir.join(format!("audit-{round}-{worker}.jsonl")),
                Uuid::now_v7(),
            )
            .unwrap();
            let barrier = Arc::clone(&barrier);
            workers.spawn(async move {
                barrier.wait().await;
                pipeline
                    .run(Box::new(audit), RunOptions::new(day), &NoProgress)
                    .await
            });
        }
        let mut issued = 0;
        while let Some(done) = workers.join_next().await {
            issued += done.unwrap().unwrap().issued;
        }
        let rewards = w.sim.rewards().len() - before;
        assert_eq!(
            (rewards, issued),
            (
                usize::try_from(afford).unwrap(),
                u64::try_from(afford).unwrap()
            ),
            "round {round}: a budget of {afford} rewards, {WORKERS} workers at once"
        );
        assert_eq!(
            stores[0].budget_spent("day:2026-03-10").await.unwrap(),
            Points::new(afford * 100),
            "round {round}"
        );
        let waiting = stores[0].waiting().await.unwrap().len();
        assert_eq!(
            waiting,
            30 - usize::try_from(afford).unwrap(),
            "round {round}"
        );
        drop(stores);
        drop_schema(&url, &schema).await;
    }
}

async fn the_spend_report_counts_in_points_and_money_and_finds_every_disagreement(mut w: World) {
    use kudos_core::{Clock, ManualClock, TxnId};
    // One request at a time, so the rejected first request is agent 1's.
    w.settings.max_in_flight = 1;
    w.export(
        "d1.csv",
        &[
            (1, "2026-03-09", 100.0),
            (2, "2026-03-09", 100.0),
            (3, "2026-03-09", 600.0),
            (4, "2026-03-09", 100.0),
        ],
    );
    // 100 + 100 + 500 fit the day's 700 and the fourth waits; the rejected reward's 100 come
    // back, and the next round gives them to the one that waited (before agent 3's second).
    let controls = Controls::new()
        .prices(BTreeMap::from([
            (small(), dollars("10.00 USD")),
            (
                RewardType::new("gift_card_big").unwrap(),
                dollars("50.00 USD"),
            ),
        ]))
        .budget(day_budget(700));
    let pipeline = with(&w, controls);
    let s = w.run_on(&pipeline, "2026-03-10").await;
    assert_eq!((s.issued, s.rejected, s.waiting), (3, 1, 1), "{s:?}");
    assert_eq!(
        w.balance(4, "2026-03-10").await,
        0,
        "the one that waited went first"
    );
    assert_eq!(
        w.balance(3, "2026-03-10").await,
        100,
        "agent 3's second reward waits"
    );

    let day = |d| Day::parse(d).unwrap();
    let report = pipeline
        .spend_report(day("2026-03-01"), day("2026-03-31"), true)
        .await
        .unwrap();
    let line = |rt: &str| {
        report
            .lines
            .iter()
            .find(|l| l.reward_type == rt)
            .cloned()
            .unwrap()
    };
    let small_line = line("gift_card_small");
    let big_line = line("gift_card_big");
    assert_eq!(
        (
            small_line.issued.count,
            small_line.released.count,
            small_line.waiting.count
        ),
        (2, 1, 1),
        "{small_line:?}"
    );
    assert_eq!(small_line.issued.amount, Some(dollars("20.00 USD")));
    assert_eq!((big_line.issued.count, big_line.issued.points), (1, 500));
    assert_eq!(big_line.issued.amount, Some(dollars("50.00 USD")));
    assert!(report.listed);
    assert_eq!(report.looked_up, 4);
    assert!(
        report.disagreements.is_empty(),
        "{:?}",
        report.disagreements
    );

    // The marketplace voids one reward behind the ledger's back, and issues one the ledger
    // never asked for.
    let issued = w.holds(HoldState::Committed).await;
    let voided = issued[0].txn;
    assert!(w.sim.void_reward(&voided.to_string()));
    let stranger =
        TxnId::generate(&ManualClock::at_rfc3339("2026-03-10T07:00:00Z").unwrap() as &dyn Clock);
    let body = br#"{"agent_id":"someone-else","reward_type":"gift_card_small","points_consumed":100,"transaction_timestamp":"2026-03-10T07:00:00Z"}"#;
    let outcome = w
        .parts(w.store.clone())
        .provider
        .issue(stranger, body)
        .await;
    assert!(
        matches!(outcome, kudos_client::Outcome::Issued { .. }),
        "{outcome:?}"
    );
    let report = pipeline
        .spend_report(day("2026-03-01"), day("2026-03-31"), true)
        .await
        .unwrap();
    let found: Vec<(String, &str, &str)> = report
        .disagreements
        .iter()
        .map(|d| (d.txn_id.clone(), d.ledger.as_str(), d.marketplace.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (voided.to_string(), "committed", "reversed"),
            (stranger.to_string(), "none", "issued"),
        ]
    );
}

// The marketplaces the scenarios run against.

/// A marketplace that issues everything.
fn sim_healthy() -> SimConfig {
    SimConfig::default()
}

/// The first reward is rejected.
fn sim_first_rejected() -> SimConfig {
    // The first request is rejected by the marketplace: its hold is released, and its
    // points go back to the month's budget for gift_card_small.
    faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'rejected'")
}

/// $250 of funds, small rewards at $100.
fn sim_funded_250() -> SimConfig {
    SimConfig {
        balance: Some(dollars("250.00 USD")),
        prices: [("gift_card_small".to_owned(), dollars("100.00 USD"))].into(),
        ..SimConfig::default()
    }
}

/// $150 of funds, small rewards at $100.
fn sim_funded_150() -> SimConfig {
    // The run does not ask for the balance; the marketplace answers 402 once funds run out.
    SimConfig {
        balance: Some(dollars("150.00 USD")),
        prices: [("gift_card_small".to_owned(), dollars("100.00 USD"))].into(),
        ..SimConfig::default()
    }
}

/// The first reward is answered `PENDING` (in doubt).
fn sim_first_pending() -> SimConfig {
    // The first reward is answered PENDING: in doubt, for the paused run to settle by lookup.
    faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'pending'")
}

/// The first reward is rejected; rewards are dated on the run's day.
fn sim_dated_first_rejected() -> SimConfig {
    // The first reward is rejected; the marketplace dates its rewards on the run's day.
    SimConfig {
        clock: Arc::new(kudos_core::ManualClock::at_rfc3339("2026-03-10T06:00:00Z").unwrap()),
        ..faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'rejected'")
    }
}

// Each scenario above, on a SQLite file and on PostgreSQL.
both_stores!(
    a_day_budget_issues_what_it_affords_and_what_waits_goes_first_the_next_day,
    sim_healthy,
    "budget-day"
);
both_stores!(
    a_month_budget_per_reward_type_holds_across_days_and_a_release_gives_it_back,
    sim_first_rejected,
    "budget-month"
);
both_stores!(
    a_round_issues_what_the_balance_covers_and_alerts_below_the_floor,
    sim_funded_250,
    "funds"
);
both_stores!(
    a_402_releases_the_hold_sends_nothing_more_and_the_reward_waits_for_funds,
    sim_funded_150,
    "funds-402"
);
both_stores!(
    a_reward_above_the_approval_amount_is_never_sent_until_approved_and_then_once,
    sim_healthy,
    "approval"
);
both_stores!(
    while_paused_runs_accrue_and_settle_by_lookup_but_hold_and_send_nothing_new,
    sim_first_pending,
    "pause"
);
both_stores!(
    a_dry_run_counts_the_real_budget_and_changes_nothing,
    sim_healthy,
    "budget-dry"
);
both_stores!(
    the_spend_report_counts_in_points_and_money_and_finds_every_disagreement,
    sim_dated_first_rejected,
    "spend"
);

/// The world with its store on a fresh PostgreSQL schema (migrated).
async fn on_postgres(mut w: World, url: &str, tag: &str) -> World {
    use kudos_store_postgres::{PostgresOptions, PostgresStore};
    let schema = programme_schema(tag);
    drop_schema(url, &schema).await;
    w.store = Arc::new(
        PostgresStore::open_with(
            url,
            &PostgresOptions::default()
                .max_connections(4)
                .schema(schema)
                .migrate(true),
        )
        .await
        .unwrap(),
    );
    w
}

/// The PostgreSQL schema of the scenario tagged `tag` in this process (dropped when it passes).
fn programme_schema(tag: &str) -> String {
    format!(
        "kudos_programme_{}_{}",
        std::process::id(),
        tag.replace('-', "_")
    )
}

/// Drops `schema` if it is there: before a test, what a test process that once had this
/// process's id (ids are reused) left behind, its ledger not this test's; after a test that
/// passed, its own.
async fn drop_schema(url: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}
