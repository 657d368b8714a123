//! `kudos export parse`: read exports and print their records.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use kudos_wfm::{Format, Mapping, ParseOptions, WfmError};
use serde::Serialize;

use crate::Outcome;
use crate::output::{JsonLines, diag, error_chain};

/// `kudos export …`
#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Parse export files and print one JSON line per record:
    /// {"agent_id","date","metric","value","dims"}. Rejected rows go to stderr.
    Parse(ParseArgs),
}

/// The options every command that reads exports shares.
#[derive(Debug, Args)]
pub(crate) struct InputArgs {
    /// Input format (auto detects it).
    #[arg(long, default_value = "auto", value_parser = format_parser())]
    pub(crate) format: Format,
    /// IANA time zone that days are computed in.
    #[arg(long = "time-zone", default_value = "UTC")]
    pub(crate) time_zone: String,
    /// Wide-CSV mapping: a preset name (genesys-agent-performance) or a TOML file.
    #[arg(long)]
    pub(crate) mapping: Option<String>,
}

/// `kudos export parse FILE… [--format F] [--time-zone TZ] [--mapping M]`
#[derive(Debug, Args)]
pub(crate) struct ParseArgs {
    /// Export files, read in the order given.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
}

/// The formats, listed in `--help` and checked by clap.
fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new([
        "auto",
        "canonical-csv",
        "canonical-json",
        "wide-csv",
        "genesys-adherence",
        "genesys-aggregates",
    ])
    .try_map(|s| s.parse::<Format>().map_err(|e: WfmError| e.to_string()))
}

impl InputArgs {
    /// The parse options, or a fatal diagnostic.
    pub(crate) fn options(&self) -> Result<ParseOptions, WfmError> {
        let mut options = ParseOptions::default()
            .with_format(self.format)
            .with_time_zone(&self.time_zone)?;
        if let Some(spec) = &self.mapping {
            options = options.with_mapping(Mapping::resolve(spec)?);
        }
        Ok(options)
    }
}

/// One record, as `export parse` prints it.
#[derive(Serialize)]
struct Line<'a> {
    agent_id: &'a str,
    date: kudos_core::Day,
    metric: &'a str,
    value: f64,
    dims: &'a BTreeMap<String, String>,
}

pub(crate) fn run(cmd: ExportCommand) -> Outcome {
    match cmd {
        ExportCommand::Parse(args) => parse(&args),
    }
}

fn parse(args: &ParseArgs) -> Outcome {
    let options = match args.input.options() {
        Ok(o) => o,
        Err(e) => {
            diag(format_args!("error: {}", error_chain(&e)));
            return Outcome::Fatal;
        }
    };
    let mut out = JsonLines::stdout();
    let (mut fatal, mut rejected) = (false, 0u64);
    for file in &args.files {
        let records = match kudos_wfm::open(file, &options) {
            Ok(r) => r,
            Err(e) => {
                diag(format_args!("error: {}", error_chain(&e)));
                fatal = true;
                continue;
            }
        };
        let name = file.display().to_string();
        // Read on a second thread while this one writes the lines.
        let mut records = records.in_background();
        for warning in records.report().warnings.clone() {
            diag(format_args!("warning: {name}:{warning}"));
        }
        for item in records.by_ref() {
            match item {
                Ok(r) => {
                    let line = Line {
                        agent_id: r.agent.as_str(),
                        date: r.day,
                        metric: r.metric.as_str(),
                        value: r.value,
                        dims: &r.dims,
                    };
                    match out.write(&line) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            diag(format_args!("error: cannot write to stdout: {e}"));
                            return Outcome::Fatal;
                        }
                    }
                }
                Err(WfmError::Row(row)) => diag(format_args!("rejected row: {row}")),
                Err(e) => {
                    diag(format_args!("error: {}", error_chain(&e)));
                    fatal = true;
                }
            }
        }
        let report = records.report();
        rejected += report.rejected_rows;
        diag(format_args!(
            "{name}: {} records, {} rejected rows, {} duplicates dropped ({})",
            report.records, report.rejected_rows, report.duplicates, report.format
        ));
    }
    if let Err(e) = out.flush() {
        diag(format_args!("error: cannot write to stdout: {e}"));
        return Outcome::Fatal;
    }
    if fatal {
        Outcome::Fatal
    } else if rejected > 0 {
        Outcome::Attention
    } else {
        Outcome::Ok
    }
}
