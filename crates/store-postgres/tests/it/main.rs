//! `kudos-store-postgres` against the real server named by `KUDOS_TEST_POSTGRES_URL` (`.ci/run`
//! sets it). Each test works in its own schema, so runs never collide. Without the variable the
//! tests say plainly that they did not run.

#![allow(
    clippy::print_stderr,
    reason = "tests say on stderr when they could not run, and what they measured"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use kudos_core::{
    AgentId, Clock, Day, EventKey, ManualClock, MetricName, PointEvent, Points, RewardType, RuleId,
    SystemClock, Tier, TierId, TxnId,
};
use kudos_ledger::{Account, Command, HoldState, Ledger, LedgerError, LedgerStore, Op};
use kudos_store_postgres::{PostgresOptions, PostgresStore};

mod migrate;

/// The server URL, or `None` (after saying so) when the variable is not set.
fn server() -> Option<String> {
    match std::env::var("KUDOS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        // CI sets it: there a missing server fails the test instead of skipping it.
        _ if std::env::var_os("KUDOS_REQUIRE_SERVICES").is_some() => {
            panic!("KUDOS_REQUIRE_SERVICES is set and KUDOS_TEST_POSTGRES_URL is not")
        }
        _ => {
            eprintln!("KUDOS_TEST_POSTGRES_URL is not set: this PostgreSQL store test did NOT run");
            None
        }
    }
}

fn schema(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "kudos_test_{}_{}_{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `sql` as the server's own (administrative) user.
async fn admin(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Drops a test's [`schema`] once it has passed (a failed test leaves its rows to look at).
async fn drop_schema(url: &str, schema: &str) {
    admin(url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
}

async fn open(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::open_with(
        url,
        &PostgresOptions::default()
            .max_connections(4)
            .schema(schema)
            .migrate(true),
    )
    .await
    .unwrap()
}

fn accrue(agent: &AgentId, rule: &str, points: i64) -> Command {
    let day = Day::parse("2026-10-01").unwrap();
    let key = EventKey::new(
        agent.clone(),
        day,
        RuleId::new(rule).unwrap(),
        MetricName::new("m").unwrap(),
        Default::default(),
    );
    Command::Accrue {
        event: PointEvent::new(key, Points::new(points)),
        expires: day.add_days(90).unwrap(),
    }
}

fn tier() -> Tier {
    Tier::new(
        TierId::new("t").unwrap(),
        RewardType::new("r").unwrap(),
        Points::new(50),
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn postgres_store_conforms() {
    let Some(url) = server() else { return };
    let s = schema("conformance");
    let store = open(&url, &s).await;
    kudos_ledger::testkit::conformance(&store).await;
    drop_schema(&url, &s).await;
}

#[tokio::test]
async fn concurrent_first_opens_migrate_once_and_data_survives_reopening() {
    let Some(url) = server() else { return };
    let s = schema("reopen");
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let (url, s) = (url.clone(), s.clone());
            async move { open(&url, &s).await }
        })
        .collect();
    let stores = futures_join(opens).await;
    let agent = AgentId::new("u-1").unwrap();
    Ledger::new(stores[0].clone(), Arc::new(SystemClock))
        .execute_all(
            &agent,
            &[accrue(&agent, "a", 120), accrue(&agent, "b", -20)],
        )
        .await
        .unwrap();
    let again = open(&url, &s).await;
    let account = Ledger::new(again, Arc::new(SystemClock))
        .account(&agent)
        .await
        .unwrap();
    assert_eq!(account.version(), 2);
    assert_eq!(
        account.balance(Day::parse("2026-10-02").unwrap()).available,
        Points::new(100)
    );
    drop_schema(&url, &s).await;
}

async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_holds_on_one_agent_make_exactly_one() {
    let Some(url) = server() else { return };
    let s = schema("holds");
    let store = open(&url, &s).await;
    let agent = AgentId::new("u-race").unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_rfc3339("2026-10-02T06:00:00Z").unwrap());
    let ledger = Arc::new(Ledger::new(store, clock));
    ledger
        .execute(&agent, accrue(&agent, "seed", 500))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8u128)
        .map(|i| {
            let (ledger, agent) = (ledger.clone(), agent.clone());
            tokio::spawn(async move {
                let txn = TxnId::from_uuid(uuid::Uuid::from_u128(i + 1));
                ledger
                    .execute(
                        &agent,
                        Command::Hold {
                            txn,
                            day: Day::parse("2026-10-02").unwrap(),
                            tier: tier(),
                            payload: vec![],
                        },
                    )
                    .await
            })
        })
        .collect();
    let mut made = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => made += 1,
            Err(LedgerError::HoldUnresolved { .. }) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(made, 1);
    assert_eq!(
        ledger
            .store()
            .holds(Some(HoldState::Open))
            .await
            .unwrap()
            .len(),
        1
    );
    drop_schema(&url, &s).await;
}

/// The child side of `several_processes_lose_nothing_and_never_hold_twice`.
async fn child(url: &str, schema: &str, worker: u32) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ledger = Ledger::new(open(url, schema).await, clock.clone());
    for i in 0..30u32 {
        let agent = AgentId::new(format!("u-{}", i % 5)).unwrap();
        ledger
            .execute(&agent, accrue(&agent, &format!("w{worker}-{i}"), 10))
            .await
            .unwrap();
        let txn = TxnId::generate(clock.as_ref());
        match ledger
            .execute(
                &agent,
                Command::Hold {
                    txn,
                    day: Day::parse("2026-10-02").unwrap(),
                    tier: tier(),
                    payload: vec![],
                },
            )
            .await
        {
            Ok(_) => {
                let resolve = if i % 2 == 0 {
                    Command::Commit { txn }
                } else {
                    Command::Release {
                        txn,
                        day: Day::parse("2026-10-02").unwrap(),
                    }
                };
                ledger.execute(&agent, resolve).await.unwrap();
            }
            Err(LedgerError::HoldUnresolved { .. } | LedgerError::Insufficient { .. }) => {}
            Err(e) => panic!("worker {worker}: {e}"),
        }
    }
}

