//! The run's lease port on SQLite: a lease is two columns of the hold index row, taken with
//! one conditional `UPDATE` on the row's `unresolved` flag (which the ledger writes).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::TxnId;
use kudos_ledger::{Lease, LeaseStore, LedgerError};

use crate::{ROWS_PER_INSERT, SqliteStore, marks, store_err, ts};

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn lease(
        &self,
        txn: TxnId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let done = sqlx::query(
            "UPDATE holds SET lease_owner = ?, lease_until = ?
             WHERE txn = ? AND unresolved
               AND (lease_owner IS NULL OR lease_until <= ? OR lease_owner = ?)",
        )
        .bind(owner)
        .bind(ts(until))
        .bind(txn.to_string())
        .bind(ts(now))
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(store_err("lease"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn lease_many(
        &self,
        txns: &[TxnId],
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<bool>, LedgerError> {
        // One write transaction (one sync to disk) and a statement per few hundred holds.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_err("lease"))?;
        let mut leased = std::collections::HashSet::with_capacity(txns.len());
        for chunk in txns.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "UPDATE holds SET lease_owner = ?, lease_until = ?
                 WHERE txn IN ({}) AND unresolved
                   AND (lease_owner IS NULL OR lease_until <= ? OR lease_owner = ?)
                 RETURNING txn",
                marks(chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(ts(until));
            for txn in chunk {
                query = query.bind(txn.to_string());
            }
            leased.extend(
                query
                    .bind(ts(now))
                    .bind(owner)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_err("lease"))?,
            );
        }
        tx.commit().await.map_err(store_err("lease"))?;
        Ok(txns
            .iter()
            .map(|t| leased.contains(&t.to_string()))
            .collect())
    }

    async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT lease_owner, lease_until FROM holds WHERE txn = ?")
                .bind(txn.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("lease_of"))?;
        let Some((Some(owner), Some(until))) = row else {
            return Ok(None);
        };
        let until = DateTime::parse_from_rfc3339(&until)
            .map_err(|e| LedgerError::store("sqlite: a stored lease time is invalid", e))?
            .with_timezone(&Utc);
        Ok(Some(Lease { owner, until }))
    }
}
