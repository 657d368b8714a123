//! The run's ingest log on SQLite: one row per file and mark, `(hash, through)` the key —
//! `through` is the day a file was taken through, or empty for a file taken whole.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::Day;
use kudos_ledger::{ContentHash, IngestLog, IngestMark, LedgerError, StoredMark};

use crate::{SqliteStore, store_err, ts};

#[async_trait]
impl IngestLog for SqliteStore {
    async fn ingest_mark(
        &self,
        hash: &ContentHash,
        as_of: Day,
    ) -> Result<Option<IngestMark>, LedgerError> {
        let row: Option<(bool, String)> = sqlx::query_as(
            "SELECT whole, through FROM ingest_log
             WHERE hash = ? AND (whole OR through <= ?)
             ORDER BY whole DESC, through DESC LIMIT 1",
        )
        .bind(hash.as_str())
        .bind(as_of.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("ingest_mark"))?;
        row.map(|(whole, through)| StoredMark { through, whole }.mark())
            .transpose()
            .map_err(|reason| LedgerError::Store {
                message: format!("sqlite: {reason}"),
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
            "INSERT INTO ingest_log (hash, through, whole, name, at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (hash, through) DO NOTHING",
        )
        .bind(hash.as_str())
        .bind(through)
        .bind(whole)
        .bind(name)
        .bind(ts(at))
        .execute(&self.pool)
        .await
        .map_err(store_err("record_ingest"))?;
        Ok(())
    }
}
