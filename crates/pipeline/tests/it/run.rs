//! Whole runs against the simulator over real HTTP, on a real SQLite file: each outcome of the
//! outcome table (`docs/reference/issuing.md#outcome-table`), recovery, clawback, dry runs, stops, and two runs on one ledger.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use kudos_client::{HttpProviderConfig, HttpRewardProvider, ReqwestTransport, TokenSource};
use kudos_core::{AgentId, Clock, Day, ManualClock, TxnId};
use kudos_ledger::{HoldState, Ledger, LedgerStore, RunStore};
use kudos_pipeline::{
    Alert, AlertKind, AlertSink, AuditEvent, AuditLog, AuditRecord, NoProgress, Operator, Parts,
    PayloadSettings, Pipeline, PipelineError, RunConfig, RunOptions, Source, Summary, verify,
};
use kudos_privacy::{Pseudonymizer, SecretSource, SecretString};
use kudos_rules::RuleSet;
use kudos_sim::{FaultPlan, SimConfig, Simulator};
use kudos_store_sqlite::SqliteStore;
use kudos_wfm::ParseOptions;
use uuid::Uuid;

pub(crate) const RULES: &str = "
window_days = 90
[[rule]]
id = 'sales'
metric = 'sales'
per_unit = 1

[[tier]]
id = 'small'
reward_type = 'gift_card_small'
threshold = 100

[[tier]]
id = 'big'
reward_type = 'gift_card_big'
threshold = 500
";

pub(crate) fn agent(n: u32) -> String {
    format!("a1b2c3d4-0000-4000-8000-{n:012}")
}

/// Alerts kept for the test to read (an interaction at the `AlertSink` seam).
#[derive(Debug, Default)]
pub(crate) struct Captured(Mutex<Vec<Alert>>);

#[async_trait]
impl AlertSink for Captured {
    async fn alert(&self, alert: &Alert) {
        self.0.lock().unwrap().push(alert.clone());
    }
}

impl Captured {
    pub(crate) fn kinds(&self) -> Vec<AlertKind> {
        self.0.lock().unwrap().iter().map(|a| a.kind).collect()
    }

    /// The last alert's message, if any.
    pub(crate) fn last_message(&self) -> Option<String> {
        self.0.lock().unwrap().last().map(|a| a.message.clone())
    }

    /// The one alert of `kind` (panics unless there is exactly one).
    pub(crate) fn only(&self, kind: AlertKind) -> Alert {
        let alerts: Vec<Alert> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.kind == kind)
            .cloned()
            .collect();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        alerts.into_iter().next().unwrap()
    }
}

pub(crate) struct World {
    pub(crate) dir: PathBuf,
    pub(crate) sim: Simulator,
    pub(crate) store: Arc<dyn RunStore>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) alerts: Arc<Captured>,
    pub(crate) settings: RunConfig,
    pub(crate) max_retries: u32,
    pub(crate) read_timeout: Duration,
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("exports")).unwrap();
    dir
}

impl World {
    pub(crate) async fn new(name: &str, sim: SimConfig) -> Self {
        let dir = scratch(name);
        std::fs::write(dir.join("client-secret"), "kudos-sim-secret").unwrap();
        let url = format!("sqlite://{}", dir.join("kudos.db").display());
        let clock = Arc::new(ManualClock::at_rfc3339("2026-03-10T06:00:00Z").unwrap());
        // The store owns the lease clock; in tests it is the test's.
        let store: Arc<dyn RunStore> = Arc::new(
            SqliteStore::open(&url)
                .await
                .unwrap()
                .with_clock(clock.clone()),
        );
        Self {
            sim: Simulator::start(sim).await.unwrap(),
            store,
            clock,
            alerts: Arc::new(Captured::default()),
            settings: {
                let mut s = RunConfig::default();
                s.lease_secs = 60;
                s
            },
            max_retries: 2,
            read_timeout: Duration::from_millis(800),
            dir,
        }
    }

