//! `kudos_store::open` against real stores: a SQLite file, PostgreSQL (when
//! `KUDOS_TEST_POSTGRES_URL` is set), memory, and a scheme it does not know.

#![allow(
    clippy::print_stderr,
    reason = "a test that cannot run without PostgreSQL says so"
)]

mod upgrade;

use kudos_core::{AgentId, Day, ManualClock, Points};
use kudos_ledger::{Command, Ledger, LedgerError};

async fn an_adjustment_round_trips(url: &str) {
    let store = kudos_store::open(url, 2).await.expect("the store opens");
    let clock = std::sync::Arc::new(ManualClock::at_rfc3339("2026-10-05T06:00:00Z").unwrap());
    let ledger = Ledger::new(store.clone(), clock);
    let agent = AgentId::new(format!("store-open-{}", uuid::Uuid::now_v7())).unwrap();
    let day = Day::parse("2026-10-01").unwrap();
    ledger
        .execute(
            &agent,
            Command::Adjust {
                id: uuid::Uuid::now_v7(),
                day,
                points: Points::new(40),
                expires: day.add_days(90).unwrap(),
                reason: "welcome".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ledger.account(&agent).await.unwrap().balance(day).available,
        Points::new(40)
    );
    kudos_ledger::testkit::conformance(store.as_ref()).await;
}

#[tokio::test]
async fn sqlite_urls_open_a_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("kudos-store-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kudos.db");
    an_adjustment_round_trips(&format!("sqlite://{}", path.display())).await;
    assert!(path.exists(), "the URL's file was created");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn memory_urls_open_a_memory_store() {
    an_adjustment_round_trips("memory://").await;
}

#[tokio::test]
async fn postgres_urls_open_a_postgres_store() {
    let Ok(url) = std::env::var("KUDOS_TEST_POSTGRES_URL") else {
        eprintln!("KUDOS_TEST_POSTGRES_URL is not set: the PostgreSQL case did not run");
        return;
    };
    an_adjustment_round_trips(&url).await;
}

#[tokio::test]
async fn an_unknown_scheme_is_named_and_the_url_is_not_echoed() {
    let Err(e) = kudos_store::open("mysql://kudos:s3cret@db/kudos", 2).await else {
        panic!("a mysql:// URL must not open");
    };
    let LedgerError::Store { message, .. } = &e else {
        panic!("a store error, not {e:?}");
    };
    assert!(message.contains("\"mysql\""), "{message}");
    assert!(
        message.contains("sqlite://") && message.contains("postgres://"),
        "{message}"
    );
    assert!(!e.to_string().contains("s3cret") && !message.contains("s3cret"));
}

#[test]
fn a_url_shown_in_a_message_never_carries_its_password() {
    let cases = [
        (
            "postgres://kudos:s3cret@db:5432/kudos",
            "postgres://kudos:***@db:5432/kudos",
        ),
        (
            "postgresql://kudos:s3c#r?et@db/kudos?sslmode=require",
            "postgresql://kudos:***@db/kudos?sslmode=require",
        ),
        (
            "postgres://db/kudos?user=kudos&password=s3cret&sslmode=require",
            "postgres://db/kudos?user=kudos&password=***&sslmode=require",
        ),
        ("postgres://kudos@db/kudos", "postgres://kudos@db/kudos"),
        ("sqlite://kudos.db", "sqlite://kudos.db"),
        ("memory://", "memory://"),
        ("not a url", "not a url"),
    ];
    for (url, shown) in cases {
        assert_eq!(kudos_store::redacted(url), shown, "{url}");
    }
}
