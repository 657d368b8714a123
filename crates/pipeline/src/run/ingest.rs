//! The ingest step: read every source's files (sorted, by content hash, skipping what earlier
//! runs took), parse them, evaluate the rules, and collect each agent's accruals in file order
//! (the agents in id order).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kudos_core::AgentId;
use kudos_ledger::{AccountCommands, Command, ContentHash, IngestMark};
use kudos_wfm::{ParseOptions, WfmError};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{Count, PipelineError, Run};
use crate::AlertKind;

/// A source of the run: a glob and how to parse what it matches.
#[derive(Debug, Clone)]
pub struct Source {
    /// The glob (absolute, or relative to the working directory).
    pub pattern: PathBuf,
    /// How to parse the files.
    pub options: ParseOptions,
}

/// One file read in the ingest step.
pub(super) struct IngestedFile {
    /// The path as the run saw it.
    pub(super) name: String,
    pub(super) hash: ContentHash,
    /// Records taken (dated on or before the run's day).
    pub(super) records: u64,
    /// Rows rejected by the parser or the rules.
    pub(super) rejected: u64,
    /// Records dated after the run's day, left for a later run.
    pub(super) future: u64,
}

/// What the ingest step read: the files, and each agent's accruals (in file order), the agents
/// in id order.
pub(super) struct Ingested {
    pub(super) files: Vec<IngestedFile>,
    pub(super) accruals: Vec<AccountCommands>,
}

/// Each agent's accruals, as the rows come.
#[derive(Default)]
struct Accruals {
    order: Vec<AgentId>,
    by_agent: HashMap<AgentId, Vec<Command>>,
}

impl Accruals {
    fn push(&mut self, agent: &AgentId, command: Command) {
        let order = &mut self.order;
        self.by_agent
            .entry(agent.clone())
            .or_insert_with(|| {
                order.push(agent.clone());
                Vec::new()
            })
            .push(command);
    }

    /// The agents' accruals, the agents in id order: the order the issue step, which runs
    /// beside the accrue step, takes them in.
    fn into_list(mut self) -> Vec<AccountCommands> {
        self.order.sort_unstable();
        self.order
            .into_iter()
            .map(|agent| {
                let commands = self.by_agent.remove(&agent).unwrap_or_default();
                AccountCommands::new(agent, commands)
            })
            .collect()
    }
}

