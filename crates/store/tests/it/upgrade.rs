//! A ledger written by release 0.1.0 keeps working: `fixtures/ledger-v1/` holds a SQLite file
//! and a PostgreSQL dump that the 0.1.0 `kudos` binary wrote (see its README). Each is opened
//! by today's store, which converts it, and must give back every entry, the same ingest marks
//! (taken whole; taken through a day) and leases only on the hold that is still unresolved.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use std::time::Duration;

use chrono::{DateTime, Utc};
use kudos_core::{AgentId, Day, TxnId};
use kudos_ledger::{ContentHash, HoldState, IngestMark, RunStore};
use sha2::{Digest as _, Sha256};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ledger-v1")
        .join(path)
}

fn hash_of(export: &str) -> ContentHash {
    let bytes = std::fs::read(fixture(&format!("exports/{export}"))).unwrap();
    ContentHash::from_digest(Sha256::digest(&bytes).into())
}

fn day(text: &str) -> Day {
    Day::parse(text).unwrap()
}

/// Long after the fixture's leases ended.
fn later() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// What the fixture holds, per store (the two 0.1.0 runs met different faults).
struct Expected {
    entries: usize,
    open_hold: &'static str,
    committed_hold: &'static str,
}

async fn the_ledger_of_0_1_0_reads_back(store: &dyn RunStore, expected: &Expected) {
    let agents = store.agents().await.unwrap();
    let want: Vec<AgentId> = (1..=4)
        .map(|n| AgentId::new(format!("a1b2c3d4-0000-4000-8000-{n:012}")).unwrap())
        .collect();
    assert_eq!(agents, want, "every account is there");
    let entries: usize = store
        .load_many(&agents)
        .await
        .unwrap()
        .iter()
        .map(|s| s.entries.len())
        .sum();
    assert_eq!(entries, expected.entries, "every entry is kept");
    // Every entry's id still names its account (the SQLite file's ids were converted to
    // 16 bytes by schema 6, and its index over every id gave way to narrower ones).
    let accounts = store.load_many(&agents).await.unwrap();
    for (agent, stored) in agents.iter().zip(&accounts) {
        for entry in &stored.entries {
            assert_eq!(
                store.find(entry.id).await.unwrap().as_ref(),
                Some(agent),
                "the {} entry {} is found in its account",
                entry.op.kind(),
                entry.id
            );
        }
    }

    // Ingest marks, as the 0.1.0 runs left them.
    for whole in ["day1.csv", "late.csv"] {
        assert_eq!(
            store
                .ingest_mark(&hash_of(whole), day("2026-03-01"))
                .await
                .unwrap(),
            Some(IngestMark::Whole),
            "{whole} was taken whole"
        );
    }
    let partial = hash_of("days2to4.csv");
    for (as_of, seen) in [
        ("2026-03-01", None),
        ("2026-03-02", Some("2026-03-02")),
        ("2026-03-03", Some("2026-03-03")),
        ("2026-03-04", Some("2026-03-03")),
    ] {
        assert_eq!(
            store.ingest_mark(&partial, day(as_of)).await.unwrap(),
            seen.map(|d| IngestMark::Through(day(d))),
            "days2to4.csv as seen on {as_of}"
        );
    }

    // The hold index: one open hold, leased to a new run (the 0.1.0 leases have lapsed on the
    // store's clock); a committed one never.
    let open = store.holds(Some(HoldState::Open)).await.unwrap();
    let open_txn = TxnId::from_str(expected.open_hold).unwrap();
    assert_eq!(
        open.iter().map(|h| h.txn).collect::<Vec<_>>(),
        [open_txn],
        "the open hold is listed"
    );
    let now = later();
    assert!(
        store
            .lease(open_txn, "run-after-upgrade", Duration::from_secs(60))
            .await
            .unwrap(),
        "an unresolved hold of 0.1.0 can be leased"
    );
    let committed = TxnId::from_str(expected.committed_hold).unwrap();
    assert!(
        !store
            .lease(committed, "run-after-upgrade", Duration::from_secs(60))
            .await
            .unwrap(),
        "a committed hold of 0.1.0 is never leased"
    );

    // New marks go on as before.
    store
        .record_ingest(&partial, "exports/days2to4.csv", IngestMark::Whole, now)
        .await
        .unwrap();
    assert_eq!(
        store
            .ingest_mark(&partial, day("2026-03-04"))
            .await
            .unwrap(),
        Some(IngestMark::Whole)
    );
}

#[tokio::test]
async fn a_sqlite_file_of_0_1_0_opens_converted_and_complete() {
    let dir = std::env::temp_dir().join(format!("kudos-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kudos-v1.db");
    std::fs::copy(fixture("sqlite.db"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    let expected = Expected {
        entries: 25,
        open_hold: "01a239bd-5aaa-723c-abfd-a6b76a929040",
        committed_hold: "01a239bd-439c-7592-80ad-74e3be5c6000",
    };
    let store = kudos_store::open(&url, 2).await.unwrap();
    the_ledger_of_0_1_0_reads_back(store.as_ref(), &expected).await;
    drop(store);
    // Opening again converts nothing twice.
    let store = kudos_store::open(&url, 2).await.unwrap();
    assert_eq!(
        store
            .ingest_mark(&hash_of("days2to4.csv"), day("2026-03-04"))
            .await
            .unwrap(),
        Some(IngestMark::Whole)
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_postgres_schema_of_0_1_0_opens_converted_and_complete() {
    let Some(url) = super::postgres() else { return };
    use sqlx::Connection as _;
    let schema = format!("kudos_upgrade_{}", std::process::id());
    let dump = std::fs::read_to_string(fixture("postgres.sql")).unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let load = format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema};\n{dump}"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(load))
        .execute(&mut conn)
        .await
        .unwrap();
    let options = kudos_store_postgres::PostgresOptions::default()
        .max_connections(2)
        .schema(schema.clone())
        .migrate(true);
    let store = kudos_store_postgres::PostgresStore::open_with(&url, &options)
        .await
        .unwrap();
    let expected = Expected {
        entries: 22,
        open_hold: "01a239bd-5bc6-7174-a4c4-e8256c4d86ea",
        committed_hold: "01a239bd-44ea-7619-b54e-8caad36f411d",
    };
    the_ledger_of_0_1_0_reads_back(&store, &expected).await;
    drop(store);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}
