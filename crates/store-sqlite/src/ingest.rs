//! The run's ingest log on SQLite: one row per file and mark, `(hash, through)` the key —
//! `through` is the day a file was taken through, or empty for a file taken whole.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::Day;
use kudos_ledger::{ContentHash, IngestLog, IngestMark, IngestRecord, LedgerError, StoredMark};

use crate::{ROWS_PER_INSERT, SqliteStore, marks, placeholders, store_err, ts};

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
        let _turn = self.write_turn().await;
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

    async fn ingest_marks(
        &self,
        hashes: &[ContentHash],
        as_of: Day,
    ) -> Result<Vec<Option<IngestMark>>, LedgerError> {
        // One read transaction: every chunk sees the same snapshot, so a batch of marks
        // another run records at the same time is seen whole or not at all.
        let mut tx = self.pool.begin().await.map_err(store_err("ingest_marks"))?;
        let mut rows = Vec::new();
        for chunk in hashes.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "SELECT hash, whole, through FROM ingest_log
                 WHERE hash IN ({}) AND (whole OR through <= ?)",
                marks(chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, bool, String)>(sqlx::AssertSqlSafe(sql));
            for hash in chunk {
                query = query.bind(hash.as_str());
            }
            let fetched = query
                .bind(as_of.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(store_err("ingest_marks"))?;
            rows.extend(
                fetched
                    .into_iter()
                    .map(|(hash, whole, through)| (hash, StoredMark { through, whole })),
            );
        }
        tx.commit().await.map_err(store_err("ingest_marks"))?;
        StoredMark::per_file(hashes, rows).map_err(|reason| LedgerError::Store {
            message: format!("sqlite: {reason}"),
            source: None,
        })
    }

    async fn record_ingests(
        &self,
        records: &[IngestRecord],
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let (_turn, mut tx) = self
            .begin_write()
            .await
            .map_err(store_err("record_ingests"))?;
        let at = ts(at);
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO ingest_log (hash, through, whole, name, at) VALUES {}
                 ON CONFLICT (hash, through) DO NOTHING",
                placeholders(chunk.len(), 5)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for record in chunk {
                let StoredMark { through, whole } = StoredMark::from(record.mark);
                query = query
                    .bind(record.hash.as_str())
                    .bind(through)
                    .bind(whole)
                    .bind(record.name.as_str())
                    .bind(at.as_str());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(store_err("record_ingests"))?;
        }
        tx.commit().await.map_err(store_err("record_ingests"))
    }
}
