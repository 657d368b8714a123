//! The audit anchors on PostgreSQL: a row per run that only moves forward, ordered by a
//! counter row (`kudos_counters`; a table, so the service's role needs no sequence grant).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_ledger::{AuditAnchor, AuditAnchors, LedgerError};
use uuid::Uuid;

use crate::{PostgresStore, store_err};

type Row = (String, Uuid, Option<String>, i64, String, DateTime<Utc>);

fn anchor_of((trail, run_id, key_id, records, head, at): Row) -> Result<AuditAnchor, LedgerError> {
    Ok(AuditAnchor {
        trail,
        run_id,
        key_id,
        records: u64::try_from(records).map_err(|_| LedgerError::Store {
            message: "postgres: an audit anchor has a bad record count".into(),
            source: None,
        })?,
        head,
        at,
    })
}

#[async_trait]
impl AuditAnchors for PostgresStore {
    async fn anchor(&self, anchor: &AuditAnchor) -> Result<(), LedgerError> {
        let records = i64::try_from(anchor.records).map_err(|_| LedgerError::Store {
            message: "postgres: an audit anchor's record count is out of range".into(),
            source: None,
        })?;
        // One statement: the counter row moves (its lock orders concurrent anchors), and the
        // anchor is written or moved forward with the new order. Retried on a serialization
        // failure or deadlock, as every transaction of this store is.
        let mut attempt = 0;
        loop {
            let result = sqlx::query(
                "WITH n AS (
                     UPDATE kudos_counters SET value = value + 1
                     WHERE name = 'audit_anchor_order' RETURNING value
                 )
                 INSERT INTO kudos_audit_anchors (trail, run_id, key_id, records, head, at, first, moved)
                 SELECT $1, $2, $3, $4, $5, $6, n.value, n.value FROM n
                 ON CONFLICT (trail, run_id) DO UPDATE SET
                     key_id = excluded.key_id, records = excluded.records, head = excluded.head,
                     at = excluded.at, moved = excluded.moved
                 WHERE excluded.records > kudos_audit_anchors.records",
            )
            .bind(&anchor.trail)
            .bind(anchor.run_id)
            .bind(anchor.key_id.as_deref())
            .bind(records)
            .bind(&anchor.head)
            .bind(anchor.at)
            .execute(&self.pool)
            .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) if crate::retryable(&e) && attempt < crate::MAX_TRANSACTION_RETRIES => {
                    attempt += 1;
                    self.retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(e) => return Err(store_err("anchor")(e)),
            }
        }
    }

    async fn anchors(&self, trail: &str) -> Result<Vec<AuditAnchor>, LedgerError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT trail, run_id, key_id, records, head, at FROM kudos_audit_anchors
             WHERE trail = $1 ORDER BY first",
        )
        .bind(trail)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("anchors"))?;
        rows.into_iter().map(anchor_of).collect()
    }

    async fn latest_anchor(&self, trail: &str) -> Result<Option<AuditAnchor>, LedgerError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT trail, run_id, key_id, records, head, at FROM kudos_audit_anchors
             WHERE trail = $1 ORDER BY moved DESC LIMIT 1",
        )
        .bind(trail)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("latest_anchor"))?;
        row.map(anchor_of).transpose()
    }

    async fn trails(&self) -> Result<Vec<String>, LedgerError> {
        sqlx::query_scalar("SELECT DISTINCT trail FROM kudos_audit_anchors ORDER BY trail")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("trails"))
    }
}
