//! The Kudos run, and the audit trail it writes.
//!
//! # Overview
//!
//! The run (recover ► ingest ► points ► accrue ► clawback ► hold ► issue ► settle ► report)
//! appends every state change to an audit sink before taking the next step. Built so far is
//! that audit trail: [`AuditLog`] writes JSON Lines, one hash chain per run (`run_id`, `seq`,
//! `prev`, `hash`), each line in one `write` so concurrent runs can share a file, and
//! [`verify`] checks every chain in a file for an edit or a gap.
//!
//! # Example
//!
//! ```
//! use kudos_pipeline::{AuditLog, verify};
//! let path = std::env::temp_dir().join(format!("kudos-audit-doc-{}.jsonl", std::process::id()));
//! # let _ = std::fs::remove_file(&path);
//! let mut run = AuditLog::open(&path, uuid::Uuid::from_u128(1))?;
//! run.append("run_started", serde_json::json!({"as_of": "2026-03-04"}))?;
//! run.append("hold_made", serde_json::json!({"txn_id": "…", "tier": "gift-card-50"}))?;
//! let report = verify(&path)?;
//! assert_eq!((report.runs, report.records), (1, 2));
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *The intent before the request.* A hold is audited before its request is sent, so an
//!   operator can always find what may have gone out.
//! - *One write per line* (`O_APPEND`): lines from concurrent runs interleave but never tear.
//! - *Chains, not a file hash*: each run's records link to the previous one of the same run,
//!   so runs sharing a file verify independently.

mod alert;
mod audit;
mod config;
mod directory;
mod dry;
#[cfg(feature = "object-store")]
mod object;
mod run;
mod setup;

pub use alert::{Alert, AlertKind, AlertSink, Alerts, LogAlerts, WebhookAlerts};
pub use audit::{
    AuditError, AuditLog, AuditRecord, AuditSink, Chain, NullAudit, VerifyReport, verify,
};
pub use config::{
    AuditTarget, ClientIdSetting, Config, ConfigError, MarketplaceConfig, PrivacyConfig, RunConfig,
    SourceConfig, StoreConfig,
};
pub use directory::{FileDirectory, RecipientDirectory};
#[cfg(feature = "object-store")]
pub use object::ObjectStoreAudit;
pub use run::{
    Metrics, NoProgress, Parts, PayloadSettings, Pipeline, PipelineError, Progress,
    RecipientSettings, RunOptions, Source, Summary,
};
