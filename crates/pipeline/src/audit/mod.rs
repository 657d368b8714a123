//! The audit trail: JSON Lines, one keyed hash chain per run, each run linked to the trail's
//! head when it started and anchored in the ledger's store as it goes (see [`verify`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AuditEvent;

mod canon;
mod key;
mod verify;

pub use key::{AuditKey, MIN_KEY_BYTES};
pub use verify::{Verifier, VerifyReport, verify, verify_file};

/// What can go wrong writing or verifying the audit trail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The file cannot be opened, written or read.
    #[error("audit {path}: I/O")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// A chain is broken: an edited, removed, reordered or foreign line.
    #[error("audit {path}:{line}: run {run_id}: {reason}")]
    Broken {
        /// The file (or object).
        path: String,
        /// The 1-based line.
        line: u64,
        /// The run whose chain broke.
        run_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The trail disagrees with the anchors in the store, or a run's link: a run deleted,
    /// cut short, rewritten or re-keyed.
    #[error("audit: run {run_id}: {reason}")]
    Anchor {
        /// The run.
        run_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The audit key cannot be read, is too short, or is not the one a record needs.
    #[error("audit key: {reason}")]
    Key {
        /// What is wrong (naming the variable, file or key id — never the key).
        reason: String,
    },
}

/// Where a run's first record links to: a record of another run on the same trail (the
/// trail's head when the run started). The first record's `prev` is that record's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    /// The run linked to.
    pub run_id: Uuid,
    /// Its record's `seq`.
    pub seq: u64,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The record format: `2`; absent in records of the first format (unkeyed, unlinked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The run.
    pub run_id: Uuid,
    /// Position in the run's chain, from 1.
    pub seq: u64,
    /// The previous record's hash in this run; for the first record, the hash of the record
    /// it links to (64 zeros when it links to none).
    pub prev: String,
    /// The record of another run the first record links to (first records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// What happened (`run_started`, `hold_made`, `reward_issued`…).
    pub event: String,
    /// Its details (ids, pseudonyms and figures — never personal data or secrets).
    pub data: serde_json::Value,
    /// The id of the key the hash is keyed with (absent: unkeyed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Lowercase hex: HMAC-SHA256 under the key named by `key` (SHA-256 without one) of the
    /// RFC 8785 canonical JSON of every other field. (The first format: SHA-256 of `prev` and
    /// the JSON of `run_id`, `seq`, `event`, `data`.)
    pub hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The record format this release writes.
pub const FORMAT: u32 = 2;

/// How far a chain has got: its last record's `seq` and hash, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The last record's `seq` (the chain's record count).
    pub seq: u64,
    /// The last record's hash.
    pub hash: String,
    /// The key id, when keyed.
    pub key_id: Option<String>,
}

/// One run's hash chain: what the next record is. Shared by every sink, so all of them write
/// records [`verify`] accepts.
#[derive(Debug, Clone)]
pub struct Chain {
    run_id: Uuid,
    seq: u64,
    prev: String,
    key: Option<AuditKey>,
    link: Option<Link>,
}

impl Chain {
    /// A new unkeyed chain for run `run_id`.
    #[must_use]
    pub fn new(run_id: Uuid) -> Self {
        Self {
            run_id,
            seq: 0,
            prev: GENESIS.to_owned(),
            key: None,
            link: None,
        }
    }

    /// A new chain for run `run_id` keyed with `key`.
    #[must_use]
    pub fn keyed(run_id: Uuid, key: AuditKey) -> Self {
        Self {
            key: Some(key),
            ..Self::new(run_id)
        }
    }

    /// The run.
    #[must_use]
    pub fn run_id(&self) -> Uuid {
        self.run_id
    }

    /// The key id, when keyed.
    #[must_use]
    pub fn key_id(&self) -> Option<&str> {
        self.key.as_ref().map(AuditKey::id)
    }

    /// Links the chain to record `link` of another run, whose hash is `hash` — before its
    /// first record only (later, it changes nothing).
    pub fn link_to(&mut self, link: Link, hash: &str) {
        if self.seq == 0 {
            self.link = Some(link);
            hash.clone_into(&mut self.prev);
        }
    }

    /// How far the chain has got (`None` before its first record).
    #[must_use]
    pub fn head(&self) -> Option<ChainHead> {
        (self.seq > 0).then(|| ChainHead {
            seq: self.seq,
            hash: self.prev.clone(),
            key_id: self.key_id().map(str::to_owned),
        })
    }

    /// The record that would come next (the chain does not move until [`Chain::advance`]).
    ///
    /// # Errors
    ///
    /// [`AuditError::Key`] when the record cannot be put in canonical form.
    pub fn next(&self, event: &str, data: serde_json::Value) -> Result<AuditRecord, AuditError> {
        let seq = self.seq + 1;
        let mut record = AuditRecord {
            v: Some(FORMAT),
            run_id: self.run_id,
            seq,
            prev: self.prev.clone(),
            link: if seq == 1 { self.link } else { None },
            event: event.to_owned(),
            data,
            key: self.key_id().map(str::to_owned),
            hash: String::new(),
        };
        record.hash = key::hash_v2(&record, self.key.as_ref())?;
        Ok(record)
    }

    /// Moves the chain past `record` (once it is written).
    pub fn advance(&mut self, record: &AuditRecord) {
        self.seq = record.seq;
        self.prev.clone_from(&record.hash);
    }
}

/// Where a run's audit records go. Each `append` returns once the record is durable, so the
/// run takes its next step only after its intent is on record.
#[async_trait::async_trait]
pub trait AuditSink: Send + std::fmt::Debug {
    /// The run.
    fn run_id(&self) -> Uuid;

    /// Appends one event to the run's chain, as a record named [`AuditEvent::name`] with
    /// [`AuditEvent::data`].
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`]; the chain does not advance then.
    async fn append(&mut self, event: &AuditEvent) -> Result<AuditRecord, AuditError>;

    /// Appends several events, in order; returns once all are durable. The default appends
    /// them one by one; a sink may write them together.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`]; the chain advances only past what was written.
    async fn append_many(&mut self, events: &[AuditEvent]) -> Result<(), AuditError> {
        for event in events {
            self.append(event).await?;
        }
        Ok(())
    }

    /// Links the run's chain to record `link` (hash `hash`) of the run the trail's head
    /// belongs to; the pipeline calls it before the first record. The default ignores it (a
    /// sink that does not link writes runs that verify as unlinked).
    fn link_to(&mut self, link: Link, hash: &str) {
        let _ = (link, hash);
    }

    /// How far the chain has got, for the pipeline to anchor it in the store after each
    /// write. The default says nothing (the run is not anchored).
    fn head(&self) -> Option<ChainHead> {
        None
    }

    /// The id of the key the sink's records are keyed with (`None`: unkeyed, or a sink that
    /// does not say). A run refuses to write a keyed trail through a sink that says `None`.
    fn key_id(&self) -> Option<&str> {
        None
    }

    /// The trail's name, under which its runs are anchored in the store (runs of several
    /// trails may share a store): [`AuditLog`]'s is its file's absolute path. The default is
    /// empty.
    fn trail(&self) -> String {
        String::new()
    }
}

