//! The run: recover ► recheck ► ingest ► points ► accrue ► clawback ► hold ► issue ► settle ► report
//! (the issue step beside the accrue step, each agent once its events are in: `gate`).
//!
//! One file per responsibility: this module holds the [`Pipeline`], its [`Parts`] and the
//! wiring of one run ([`Run`]); each step has its own file (`recover`, `recheck`, `ingest`, `accrue`,
//! `clawback`, `issue`, `settle`), as do a reversal's life on the marketplace (`reversal`), the leases, the outbound payload, the report and
//! metrics, progress, the operator's actions and the errors.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use kudos_client::RewardProvider;
use kudos_core::{AgentId, Clock, Day, TxnId};
use kudos_ledger::{Account, Ledger, RunStore};
use kudos_rules::RuleSet;
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::dry::{DryProvider, DryStore};
use crate::telemetry;
use crate::{Alert, AlertKind, AlertSink, Alerts, AuditEvent, AuditSink, NullAudit, RunConfig};

mod accrue;
mod clawback;
mod controls;
mod error;
mod gate;
mod ingest;
mod issue;
mod lease;
mod operator;
mod payload;
mod programme;
mod progress;
mod recheck;
mod recover;
mod report;
mod reversal;
mod settle;
mod spend;

pub use error::PipelineError;
pub(crate) use error::error_chain;
pub use ingest::Source;
pub use operator::{Operator, ReviewKind};
pub use payload::{PayloadSettings, RecipientSettings};
pub use progress::{NoProgress, Progress};
pub use report::{Metrics, Summary};
pub use spend::{Disagreement, SpendLine, SpendReport, Tally};

use lease::AbortOnDrop;
use report::{Count, Counters};

/// How many accounts are loaded or accrued together.
const BATCH: usize = 1000;

/// How many agents' holds an issuing round makes together, and the most answers it settles
/// together.
const SLICE: usize = 500;

/// One run's options: `RunOptions::new(day)`, then what differs from the defaults
/// (`.dry_run(true)`). Options are added without a breaking change (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RunOptions {
    /// The run's day: records after it are left for later, holds are made on it.
    pub as_of: Day,
    /// Compute what the run would do from a copy of the state; write and send nothing.
    pub dry_run: bool,
}

impl RunOptions {
    /// A real run on `as_of`.
    #[must_use]
    pub const fn new(as_of: Day) -> Self {
        Self {
            as_of,
            dry_run: false,
        }
    }

    /// A dry run when `yes`: the run works on a copy of the state and sends nothing.
    #[must_use]
    pub const fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// What a pipeline is made of: [`Parts::new`] with what has no default, then the builder
/// methods (fields may be added in a minor release).
#[derive(Debug)]
#[non_exhaustive]
pub struct Parts {
    /// `[run]`.
    pub settings: RunConfig,
    /// `[[source]]`.
    pub sources: Vec<Source>,
    /// The rule set.
    pub rules: RuleSet,
    /// The store: the ledger's, with the run's leases and ingest log.
    pub store: Arc<dyn RunStore>,
    /// The marketplace.
    pub provider: Arc<dyn RewardProvider>,
    /// Where alerts go.
    pub alerts: Arc<dyn AlertSink>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Request bodies.
    pub payload: PayloadSettings,
    /// The programme owner's controls: prices, budgets, approvals, the funding floor.
    pub controls: crate::Controls,
}

impl Parts {
    /// The parts with no default: the rule set, the store, the marketplace, the clock and how
    /// request bodies are built. `[run]` settings are the defaults, there is no source, and
    /// alerts are only logged, until the builder methods say otherwise.
    #[must_use]
    pub fn new(
        rules: RuleSet,
        store: Arc<dyn RunStore>,
        provider: Arc<dyn RewardProvider>,
        clock: Arc<dyn Clock>,
        payload: PayloadSettings,
    ) -> Self {
        Self {
            settings: RunConfig::default(),
            sources: Vec::new(),
            rules,
            store,
            provider,
            alerts: Arc::new(Alerts::log_only()),
            clock,
            payload,
            controls: crate::Controls::default(),
        }
    }

    /// The programme owner's controls (none by default).
    #[must_use]
    pub fn controls(mut self, controls: crate::Controls) -> Self {
        self.controls = controls;
        self
    }

    /// The `[run]` settings.
    #[must_use]
    pub fn settings(mut self, settings: RunConfig) -> Self {
        self.settings = settings;
        self
    }

    /// The `[[source]]`s.
    #[must_use]
    pub fn sources(mut self, sources: Vec<Source>) -> Self {
        self.sources = sources;
        self
    }

