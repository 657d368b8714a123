//! The `LeaseStore` port: the run's claim on a hold, so that exactly one worker drives it.
//!
//! Leases are the run's bookkeeping, not the ledger's: a hold's state is decided by the ledger's
//! entries alone, and a lease only says which worker may act on an unresolved hold right now.
//! They live beside the hold index because a lease is taken on a hold the index lists as
//! unresolved — the flag the ledger writes with every hold view (see
//! [`HoldView::is_unresolved`](crate::HoldView::is_unresolved)); a store filters on it and never
//! spells the states itself.

use async_trait::async_trait;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kudos_core::TxnId;
use serde::{Deserialize, Serialize};

use crate::LedgerError;

/// A worker's claim on a hold, so that exactly one worker re-drives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it (a run id).
    pub owner: String,
    /// Until when (exclusive).
    pub until: DateTime<Utc>,
}

/// Where the run's leases on holds live (beside the ledger's hold index).
///
/// **The store owns the lease clock.** Every lease is taken, renewed, compared and ended on
/// the store's own time — the database's on PostgreSQL, the store's injectable clock on SQLite
/// and in memory — never on the caller's: two workers whose clocks differ still agree on
/// whether a lease has lapsed.
///
/// `testkit::lease_conformance` (feature `testkit`) checks an implementation.
#[async_trait]
pub trait LeaseStore: Send + Sync + std::fmt::Debug {
    /// Leases an unresolved hold to `owner` for `length` from the store's now, if it has no
    /// lease, its lease lapsed, or `owner` already holds it (a renewal). Returns whether it
    /// did. A hold the index does not list as unresolved is never leased.
    async fn lease(&self, txn: TxnId, owner: &str, length: Duration) -> Result<bool, LedgerError>;

    /// Leases several holds at once, as [`lease`](LeaseStore::lease) would each (in order);
    /// returns which were leased. The default leases them one by one; a store may use one
    /// transaction.
    async fn lease_many(
        &self,
        txns: &[TxnId],
        owner: &str,
        length: Duration,
    ) -> Result<Vec<bool>, LedgerError> {
        let mut out = Vec::with_capacity(txns.len());
        for txn in txns {
            out.push(self.lease(*txn, owner, length).await?);
        }
        Ok(out)
    }

    /// Ends `owner`'s leases on these holds now (the store's now), so that another worker may
    /// take them at once. Leases held by someone else are left alone.
    async fn end_leases(&self, txns: &[TxnId], owner: &str) -> Result<(), LedgerError>;

    /// The lease on a hold, if any (lapsed or not).
    async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError>;
}

/// Forwards every method to the store behind a reference or a smart pointer.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: LeaseStore + ?Sized> LeaseStore for $ty {
            async fn lease(&self, txn: TxnId, owner: &str, length: Duration) -> Result<bool, LedgerError> {
                (**self).lease(txn, owner, length).await
            }
            async fn lease_many(&self, txns: &[TxnId], owner: &str, length: Duration) -> Result<Vec<bool>, LedgerError> {
                (**self).lease_many(txns, owner, length).await
            }
            async fn end_leases(&self, txns: &[TxnId], owner: &str) -> Result<(), LedgerError> {
                (**self).end_leases(txns, owner).await
            }
            async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError> {
                (**self).lease_of(txn).await
            }
        }
    )*};
}

forward!(&T, std::sync::Arc<T>, Box<T>);
