//! The end-to-end measurement (a one-shot command, not a criterion loop): a full daily batch
//! for many agents against the simulator with a fixed latency per reward request.
//!
//! Prints the wall time of the issuing stage against its latency bound (rewards × latency /
//! `max_in_flight`), the time of the stages before issuing against parsing the same export
//! alone, and the process's peak memory.
//!
//! ```sh
//! cargo run --release -p kudos-benches --bin e2e -- [AGENTS=20000] [LATENCY_MS=5] [IN_FLIGHT=16]
//! ```
//!
//! `KUDOS_E2E_BUDGET=1` gives the run a day budget (large enough that nothing waits) and prices,
//! to show what claiming every hold's budget costs.

#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::cast_precision_loss,
    reason = "a measurement program: it reads the wall clock and prints figures"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kudos_client::{HttpProviderConfig, HttpRewardProvider, ReqwestTransport, TokenSource};
use kudos_core::{Clock, Day, SystemClock};
use kudos_ledger::RunStore;
use kudos_pipeline::{
    LogAlerts, NullAudit, Parts, PayloadSettings, Pipeline, Progress, RunConfig, RunOptions, Source,
};
use kudos_privacy::{Pseudonymizer, SecretSource, SecretString};
use kudos_sim::{FaultPlan, SimConfig, Simulator};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Records when each step starts.
#[derive(Default)]
struct Steps(Mutex<Vec<(&'static str, Instant)>>);

impl Progress for Steps {
    fn step(&self, name: &'static str, _total: Option<u64>) {
        if let Ok(mut s) = self.0.lock() {
            s.push((name, Instant::now()));
        }
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let agents = args.first().copied().unwrap_or(20_000);
    let latency = args.get(1).copied().unwrap_or(5);
    let in_flight = args.get(2).copied().unwrap_or(16);

    let dir = std::env::temp_dir().join(format!("kudos-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("exports"))?;
    let csv = kudos_benches::e2e_csv(agents);
    let export = dir.join("exports/day.csv");
    std::fs::write(&export, &csv)?;
    let rows = agents * 6;

    // Parsing alone, the baseline of the stages before issuing.
    let t = Instant::now();
    let mut parsed = 0u64;
    for r in kudos_wfm::open(&export, &kudos_wfm::ParseOptions::default())? {
        r?;
        parsed += 1;
    }
    let parse_alone = t.elapsed();

    let plan = format!(
        "[[fault]]\npath = '/v1/rewards/issue'\nprobability = 1.0\naction = 'delay'\ndelay_ms = {latency}\n"
    );
    let sim = Simulator::start(SimConfig {
        faults: FaultPlan::from_toml(&plan)?,
        ..SimConfig::default()
    })
    .await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    std::fs::write(dir.join("secret"), "kudos-sim-secret")?;
    let provider = HttpRewardProvider::new(
        HttpProviderConfig::new(sim.base_url(), "GENESYS-WFM-INTEGRATION-01"),
        Arc::new(ReqwestTransport::new(
            Duration::from_secs(10),
            Duration::from_secs(45),
        )?),
        Arc::new(TokenSource::new(
            &sim.token_url(),
            "kudos-sim-client",
            SecretSource::File(dir.join("secret")),
            clock.clone(),
            Duration::from_secs(10),
            Duration::from_secs(45),
        )?),
        clock.clone(),
    );
    // `KUDOS_E2E_STORE=memory` measures without the store's durable writes.
    let store: Arc<dyn RunStore> = if std::env::var("KUDOS_E2E_STORE").as_deref() == Ok("memory") {
        Arc::new(kudos_ledger::MemoryStore::new())
    } else {
        Arc::new(
            kudos_store_sqlite::SqliteStore::open(&format!(
                "sqlite://{}",
                dir.join("kudos.db").display()
            ))
            .await?,
        )
    };
    let rules = kudos_rules::RuleSet::from_toml(
        "window_days = 90\n[[rule]]\nid = 'sales'\nmetric = 'sales'\nper_unit = 1\n\
         [[rule]]\nid = 'aht'\nmetric = 'aht_secs'\nbands = [{ from = 0, to = 240, points = 1 }]\n\
         [[tier]]\nid = 'voucher'\nreward_type = 'gift_card_10_usd'\nthreshold = 100\n",
    )?;
    let pipeline = Pipeline::new(
        Parts::new(
            rules,
            store,
            Arc::new(provider),
            clock,
            PayloadSettings::new(Pseudonymizer::new(SecretString::from("bench key"))),
        )
        .settings({
            let mut s = RunConfig::default();
            s.max_in_flight = usize::try_from(in_flight)?;
            s
        })
        .sources(vec![Source {
            pattern: dir.join("exports/*.csv"),
            options: kudos_wfm::ParseOptions::default(),
        }])
        .alerts(Arc::new(LogAlerts))
        .controls(controls()?),
    );
    // `KUDOS_E2E_AUDIT=keyed` writes a keyed audit file (synced per write, anchored in the
    // store after each write) instead of none, to show what the audit trail costs.
    let audit: Box<dyn kudos_pipeline::AuditSink> =
        if std::env::var("KUDOS_E2E_AUDIT").as_deref() == Ok("keyed") {
            let key = kudos_pipeline::AuditKey::new(b"bench audit key, 32 bytes long..")?;
            Box::new(kudos_pipeline::AuditLog::open_keyed(
                &dir.join("audit.jsonl"),
                uuid::Uuid::now_v7(),
                key,
            )?)
        } else {
            Box::new(NullAudit::new(uuid::Uuid::now_v7()))
        };
    let steps = Steps::default();
    let start = Instant::now();
    let summary = pipeline
        .run(audit, RunOptions::new(Day::parse("2026-03-10")?), &steps)
        .await?;
    let total = start.elapsed();
    let batch_peak = peak_rss_mib();

    // The raw baseline, measured in the same run: as many bare reqwest POSTs to the same
    // simulator (same delay), `in_flight` at a time — what the latency really costs here.
    let (raw_ok, raw) = kudos_benches::raw_posts(
        &sim.base_url(),
        &sim.token_url(),
        summary.issued,
        usize::try_from(in_flight)?,
    )
    .await?;
    let marks = steps.0.lock().map(|s| s.clone()).unwrap_or_default();
    let at = |name: &str| marks.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
    let issue_start = at("issue").unwrap_or(start);
    let before_issue = issue_start - start;
    let issuing = total - (issue_start - start);
    let bound =
        Duration::from_secs_f64(summary.issued as f64 * latency as f64 / 1000.0 / in_flight as f64);
    println!(
        "agents {agents}, rows {rows} (parsed {parsed}), latency {latency} ms, max_in_flight {in_flight}"
    );
    println!(
        "rewards issued {} (holds {}), total wall {:.2?}",
        summary.issued, summary.holds, total
    );
    println!(
        "issuing: {:.2?} vs latency bound {:.2?} = {:.2}x",
        issuing,
        bound,
        issuing.as_secs_f64() / bound.as_secs_f64().max(1e-9)
    );
    println!(
        "issuing: {:.2?} vs the raw baseline ({raw_ok} bare POSTs, {in_flight} at a time, same simulator) {:.2?} = {:.2}x",
        issuing,
        raw,
        issuing.as_secs_f64() / raw.as_secs_f64().max(1e-9)
    );
    println!(
        "before issuing (recover, ingest, points, accrue, clawback, thresholds): {:.2?} vs parsing alone {:.2?} = {:.1}x",
        before_issue,
        parse_alone,
        before_issue.as_secs_f64() / parse_alone.as_secs_f64().max(1e-9)
    );
    for w in marks.windows(2) {
        println!("  {:<9} {:.2?}", w[0].0, w[1].1 - w[0].1);
    }
    if let Some((name, t)) = marks.last() {
        println!("  {name:<9} {:.2?}", start + total - *t);
    }
    println!(
        "peak memory (VmHWM): {batch_peak:.1} MiB after the batch, {:.1} MiB after the raw baseline too",
        peak_rss_mib()
    );
    assert_eq!(summary.issued, agents, "every agent earned one reward");
    assert_eq!(sim.rewards().len() as u64, agents + raw_ok);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The programme owner's controls: none, or with `KUDOS_E2E_BUDGET=1` a day budget no reward
/// waits on (every hold claims it, under the store's budget lock) and a price.
fn controls() -> Result<kudos_pipeline::Controls, Box<dyn std::error::Error + Send + Sync>> {
    if std::env::var("KUDOS_E2E_BUDGET").as_deref() != Ok("1") {
        return Ok(kudos_pipeline::Controls::new());
    }
    let budget = kudos_pipeline::Budget {
        overall: kudos_pipeline::Limits {
            per_day: Some(kudos_core::Points::new(i64::MAX / 2)),
            per_month: Some(kudos_core::Points::new(i64::MAX / 2)),
        },
        per_reward_type: std::collections::BTreeMap::new(),
    };
    Ok(kudos_pipeline::Controls::new()
        .budget(budget)
        .prices(std::collections::BTreeMap::from([(
            kudos_core::RewardType::new("gift_card_10_usd")?,
            kudos_core::Money::parse("10.00 USD")?,
        )])))
}
