//! The run's ingest log on PostgreSQL: one row per file and mark, `(hash, through)` the key —
//! `through` is the day a file was taken through (ISO 8601, compared bytewise), or empty for a
//! file taken whole.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::Day;
use kudos_ledger::{ContentHash, IngestLog, IngestMark, LedgerError};

use crate::{PostgresStore, store_err};

/// A mark as its `through` and `whole` columns (`through` is empty for a whole file).
pub(crate) fn columns(mark: IngestMark) -> MarkColumns {
    match mark {
        IngestMark::Whole => MarkColumns {
            through: String::new(),
            whole: true,
        },
        IngestMark::Through(day) => MarkColumns {
            through: day.to_string(),
            whole: false,
        },
    }
}

/// A mark's two columns.
pub(crate) struct MarkColumns {
    /// The day it was taken through, or empty for a whole file.
    pub(crate) through: String,
    /// Whether it was taken whole.
    pub(crate) whole: bool,
}

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
        match row {
            None => Ok(None),
            Some((true, _)) => Ok(Some(IngestMark::Whole)),
            Some((false, through)) => Day::parse(&through)
                .map(|day| Some(IngestMark::Through(day)))
                .map_err(|e| LedgerError::store("postgres: a stored ingest day is invalid", e)),
        }
    }

    async fn record_ingest(
        &self,
        hash: &ContentHash,
        name: &str,
        mark: IngestMark,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let MarkColumns { through, whole } = columns(mark);
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
