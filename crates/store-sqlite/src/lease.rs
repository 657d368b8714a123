//! The run's lease port on SQLite: a lease is two columns of the hold index row, taken with
//! one conditional `UPDATE` on the row's `unresolved` flag (which the ledger writes), on the
//! store's own clock.

use async_trait::async_trait;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use kudos_core::TxnId;
use kudos_ledger::{Lease, LeaseStore, LedgerError};

use crate::{ROWS_PER_INSERT, SqliteStore, marks, store_err, ts};

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn lease(&self, txn: TxnId, owner: &str, length: Duration) -> Result<bool, LedgerError> {
        let (now, until) = self.lease_window(length);
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE holds SET lease_owner = ?, lease_until = ?
             WHERE txn = ? AND unresolved
               AND (lease_owner IS NULL OR lease_until <= ? OR lease_owner = ?)",
        )
        .bind(owner)
        .bind(until.as_str())
        .bind(txn.to_string())
        .bind(now.as_str())
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
        length: Duration,
    ) -> Result<Vec<bool>, LedgerError> {
        let (now, until) = self.lease_window(length);
        // One write transaction (one sync to disk) and a statement per few hundred holds.
        let (_turn, mut tx) = self.begin_write().await.map_err(store_err("lease"))?;
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
                .bind(until.as_str());
            for txn in chunk {
                query = query.bind(txn.to_string());
            }
            leased.extend(
                query
                    .bind(now.as_str())
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

    async fn end_leases(&self, txns: &[TxnId], owner: &str) -> Result<(), LedgerError> {
        let now = ts(self.clock.now());
        let (_turn, mut tx) = self.begin_write().await.map_err(store_err("end_leases"))?;
        for chunk in txns.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "UPDATE holds SET lease_until = ? WHERE txn IN ({}) AND lease_owner = ?",
                marks(chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now.as_str());
            for txn in chunk {
                query = query.bind(txn.to_string());
            }
            query
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(store_err("end_leases"))?;
        }
        tx.commit().await.map_err(store_err("end_leases"))
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

impl SqliteStore {
    /// Now and the end of a lease of `length`, both on the store's clock, as stored.
    fn lease_window(&self, length: Duration) -> (String, String) {
        let now = self.clock.now();
        let until = TimeDelta::from_std(length)
            .ok()
            .and_then(|length| now.checked_add_signed(length))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (ts(now), ts(until))
    }
}