#[test]
fn several_processes_lose_nothing_and_never_hold_twice() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let (Ok(url), Ok(spec)) = (
        std::env::var("KUDOS_TEST_POSTGRES_URL"),
        std::env::var("KUDOS_PG_CHILD"),
    ) {
        let (schema, worker) = spec.split_once(':').unwrap();
        runtime.block_on(child(&url, schema, worker.parse().unwrap()));
        return;
    }
    let Some(url) = server() else { return };
    let s = schema("processes");
    runtime.block_on(open(&url, &s)); // migrate once up front
    let children: Vec<_> = (0..4)
        .map(|w| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "several_processes_lose_nothing_and_never_hold_twice",
                    "--test-threads",
                    "1",
                ])
                .env("KUDOS_PG_CHILD", format!("{s}:{w}"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a worker process failed");
    }
    runtime.block_on(async {
        let store = open(&url, &s).await;
        for a in 0..5 {
            let agent = AgentId::new(format!("u-{a}")).unwrap();
            let stored = store.load(&agent).await.unwrap();
            // Replay the log: at no point two unresolved holds.
            let mut unresolved = 0i32;
            let (mut accruals, mut committed) = (0, 0);
            for e in &stored.entries {
                match &e.op {
                    Op::Accrual { .. } => accruals += 1,
                    Op::Hold { .. } => {
                        unresolved += 1;
                        assert!(
                            unresolved <= 1,
                            "agent {agent}: two unresolved holds at once"
                        );
                    }
                    Op::Commit { .. } => {
                        unresolved -= 1;
                        committed += 1;
                    }
                    Op::Release { .. } => unresolved -= 1,
                    _ => {}
                }
            }
            assert_eq!(
                accruals,
                4 * 6,
                "agent {agent}: every worker's accruals are there (no lost update)"
            );
            let account = Account::from_entries(agent.clone(), stored.entries).unwrap();
            let b = account.balance(Day::parse("2026-10-02").unwrap());
            assert_eq!(
                b.available.get() + 50 * committed,
                240,
                "agent {agent}: nothing created or lost"
            );
            assert_eq!(b.reserved.get(), 0);
        }
        drop_schema(&url, &s).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_serializable_isolation_conflicts_are_retried_and_nothing_is_lost() {
    let Some(url) = server() else { return };
    let s = schema("serializable");
    let options = PostgresOptions::default()
        .max_connections(8)
        .schema(s.clone())
        .serializable(true)
        .migrate(true);
    let store = PostgresStore::open_with(&url, &options).await.unwrap();
    let ledger = Arc::new(Ledger::new(store.clone(), Arc::new(SystemClock)));
    let agent = AgentId::new("u-hot").unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|t| {
            let (ledger, agent) = (ledger.clone(), agent.clone());
            tokio::spawn(async move {
                for i in 0..15 {
                    ledger
                        .execute(&agent, accrue(&agent, &format!("t{t}-{i}"), 1))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let account = ledger.account(&agent).await.unwrap();
    assert_eq!(account.version(), 90);
    assert_eq!(
        account.balance(Day::parse("2026-10-02").unwrap()).available,
        Points::new(90)
    );
    eprintln!(
        "serialization failures retried: {}",
        store.transaction_retries()
    );
    drop_schema(&url, &s).await;
}
