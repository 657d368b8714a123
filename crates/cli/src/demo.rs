//! `kudos demo`: the daily batch on bundled sample data — SQLite in a temporary directory, the
//! marketplace simulator in-process with a few faults — told in words, then the summary.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use clap::Args;
use kudos_client::{HttpProviderConfig, HttpRewardProvider, ReqwestTransport, TokenSource};
use kudos_core::{AgentId, Clock, Day, SystemClock};
use kudos_ledger::{Account, LedgerStore, Op, RunStore};
use kudos_pipeline::{
    Alert, AlertSink, AnswerKind, AuditEvent, AuditLog, AuditRecord, NoProgress, Parts,
    PayloadSettings, Pipeline, PipelineError, RunConfig, RunOptions, Source, Summary, verify,
};
use kudos_privacy::{Pseudonymizer, SecretSource, SecretString};
use kudos_rules::RuleSet;
use kudos_sim::{FaultPlan, SimConfig, Simulator};
use kudos_store_sqlite::SqliteStore;
use kudos_wfm::{Mapping, ParseOptions};
use uuid::Uuid;

use crate::Outcome;
use crate::output::{Fatal, diag};

const ADHERENCE: &str = include_str!("../data/wfm_historical_adherence_download.json");
const SURVEYS: &str = include_str!("../data/analytics_surveys_aggregates_response.json");
const PERFORMANCE: &str = include_str!("../data/agent_performance_export.csv");
const RULES: &str = include_str!("../data/demo.toml");

/// The marketplace's bad day: the 1st reward request gets a 503, the 3rd is processed but its
/// answer is lost, the 5th is rejected (out of stock).
const FAULTS: &str = r#"
[[fault]]
path = "/v1/rewards/issue"
nth = [1]
action = "status"
status = 503
[[fault]]
path = "/v1/rewards/issue"
nth = [3]
action = "drop_after_processing"
[[fault]]
path = "/v1/rewards/issue"
nth = [5]
action = "rejected"
"#;

const AS_OF: &str = "2026-03-31";
const ZONE: &str = "America/New_York";

/// `kudos demo [--keep]`
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the working directory (ledger, audit trail, exports) to look at afterwards.
    #[arg(long)]
    keep: bool,
}

/// Alerts, kept to tell the story.
#[derive(Debug, Default)]
struct Kept(Mutex<Vec<Alert>>);

#[async_trait]
impl AlertSink for Kept {
    async fn alert(&self, alert: &Alert) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(alert.clone());
    }
}

pub(crate) fn run(args: &DemoArgs) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            diag(format_args!("error: cannot start the runtime: {e}"));
            return Outcome::Fatal;
        }
    };
    let dir = std::env::temp_dir().join(format!("kudos-demo-{}", std::process::id()));
    let result = runtime.block_on(demo(&dir, args.keep));
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(()) => Outcome::Ok,
        Err(Fatal(message)) => {
            diag(format_args!("error: {message}"));
            Outcome::Fatal
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, Fatal> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| Fatal(format!("{}: {e}", path.display())))?;
    Ok(path)
}

