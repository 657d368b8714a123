//! `kudos`: the reference integration and operations tool of the Kudos libraries.
//!
//! Machine-readable output is JSON Lines on stdout; diagnostics go to stderr. Exit codes:
//! 0 all good; 1 fatal (unreadable or unusable input, bad configuration, store unreachable,
//! missing secret, a run stopped before issuing, a broken audit chain); 2 usage error;
//! 3 finished, with rows rejected or rewards rejected, in doubt or in review, waiting on a
//! budget, funds or an approval, or the programme paused.

mod audit;
mod check;
#[cfg(feature = "sim")]
mod demo;
mod export;
mod genesys;
mod ledger;
mod metrics_file;
mod migrate;
mod output;
mod points;
mod programme;
mod run;
#[cfg(feature = "sim")]
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turns contact-centre workforce data into reward points and issues rewards exactly once.
#[derive(Debug, Parser)]
#[command(name = "kudos", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daily batch on bundled sample data, told in words: no network, server or configuration needed.
    #[cfg(feature = "sim")]
    Demo(demo::DemoArgs),
    /// Read workforce exports.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Pull data straight from Genesys Cloud (`[genesys]`) into its staging directory.
    #[command(subcommand)]
    Genesys(genesys::GenesysCommand),
    /// Balances from exports and a rule set: {"agent_id","balance","tier"} per agent, sorted.
    Points(points::PointsArgs),
    /// The reward-marketplace simulator.
    #[cfg(feature = "sim")]
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// The batch: recover, ingest, accrue, claw back, hold, issue, settle; a JSON summary last.
    Run(run::RunArgs),
    /// Holds awaiting an approval, in doubt or in review: list, approve or reject, retry, or
    /// settle by hand.
    Review(run::ReviewArgs),
    /// Pause the programme (every worker on the store): runs still ingest, accrue and settle
    /// what is in doubt by lookup, but make no new hold and send nothing new, and exit 3.
    Pause(programme::SwitchArgs),
    /// End a pause: runs issue again.
    Resume(programme::SwitchArgs),
    /// An agent's points statement: a JSON line per movement (earned by rule and day,
    /// restatements, penalties, expiries, holds, rewards, clawbacks, adjustments), then the
    /// balance, the debt and what expires in the next 30 days. `--expiring-within DAYS`
    /// lists, by pseudonym, the agents whose points expire soon.
    Statement(programme::StatementArgs),
    /// Reports for finance and auditors.
    #[command(subcommand)]
    Report(programme::ReportCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Shell completions for bash, zsh, fish, elvish or PowerShell, on stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Is everything the run needs in place? Configuration, secrets, store, marketplace token,
    /// audit trail, sources: one JSON line each; exit 1 naming what failed.
    Check(check::CheckArgs),
    /// Apply the ledger schema's pending migrations (before a new release's first run; the
    /// service's own role then needs no right to change the schema): {"store","from_version","to_version","applied"}.
    Migrate(migrate::MigrateArgs),
    /// Look at and adjust the points ledger.
    Ledger {
        #[command(flatten)]
        store: ledger::StoreArgs,
        #[command(subcommand)]
        command: ledger::LedgerCommand,
    },
}

/// How a command ended; the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything went well (exit 0).
    Ok,
    /// Something fatal happened (exit 1).
    Fatal,
    /// Finished, but with rows rejected (exit 3).
    Attention,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Ok => Self::SUCCESS,
            Outcome::Fatal => Self::from(1),
            Outcome::Attention => Self::from(3),
        }
    }
}

fn main() -> ExitCode {
    // clap exits with 2 on a usage error, as the contract asks.
    let cli = Cli::parse();
    match cli.command {
        Command::Export(cmd) => export::run(cmd).into(),
        Command::Genesys(cmd) => genesys::run(cmd).into(),
        Command::Ledger { store, command } => ledger::run(&store, command).into(),
        Command::Points(args) => points::run(&args).into(),
        Command::Audit(cmd) => audit::run(cmd).into(),
        Command::Check(args) => check::check(&args).into(),
        Command::Migrate(args) => migrate::run(&args).into(),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "kudos", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        #[cfg(feature = "sim")]
        Command::Demo(args) => demo::run(&args).into(),
        Command::Run(args) => run::run(&args).into(),
        Command::Review(args) => run::review(&args).into(),
        Command::Pause(args) => programme::switch(&args, true).into(),
        Command::Resume(args) => programme::switch(&args, false).into(),
        Command::Statement(args) => programme::statement(&args).into(),
        Command::Report(cmd) => programme::report(&cmd).into(),
        #[cfg(feature = "sim")]
        Command::Sim(cmd) => sim::run(cmd).into(),
    }
}
