//! `kudos-store-sqlite` against real SQLite files: conformance, persistence, several writers
//! on one file, and a writer killed in the middle of its appends.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use kudos_core::{
    AgentId, Clock, Day, EventKey, ManualClock, MetricName, PointEvent, Points, RuleId, SystemClock,
};
use kudos_ledger::{Account, Command, HoldState, Ledger, LedgerStore, hold_view};
use kudos_store_sqlite::SqliteStore;

/// A fresh database URL under the target directory's scratch space.
fn db_url(name: &str) -> (String, PathBuf) {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sqlite-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kudos.db");
    (format!("sqlite://{}", path.display()), path)
}

/// `agent`'s event for `rule` on `day`.
fn key(agent: &AgentId, day: Day, rule: &str) -> EventKey {
    EventKey::new(
        agent.clone(),
        day,
        RuleId::new(rule).unwrap(),
        MetricName::new("m").unwrap(),
        Default::default(),
    )
}

fn accrue(agent: &AgentId, rule: &str, points: i64) -> Command {
    let day = Day::parse("2026-10-01").unwrap();
    let key = key(agent, day, rule);
    Command::Accrue {
        event: PointEvent::new(key, Points::new(points)),
        expires: day.add_days(90).unwrap(),
    }
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let (url, _) = db_url("conformance");
    let store = SqliteStore::open(&url).await.unwrap();
    kudos_ledger::testkit::conformance(&store).await;
}

#[tokio::test]
async fn what_is_written_survives_reopening() {
    let (url, _) = db_url("reopen");
    let agent = AgentId::new("u-1").unwrap();
    {
        let ledger = Ledger::new(
            SqliteStore::open(&url).await.unwrap(),
            Arc::new(SystemClock),
        );
        ledger
            .execute_all(
                &agent,
                &[accrue(&agent, "a", 120), accrue(&agent, "b", -20)],
            )
            .await
            .unwrap();
    }
    let ledger = Ledger::new(
        SqliteStore::open(&url).await.unwrap(),
        Arc::new(SystemClock),
    );
    let account = ledger.account(&agent).await.unwrap();
    assert_eq!(account.version(), 2);
    assert_eq!(
        account.balance(Day::parse("2026-10-02").unwrap()).available,
        Points::new(100)
    );
}