async fn demo(dir: &Path, keep: bool) -> Result<(), Fatal> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("exports"))
        .map_err(|e| Fatal(format!("{}: {e}", dir.display())))?;
    let adherence = write(
        dir,
        "exports/wfm_historical_adherence_download.json",
        ADHERENCE,
    )?;
    let surveys = write(
        dir,
        "exports/analytics_surveys_aggregates_response.json",
        SURVEYS,
    )?;
    let performance = write(dir, "exports/agent_performance_export.csv", PERFORMANCE)?;
    write(dir, "rules.toml", RULES)?;
    let secret = write(dir, "client-secret", "kudos-sim-secret")?;

    let sim = Simulator::start(SimConfig {
        faults: FaultPlan::from_toml(FAULTS)?,
        ..SimConfig::default()
    })
    .await?;
    let store: Arc<dyn RunStore> =
        Arc::new(SqliteStore::open(&format!("sqlite://{}", dir.join("kudos.db").display())).await?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider = HttpRewardProvider::new(
        HttpProviderConfig::new(sim.base_url(), "GENESYS-WFM-INTEGRATION-01")
            .max_retries(3)
            .backoff(Duration::from_millis(50), Duration::from_millis(200)),
        Arc::new(ReqwestTransport::new(
            Duration::from_secs(10),
            Duration::from_secs(45),
        )?),
        Arc::new(TokenSource::new(
            &sim.token_url(),
            "kudos-sim-client",
            SecretSource::File(secret),
            clock.clone(),
            Duration::from_secs(10),
            Duration::from_secs(45),
        )?),
        clock.clone(),
    );
    let options = ParseOptions::default().with_time_zone(ZONE)?;
    let csv = options
        .clone()
        .with_mapping(Mapping::resolve("genesys-agent-performance")?);
    let key = "kudos-demo-pseudonym-key";
    let mut metadata = BTreeMap::new();
    metadata.insert("source_platform".to_owned(), "Genesys Cloud CX".to_owned());
    metadata.insert("wfm_export_version".to_owned(), "v2.1".to_owned());
    let alerts = Arc::new(Kept::default());
    // One reward at a time (max_in_flight = 1), so the story reads in order.
    let pipeline = Pipeline::new(
        Parts::new(
            RuleSet::from_toml(RULES)?,
            store.clone(),
            Arc::new(provider),
            clock,
            PayloadSettings::new(Pseudonymizer::new(SecretString::from(key))).metadata(metadata),
        )
        .settings({
            let mut s = RunConfig::default();
            s.max_in_flight = 1;
            s
        })
        .sources(vec![
            Source {
                pattern: adherence,
                options: options.clone(),
            },
            Source {
                pattern: surveys,
                options,
            },
            Source {
                pattern: performance,
                options: csv,
            },
        ])
        .alerts(alerts.clone()),
    );
    let audit_path = dir.join("audit.jsonl");
    let audit = AuditLog::open(&audit_path, Uuid::now_v7())?;
    let as_of = Day::parse(AS_OF).map_err(|e| Fatal(e.to_string()))?;
    let summary = match pipeline
        .run(Box::new(audit), RunOptions::new(as_of), &NoProgress)
        .await
    {
        Ok(s) => s,
        Err(PipelineError::Stopped { reason, .. }) => return Err(Fatal(reason)),
        Err(e) => return Err(e.into()),
    };
    let story = Story {
        dir,
        sim: &sim,
        store: store.as_ref(),
        pseudonyms: Pseudonymizer::new(SecretString::from(key)),
        audit_path: &audit_path,
        as_of,
    };
    story.tell(&summary, keep).await
}

struct Story<'a> {
    dir: &'a Path,
    sim: &'a Simulator,
    store: &'a dyn LedgerStore,
    pseudonyms: Pseudonymizer,
    audit_path: &'a Path,
    as_of: Day,
}

fn short(agent: &str) -> String {
    let tail: String = agent
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("agent …{tail}")
}

