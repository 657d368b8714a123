//! A daily batch embedded in a service: `kudos.toml` in, the ledger its `[store] url` names (a
//! SQLite file here), the HTTP marketplace client, the audit trail — the way a service runs Kudos on a schedule, without the CLI.
//!
//! Against the marketplace simulator, on the Genesys samples in `fixtures/genesys/`. The
//! marketplace has a bad day: it asks the batch to slow down once (429 with `Retry-After`) and
//! answers one reward `PENDING`; the next day's batch settles that one by a status lookup.
//!
//! Run with:
//!
//! ```sh
//! cargo run -p kudos-examples --bin daily_batch
//! ```

#![allow(clippy::print_stdout, reason = "an example program talks to its user")]

use std::sync::Arc;

use kudos_core::{Clock, Day, SystemClock};
use kudos_examples::{Error, fixtures, scratch};
use kudos_pipeline::{Config, NoProgress, Pipeline, RunOptions};
use kudos_sim::{FaultPlan, SimConfig, Simulator};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let dir = scratch("daily-batch")?;
    let sim = Simulator::start(SimConfig {
        faults: FaultPlan::from_toml(
            "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 429\nretry_after_secs = 1\n\
             [[fault]]\npath = '/v1/rewards/issue'\nnth = [3]\naction = 'pending'",
        )?,
        ..SimConfig::default()
    })
    .await?;
    std::fs::write(dir.join("client-secret"), "kudos-sim-secret")?;
    std::fs::write(
        dir.join("pseudonym-key"),
        "a long random key from your secret store",
    )?;
    let genesys = fixtures().join("genesys");
    let config = format!(
        r#"[run]
time_zone = "America/New_York"
max_in_flight = 4
[[source]]
path = "{genesys}/wfm_historical_adherence_download.json"
[[source]]
path = "{genesys}/analytics_surveys_aggregates_response.json"
[[source]]
path = "{genesys}/agent_performance_export.csv"
mapping = "genesys-agent-performance"
[rules]
path = "{rules}"
[store]
url = "sqlite://kudos.db"
[marketplace]
base_url = "{base}"
integration_id = "GENESYS-WFM-INTEGRATION-01"
metadata = {{ source_platform = "Genesys Cloud CX", wfm_export_version = "v2.1" }}
[marketplace.oauth]
token_url = "{token}"
client_id = "kudos-sim-client"
client_secret_file = "client-secret"
[privacy]
pseudonym_key_file = "pseudonym-key"
[audit]
path = "audit.jsonl"
"#,
        genesys = genesys.display(),
        rules = fixtures().join("../examples/rules/demo.toml").display(),
        base = sim.base_url(),
        token = sim.token_url(),
    );
    let path = dir.join("kudos.toml");
    std::fs::write(&path, config)?;

    // What a service does once, at start: load and check the configuration, open the store.
    let config = Config::load(&path)?;
    config.check_secrets()?; // a missing secret is an error now, naming its key
    // `[store] url` names the store: sqlite://, postgres:// or memory://.
    let options =
        kudos_store::StoreOptions::new(config.store.max_connections).migrate(config.store.migrate);
    let store = kudos_store::open_with(&config.store.url, options).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let pipeline = Pipeline::from_config(&config, store.clone(), clock)?;

    // What it does on each tick of its scheduler.
    for day in ["2026-03-31", "2026-04-01"] {
        let audit = config.audit_sink(uuid::Uuid::now_v7()).await?;
        let options = RunOptions::new(Day::parse(day)?);
        let summary = pipeline.run(audit, options, &NoProgress).await?;
        println!("{day}: {}", serde_json::to_string(&summary)?);
        if summary.needs_attention() {
            println!(
                "  needs attention: {} alert(s) — see the log and `kudos review list`",
                summary.alerts
            );
        }
    }
    let metrics = pipeline.metrics();
    println!("metrics: {}", serde_json::to_string(&metrics)?);
    let report = kudos_pipeline::verify(&dir.join("audit.jsonl"))?;
    println!(
        "audit trail: {} runs, {} records, verified; rewards at the marketplace: {}",
        report.runs,
        report.records,
        sim.rewards().len()
    );
    assert_eq!(
        sim.rewards().len(),
        usize::try_from(metrics.issued)?,
        "each reward once"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
