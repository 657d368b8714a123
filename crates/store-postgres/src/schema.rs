//! The schema: numbered migrations applied by sqlx's migrator (`kudos migrate`, or a store
//! opened with `migrate`), the check a store opened without it makes, and the conversion of
//! rows an earlier release wrote.

use kudos_ledger::schema::{AppliedMigration, KnownMigration, Migrated, judge, version_of};
use kudos_ledger::{LedgerError, LegacyIngestKey};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{PgPool, Row, SqlSafeStr as _};

use crate::store_err;

/// The schema, as numbered migrations applied in order; never edited once released (each is
/// recorded with its checksum, and a changed one is refused). Statements are idempotent
/// (`IF NOT EXISTS`), as releases before the migrator needed.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE IF NOT EXISTS kudos_accounts (
        agent TEXT PRIMARY KEY,
        version BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS kudos_entries (
        agent TEXT NOT NULL,
        seq BIGINT NOT NULL,
        id UUID NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (agent, seq)
    );
    CREATE INDEX IF NOT EXISTS kudos_entries_by_id ON kudos_entries (id);
    CREATE TABLE IF NOT EXISTS kudos_holds (
        txn UUID PRIMARY KEY,
        agent TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        view TEXT NOT NULL,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ
    );
    CREATE INDEX IF NOT EXISTS kudos_holds_by_state ON kudos_holds (state, created_at, txn);
    CREATE TABLE IF NOT EXISTS kudos_ingested (
        hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL
    );",
    ),
    // 2: the run's ingest log with a typed mark per file (taken whole, or through a day), and
    // the hold index's `unresolved` flag that leases filter on (set for the unresolved holds
    // of version 1). Ingest keys of version 1 are converted by `convert_legacy_ingest_keys`.
    (
        2,
        "CREATE TABLE IF NOT EXISTS kudos_ingest_log (
        hash TEXT NOT NULL,
        through TEXT NOT NULL,
        whole BOOLEAN NOT NULL,
        name TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (hash, through)
    );
    ALTER TABLE kudos_holds ADD COLUMN IF NOT EXISTS unresolved BOOLEAN NOT NULL DEFAULT FALSE;
    UPDATE kudos_holds SET unresolved = TRUE WHERE state IN ('open', 'in_doubt', 'review');",
    ),
    // 3: reversals are indexed (and leased) beside the holds, each row with its kind.
    // Reversals recorded before it stay in their accounts, unindexed (they were all final).
    (
        3,
        "ALTER TABLE kudos_holds ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT 'hold';
    DROP INDEX IF EXISTS kudos_holds_by_state;
    CREATE INDEX IF NOT EXISTS kudos_holds_by_kind_state ON kudos_holds (kind, state, created_at, txn);",
    ),
    // 4: the audit trail's anchors, a row per trail and run: how far its chain reached (`first` is the
    // order a run was first anchored, `moved` the order it last moved, both from a sequence).
    (
        4,
        "CREATE SEQUENCE IF NOT EXISTS kudos_audit_anchor_order;
    CREATE TABLE IF NOT EXISTS kudos_audit_anchors (
        trail TEXT NOT NULL,
        run_id UUID NOT NULL,
        key_id TEXT,
        records BIGINT NOT NULL,
        head TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        first BIGINT NOT NULL,
        moved BIGINT NOT NULL,
        PRIMARY KEY (trail, run_id)
    );
    CREATE INDEX IF NOT EXISTS kudos_audit_anchors_by_moved ON kudos_audit_anchors (trail, moved);",
    ),
    // 5: the anchors' order from a counter row instead of a sequence, so that the service's
    // role needs only SELECT, INSERT, UPDATE and DELETE on tables (a sequence needs its own
    // grant). The counter starts past every order already given.
    (
        5,
        "CREATE TABLE IF NOT EXISTS kudos_counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO kudos_counters (name, value)
    SELECT 'audit_anchor_order', COALESCE(GREATEST(MAX(first), MAX(moved)), 0)
    FROM kudos_audit_anchors
    ON CONFLICT (name) DO NOTHING;
    DROP SEQUENCE IF EXISTS kudos_audit_anchor_order;",
    ),
    // 6: the programme's controls: budget claims (one per hold, its JSON view, in the order
    // made) and the points each budget bucket counts, the rewards waiting on a budget, and
    // named switches (the pause), and named locks (the budget's, around a batch of holds).
    (
        6,
        "CREATE TABLE IF NOT EXISTS kudos_budget_claims (
        txn UUID PRIMARY KEY,
        day TEXT NOT NULL,
        returned BOOLEAN NOT NULL,
        view TEXT NOT NULL,
        made TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX IF NOT EXISTS kudos_budget_claims_by_day ON kudos_budget_claims (day, made);
    CREATE TABLE IF NOT EXISTS kudos_budget_spent (
        bucket TEXT PRIMARY KEY,
        points BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS kudos_waiting (
        agent TEXT PRIMARY KEY,
        since TEXT NOT NULL,
        view TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS kudos_controls (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS kudos_locks (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until TIMESTAMPTZ NOT NULL
    );",
    ),
];

/// The table sqlx's migrator records applied migrations in (sqlx's shape, Kudos' own name so
/// that it never meets a host service's `_sqlx_migrations` in a shared schema).
pub const MIGRATIONS_TABLE: &str = "kudos_migrations";

/// What each migration does, as the migrations table records it.
fn describe(version: i64) -> &'static str {
    match version {
        1 => "accounts, entries, holds, ingested",
        2 => "ingest log, unresolved holds",
        3 => "reversals beside holds",
        4 => "audit anchors",
        5 => "anchor order from a counter row",
        6 => "budgets, waiting rewards, switches",
        _ => "migration",
    }
}

/// The migrations as sqlx's [`Migrator`] runs them: each in its own transaction, recorded
/// with its checksum in [`MIGRATIONS_TABLE`], under sqlx's advisory lock on the database.
fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
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

/// Whether a table of this name is on the connection's search path.
async fn table_exists(pool: &PgPool, name: &str) -> Result<bool, LedgerError> {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(pool)
        .await
        .map_err(store_err("read the schema version"))
}

/// The rows of the migrations table, none when it does not exist.
async fn applied(pool: &PgPool) -> Result<Vec<AppliedMigration>, LedgerError> {
    if !table_exists(pool, MIGRATIONS_TABLE).await? {
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

/// The version releases before the migrator recorded in `kudos_schema` (0 when none).
async fn legacy_version(pool: &PgPool) -> Result<i64, LedgerError> {
    if !table_exists(pool, "kudos_schema").await? {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM kudos_schema")
        .fetch_one(pool)
        .await
        .map_err(store_err("read the schema version"))
}

/// Checks, without changing anything, that the schema is the one this release needs: what a
/// store opened without `migrate` does, so the service's role needs no DDL right. Converts
/// ingest keys release 0.1.0 left if a migration was stopped before it did (rows only).
pub(crate) async fn check(pool: &PgPool) -> Result<(), LedgerError> {
    let applied = applied(pool).await?;
    if applied.is_empty() && legacy_version(pool).await? > 0 {
        return Err(schema_err(format!(
            "postgres: the ledger's schema was made by an earlier release and is not yet under \
             the migrator: run {} once",
            kudos_ledger::schema::MIGRATE_COMMAND
        )));
    }
    judge("postgres", &known(), &applied).map_err(schema_err)?;
    convert_legacy_ingest_keys(pool).await
}

/// Applies the migrations the database has not had yet through sqlx's migrator (under its
/// lock), after adopting the versions an earlier release recorded in `kudos_schema` (marked
/// applied, not run again), then converts ingest keys release 0.1.0 left. Refuses a schema a
/// newer release migrated, before changing anything.
pub(crate) async fn migrate(pool: &PgPool) -> Result<Migrated, LedgerError> {
    let before = applied(pool).await?;
    let known = known();
    let latest = known.iter().map(|k| k.version).max().unwrap_or(0);
    if before.iter().any(|m| m.version > latest) {
        judge("postgres", &known, &before).map_err(schema_err)?;
    }
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
    judge("postgres", &known, &after).map_err(schema_err)?;
    Ok(Migrated::new(
        version_of(&before).max(legacy.min(latest)),
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
    LedgerError::store("postgres: migrate the ledger's schema", e)
}

/// Converts the ingest keys release 0.1.0 wrote (`<sha256>`, `<sha256>@<day>`,
/// `<sha256>@partial`) into typed marks in `kudos_ingest_log`, in one transaction; a key that
/// is none of these stays in the old table, untouched. Idempotent, and run after every
/// migration and open, so that a process stopped between migration 2 and the conversion loses
/// no mark. Rows only: the least-privileged role may run it.
async fn convert_legacy_ingest_keys(pool: &PgPool) -> Result<(), LedgerError> {
    let err = || store_err("convert the ledger of release 0.1.0");
    let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM kudos_ingested)")
        .fetch_one(pool)
        .await
        .map_err(err())?;
    if !pending {
        return Ok(());
    }
    let mut tx = pool.begin().await.map_err(err())?;
    let rows = sqlx::query("SELECT hash, name, at FROM kudos_ingested FOR UPDATE")
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
                "INSERT INTO kudos_ingest_log (hash, through, whole, name, at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash, through) DO NOTHING",
            )
            .bind(hash.as_str())
            .bind(through)
            .bind(whole)
            .bind(row.get::<String, _>(1))
            .bind(row.get::<chrono::DateTime<chrono::Utc>, _>(2))
            .execute(&mut *tx)
            .await
            .map_err(err())?;
        }
        sqlx::query("DELETE FROM kudos_ingested WHERE hash = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(err())?;
    }
    tx.commit().await.map_err(err())
}
