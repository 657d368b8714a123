//! The run: recover ► ingest ► points ► accrue ► clawback ► hold ► issue ► settle ► report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::TimeDelta;
use futures_util::StreamExt as _;
use kudos_client::{
    Outcome, Recipient, ReverseOutcome, RewardProvider, StatusOutcome, issue_payload,
};
use kudos_core::{AgentId, Clock, Day, Tier, TxnId};
use kudos_ledger::{
    Account, Command, HoldState, HoldView, Ledger, LedgerError, LedgerStore, hold_view,
    transition_id,
};
use kudos_privacy::{PayloadPolicy, Pseudonymizer, RecipientCipher};
use kudos_rules::RuleSet;
use kudos_wfm::{ParseOptions, WfmError};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex as AsyncMutex;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::dry::{DryProvider, DryStore};
use crate::{Alert, AlertKind, AlertSink, Alerts, AuditError, AuditSink, NullAudit};
use crate::{RecipientDirectory, RunConfig};

/// How many accounts are loaded or accrued together.
const BATCH: usize = 1000;

/// How many agents' holds an issuing round makes together, and the most answers it settles
/// together.
const SLICE: usize = 500;

/// What stops a run, or fails it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The run stopped before any hold (a file error, too many rejected rows): nothing was
    /// lost; the next run takes the files again.
    #[error("the run stopped before issuing: {reason}")]
    Stopped {
        /// Why.
        reason: String,
        /// What the run had done.
        summary: Box<Summary>,
    },
    /// The store failed.
    #[error("store")]
    Store(#[from] LedgerError),
    /// The audit sink failed: the run stops, since it must not act without a record.
    #[error("audit")]
    Audit(#[from] AuditError),
    /// A setting is unusable (a bad glob, say).
    #[error("{0}")]
    Config(String),
    /// No hold has this transaction id.
    #[error("no hold {0}")]
    UnknownHold(TxnId),
    /// The hold cannot take this operator action.
    #[error("hold {txn} is {state}: {reason}")]
    NotReviewable {
        /// The hold.
        txn: TxnId,
        /// Its state.
        state: &'static str,
        /// Why not.
        reason: &'static str,
    },
}

/// The last line of `kudos run` (design §5): what the run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records ingested (dated on or before `--as-of`).
    pub records: u64,
    /// Rows rejected by the parser or the rules.
    pub rejected_rows: u64,
    /// Records dated after `--as-of`, left for a later run.
    pub future_rows: u64,
    /// Point events computed from the records.
    pub events: u64,
    /// Holds made.
    pub holds: u64,
    /// Rewards issued (holds committed), recovered ones included.
    pub issued: u64,
    /// Rewards the marketplace rejected.
    pub rejected: u64,
    /// Holds released (rejected rewards, and recovered holds the marketplace never issued).
    pub released: u64,
    /// Holds this run left in doubt.
    pub in_doubt: u64,
    /// Holds this run sent to review.
    pub review: u64,
    /// Redemptions reversed (clawback).
    pub reversed: u64,
    /// Holds of earlier runs this run resolved (committed or released).
    pub recovered: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// The run's id (also the audit chain's).
    pub run_id: Uuid,
}

impl Summary {
    /// Whether something needs an operator: rows rejected, or any alert.
    #[must_use]
    pub fn needs_attention(&self) -> bool {
        self.rejected_rows > 0 || self.alerts > 0 || self.in_doubt > 0 || self.review > 0
    }
}

#[derive(Debug, Clone, Copy)]
enum C {
    Records,
    RejectedRows,
    FutureRows,
    Events,
    Holds,
    Issued,
    Rejected,
    Released,
    InDoubt,
    Review,
    Reversed,
    Recovered,
    Alerts,
}

/// Counters: one set per run, one cumulative set per pipeline (for metrics).
#[derive(Debug, Default)]
struct Counters([AtomicU64; 13]);

impl Counters {
    fn add(&self, c: C, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, c: C) -> u64 {
        self.0[c as usize].load(Ordering::Relaxed)
    }

    fn summary(&self, run_id: Uuid) -> Summary {
        Summary {
            records: self.get(C::Records),
            rejected_rows: self.get(C::RejectedRows),
            future_rows: self.get(C::FutureRows),
            events: self.get(C::Events),
            holds: self.get(C::Holds),
            issued: self.get(C::Issued),
            rejected: self.get(C::Rejected),
            released: self.get(C::Released),
            in_doubt: self.get(C::InDoubt),
            review: self.get(C::Review),
            reversed: self.get(C::Reversed),
            recovered: self.get(C::Recovered),
            alerts: self.get(C::Alerts),
            run_id,
        }
    }
}

/// Counters an integrator can export (Prometheus, `OpenTelemetry`…): totals over every run of
/// this pipeline, and the marketplace client's retries and breaker state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// Rewards issued.
    pub issued: u64,
    /// Rewards rejected.
    pub rejected: u64,
    /// Holds left in doubt.
    pub in_doubt: u64,
    /// Holds sent to review.
    pub review: u64,
    /// Redemptions reversed.
    pub reversed: u64,
    /// Holds made.
    pub holds: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Requests the client sent again after a retryable failure.
    pub retries: u64,
    /// `closed`, `open`, `half_open`, or `unknown` when the provider has no breaker.
    pub breaker: &'static str,
}

/// A source of the run: a glob and how to parse what it matches.
#[derive(Debug, Clone)]
pub struct Source {
    /// The glob (absolute, or relative to the working directory).
    pub pattern: PathBuf,
    /// How to parse the files.
    pub options: ParseOptions,
}

/// The recipient fields a marketplace needs, sealed (design §3.5).
#[derive(Debug)]
pub struct RecipientSettings {
    /// The cipher (the recipient key).
    pub cipher: RecipientCipher,
    /// `privacy.recipient_fields`.
    pub fields: Vec<String>,
    /// Where they come from.
    pub directory: Arc<dyn RecipientDirectory>,
}

