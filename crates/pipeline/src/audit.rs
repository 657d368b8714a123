//! The audit trail: JSON Lines, one hash chain per run.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AuditEvent;

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
        /// The file.
        path: String,
        /// The 1-based line.
        line: u64,
        /// The run whose chain broke.
        run_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The run.
    pub run_id: Uuid,
    /// Position in the run's chain, from 1.
    pub seq: u64,
    /// The previous record's hash in this run (64 zeros for the first).
    pub prev: String,
    /// What happened (`run_started`, `hold_made`, `reward_issued`…).
    pub event: String,
    /// Its details (ids, pseudonyms and figures — never personal data or secrets).
    pub data: serde_json::Value,
    /// Lowercase hex SHA-256 of `prev` and the canonical JSON of `run_id`, `seq`, `event`, `data`.
    pub hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn digest(prev: &str, run_id: Uuid, seq: u64, event: &str, data: &serde_json::Value) -> String {
    // serde_json writes object keys sorted (no preserve_order), so this is canonical.
    let body = serde_json::json!({"run_id": run_id, "seq": seq, "event": event, "data": data});
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(body.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One run's hash chain: what the next record is. Shared by every sink, so all of them write
/// records [`verify`] accepts.
#[derive(Debug, Clone)]
pub struct Chain {
    run_id: Uuid,
    seq: u64,
    prev: String,
}

impl Chain {
    /// A new chain for run `run_id`.
    #[must_use]
    pub fn new(run_id: Uuid) -> Self {
        Self {
            run_id,
            seq: 0,
            prev: GENESIS.to_owned(),
        }
    }

    /// The run.
    #[must_use]
    pub fn run_id(&self) -> Uuid {
        self.run_id
    }

    /// The record that would come next (the chain does not move until [`Chain::advance`]).
    #[must_use]
    pub fn next(&self, event: &str, data: serde_json::Value) -> AuditRecord {
        let seq = self.seq + 1;
        let hash = digest(&self.prev, self.run_id, seq, event, &data);
        AuditRecord {
            run_id: self.run_id,
            seq,
            prev: self.prev.clone(),
            event: event.to_owned(),
            data,
            hash,
        }
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
        let record = self.0.next(event.name(), event.data());
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
        AuditLog::append(self, event.name(), event.data())
    }

    async fn append_many(&mut self, events: &[AuditEvent]) -> Result<(), AuditError> {
        AuditLog::append_events(self, events).map(|_| ())
    }
}

/// One run's writer on a JSON Lines audit file (shared with other runs).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    chain: Chain,
}

impl AuditLog {
    /// Opens (creating) the file for appending, for run `run_id`.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`].
    pub fn open(path: &Path, run_id: Uuid) -> Result<Self, AuditError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| AuditError::Io {
                path: path.display().to_string(),
                error,
            })?;
        Ok(Self {
            path: path.to_owned(),
            file,
            chain: Chain::new(run_id),
        })
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
        let record = self.chain.next(event, data);
        let mut line = serde_json::to_vec(&record).map_err(|e| AuditError::Io {
            path: self.path.display().to_string(),
            error: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        let io = |error| AuditError::Io {
            path: self.path.display().to_string(),
            error,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(|error| AuditError::Io {
            path: self.path.display().to_string(),
            error,
        })?;
        self.chain.advance(&record);
        Ok(record)
    }
}

impl AuditLog {
    /// Appends several events with one write and one sync: whole lines in one `O_APPEND`
    /// write, so concurrent writers still never tear a line.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`]; the chain is not advanced then.
    fn append_events(&mut self, events: &[AuditEvent]) -> Result<Vec<AuditRecord>, AuditError> {
        let io = |error| AuditError::Io {
            path: self.path.display().to_string(),
            error,
        };
        let mut chain = self.chain.clone();
        let mut bytes = Vec::new();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let record = chain.next(event.name(), event.data());
            serde_json::to_writer(&mut bytes, &record).map_err(|e| io(std::io::Error::other(e)))?;
            bytes.push(b'\n');
            chain.advance(&record);
            out.push(record);
        }
        if bytes.is_empty() {
            return Ok(out);
        }
        self.file.write_all(&bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.chain = chain;
        Ok(out)
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Runs (chains) in the file.
    pub runs: usize,
    /// Records.
    pub records: u64,
}

/// Checks every run's chain in an audit file: each record's hash, its link to the previous
/// record of its run, and that its `seq` follows without a gap.
///
/// # Errors
///
/// [`AuditError::Broken`] naming the line and run at the first break, or [`AuditError::Io`].
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|error| AuditError::Io {
        path: name.clone(),
        error,
    })?;
    let mut heads: HashMap<Uuid, (u64, String)> = HashMap::new();
    let mut records = 0;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|error| AuditError::Io {
            path: name.clone(),
            error,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let broken = |run_id: String, reason: String| AuditError::Broken {
            path: name.clone(),
            line: n,
            run_id,
            reason,
        };
        let r: AuditRecord = serde_json::from_str(&line)
            .map_err(|e| broken("?".into(), format!("not an audit record ({e})")))?;
        let (last_seq, last_hash) = heads
            .get(&r.run_id)
            .cloned()
            .unwrap_or((0, GENESIS.to_owned()));
        if r.seq != last_seq + 1 {
            return Err(broken(
                r.run_id.to_string(),
                format!(
                    "seq {} follows {last_seq}: a record is missing or out of order",
                    r.seq
                ),
            ));
        }
        if r.prev != last_hash {
            return Err(broken(
                r.run_id.to_string(),
                format!("seq {} does not link to the previous record", r.seq),
            ));
        }
        if digest(&r.prev, r.run_id, r.seq, &r.event, &r.data) != r.hash {
            return Err(broken(
                r.run_id.to_string(),
                format!("seq {} was edited (its hash does not match)", r.seq),
            ));
        }
        heads.insert(r.run_id, (r.seq, r.hash));
        records += 1;
    }
    Ok(VerifyReport {
        runs: heads.len(),
        records,
    })
}
