//! The schema: numbered migrations, applied by sqlx's migrator when a store opens, and the
//! conversion of rows an earlier release wrote.

use kudos_ledger::LedgerError;
use kudos_ledger::LegacyIngestKey;
use kudos_ledger::schema::{AppliedMigration, KnownMigration, Migrated, judge, version_of};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Row, SqlSafeStr as _, SqlitePool};

use crate::store_err;

/// The schema, as numbered migrations applied in order; never edited once released (each is
/// recorded with its checksum, and a changed one is refused).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE entries (
        agent TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (agent, seq)
    ) WITHOUT ROWID;
    CREATE INDEX entries_by_id ON entries (id);
    CREATE TABLE holds (
        txn TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        view TEXT NOT NULL,
        lease_owner TEXT,
        lease_until TEXT
    );
    CREATE INDEX holds_by_state ON holds (state, created_at, txn);
    CREATE TABLE ingested (
        hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        at TEXT NOT NULL
    );",
    ),
    // 2: the run's ingest log with a typed mark per file (taken whole, or through a day), and
    // the hold index's `unresolved` flag that leases filter on (set for the unresolved holds
    // of version 1). Ingest keys of version 1 are converted by `convert_legacy_ingest_keys`.
    (
        2,
        "CREATE TABLE ingest_log (
        hash TEXT NOT NULL,
        through TEXT NOT NULL,
        whole INTEGER NOT NULL,
        name TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (hash, through)
    ) WITHOUT ROWID;
    ALTER TABLE holds ADD COLUMN unresolved INTEGER NOT NULL DEFAULT 0;
    UPDATE holds SET unresolved = 1 WHERE state IN ('open', 'in_doubt', 'review');",
    ),
    // 3: reversals are indexed (and leased) beside the holds, each row with its kind.
    // Reversals recorded before it stay in their accounts, unindexed (they were all final).
    (
        3,
        "ALTER TABLE holds ADD COLUMN kind TEXT NOT NULL DEFAULT 'hold';
    DROP INDEX holds_by_state;
    CREATE INDEX holds_by_kind_state ON holds (kind, state, created_at, txn);",
    ),
    // 4: the audit trail's anchors, a row per trail and run: how far its chain reached (`first` is the
    // order a run was first anchored, `moved` the order it last moved).
    (
        4,
        "CREATE TABLE audit_anchors (
        trail TEXT NOT NULL,
        run_id TEXT NOT NULL,
        key_id TEXT,
        records INTEGER NOT NULL,
        head TEXT NOT NULL,
        at TEXT NOT NULL,
        first INTEGER NOT NULL,
        moved INTEGER NOT NULL,
        PRIMARY KEY (trail, run_id)
    );
    CREATE INDEX audit_anchors_by_moved ON audit_anchors (trail, moved);
    CREATE INDEX audit_anchors_first ON audit_anchors (first);
    CREATE INDEX audit_anchors_moved ON audit_anchors (moved);",
    ),
    // 5: the programme's controls: budget claims (one per hold, its JSON view) and the points
    // each budget bucket counts, the rewards waiting on a budget, and named switches (the
    // pause), and named locks (the budget's, around a batch of holds).
    (
        5,
        "CREATE TABLE budget_claims (
        txn TEXT PRIMARY KEY,
        day TEXT NOT NULL,
        returned INTEGER NOT NULL,
        view TEXT NOT NULL
    );
    CREATE INDEX budget_claims_by_day ON budget_claims (day);
    CREATE TABLE budget_spent (
        bucket TEXT PRIMARY KEY,
        points INTEGER NOT NULL
    );
    CREATE TABLE waiting (
        agent TEXT PRIMARY KEY,
        since TEXT NOT NULL,
        view TEXT NOT NULL
    );
    CREATE TABLE controls (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until TEXT NOT NULL
    );",
    ),
    // 6: entries in append order, and narrow indexes (issue 20). Entries were kept in a table
    // clustered by (agent, seq), with an index over every id (36 characters of text; an
    // accrual's id is a random UUID v5): every batch wrote its rows and ids at random places in
    // two structures that outgrew SQLite's page cache, a page per entry each, and a run's
    // writes grew faster than its agents. Now rows go to the end of a rowid table (bodies
    // written once, in order), ids are 16 bytes, and the only index every entry goes into is
    // (agent, seq). `find` answers holds and reversals from the hold index, adjustments from
    // `entry_ids`, and any other id by a scan of the entries (see `LedgerStore::find`).
    (
        6,
        "CREATE TABLE entries_compact (
        agent TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id BLOB NOT NULL,
        body TEXT NOT NULL
    );
    INSERT INTO entries_compact (agent, seq, id, body)
        SELECT agent, seq, unhex(replace(id, '-', '')), body FROM entries ORDER BY agent, seq;
    DROP TABLE entries;
    ALTER TABLE entries_compact RENAME TO entries;
    CREATE UNIQUE INDEX entries_by_agent ON entries (agent, seq);
    CREATE TABLE entry_ids (
        id BLOB PRIMARY KEY,
        agent TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO entry_ids (id, agent)
        SELECT id, agent FROM entries WHERE json_extract(body, '$.op.kind') = 'adjustment'
        ORDER BY agent, seq;",
    ),
];