/// How reward request bodies are built.
#[derive(Debug)]
pub struct PayloadSettings {
    /// The keyed pseudonyms (`agent_id` in the body, and in logs, audit and alerts).
    pub pseudonyms: Pseudonymizer,
    /// `marketplace.metadata`.
    pub metadata: BTreeMap<String, String>,
    /// The outbound check.
    pub policy: PayloadPolicy,
    /// Recipient fields, when configured.
    pub recipient: Option<RecipientSettings>,
}

/// Shows the run's progress (a bar on a terminal, log lines otherwise). Every method has a
/// default that does nothing.
pub trait Progress: Send + Sync {
    /// A step begins; `total` items, when known.
    fn step(&self, name: &'static str, total: Option<u64>) {
        let _ = (name, total);
    }
    /// `n` items of the step are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// One run's options.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// The run's day: records after it are left for later, holds are made on it.
    pub as_of: Day,
    /// Compute what the run would do from a copy of the state; write and send nothing.
    pub dry_run: bool,
}

/// What a pipeline is made of.
#[derive(Debug)]
pub struct Parts {
    /// `[run]`.
    pub settings: RunConfig,
    /// `[[source]]`.
    pub sources: Vec<Source>,
    /// The rule set.
    pub rules: RuleSet,
    /// The ledger's store.
    pub store: Arc<dyn LedgerStore>,
    /// The marketplace.
    pub provider: Arc<dyn RewardProvider>,
    /// Where alerts go.
    pub alerts: Arc<dyn AlertSink>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Request bodies.
    pub payload: PayloadSettings,
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

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn LedgerStore> {
        &self.parts.store
    }

    /// Counters over every run so far, and the client's.
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        let stats = self.parts.provider.stats();
        Metrics {
            issued: self.totals.get(C::Issued),
            rejected: self.totals.get(C::Rejected),
            in_doubt: self.totals.get(C::InDoubt),
            review: self.totals.get(C::Review),
            reversed: self.totals.get(C::Reversed),
            holds: self.totals.get(C::Holds),
            alerts: self.totals.get(C::Alerts),
            retries: stats.retries,
            breaker: match stats.breaker {
                Some(kudos_client::BreakerState::Closed) => "closed",
                Some(kudos_client::BreakerState::Open) => "open",
                Some(kudos_client::BreakerState::HalfOpen) => "half_open",
                None => "unknown",
            },
        }
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
        let wiring: Wiring = if options.dry_run {
            (
                Arc::new(DryStore::copy_of(self.parts.store.clone()).await?),
                Arc::new(DryProvider),
                Arc::new(Alerts::log_only()),
                Box::new(NullAudit::new(run_id)),
            )
        } else {
            (
                self.parts.store.clone(),
                self.parts.provider.clone(),
                self.parts.alerts.clone(),
                audit,
            )
        };
        let run = self.start(wiring, options, progress);
        let span =
            tracing::info_span!("run", %run_id, as_of = %options.as_of, dry_run = options.dry_run);
        run.go().instrument(span).await
    }
}

impl Pipeline {
    /// `kudos review retry`: sends a hold's stored request again (the same bytes, the same
    /// idempotency key) and settles the answer as a run would; returns the hold afterwards.
    ///
    /// # Errors
    ///
    /// [`PipelineError::UnknownHold`], [`PipelineError::NotReviewable`] (resolved, or leased
    /// by a live run), a store or audit failure.
    pub async fn review_retry(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        day: Day,
    ) -> Result<HoldView, PipelineError> {
        let run = self.operator(audit, day);
        let (agent, hold) = run.claim(txn).await?;
        run.audit(
            "review_retry",
            json!({"txn_id": txn, "agent": run.pseudonym(&agent), "state": hold.state.name()}),
        )
        .await?;
        let account = run.ledger.account(&agent).await?;
        let payload = account
            .holds()
            .get(&txn)
            .map(|h| h.payload.clone())
            .unwrap_or_default();
        let outcome = run.provider.issue(txn, &payload).await;
        run.settle(&agent, txn, hold.attempts + 1, outcome, false)
            .await?;
        run.lapse_leases().await;
        run.view(&agent, txn).await
    }

    /// `kudos review settle`: an operator who checked with the marketplace says whether the
    /// reward was issued — the hold is committed, or released (its points return).
    ///
    /// # Errors
    ///
    /// As [`Pipeline::review_retry`].
    pub async fn review_settle(
        &self,
        audit: Box<dyn AuditSink>,
        txn: TxnId,
        issued: bool,
        day: Day,
    ) -> Result<HoldView, PipelineError> {
        let run = self.operator(audit, day);
        let (agent, hold) = run.claim(txn).await?;
        run.audit(
            "review_settled",
            json!({"txn_id": txn, "agent": run.pseudonym(&agent), "state": hold.state.name(), "issued": issued}),
        )
        .await?;
        if issued {
            run.resolve(&agent, Command::Commit { txn }).await?;
            run.audit("hold_committed", json!({"txn_id": txn})).await?;
        } else {
            run.resolve(&agent, Command::Release { txn, day }).await?;
            run.audit("hold_released", json!({"txn_id": txn})).await?;
        }
        run.lapse_leases().await;
        run.view(&agent, txn).await
    }

    fn operator(&self, audit: Box<dyn AuditSink>, day: Day) -> Run<'_> {
        let wiring: Wiring = (
            self.parts.store.clone(),
            self.parts.provider.clone(),
            self.parts.alerts.clone(),
            audit,
        );
        let options = RunOptions {
            as_of: day,
            dry_run: false,
        };
        self.start(wiring, options, &NoProgress)
    }

    /// A run (or an operator's action) over `wiring`.
    fn start<'a>(
        &'a self,
        (store, provider, alerts, audit): Wiring,
        options: RunOptions,
        progress: &'a dyn Progress,
    ) -> Run<'a> {
        let run_id = audit.run_id();
        Run {
            p: &self.parts,
            totals: &self.totals,
            ledger: Ledger::new(store.clone(), self.parts.clock.clone()),
            store,
            provider,
            alerts,
            audit: AsyncMutex::new(audit),
            run_id,
            owner: run_id.to_string(),
            as_of: options.as_of,
            dry_run: options.dry_run,
            counts: Counters::default(),
            leases: Arc::new(Mutex::new(BTreeSet::new())),
            progress,
        }
    }
}

