//! The seeded whole-run simulation (`docs/RELIABILITY.md`; model: TigerBeetle's VOPR). From one seed:
//! agents, exports (restatements, penalties, late files, future rows, bad rows, a CSV with
//! names and e-mail addresses), a fault plan for the marketplace, and crash points — a run's
//! future dropped right after any audit record, i.e. between any two steps. Runs, crashes and
//! restarts until every run has completed, then lets the marketplace recover and runs (an
//! operator settling review holds from the marketplace's records) until nothing is left to
//! do. Then it checks, against a model computed from the same seed:
//!
//! - rewards issued = rewards earned: for every agent, the points of its exports (final
//!   values) = its balance + the cost of its rewards still issued, with `0 <= balance < cost`;
//! - no reward twice: each live reward at the marketplace is one committed hold, and back;
//! - no personal data in any request the marketplace received;
//! - every audit chain verifies.
//!
//! `KUDOS_SIM_SEEDS=1-200 cargo test --release -p kudos-pipeline --test it simulation -- --nocapture`
//! runs more seeds and prints the first that fails; `KUDOS_SIM_SEEDS=17` replays one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::TimeDelta;
use kudos_core::{AgentId, Day, SeededRng};
use kudos_ledger::{Account, HoldState, LedgerStore};
use kudos_pipeline::{
    AuditError, AuditEvent, AuditLog, AuditRecord, AuditSink, NoProgress, Operator, Pipeline,
    PipelineError, RunOptions, Source, verify,
};
use kudos_rules::RuleSet;
use kudos_sim::{FaultPlan, SimConfig};
use kudos_wfm::{Mapping, ParseOptions};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::run::{World, agent};

const COST: i64 = 100;
const RULES: &str = "
window_days = 3650
[[rule]]
id = 'sales'
metric = 'sales'
per_unit = 1
[[rule]]
id = 'answered'
metric = 'answered'
per_unit = 1
[[rule]]
id = 'penalty'
metric = 'penalties'
per_unit = -10
[[tier]]
id = 'voucher'
reward_type = 'gift_card_10_usd'
threshold = 100
";

struct Rng(SeededRng);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a draw in [0, n)"
        )]
        let v = (self.0.next_f64() * n as f64) as u64;
        v.min(n.saturating_sub(1))
    }
    fn chance(&mut self, p: f64) -> bool {
        self.0.next_f64() < p
    }
}

/// An audit sink that "crashes" the run: after its `n`-th record is durable it wakes the
/// harness, which drops the run's future, and never returns.
#[derive(Debug)]
struct Crashing {
    inner: AuditLog,
    left: Option<Arc<AtomicU64>>,
    crash: Arc<Notify>,
}

