//! The ledger's write path against a raw baseline measured in the same run: accruing
//! 100,000 agents × 1 day (with `execute_many`, and with `execute_many_deferred` as the run's
//! accrue step appends: each batch a task, three at once), and hold + commit cycles, on
//! `MemoryStore` and on SQLite, compared
//! with a raw sqlx insert of the same rows in one transaction (multi-row statements).
//!
//! Run with: `cargo bench -p kudos-benches --bench ledger`; with `KUDOS_TEST_POSTGRES_URL` set
//! (as `.ci/run` sets it), the accrual workload also runs on PostgreSQL, each iteration in a
//! fresh schema, against a raw sqlx insert of the same rows into PostgreSQL in one transaction.

#![allow(missing_docs, reason = "a bench binary")]
#![allow(
    clippy::disallowed_methods,
    reason = "benches time themselves with Instant"
)]
#![allow(
    clippy::cast_precision_loss,
    reason = "throughput figures are approximate by nature"
)]
#![allow(clippy::print_stdout, reason = "the bench prints its ratios")]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use kudos_core::{
    AgentId, Clock, Day, EventKey, ManualClock, MetricName, PointEvent, Points, RewardType, RuleId,
    Tier, TierId, TxnId,
};
use kudos_ledger::{AccountCommands, Command, Entry, Ledger, LedgerStore, MemoryStore, Op};
use kudos_store_postgres::{PostgresOptions, PostgresStore};
use kudos_store_sqlite::SqliteStore;
use tokio::runtime::Runtime;

const AGENTS: usize = 100_000;
const BATCH: usize = 1_000;
const CYCLES: usize = 2_000;

fn agents(n: usize) -> Vec<AgentId> {
    (0..n)
        .map(|i| AgentId::new(format!("a1b2c3d4-0000-4000-8000-{i:012}")).unwrap())
        .collect()
}

fn day() -> Day {
    Day::parse("2026-10-01").unwrap()
}

fn accrual(agent: &AgentId) -> Command {
    let key = EventKey::new(
        agent.clone(),
        day(),
        RuleId::new("csat-top").unwrap(),
        MetricName::new("oSurveyTotalScore.avg").unwrap(),
        BTreeMap::new(),
    );
    Command::Accrue {
        event: PointEvent::new(key, Points::new(600)),
        expires: day().add_days(90).unwrap(),
    }
}

/// The `n`th database directory of this process.
fn db_dir(n: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-ledger-{}-{n}", std::process::id()))
}

/// How many databases this process has made.
static DBS: AtomicU32 = AtomicU32::new(0);

/// A new SQLite database's URL. The one made before it is removed (its ledger was dropped
/// with its iteration), so a bench keeps one database on disk, not one per iteration (38 MB
/// each, hundreds of iterations).
fn fresh_db() -> String {
    let n = DBS.fetch_add(1, Ordering::Relaxed);
    if let Some(previous) = n.checked_sub(1) {
        let _ = std::fs::remove_dir_all(db_dir(previous));
    }
    let dir = db_dir(n);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}", dir.join("kudos.db").display())
}

/// Removes the last database [`fresh_db`] made.
fn remove_last_db() {
    if let Some(last) = DBS.load(Ordering::Relaxed).checked_sub(1) {
        let _ = std::fs::remove_dir_all(db_dir(last));
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::at_rfc3339("2026-10-02T06:00:00Z").unwrap())
}

/// Accrues one event for each agent, `BATCH` agents per `execute_many`.
async fn accrue_all<S: LedgerStore>(ledger: &Ledger<S>, agents: &[AgentId]) {
    for chunk in agents.chunks(BATCH) {
        let work: Vec<AccountCommands> = chunk
            .iter()
            .map(|a| AccountCommands::new(a.clone(), vec![accrual(a)]))
            .collect();
        for r in ledger.execute_many(&work).await.unwrap() {
            r.unwrap();
        }
    }
}