impl Story<'_> {
    async fn tell(&self, summary: &Summary, keep: bool) -> Result<(), Fatal> {
        let mut out = std::io::stdout().lock();
        let records: Vec<AuditEvent> = std::fs::read_to_string(self.audit_path)
            .map_err(|e| Fatal(format!("{}: {e}", self.audit_path.display())))?
            .lines()
            .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
            .filter_map(|r| AuditEvent::from_record(&r).ok())
            .collect();
        let mut lines = vec![
            format!(
                "Kudos demo: the daily batch on sample Genesys Cloud data, as of {}.",
                self.as_of
            ),
            format!(
                "Working in {} — a SQLite ledger, the audit trail, the exports — with a reward marketplace simulator at {}.",
                self.dir.display(),
                self.sim.base_url()
            ),
            String::new(),
            "1. Read the exports (time zone America/New_York):".to_owned(),
        ];
        for event in &records {
            let AuditEvent::FileIngested {
                file,
                records,
                rejected_rows,
                ..
            } = event
            else {
                continue;
            };
            let name = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            lines.push(format!(
                "   {name}: {records} records, {rejected_rows} rows rejected"
            ));
        }
        lines.push("   The agent performance CSV has names and e-mail addresses in it: they were dropped as it was read.".to_owned());
        lines.push(String::new());
        lines.push("2. Points earned (rules.toml: a point per answered contact, CSAT and adherence bonuses, a penalty per adherence exception):".to_owned());
        let agents = self.store.agents().await?;
        let mut by_pseudonym = HashMap::new();
        for agent in &agents {
            by_pseudonym.insert(self.pseudonyms.pseudonym(agent), agent.clone());
            lines.push(self.earned(agent).await?);
        }
        lines.push(String::new());
        lines.push("3. Rewards (a coffee voucher for every 40 points; the marketplace was told to fail a few requests):".to_owned());
        lines.extend(self.rewards(&records, &by_pseudonym));
        let requests = self.sim.requests();
        let leaked = requests.iter().any(|r| {
            r.body.contains('@')
                || agents.iter().any(|a| r.body.contains(a.as_str()))
                || ["Jordan", "Okafor", "Reyes"]
                    .iter()
                    .any(|n| r.body.contains(n))
        });
        lines.push(String::new());
        lines.push(format!(
            "4. What left the machine: {} requests to the marketplace; agents appear only as keyed pseudonyms; {}.",
            requests.len(),
            if leaked {
                "PERSONAL DATA WAS FOUND IN A REQUEST"
            } else {
                "no agent id, name or e-mail address in any of them"
            }
        ));
        let report = verify(self.audit_path)?;
        lines.push(format!(
            "   The audit trail has {} records in a hash chain; it verifies.",
            report.records
        ));
        if keep {
            lines.push(format!(
                "   Look around: kudos ledger --store sqlite://{}/kudos.db holds   ·   cd {} && kudos audit verify",
                self.dir.display(),
                self.dir.display()
            ));
        }
        lines.push(String::new());
        lines.push("The run's summary (the last line `kudos run` prints):".to_owned());
        for line in lines {
            writeln!(out, "{line}").map_err(|e| Fatal(format!("stdout: {e}")))?;
        }
        serde_json::to_writer(&mut out, summary).map_err(|e| Fatal(format!("stdout: {e}")))?;
        writeln!(out).map_err(|e| Fatal(format!("stdout: {e}")))?;
        Ok(())
    }

    /// "agent …0001: +134 (calls-answered +79, …); balance now 54".
    async fn earned(&self, agent: &AgentId) -> Result<String, Fatal> {
        let stored = self.store.load(agent).await?;
        let account = Account::from_entries(agent.clone(), stored.entries)?;
        let mut by_key = HashMap::new();
        for entry in account.entries() {
            if let Op::Accrual { key, points, .. } = &entry.op {
                by_key.insert(key.clone(), points.get());
            }
        }
        let mut by_rule: BTreeMap<String, i64> = BTreeMap::new();
        for (key, points) in by_key {
            *by_rule.entry(key.rule.to_string()).or_default() += points;
        }
        let total: i64 = by_rule.values().sum();
        let parts: Vec<String> = by_rule
            .iter()
            .filter(|(_, p)| **p != 0)
            .map(|(rule, p)| format!("{rule} {p:+}"))
            .collect();
        Ok(format!(
            "   {}: {total:+} ({}); balance now {}",
            short(agent.as_str()),
            parts.join(", "),
            account.balance(self.as_of).balance
        ))
    }

    fn rewards(&self, records: &[AuditEvent], agents: &HashMap<String, AgentId>) -> Vec<String> {
        let issue: Vec<(usize, String)> = self
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/rewards/issue")
            .enumerate()
            .map(|(i, r)| {
                let id = r
                    .headers
                    .iter()
                    .find(|(k, _)| k == "x-request-id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                (i + 1, id)
            })
            .collect();
        let mut lines = Vec::new();
        let mut holds: HashMap<String, (String, String)> = HashMap::new();
        for event in records {
            match event {
                AuditEvent::HoldMade {
                    txn_id,
                    agent,
                    cost,
                    ..
                } => {
                    let who = agents
                        .get(agent)
                        .map_or_else(|| "an agent".to_owned(), |a| short(a.as_str()));
                    holds.insert(txn_id.to_string(), (who, format!("{cost} points")));
                }
                AuditEvent::RewardAnswered {
                    txn_id,
                    outcome,
                    reason,
                    ..
                } => {
                    let txn = txn_id.to_string();
                    let Some((who, cost)) = holds.get(&txn) else {
                        continue;
                    };
                    let tries: Vec<usize> = issue
                        .iter()
                        .filter(|(_, id)| *id == txn)
                        .map(|(n, _)| *n)
                        .collect();
                    let story = match outcome {
                        AnswerKind::Issued if tries.first() == Some(&1) => format!(
                            "issued after {} requests: the marketplace answered 503 first, and Kudos retried with the same idempotency key",
                            tries.len()
                        ),
                        AnswerKind::Issued if tries.first() == Some(&3) => "issued once: the marketplace issued it but the answer was lost on the way back; the retry, under the same idempotency key, got the stored answer — one reward, not two".to_owned(),
                        AnswerKind::Issued => "issued on the first request".to_owned(),
                        AnswerKind::Rejected => format!(
                            "rejected by the marketplace (its reason: {reason:?}): the hold was released, the points went back to the agent, and Kudos tries again at the next run, not in this one"
                        ),
                        other => format!("{}: {reason}", other.name()),
                    };
                    lines.push(format!("   {who}, coffee voucher ({cost}): {story}"));
                }
                _ => {}
            }
        }
        lines
    }
}
