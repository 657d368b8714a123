//! `kudos run` and `kudos review`: the daily batch, and the operator's verbs for what it left.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kudos_core::{Clock, Day, SystemClock, TxnId};
use kudos_ledger::{HoldState, ReversalState};
use kudos_pipeline::{
    Config, Operator, Pipeline, PipelineError, Progress, ReviewKind, RunOptions, Summary,
};
use uuid::Uuid;

use crate::Outcome;
use crate::ledger::{hold_line, reversal_line, write_holds};
use crate::output::{Fatal, JsonLines, diag, error_chain};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Plain lines.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, fields, span).
    Json,
}

/// `kudos run --config kudos.toml [--as-of DAY] [--dry-run]`
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration (flag, else KUDOS_CONFIG, else ./kudos.toml).
    #[arg(long, env = "KUDOS_CONFIG", default_value = "kudos.toml")]
    config: PathBuf,
    /// How log lines on stderr are written.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Write the run's figures here in the Prometheus text format (for node_exporter's
    /// textfile collector), replacing the file whole.
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// The run's day (default: today in `[run] time_zone`); records after it wait.
    #[arg(long = "as-of")]
    as_of: Option<String>,
    /// Print what the run would do, from a copy of the state; write and send nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `kudos review …` (`--config kudos.toml`)
#[derive(Debug, Args)]
pub(crate) struct ReviewArgs {
    /// The configuration (flag, else KUDOS_CONFIG, else ./kudos.toml).
    #[arg(
        long,
        env = "KUDOS_CONFIG",
        default_value = "kudos.toml",
        global = true
    )]
    config: PathBuf,
    /// How log lines on stderr are written.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: ReviewCommand,
}

