//! The audit trail in object storage (feature `object-store`): one object per run.

use std::sync::Arc;

use futures_util::TryStreamExt as _;
use kudos_ledger::AuditAnchor;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use uuid::Uuid;

use crate::{
    AuditError, AuditEvent, AuditKey, AuditRecord, AuditSink, Chain, ChainHead, Link, Verifier,
    VerifyReport,
};

/// A run's audit chain as one JSON Lines object, `<prefix>/<run_id>.jsonl`, rewritten whole
/// after each record (object stores have no append): when `append` returns, the record is
/// stored. The lines are the file sink's — keyed, linked and anchored alike — and
/// [`verify_objects`] checks them as [`crate::verify_file`] checks a file.
#[derive(Debug)]
pub struct ObjectStoreAudit {
    store: Arc<dyn ObjectStore>,
    path: Path,
    chain: Chain,
    body: Vec<u8>,
    trail: String,
}

fn parse(url: &str) -> Result<(Arc<dyn ObjectStore>, Path), String> {
    // The URL may carry credentials: errors name what is wrong, never the URL.
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let (store, prefix) = object_store::parse_url(&parsed).map_err(|e| {
        format!(
            "{}:// is not an object store this build can open ({})",
            parsed.scheme(),
            kind(&e)
        )
    })?;
    Ok((Arc::from(store), prefix))
}

fn kind(e: &object_store::Error) -> &'static str {
    match e {
        object_store::Error::NotImplemented => "not implemented",
        object_store::Error::NotSupported { .. } => "not supported",
        _ => "unrecognised",
    }
}

impl ObjectStoreAudit {
    /// Writes run `run_id`'s chain, unkeyed, under `prefix` in `store`.
    #[must_use]
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &Path, run_id: Uuid) -> Self {
        Self::with_chain(store, prefix, Chain::new(run_id))
    }

    /// Writes `chain` (keyed or not, see [`Chain::keyed`]) under `prefix` in `store`.
    #[must_use]
    pub fn with_chain(store: Arc<dyn ObjectStore>, prefix: &Path, chain: Chain) -> Self {
        Self {
            store,
            path: prefix.child(format!("{}.jsonl", chain.run_id())),
            chain,
            body: Vec::new(),
            trail: format!("object-store:{prefix}"),
        }
    }

    /// From a URL `object_store` understands (`file:///var/audit`, `memory:///`; `s3://…`
    /// with its `aws` feature), keyed with `key` when given.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong with the URL (never the URL itself).
    pub fn from_url(url: &str, run_id: Uuid) -> Result<Self, String> {
        Self::from_url_keyed(url, run_id, None)
    }

    /// [`from_url`](Self::from_url), its records keyed with `key`.
    ///
    /// # Errors
    ///
    /// As [`from_url`](Self::from_url).
    pub fn from_url_keyed(url: &str, run_id: Uuid, key: Option<AuditKey>) -> Result<Self, String> {
        let (store, prefix) = parse(url)?;
        let chain = match key {
            Some(key) => Chain::keyed(run_id, key),
            None => Chain::new(run_id),
        };
        Ok(Self::with_chain(store, &prefix, chain).with_trail(object_trail_name(url)?))
    }

    /// Names the trail `name` (`[audit] trail`; from a URL, [`object_trail_name`] by default).
    #[must_use]
    pub fn with_trail(mut self, name: impl Into<String>) -> Self {
        self.trail = name.into();
        self
    }
}

#[async_trait::async_trait]
impl AuditSink for ObjectStoreAudit {
    fn run_id(&self) -> Uuid {
        self.chain.run_id()
    }

    async fn append(&mut self, event: &AuditEvent) -> Result<AuditRecord, AuditError> {
        let record = self.chain.next(event.name(), event.data())?;
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

    fn link_to(&mut self, link: Link, hash: &str) {
        self.chain.link_to(link, hash);
    }

    fn head(&self) -> Option<ChainHead> {
        self.chain.head()
    }

    fn key_id(&self) -> Option<&str> {
        self.chain.key_id()
    }

    fn trail(&self) -> String {
        self.trail.clone()
    }
}

/// The trail name of the objects under `url`, as its runs are anchored: the URL's scheme,
/// host (the bucket) and path, without user information, query or fragment.
///
/// # Errors
///
/// A message naming what is wrong with the URL (never the URL itself).
pub fn object_trail_name(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    Ok(format!(
        "{}://{}{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default(),
        parsed.path()
    ))
}

/// Checks every run's object under the URL's prefix as [`crate::verify_file`] checks a file:
/// each chain, the links between runs and, given the store's `anchors`, that no anchored run
/// was deleted, cut short, rewritten or re-keyed.
///
/// # Errors
///
/// As [`crate::verify_file`]; [`AuditError::Io`] when the objects cannot be listed or read.
pub async fn verify_objects(
    url: &str,
    keys: &[AuditKey],
    anchors: Option<&[AuditAnchor]>,
) -> Result<VerifyReport, AuditError> {
    let io = |path: &str, error: std::io::Error| AuditError::Io {
        path: path.to_owned(),
        error,
    };
    let (store, prefix) = parse(url).map_err(|e| io("audit.url", std::io::Error::other(e)))?;
    let mut objects: Vec<Path> = store
        .list(Some(&prefix))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .map_err(|e| io(prefix.as_ref(), std::io::Error::other(e)))?;
    objects.retain(|p| p.extension() == Some("jsonl"));
    objects.sort();
    let mut verifier = Verifier::new(keys);
    for object in &objects {
        let name = object.to_string();
        let bytes = store
            .get(object)
            .await
            .map_err(|e| io(&name, std::io::Error::other(e)))?
            .bytes()
            .await
            .map_err(|e| io(&name, std::io::Error::other(e)))?;
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            verifier.line(&name, i as u64 + 1, line)?;
        }
    }
    verifier.finish(anchors)
}