    /// Writes an export: `(agent number, day, sales)` rows in the canonical CSV format.
    pub(crate) fn export(&self, name: &str, rows: &[(u32, &str, f64)]) {
        let mut text = String::from("agent_id,date,metric,value\n");
        for (a, day, v) in rows {
            text.push_str(&format!("{},{day},sales,{v}\n", agent(*a)));
        }
        std::fs::write(self.dir.join("exports").join(name), text).unwrap();
    }

    pub(crate) fn pipeline(&self) -> Pipeline {
        self.pipeline_on(self.store.clone())
    }

    pub(crate) fn pipeline_on(&self, store: Arc<dyn RunStore>) -> Pipeline {
        Pipeline::new(self.parts(store))
    }

    pub(crate) fn parts(&self, store: Arc<dyn RunStore>) -> Parts {
        let clock: Arc<dyn Clock> = self.clock.clone();
        let tokens = TokenSource::new(
            &self.sim.token_url(),
            "kudos-sim-client",
            SecretSource::File(self.dir.join("client-secret")),
            clock.clone(),
            Duration::from_secs(2),
            Duration::from_secs(2),
        )
        .unwrap();
        let provider = HttpRewardProvider::new(
            HttpProviderConfig::new(self.sim.base_url(), "GENESYS-WFM-INTEGRATION-01")
                .backoff(Duration::from_millis(5), Duration::from_millis(20))
                .max_retries(self.max_retries),
            Arc::new(ReqwestTransport::new(Duration::from_secs(2), self.read_timeout).unwrap()),
            Arc::new(tokens),
            clock.clone(),
        );
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("source_platform".to_owned(), "Genesys Cloud CX".to_owned());
        Parts::new(
            RuleSet::from_toml(RULES).unwrap(),
            store,
            Arc::new(provider),
            clock,
            PayloadSettings::new(Pseudonymizer::new(SecretString::from("pseudonym-key")))
                .metadata(metadata),
        )
        .settings(self.settings.clone())
        .sources(vec![Source {
            pattern: self.dir.join("exports/*.csv"),
            options: ParseOptions::default(),
        }])
        .alerts(self.alerts.clone())
    }

    pub(crate) fn audit_path(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }

    pub(crate) async fn run_on(&self, pipeline: &Pipeline, day: &str) -> Summary {
        self.try_run(pipeline, day, false).await.unwrap()
    }

    pub(crate) async fn run(&self, day: &str) -> Summary {
        self.run_on(&self.pipeline(), day).await
    }

    pub(crate) async fn try_run(
        &self,
        pipeline: &Pipeline,
        day: &str,
        dry_run: bool,
    ) -> Result<Summary, PipelineError> {
        let audit = AuditLog::open(&self.audit_path(), Uuid::now_v7()).unwrap();
        pipeline
            .run(
                Box::new(audit),
                RunOptions::new(Day::parse(day).unwrap()).dry_run(dry_run),
                &NoProgress,
            )
            .await
    }

    pub(crate) async fn balance(&self, n: u32, day: &str) -> i64 {
        let ledger = Ledger::new(self.store.clone(), self.clock.clone() as Arc<dyn Clock>);
        let account = ledger
            .account(&AgentId::new(agent(n)).unwrap())
            .await
            .unwrap();
        account.balance(Day::parse(day).unwrap()).balance.get()
    }

    /// The reward types the marketplace issued, sorted.
    pub(crate) fn reward_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .sim
            .rewards()
            .iter()
            .map(|r| r.reward_type.clone())
            .collect();
        types.sort();
        types
    }

    pub(crate) async fn holds(&self, state: HoldState) -> Vec<kudos_ledger::HoldView> {
        self.store.holds(Some(state)).await.unwrap()
    }

    pub(crate) fn issue_requests(&self) -> Vec<kudos_sim::RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/rewards/issue")
            .collect()
    }
}

pub(crate) fn faults(text: &str) -> SimConfig {
    SimConfig {
        faults: FaultPlan::from_toml(text).unwrap(),
        ..SimConfig::default()
    }
}

