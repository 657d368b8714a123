//! The audit anchors on SQLite: a row per run that only moves forward.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_ledger::{AuditAnchor, AuditAnchors, LedgerError};
use uuid::Uuid;

use crate::{SqliteStore, store_err, ts};

type Row = (String, String, Option<String>, i64, String, String);

fn anchor_of((trail, run_id, key_id, records, head, at): Row) -> Result<AuditAnchor, LedgerError> {
    let bad = |what: &str| LedgerError::Store {
        message: format!("sqlite: an audit anchor has a bad {what}"),
        source: None,
    };
    Ok(AuditAnchor {
        trail,
        run_id: Uuid::parse_str(&run_id).map_err(|_| bad("run id"))?,
        key_id,
        records: u64::try_from(records).map_err(|_| bad("record count"))?,
        head,
        at: DateTime::parse_from_rfc3339(&at)
            .map_err(|_| bad("time"))?
            .with_timezone(&Utc),
    })
}

const COLUMNS: &str = "trail, run_id, key_id, records, head, at";

#[async_trait]
impl AuditAnchors for SqliteStore {
    async fn anchor(&self, anchor: &AuditAnchor) -> Result<(), LedgerError> {
        let records = i64::try_from(anchor.records).map_err(|_| LedgerError::Store {
            message: "sqlite: an audit anchor's record count is out of range".into(),
            source: None,
        })?;
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO audit_anchors (trail, run_id, key_id, records, head, at, first, moved)
             VALUES (?, ?, ?, ?, ?, ?,
                     (SELECT COALESCE(MAX(first), 0) + 1 FROM audit_anchors),
                     (SELECT COALESCE(MAX(moved), 0) + 1 FROM audit_anchors))
             ON CONFLICT (trail, run_id) DO UPDATE SET
                 key_id = excluded.key_id, records = excluded.records, head = excluded.head,
                 at = excluded.at, moved = excluded.moved
             WHERE excluded.records > audit_anchors.records",
        )
        .bind(&anchor.trail)
        .bind(anchor.run_id.to_string())
        .bind(anchor.key_id.as_deref())
        .bind(records)
        .bind(&anchor.head)
        .bind(ts(anchor.at))
        .execute(&self.pool)
        .await
        .map_err(store_err("anchor"))?;
        Ok(())
    }

    async fn anchors(&self, trail: &str) -> Result<Vec<AuditAnchor>, LedgerError> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_anchors WHERE trail = ? ORDER BY first"
        )))
        .bind(trail)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("anchors"))?;
        rows.into_iter().map(anchor_of).collect()
    }

    async fn latest_anchor(&self, trail: &str) -> Result<Option<AuditAnchor>, LedgerError> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_anchors WHERE trail = ? ORDER BY moved DESC LIMIT 1"
        )))
        .bind(trail)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("latest_anchor"))?;
        row.map(anchor_of).transpose()
    }

    async fn trails(&self) -> Result<Vec<String>, LedgerError> {
        sqlx::query_scalar("SELECT DISTINCT trail FROM audit_anchors ORDER BY trail")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("trails"))
    }
}
