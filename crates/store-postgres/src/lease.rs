//! The run's lease port on PostgreSQL: a lease is two columns of the hold index row, taken with
//! one conditional `UPDATE` on the row's `unresolved` flag (which the ledger writes), so that no
//! advisory lock is needed. Every time is the database's (`now()`), never a worker's.

use async_trait::async_trait;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kudos_core::TxnId;
use kudos_ledger::{Lease, LeaseStore, LedgerError};

use crate::{PostgresStore, store_err};

#[async_trait]
impl LeaseStore for PostgresStore {
    async fn lease(&self, txn: TxnId, owner: &str, length: Duration) -> Result<bool, LedgerError> {
        let done = sqlx::query(
            "UPDATE kudos_holds
             SET lease_owner = $2, lease_until = now() + make_interval(secs => $3)
             WHERE txn = $1 AND unresolved
               AND (lease_owner IS NULL OR lease_until <= now() OR lease_owner = $2)",
        )
        .bind(txn.as_uuid())
        .bind(owner)
        .bind(length.as_secs_f64())
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
        let ids: Vec<uuid::Uuid> = txns.iter().map(|t| *t.as_uuid()).collect();
        let leased: Vec<uuid::Uuid> = sqlx::query_scalar(
            "UPDATE kudos_holds
             SET lease_owner = $2, lease_until = now() + make_interval(secs => $3)
             WHERE txn = ANY($1) AND unresolved
               AND (lease_owner IS NULL OR lease_until <= now() OR lease_owner = $2)
             RETURNING txn",
        )
        .bind(&ids)
        .bind(owner)
        .bind(length.as_secs_f64())
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("lease"))?;
        let leased: std::collections::HashSet<uuid::Uuid> = leased.into_iter().collect();
        Ok(ids.iter().map(|id| leased.contains(id)).collect())
    }

    async fn end_leases(&self, txns: &[TxnId], owner: &str) -> Result<(), LedgerError> {
        let ids: Vec<uuid::Uuid> = txns.iter().map(|t| *t.as_uuid()).collect();
        sqlx::query(
            "UPDATE kudos_holds SET lease_until = now() WHERE txn = ANY($1) AND lease_owner = $2",
        )
        .bind(&ids)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(store_err("end_leases"))?;
        Ok(())
    }

    async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError> {
        let row: Option<(Option<String>, Option<DateTime<Utc>>)> =
            sqlx::query_as("SELECT lease_owner, lease_until FROM kudos_holds WHERE txn = $1")
                .bind(txn.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("lease_of"))?;
        Ok(match row {
            Some((Some(owner), Some(until))) => Some(Lease { owner, until }),
            _ => None,
        })
    }
}