/// Deferred appends (the run's accruals) are written by a connection of their own: another
/// process sees them at once, a durable append after them keeps their order, and they are
/// there when the file is opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_appends_are_seen_by_others_and_kept() {
    let (url, _) = db_url("deferred");
    let (a, b) = (
        AgentId::new("u-def-a").unwrap(),
        AgentId::new("u-def-b").unwrap(),
    );
    {
        let ledger = Ledger::new(
            SqliteStore::open(&url).await.unwrap(),
            Arc::new(SystemClock),
        );
        let work = [
            kudos_ledger::AccountCommands::new(a.clone(), vec![accrue(&a, "x", 70)]),
            kudos_ledger::AccountCommands::new(b.clone(), vec![accrue(&b, "x", 30)]),
        ];
        for result in ledger.execute_many_deferred(&work).await.unwrap() {
            assert!(result.unwrap()[0].appended);
        }
        // Another process (a pool of its own on the same file) reads them at once.
        let other = SqliteStore::open_with(&url, 1).await.unwrap();
        assert_eq!(other.load(&a).await.unwrap().version, 1);
        // A durable append after them, on the same account, follows them.
        ledger.execute(&a, accrue(&a, "y", 5)).await.unwrap();
        assert_eq!(other.load(&a).await.unwrap().version, 2);
    }
    let ledger = Ledger::new(
        SqliteStore::open(&url).await.unwrap(),
        Arc::new(SystemClock),
    );
    let day = Day::parse("2026-10-02").unwrap();
    let balance = |account: Account| account.balance(day).available;
    assert_eq!(balance(ledger.account(&a).await.unwrap()), Points::new(75));
    assert_eq!(balance(ledger.account(&b).await.unwrap()), Points::new(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_connections_on_one_file_lose_no_update() {
    let (url, _) = db_url("racing");
    let agent = AgentId::new("u-race").unwrap();
    // Separate pools stand for separate processes: they share nothing but the file.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let url = url.clone();
        let agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            let ledger = Ledger::new(
                SqliteStore::open_with(&url, 2).await.unwrap(),
                Arc::new(SystemClock),
            );
            for i in 0..25 {
                ledger
                    .execute(&agent, accrue(&agent, &format!("w{w}-{i}"), 1))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ledger = Ledger::new(
        SqliteStore::open(&url).await.unwrap(),
        Arc::new(SystemClock),
    );
    let account = ledger.account(&agent).await.unwrap();
    assert_eq!(account.version(), 100);
    assert_eq!(
        account.balance(Day::parse("2026-10-02").unwrap()).available,
        Points::new(100)
    );
}

/// The child side of `a_writer_killed_mid_append_leaves_a_consistent_file`: appends forever.
async fn child_writer(url: &str) {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_rfc3339("2026-10-02T06:00:00Z").unwrap());
    let ledger = Ledger::new(SqliteStore::open(url).await.unwrap(), clock.clone());
    let tier = kudos_core::Tier::new(
        kudos_core::TierId::new("t").unwrap(),
        kudos_core::RewardType::new("r").unwrap(),
        Points::new(50),
        None,
    )
    .unwrap();
    for i in 0u64.. {
        let agent = AgentId::new(format!("u-{}", i % 7)).unwrap();
        // Batches of accruals, and holds that are committed, so that every kind of write is
        // in flight when the kill comes.
        let batch: Vec<Command> = (0..20)
            .map(|j| accrue(&agent, &format!("r{i}-{j}"), 5))
            .collect();
        ledger.execute_all(&agent, &batch).await.unwrap();
        let txn = kudos_core::TxnId::generate(clock.as_ref());
        if ledger
            .execute(
                &agent,
                Command::Hold {
                    txn,
                    day: Day::parse("2026-10-02").unwrap(),
                    tier: tier.clone(),
                    payload: vec![b'x'; 64],
                },
            )
            .await
            .is_ok()
        {
            ledger
                .execute(&agent, Command::Commit { txn })
                .await
                .unwrap();
        }
        if i == 3 {
            // Tell the parent that writes are flowing.
            #[allow(clippy::print_stdout, reason = "the parent process reads this line")]
            {
                println!("writing");
            }
        }
    }
}

#[test]
fn a_writer_killed_mid_append_leaves_a_consistent_file() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(url) = std::env::var("KUDOS_SQLITE_CHILD_URL") {
        runtime.block_on(child_writer(&url));
        return;
    }
    let (url, _path) = db_url("killed");
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_writer_killed_mid_append_leaves_a_consistent_file",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("KUDOS_SQLITE_CHILD_URL", &url)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until it is writing, then let it run a little and kill it (SIGKILL: no cleanup).
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
            assert!(
                n > 0,
                "round {round}: the child writer stopped before writing"
            );
            if line.contains("writing") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(30 + 40 * round));
        child.kill().unwrap();
        child.wait().unwrap();

        runtime.block_on(async {
            let store = SqliteStore::open(&url).await.unwrap();
            let agents = store.agents().await.unwrap();
            assert!(!agents.is_empty());
            let index = store.holds(None).await.unwrap();
            for agent in agents {
                let stored = store.load(&agent).await.unwrap();
                // Every account folds: no half-written entry, no gap.
                let account = Account::from_entries(agent.clone(), stored.entries).unwrap();
                for lot in account.lots() {
                    assert!(lot.reserved <= lot.remaining && lot.reserved.get() >= 0);
                }
                // The hold index agrees with the entries it was committed with.
                for txn in account.holds().keys() {
                    let view = index.iter().find(|h| h.txn == *txn).unwrap();
                    assert_eq!(Some(view.clone()), hold_view(&account, *txn));
                }
                assert!(
                    account
                        .holds()
                        .values()
                        .filter(|h| h.state == HoldState::Open)
                        .count()
                        <= 1
                );
            }
        });
    }
}

/// An append whose caller stops waiting (its future dropped mid-write, as a run's task is
/// aborted) leaves the store working: its batch is written whole or not at all, and the next
/// appends, deferred and durable, go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_dropped_mid_write_leaves_the_store_working() {
    let (url, _) = db_url("dropped");
    let store = SqliteStore::open(&url).await.unwrap();
    let agents: Vec<AgentId> = (0..2000)
        .map(|i| AgentId::new(format!("u-dropped-{i}")).unwrap())
        .collect();
    let ledger = Ledger::new(store.clone(), Arc::new(SystemClock));
    let work: Vec<_> = agents
        .iter()
        .map(|a| kudos_ledger::AccountCommands::new(a.clone(), vec![accrue(a, "a", 10)]))
        .collect();
    // Dropped at several points of its write, from before it starts to after it ends.
    for wait_us in [0u64, 200, 1_000, 3_000, 10_000, 50_000] {
        let _ = tokio::time::timeout(
            std::time::Duration::from_micros(wait_us),
            ledger.execute_many_deferred(&work),
        )
        .await;
        let versions: Vec<u64> = store
            .load_many(&agents)
            .await
            .unwrap()
            .iter()
            .map(|s| s.version)
            .collect();
        assert!(
            versions.iter().all(|&v| v == versions[0]),
            "a batch is written whole or not at all (after {wait_us} µs)"
        );
    }
    // The store still appends, deferred and durable, and every account has its one accrual.
    let results = ledger.execute_many_deferred(&work).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{:?}", results.first());
    let extra = AgentId::new("u-dropped-after").unwrap();
    ledger
        .execute(&extra, accrue(&extra, "b", 5))
        .await
        .unwrap();
    for stored in store.load_many(&agents).await.unwrap() {
        assert_eq!(stored.version, 1, "one accrual per account, applied once");
    }
    assert_eq!(store.load(&extra).await.unwrap().version, 1);
}

