//! `kudos points`: exports and rules in, balances out — the ledger's semantics, in memory.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kudos_core::{AgentId, Clock, Day, SystemClock};
use kudos_ledger::{AccountCommands, Command, Ledger, MemoryStore};
use kudos_rules::RuleSet;
use kudos_wfm::WfmError;
use serde_json::json;

use crate::Outcome;
use crate::export::InputArgs;
use crate::output::{JsonLines, diag, error_chain};

/// `kudos points --rules RULES [--as-of DAY] [--format F] [--time-zone TZ] [--mapping M] FILE…`
#[derive(Debug, Args)]
pub(crate) struct PointsArgs {
    /// The rule set (TOML).
    #[arg(long)]
    rules: PathBuf,
    /// The day balances are computed on; records after it are skipped (default: today, UTC).
    #[arg(long = "as-of")]
    as_of: Option<String>,
    /// Export files, applied in the order given (a later file restates an earlier one).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
}

pub(crate) fn run(args: &PointsArgs) -> Outcome {
    match crate::output::current_thread() {
        Ok(runtime) => runtime.block_on(points(args)),
        Err(outcome) => outcome,
    }
}

async fn points(args: &PointsArgs) -> Outcome {
    let fatal = |message: String| {
        diag(format_args!("error: {message}"));
        Outcome::Fatal
    };
    let rules = match RuleSet::from_path(&args.rules) {
        Ok(r) => r,
        Err(e) => return fatal(error_chain(&e)),
    };
    let options = match args.input.options() {
        Ok(o) => o,
        Err(e) => return fatal(error_chain(&e)),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let as_of = match &args.as_of {
        Some(text) => match Day::parse(text) {
            Ok(d) => d,
            Err(e) => return fatal(format!("--as-of: {e}")),
        },
        None => match Day::from_naive(clock.now().date_naive()) {
            Some(d) => d,
            None => return fatal("today is out of range".to_owned()),
        },
    };
    let ledger = Ledger::new(MemoryStore::new(), clock);
    let (mut failed, mut rejected, mut future) = (false, 0u64, 0u64);
    let mut agents = BTreeSet::new();
    for file in &args.files {
        let records = match kudos_wfm::open(file, &options) {
            Ok(r) => r,
            Err(e) => {
                diag(format_args!("error: {}", error_chain(&e)));
                failed = true;
                continue;
            }
        };
        let mut by_agent: HashMap<AgentId, Vec<Command>> = HashMap::new();
        let mut events = Vec::new();
        for item in records {
            let record = match item {
                Ok(r) => r,
                Err(WfmError::Row(row)) => {
                    diag(format_args!("rejected row: {row}"));
                    rejected += 1;
                    continue;
                }
                Err(e) => {
                    diag(format_args!("error: {}", error_chain(&e)));
                    failed = true;
                    continue;
                }
            };
            if record.day > as_of {
                future += 1;
                continue;
            }
            events.clear();
            if let Err(e) = rules.evaluate_into(&record, &mut events) {
                diag(format_args!(
                    "rejected row: {}:{}: {e}",
                    record.origin.source, record.origin.line
                ));
                rejected += 1;
                continue;
            }
            for event in events.drain(..) {
                let expires = match rules.expiry(event.day()) {
                    Ok(d) => d,
                    Err(e) => return fatal(e.to_string()),
                };
                agents.insert(event.agent().clone());
                by_agent
                    .entry(event.agent().clone())
                    .or_default()
                    .push(Command::Accrue { event, expires });
            }
        }
        let work: Vec<AccountCommands> = by_agent
            .into_iter()
            .map(|(agent, commands)| AccountCommands::new(agent, commands))
            .collect();
        match ledger.execute_many(&work).await {
            Ok(results) => {
                for (AccountCommands { agent, .. }, result) in work.iter().zip(results) {
                    if let Err(e) = result {
                        diag(format_args!("error: agent {agent}: {}", error_chain(&e)));
                        failed = true;
                    }
                }
            }
            Err(e) => return fatal(error_chain(&e)),
        }
    }
    if future > 0 {
        diag(format_args!(
            "{future} records dated after {as_of} were skipped"
        ));
    }
    let mut out = JsonLines::stdout();
    for agent in &agents {
        let balance = match ledger.account(agent).await {
            Ok(account) => account.balance(as_of).balance,
            Err(e) => return fatal(error_chain(&e)),
        };
        let tier = rules.tier_for(balance).map(|t| t.id().to_string());
        match out.write(&json!({"agent_id": agent, "balance": balance, "tier": tier})) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return fatal(format!("cannot write to stdout: {e}")),
        }
    }
    if let Err(e) = out.flush() {
        return fatal(format!("cannot write to stdout: {e}"));
    }
    if failed {
        Outcome::Fatal
    } else if rejected > 0 {
        Outcome::Attention
    } else {
        Outcome::Ok
    }
}