#[derive(Debug, Subcommand)]
enum ReviewCommand {
    /// Holds awaiting an approval, in doubt or in review: holds as `ledger holds` prints them
    /// (`"kind":"hold"`), then reversals in doubt or in review (`"kind":"reversal"`).
    List,
    /// Approve a reward that waits for an approval (`[approval] above_cost`): the next run
    /// sends it.
    Approve {
        /// The hold's transaction id.
        txn: String,
        /// Who is acting, for the audit trail (default: the login name).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Reject a reward that waits for an approval: it is never sent; its points return.
    Reject {
        /// The hold's transaction id.
        txn: String,
        /// Who is acting, for the audit trail (default: the login name).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Send a hold's stored request again (same bytes, same idempotency key) and settle the answer.
    /// A hold older than `[run] idempotency_key_retention_hours` is looked up instead, never re-sent.
    /// A reversal's redemption is looked up; the reversal is recorded if the marketplace
    /// reversed it, or sent again with its stored bytes if the reward is still issued.
    Retry {
        /// The hold's or reversal's transaction id.
        txn: String,
        /// Who is acting, for the audit trail (default: the login name).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Settle a hold (`--issued` | `--not-issued`) or a reversal (`--reversed` |
    /// `--not-reversed`) by hand, after checking with the marketplace.
    #[command(group = clap::ArgGroup::new("verdict").required(true).multiple(false))]
    Settle {
        /// The hold's or reversal's transaction id.
        txn: String,
        /// The reward was issued: commit the hold.
        #[arg(long, group = "verdict")]
        issued: bool,
        /// The reward was not issued: release the hold (its points return).
        #[arg(long, group = "verdict")]
        not_issued: bool,
        /// The marketplace reversed the reward: record the reversal (its points return).
        #[arg(long, group = "verdict")]
        reversed: bool,
        /// The reward stays issued: end the reversal (the debt stays).
        #[arg(long, group = "verdict")]
        not_reversed: bool,
        /// Who is acting, for the audit trail (default: the login name).
        #[arg(long)]
        operator: Option<String>,
        /// Settle even though the marketplace says otherwise (or cannot be asked).
        #[arg(long)]
        force: bool,
    },
}

/// Logs go to stderr: plain lines (level `KUDOS_LOG`, default `info`; `warn` under a bar).
fn init_logs(terminal: bool, format: LogFormat) {
    let default = if terminal { "warn" } else { "info" };
    // `KUDOS_LOG` first (its older name), then `RUST_LOG`, as Rust users expect.
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUDOS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(terminal).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Fatal> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start the runtime: {e}")))
}

/// Loads the configuration, checks every secret, opens the store and builds the pipeline.
pub(crate) async fn pipeline(
    path: &Path,
    clock: Arc<dyn Clock>,
) -> Result<(Config, Pipeline), Fatal> {
    let config = Config::load(path)?;
    config.check_secrets()?;
    let store = crate::migrate::open_store(&config.store)
        .await
        .map_err(|e| {
            Fatal(format!(
                "store {}: {}",
                kudos_store::redacted(&config.store.url),
                error_chain(&e)
            ))
        })?;
    let pipeline = Pipeline::from_config(&config, store, clock)?;
    Ok((config, pipeline))
}

/// Today in the run's zone, or `--as-of`.
pub(crate) fn run_day(
    config: &Config,
    as_of: Option<&str>,
    clock: &dyn Clock,
) -> Result<Day, Fatal> {
    if let Some(text) = as_of {
        return Day::parse(text).map_err(|e| Fatal(format!("--as-of: {e}")));
    }
    let zone: chrono_tz::Tz = config.run.time_zone.parse().map_err(|_| {
        Fatal(format!(
            "run.time_zone: unknown zone {:?}",
            config.run.time_zone
        ))
    })?;
    Day::from_naive(clock.now().with_timezone(&zone).date_naive())
        .ok_or_else(|| Fatal("today is out of range".to_owned()))
}

/// A bar on a terminal; plain log lines otherwise.
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn step(&self, name: &'static str, total: Option<u64>) {
        match &self.0 {
            Some(bar) => {
                bar.reset();
                bar.set_length(total.unwrap_or(0));
                bar.set_message(name);
            }
            None => tracing::info!(step = name, items = total, "step"),
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    fn finished(&self, name: &'static str) {
        if self.0.is_none() {
            tracing::info!(step = name, "step finished");
        }
    }
}

pub(crate) fn run(args: &RunArgs) -> Outcome {
    // A bar only on a terminal, and not among JSON log lines.
    let terminal = std::io::stderr().is_terminal() && args.log_format == LogFormat::Text;
    init_logs(terminal, args.log_format);
    let result = match runtime() {
        Ok(rt) => rt.block_on(run_once(args, terminal)),
        Err(Fatal(message)) => Err((message, None)),
    };
    match result {
        Ok(summary) => {
            if print(&summary).is_err() {
                return Outcome::Fatal;
            }
            if summary.needs_attention() {
                Outcome::Attention
            } else {
                Outcome::Ok
            }
        }
        Err((message, summary)) => {
            diag(format_args!("error: {message}"));
            if let Some(s) = summary {
                let _ = print(&s);
            }
            Outcome::Fatal
        }
    }
}

fn print(summary: &Summary) -> Result<(), ()> {
    let mut out = JsonLines::stdout();
    match out.write(summary).and_then(|_| out.flush()) {
        Ok(_) => Ok(()),
        Err(e) => {
            diag(format_args!("error: cannot write to stdout: {e}"));
            Err(())
        }
    }
}

type RunError = (String, Option<Summary>);

async fn run_once(args: &RunArgs, terminal: bool) -> Result<Summary, RunError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fatal = |f: Fatal| (f.0, None);
    let (config, pipeline) = pipeline(&args.config, clock.clone()).await.map_err(fatal)?;
    let as_of = run_day(&config, args.as_of.as_deref(), clock.as_ref()).map_err(fatal)?;
    // `[genesys] pull_before_run_days`: the days before the run's day, pulled first (not on a
    // dry run, which writes nothing). A pull that fails stops the run before anything else.
    if let Some(genesys) = config.genesys.as_ref().filter(|_| !args.dry_run)
        && let Some(days) = genesys.pull_before_run_days
    {
        let day = |n: i64| as_of.add_days(-n).map_err(|e| Fatal(e.to_string()));
        let first = day(i64::from(days)).map_err(fatal)?;
        let last = day(1).map_err(fatal)?;
        let report = crate::genesys::pull_into(genesys, first, last)
            .await
            .map_err(|f| (format!("the pull from Genesys Cloud failed: {}", f.0), None))?;
        tracing::info!(
            written = report.written.len(),
            unchanged = report.unchanged,
            "pulled from Genesys Cloud"
        );
    }
    let run_id = Uuid::now_v7();
    let audit = config
        .audit_sink(run_id)
        .await
        .map_err(|e| (error_chain(&e), None))?;
    let bar = terminal.then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let progress = Bar(bar);
    let options = RunOptions::new(as_of).dry_run(args.dry_run);
    let started = clock.now();
    let result = pipeline.run(audit, options, &progress).await;
    if let Some(bar) = &progress.0 {
        bar.finish_and_clear();
    }
    if let Some(path) = &args.metrics_file {
        let summary = match &result {
            Ok(summary) => Some(summary),
            Err(PipelineError::Stopped { summary, .. }) => Some(summary.as_ref()),
            Err(_) => None,
        };
        let figures = crate::metrics_file::RunFigures {
            summary,
            metrics: &pipeline.metrics(),
            duration: (clock.now() - started).to_std().unwrap_or_default(),
            ended: clock.now(),
            finished: result.is_ok(),
        };
        if let Err(e) = crate::metrics_file::write(path, &figures) {
            diag(format_args!(
                "warning: {}: cannot write the metrics file: {e}",
                path.display()
            ));
        }
    }
    match result {
        Ok(summary) => Ok(summary),
        Err(PipelineError::Stopped { reason, summary }) => Err((
            format!("the run stopped before issuing: {reason}"),
            Some(*summary),
        )),
        Err(e) => Err((error_chain(&e), None)),
    }
}

pub(crate) fn review(args: &ReviewArgs) -> Outcome {
    init_logs(false, args.log_format);
    match runtime().and_then(|rt| rt.block_on(review_once(args))) {
        Ok(outcome) => outcome,
        Err(Fatal(message)) => {
            diag(format_args!("error: {message}"));
            Outcome::Fatal
        }
    }
}

async fn review_once(args: &ReviewArgs) -> Result<Outcome, Fatal> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut out = JsonLines::stdout();
    if matches!(args.command, ReviewCommand::List) {
        // Listing needs only the store: no secrets, no marketplace.
        let config = Config::load(&args.config)?;
        let store = crate::migrate::open_store(&config.store).await?;
        let mut holds = store.holds(Some(HoldState::AwaitingApproval)).await?;
        holds.extend(store.holds(Some(HoldState::InDoubt)).await?);
        holds.extend(store.holds(Some(HoldState::Review)).await?);
        write_holds(&mut out, holds)?;
        let mut reversals = store.reversals(Some(ReversalState::Open)).await?;
        reversals.extend(store.reversals(Some(ReversalState::InDoubt)).await?);
        reversals.extend(store.reversals(Some(ReversalState::Review)).await?);
        reversals
            .sort_by(|x, y| (&x.agent, x.created_at, x.txn).cmp(&(&y.agent, y.created_at, y.txn)));
        for reversal in &reversals {
            if !out.write(&reversal_line(reversal))? {
                break;
            }
        }
        out.flush()?;
        return Ok(Outcome::Ok);
    }
    let (config, pipeline) = pipeline(&args.config, clock.clone()).await?;
    let day = run_day(&config, None, clock.as_ref())?;
    let audit = config.audit_sink(Uuid::now_v7()).await?;
    let parse = |t: &str| t.parse::<TxnId>().map_err(|e| Fatal(e.to_string()));
    let (line, unresolved) = match &args.command {
        ReviewCommand::List => return Ok(Outcome::Ok),
        ReviewCommand::Approve { txn, operator } => {
            let operator = Operator::named(operator_name(operator.as_deref()));
            let h = pipeline
                .review_approve(audit, parse(txn)?, day, &operator)
                .await?;
            // Approved is what the operator asked for: nothing left to do by hand.
            (hold_line(&h), false)
        }
        ReviewCommand::Reject { txn, operator } => {
            let operator = Operator::named(operator_name(operator.as_deref()));
            let h = pipeline
                .review_reject(audit, parse(txn)?, day, &operator)
                .await?;
            (hold_line(&h), false)
        }
        ReviewCommand::Retry { txn, operator } => {
            let operator = Operator::named(operator_name(operator.as_deref()));
            let txn = parse(txn)?;
            if pipeline.review_kind(txn).await? == ReviewKind::Reversal {
                let r = pipeline
                    .review_retry_reversal(audit, txn, day, &operator)
                    .await?;
                (reversal_line(&r), r.state.is_unresolved())
            } else {
                let h = pipeline.review_retry(audit, txn, day, &operator).await?;
                (hold_line(&h), h.state.is_unresolved())
            }
        }
        ReviewCommand::Settle {
            txn,
            issued,
            not_issued,
            reversed,
            not_reversed,
            operator,
            force,
        } => {
            let operator = Operator {
                name: operator_name(operator.as_deref()),
                force: *force,
            };
            let txn = parse(txn)?;
            if *reversed || *not_reversed {
                let r = pipeline
                    .review_settle_reversal(audit, txn, *reversed, day, &operator)
                    .await?;
                (reversal_line(&r), r.state.is_unresolved())
            } else if *issued || *not_issued {
                let h = pipeline
                    .review_settle(audit, txn, *issued, day, &operator)
                    .await?;
                (hold_line(&h), h.state.is_unresolved())
            } else {
                return Err(Fatal(
                    "say what became of it: --issued or --not-issued for a hold, --reversed or \
                     --not-reversed for a reversal"
                        .to_owned(),
                ));
            }
        }
    };
    out.write(&line)?;
    out.flush()?;
    Ok(if unresolved {
        Outcome::Attention
    } else {
        Outcome::Ok
    })
}

/// `--operator`, or the login name (`USER`, `LOGNAME`), or `unknown`.
pub(crate) fn operator_name(given: Option<&str>) -> String {
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