/// What a run works with: the real parts, or a dry run's stand-ins.
type Wiring = (
    Arc<dyn LedgerStore>,
    Arc<dyn RewardProvider>,
    Arc<dyn AlertSink>,
    Box<dyn AuditSink>,
);

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One file read in the ingest step.
struct Ingested {
    name: String,
    hash: String,
    records: u64,
    rejected: u64,
    future: u64,
}

struct Run<'a> {
    p: &'a Parts,
    totals: &'a Counters,
    store: Arc<dyn LedgerStore>,
    ledger: Ledger<Arc<dyn LedgerStore>>,
    provider: Arc<dyn RewardProvider>,
    alerts: Arc<dyn AlertSink>,
    audit: AsyncMutex<Box<dyn AuditSink>>,
    run_id: Uuid,
    owner: String,
    as_of: Day,
    dry_run: bool,
    counts: Counters,
    leases: Arc<Mutex<BTreeSet<TxnId>>>,
    progress: &'a dyn Progress,
}

/// A hold made this round, about to be sent.
struct Made {
    agent: AgentId,
    txn: TxnId,
    tier: Tier,
    payload: Vec<u8>,
    /// Whether the balance left once this reward is paid still affords a tier.
    again: bool,
    /// The agent's pseudonym, for logs.
    who: String,
}

/// A marketplace answer, to settle.
struct Answered {
    agent: AgentId,
    txn: TxnId,
    attempts: u32,
    outcome: Outcome,
}

/// How an agent's issuing went on: issue the next reward or stop for this run.
enum Next {
    Continue,
    Stop,
}