/// The table sqlx's migrator records applied migrations in (sqlx's shape, Kudos' own name so
/// that it never meets a host service's `_sqlx_migrations`).
pub const MIGRATIONS_TABLE: &str = "kudos_migrations";

/// What each migration does, as the migrations table records it.
fn describe(version: i64) -> &'static str {
    match version {
        1 => "entries, holds, ingested",
        2 => "ingest log, unresolved holds",
        3 => "reversals beside holds",
        4 => "audit anchors",
        5 => "budgets, waiting rewards, switches",
        6 => "entries in append order, compact ids, adjustments' ids",
        _ => "migration",
    }
}

/// The migrations as sqlx's [`Migrator`] runs them (each in its own transaction, recorded with
/// its checksum in [`MIGRATIONS_TABLE`]).
fn migrator() -> Migrator {
    migrator_through(i64::MAX)
}

/// The migrations up to `last` (a file as an earlier release left it, in tests).
fn migrator_through(last: i64) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .filter(|(version, _)| *version <= last)
        .map(|(version, sql)| {
            Migration::new(
                *version,
                describe(*version).into(),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// The migrations this release carries, with their checksums.
fn known() -> Vec<KnownMigration> {
    migrator()
        .iter()
        .map(|m| KnownMigration {
            version: m.version,
            checksum: m.checksum.to_vec(),
        })
        .collect()
}

/// The rows of the migrations table, none when it does not exist yet.
async fn applied(pool: &SqlitePool) -> Result<Vec<AppliedMigration>, LedgerError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_one(pool)
    .await
    .map_err(store_err("read the schema version"))?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Vec<u8>, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, checksum, success FROM {MIGRATIONS_TABLE} ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .map_err(store_err("read the schema version"))?;
    Ok(rows
        .into_iter()
        .map(|(version, checksum, success)| AppliedMigration {
            version,
            checksum,
            success,
        })
        .collect())
}

/// The version the numbered migrations of releases before the migrator recorded in
/// `kudos_schema` (0 when there is no such table).
async fn legacy_version(pool: &SqlitePool) -> Result<i64, LedgerError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kudos_schema')",
    )
    .fetch_one(pool)
    .await
    .map_err(store_err("read the schema version"))?;
    if !exists {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM kudos_schema")
        .fetch_one(pool)
        .await
        .map_err(store_err("read the schema version"))
}

/// Applies the migrations the file has not had yet, through sqlx's migrator, after adopting
/// the versions an earlier release recorded in `kudos_schema` (marked applied, not run
/// again), then converts any ingest keys release 0.1.0 left. Refuses a file a newer release
/// migrated.
///
/// SQLite has no lock for sqlx's migrator to take: two processes migrating one new file at
/// once make one of them fail a migration (rolled back whole), and it tries again and finds
/// the work done.
pub(crate) async fn migrate(pool: &SqlitePool) -> Result<Migrated, LedgerError> {
    // A newer release's schema: refuse at once, before touching it (`judge` words it).
    let known = known();
    let latest = known.iter().map(|k| k.version).max().unwrap_or(0);
    let before = applied(pool).await?;
    if before.iter().any(|m| m.version > latest) {
        judge("sqlite", &known, &before).map_err(schema_err)?;
    }
    let mut last = None;
    for attempt in 0..5u64 {
        match migrate_once(pool).await {
            Ok(done) => return Ok(done),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20 * (attempt + 1))).await;
    }
    Err(last.unwrap_or_else(|| store_err("migrate")(sqlx::Error::PoolClosed)))
}

async fn migrate_once(pool: &SqlitePool) -> Result<Migrated, LedgerError> {
    let before = applied(pool).await?;
    let known = known();
    let latest = known.iter().map(|k| k.version).max().unwrap_or(0);
    let migrator = migrator();
    let legacy = legacy_version(pool).await?;
    if legacy > 0 {
        migrator
            .skip(pool, Some(legacy.min(latest)))
            .await
            .map_err(migrate_err)?;
    }
    migrator.run(pool).await.map_err(migrate_err)?;
    convert_legacy_ingest_keys(pool).await?;
    let after = applied(pool).await?;
    judge("sqlite", &known, &after).map_err(schema_err)?;
    Ok(Migrated::new(
        version_of(&before).max(legacy),
        version_of(&after),
    ))
}