impl Run<'_> {
    /// Reads every source; returns the files read and each agent's accruals, in file order.
    ///
    /// Every file is hashed first, and what earlier runs took of all of them is asked in one
    /// consistent read ([`IngestLog::ingest_marks`](kudos_ledger::IngestLog::ingest_marks)):
    /// a run working at the same time has recorded all of its files or none, so this run
    /// never takes an older file whose newer restatement that run already applied.
    pub(super) async fn ingest(&self) -> Result<Ingested, PipelineError> {
        self.progress.step("ingest", None);
        let mut listed = Vec::new();
        for source in &self.parts.sources {
            for found in matching_files(source)? {
                let path = match found {
                    Found::File(path) => path,
                    Found::Refused(path, why) => {
                        let name = path.display().to_string();
                        return self
                            .stop(
                                AlertKind::FileError,
                                format!("{name}: refused: {why}"),
                                json!({"file": name}),
                            )
                            .await;
                    }
                };
                let hash = self.hash_file(&path).await?;
                listed.push((source, path, hash));
            }
        }
        let hashes: Vec<ContentHash> = listed.iter().map(|(_, _, hash)| hash.clone()).collect();
        let marks = self.store.ingest_marks(&hashes, self.as_of).await?;
        let mut files = Vec::new();
        let mut accruals = Accruals::default();
        for ((source, path, hash), mark) in listed.into_iter().zip(marks) {
            // A file an earlier run took only in part (it had rows after that run's day): take
            // only the rows after that day now, so re-reading it never reverts a restatement
            // that a newer file made in between.
            let taken_through = match mark {
                Some(IngestMark::Whole) => {
                    tracing::info!(file = %path.display(), "already ingested; skipped");
                    continue;
                }
                Some(IngestMark::Through(day)) => Some(day),
                None => None,
            };
            let file = self
                .ingest_file(source, &path, hash, taken_through, &mut accruals)
                .await?;
            self.add(Count::Records, file.records);
            self.add(Count::RejectedRows, file.rejected);
            self.add(Count::FutureRows, file.future);
            self.progress.advance(file.records);
            files.push(file);
        }
        self.check_rejected_rows(&files).await?;
        Ok(Ingested {
            files,
            accruals: accruals.into_list(),
        })
    }

    /// Reads a file, or stops the run with a `file_error`.
    async fn read_file(&self, path: &std::path::Path) -> Result<Vec<u8>, PipelineError> {
        // On a blocking thread: an export may be large, its disk slow.
        let owned = path.to_owned();
        let read = tokio::task::spawn_blocking(move || std::fs::read(owned))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match read {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                let name = path.display().to_string();
                self.stop(
                    AlertKind::FileError,
                    format!("{name}: cannot read: {e}"),
                    json!({"file": name}),
                )
                .await
            }
        }
    }

    /// A file's content hash.
    async fn hash_file(&self, path: &std::path::Path) -> Result<ContentHash, PipelineError> {
        let bytes = self.read_file(path).await?;
        Ok(ContentHash::from_digest(Sha256::digest(&bytes).into()))
    }

    /// Reads one file (whose content hashed to `hash` when the run listed it) into
    /// `accruals`, skipping rows on or before `taken_through`.
    async fn ingest_file(
        &self,
        source: &Source,
        path: &std::path::Path,
        hash: ContentHash,
        taken_through: Option<kudos_core::Day>,
        accruals: &mut Accruals,
    ) -> Result<IngestedFile, PipelineError> {
        let name = path.display().to_string();
        let bytes = self.read_file(path).await?;
        if ContentHash::from_digest(Sha256::digest(&bytes).into()) != hash {
            return self
                .stop(
                    AlertKind::FileError,
                    format!("{name}: changed while the run was reading it; run again"),
                    json!({"file": name}),
                )
                .await;
        }
        let mut file = IngestedFile {
            name: name.clone(),
            hash,
            records: 0,
            rejected: 0,
            future: 0,
        };
        let records = match kudos_wfm::Records::from_bytes(&name, bytes, &source.options) {
            Ok(r) => r,
            Err(e) => {
                // Never the file's own text: a file error reaches logs, alerts and the audit
                // trail (a CSV without its header starts with a person's data).
                return self
                    .stop(AlertKind::FileError, e.redacted(), json!({"file": name}))
                    .await;
            }
        };
        let mut events = Vec::new();
        for item in records {
            let record = match item {
                Ok(r) => r,
                Err(WfmError::Row(row)) => {
                    // Where and why, without the cell's text (it may be personal data).
                    tracing::warn!(file = %name, "rejected row: {}", row.redacted());
                    file.rejected += 1;
                    continue;
                }
                Err(e) => {
                    return self
                        .stop(AlertKind::FileError, e.redacted(), json!({"file": name}))
                        .await;
                }
            };
            if taken_through.is_some_and(|through| record.day <= through) {
                continue;
            }
            if record.day > self.as_of {
                file.future += 1;
                continue;
            }
            events.clear();
            if let Err(e) = self.parts.rules.evaluate_into(&record, &mut events) {
                // The agent by pseudonym, never its id; nor the cell's value.
                let reason = match &e {
                    kudos_rules::RuleError::Overflow { rule, day, .. } => format!(
                        "rule {rule}, day {day}: the value gives points beyond the integer range"
                    ),
                    other => other.to_string(),
                };
                tracing::warn!(
                    file = %name,
                    line = record.origin.line,
                    agent = %self.pseudonym(&record.agent),
                    "rejected row: {reason}"
                );
                file.rejected += 1;
                continue;
            }
            file.records += 1;
            for event in events.drain(..) {
                let expires = self.parts.rules.expiry(event.day()).map_err(|e| {
                    PipelineError::Config(format!("{name}:{}: {e}", record.origin.line))
                })?;
                self.bump(Count::Events);
                let agent = event.agent().clone();
                accruals.push(&agent, Command::Accrue { event, expires });
            }
        }
        Ok(file)
    }

    /// Alerts on rejected rows, and stops the run when they are above `max_bad_row_ratio`.
    async fn check_rejected_rows(&self, files: &[IngestedFile]) -> Result<(), PipelineError> {
        let rejected = self.counts.get(Count::RejectedRows);
        if rejected == 0 {
            return Ok(());
        }
        let total = rejected + self.counts.get(Count::Records) + self.counts.get(Count::FutureRows);
        #[allow(clippy::cast_precision_loss, reason = "a ratio of row counts")]
        let ratio = rejected as f64 / total as f64;
        let data = json!({"rejected_rows": rejected, "rows": total, "ratio": ratio,
            "files": files.iter().filter(|f| f.rejected > 0).map(|f| json!({"file": f.name, "rejected_rows": f.rejected})).collect::<Vec<_>>()});
        if ratio > self.parts.settings.max_bad_row_ratio {
            return self
                .stop(
                    AlertKind::RejectedRows,
                    format!(
                        "{rejected} of {total} rows rejected, above max_bad_row_ratio {}",
                        self.parts.settings.max_bad_row_ratio
                    ),
                    data,
                )
                .await;
        }
        self.alert(
            AlertKind::RejectedRows,
            format!("{rejected} of {total} rows rejected (see the log for file and line)"),
            data,
        )
        .await;
        Ok(())
    }

    /// Raises the alert and stops the run before any write to the ledger.
    pub(super) async fn stop<T>(
        &self,
        kind: AlertKind,
        reason: String,
        data: serde_json::Value,
    ) -> Result<T, PipelineError> {
        self.alert(kind, reason.clone(), data).await;
        Err(PipelineError::Stopped {
            reason,
            summary: Box::new(self.counts.summary(self.run_id)),
        })
    }
}

