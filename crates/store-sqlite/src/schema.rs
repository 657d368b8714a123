//! The schema: numbered migrations applied in order when a store opens, and the conversion
//! of rows an earlier release wrote.

use kudos_ledger::{HoldState, LedgerError, LegacyIngestKey};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::store_err;

/// The schema, as numbered migrations applied in order at open; never edited once released.
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
    // the hold index's `unresolved` flag that leases filter on. Rows of version 1 are
    // converted by `convert_version_1_rows` in the same transaction.
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
    ALTER TABLE holds ADD COLUMN unresolved INTEGER NOT NULL DEFAULT 0;",
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
];

/// Applies the migrations the file has not had yet, in one write transaction.
pub(crate) async fn migrate(pool: &SqlitePool) -> Result<(), LedgerError> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_err("migrate"))?;
    sqlx::query("CREATE TABLE IF NOT EXISTS kudos_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(store_err("migrate"))?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM kudos_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(store_err("migrate"))?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(store_err("migrate"))?;
        if *version == 2 {
            convert_version_1_rows(&mut tx).await?;
        }
        sqlx::query("INSERT INTO kudos_schema (version, applied_at) VALUES (?, datetime('now'))")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(store_err("migrate"))?;
    }
    tx.commit().await.map_err(store_err("migrate"))
}

/// Converts what release 0.1.0 wrote: its ingest keys (`<sha256>`, `<sha256>@<day>`,
/// `<sha256>@partial`) become typed marks in `ingest_log` (a key that is none of these stays
/// in the old table, untouched), and every hold index row gets the `unresolved` flag the
/// ledger computes for its state.
async fn convert_version_1_rows(tx: &mut Transaction<'static, Sqlite>) -> Result<(), LedgerError> {
    let err = || store_err("convert the ledger of release 0.1.0");
    let rows = sqlx::query("SELECT hash, name, at FROM ingested")
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
                "INSERT INTO ingest_log (hash, through, whole, name, at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (hash, through) DO NOTHING",
            )
            .bind(hash.as_str())
            .bind(through)
            .bind(whole)
            .bind(row.get::<String, _>(1))
            .bind(row.get::<String, _>(2))
            .execute(&mut **tx)
            .await
            .map_err(err())?;
        }
        sqlx::query("DELETE FROM ingested WHERE hash = ?")
            .bind(&key)
            .execute(&mut **tx)
            .await
            .map_err(err())?;
    }
    for state in HoldState::ALL {
        sqlx::query("UPDATE holds SET unresolved = ? WHERE state = ?")
            .bind(state.is_unresolved())
            .bind(state.name())
            .execute(&mut **tx)
            .await
            .map_err(err())?;
    }
    Ok(())
}