/// A world whose `nth` reward request takes 2.5 s to answer, with leases renewed every second
/// (`lease_secs = 3`) and a read timeout that outlasts the slow answer.
pub(crate) async fn slow_world(name: &str, nth: u32) -> World {
    let mut w = World::new(
        name,
        faults(&format!(
            "[[fault]]\npath = '/v1/rewards/issue'\nnth = [{nth}]\naction = 'delay'\ndelay_ms = 2500"
        )),
    )
    .await;
    w.settings.lease_secs = 3; // renewed every second
    w.read_timeout = Duration::from_secs(10);
    w
}

#[tokio::test]
async fn every_affordable_reward_is_issued_once_and_a_second_run_issues_nothing() {
    let w = World::new("happy", SimConfig::default()).await;
    // Agent 1: 250 → small, small (50 left). Agent 2: 600 → big, then small (0 left).
    w.export(
        "day1.csv",
        &[
            (1, "2026-03-02", 150.0),
            (1, "2026-03-03", 100.0),
            (2, "2026-03-02", 600.0),
            (3, "2026-03-02", 50.0),
        ],
    );
    let s = w.run("2026-03-10").await;
    assert_eq!(
        (
            s.records, s.events, s.holds, s.issued, s.rejected, s.in_doubt, s.alerts
        ),
        (4, 4, 4, 4, 0, 0, 0),
        "{s:?}"
    );
    assert!(!s.needs_attention());
    assert_eq!(w.sim.rewards().len(), 4);
    assert_eq!(w.balance(1, "2026-03-10").await, 50);
    assert_eq!(w.balance(2, "2026-03-10").await, 0);
    assert_eq!(w.balance(3, "2026-03-10").await, 50);
    let types = w.reward_types();
    assert_eq!(
        types,
        [
            "gift_card_big",
            "gift_card_small",
            "gift_card_small",
            "gift_card_small"
        ]
    );

    // No personal data left: agent ids travel only as 64-hex pseudonyms.
    for r in w.sim.requests() {
        let bytes = &r.body;
        for n in 1..=3 {
            assert!(!bytes.contains(&agent(n)), "agent id in {bytes}");
        }
    }
    for reward in w.sim.rewards() {
        assert_eq!(reward.agent_id.len(), 64);
    }

    // The same files again: skipped by content hash; nothing new is issued.
    let again = w.run("2026-03-10").await;
    assert_eq!(
        (again.records, again.holds, again.issued),
        (0, 0, 0),
        "{again:?}"
    );
    assert_eq!(w.sim.rewards().len(), 4);

    let report = verify(&w.audit_path()).unwrap();
    assert_eq!(report.runs, 2);
    let audit = std::fs::read_to_string(w.audit_path()).unwrap();
    for n in 1..=3 {
        assert!(
            !audit.contains(&agent(n)),
            "the audit trail names agents by pseudonym"
        );
    }
    // The intent before the request: each hold is on record before its answer.
    let events: Vec<AuditEvent> = audit
        .lines()
        .map(|l| {
            let record: AuditRecord = serde_json::from_str(l).unwrap();
            AuditEvent::from_record(&record).unwrap()
        })
        .collect();
    let first_hold = events
        .iter()
        .position(|e| matches!(e, AuditEvent::HoldMade { .. }))
        .unwrap();
    let first_answer = events
        .iter()
        .position(|e| matches!(e, AuditEvent::RewardAnswered { .. }))
        .unwrap();
    assert!(first_hold < first_answer);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, AuditEvent::HoldCommitted { .. }))
            .count(),
        4
    );
    // Each hold's request went out exactly once.
    let ids: std::collections::HashSet<String> = w
        .issue_requests()
        .iter()
        .map(|r| header(r, "x-request-id"))
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(w.issue_requests().len(), 4);
}