/// What a source's glob found: a file to read, or one refused and why.
enum Found {
    File(PathBuf),
    Refused(PathBuf, &'static str),
}

/// The directory a glob pattern lists: its components up to the first with a wildcard (for a
/// pattern without one, the file's own directory).
fn source_root(pattern: &Path) -> PathBuf {
    let literal: PathBuf = pattern
        .components()
        .take_while(|c| {
            !c.as_os_str()
                .to_string_lossy()
                .contains(['*', '?', '[', '{'])
        })
        .collect();
    if literal == pattern {
        return pattern.parent().map(Path::to_owned).unwrap_or_default();
    }
    literal
}

/// Whether a matched path may be read: what it resolves to (every symbolic link on the way
/// followed — in its name or in a directory above it) must be inside the source's directory
/// and a regular file. Directories are passed over; anything else is refused (a link out of
/// the directory — a mounted secret, say — a pipe, a socket, a device). The check and the read
/// are two steps: whoever can write the exports folder is trusted not to swap a file between
/// them.
fn admit(path: PathBuf, root: Option<&Path>) -> Option<Found> {
    let Ok(target) = std::fs::canonicalize(&path) else {
        return Some(Found::Refused(
            path,
            "a symbolic link to nothing, or unreadable",
        ));
    };
    if !root.is_some_and(|root| target.starts_with(root)) {
        return Some(Found::Refused(
            path,
            "a symbolic link that leaves the source's directory",
        ));
    }
    match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => None,
        Ok(m) if m.is_file() => Some(Found::File(path)),
        Ok(_) => Some(Found::Refused(
            path,
            "not a regular file (a pipe, a socket or a device)",
        )),
        Err(_) => Some(Found::Refused(path, "it cannot be inspected")),
    }
}

/// The files a source's glob matches, sorted by name (a later file restates an earlier one).
fn matching_files(source: &Source) -> Result<Vec<Found>, PipelineError> {
    let pattern = source.pattern.display().to_string();
    let root = std::fs::canonicalize(source_root(&source.pattern)).ok();
    let mut matches: Vec<PathBuf> = glob::glob(&pattern)
        .map_err(|e| PipelineError::Config(format!("source {pattern}: {e}")))?
        .filter_map(Result::ok)
        .collect();
    matches.sort();
    let found: Vec<Found> = matches
        .into_iter()
        .filter_map(|path| admit(path, root.as_deref()))
        .collect();
    if found.is_empty() {
        tracing::info!(source = %pattern, "no file matches this source");
    }
    Ok(found)
}