    /// Where alerts go.
    #[must_use]
    pub fn alerts(mut self, alerts: Arc<dyn AlertSink>) -> Self {
        self.alerts = alerts;
        self
    }
}

/// The run, ready to go: [`Pipeline::run`] once a day (or an hour).
#[derive(Debug)]
pub struct Pipeline {
    parts: Parts,
    totals: Counters,
}

impl Pipeline {
    /// A pipeline from its parts.
    #[must_use]
    pub fn new(parts: Parts) -> Self {
        Self {
            parts,
            totals: Counters::default(),
        }
    }

    /// Counters over every run so far, and the client's.
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        Metrics::from_totals(&self.totals, &self.parts.provider.stats())
    }

    /// Runs once. Every state change goes to `audit` before the next step.
    ///
    /// With `dry_run`, the run works on a copy of the state in memory, against a marketplace
    /// that issues and reverses everything; nothing is written to the store or to `audit`, and
    /// nothing is sent.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Stopped`] (a file error or too many rejected rows, before any hold),
    /// a store or audit failure.
    pub async fn run(
        &self,
        audit: Box<dyn AuditSink>,
        options: RunOptions,
        progress: &dyn Progress,
    ) -> Result<Summary, PipelineError> {
        let run_id = audit.run_id();
        let wiring = if options.dry_run {
            Wiring {
                store: Arc::new(DryStore::copy_of(self.parts.store.clone()).await?),
                provider: Arc::new(DryProvider),
                alerts: Arc::new(Alerts::log_only()),
                audit: Box::new(NullAudit::new(run_id)),
            }
        } else {
            self.real_wiring(audit)
        };
        let run = self.start(wiring, options, progress);
        let span =
            tracing::info_span!("run", %run_id, as_of = %options.as_of, dry_run = options.dry_run);
        run.go().instrument(span).await
    }

    /// The pipeline's own parts, and `audit`.
    fn real_wiring(&self, audit: Box<dyn AuditSink>) -> Wiring {
        Wiring {
            store: self.parts.store.clone(),
            provider: self.parts.provider.clone(),
            alerts: self.parts.alerts.clone(),
            audit,
        }
    }

    /// A run (or an operator's action) over `wiring`.
    fn start<'a>(
        &'a self,
        wiring: Wiring,
        options: RunOptions,
        progress: &'a dyn Progress,
    ) -> Run<'a> {
        let run_id = wiring.audit.run_id();
        Run {
            parts: &self.parts,
            totals: &self.totals,
            ledger: Arc::new(Ledger::new(wiring.store.clone(), self.parts.clock.clone())),
            store: wiring.store,
            provider: wiring.provider,
            alerts: wiring.alerts,
            audit: AsyncMutex::new(Trail {
                sink: wiring.audit,
                linked: false,
            }),
            run_id,
            owner: run_id.to_string(),
            as_of: options.as_of,
            dry_run: options.dry_run,
            counts: Counters::default(),
            leases: Arc::new(Mutex::new(BTreeSet::new())),
            lost: Arc::new(Mutex::new(BTreeSet::new())),
            progress,
            pause: std::sync::OnceLock::new(),
            funds: Mutex::new(None),
            unfunded: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            low_alerted: std::sync::atomic::AtomicBool::new(false),
            waits: Mutex::new(Vec::new()),
            round: std::sync::atomic::AtomicUsize::new(0),
            unfunded_agents: Mutex::new(Vec::new()),
            debtors: Mutex::new(Vec::new()),
            held_accounts: Mutex::new(std::collections::HashMap::new()),
            accrual: gate::Gate::default(),
        }
    }
}

/// What a run works with: the pipeline's own parts, or a dry run's stand-ins.
struct Wiring {
    store: Arc<dyn RunStore>,
    provider: Arc<dyn RewardProvider>,
    alerts: Arc<dyn AlertSink>,
    audit: Box<dyn AuditSink>,
}

/// A run's audit sink, linked to the trail's head before its first record and anchored in
/// the store after every write.
struct Trail {
    sink: Box<dyn AuditSink>,
    linked: bool,
}

