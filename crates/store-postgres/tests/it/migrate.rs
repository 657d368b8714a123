//! Migrations as an operator meets them: a store opens only a current schema, `migrate` makes
//! it current (and adopts the last release's), the service's role needs no DDL right, and a
//! schema a newer release wrote, or one edited by hand, is refused.

use chrono::{TimeZone as _, Utc};
use kudos_ledger::{AuditAnchor, AuditAnchors as _};
use kudos_store_postgres::{MIGRATIONS, MIGRATIONS_TABLE, PostgresOptions, PostgresStore};
use sqlx::Connection as _;

use super::{admin, schema, server};

fn options(schema: &str) -> PostgresOptions {
    PostgresOptions::default().max_connections(2).schema(schema)
}

fn latest() -> i64 {
    MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap()
}

async fn open_err(url: &str, options: &PostgresOptions) -> String {
    match PostgresStore::open_with(url, options).await {
        Ok(_) => panic!("the store opened"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_store_opens_only_a_current_schema_and_migrate_makes_it_current() {
    let Some(url) = server() else { return };
    let s = schema("migrate");
    admin(&url, &format!("CREATE SCHEMA {s}")).await;
    let e = open_err(&url, &options(&s)).await;
    assert!(
        e.contains("at version 0") && e.contains("kudos migrate"),
        "{e}"
    );

    let done = PostgresStore::migrate(&url, &options(&s)).await.unwrap();
    assert_eq!((done.from, done.to), (0, latest()));
    let again = PostgresStore::migrate(&url, &options(&s)).await.unwrap();
    assert_eq!(
        (again.from, again.to),
        (latest(), latest()),
        "nothing twice"
    );
    PostgresStore::open_with(&url, &options(&s)).await.unwrap();

    // A version the migrator did not record (a restore from before it, say): out of date.
    admin(
        &url,
        &format!(
            "DELETE FROM {s}.{MIGRATIONS_TABLE} WHERE version = {}",
            latest()
        ),
    )
    .await;
    let e = open_err(&url, &options(&s)).await;
    assert!(e.contains(&format!("needs version {}", latest())), "{e}");
    // Every migration is idempotent: applying it again puts things right.
    PostgresStore::migrate(&url, &options(&s)).await.unwrap();
    PostgresStore::open_with(&url, &options(&s)).await.unwrap();

    // A migration edited after it was applied is refused by name.
    admin(
        &url,
        &format!("UPDATE {s}.{MIGRATIONS_TABLE} SET checksum = '\\x00' WHERE version = 3"),
    )
    .await;
    let e = open_err(&url, &options(&s)).await;
    assert!(e.contains("migration 3") && e.contains("checksum"), "{e}");
    admin(&url, &format!("DROP SCHEMA {s} CASCADE")).await;
}

#[tokio::test]
async fn a_schema_a_newer_release_migrated_is_refused_and_left_alone() {
    let Some(url) = server() else { return };
    let s = schema("newer");
    PostgresStore::migrate(&url, &options(&s)).await.unwrap();
    admin(
        &url,
        &format!(
            "INSERT INTO {s}.{MIGRATIONS_TABLE} (version, description, success, checksum, execution_time)
             VALUES (99, 'from the future', TRUE, '\\x00', 0)"
        ),
    )
    .await;
    let e = open_err(&url, &options(&s)).await;
    assert!(
        e.contains("version 99") && e.contains("newer release"),
        "{e}"
    );
    let Err(e) = PostgresStore::migrate(&url, &options(&s)).await else {
        panic!("an older release migrated a newer schema")
    };
    assert!(e.to_string().contains("newer release"), "{e}");
    admin(&url, &format!("DROP SCHEMA {s} CASCADE")).await;
}

#[tokio::test]
async fn the_services_role_reads_and_writes_rows_and_changes_no_schema() {
    let Some(url) = server() else { return };
    let s = schema("role");
    let role = format!("{s}_app");
    PostgresStore::migrate(&url, &options(&s)).await.unwrap();
    // The grants the operator guide gives: rows on the migrated tables, usage of the schema.
    admin(
        &url,
        &format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA {s} TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {role};"
        ),
    )
    .await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let as_role = format!("{url}{sep}user={role}");

    let store = PostgresStore::open_with(&as_role, &options(&s))
        .await
        .unwrap();
    // Every port, through its conformance suite: accounts, holds, leases, ingest marks and
    // audit anchors (whose order no longer needs a sequence grant).
    kudos_ledger::testkit::conformance(&store).await;
    let mut conn = sqlx::PgConnection::connect(&as_role).await.unwrap();
    let who: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(who, role, "the test really runs as the service's role");

    // The role may not change the schema: migrating a new one as it fails, and says so.
    let fresh = schema("role_fresh");
    admin(
        &url,
        &format!("CREATE SCHEMA {fresh}; GRANT USAGE ON SCHEMA {fresh} TO {role};"),
    )
    .await;
    let Err(e) = PostgresStore::migrate(&as_role, &options(&fresh)).await else {
        panic!("a role without DDL rights migrated a schema")
    };
    assert!(e.to_string().contains("migrate"), "{e}");
    drop(store);
    drop(conn);
    admin(
        &url,
        &format!(
            "DROP SCHEMA {s} CASCADE; DROP SCHEMA {fresh} CASCADE;
             DROP OWNED BY {role}; DROP ROLE {role};"
        ),
    )
    .await;
}

#[tokio::test]
async fn the_last_releases_schema_is_adopted_with_its_anchors_in_order() {
    let Some(url) = server() else { return };
    let s = schema("adopt");
    // The schema as the release before the migrator left it: migrations 1 to 4 applied by
    // its own runner, recorded in `kudos_schema` (with its lock row 0), and two runs anchored
    // through its sequence.
    let mut setup = format!(
        "CREATE SCHEMA {s}; SET search_path TO {s};
         CREATE TABLE kudos_schema (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
         INSERT INTO kudos_schema (version) VALUES (0);"
    );
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 4) {
        setup.push_str(sql);
        setup.push_str(&format!(
            ";\nINSERT INTO kudos_schema (version) VALUES ({version});\n"
        ));
    }
    for (run, records) in [(1u128, 3), (2, 5)] {
        setup.push_str(&format!(
            "INSERT INTO kudos_audit_anchors (trail, run_id, key_id, records, head, at, first, moved)
             VALUES ('audit', '{}', NULL, {records}, 'h{run}', now(),
                     nextval('kudos_audit_anchor_order'), nextval('kudos_audit_anchor_order'));\n",
            uuid::Uuid::from_u128(run)
        ));
    }
    admin(&url, &setup).await;

    let e = open_err(&url, &options(&s)).await;
    assert!(
        e.contains("earlier release") && e.contains("kudos migrate"),
        "{e}"
    );
    let done = PostgresStore::migrate(&url, &options(&s)).await.unwrap();
    assert_eq!((done.from, done.to), (4, latest()));
    let store = PostgresStore::open_with(&url, &options(&s)).await.unwrap();
    let before = store.anchors("audit").await.unwrap();
    assert_eq!(before.len(), 2, "the anchors are kept");

    // A new run anchored after the upgrade comes after them, and is the latest.
    let third = AuditAnchor {
        trail: "audit".into(),
        run_id: uuid::Uuid::from_u128(3),
        key_id: None,
        records: 1,
        head: "h3".into(),
        at: Utc.with_ymd_and_hms(2026, 12, 3, 6, 0, 0).unwrap(),
    };
    store.anchor(&third).await.unwrap();
    let runs: Vec<u128> = store
        .anchors("audit")
        .await
        .unwrap()
        .iter()
        .map(|a| a.run_id.as_u128())
        .collect();
    assert_eq!(runs, [1, 2, 3]);
    assert_eq!(
        store.latest_anchor("audit").await.unwrap().unwrap().run_id,
        third.run_id
    );
    drop(store);
    admin(&url, &format!("DROP SCHEMA {s} CASCADE")).await;
}
