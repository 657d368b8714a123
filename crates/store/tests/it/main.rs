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

/// The PostgreSQL server, or `None` (after saying so) when `KUDOS_TEST_POSTGRES_URL` is not
/// set; CI sets `KUDOS_REQUIRE_SERVICES`, and then a missing server fails the test.
fn postgres() -> Option<String> {
    match std::env::var("KUDOS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("KUDOS_REQUIRE_SERVICES").is_some() => {
            panic!("KUDOS_REQUIRE_SERVICES is set and KUDOS_TEST_POSTGRES_URL is not")
        }
        _ => {
            eprintln!("KUDOS_TEST_POSTGRES_URL is not set: the PostgreSQL case did not run");
            None
        }
    }
}

#[tokio::test]
async fn postgres_urls_open_a_postgres_store_once_migrated() {
    use sqlx::Connection as _;
    let Some(server) = postgres() else { return };
    let schema = format!("kudos_store_open_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let sep = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
    let Err(e) = kudos_store::open(&url, 2).await else {
        panic!("an unmigrated PostgreSQL schema opened")
    };
    assert!(e.to_string().contains("kudos migrate"), "{e}");
    let done = kudos_store::migrate(&url).await.unwrap();
    assert_eq!(done.from, 0);
    assert_eq!(
        done.to,
        *kudos_store_postgres::MIGRATIONS
            .iter()
            .map(|(v, _)| v)
            .max()
            .unwrap()
    );
    an_adjustment_round_trips(&url).await;
    // `[store] migrate = true`: opening migrates (here: finds nothing to do).
    kudos_store::open_with(&url, kudos_store::StoreOptions::new(2).migrate(true))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_sqlite_file_needs_no_extra_step_and_migrate_reports_its_version() {
    let dir = std::env::temp_dir().join(format!("kudos-store-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("kudos.db").display());
    let latest = *kudos_store_sqlite::MIGRATIONS
        .iter()
        .map(|(v, _)| v)
        .max()
        .unwrap();
    let done = kudos_store::migrate(&url).await.unwrap();
    assert_eq!((done.from, done.to), (0, latest));
    let again = kudos_store::migrate(&url).await.unwrap();
    assert_eq!((again.from, again.to), (latest, latest));
    // A file a newer release migrated is refused, not written.
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO kudos_migrations (version, description, success, checksum, execution_time)
             VALUES (99, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let Err(e) = kudos_store::open(&url, 2).await else {
        panic!("a newer schema opened")
    };
    assert!(
        e.to_string().contains("version 99") && e.to_string().contains("newer release"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
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
