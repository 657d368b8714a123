//! The audit trail in object storage (feature `object-store`): one object per run.

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use uuid::Uuid;

use crate::{AuditError, AuditEvent, AuditRecord, AuditSink, Chain};

/// A run's audit chain as one JSON Lines object, `<prefix>/<run_id>.jsonl`, rewritten whole
/// after each record (object stores have no append): when `append` returns, the record is
/// stored. The lines are the file sink's, so [`crate::verify`] checks a downloaded object.
#[derive(Debug)]
pub struct ObjectStoreAudit {
    store: Arc<dyn ObjectStore>,
    path: Path,
    chain: Chain,
    body: Vec<u8>,
}

impl ObjectStoreAudit {
    /// Writes run `run_id`'s chain under `prefix` in `store`.
    #[must_use]
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &Path, run_id: Uuid) -> Self {
        Self {
            store,
            path: prefix.child(format!("{run_id}.jsonl")),
            chain: Chain::new(run_id),
            body: Vec::new(),
        }
    }

    /// From a URL `object_store` understands (`file:///var/audit`, `memory:///`; `s3://…`
    /// with its `aws` feature).
    ///
    /// # Errors
    ///
    /// A message naming what is wrong with the URL.
    pub fn from_url(url: &str, run_id: Uuid) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let (store, prefix) =
            object_store::parse_url(&parsed).map_err(|e| format!("{url}: {e}"))?;
        Ok(Self::new(Arc::from(store), &prefix, run_id))
    }
}

#[async_trait::async_trait]
impl AuditSink for ObjectStoreAudit {
    fn run_id(&self) -> Uuid {
        self.chain.run_id()
    }

    async fn append(&mut self, event: &AuditEvent) -> Result<AuditRecord, AuditError> {
        let record = self.chain.next(event.name(), event.data());
        let io = |error: std::io::Error| AuditError::Io {
            path: self.path.to_string(),
            error,
        };
        let mut line = serde_json::to_vec(&record).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut body = self.body.clone();
        body.extend_from_slice(&line);
        self.store
            .put(&self.path, PutPayload::from(body.clone()))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?;
        self.body = body;
        self.chain.advance(&record);
        Ok(record)
    }
}