/// As [`accrue_all`], `deferred`: with `execute_many_deferred`, each batch a task of its own,
/// the first alone and then three at once, taken in order, as the run's accrue step appends
/// (the next batches' ledger work runs while one's rows are written).
async fn accrue_batches<S: LedgerStore + 'static>(
    ledger: &Arc<Ledger<S>>,
    agents: &[AgentId],
    deferred: bool,
) {
    if !deferred {
        return accrue_all(ledger, agents).await;
    }
    let batch = |chunk: &[AgentId]| {
        let ledger = Arc::clone(ledger);
        let work: Vec<AccountCommands> = chunk
            .iter()
            .map(|a| AccountCommands::new(a.clone(), vec![accrual(a)]))
            .collect();
        tokio::spawn(async move { ledger.execute_many_deferred(&work).await })
    };
    // The first batch alone, then three at once, as the accrue step does.
    let mut chunks = agents.chunks(BATCH);
    let first = chunks.next();
    let mut batches = futures_util::stream::iter(first)
        .map(batch)
        .buffered(1)
        .chain(futures_util::stream::iter(chunks).map(batch).buffered(3));
    while let Some(results) = batches.next().await {
        for r in results.unwrap().unwrap() {
            r.unwrap();
        }
    }
}

/// One hold and one commit per agent (each agent already has points).
async fn hold_commit_all<S: LedgerStore>(
    ledger: &Ledger<S>,
    agents: &[AgentId],
    clock: &dyn Clock,
) {
    let tier = Tier::new(
        TierId::new("gift-card-50").unwrap(),
        RewardType::new("gift_card_50_usd").unwrap(),
        Points::new(500),
        None,
    )
    .unwrap();
    for agent in agents {
        let txn = TxnId::generate(clock);
        ledger
            .execute(
                agent,
                Command::Hold {
                    txn,
                    day: Day::parse("2026-10-02").unwrap(),
                    tier: tier.clone(),
                    payload: vec![b'{'; 200],
                },
            )
            .await
            .unwrap();
        ledger
            .execute(agent, Command::Commit { txn })
            .await
            .unwrap();
    }
}

/// A pool on a new database with the store's schema, for [`raw_insert`] (not timed, as the
/// ledger's store is opened before its accruals are timed).
async fn raw_pool(url: &str) -> sqlx::SqlitePool {
    let store = SqliteStore::open(url).await.unwrap();
    drop(store); // creates the schema
    sqlx::SqlitePool::connect(url).await.unwrap()
}