/// An audit sink that keeps nothing: for `--dry-run`, which must write nothing.
#[derive(Debug)]
pub struct NullAudit(Chain);

impl NullAudit {
    /// A sink for run `run_id` that discards records.
    #[must_use]
    pub fn new(run_id: Uuid) -> Self {
        Self(Chain::new(run_id))
    }
}

#[async_trait::async_trait]
impl AuditSink for NullAudit {
    fn run_id(&self) -> Uuid {
        self.0.run_id()
    }

    async fn append(&mut self, event: &AuditEvent) -> Result<AuditRecord, AuditError> {
        let record = self.0.next(event.name(), event.data())?;
        self.0.advance(&record);
        Ok(record)
    }
}

#[async_trait::async_trait]
impl AuditSink for AuditLog {
    fn run_id(&self) -> Uuid {
        self.chain.run_id()
    }

    async fn append(&mut self, event: &AuditEvent) -> Result<AuditRecord, AuditError> {
        let mut records = self
            .append_blocking_off(std::slice::from_ref(event))
            .await?;
        records.pop().ok_or_else(|| AuditError::Io {
            path: self.path.display().to_string(),
            error: std::io::Error::other("no record written"),
        })
    }

    async fn append_many(&mut self, events: &[AuditEvent]) -> Result<(), AuditError> {
        self.append_blocking_off(events).await.map(|_| ())
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

/// One run's writer on a JSON Lines audit file (shared with other runs).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    chain: Chain,
    /// The file ended in a torn line (a crash mid-write) when opened: the first write starts
    /// a new line, so the next record is whole.
    torn: bool,
    /// The trail's name: the file's absolute path, or the one given ([`AuditLog::with_trail`]).
    trail: String,
}

impl AuditLog {
    /// Opens (creating) the file for appending, for run `run_id`, unkeyed.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`].
    pub fn open(path: &Path, run_id: Uuid) -> Result<Self, AuditError> {
        Self::open_chain(path, Chain::new(run_id))
    }

