//! `kudos points`: exports and rules in, balances out — the ledger's semantics, in memory: each
//! agent's account folded as the records stream in, no entry kept.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kudos_core::{AgentId, Clock, Day, SystemClock};
use kudos_ledger::{Account, Command, Entry, LedgerError, Plan};
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
    // Each agent's account, folded event by event as the records stream in: the ledger's
    // arithmetic (`Account::plan`, then `apply`), without a store of every entry.
    let now = clock.now();
    let mut accounts: HashMap<AgentId, Account, foldhash::fast::RandomState> = HashMap::default();
    let (mut failed, mut rejected, mut future) = (false, 0u64, 0u64);
    let mut events = Vec::new();
    for file in &args.files {
        let records = match kudos_wfm::open(file, &options) {
            Ok(r) => r,
            Err(e) => {
                diag(format_args!("error: {}", error_chain(&e)));
                failed = true;
                continue;
            }
        };
        // Read on a second thread while this one applies the rules and folds the accounts.
        for item in records.in_background() {
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
                let account = accounts
                    .entry(event.agent().clone())
                    .or_insert_with_key(|agent| Account::without_history(agent.clone()));
                match accrue(account, Command::Accrue { event, expires }, now) {
                    Ok(()) => {}
                    // Points the balance cannot represent: the row is rejected, as a run does.
                    Err(e @ LedgerError::Overflow { .. }) => {
                        diag(format_args!(
                            "rejected row: {}:{}: {}",
                            record.origin.source,
                            record.origin.line,
                            error_chain(&e)
                        ));
                        rejected += 1;
                    }
                    Err(e) => {
                        diag(format_args!(
                            "error: {}:{}: {}",
                            record.origin.source,
                            record.origin.line,
                            error_chain(&e)
                        ));
                        failed = true;
                    }
                }
            }
        }
    }
    if future > 0 {
        diag(format_args!(
            "{future} records dated after {as_of} were skipped"
        ));
    }
    let mut out = JsonLines::stdout();
    let mut agents: Vec<(AgentId, Account)> = accounts.into_iter().collect();
    agents.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (agent, account) in &agents {
        let balance = account.balance(as_of).balance;
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

/// Plans `command` on `account` and applies what it appends, as the ledger would (no store).
fn accrue(
    account: &mut Account,
    command: Command,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), LedgerError> {
    if let Plan::Append(id, op) = account.plan(&command)? {
        account.apply(Entry { id, at: now, op })?;
    }
    Ok(())
}