fn schema_err(message: String) -> LedgerError {
    LedgerError::Store {
        message,
        source: None,
    }
}

fn migrate_err(e: sqlx::migrate::MigrateError) -> LedgerError {
    LedgerError::store("sqlite: migrate the ledger's schema", e)
}

/// Converts the ingest keys release 0.1.0 wrote (`<sha256>`, `<sha256>@<day>`,
/// `<sha256>@partial`) into typed marks in `ingest_log`, in one transaction; a key that is none
/// of these stays in the old table, untouched. Idempotent, and run after every migration, so
/// that a process stopped between migration 2 and the conversion loses no mark.
async fn convert_legacy_ingest_keys(pool: &SqlitePool) -> Result<(), LedgerError> {
    let err = || store_err("convert the ledger of release 0.1.0");
    // Nothing to convert (every ledger but one of 0.1.0): no write lock taken.
    let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ingested)")
        .fetch_one(pool)
        .await
        .map_err(err())?;
    if !pending {
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(err())?;
    let rows = sqlx::query("SELECT hash, name, at FROM ingested")
        .fetch_all(&mut *tx)
        .await
        .map_err(err())?;
    for row in rows {
        let key: String = row.get(0);
        let Ok(legacy) = LegacyIngestKey::parse(&key) else {
            continue;
        };
        if let Some(mark) = legacy.mark() {
            let hash = legacy.hash();
            let kudos_ledger::StoredMark { through, whole } = kudos_ledger::StoredMark::from(mark);
            sqlx::query(
                "INSERT INTO ingest_log (hash, through, whole, name, at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (hash, through) DO NOTHING",
            )
            .bind(hash.as_str())
            .bind(through)
            .bind(whole)
            .bind(row.get::<String, _>(1))
            .bind(row.get::<String, _>(2))
            .execute(&mut *tx)
            .await
            .map_err(err())?;
        }
        sqlx::query("DELETE FROM ingested WHERE hash = ?")
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(err())?;
    }
    tx.commit().await.map_err(err())
}

#[cfg(test)]
mod tests {
    use kudos_core::AgentId;
    use kudos_ledger::LedgerStore as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use uuid::Uuid;

    use super::migrator_through;
    use crate::SqliteStore;

    /// A file of schema 5 (ids as text, indexed) opens at schema 6 with every id converted to
    /// 16 bytes and found again: an adjustment's through its new table, an accrual's by the
    /// scan, a hold's through the hold index.
    #[tokio::test]
    async fn schema_5_ids_are_converted_and_found() {
        let dir = std::env::temp_dir().join(format!("kudos-schema6-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v5.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .unwrap();
        migrator_through(5).run(&pool).await.unwrap();
        let adjustment = Uuid::now_v7();
        let accrual = Uuid::new_v5(&Uuid::NAMESPACE_OID, b"an accrual");
        let hold = Uuid::now_v7();
        for (agent, seq, id, kind) in [
            ("agent-a", 0, accrual, "accrual"),
            ("agent-a", 1, hold, "hold"),
            ("agent-b", 0, adjustment, "adjustment"),
        ] {
            sqlx::query("INSERT INTO entries (agent, seq, id, body) VALUES (?, ?, ?, ?)")
                .bind(agent)
                .bind(seq)
                .bind(id.to_string())
                .bind(format!(r#"{{"id":"{id}","op":{{"kind":"{kind}"}}}}"#))
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO holds (txn, agent, kind, state, unresolved, created_at, view)
             VALUES (?, 'agent-a', 'hold', 'open', 1, '2026-10-01T00:00:00Z', '{}')",
        )
        .bind(hold.to_string())
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let agent = |a: &str| Some(AgentId::new(a).unwrap());
        assert_eq!(store.find(adjustment).await.unwrap(), agent("agent-b"));
        assert_eq!(store.find(accrual).await.unwrap(), agent("agent-a"));
        assert_eq!(store.find(hold).await.unwrap(), agent("agent-a"));
        assert_eq!(store.find(Uuid::now_v7()).await.unwrap(), None);
        let (ids, width): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), MAX(length(id)) FROM entries WHERE typeof(id) = 'blob'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!((ids, width), (3, 16), "every id is 16 bytes");
        let indexed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entry_ids")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(indexed, 1, "only the adjustment's id is indexed");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
