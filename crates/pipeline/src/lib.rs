//! The Kudos run: recover ► recheck ► ingest ► points ► accrue ► clawback ► hold ► issue ► settle ►
//! report, with its audit trail and alerts.
//!
//! # Overview
//!
//! A [`Pipeline`] is built from [`Parts`] — the rule set, a [`kudos_ledger::RunStore`], a
//! [`kudos_client::RewardProvider`], an [`AlertSink`], a clock and how request bodies are made —
//! or from a `kudos.toml` with [`Pipeline::from_config`]. [`Pipeline::run`] then does one run
//! (`docs/reference/run.md`) and returns its [`Summary`]:
//!
//! 1. **Recover** holds of earlier runs: in doubt, or open with a lapsed lease (a crashed run's),
//!    by a status lookup — issued → commit, rejected → release, unknown to the marketplace →
//!    re-send the stored bytes, else still in doubt (to review after
//!    `in_doubt_review_after_runs`).
//! 2. **Ingest** the sources (globs sorted by name; files already ingested skipped by content
//!    hash; records after `as_of` left for later). A file error, or rejected rows above
//!    `max_bad_row_ratio`, stops the run before any hold ([`PipelineError::Stopped`]).
//! 3. **Accrue** the rules' point events; **claw back** the latest redemption of an agent in
//!    debt; make **holds** for the highest affordable tier and **issue** them, `max_in_flight`
//!    at a time; **settle** each answer by the outcome table (`docs/reference/issuing.md#outcome-table`).
//!
//! Every state change goes to the [`AuditSink`] before the next step (a hold is on record
//! before its request is sent). [`AuditLog`] writes JSON Lines, one hash chain per run,
//! each line in one `write`, so concurrent runs share a file; [`verify`] checks every chain.
//!
//! # Example
//!
//! A run with a marketplace of your own (any [`kudos_client::RewardProvider`]):
//!
//! ```
//! use std::sync::Arc;
//! use kudos_client::{Outcome, ReverseOutcome, RewardProvider, StatusOutcome};
//! use kudos_core::{Day, ManualClock, TxnId};
//! use kudos_ledger::MemoryStore;
//! use kudos_pipeline::*;
//! use kudos_privacy::{Pseudonymizer, SecretString};
//!
//! #[derive(Debug)]
//! struct Yes; // a marketplace that issues everything
//! #[async_trait::async_trait]
//! impl RewardProvider for Yes {
//!     async fn issue(&self, _: TxnId, _: &[u8]) -> Outcome { Outcome::Issued { reward_id: "r".into() } }
//!     async fn status(&self, _: TxnId) -> StatusOutcome { StatusOutcome::NotFound }
//!     async fn reverse(&self, _: TxnId, _: TxnId, _: &[u8]) -> ReverseOutcome { ReverseOutcome::Reversed }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dir = std::env::temp_dir().join(format!("kudos-doc-run-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("day.csv"), "agent_id,date,metric,value\nagent-1,2026-03-02,sales,120\n")?;
//! let rules = kudos_rules::RuleSet::from_toml(
//!     "[[rule]]\nid = 'sales'\nmetric = 'sales'\nper_unit = 1\n\
//!      [[tier]]\nid = 'mug'\nreward_type = 'mug'\nthreshold = 100",
//! )?;
//! let pipeline = Pipeline::new(
//!     Parts::new(
//!         rules,
//!         Arc::new(MemoryStore::new()),
//!         Arc::new(Yes),
//!         Arc::new(ManualClock::at_rfc3339("2026-03-10T06:00:00Z")?),
//!         PayloadSettings::new(Pseudonymizer::new(SecretString::from("pseudonym key"))),
//!     )
//!     .sources(vec![Source { pattern: dir.join("*.csv"), options: Default::default() }])
//!     .alerts(Arc::new(LogAlerts)),
//! );
//! let audit = Box::new(NullAudit::new(uuid::Uuid::from_u128(1))); // or AuditLog::open(path, id)
//! let options = RunOptions::new(Day::parse("2026-03-10")?);
//! let summary = pipeline.run(audit, options, &NoProgress).await?;
//! assert_eq!((summary.records, summary.holds, summary.issued), (1, 1, 1));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *The intent before the request.* A hold and its request body are stored, and audited,
//!   before the request is sent; every retry and recovery sends the same bytes.
//! - *Leases, not locks.* A run leases the holds it works on and renews them every
//!   `lease_secs / 3`; a crashed run's holds are taken up once their lease lapses. Two runs on
//!   one ledger never issue a reward twice: the store admits one unresolved hold per agent.
//! - *Nothing personal leaves*: logs, audit records and alerts name agents by pseudonym.
//! - *Chains, not a file hash*: each run's audit records link to the previous one of the same
//!   run, so runs sharing a file verify independently; one write per line (`O_APPEND`).
//! - *Alerts are best effort*, the audit trail is the record: a webhook that cannot be reached
//!   is logged, and the run goes on.

mod alert;
mod alert_queue;
mod audit;
mod config;
mod controls;
mod directory;
mod dry;
mod event;
#[cfg(feature = "object-store")]
mod object;
mod run;
mod setup;
pub mod telemetry;

pub use alert::{Alert, AlertKind, AlertSink, Alerts, LogAlerts, WebhookAlerts};
pub use alert_queue::{QueueSettings, QueuedAlerts};
pub use audit::{
    AuditError, AuditKey, AuditLog, AuditRecord, AuditSink, Chain, ChainHead,
    FORMAT as AUDIT_FORMAT, Link, MIN_KEY_BYTES, NullAudit, Verifier, VerifyReport, verify,
    verify_file,
};
pub use config::{
    AuditKeys, AuditSettings, AuditTarget, ClientCertificate, ClientIdSetting, Config, ConfigError,
    GenesysLocation, GenesysSettings, MarketplaceConfig, PULL_KINDS, PrivacyConfig, RunConfig,
    SourceConfig, StoreConfig,
};
pub use controls::{Budget, Controls, Limits};
pub use directory::{DirectoryError, FileDirectory, GenesysDirectory, RecipientDirectory};
pub use event::{AnswerKind, AuditEvent};
#[cfg(feature = "object-store")]
pub use object::{ObjectStoreAudit, object_trail_name, probe_objects, verify_objects};
pub use run::{
    Disagreement, Metrics, NoProgress, Operator, Parts, PayloadSettings, Pipeline, PipelineError,
    Progress, RecipientSettings, ReviewKind, RunOptions, Source, SpendLine, SpendReport, Summary,
    Tally,
};