impl Run<'_> {
    fn bump(&self, c: C) {
        self.counts.add(c, 1);
        self.totals.add(c, 1);
    }

    fn add(&self, c: C, n: u64) {
        self.counts.add(c, n);
        self.totals.add(c, n);
    }

    /// Loads and folds several accounts in one store call.
    async fn accounts(&self, agents: &[AgentId]) -> Result<Vec<Account>, PipelineError> {
        let accounts = self.ledger.accounts(agents).await?;
        Ok(accounts.into_iter().collect::<Result<_, _>>()?)
    }

    async fn audit(&self, event: &str, data: Value) -> Result<(), PipelineError> {
        self.audit.lock().await.append(event, data).await?;
        Ok(())
    }

    async fn audit_many(&self, records: Vec<(&'static str, Value)>) -> Result<(), PipelineError> {
        if !records.is_empty() {
            self.audit.lock().await.append_many(records).await?;
        }
        Ok(())
    }

    async fn alert(&self, kind: AlertKind, message: String, data: Value) {
        self.bump(C::Alerts);
        let alert = Alert {
            kind,
            run_id: self.run_id,
            message,
            data,
        };
        self.alerts.alert(&alert).await;
    }

    fn pseudonym(&self, agent: &AgentId) -> String {
        self.p.payload.pseudonyms.pseudonym(agent)
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.p.clock.now()
    }

    fn lease_len(&self) -> TimeDelta {
        TimeDelta::seconds(i64::try_from(self.p.settings.lease_secs.max(1)).unwrap_or(60))
    }

    async fn go(&self) -> Result<Summary, PipelineError> {
        self.audit(
            "run_started",
            json!({"as_of": self.as_of.to_string(), "dry_run": self.dry_run}),
        )
        .await?;
        // Stops renewing when the run ends — or when its future is dropped (a caller's timeout,
        // a shutdown): a dropped run's leases then lapse, and the next run takes its holds up.
        let renewer = AbortOnDrop(self.spawn_renewer());
        let result = self.steps().await;
        drop(renewer);
        self.lapse_leases().await;
        let summary = self.counts.summary(self.run_id);
        match result {
            Ok(()) => {
                self.audit(
                    "run_finished",
                    serde_json::to_value(&summary).unwrap_or(Value::Null),
                )
                .await?;
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
                self.audit(
                    "run_stopped",
                    json!({"reason": reason, "summary": serde_json::to_value(&summary).unwrap_or(Value::Null)}),
                )
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
        self.recover()
            .instrument(tracing::info_span!("recover"))
            .await?;
        let (files, work) = self
            .ingest()
            .instrument(tracing::info_span!("ingest"))
            .await?;
        self.accrue(&files, work)
            .instrument(tracing::info_span!("accrue"))
            .await?;
        let agents = self.store.agents().await?;
        self.clawback(&agents)
            .instrument(tracing::info_span!("clawback"))
            .await?;
        self.issue(&agents)
            .instrument(tracing::info_span!("issue"))
            .await
    }

    /// Renews the leases of the holds this run works on, every `lease_secs / 3`.
    fn spawn_renewer(&self) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let leases = self.leases.clone();
        let clock = self.p.clock.clone();
        let owner = self.owner.clone();
        let length = self.lease_len();
        let every = std::time::Duration::from_millis(
            (self.p.settings.lease_secs.max(1) * 1000 / 3).max(100),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let held: Vec<TxnId> = leases
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .copied()
                    .collect();
                let now = clock.now();
                if let Err(e) = store.lease_many(&held, &owner, now, now + length).await {
                    tracing::warn!(holds = held.len(), "cannot renew leases: {e}");
                }
            }
        })
    }

    fn hold_lease(&self, txn: TxnId) {
        self.leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(txn);
    }

    /// Ends this run's leases, so the next run can take up what it left (a lease that ends
    /// now has lapsed).
    async fn lapse_leases(&self) {
        let held: Vec<TxnId> =
            std::mem::take(&mut *self.leases.lock().unwrap_or_else(PoisonError::into_inner))
                .into_iter()
                .collect();
        let now = self.now();
        if let Err(e) = self.store.lease_many(&held, &self.owner, now, now).await {
            tracing::warn!(holds = held.len(), "cannot end leases: {e}");
        }
    }

    /// Finds an unresolved hold and leases it to this (operator) run.
    async fn claim(&self, txn: TxnId) -> Result<(AgentId, HoldView), PipelineError> {
        let agent = self
            .store
            .find(*txn.as_uuid())
            .await?
            .ok_or(PipelineError::UnknownHold(txn))?;
        let account = self.ledger.account(&agent).await?;
        let hold = hold_view(&account, txn).ok_or(PipelineError::UnknownHold(txn))?;
        if !hold.state.is_unresolved() {
            return Err(PipelineError::NotReviewable {
                txn,
                state: hold.state.name(),
                reason: "it is already resolved",
            });
        }
        let now = self.now();
        if !self
            .store
            .lease(txn, &self.owner, now, now + self.lease_len())
            .await?
        {
            return Err(PipelineError::NotReviewable {
                txn,
                state: hold.state.name(),
                reason: "a run is working on it right now; try again when it has finished",
            });
        }
        self.hold_lease(txn);
        Ok((agent, hold))
    }

    async fn view(&self, agent: &AgentId, txn: TxnId) -> Result<HoldView, PipelineError> {
        let account = self.ledger.account(agent).await?;
        hold_view(&account, txn).ok_or(PipelineError::UnknownHold(txn))
    }

    // ---------------------------------------------------------------- recover

    async fn recover(&self) -> Result<(), PipelineError> {
        let mut holds = self.store.holds(Some(HoldState::InDoubt)).await?;
        holds.extend(self.store.holds(Some(HoldState::Open)).await?);
        self.progress
            .step("recover", Some(u64::try_from(holds.len()).unwrap_or(0)));
        for hold in holds {
            self.progress.advance(1);
            if self.dry_run {
                tracing::info!(txn = %hold.txn, "would re-drive");
                continue;
            }
            let now = self.now();
            if hold.state == HoldState::Open
                && self.store.lease_of(hold.txn).await?.is_none()
                && hold.created_at + self.lease_len() > now
            {
                // Being made right now by another run (it leases it next).
                continue;
            }
            if !self
                .store
                .lease(hold.txn, &self.owner, now, now + self.lease_len())
                .await?
            {
                continue; // another live run has it
            }
            self.hold_lease(hold.txn);
            let span = tracing::info_span!("reward", txn = %hold.txn, agent = %self.pseudonym(&hold.agent));
            self.redrive(&hold).instrument(span).await?;
        }
        Ok(())
    }

    /// Re-drives one hold of an earlier run: a status lookup, then commit, release, re-send
    /// the stored payload, or keep it in doubt.
    async fn redrive(&self, hold: &HoldView) -> Result<(), PipelineError> {
        self.audit(
            "hold_recovering",
            json!({"txn_id": hold.txn, "agent": self.pseudonym(&hold.agent), "state": hold.state.name(), "attempts": hold.attempts}),
        )
        .await?;
        let attempts = hold.attempts + 1;
        let outcome = match self.provider.status(hold.txn).await {
            StatusOutcome::Issued { reward_id } => Outcome::Issued { reward_id },
            StatusOutcome::Rejected { reason } => Outcome::Rejected { reason },
            StatusOutcome::NotFound => {
                let account = self.ledger.account(&hold.agent).await?;
                let Some(payload) = account.holds().get(&hold.txn).map(|h| h.payload.clone())
                else {
                    return Ok(());
                };
                self.audit(
                    "request_sent",
                    json!({"txn_id": hold.txn, "attempt": attempts, "resend": true}),
                )
                .await?;
                self.provider.issue(hold.txn, &payload).await
            }
            StatusOutcome::Unknown { reason } => Outcome::InDoubt { reason },
        };
        self.settle(&hold.agent, hold.txn, attempts, outcome, true)
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- ingest

    /// Reads every source; returns the files read and each agent's accruals, in file order.
    async fn ingest(&self) -> Result<(Vec<Ingested>, Vec<(AgentId, Vec<Command>)>), PipelineError> {
        self.progress.step("ingest", None);
        let mut files = Vec::new();
        let mut order: Vec<AgentId> = Vec::new();
        let mut by_agent: HashMap<AgentId, Vec<Command>> = HashMap::new();
        let mut events = Vec::new();
        for source in &self.p.sources {
            let pattern = source.pattern.display().to_string();
            let mut matches: Vec<PathBuf> = glob::glob(&pattern)
                .map_err(|e| PipelineError::Config(format!("source {pattern}: {e}")))?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            matches.sort();
            if matches.is_empty() {
                tracing::info!(source = %pattern, "no file matches this source");
            }
            for path in matches {
                let name = path.display().to_string();
                let bytes = match std::fs::read(&path) {
                    Ok(b) => b,
                    Err(e) => {
                        return self
                            .stop(
                                AlertKind::FileError,
                                format!("{name}: cannot read: {e}"),
                                json!({"file": name}),
                            )
                            .await;
                    }
                };
                let hash: String = Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if self.store.ingested(&hash).await? {
                    tracing::info!(file = %name, "already ingested; skipped");
                    continue;
                }
                // A file an earlier run took only in part (it had rows after that run's day):
                // take only the rows after that day now, so re-reading it never reverts a
                // restatement that a newer file made in between.
                let taken_through = self.taken_through(&hash).await?;
                let mut file = Ingested {
                    name: name.clone(),
                    hash,
                    records: 0,
                    rejected: 0,
                    future: 0,
                };
                let records = match kudos_wfm::Records::from_reader(
                    &name,
                    std::io::Cursor::new(bytes),
                    &source.options,
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        return self
                            .stop(AlertKind::FileError, error_chain(&e), json!({"file": name}))
                            .await;
                    }
                };
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
                                .stop(AlertKind::FileError, error_chain(&e), json!({"file": name}))
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
                    if let Err(e) = self.p.rules.evaluate_into(&record, &mut events) {
                        tracing::warn!(file = %name, line = record.origin.line, "rejected row: {e}");
                        file.rejected += 1;
                        continue;
                    }
                    file.records += 1;
                    for event in events.drain(..) {
                        let expires = self.p.rules.expiry(event.day()).map_err(|e| {
                            PipelineError::Config(format!("{name}:{}: {e}", record.origin.line))
                        })?;
                        self.bump(C::Events);
                        let agent = event.agent().clone();
                        let list = by_agent.entry(agent.clone()).or_insert_with(|| {
                            order.push(agent);
                            Vec::new()
                        });
                        list.push(Command::Accrue { event, expires });
                    }
                }
                self.add(C::Records, file.records);
                self.add(C::RejectedRows, file.rejected);
                self.add(C::FutureRows, file.future);
                self.progress.advance(file.records);
                files.push(file);
            }
        }
        let rejected = self.counts.get(C::RejectedRows);
        let total = rejected + self.counts.get(C::Records) + self.counts.get(C::FutureRows);
        if rejected > 0 {
            #[allow(clippy::cast_precision_loss, reason = "a ratio of row counts")]
            let ratio = rejected as f64 / total as f64;
            let data = json!({"rejected_rows": rejected, "rows": total, "ratio": ratio,
                "files": files.iter().filter(|f| f.rejected > 0).map(|f| json!({"file": f.name, "rejected_rows": f.rejected})).collect::<Vec<_>>()});
            if ratio > self.p.settings.max_bad_row_ratio {
                return self
                    .stop(
                        AlertKind::RejectedRows,
                        format!(
                            "{rejected} of {total} rows rejected, above max_bad_row_ratio {}",
                            self.p.settings.max_bad_row_ratio
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
        }
        let work = order
            .into_iter()
            .map(|a| {
                let commands = by_agent.remove(&a).unwrap_or_default();
                (a, commands)
            })
            .collect();
        Ok((files, work))
    }

    /// The day through which an earlier run took a file in part, if one did: the latest
    /// `{hash}@{day}` mark on or before the run's day (looked for only when `{hash}@partial`
    /// exists). A run for an earlier day than the one that took the file in part finds none,
    /// and reads the file whole, as before.
    async fn taken_through(&self, hash: &str) -> Result<Option<Day>, PipelineError> {
        if !self.store.ingested(&format!("{hash}@partial")).await? {
            return Ok(None);
        }
        let mut day = self.as_of;
        for _ in 0..3660 {
            if self.store.ingested(&format!("{hash}@{day}")).await? {
                return Ok(Some(day));
            }
            let Ok(before) = day.add_days(-1) else { break };
            day = before;
        }
        Ok(None)
    }

    async fn stop<T>(
        &self,
        kind: AlertKind,
        reason: String,
        data: Value,
    ) -> Result<T, PipelineError> {
        self.alert(kind, reason.clone(), data).await;
        Err(PipelineError::Stopped {
            reason,
            summary: Box::new(self.counts.summary(self.run_id)),
        })
    }

    // ---------------------------------------------------------------- accrue

    async fn accrue(
        &self,
        files: &[Ingested],
        work: Vec<(AgentId, Vec<Command>)>,
    ) -> Result<(), PipelineError> {
        self.progress
            .step("accrue", Some(u64::try_from(work.len()).unwrap_or(0)));
        let mut failed = 0u64;
        for chunk in work.chunks(BATCH) {
            let results = self.ledger.execute_many(chunk).await?;
            let mut appended = 0u64;
            for ((agent, _), result) in chunk.iter().zip(results) {
                match result {
                    Ok(applied) => {
                        appended += applied.iter().filter(|a| a.appended).count() as u64;
                    }
                    Err(e) => {
                        failed += 1;
                        self.alert(
                            AlertKind::LedgerError,
                            format!("cannot accrue for an agent: {}", redact(&e, agent)),
                            json!({"agent": self.pseudonym(agent)}),
                        )
                        .await;
                    }
                }
            }
            self.audit(
                "accrued",
                json!({"agents": chunk.len(), "entries": appended}),
            )
            .await?;
            self.progress.advance(chunk.len() as u64);
        }
        for file in files {
            // A file whose accruals failed is taken again, whole, by the next run.
            if failed > 0 {
                continue;
            }
            if file.future > 0 {
                // Taken through the run's day; the rest waits (see `taken_through`).
                let now = self.now();
                self.store
                    .mark_ingested(&format!("{}@{}", file.hash, self.as_of), &file.name, now)
                    .await?;
                self.store
                    .mark_ingested(&format!("{}@partial", file.hash), &file.name, now)
                    .await?;
                self.audit(
                    "file_ingested_in_part",
                    json!({"file": file.name, "sha256": file.hash, "records": file.records,
                        "rejected_rows": file.rejected, "future_rows": file.future,
                        "through": self.as_of.to_string()}),
                )
                .await?;
                continue;
            }
            self.store
                .mark_ingested(&file.hash, &file.name, self.now())
                .await?;
            self.audit(
                "file_ingested",
                json!({"file": file.name, "sha256": file.hash, "records": file.records,
                    "rejected_rows": file.rejected}),
            )
            .await?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- clawback

    async fn clawback(&self, agents: &[AgentId]) -> Result<(), PipelineError> {
        self.progress.step("clawback", Some(agents.len() as u64));
        let window = TimeDelta::days(i64::from(self.p.settings.reversal_window_days));
        let now = self.now();
        for chunk in agents.chunks(BATCH) {
            for (agent, account) in chunk.iter().zip(self.accounts(chunk).await?) {
                if account.debt().get() <= self.p.settings.reversal_min_debt {
                    continue;
                }
                let candidate = account
                    .holds()
                    .values()
                    .filter(|h| h.state == HoldState::Committed && h.reversed_by.is_none())
                    .filter(|h| h.committed_at.is_some_and(|at| now - at < window))
                    .max_by_key(|h| h.committed_at);
                let Some(hold) = candidate else { continue };
                let of = hold.txn;
                let reversal = TxnId::from_uuid(transition_id(of, "reversal", 0));
                let span = tracing::info_span!("reversal", txn = %reversal, of = %of, agent = %self.pseudonym(agent));
                self.reverse(agent, of, reversal, account.debt().get())
                    .instrument(span)
                    .await?;
            }
            self.progress.advance(chunk.len() as u64);
        }
        Ok(())
    }

    async fn reverse(
        &self,
        agent: &AgentId,
        of: TxnId,
        reversal: TxnId,
        debt: i64,
    ) -> Result<(), PipelineError> {
        let who = self.pseudonym(agent);
        self.audit(
            "reversal_requested",
            json!({"txn_id": reversal, "of": of, "agent": who, "debt": debt}),
        )
        .await?;
        match self.provider.reverse(reversal, of).await {
            ReverseOutcome::Reversed => {
                match self
                    .ledger
                    .execute(
                        agent,
                        Command::Reverse {
                            txn: reversal,
                            of,
                            day: self.as_of,
                        },
                    )
                    .await
                {
                    Ok(_) => {
                        self.bump(C::Reversed);
                        self.audit("reversal_confirmed", json!({"txn_id": reversal, "of": of}))
                            .await?;
                    }
                    Err(e) => {
                        self.alert(
                            AlertKind::LedgerError,
                            format!(
                                "reversal {reversal} confirmed but not recorded: {}",
                                redact(&e, agent)
                            ),
                            json!({"txn_id": reversal, "of": of, "agent": who}),
                        )
                        .await;
                    }
                }
            }
            ReverseOutcome::NotReversible => {
                self.audit("reversal_refused", json!({"txn_id": reversal, "of": of}))
                    .await?;
                self.alert(
                    AlertKind::ReversalFailed,
                    format!("the marketplace cannot reverse {of}; the debt of {debt} stays"),
                    json!({"txn_id": reversal, "of": of, "agent": who, "debt": debt}),
                )
                .await;
            }
            ReverseOutcome::Failed { reason } => {
                self.audit(
                    "reversal_failed",
                    json!({"txn_id": reversal, "of": of, "reason": reason}),
                )
                .await?;
                self.alert(
                    AlertKind::ReversalFailed,
                    format!("reversal of {of} failed ({reason}); the debt of {debt} stays"),
                    json!({"txn_id": reversal, "of": of, "agent": who, "debt": debt}),
                )
                .await;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- thresholds, holds, issue

    /// Issues in rounds: every agent without an unresolved hold gets a hold for its highest
    /// affordable tier (made and leased in batches), the round's requests go out
    /// `max_in_flight` at a time, the answers are settled in batches; the agents whose reward
    /// was issued go round again, up to `max_rewards_per_agent_per_run` rounds.
    async fn issue(&self, agents: &[AgentId]) -> Result<(), PipelineError> {
        self.progress.step("issue", None);
        let in_flight = self.p.settings.max_in_flight.max(1);
        let mut due: Vec<AgentId> = agents.to_vec();
        let mut not_sent: Vec<AgentId> = Vec::new();
        for _ in 0..self.p.settings.max_rewards_per_agent_per_run {
            if due.is_empty() {
                break;
            }
            let mut next_round = Vec::new();
            for (agent, next, unsent) in self.issue_round(&due, in_flight).await? {
                match next {
                    Next::Continue => next_round.push(agent),
                    Next::Stop if unsent => not_sent.push(agent),
                    Next::Stop => {}
                }
            }
            due = next_round;
        }
        // What could not be sent gets one more try at the end of the run.
        let mut again = Vec::new();
        for agent in not_sent {
            let account = self.ledger.account(&agent).await?;
            let Some(hold) = account.unresolved_hold() else {
                continue;
            };
            if hold.state != HoldState::Open {
                continue;
            }
            let txn = hold.txn;
            let outcome = self.provider.issue(txn, &hold.payload).await;
            again.push(Answered {
                agent,
                txn,
                attempts: hold.attempts + 1,
                outcome,
            });
        }
        let still = again
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::NotSent { .. }))
            .count();
        self.settle_many(again, false).await?;
        if still > 0 {
            self.alert(
                AlertKind::CircuitOpen,
                format!("{still} rewards could not be sent (circuit open or nothing could be sent); their holds wait for the next run"),
                json!({"holds": still}),
            )
            .await;
        }
        Ok(())
    }

    /// One round: three stages at once, joined by bounded queues, so that the requests never
    /// wait for the ledger. Holds are made (and leased and audited) a slice of agents at a
    /// time, at most two slices ahead of the requests; the requests go out `in_flight` at a
    /// time as holds arrive; the answers are settled in batches of whatever has arrived while
    /// the previous batch was being written. Returns each agent with a hold, whether it may go
    /// on to another reward, and whether its request could not be sent.
    async fn issue_round(
        &self,
        due: &[AgentId],
        in_flight: usize,
    ) -> Result<Vec<(AgentId, Next, bool)>, PipelineError> {
        let (made_tx, made_rx) = tokio::sync::mpsc::channel::<Made>(2 * SLICE);
        let (answer_tx, mut answer_rx) = tokio::sync::mpsc::channel::<(Answered, bool)>(SLICE);
        let holds = async move {
            // A small first slice, so that the first requests wait for a few holds, not 500.
            let (head, rest) = due.split_at(due.len().min(SLICE / 10));
            for slice in std::iter::once(head).chain(rest.chunks(SLICE)) {
                for m in self.make_holds(slice).await? {
                    if made_tx.send(m).await.is_err() {
                        return Ok(()); // the round is failing: another stage returns its error
                    }
                }
            }
            Ok::<(), PipelineError>(())
        };
        // The requests run in a task of their own, so that the ledger work of the other two
        // stages (folding accounts, encoding entries) never keeps an answer waiting.
        let provider = Arc::clone(&self.provider);
        let mut requests = AbortOnDrop(tokio::spawn(
            async move {
                let mut made_rx = made_rx;
                let mut answers = futures_util::stream::poll_fn(|cx| made_rx.poll_recv(cx))
                    .map(|m| {
                        let span = tracing::info_span!("reward", txn = %m.txn, agent = %m.who, tier = %m.tier.id());
                        let provider = Arc::clone(&provider);
                        async move {
                            let outcome = provider.issue(m.txn, &m.payload).await;
                            let answered = Answered {
                                agent: m.agent,
                                txn: m.txn,
                                attempts: 1,
                                outcome,
                            };
                            (answered, m.again)
                        }
                        .instrument(span)
                    })
                    .buffer_unordered(in_flight);
                while let Some(answer) = answers.next().await {
                    if answer_tx.send(answer).await.is_err() {
                        break; // the round is failing: another stage returns its error
                    }
                }
            }
            .in_current_span(),
        ));
        let settle = async {
            let mut out = Vec::new();
            let mut batch = Vec::with_capacity(SLICE);
            while answer_rx.recv_many(&mut batch, SLICE).await > 0 {
                self.progress.advance(batch.len() as u64);
                let (answers, again): (Vec<Answered>, Vec<bool>) = batch.drain(..).unzip();
                let unsent: Vec<bool> = answers
                    .iter()
                    .map(|a| matches!(a.outcome, Outcome::NotSent { .. }))
                    .collect();
                let settled = self.settle_many(answers, false).await?;
                for (((agent, next), unsent), again) in settled.into_iter().zip(unsent).zip(again) {
                    // An agent goes round again only if what is left affords another tier.
                    let next = match next {
                        Next::Continue if again => Next::Continue,
                        _ => Next::Stop,
                    };
                    out.push((agent, next, unsent));
                }
            }
            Ok::<_, PipelineError>(out)
        };
        let ((), out) = tokio::try_join!(holds, settle)?;
        if let Err(e) = (&mut requests.0).await
            && e.is_panic()
        {
            // A provider that panicked: the run fails as it would have inline, not quietly.
            std::panic::resume_unwind(e.into_panic());
        }
        Ok(out)
    }

    /// Holds for the highest affordable tier of each of `agents` that has no unresolved hold:
    /// made, leased and audited in batches, before any request is sent.
    async fn make_holds(&self, agents: &[AgentId]) -> Result<Vec<Made>, PipelineError> {
        let mut out = Vec::new();
        for chunk in agents.chunks(BATCH) {
            let mut work = Vec::new();
            let mut loaded = Vec::new();
            let mut made = Vec::new();
            for (agent, account) in chunk.iter().zip(self.accounts(chunk).await?) {
                if account.unresolved_hold().is_some() {
                    continue;
                }
                let balance = account.balance(self.as_of).balance;
                let Some(tier) = self.p.rules.tier_for(balance) else {
                    continue;
                };
                let again = balance
                    .checked_sub(tier.cost())
                    .is_ok_and(|left| self.p.rules.tier_for(left).is_some());
                let txn = TxnId::generate(self.p.clock.as_ref());
                let payload = match self.payload(agent, tier, txn) {
                    Ok(p) => p,
                    Err(reason) => {
                        self.alert(
                            AlertKind::PayloadRefused,
                            format!("no reward request for tier {}: {reason}", tier.id()),
                            json!({"agent": self.pseudonym(agent), "tier": tier.id()}),
                        )
                        .await;
                        continue;
                    }
                };
                work.push((
                    agent.clone(),
                    vec![Command::Hold {
                        txn,
                        day: self.as_of,
                        tier: tier.clone(),
                        payload: payload.clone(),
                    }],
                ));
                loaded.push(account);
                made.push(Made {
                    agent: agent.clone(),
                    txn,
                    tier: tier.clone(),
                    payload,
                    again,
                    who: self.pseudonym(agent),
                });
            }
            if work.is_empty() {
                continue;
            }
            let results = self.ledger.execute_many_on(&work, loaded).await?;
            let mut kept = Vec::with_capacity(made.len());
            for (m, result) in made.into_iter().zip(results) {
                match result {
                    Ok(_) => kept.push(m),
                    // Another run got there first, or the balance moved: nothing to do here.
                    Err(LedgerError::HoldUnresolved { .. } | LedgerError::Insufficient { .. }) => {}
                    Err(e @ LedgerError::Store { .. }) => return Err(e.into()),
                    Err(e) => {
                        self.alert(
                            AlertKind::LedgerError,
                            format!("cannot hold tier {}: {}", m.tier.id(), redact(&e, &m.agent)),
                            json!({"agent": self.pseudonym(&m.agent), "tier": m.tier.id()}),
                        )
                        .await;
                    }
                }
            }
            let txns: Vec<TxnId> = kept.iter().map(|m| m.txn).collect();
            let now = self.now();
            self.store
                .lease_many(&txns, &self.owner, now, now + self.lease_len())
                .await?;
            self.leases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(txns.iter().copied());
            self.add(C::Holds, kept.len() as u64);
            let records = kept
                .iter()
                .map(|m| {
                    (
                        "hold_made",
                        json!({"txn_id": m.txn, "agent": m.who, "tier": m.tier.id(),
                            "reward_type": m.tier.reward_type(), "cost": m.tier.cost(), "day": self.as_of.to_string()}),
                    )
                })
                .collect();
            self.audit_many(records).await?;
            out.extend(kept);
        }
        Ok(out)
    }

    /// The request body for a new hold (fixed now; every retry sends these bytes).
    fn payload(&self, agent: &AgentId, tier: &Tier, txn: TxnId) -> Result<Vec<u8>, String> {
        let settings = &self.p.payload;
        let fields = match &settings.recipient {
            None => None,
            Some(r) => match r.directory.recipient(agent, &r.fields) {
                Ok(Some(v)) => Some((r, v)),
                Ok(None) => return Err("the agent is not in the recipient directory".to_owned()),
                Err(_) => {
                    return Err("the recipient directory entry lacks a configured field".to_owned());
                }
            },
        };
        let recipient = fields.map(|(r, v)| Recipient {
            cipher: &r.cipher,
            fields: v,
        });
        issue_payload(
            &settings.pseudonyms,
            agent,
            tier.reward_type(),
            tier.cost(),
            self.now(),
            &settings.metadata,
            recipient.as_ref().map(|r| (r, txn)),
            &settings.policy,
        )
        .map_err(|e| e.to_string())
    }

    /// Settles one answer by the table of design §3.4.
    async fn settle(
        &self,
        agent: &AgentId,
        txn: TxnId,
        attempts: u32,
        outcome: Outcome,
        recovering: bool,
    ) -> Result<Next, PipelineError> {
        let answered = Answered {
            agent: agent.clone(),
            txn,
            attempts,
            outcome,
        };
        let mut settled = self.settle_many(vec![answered], recovering).await?;
        Ok(settled.pop().map_or(Next::Stop, |(_, next)| next))
    }

    /// Settles answers by the table of design §3.4, in batches: the answers are audited, the
    /// ledger changes appended together, then what became of each hold is audited and
    /// alerted. Returns each agent and whether it may go on to its next reward.
    async fn settle_many(
        &self,
        answers: Vec<Answered>,
        recovering: bool,
    ) -> Result<Vec<(AgentId, Next)>, PipelineError> {
        let review_after = self.p.settings.in_doubt_review_after_runs;
        let mut out = Vec::with_capacity(answers.len());
        let mut rest = answers;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(BATCH));
            let chunk = std::mem::replace(&mut rest, tail);
            let mut records = Vec::with_capacity(chunk.len());
            for a in &chunk {
                let (kind, reason) = describe(&a.outcome);
                tracing::info!(txn = %a.txn, agent = %self.pseudonym(&a.agent), outcome = kind, "answered");
                records.push((
                    "reward_answered",
                    json!({"txn_id": a.txn, "outcome": kind, "reason": reason, "attempts": a.attempts}),
                ));
            }
            self.audit_many(records).await?;
            // What each answer does to its hold: the state it goes to, if any.
            let targets: Vec<Option<HoldState>> = chunk
                .iter()
                .map(|a| match &a.outcome {
                    Outcome::Issued { .. } => Some(HoldState::Committed),
                    Outcome::Rejected { .. } => Some(HoldState::Released),
                    Outcome::InDoubt { .. } if recovering && a.attempts > review_after => {
                        Some(HoldState::Review)
                    }
                    Outcome::InDoubt { .. } => Some(HoldState::InDoubt),
                    Outcome::NeedsReview { .. } => Some(HoldState::Review),
                    Outcome::NotSent { .. } => None,
                })
                .collect();
            let work: Vec<(AgentId, Vec<Command>)> = chunk
                .iter()
                .zip(&targets)
                .filter_map(|(a, to)| {
                    let (txn, attempts) = (a.txn, a.attempts);
                    let command = match (*to)? {
                        HoldState::Committed => Command::Commit { txn },
                        HoldState::Released => Command::Release {
                            txn,
                            day: self.as_of,
                        },
                        state => Command::Mark {
                            txn,
                            state,
                            attempts,
                        },
                    };
                    Some((a.agent.clone(), vec![command]))
                })
                .collect();
            let mut results = if work.is_empty() {
                Vec::new()
            } else {
                self.ledger.execute_many(&work).await?
            }
            .into_iter();
            let mut records = Vec::new();
            let mut alerts = Vec::new();
            for (a, to) in chunk.into_iter().zip(targets) {
                let who = self.pseudonym(&a.agent);
                let txn = a.txn;
                let Some(to) = to else {
                    out.push((a.agent, Next::Stop)); // not sent: the hold waits, open
                    continue;
                };
                match results.next() {
                    Some(Err(e @ LedgerError::Store { .. })) => return Err(e.into()),
                    Some(Err(e)) => {
                        alerts.push((
                            AlertKind::LedgerError,
                            format!("cannot settle reward {txn}: {}", redact(&e, &a.agent)),
                            json!({"txn_id": txn, "agent": who}),
                        ));
                        out.push((a.agent, Next::Stop));
                        continue;
                    }
                    Some(Ok(_)) | None => {}
                }
                let (_, why) = describe(&a.outcome);
                let data = json!({"txn_id": txn, "agent": who, "reason": why});
                if recovering && matches!(to, HoldState::Committed | HoldState::Released) {
                    self.bump(C::Recovered);
                }
                let next = match to {
                    HoldState::Committed => {
                        self.bump(C::Issued);
                        records.push(("hold_committed", json!({"txn_id": txn})));
                        Next::Continue
                    }
                    HoldState::Released => {
                        self.bump(C::Rejected);
                        self.bump(C::Released);
                        records.push(("hold_released", json!({"txn_id": txn})));
                        alerts.push((
                            AlertKind::RewardRejected,
                            format!("the marketplace rejected reward {txn}: {why}; its points were released"),
                            data,
                        ));
                        Next::Stop
                    }
                    state => {
                        let (counter, kind, message) = match (&a.outcome, state) {
                            (Outcome::NeedsReview { status, reason }, _) => (
                                C::Review,
                                AlertKind::Review,
                                format!(
                                    "reward {txn} got {status} ({reason}); it needs an operator (kudos review)"
                                ),
                            ),
                            (_, HoldState::Review) => (
                                C::Review,
                                AlertKind::Review,
                                format!(
                                    "reward {txn} is still in doubt after {review_after} runs ({why}); it needs an operator (kudos review)"
                                ),
                            ),
                            _ => (
                                C::InDoubt,
                                AlertKind::InDoubt,
                                format!(
                                    "reward {txn} may have been issued ({why}); the next run checks"
                                ),
                            ),
                        };
                        self.bump(counter);
                        records.push((
                            "hold_marked",
                            json!({"txn_id": txn, "state": state.name(), "attempts": a.attempts}),
                        ));
                        alerts.push((kind, message, data));
                        Next::Stop
                    }
                };
                out.push((a.agent, next));
            }
            self.audit_many(records).await?;
            for (kind, message, data) in alerts {
                self.alert(kind, message, data).await;
            }
        }
        Ok(out)
    }

    async fn resolve(&self, agent: &AgentId, command: Command) -> Result<(), PipelineError> {
        self.ledger.execute(agent, command).await?;
        Ok(())
    }
}

/// The outcome's name and reason, for the audit trail.
fn describe(outcome: &Outcome) -> (&'static str, String) {
    match outcome {
        Outcome::Issued { reward_id } => ("issued", reward_id.clone()),
        Outcome::Rejected { reason } => ("rejected", reason.clone()),
        Outcome::InDoubt { reason } => ("in_doubt", reason.clone()),
        Outcome::NeedsReview { status, reason } => ("review", format!("{status}: {reason}")),
        Outcome::NotSent { reason } => ("not_sent", reason.clone()),
    }
}

/// An error's message with the agent id replaced by a placeholder: alerts leave the machine.
fn redact(error: &LedgerError, agent: &AgentId) -> String {
    error_chain(error).replace(agent.as_str(), "<agent>")
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