/// One run (or one operator action) in progress: the parts it works with, its counters and
/// the leases it holds.
struct Run<'a> {
    parts: &'a Parts,
    /// The pipeline's counters over every run (for [`Pipeline::metrics`]).
    totals: &'a Counters,
    store: Arc<dyn RunStore>,
    /// Shared with the accrue step's tasks.
    ledger: Arc<Ledger<Arc<dyn RunStore>>>,
    provider: Arc<dyn RewardProvider>,
    alerts: Arc<dyn AlertSink>,
    audit: AsyncMutex<Trail>,
    run_id: Uuid,
    /// The run id as a lease owner.
    owner: String,
    as_of: Day,
    dry_run: bool,
    /// This run's counters (for its [`Summary`]).
    counts: Counters,
    /// The holds this run holds a lease on (renewed in the background, ended with the run).
    leases: Arc<Mutex<BTreeSet<TxnId>>>,
    /// Holds whose lease this run lost (another run took them): never sent by this run.
    lost: Arc<Mutex<BTreeSet<TxnId>>>,
    progress: &'a dyn Progress,
    /// The pause switch, read at the start of the run.
    pause: std::sync::OnceLock<Option<kudos_ledger::Pause>>,
    /// What this round may still spend, from the marketplace's balance (`None`: no limit).
    funds: Mutex<Option<kudos_core::Money>>,
    /// Whether the marketplace answered `402` this run: no new hold.
    unfunded: Arc<std::sync::atomic::AtomicBool>,
    /// Whether the low-balance alert was raised this run.
    low_alerted: std::sync::atomic::AtomicBool,
    /// Rewards that waited this run (on a budget or funds), with the round they waited in.
    waits: Mutex<Vec<(usize, kudos_ledger::Waiting)>>,
    /// The issuing round under way.
    round: std::sync::atomic::AtomicUsize,
    /// Agents whose hold a `402` released.
    unfunded_agents: Mutex<Vec<AgentId>>,
    /// Agents in debt the issue step found, for the clawback step.
    debtors: Mutex<Vec<clawback::Debtor>>,
    /// Accounts as this round's holds left them, by hold: what settling the answers plans
    /// on (a moved account is met as a conflict, reloaded and retried).
    held_accounts: Mutex<std::collections::HashMap<TxnId, Account>>,
    /// How far this run's accrue step is, for the issue step beside it.
    accrual: gate::Gate,
}

