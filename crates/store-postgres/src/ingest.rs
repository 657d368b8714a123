//! The run's ingest log on PostgreSQL: one row per file and mark, `(hash, through)` the key —
//! `through` is the day a file was taken through (ISO 8601, compared bytewise), or empty for a
//! file taken whole.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::Day;
use kudos_ledger::{ContentHash, IngestLog, IngestMark, IngestRecord, LedgerError, StoredMark};

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

    async fn ingest_marks(
        &self,
        hashes: &[ContentHash],
        as_of: Day,
    ) -> Result<Vec<Option<IngestMark>>, LedgerError> {
        // One statement: one snapshot, so a batch of marks recorded at the same time is seen
        // whole or not at all.
        let wanted: Vec<&str> = hashes.iter().map(ContentHash::as_str).collect();
        let rows: Vec<(String, bool, String)> = sqlx::query_as(
            "SELECT hash, whole, through FROM kudos_ingest_log
             WHERE hash = ANY($1) AND (whole OR through COLLATE \"C\" <= $2)",
        )
        .bind(&wanted)
        .bind(as_of.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("ingest_marks"))?;
        StoredMark::per_file(
            hashes,
            rows.into_iter()
                .map(|(hash, whole, through)| (hash, StoredMark { through, whole })),
        )
        .map_err(|reason| LedgerError::Store {
            message: format!("postgres: {reason}"),
            source: None,
        })
    }

    async fn record_ingests(
        &self,
        records: &[IngestRecord],
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let (mut hash, mut through, mut whole, mut name) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for record in records {
            let stored = StoredMark::from(record.mark);
            hash.push(record.hash.as_str());
            through.push(stored.through);
            whole.push(stored.whole);
            name.push(record.name.as_str());
        }
        // One statement: all or nothing.
        sqlx::query(
            "INSERT INTO kudos_ingest_log (hash, through, whole, name, at)
             SELECT h, t, w, n, $5 FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BOOLEAN[], $4::TEXT[]) AS u(h, t, w, n)
             ON CONFLICT (hash, through) DO NOTHING",
        )
        .bind(&hash)
        .bind(&through)
        .bind(&whole)
        .bind(&name)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(store_err("record_ingests"))?;
        Ok(())
    }
}
