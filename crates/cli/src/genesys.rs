//! `kudos genesys pull`: the data straight from Genesys Cloud into the staging directory,
//! which `kudos run` then reads like any other source.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use kudos_core::{Clock, Day, SystemClock};
use kudos_genesys::{AggregateKind, Staging, pull_aggregates};
use kudos_pipeline::GenesysSettings;
use serde_json::json;

use crate::Outcome;
use crate::output::{Fatal, JsonLines, diag};

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
        GenesysCommand::Pull(args) => {
            let runtime = match crate::output::current_thread() {
                Ok(r) => r,
                Err(outcome) => return outcome,
            };
            match runtime.block_on(pull(args)) {
                Ok(false) => Outcome::Ok,
                // Pulled, but something came back empty: exit 3, as a run that needs a look.
                Ok(true) => Outcome::Attention,
                Err(Fatal(message)) => {
                    diag(format_args!("error: {message}"));
                    Outcome::Fatal
                }
            }
        }
    }
}

fn day(flag: &str, text: &str) -> Result<Day, Fatal> {
    Day::parse(text).map_err(|e| Fatal(format!("{flag}: {e}")))
}

/// Pulls and prints; whether anything came back empty.
async fn pull(args: PullArgs) -> Result<bool, Fatal> {
    let (start, end) = (day("--start", &args.start)?, day("--end", &args.end)?);
    let settings = GenesysSettings::load(&args.config)?;
    // On a terminal, a spinner while Genesys works (adherence jobs take minutes).
    let spinner = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("pulling {start} to {end} from Genesys Cloud"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let report = pull_into(&settings, start, end).await;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let report = report?;
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
            "empty": report.empty.len(),
            "start": start.to_string(),
            "end": end.to_string(),
        }),
    )?;
    for context in &report.empty {
        diag(format_args!(
            "warning: no data for {context} (a missing permission or division answers with nothing)"
        ));
    }
    Ok(!report.empty.is_empty())
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
        report.empty.extend(adherence.empty);
    }
    Ok(report)
}
