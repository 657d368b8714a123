//! `kudos genesys pull`: the data straight from Genesys Cloud into the staging directory,
//! which `kudos run` then reads like any other source.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use kudos_core::{Clock, Day, SystemClock};
use kudos_genesys::{AggregateKind, Staging, pull_aggregates};
use kudos_pipeline::GenesysSettings;
use serde_json::json;

use crate::Outcome;
use crate::output::{Fatal, JsonLines};

/// `kudos genesys …`
#[derive(Debug, Subcommand)]
pub(crate) enum GenesysCommand {
    /// Pull `[genesys] pull` for the days --start to --end (both inclusive) into the staging
    /// directory: {"kind","interval","path","bytes"} per file written, then
    /// {"written","unchanged","start","end"}. A response that says what the last file for the
    /// same days said, in any order, writes nothing.
    Pull(PullArgs),
}

/// `kudos genesys pull --config kudos.toml --start DAY --end DAY`
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// The configuration (flag, else KUDOS_CONFIG, else ./kudos.toml); only its `[genesys]`
    /// table is read.
    #[arg(long, env = "KUDOS_CONFIG", default_value = "kudos.toml")]
    config: PathBuf,
    /// The first day (YYYY-MM-DD), in the `[genesys]` time zone.
    #[arg(long)]
    start: String,
    /// The last day (inclusive).
    #[arg(long)]
    end: String,
}

pub(crate) fn run(cmd: GenesysCommand) -> Outcome {
    match cmd {
        GenesysCommand::Pull(args) => crate::output::run_fatal(pull(args)),
    }
}

fn day(flag: &str, text: &str) -> Result<Day, Fatal> {
    Day::parse(text).map_err(|e| Fatal(format!("{flag}: {e}")))
}

async fn pull(args: PullArgs) -> Result<(), Fatal> {
    let (start, end) = (day("--start", &args.start)?, day("--end", &args.end)?);
    let settings = GenesysSettings::load(&args.config)?;
    let report = pull_into(&settings, start, end).await?;
    let mut out = JsonLines::stdout();
    let write = |out: &mut JsonLines, value: &serde_json::Value| {
        out.write(value)
            .map(|_| ())
            .map_err(|e| Fatal(format!("cannot write to stdout: {e}")))
    };
    for file in &report.written {
        write(
            &mut out,
            &json!({
                "kind": file.kind,
                "interval": file.interval,
                "path": file.path.display().to_string(),
                "bytes": file.bytes,
            }),
        )?;
    }
    write(
        &mut out,
        &json!({
            "written": report.written.len(),
            "unchanged": report.unchanged,
            "start": start.to_string(),
            "end": end.to_string(),
        }),
    )
}

/// Pulls what `settings` names for the days `start..=end` into its staging directory.
pub(crate) async fn pull_into(
    settings: &GenesysSettings,
    start: Day,
    end: Day,
) -> Result<kudos_genesys::PullReport, Fatal> {
    let time_zone: chrono_tz::Tz = settings
        .time_zone
        .parse()
        .map_err(|_| Fatal("genesys.time_zone: not an IANA time zone".into()))?;
    let kinds = settings
        .pull
        .iter()
        .filter(|k| k.as_str() != "adherence")
        .map(|k| AggregateKind::parse(k))
        .collect::<Result<Vec<_>, _>>()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let api = settings.api(clock.clone())?;
    let staging = Staging::open(&settings.staging)?;
    let mut report = pull_aggregates(
        &api,
        &staging,
        &kinds,
        start,
        end,
        time_zone,
        clock.as_ref(),
    )
    .await?;
    if settings.pull.iter().any(|k| k == "adherence") {
        let units = if settings.management_units.is_empty() {
            kudos_genesys::management_units(&api).await?
        } else {
            settings.management_units.clone()
        };
        let adherence = kudos_genesys::pull_adherence(
            &api,
            &staging,
            &units,
            start,
            end,
            time_zone,
            kudos_genesys::JobPolling::default(),
        )
        .await?;
        report.written.extend(adherence.written);
        report.unchanged += adherence.unchanged;
    }
    Ok(report)
}
