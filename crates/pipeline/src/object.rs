//! The audit trail in object storage (feature `object-store`; `s3` for S3 and S3-compatible
//! servers): each write of a run a new object, never a rewrite.

use std::sync::Arc;

use futures_util::TryStreamExt as _;
use kudos_ledger::AuditAnchor;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutPayload};
use uuid::Uuid;

use crate::{
    AuditError, AuditEvent, AuditKey, AuditRecord, AuditSink, Chain, ChainHead, Link, Verifier,
    VerifyReport,
};

/// A run's audit chain in object storage, appended without rewriting: each write (one record,
/// or the batch of [`AuditSink::append_many`]) is a new JSON Lines object,
/// `<prefix>/<run_id>/<first seq, 10 digits>.jsonl`, created only if absent (`If-None-Match:
/// *` on S3), so what was written is never replaced. When `append` returns, the records are
/// stored. The lines are the file sink's — keyed, linked and anchored alike — and
/// [`verify_objects`] reads a run's objects in order and checks them as [`crate::verify_file`]
/// checks a file. (Releases before this one wrote `<prefix>/<run_id>.jsonl`, one object per
/// run; those still verify.)
#[derive(Debug)]
pub struct ObjectStoreAudit {
    store: Arc<dyn ObjectStore>,
    /// `<prefix>/<run_id>`: the run's objects are under it.
    dir: Path,
    chain: Chain,
    trail: String,
}

fn parse(url: &str) -> Result<(Arc<dyn ObjectStore>, Path), String> {
    // The URL may carry credentials: errors name what is wrong, never the URL.
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    // object_store's usual environment for S3 (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`,
    // `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …), as its `from_env` reads it.
    let options = std::env::vars_os().filter_map(|(key, value)| {
        let key = key.to_str()?;
        let value = value.into_string().ok()?;
        key.starts_with("AWS_")
            .then(|| (key.to_ascii_lowercase(), value))
    });
    let (store, prefix) = object_store::parse_url_opts(&parsed, options).map_err(|e| {
        format!(
            "{}:// is not an object store this build can open ({})",
            parsed.scheme(),
            kind(&e)
        )
    })?;
    Ok((Arc::from(store), prefix))
}

/// What kind of failure an object store reported, in words that carry no path or secret.
fn kind(e: &object_store::Error) -> &'static str {
    match e {
        object_store::Error::NotImplemented { .. } => "not implemented",
        object_store::Error::NotSupported { .. } => "not supported",
        object_store::Error::NotFound { .. } => "not found",
        object_store::Error::PermissionDenied { .. } => "permission denied",
        object_store::Error::Unauthenticated { .. } => "not authenticated",
        _ => "unrecognised, or the store did not answer",
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
            dir: prefix.clone().join(chain.run_id().to_string().as_str()),
            chain,
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

    /// Writes `events` as one new object; the chain advances only when it is stored.
    async fn write(&mut self, events: &[AuditEvent]) -> Result<Vec<AuditRecord>, AuditError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut chain = self.chain.clone();
        let mut records = Vec::with_capacity(events.len());
        let mut body = Vec::new();
        for event in events {
            let record = chain.next(event.name(), event.data())?;
            serde_json::to_writer(&mut body, &record).map_err(|e| AuditError::Io {
                path: self.dir.to_string(),
                error: std::io::Error::other(e),
            })?;
            body.push(b'\n');
            chain.advance(&record);
            records.push(record);
        }
        let first = records.first().map_or(0, |r| r.seq);
        let path = self.dir.clone().join(format!("{first:010}.jsonl").as_str());
        let io = |e: object_store::Error| AuditError::Io {
            path: path.to_string(),
            error: std::io::Error::other(e),
        };
        let payload = PutPayload::from(body);
        // Created only if absent: a record once written is never replaced, even by a retry
        // of a write whose answer was lost. A store without conditional puts (S3 with
        // `conditional_put` disabled) gets a plain put: the name is still new.
        match self
            .store
            .put_opts(&path, payload.clone(), PutMode::Create.into())
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::NotImplemented { .. }) => {
                self.store.put(&path, payload).await.map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
        self.chain = chain;
        Ok(records)
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
        let mut records = self.write(std::slice::from_ref(event)).await?;
        records.pop().ok_or_else(|| AuditError::Io {
            path: self.dir.to_string(),
            error: std::io::Error::other("no record was written"),
        })
    }

    async fn append_many(&mut self, events: &[AuditEvent]) -> Result<(), AuditError> {
        self.write(events).await.map(|_| ())
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

/// Counts the objects under the URL's prefix, writing nothing: whether the store answers with
/// the credentials at hand (`kudos check`).
///
/// # Errors
///
/// A message naming what failed (never the URL or a credential).
pub async fn probe_objects(url: &str) -> Result<usize, String> {
    let (store, prefix) = parse(url)?;
    store
        .list(Some(&prefix))
        .try_fold(0usize, |n, _| async move { Ok(n + 1) })
        .await
        .map_err(|e| format!("cannot list the trail's objects ({})", kind(&e)))
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