/// The raw baseline: the same rows (agent, seq, id, JSON body) inserted with sqlx into the same
/// table, in one transaction, bodies serialized beforehand, `per_statement` rows per `INSERT`:
/// 1 (the plain way) or 190 (as the store writes them, since one statement per row costs a
/// round trip to sqlx's connection thread).
async fn raw_insert(
    pool: &sqlx::SqlitePool,
    rows: &[(String, i64, uuid::Uuid, String)],
    per_statement: usize,
) {
    let mut tx = pool.begin().await.unwrap();
    for chunk in rows.chunks(per_statement) {
        let marks = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!("INSERT INTO entries (agent, seq, id, body) VALUES {marks}");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (agent, seq, id, body) in chunk {
            // 16 bytes, as the store writes ids since schema 6.
            query = query
                .bind(agent)
                .bind(seq)
                .bind(id.as_bytes().as_slice())
                .bind(body);
        }
        query.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn fresh_schema() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "kudos_bench_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops a schema [`fresh_schema`] named, and its rows, once its iteration is timed.
async fn drop_schema(url: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

async fn postgres(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::open_with(
        url,
        &PostgresOptions::default()
            .max_connections(8)
            .schema(schema)
            .migrate(true),
    )
    .await
    .unwrap()
}

/// The PostgreSQL raw baseline: the same rows, one `INSERT` each, in one transaction, into the
/// store's own table (created by opening the store in a fresh schema).
async fn raw_insert_postgres(url: &str, schema: &str, rows: &[(String, i64, uuid::Uuid, String)]) {
    drop(postgres(url, schema).await);
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let pool = sqlx::PgPool::connect_with(options.options([("search_path", schema)]))
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for (agent, seq, id, body) in rows {
        sqlx::query("INSERT INTO kudos_entries (agent, seq, id, body) VALUES ($1, $2, $3, $4)")
            .bind(agent)
            .bind(seq)
            .bind(id)
            .bind(body)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

fn rows_of(entries: &[(AgentId, Entry)]) -> Vec<(String, i64, uuid::Uuid, String)> {
    entries
        .iter()
        .map(|(a, e)| (a.to_string(), 0, e.id, serde_json::to_string(e).unwrap()))
        .collect()
}

#[derive(Default)]
struct Totals(BTreeMap<&'static str, (Duration, u64)>);

impl Totals {
    fn add(&mut self, name: &'static str, d: Duration, n: u64) {
        let t = self.0.entry(name).or_default();
        t.0 += d;
        t.1 += n;
    }
    fn per_iter(&self, name: &str) -> f64 {
        self.0
            .get(name)
            .map_or(f64::NAN, |(d, n)| d.as_secs_f64() / (*n).max(1) as f64)
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let agents = agents(AGENTS);
    let totals = RefCell::new(Totals::default());
    // The rows the raw baseline inserts: the entries the ledger writes for the accruals.
    let sample: Vec<(AgentId, Entry)> = agents
        .iter()
        .map(|a| {
            let Command::Accrue { event, expires } = accrual(a) else {
                unreachable!()
            };
            let op = Op::Accrual {
                key: event.key().clone(),
                points: event.points(),
                expires,
            };
            (
                a.clone(),
                Entry {
                    id: event.id(),
                    at: clock().now(),
                    op,
                },
            )
        })
        .collect();
    let rows = rows_of(&sample);

    let mut group = c.benchmark_group("ledger accrue 100k agents x 1 day");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for (name, key, per_statement) in [
        (
            "raw sqlx insert, one transaction, one row per INSERT",
            "raw",
            1,
        ),
        (
            "raw sqlx insert, one transaction, 190 rows per INSERT",
            "raw-multi",
            190,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let pool = rt.block_on(raw_pool(&fresh_db()));
                    let start = Instant::now();
                    rt.block_on(raw_insert(&pool, &rows, per_statement));
                    total += start.elapsed();
                    rt.block_on(pool.close());
                }
                totals.borrow_mut().add(key, total, iters);
                total
            });
        });
    }
    for (name, key, deferred) in [
        ("ledger on SQLite", "sqlite", false),
        (
            "ledger on SQLite, deferred (as the accrue step appends)",
            "sqlite-deferred",
            true,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let url = fresh_db();
                    let store = rt.block_on(SqliteStore::open(&url)).unwrap();
                    let ledger = Arc::new(Ledger::new(store.clone(), clock()));
                    let start = Instant::now();
                    rt.block_on(async {
                        accrue_batches(&ledger, &agents, deferred).await;
                        // What the log still holds copied into the file, as the raw insert's
                        // commit copies all it wrote.
                        store.checkpoint().await.unwrap();
                    });
                    total += start.elapsed();
                }
                totals.borrow_mut().add(key, total, iters);
                total
            });
        });
    }
    group.bench_function("ledger on MemoryStore", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ledger = Ledger::new(MemoryStore::new(), clock());
                let start = Instant::now();
                rt.block_on(accrue_all(&ledger, &agents));
                total += start.elapsed();
            }
            totals.borrow_mut().add("memory", total, iters);
            total
        });
    });
    let pg = std::env::var("KUDOS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if let Some(url) = &pg {
        group.bench_function("raw sqlx insert into PostgreSQL, one transaction", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let schema = fresh_schema();
                    rt.block_on(async { drop(postgres(url, &schema).await) });
                    let start = Instant::now();
                    rt.block_on(raw_insert_postgres(url, &schema, &rows));
                    total += start.elapsed();
                    rt.block_on(drop_schema(url, &schema));
                }
                totals.borrow_mut().add("raw-pg", total, iters);
                total
            });
        });
        group.bench_function("ledger on PostgreSQL", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let schema = fresh_schema();
                    let ledger =
                        rt.block_on(async { Ledger::new(postgres(url, &schema).await, clock()) });
                    let start = Instant::now();
                    rt.block_on(accrue_all(&ledger, &agents));
                    total += start.elapsed();
                    drop(ledger);
                    rt.block_on(drop_schema(url, &schema));
                }
                totals.borrow_mut().add("pg", total, iters);
                total
            });
        });
    }
    group.finish();

    let cyc = &agents[..CYCLES];
    let mut group = c.benchmark_group("ledger hold + commit cycles");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("ledger on SQLite", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let url = fresh_db();
                let clock = clock();
                let ledger = rt.block_on(async {
                    Ledger::new(SqliteStore::open(&url).await.unwrap(), clock.clone())
                });
                rt.block_on(accrue_all(&ledger, cyc));
                let start = Instant::now();
                rt.block_on(hold_commit_all(&ledger, cyc, clock.as_ref()));
                total += start.elapsed();
            }
            totals.borrow_mut().add("cycles-sqlite", total, iters);
            total
        });
    });
    group.bench_function("ledger on MemoryStore", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let clock = clock();
                let ledger = Ledger::new(MemoryStore::new(), clock.clone());
                rt.block_on(accrue_all(&ledger, cyc));
                let start = Instant::now();
                rt.block_on(hold_commit_all(&ledger, cyc, clock.as_ref()));
                total += start.elapsed();
            }
            totals.borrow_mut().add("cycles-memory", total, iters);
            total
        });
    });
    group.finish();
    remove_last_db();

    let t = totals.borrow();
    let (raw, multi) = (t.per_iter("raw"), t.per_iter("raw-multi"));
    let n = AGENTS as f64;
    println!(
        "accrue {AGENTS} agents x 1 day: raw sqlx insert {:.0} rows/s one row per INSERT, {:.0} rows/s 190 rows per INSERT",
        n / raw,
        n / multi
    );
    for (name, key) in [
        ("SQLite", "sqlite"),
        (
            "SQLite, deferred (execute_many_deferred, as the accrue step appends)",
            "sqlite-deferred",
        ),
        ("MemoryStore", "memory"),
    ] {
        let s = t.per_iter(key);
        println!(
            "  ledger on {name}: {:.0} accruals/s, ratio to raw insert = {:.2}x (one row per INSERT), {:.2}x (190 rows per INSERT)",
            n / s,
            s / raw,
            s / multi
        );
    }
    if pg.is_some() {
        let (raw, s) = (t.per_iter("raw-pg"), t.per_iter("pg"));
        println!(
            "accrue {AGENTS} agents x 1 day on PostgreSQL: raw sqlx insert {:.0} rows/s; ledger {:.0} accruals/s, ratio to raw insert = {:.2}x",
            n / raw,
            n / s,
            s / raw
        );
    } else {
        println!("KUDOS_TEST_POSTGRES_URL is not set: the PostgreSQL part did not run");
    }
    for (name, key) in [
        ("SQLite", "cycles-sqlite"),
        ("MemoryStore", "cycles-memory"),
    ] {
        let s = t.per_iter(key);
        println!(
            "hold + commit on {name}: {:.0} cycles/s ({:.0} µs per cycle; each cycle is two transactions), {:.2}x the raw insert time per row x 2",
            CYCLES as f64 / s,
            s / CYCLES as f64 * 1e6,
            (s / CYCLES as f64) / (2.0 * raw / n)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
