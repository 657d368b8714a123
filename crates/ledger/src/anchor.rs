//! The audit trail's anchors: how far each run's audit chain reached, kept in the ledger's own
//! store so that an audit trail cut short, rewritten or deleted no longer agrees with it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::LedgerError;

/// One run's audit chain as far as it was anchored: its record count, the hash of its last
/// record and the key it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    /// The trail the run writes to (its sink's trail name: a file's absolute path, an
    /// object-store prefix). Runs of several trails may share one store.
    pub trail: String,
    /// The run.
    pub run_id: Uuid,
    /// The id of the key its records are keyed with (`None`: unkeyed).
    pub key_id: Option<String>,
    /// How many records the chain had (the last one's `seq`).
    pub records: u64,
    /// The hash of record `records`.
    pub head: String,
    /// When the anchor was written (the run's clock).
    pub at: DateTime<Utc>,
}

/// The audit anchors of every run, one row per trail and run that only ever moves forward.
///
/// `testkit::anchor_conformance` (feature `testkit`) checks an implementation.
#[async_trait]
pub trait AuditAnchors: Send + Sync + std::fmt::Debug {
    /// Records that `anchor.run_id`'s chain reached `anchor.records`. An anchor never moves
    /// back: one with fewer records than the stored one changes nothing. The anchor moved
    /// last is the trail's head ([`latest_anchor`](AuditAnchors::latest_anchor)).
    async fn anchor(&self, anchor: &AuditAnchor) -> Result<(), LedgerError>;

    /// Every run's anchor on `trail`, in the order they were first anchored.
    async fn anchors(&self, trail: &str) -> Result<Vec<AuditAnchor>, LedgerError>;

    /// The anchor on `trail` moved last — the trail's head, which a new run links its chain
    /// to — or `None` before any run of that trail was anchored.
    async fn latest_anchor(&self, trail: &str) -> Result<Option<AuditAnchor>, LedgerError>;

    /// The names of every trail with an anchor, sorted.
    async fn trails(&self) -> Result<Vec<String>, LedgerError>;
}

/// Forwards every method to the store behind a reference or a smart pointer.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: AuditAnchors + ?Sized> AuditAnchors for $ty {
            async fn anchor(&self, anchor: &AuditAnchor) -> Result<(), LedgerError> {
                (**self).anchor(anchor).await
            }
            async fn anchors(&self, trail: &str) -> Result<Vec<AuditAnchor>, LedgerError> {
                (**self).anchors(trail).await
            }
            async fn latest_anchor(&self, trail: &str) -> Result<Option<AuditAnchor>, LedgerError> {
                (**self).latest_anchor(trail).await
            }
            async fn trails(&self) -> Result<Vec<String>, LedgerError> {
                (**self).trails().await
            }
        }
    )*};
}

forward!(&T, std::sync::Arc<T>, Box<T>);