impl Run<'_> {
    fn bump(&self, count: Count) {
        self.add(count, 1);
    }

    fn add(&self, count: Count, n: u64) {
        self.counts.add(count, n);
        self.totals.add(count, n);
    }

    /// Loads and folds several accounts in one store call.
    async fn accounts(&self, agents: &[AgentId]) -> Result<Vec<Account>, PipelineError> {
        let accounts = self.ledger.accounts(agents).await?;
        Ok(accounts.into_iter().collect::<Result<_, _>>()?)
    }

    async fn audit(&self, event: AuditEvent) -> Result<(), PipelineError> {
        self.audit_many(std::slice::from_ref(&event)).await
    }

    /// Writes `events` to the audit trail, then anchors the chain's head in the store. The
    /// first write links the run's chain to the trail's head (the anchor moved last), and
    /// refuses to write unkeyed records on a keyed trail.
    async fn audit_many(&self, events: &[AuditEvent]) -> Result<(), PipelineError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut trail = self.audit.lock().await;
        let name = trail.sink.trail();
        if !trail.linked {
            if let Some(head) = self.store.latest_anchor(&name).await? {
                if let Some(key) = &head.key_id
                    && !self.dry_run
                    && trail.sink.key_id().is_none()
                {
                    return Err(PipelineError::Audit(crate::AuditError::Key {
                        reason: format!(
                            "the audit trail is keyed (key {key}, run {}) and this run has no \
                             audit key: give [audit] key_env or key_file",
                            head.run_id
                        ),
                    }));
                }
                trail.sink.link_to(
                    crate::Link {
                        run_id: head.run_id,
                        seq: head.records,
                    },
                    &head.head,
                );
            }
            trail.linked = true;
        }
        if let [event] = events {
            trail.sink.append(event).await?;
        } else {
            trail.sink.append_many(events).await?;
        }
        if let Some(head) = trail.sink.head() {
            self.store
                .anchor(&kudos_ledger::AuditAnchor {
                    trail: name,
                    run_id: self.run_id,
                    key_id: head.key_id,
                    records: head.seq,
                    head: head.hash,
                    at: self.now(),
                })
                .await?;
        }
        Ok(())
    }

    async fn alert(&self, kind: AlertKind, message: String, data: Value) {
        self.bump(Count::Alerts);
        let alert = Alert {
            kind,
            run_id: self.run_id,
            message,
            data,
        };
        self.alerts.alert(&alert).await;
    }

    fn pseudonym(&self, agent: &AgentId) -> String {
        self.parts.payload.pseudonyms.pseudonym(agent)
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.parts.clock.now()
    }

    /// How long a lease lasts (on the store's clock).
    fn lease_length(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.parts.settings.lease_secs.max(1))
    }

    async fn go(&self) -> Result<Summary, PipelineError> {
        let started = self.parts.clock.now();
        let result = self.go_and_report().await;
        if !self.dry_run {
            let ended = match &result {
                Ok(_) => telemetry::Ended::Finished,
                Err(PipelineError::Stopped { .. }) => telemetry::Ended::Stopped,
                Err(_) => telemetry::Ended::Failed,
            };
            let now = self.parts.clock.now();
            let duration = (now - started).to_std().unwrap_or_default();
            let summary = self.counts.summary(self.run_id);
            let unresolved = self.unresolved().await;
            telemetry::run_ended(&summary, ended, duration, now.timestamp(), unresolved);
        }
        result
    }

    /// The store's unresolved holds and reversals, for the gauges (`None` if unreadable).
    async fn unresolved(&self) -> Option<telemetry::Unresolved> {
        use kudos_ledger::{HoldState, ReversalState};
        Some(telemetry::Unresolved {
            holds_in_doubt: self.store.holds(Some(HoldState::InDoubt)).await.ok()?.len(),
            holds_review: self.store.holds(Some(HoldState::Review)).await.ok()?.len(),
            holds_awaiting_approval: self
                .store
                .holds(Some(HoldState::AwaitingApproval))
                .await
                .ok()?
                .len(),
            reversals_in_doubt: self
                .store
                .reversals(Some(ReversalState::InDoubt))
                .await
                .ok()?
                .len(),
            reversals_review: self
                .store
                .reversals(Some(ReversalState::Review))
                .await
                .ok()?
                .len(),
        })
    }

    async fn go_and_report(&self) -> Result<Summary, PipelineError> {
        self.audit(AuditEvent::RunStarted {
            as_of: self.as_of,
            dry_run: self.dry_run,
        })
        .await?;
        // Stops renewing when the run ends — or when its future is dropped (a caller's timeout,
        // a shutdown): a dropped run's leases then lapse, and the next run takes its holds up.
        let renewer = AbortOnDrop(self.spawn_renewer());
        let result = self.steps().await;
        drop(renewer);
        self.lapse_leases().await;
        // Send what the alert sinks held back for this run (bounded by their deadline).
        self.alerts.flush(self.run_id).await;
        let summary = self.counts.summary(self.run_id);
        match result {
            Ok(()) => {
                self.audit(AuditEvent::RunFinished(summary.clone())).await?;
                tracing::info!(
                    issued = summary.issued,
                    rejected = summary.rejected,
                    in_doubt = summary.in_doubt,
                    review = summary.review,
                    retries = self.provider.stats().retries,
                    "run finished"
                );
                Ok(summary)
            }
            Err(PipelineError::Stopped { reason, .. }) => {
                self.audit(AuditEvent::RunStopped {
                    reason: reason.clone(),
                    summary,
                })
                .await?;
                Err(PipelineError::Stopped {
                    reason,
                    summary: Box::new(self.counts.summary(self.run_id)),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn steps(&self) -> Result<(), PipelineError> {
        self.load_pause().await?;
        self.recover()
            .instrument(tracing::info_span!("recover"))
            .await?;
        self.recheck()
            .instrument(tracing::info_span!("recheck"))
            .await?;
        let ingested = self
            .ingest()
            .instrument(tracing::info_span!("ingest"))
            .await?;
        // Every agent in the ledger, and every agent this run accrues for (in id order).
        let mut agents = self.store.agents().await?;
        agents.extend(ingested.accruals.iter().map(|work| work.agent.clone()));
        agents.sort_unstable();
        agents.dedup();
        // The issue step runs beside the accrue step: an agent's reward is decided once its
        // events of this run are appended (the gate), so that the requests, bound by the
        // marketplace's latency, start after the first batch rather than after the last
        // (decision 0028). The issue step's first round loads every account, and notes the
        // agents in debt on the way; their reversals are requested after it (an agent in
        // debt is never issued anything, so the order between the two changes nothing but a
        // pass over the ledger).
        self.accrual.close(&ingested.accruals);
        let accrue = async {
            let accrued = self.accrue(ingested).await;
            self.accrual.end(accrued.is_ok());
            self.progress.finished("accrue");
            accrued
        };
        let (accrued, issued) = futures_util::future::join(
            accrue.instrument(tracing::info_span!("accrue")),
            self.issue(&agents).instrument(tracing::info_span!("issue")),
        )
        .await;
        // A failed accrual is the run's error: the issue step made no hold after it.
        accrued?;
        issued?;
        self.clawback()
            .instrument(tracing::info_span!("clawback"))
            .await
    }
}
