//! The schema: numbered migrations applied in order when a store opens (one opener at a
//! time), and the conversion of rows an earlier release wrote.

use kudos_ledger::{HoldState, LedgerError, LegacyIngestKey};
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::store_err;

/// The schema, as numbered migrations applied in order at open; never edited once released.
/// Every statement is idempotent, and openers take turns on a lock row, so concurrent first
/// opens are safe.
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
    // the hold index's `unresolved` flag that leases filter on. Rows of version 1 are
    // converted by `convert_version_1_rows` in the same transaction.
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
    ALTER TABLE kudos_holds ADD COLUMN IF NOT EXISTS unresolved BOOLEAN NOT NULL DEFAULT FALSE;",
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
];

/// Applies the migrations the database has not had yet, in one transaction, holding the lock
/// row of the schema table so that concurrent openers take turns.
pub(crate) async fn migrate_once(pool: &PgPool) -> Result<(), LedgerError> {
    let err = || store_err("migrate");
    let mut tx = pool.begin().await.map_err(err())?;
    sqlx::query("CREATE TABLE IF NOT EXISTS kudos_schema (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .execute(&mut *tx)
        .await
        .map_err(err())?;
    // Openers take turns on a lock row (version 0), with portable SQL only (no LOCK TABLE,
    // no advisory lock): the second waits here until the first commits, then sees its
    // migrations.
    sqlx::query("INSERT INTO kudos_schema (version) VALUES (0) ON CONFLICT DO NOTHING")
        .execute(&mut *tx)
        .await
        .map_err(err())?;
    sqlx::query("SELECT version FROM kudos_schema WHERE version = 0 FOR UPDATE")
        .execute(&mut *tx)
        .await
        .map_err(err())?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM kudos_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(err())?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(err())?;
        if *version == 2 {
            convert_version_1_rows(&mut tx).await?;
        }
        sqlx::query("INSERT INTO kudos_schema (version) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(err())?;
    }
    tx.commit().await.map_err(err())
}

/// Converts what release 0.1.0 wrote: its ingest keys (`<sha256>`, `<sha256>@<day>`,
/// `<sha256>@partial`) become typed marks in `kudos_ingest_log` (a key that is none of these
/// stays in the old table, untouched), and every hold index row gets the `unresolved` flag the
/// ledger computes for its state.
async fn convert_version_1_rows(
    tx: &mut Transaction<'static, Postgres>,
) -> Result<(), LedgerError> {
    let err = || store_err("convert the ledger of release 0.1.0");
    let rows = sqlx::query("SELECT hash, name, at FROM kudos_ingested")
        .fetch_all(&mut **tx)
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
            .execute(&mut **tx)
            .await
            .map_err(err())?;
        }
        sqlx::query("DELETE FROM kudos_ingested WHERE hash = $1")
            .bind(&key)
            .execute(&mut **tx)
            .await
            .map_err(err())?;
    }
    for state in HoldState::ALL {
        sqlx::query("UPDATE kudos_holds SET unresolved = $1 WHERE state = $2")
            .bind(state.is_unresolved())
            .bind(state.name())
            .execute(&mut **tx)
            .await
            .map_err(err())?;
    }
    Ok(())
}