#[async_trait::async_trait]
impl AuditSink for Crashing {
    fn run_id(&self) -> Uuid {
        AuditSink::run_id(&self.inner)
    }
    async fn append(&mut self, event: &AuditEvent) -> Result<AuditRecord, AuditError> {
        let record = self.inner.append(event.name(), event.data())?;
        if let Some(left) = &self.left
            && left.fetch_sub(1, Ordering::SeqCst) == 1
        {
            self.crash.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(record)
    }
}

/// One seed's data: per scheduled run, the files it brings (name, text); and the model.
struct Scenario {
    runs: Vec<Vec<(String, String)>>,
    /// (agent, day, metric) → value, in the order files are ingested (the last one wins).
    finals: BTreeMap<(u32, String, String), f64>,
    names: Vec<String>,
    agents: u32,
}

fn scenario(rng: &mut Rng) -> Scenario {
    let agents = 4 + u32::try_from(rng.below(12)).unwrap_or(0);
    let runs_n = 3 + rng.below(3);
    let mut runs = Vec::new();
    let mut finals = BTreeMap::new();
    let mut names = Vec::new();
    let mut pending_late: Vec<(String, String)> = Vec::new();
    for r in 0..runs_n {
        let mut files: Vec<(String, String)> = std::mem::take(&mut pending_late);
        let day = format!("2026-03-{:02}", 2 + r);
        let mut canonical = String::from("agent_id,date,metric,value\n");
        let mut late = String::from("agent_id,date,metric,value\n");
        for a in 1..=agents {
            let sales = rng.below(180);
            let _ = writeln!(canonical, "{},{day},sales,{sales}", agent(a));
            if rng.chance(0.2) {
                let p = 1 + rng.below(3);
                let _ = writeln!(canonical, "{},{day},penalties,{p}", agent(a));
            }
            if r > 0 && rng.chance(0.25) {
                // A restatement of an earlier day, arriving now (or, late, with the next run).
                let earlier = format!("2026-03-{:02}", 2 + rng.below(r));
                let v = rng.below(150);
                let line = format!("{},{earlier},sales,{v}\n", agent(a));
                if rng.chance(0.5) {
                    canonical.push_str(&line);
                } else {
                    late.push_str(&line);
                }
            }
            if rng.chance(0.1) {
                // A row dated after the run's day: it waits for a later run.
                let _ = writeln!(
                    canonical,
                    "{},2026-03-{:02},sales,{}",
                    agent(a),
                    3 + r,
                    rng.below(50)
                );
            }
        }
        if rng.chance(0.5) {
            canonical.push_str("not-an-agent id,2026-13-01,sales,x\n"); // a bad row
        }
        files.push((format!("r{r}-a-sales.csv"), canonical));
        if late.lines().count() > 1 {
            pending_late.push((format!("r{}-z-late.csv", r + 1), late));
        }
        // The agent performance CSV, with names and e-mail addresses.
        let mut wide =
            String::from("\"Agent Id\",\"Agent Name\",\"Email\",\"Interval Start\",\"Answered\"\n");
        for a in 1..=agents {
            let name = format!("Agent Person{a}x{r}");
            let email = format!("person{a}.r{r}@example.com");
            let _ = writeln!(
                wide,
                "\"{}\",\"{name}\",\"{email}\",\"{day}T00:00:00.000Z\",\"{}\"",
                agent(a),
                rng.below(40)
            );
            names.push(name);
            names.push(email);
        }
        files.push((format!("r{r}-b-performance.csv"), wide));
        runs.push(files);
    }
    if let Some(last) = runs.last_mut() {
        last.extend(pending_late);
    }
    // The model: files in ingestion order (run by run, by name), the last value of a key wins;
    // rows dated after the last run's day never count (the harness's final runs use that day).
    let last_day = format!("2026-03-{:02}", 2 + runs.len() - 1);
    for files in &mut runs {
        files.sort();
    }
    for files in &runs {
        for (_, text) in files {
            for line in text.lines().skip(1) {
                let cells: Vec<String> = line
                    .split(',')
                    .map(|c| c.trim_matches('"').to_owned())
                    .collect();
                let (a, day, metric, value) = if cells.len() == 4 {
                    (
                        cells[0].clone(),
                        cells[1].clone(),
                        cells[2].clone(),
                        cells[3].clone(),
                    )
                } else {
                    (
                        cells[0].clone(),
                        cells[3][..10].to_owned(),
                        "answered".to_owned(),
                        cells[4].clone(),
                    )
                };
                let Some(n) = a.strip_prefix("a1b2c3d4-0000-4000-8000-") else {
                    continue;
                };
                let (Ok(n), Ok(v)) = (n.parse::<u32>(), value.parse::<f64>()) else {
                    continue;
                };
                if day.as_str() > last_day.as_str() {
                    continue;
                }
                finals.insert((n, day, metric), v);
            }
        }
    }
    Scenario {
        runs,
        finals,
        names,
        agents,
    }
}

fn faults(rng: &mut Rng) -> FaultPlan {
    let mut plan = format!("seed = {}\n", rng.below(1_000_000));
    let choices = [
        "action = 'status'\nstatus = 503",
        "action = 'status'\nstatus = 504",
        "action = 'status'\nstatus = 429\nretry_after_secs = 0",
        "action = 'reset'",
        "action = 'hang'",
        "action = 'drop_after_processing'",
        "action = 'rejected'",
        "action = 'pending'",
    ];
    for (i, c) in choices.iter().enumerate() {
        if rng.chance(0.7) {
            let p = 0.03 + f64::from(u32::try_from(rng.below(8)).unwrap_or(0)) / 100.0;
            let _ = write!(
                plan,
                "[[fault]]\npath = '/v1/rewards/issue'\nprobability = {p}\n{c}\n"
            );
            if i < 2 && rng.chance(0.5) {
                let _ = write!(
                    plan,
                    "[[fault]]\npath = '/v1/rewards/{{id}}'\nprobability = {p}\n{c}\n"
                );
                let _ = write!(
                    plan,
                    "[[fault]]\npath = '/v1/rewards/{{id}}/reverse'\nprobability = {p}\n{c}\n"
                );
            }
        }
    }
    if rng.chance(0.3) {
        plan.push_str("[[downtime]]\nfrom_secs = 0.3\nuntil_secs = 0.6\n");
    }
    FaultPlan::from_toml(&plan).unwrap()
}

/// What one seed did.
#[derive(Debug, Default)]
pub(crate) struct Covered {
    crashes: u64,
    runs: u64,
    rewards: u64,
    reversed: u64,
    settled_by_operator: u64,
    requests: u64,
}

pub(crate) async fn simulate(seed: u64) -> Result<Covered, String> {
    let mut rng = Rng(SeededRng::new(seed));
    let scenario = scenario(&mut rng);
    let plan = faults(&mut rng);
    let short_tokens = rng.chance(0.3);
    let crash_chance = 0.4;
    let mut w = World::new(
        &format!("sim-{seed}"),
        SimConfig {
            faults: plan,
            token_ttl_secs: if short_tokens { 1 } else { 3600 },
            ..SimConfig::default()
        },
    )
    .await;
    w.settings.lease_secs = 5;
    w.settings.in_doubt_review_after_runs = 2;
    w.settings.max_bad_row_ratio = 0.5;
    w.settings.max_in_flight = 4;
    w.max_retries = 2;
    w.read_timeout = Duration::from_millis(300);
    let mut parts = w.parts(w.store.clone());
    parts.rules = RuleSet::from_toml(RULES).unwrap();
    parts.sources = vec![Source {
        pattern: w.dir.join("exports/*.csv"),
        options: ParseOptions::default()
            .with_mapping(Mapping::resolve("genesys-agent-performance").unwrap()),
    }];
    let pipeline = Pipeline::new(parts);
    let mut covered = Covered::default();
    let last_day = format!("2026-03-{:02}", 2 + scenario.runs.len() - 1);
    let run = |day: String, crash: Option<u64>| {
        let pipeline = &pipeline;
        let audit_path = w.audit_path();
        async move {
            let notify = Arc::new(Notify::new());
            let sink = Crashing {
                inner: AuditLog::open(&audit_path, Uuid::now_v7()).unwrap(),
                left: crash.map(|n| Arc::new(AtomicU64::new(n))),
                crash: notify.clone(),
            };
            let options = RunOptions {
                as_of: Day::parse(&day).unwrap(),
                dry_run: false,
            };
            tokio::select! {
                r = pipeline.run(Box::new(sink), options, &NoProgress) => Some(r),
                () = notify.notified() => None,
            }
        }
    };
    for (r, files) in scenario.runs.iter().enumerate() {
        for (name, text) in files {
            std::fs::write(w.dir.join("exports").join(name), text).unwrap();
        }
        let day = format!("2026-03-{:02}", 2 + r);
        for attempt in 0.. {
            if attempt > 30 {
                return Err(format!("run {r} never completed"));
            }
            let crash = rng.chance(crash_chance).then(|| 1 + rng.below(30));
            let outcome = run(day.clone(), crash).await;
            covered.runs += 1;
            w.clock.advance(TimeDelta::seconds(6)); // a crashed run's leases lapse
            match outcome {
                None => covered.crashes += 1,
                Some(Ok(_)) => break,
                Some(Err(PipelineError::Stopped { reason, .. })) => {
                    return Err(format!("run {r} stopped: {reason}"));
                }
                Some(Err(e)) => return Err(format!("run {r} failed: {e:?}")),
            }
        }
        covered.settled_by_operator += operator(&w, &pipeline, &day).await;
    }
    // The marketplace recovers; runs go on until there is nothing left to do.
    w.sim.set_faults(FaultPlan::default());
    let mut quiet = false;
    for _ in 0..20 {
        let s = run(last_day.clone(), None)
            .await
            .ok_or("no crash was asked for")?
            .map_err(|e| format!("final run: {e:?}"))?;
        covered.runs += 1;
        w.clock.advance(TimeDelta::seconds(6));
        let settled = operator(&w, &pipeline, &last_day).await;
        covered.settled_by_operator += settled;
        let open = w
            .store
            .holds(None)
            .await
            .unwrap()
            .iter()
            .filter(|h| h.state.is_unresolved())
            .count();
        if s.holds == 0 && s.reversed == 0 && s.recovered == 0 && settled == 0 && open == 0 {
            quiet = true;
            break;
        }
    }
    if !quiet {
        return Err("still busy after 20 runs with a healthy marketplace".into());
    }
    check(&w, &scenario, &mut covered).await?;
    Ok(covered)
}

/// The operator: settles every hold in review by what the marketplace's records say.
async fn operator(w: &World, pipeline: &Pipeline, day: &str) -> u64 {
    let issued: HashSet<String> = w.sim.rewards().into_iter().map(|r| r.request_id).collect();
    let mut n = 0;
    for hold in w.store.holds(Some(HoldState::Review)).await.unwrap() {
        let was = issued.contains(&hold.txn.to_string());
        let settle = |force: bool| {
            let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
            let operator = Operator {
                name: "simulated operator".into(),
                force,
            };
            async move {
                pipeline
                    .review_settle(
                        Box::new(audit),
                        hold.txn,
                        was,
                        Day::parse(day).unwrap(),
                        &operator,
                    )
                    .await
            }
        };
        match settle(false).await {
            Ok(_) => n += 1,
            // The lookup could not answer (a request the simulator keeps "in progress" after a
            // reset answers neither issued nor unknown): the operator checked the
            // marketplace's own records, so it forces what they say.
            Err(PipelineError::Refused { reason, .. }) if reason.contains("could not be asked") => {
                settle(true).await.unwrap();
                n += 1;
            }
            // Anything else is the marketplace contradicting its own records: a bug.
            Err(e) => panic!(
                "operator settle ({}): {e}",
                if was { "issued" } else { "not issued" }
            ),
        }
    }
    n
}

async fn check(w: &World, s: &Scenario, covered: &mut Covered) -> Result<(), String> {
    // The model's points per agent.
    let mut earned: HashMap<u32, i64> = HashMap::new();
    for ((a, _, metric), v) in &s.finals {
        #[allow(clippy::cast_possible_truncation, reason = "whole numbers")]
        let v = *v as i64;
        let points = match metric.as_str() {
            "sales" | "answered" => v,
            "penalties" => -10 * v,
            _ => 0,
        };
        *earned.entry(*a).or_default() += points;
    }
    let rewards = w.sim.rewards();
    covered.rewards = rewards.iter().filter(|r| r.status == "ISSUED").count() as u64;
    covered.reversed = rewards.iter().filter(|r| r.status == "REVERSED").count() as u64;
    let live: HashSet<String> = rewards
        .iter()
        .filter(|r| r.status == "ISSUED")
        .map(|r| r.request_id.clone())
        .collect();
    let day = Day::parse("2026-03-31").unwrap();
    let mut committed = HashSet::new();
    for a in 1..=s.agents {
        let id = AgentId::new(agent(a)).unwrap();
        let stored = w.store.load(&id).await.map_err(|e| e.to_string())?;
        let account = Account::from_entries(id, stored.entries).map_err(|e| e.to_string())?;
        let mine: Vec<_> = account
            .holds()
            .values()
            .filter(|h| h.state == HoldState::Committed && h.reversed_by.is_none())
            .collect();
        committed.extend(mine.iter().map(|h| h.txn.to_string()));
        let balance = account.balance(day).balance.get();
        let total = earned.get(&a).copied().unwrap_or(0);
        let paid = COST * i64::try_from(mine.len()).unwrap();
        if total != balance + paid {
            return Err(format!(
                "agent {a}: earned {total} but balance {balance} + rewards {paid}: points created or lost"
            ));
        }
        if balance >= COST {
            return Err(format!("agent {a}: balance {balance} still earns a reward"));
        }
        if balance < 0 && !mine.is_empty() {
            return Err(format!(
                "agent {a}: in debt ({balance}) with a reward not clawed back"
            ));
        }
    }
    if committed != live {
        return Err(format!(
            "the ledger's committed holds and the marketplace's live rewards differ: {} vs {}",
            committed.len(),
            live.len()
        ));
    }
    let requests = w.sim.requests();
    covered.requests = requests.len() as u64;
    for r in &requests {
        if r.body.contains('@') || s.names.iter().any(|n| r.body.contains(n.as_str())) {
            return Err(format!("personal data sent: {}", r.body));
        }
        if (1..=s.agents).any(|a| r.body.contains(&agent(a))) {
            return Err(format!("an agent id sent: {}", r.body));
        }
    }
    verify(&w.audit_path()).map_err(|e| e.to_string())?;
    Ok(())
}

fn seeds() -> Vec<u64> {
    let spec = std::env::var("KUDOS_SIM_SEEDS").unwrap_or_else(|_| "1-4".to_owned());
    match spec.split_once('-') {
        Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect(),
        None => vec![spec.parse().unwrap()],
    }
}

#[allow(clippy::print_stdout, reason = "the harness reports what it covered")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_whole_runs_issue_every_earned_reward_once_whatever_fails() {
    let mut total = Covered::default();
    for seed in seeds() {
        match simulate(seed).await {
            Ok(c) => {
                println!("seed {seed}: ok {c:?}");
                total.crashes += c.crashes;
                total.runs += c.runs;
                total.rewards += c.rewards;
                total.reversed += c.reversed;
                total.settled_by_operator += c.settled_by_operator;
                total.requests += c.requests;
            }
            Err(e) => panic!(
                "seed {seed} FAILED: {e}\nreplay: KUDOS_SIM_SEEDS={seed} cargo test -p kudos-pipeline --test it simulation -- --nocapture"
            ),
        }
    }
    println!("all seeds ok: {total:?}");
}