#[tokio::test]
async fn a_rejected_reward_releases_its_points_and_alerts() {
    let mut sim = SimConfig::default();
    sim.inventory.insert("gift_card_small".into(), 0);
    let w = World::new("rejected", sim).await;
    w.export("d.csv", &[(1, "2026-03-02", 120.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!(
        (s.holds, s.issued, s.rejected, s.released),
        (1, 0, 1, 1),
        "{s:?}"
    );
    assert!(s.needs_attention());
    assert_eq!(w.alerts.kinds(), [AlertKind::RewardRejected]);
    assert_eq!(
        w.balance(1, "2026-03-10").await,
        120,
        "the points came back"
    );
    assert_eq!(w.holds(HoldState::Released).await.len(), 1);
    assert!(w.sim.rewards().is_empty());
    // Not retried for that agent in the same run: one request only.
    assert_eq!(w.issue_requests().len(), 1);
}

#[tokio::test]
async fn pending_is_in_doubt_and_the_next_run_commits_it_by_lookup_without_resending() {
    let w = World::new(
        "pending",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'pending'"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!((s.holds, s.issued, s.in_doubt), (1, 0, 1), "{s:?}");
    assert_eq!(w.alerts.kinds(), [AlertKind::InDoubt]);
    assert_eq!(w.holds(HoldState::InDoubt).await.len(), 1);
    assert_eq!(
        w.balance(1, "2026-03-10").await,
        0,
        "the points stay reserved"
    );

    let next = w.run("2026-03-11").await;
    assert_eq!(
        (next.recovered, next.issued, next.holds, next.in_doubt),
        (1, 1, 0, 0),
        "{next:?}"
    );
    assert_eq!(w.holds(HoldState::Committed).await.len(), 1);
    assert_eq!(
        w.issue_requests().len(),
        1,
        "a lookup, not a second request"
    );
    assert_eq!(w.sim.rewards().len(), 1);
}

#[tokio::test]
async fn a_dropped_response_is_retried_under_the_same_key_and_issues_once() {
    let w = World::new(
        "dropped",
        faults(
            "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'drop_after_processing'",
        ),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!((s.holds, s.issued, s.in_doubt), (1, 1, 0), "{s:?}");
    assert_eq!(w.sim.rewards().len(), 1);
    let reqs = w.issue_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(
        header(&reqs[0], "idempotency-key"),
        header(&reqs[1], "idempotency-key")
    );
}

#[tokio::test]
async fn exhausted_retries_are_in_doubt_and_a_404_lookup_resends_the_same_bytes() {
    let w = World::new(
        "exhausted",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1, 2, 3]\naction = 'status'\nstatus = 503"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!((s.holds, s.issued, s.in_doubt), (1, 0, 1), "{s:?}");
    assert!(w.sim.rewards().is_empty());

    let next = w.run("2026-03-11").await;
    assert_eq!((next.recovered, next.issued), (1, 1), "{next:?}");
    let reqs = w.issue_requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(
        reqs[0].body, reqs[3].body,
        "the stored payload, byte for byte"
    );
    assert_eq!(w.sim.rewards().len(), 1);
}

#[tokio::test]
async fn a_422_goes_to_review_is_never_redriven_and_an_operator_retries_it() {
    let w = World::new(
        "review",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 422"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!((s.holds, s.review, s.in_doubt), (1, 1, 0), "{s:?}");
    assert_eq!(w.alerts.kinds(), [AlertKind::Review]);
    let txn = w.holds(HoldState::Review).await[0].txn;

    let next = w.run("2026-03-11").await;
    assert_eq!(
        (next.recovered, next.holds, next.issued),
        (0, 0, 0),
        "{next:?}"
    );
    assert_eq!(
        w.issue_requests().len(),
        1,
        "review holds wait for an operator"
    );

    let pipeline = w.pipeline();
    let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    let hold = pipeline
        .review_retry(
            Box::new(audit),
            txn,
            Day::parse("2026-03-11").unwrap(),
            &Operator::named("ops"),
        )
        .await
        .unwrap();
    assert_eq!(hold.state, HoldState::Committed);
    assert_eq!(w.sim.rewards().len(), 1);
    assert_eq!(verify(&w.audit_path()).unwrap().runs, 3);

    // Settling a resolved hold is refused, naming it.
    let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    let err = pipeline
        .review_settle(
            Box::new(audit),
            txn,
            false,
            Day::parse("2026-03-11").unwrap(),
            &Operator::named("ops"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already resolved"), "{err}");
}

#[tokio::test]
async fn an_operator_settles_a_hold_as_not_issued_and_the_points_return() {
    let w = World::new(
        "settle",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 403"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 130.0)]);
    w.run("2026-03-10").await;
    let txn = w.holds(HoldState::Review).await[0].txn;
    assert_eq!(w.balance(1, "2026-03-10").await, 30);
    let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    let hold = w
        .pipeline()
        .review_settle(
            Box::new(audit),
            txn,
            false,
            Day::parse("2026-03-10").unwrap(),
            &Operator::named("ops"),
        )
        .await
        .unwrap();
    assert_eq!(hold.state, HoldState::Released);
    assert_eq!(w.balance(1, "2026-03-10").await, 130);
    // An unknown transaction id is named.
    let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    let unknown = TxnId::from_uuid(Uuid::from_u128(7));
    let err = w
        .pipeline()
        .review_settle(
            Box::new(audit),
            unknown,
            true,
            Day::parse("2026-03-10").unwrap(),
            &Operator::named("ops"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PipelineError::UnknownHold(t) if t == unknown));
}

#[tokio::test]
async fn a_hold_still_in_doubt_after_the_configured_runs_goes_to_review() {
    let mut w = World::new(
        "doubt-review",
        faults(
            "[[fault]]\npath = '/v1/rewards/issue'\nprobability = 1.0\naction = 'status'\nstatus = 503\n\
             [[fault]]\npath = '/v1/rewards/{id}'\nprobability = 1.0\naction = 'status'\nstatus = 503",
        ),
    )
    .await;
    w.settings.in_doubt_review_after_runs = 2;
    w.max_retries = 0;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let days = ["2026-03-10", "2026-03-11", "2026-03-12"];
    let mut states = Vec::new();
    for day in days {
        let s = w.run(day).await;
        states.push((s.in_doubt, s.review));
    }
    assert_eq!(states, [(1, 0), (1, 0), (0, 1)]);
    let held = w.holds(HoldState::Review).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].attempts, 3);
    // A review hold is left alone from then on.
    let before = w.sim.requests().len();
    w.run("2026-03-13").await;
    assert_eq!(w.sim.requests().len(), before);
}

#[tokio::test]
async fn when_nothing_can_be_sent_the_hold_waits_and_the_next_run_sends_it() {
    let mut w = World::new("not-sent", SimConfig::default()).await;
    w.max_retries = 1;
    let addr = w.sim.addr();
    w.sim.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!((s.holds, s.issued, s.in_doubt), (1, 0, 0), "{s:?}");
    assert_eq!(w.alerts.kinds(), [AlertKind::CircuitOpen]);
    assert_eq!(w.holds(HoldState::Open).await.len(), 1);

    w.sim = Simulator::start(SimConfig {
        addr,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let next = w.run("2026-03-11").await;
    assert_eq!((next.recovered, next.issued), (1, 1), "{next:?}");
    assert_eq!(w.sim.rewards().len(), 1);
}

#[tokio::test]
async fn a_restated_export_claws_back_the_reward_end_to_end() {
    let w = World::new("clawback", SimConfig::default()).await;
    w.export("a.csv", &[(1, "2026-03-02", 100.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!(s.issued, 1);
    // The source restates the day: the agent had not earned it after all.
    w.export("b.csv", &[(1, "2026-03-02", 0.0)]);
    w.clock.advance(TimeDelta::days(1));
    assert_eq!(w.balance(1, "2026-03-11").await, 0);
    let s = w.run("2026-03-11").await;
    assert_eq!((s.reversed, s.issued, s.alerts), (1, 0, 0), "{s:?}");
    assert_eq!(w.balance(1, "2026-03-11").await, 0, "the debt is repaid");
    assert_eq!(w.sim.rewards()[0].status, "REVERSED");
    // Once reversed, never again.
    let s = w.run("2026-03-11").await;
    assert_eq!(s.reversed, 0);
    let reversals = w
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/reverse"))
        .count();
    assert_eq!(reversals, 1);
}

#[tokio::test]
async fn a_failed_reversal_keeps_the_debt_and_alerts() {
    let w = World::new(
        "clawback-fails",
        faults("[[fault]]\npath = '/v1/rewards/{id}/reverse'\nprobability = 1.0\naction = 'status'\nstatus = 400"),
    )
    .await;
    w.export("a.csv", &[(1, "2026-03-02", 100.0)]);
    w.run("2026-03-10").await;
    w.export("b.csv", &[(1, "2026-03-02", 0.0)]);
    let s = w.run("2026-03-11").await;
    assert_eq!(s.reversed, 0);
    assert_eq!(w.alerts.kinds(), [AlertKind::ReversalFailed]);
    assert_eq!(w.balance(1, "2026-03-11").await, -100);
}

#[tokio::test]
async fn records_after_as_of_wait_and_the_file_is_taken_again_later() {
    let w = World::new("future", SimConfig::default()).await;
    w.export("d.csv", &[(1, "2026-03-02", 60.0), (1, "2026-03-05", 60.0)]);
    let s = w.run("2026-03-03").await;
    assert_eq!((s.records, s.future_rows, s.holds), (1, 1, 0), "{s:?}");
    let s = w.run("2026-03-05").await;
    assert_eq!(
        (s.records, s.future_rows, s.holds, s.issued),
        (1, 0, 1, 1),
        "{s:?}"
    );
    assert_eq!(
        w.balance(1, "2026-03-05").await,
        20,
        "the first day counted once"
    );
    let s = w.run("2026-03-05").await;
    assert_eq!(s.records, 0, "now the file is marked ingested");
}

#[tokio::test]
async fn too_many_bad_rows_stop_the_run_before_any_hold_and_nothing_is_lost() {
    let w = World::new("bad-rows", SimConfig::default()).await;
    std::fs::write(
        w.dir.join("exports/d.csv"),
        format!(
            "agent_id,date,metric,value\n{},2026-03-02,sales,500\n{},2026-13-45,sales,1\n",
            agent(1),
            agent(2)
        ),
    )
    .unwrap();
    let err = w
        .try_run(&w.pipeline(), "2026-03-10", false)
        .await
        .unwrap_err();
    let PipelineError::Stopped { reason, summary } = err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("1 of 2 rows rejected"), "{reason}");
    assert_eq!((summary.rejected_rows, summary.holds), (1, 0));
    assert_eq!(w.alerts.kinds(), [AlertKind::RejectedRows]);
    assert!(w.sim.requests().is_empty());
    assert!(
        w.store.agents().await.unwrap().is_empty(),
        "nothing accrued"
    );
    // The operator fixes the file; the next run takes it.
    w.export("d.csv", &[(1, "2026-03-02", 500.0), (2, "2026-03-02", 1.0)]);
    let s = w.run("2026-03-10").await;
    assert_eq!((s.records, s.issued), (2, 1));
}

#[tokio::test]
async fn an_unreadable_file_stops_the_run_naming_it() {
    let w = World::new("bad-file", SimConfig::default()).await;
    std::fs::write(w.dir.join("exports/d.csv"), "this is not, an export\n1,2\n").unwrap();
    let err = w
        .try_run(&w.pipeline(), "2026-03-10", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Stopped { reason, .. } if reason.contains("d.csv")),
        "{err:?}"
    );
    assert_eq!(w.alerts.kinds(), [AlertKind::FileError]);
}

#[tokio::test]
async fn a_dry_run_computes_the_run_but_writes_and_sends_nothing() {
    let w = World::new("dry", SimConfig::default()).await;
    w.export(
        "d.csv",
        &[(1, "2026-03-02", 250.0), (2, "2026-03-02", 600.0)],
    );
    let s = w.try_run(&w.pipeline(), "2026-03-10", true).await.unwrap();
    assert_eq!((s.records, s.holds, s.issued), (2, 4, 4), "{s:?}");
    assert!(w.sim.requests().is_empty());
    assert!(w.store.agents().await.unwrap().is_empty());
    assert!(
        !w.audit_path().exists() || std::fs::read_to_string(w.audit_path()).unwrap().is_empty()
    );
    // The real run then does what the dry run said.
    let real = w.run("2026-03-10").await;
    assert_eq!((real.holds, real.issued), (s.holds, s.issued));
}

#[tokio::test]
async fn two_pipelines_on_one_ledger_issue_every_reward_once() {
    let w = World::new("two-runs", SimConfig::default()).await;
    let rows: Vec<(u32, &str, f64)> = (1..=40).map(|n| (n, "2026-03-02", 250.0)).collect();
    w.export("d.csv", &rows);
    let url = format!("sqlite://{}", w.dir.join("kudos.db").display());
    let second: Arc<dyn RunStore> = Arc::new(
        SqliteStore::open(&url)
            .await
            .unwrap()
            .with_clock(w.clock.clone()),
    );
    let (a, b) = (w.pipeline(), w.pipeline_on(second));
    let (x, y) = tokio::join!(w.run_on(&a, "2026-03-10"), w.run_on(&b, "2026-03-10"));
    assert_eq!(x.issued + y.issued, 80, "{x:?} {y:?}");
    assert_eq!(w.sim.rewards().len(), 80);
    let mut per_agent: HashMap<String, u32> = HashMap::new();
    for r in w.sim.rewards() {
        *per_agent.entry(r.agent_id).or_default() += 1;
    }
    assert!(per_agent.values().all(|&n| n == 2), "{per_agent:?}");
    for n in 1..=40 {
        assert_eq!(w.balance(n, "2026-03-10").await, 50);
    }
    assert_eq!(verify(&w.audit_path()).unwrap().runs, 2);
}

#[tokio::test]
async fn metrics_count_across_runs_and_report_the_breaker() {
    let w = World::new(
        "metrics",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 503"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let pipeline = w.pipeline();
    w.run_on(&pipeline, "2026-03-10").await;
    let m = pipeline.metrics();
    assert_eq!(
        (m.issued, m.holds, m.retries, m.breaker),
        (1, 1, 1, "closed")
    );
}

pub(crate) fn header(r: &kudos_sim::RecordedRequest, name: &str) -> String {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_renews_its_leases_so_another_run_leaves_its_holds_alone() {
    let w = slow_world("lease-renewal", 1).await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let slow = w.pipeline();
    let first = async { w.run_on(&slow, "2026-03-10").await };
    let meanwhile = async {
        // Wait until the slow run's request is in flight, then let the lease it took lapse on
        // the clock — but only after its renewal pushed it further out.
        while w.issue_requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        w.clock.advance(TimeDelta::seconds(2));
        tokio::time::sleep(Duration::from_millis(1300)).await;
        w.clock.advance(TimeDelta::seconds(2));
        w.run("2026-03-10").await
    };
    let (a, b) = tokio::join!(first, meanwhile);
    assert_eq!((a.holds, a.issued), (1, 1), "{a:?}");
    assert_eq!((b.recovered, b.holds, b.issued), (0, 0, 0), "{b:?}");
    let lookups = w
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(
        lookups, 0,
        "the second run did not touch a hold under a live lease"
    );
    assert_eq!(w.sim.rewards().len(), 1);
}

#[tokio::test]
async fn a_file_taken_in_part_never_reverts_a_newer_restatement() {
    let w = World::new("partial", SimConfig::default()).await;
    // a.csv has a row for a later day, so it is taken in part; b.csv restates a.csv's day.
    w.export(
        "a.csv",
        &[(1, "2026-03-02", 100.0), (1, "2026-03-05", 10.0)],
    );
    w.export("b.csv", &[(1, "2026-03-02", 50.0)]);
    let s = w.run("2026-03-03").await;
    assert_eq!((s.records, s.future_rows), (2, 1), "{s:?}");
    assert_eq!(w.balance(1, "2026-03-03").await, 50);
    // The next runs read a.csv again for its waiting row — and only for it.
    let s = w.run("2026-03-04").await;
    assert_eq!((s.records, s.future_rows), (0, 1), "{s:?}");
    assert_eq!(
        w.balance(1, "2026-03-04").await,
        50,
        "the restatement stands"
    );
    let s = w.run("2026-03-05").await;
    assert_eq!((s.records, s.future_rows), (1, 0), "{s:?}");
    assert_eq!(w.balance(1, "2026-03-05").await, 60);
}

#[tokio::test]
async fn an_agent_gets_at_most_the_configured_rewards_per_run_and_the_rest_next_run() {
    let mut w = World::new("cap", SimConfig::default()).await;
    w.settings.max_rewards_per_agent_per_run = 2;
    // Agent 1: 1,300 → big, big (300 left) in the first run; small, small in the second; the
    // last small in the third. Agent 2: 120 → small.
    w.export(
        "day1.csv",
        &[(1, "2026-03-02", 1300.0), (2, "2026-03-02", 120.0)],
    );
    let first = w.run("2026-03-10").await;
    assert_eq!((first.holds, first.issued), (3, 3), "{first:?}");
    assert_eq!(w.balance(1, "2026-03-10").await, 300);
    assert_eq!(w.balance(2, "2026-03-10").await, 20);
    let second = w.run("2026-03-10").await;
    assert_eq!((second.holds, second.issued), (2, 2), "{second:?}");
    assert_eq!(w.balance(1, "2026-03-10").await, 100);
    let third = w.run("2026-03-10").await;
    assert_eq!((third.holds, third.issued), (1, 1), "{third:?}");
    assert_eq!(w.balance(1, "2026-03-10").await, 0);
    let types = w.reward_types();
    assert_eq!(
        types,
        ["gift_card_big", "gift_card_big"]
            .into_iter()
            .chain(["gift_card_small"; 4])
            .collect::<Vec<_>>()
    );
}

/// A provider that panics on its second request (an interaction at the `RewardProvider` seam).
#[derive(Debug)]
struct PanicsOnSecond(std::sync::atomic::AtomicU32);

#[async_trait]
impl kudos_client::RewardProvider for PanicsOnSecond {
    async fn issue(&self, _txn: TxnId, _payload: &[u8]) -> kudos_client::Outcome {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            panic!("provider bug");
        }
        kudos_client::Outcome::Issued {
            reward_id: "r".into(),
        }
    }
    async fn status(&self, _txn: TxnId) -> kudos_client::StatusOutcome {
        kudos_client::StatusOutcome::Unknown {
            reason: "test".into(),
        }
    }
    async fn reverse(
        &self,
        _reversal: TxnId,
        _of: TxnId,
        _payload: &[u8],
    ) -> kudos_client::ReverseOutcome {
        kudos_client::ReverseOutcome::Reversed
    }
}

#[tokio::test]
async fn a_provider_that_panics_fails_the_run_loudly_and_the_next_run_recovers() {
    let w = World::new("provider-panic", SimConfig::default()).await;
    w.export(
        "day1.csv",
        &[
            (1, "2026-03-02", 150.0),
            (2, "2026-03-02", 150.0),
            (3, "2026-03-02", 150.0),
        ],
    );
    let mut parts = w.parts(w.store.clone());
    parts.provider = Arc::new(PanicsOnSecond(std::sync::atomic::AtomicU32::new(0)));
    let pipeline = Arc::new(Pipeline::new(parts));
    let p = pipeline.clone();
    let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    let run = tokio::spawn(async move {
        p.run(
            Box::new(audit),
            RunOptions::new(Day::parse("2026-03-10").unwrap()),
            &kudos_pipeline::NoProgress,
        )
        .await
        .map(|s| s.issued)
    });
    let failed = run
        .await
        .expect_err("the run must not end as if nothing happened");
    assert!(failed.is_panic());
    // Nothing is lost: the held points wait; once the leases lapse, the next run (with the
    // real marketplace) settles every hold and issues every reward once.
    w.clock.advance(TimeDelta::seconds(120));
    let next = w.run("2026-03-10").await;
    // The first answer was settled before the panic (its reward came from the panicking
    // provider); the other two holds are recovered: looked up, not found, sent.
    assert_eq!(w.sim.rewards().len(), 2, "{next:?}");
    for n in 1..=3 {
        assert_eq!(w.balance(n, "2026-03-10").await, 50);
    }
    for state in [HoldState::Open, HoldState::InDoubt, HoldState::Review] {
        assert!(w.holds(state).await.is_empty(), "no {state:?} hold is left");
    }
}
