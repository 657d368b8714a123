//! Two workers on one PostgreSQL ledger: two pipelines, each with its own connection pool (as
//! two processes or two hosts would have), run the same batch at the same time. Every reward
//! is issued once: the store admits one unresolved hold per agent, and a run leaves holds
//! leased to another alone.
//!
//! Run with (any PostgreSQL you can create a schema in):
//!
//! ```sh
//! KUDOS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p kudos-examples --bin two_workers
//! ```

#![allow(clippy::print_stdout, reason = "an example program talks to its user")]

use std::collections::HashMap;
use std::sync::Arc;

use kudos_core::{Clock, Day, SystemClock};
use kudos_examples::{Error, SALES_RULES, provider, sales_export, scratch};
use kudos_ledger::RunStore;
use kudos_pipeline::{
    AuditLog, LogAlerts, NoProgress, Parts, PayloadSettings, Pipeline, RunOptions, Source,
};
use kudos_privacy::{Pseudonymizer, SecretString};
use kudos_rules::RuleSet;
use kudos_sim::{SimConfig, Simulator};
use kudos_store_postgres::{PostgresOptions, PostgresStore};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let Ok(url) = std::env::var("KUDOS_TEST_POSTGRES_URL") else {
        return Err("set KUDOS_TEST_POSTGRES_URL to a PostgreSQL database (see the header)".into());
    };
    let dir = scratch("two-workers")?;
    let sim = Simulator::start(SimConfig::default()).await?;
    // 200 agents with 250 points each: two vouchers apiece.
    let agents: Vec<String> = (1..=200)
        .map(|n| format!("a1b2c3d4-0000-4000-8000-{n:012}"))
        .collect();
    let rows: Vec<(&str, &str, i64)> = agents
        .iter()
        .map(|a| (a.as_str(), "2026-03-02", 250))
        .collect();
    sales_export(&dir.join("exports/sales.csv"), &rows)?;

    // A schema of its own, so the example never touches other data.
    let schema = format!("kudos_example_{}", std::process::id());
    let options = PostgresOptions::default().schema(schema.clone());
    // `kudos migrate` in production; here the example migrates its own schema first.
    PostgresStore::migrate(&url, &options).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut workers = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn RunStore> = Arc::new(PostgresStore::open_with(&url, &options).await?);
        workers.push(Pipeline::new(
            Parts::new(
                RuleSet::from_toml(SALES_RULES)?,
                store,
                Arc::new(provider(&sim, &dir, clock.clone())?),
                clock.clone(),
                PayloadSettings::new(Pseudonymizer::new(SecretString::from("pseudonym key"))),
            )
            .sources(vec![Source {
                pattern: dir.join("exports/*.csv"),
                options: Default::default(),
            }])
            .alerts(Arc::new(LogAlerts)),
        ));
    }
    let audit = dir.join("audit.jsonl"); // one file, shared: each run is its own chain
    let (a, b) = tokio::join!(run(&workers[0], &audit), run(&workers[1], &audit));
    let (a, b) = (a?, b?);
    println!(
        "worker 1: {} issued; worker 2: {} issued",
        a.issued, b.issued
    );
    let mut per_agent: HashMap<String, usize> = HashMap::new();
    for reward in sim.rewards() {
        *per_agent.entry(reward.agent_id).or_default() += 1;
    }
    println!(
        "marketplace: {} rewards for {} agents; every agent got exactly two: {}",
        sim.rewards().len(),
        per_agent.len(),
        per_agent.values().all(|&n| n == 2)
    );
    println!(
        "audit trail: {} runs, verified",
        kudos_pipeline::verify(&audit)?.runs
    );
    assert_eq!(a.issued + b.issued, 400);
    assert!(per_agent.values().all(|&n| n == 2));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn run(worker: &Pipeline, audit: &std::path::Path) -> Result<kudos_pipeline::Summary, Error> {
    let log = AuditLog::open(audit, uuid::Uuid::now_v7())?;
    let options = RunOptions::new(Day::parse("2026-03-10")?);
    Ok(worker.run(Box::new(log), options, &NoProgress).await?)
}
