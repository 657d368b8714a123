//! Reads a workforce export with `kudos-wfm` and prints, per agent, how many records each
//! metric has and their total — the way a service would embed the parser before scoring.
//!
//! Run with:
//!
//! ```sh
//! cargo run -p kudos-example-parse-export -- fixtures/genesys/agent_performance_export.csv
//! cargo run -p kudos-example-parse-export -- fixtures/genesys/wfm_historical_adherence_download.json America/New_York
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example program talks to its user"
)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use kudos_wfm::{ParseOptions, WfmError};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: parse-export FILE [TIME_ZONE]");
        return ExitCode::from(2);
    };
    let zone = args.next().unwrap_or_else(|| "UTC".to_owned());
    match summarise(&path, &zone) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a per-agent summary; returns the number of rejected rows.
fn summarise(path: &str, zone: &str) -> Result<u64, WfmError> {
    let options = ParseOptions::default().with_time_zone(zone)?;
    let mut records = kudos_wfm::open(path, &options)?;
    // agent -> metric -> (records, sum)
    let mut per_agent: BTreeMap<String, BTreeMap<String, (u32, f64)>> = BTreeMap::new();
    for item in records.by_ref() {
        match item {
            Ok(r) => {
                let slot = per_agent
                    .entry(r.agent.to_string())
                    .or_default()
                    .entry(r.metric.to_string())
                    .or_default();
                slot.0 += 1;
                slot.1 += r.value;
            }
            Err(WfmError::Row(row)) => eprintln!("rejected: {row}"),
            Err(file_error) => return Err(file_error),
        }
    }
    for (agent, metrics) in &per_agent {
        println!("{agent}");
        for (metric, (n, sum)) in metrics {
            println!("  {metric:<28} {n:>3} records, total {sum}");
        }
    }
    let report = records.report();
    println!(
        "{} records from {} agents ({}), {} rows rejected",
        report.records,
        per_agent.len(),
        report.format,
        report.rejected_rows
    );
    Ok(report.rejected_rows)
}
