//! A clawback end to end: an agent is rewarded, then the source restates the day (the sales
//! were refunded), the agent ends in debt, and the next run reverses the reward at the
//! marketplace and returns its cost to the ledger — exactly once.
//!
//! Run with:
//!
//! ```sh
//! cargo run -p kudos-examples --bin clawback
//! ```

#![allow(clippy::print_stdout, reason = "an example program talks to its user")]

use std::sync::Arc;

use kudos_core::{AgentId, Clock, Day, SystemClock};
use kudos_examples::{Error, SALES_RULES, provider, sales_export, scratch};
use kudos_ledger::{Ledger, RunStore};
use kudos_pipeline::{
    AuditLog, LogAlerts, NoProgress, Parts, PayloadSettings, Pipeline, RunOptions, Source,
};
use kudos_privacy::{Pseudonymizer, SecretString};
use kudos_rules::RuleSet;
use kudos_sim::{SimConfig, Simulator};
use kudos_store_sqlite::SqliteStore;

const AGENT: &str = "a1b2c3d4-0000-4000-8000-000000000001";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let dir = scratch("clawback")?;
    let sim = Simulator::start(SimConfig::default()).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn RunStore> =
        Arc::new(SqliteStore::open(&format!("sqlite://{}", dir.join("kudos.db").display())).await?);
    // The default [run] settings: reversal_window_days = 30, reversal_min_debt = 0.
    let pipeline = Pipeline::new(
        Parts::new(
            RuleSet::from_toml(SALES_RULES)?,
            store.clone(),
            Arc::new(provider(&sim, &dir, clock.clone())?),
            clock.clone(),
            PayloadSettings::new(Pseudonymizer::new(SecretString::from("pseudonym key"))),
        )
        .sources(vec![Source {
            pattern: dir.join("exports/*.csv"),
            options: Default::default(),
        }])
        .alerts(Arc::new(LogAlerts)),
    );
    let ledger = Ledger::new(store.clone(), clock);
    let agent = AgentId::new(AGENT)?;
    let run = |day: &'static str| {
        let pipeline = &pipeline;
        let audit = dir.join("audit.jsonl");
        async move {
            let audit = AuditLog::open(&audit, uuid::Uuid::now_v7())?;
            let options = RunOptions::new(Day::parse(day)?);
            Ok::<_, Error>(pipeline.run(Box::new(audit), options, &NoProgress).await?)
        }
    };
    let balance = |day: &'static str| {
        let ledger = &ledger;
        let agent = &agent;
        async move { Ok::<_, Error>(ledger.account(agent).await?.balance(Day::parse(day)?)) }
    };

    sales_export(
        &dir.join("exports/1-monday.csv"),
        &[(AGENT, "2026-03-02", 120)],
    )?;
    let first = run("2026-03-03").await?;
    println!(
        "day 1: 120 sales points, {} voucher issued; balance {}",
        first.issued,
        balance("2026-03-03").await?.balance
    );

    // The source restates Monday: the sales were refunded.
    sales_export(
        &dir.join("exports/2-monday-restated.csv"),
        &[(AGENT, "2026-03-02", 0)],
    )?;
    let second = run("2026-03-04").await?;
    let after = balance("2026-03-04").await?;
    println!(
        "day 2: Monday restated to 0; the agent owed 100, the run reversed {} reward at the marketplace; debt now {}, balance {}",
        second.reversed,
        after.debt.get(),
        after.balance.get()
    );
    println!("marketplace: reward status {}", sim.rewards()[0].status);

    let third = run("2026-03-05").await?;
    let reversals = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/reverse"))
        .count();
    println!(
        "day 3: reversed {} more; reversal requests sent in all: {reversals}",
        third.reversed
    );
    assert_eq!(
        (first.issued, second.reversed, third.reversed, reversals),
        (1, 1, 0, 1)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