/// After `checkpoint`, the database file alone holds every entry: a copy of it without its
/// write-ahead log (what a naive backup takes) opens with all the appends in it.
#[tokio::test]
async fn after_a_checkpoint_the_file_alone_holds_every_entry() {
    let (url, path) = db_url("checkpoint");
    let store = SqliteStore::open(&url).await.unwrap();
    let ledger = Ledger::new(store.clone(), Arc::new(SystemClock));
    let agents: Vec<AgentId> = (0..50)
        .map(|i| AgentId::new(format!("u-checkpoint-{i}")).unwrap())
        .collect();
    let work: Vec<_> = agents
        .iter()
        .map(|a| kudos_ledger::AccountCommands::new(a.clone(), vec![accrue(a, "a", 10)]))
        .collect();
    for result in ledger.execute_many_deferred(&work).await.unwrap() {
        result.unwrap();
    }
    let copy_of_the_file = || {
        let (copy_url, copy_path) = db_url("checkpoint-copy");
        std::fs::copy(&path, &copy_path).unwrap();
        copy_url
    };
    // Fifty entries are far from SQLite's own checkpoint: they are still in the log only.
    let before = SqliteStore::open(&copy_of_the_file()).await.unwrap();
    assert_eq!(before.load(&agents[0]).await.unwrap().version, 0);
    store.checkpoint().await.unwrap();
    let after = SqliteStore::open(&copy_of_the_file()).await.unwrap();
    for stored in after.load_many(&agents).await.unwrap() {
        assert_eq!(stored.version, 1, "every append is in the file itself");
    }
}

/// One accrual each for `agents` new accounts, named after `prefix`.
fn accruals(prefix: &str, agents: usize) -> Vec<kudos_ledger::AccountCommands> {
    (0..agents)
        .map(|i| {
            let agent = AgentId::new(format!("u-{prefix}-{i}")).unwrap();
            kudos_ledger::AccountCommands::new(agent.clone(), vec![accrue(&agent, "a", 10)])
        })
        .collect()
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The store copies what appends write into the database file by itself, without a call to
/// `checkpoint` and with its writers' own checkpoints far off (10,000 pages).
#[tokio::test]
async fn appends_reach_the_database_file_without_a_checkpoint_call() {
    let (url, path) = db_url("copied");
    let store = SqliteStore::open(&url).await.unwrap();
    let ledger = Ledger::new(store.clone(), Arc::new(SystemClock));
    let empty = file_size(&path);
    for batch in 0..10 {
        let results = ledger
            .execute_many_deferred(&accruals(&format!("copied-{batch}"), 1_000))
            .await
            .unwrap();
        assert!(results.iter().all(Result::is_ok));
    }
    // The copying runs beside the appends: it is given up to 20 s to catch up.
    let mut polls = 0;
    while file_size(&path) < empty + 1_000_000 {
        polls += 1;
        assert!(
            polls < 1_000,
            "10,000 entries appended, the database file still {} bytes (empty: {empty})",
            file_size(&path)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// However long appends go on without a pause, the write-ahead log starts over: its file
/// stays bounded instead of growing with everything written since the store opened (SQLite
/// starts a log over only when a write begins with all of it copied, which a checkpoint
/// running beside the writers does not see).
#[tokio::test]
async fn the_log_stays_bounded_under_appends_without_a_pause() {
    use futures_util::StreamExt;
    let (url, path) = db_url("bounded");
    let store = SqliteStore::open(&url).await.unwrap();
    let day = Day::parse("2026-10-01").unwrap();
    let at = SystemClock.now();
    // 100 batches of 1,000 new accounts' accruals, made before the first is written.
    let batches: Vec<Vec<(AgentId, [kudos_ledger::Entry; 1])>> = (0..100)
        .map(|batch| {
            (0..1_000)
                .map(|i| {
                    let agent = AgentId::new(format!("u-bounded-{batch}-{i}")).unwrap();
                    let key = key(&agent, day, "a");
                    let entry = kudos_ledger::Entry {
                        id: key.id(),
                        at,
                        op: kudos_ledger::Op::Accrual {
                            key,
                            points: Points::new(10),
                            expires: day.add_days(90).unwrap(),
                        },
                    };
                    (agent, [entry])
                })
                .collect()
        })
        .collect();
    let wal = path.with_extension("db-wal");
    let largest = std::sync::atomic::AtomicU64::new(0);
    // Three in flight, as the accrue step writes: the writer never waits for a batch.
    futures_util::stream::iter(&batches)
        .map(|batch| {
            let store = &store;
            let largest = &largest;
            let wal = &wal;
            async move {
                let items: Vec<_> = batch
                    .iter()
                    .map(|(agent, entries)| kudos_ledger::AppendItem {
                        agent,
                        expected: 0,
                        entries,
                        holds: &[],
                        reversals: &[],
                    })
                    .collect();
                let answers = store.append_many_deferred(&items).await.unwrap();
                assert!(answers.iter().all(Result::is_ok));
                largest.fetch_max(file_size(wal), Ordering::Relaxed);
            }
        })
        .buffered(3)
        .collect::<Vec<()>>()
        .await;
    // Written whole, the log would pass 36 MB; the store lets it start over past 16 MB.
    let largest = largest.into_inner();
    assert!(
        largest < 24_000_000,
        "the log reached {largest} bytes for a database of {} bytes",
        file_size(&path)
    );
}
