//! The run's ingest log on PostgreSQL: one row per file and mark, `(hash, through)` the key —
//! `through` is the day a file was taken through (ISO 8601, compared bytewise), or empty for a
//! file taken whole.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::Day;
use kudos_ledger::{ContentHash, IngestLog, IngestMark, LedgerError, StoredMark};

use crate::{PostgresStore, store_err};

#[async_trait]
impl IngestLog for PostgresStore {
    async fn ingest_mark(
        &self,
        hash: &ContentHash,
        as_of: Day,
    ) -> Result<Option<IngestMark>, LedgerError> {
        let row: Option<(bool, String)> = sqlx::query_as(
            "SELECT whole, through FROM kudos_ingest_log
             WHERE hash = $1 AND (whole OR through COLLATE \"C\" <= $2)
             ORDER BY whole DESC, through COLLATE \"C\" DESC LIMIT 1",
        )
        .bind(hash.as_str())
        .bind(as_of.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("ingest_mark"))?;
        row.map(|(whole, through)| StoredMark { through, whole }.mark())
            .transpose()
            .map_err(|reason| LedgerError::Store {
                message: format!("postgres: {reason}"),
                source: None,
            })
    }

    async fn record_ingest(
        &self,
        hash: &ContentHash,
        name: &str,
        mark: IngestMark,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let StoredMark { through, whole } = StoredMark::from(mark);
        sqlx::query(
            "INSERT INTO kudos_ingest_log (hash, through, whole, name, at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash, through) DO NOTHING",
        )
        .bind(hash.as_str())
        .bind(through)
        .bind(whole)
        .bind(name)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(store_err("record_ingest"))?;
        Ok(())
    }
}