    /// Opens (creating) the file for appending, for run `run_id`, its records keyed with `key`.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`].
    pub fn open_keyed(path: &Path, run_id: Uuid, key: AuditKey) -> Result<Self, AuditError> {
        Self::open_chain(path, Chain::keyed(run_id, key))
    }

    fn open_chain(path: &Path, chain: Chain) -> Result<Self, AuditError> {
        let io = io_error(path);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let torn = ends_torn(&mut file).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            chain,
            torn,
            trail: Self::trail_name(path),
        })
    }

    /// Names the trail `name` (`[audit] trail`): its runs are anchored under it, whatever the
    /// file's path on this machine — so an auditor's copy, a moved file or another host's
    /// mount verifies against the same anchors.
    #[must_use]
    pub fn with_trail(mut self, name: impl Into<String>) -> Self {
        self.trail = name.into();
        self
    }

    /// The trail name of the file at `path`, as its runs are anchored: its absolute path
    /// (symbolic links resolved), or the path as given when it does not exist.
    #[must_use]
    pub fn trail_name(path: &Path) -> String {
        std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_owned())
            .display()
            .to_string()
    }

    /// The run.
    #[must_use]
    pub fn run_id(&self) -> Uuid {
        self.chain.run_id()
    }

    /// Appends one record, in one write, and syncs it to disk before returning: the next step
    /// of the run only starts once its intent is on record.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`]; the chain is not advanced then.
    pub fn append(
        &mut self,
        event: &str,
        data: serde_json::Value,
    ) -> Result<AuditRecord, AuditError> {
        let record = self.chain.next(event, data)?;
        let mut line = Vec::new();
        push_line(&mut line, &record, self.torn, &self.path)?;
        self.write(&line)?;
        self.chain.advance(&record);
        Ok(record)
    }

    /// Appends several events with one write and one sync — whole lines in one `O_APPEND`
    /// write, so concurrent writers never tear a line — on a blocking thread, never on the
    /// runtime's workers: the records are made (hashed) there too, so a batch of them never
    /// keeps the workers from the run's network I/O. The chain advances only once the write
    /// is durable.
    async fn append_blocking_off(
        &mut self,
        events: &[AuditEvent],
    ) -> Result<Vec<AuditRecord>, AuditError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        let io = io_error(&self.path);
        // A second handle on the same open file (same `O_APPEND` description).
        let mut file = self.file.try_clone().map_err(io)?;
        let mut chain = self.chain.clone();
        let torn = self.torn;
        let events = events.to_vec();
        let (chain, out) = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::with_capacity(events.len() * 512);
            let mut out = Vec::with_capacity(events.len());
            for event in &events {
                let record = chain.next(event.name(), event.data())?;
                push_line(&mut bytes, &record, torn, &path)?;
                chain.advance(&record);
                out.push(record);
            }
            let io = io_error(&path);
            file.write_all(&bytes).map_err(io)?;
            file.sync_data().map_err(io)?;
            Ok::<_, AuditError>((chain, out))
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))??;
        self.torn = false;
        self.chain = chain;
        Ok(out)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        let io = io_error(&self.path);
        self.file.write_all(bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.torn = false;
        Ok(())
    }
}

/// Appends `record` as a line to `bytes`, after a newline first when the file ended `torn`.
fn push_line(
    bytes: &mut Vec<u8>,
    record: &AuditRecord,
    torn: bool,
    path: &Path,
) -> Result<(), AuditError> {
    if bytes.is_empty() && torn {
        bytes.push(b'\n');
    }
    serde_json::to_writer(&mut *bytes, record)
        .map_err(|e| io_error(path)(std::io::Error::other(e)))?;
    bytes.push(b'\n');
    Ok(())
}

/// An I/O error on the trail at `path`, as [`AuditError::Io`].
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> AuditError + Copy + '_ {
    move |error| AuditError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Whether the file's last byte is not a newline (a line torn by a crash mid-write).
fn ends_torn(file: &mut File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}
