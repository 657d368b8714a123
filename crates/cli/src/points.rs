//! `kudos points`: exports and rules in, balances out — the ledger's semantics, in memory: each
//! agent's account folded as the records stream in, no entry kept.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use clap::Args;
use kudos_core::{AgentId, AgentKeyIds, Clock, Day, Points, SystemClock};
use kudos_ledger::{Account, KeyedAccrual, LedgerError};
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
    // arithmetic (`Account::fold_accrual`), without a store of every entry. The file is read
    // and the rules applied on a second thread, in batches, while this one makes each event's
    // key id and folds.
    let mut accounts = Accounts::default();
    let (mut failed, mut rejected, mut future) = (false, 0u64, 0u64);
    for file in &args.files {
        let records = match kudos_wfm::open(file, &options) {
            Ok(r) => r,
            Err(e) => {
                diag(format_args!("error: {}", error_chain(&e)));
                failed = true;
                continue;
            }
        };
        let folded = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
            let rules = &rules;
            let evaluating = std::thread::Builder::new()
                .name("kudos-points-read".to_owned())
                .spawn_scoped(scope, move || evaluate(records, rules, as_of, &tx));
            if let Err(e) = evaluating {
                return Err(format!(
                    "cannot start a thread to read {}: {e}",
                    file.display()
                ));
            }
            let file_name = file.display().to_string();
            for batch in rx {
                // The batch's agents, each with its account's slot and its keys' hasher.
                let agents: Vec<(usize, AgentKeyIds)> = batch
                    .agents
                    .into_iter()
                    .map(|agent| (accounts.slot(&agent), AgentKeyIds::new(agent)))
                    .collect();
                let mut events = batch.events.into_iter();
                let source = batch.source.as_deref().unwrap_or(&file_name);
                for row in batch.rows {
                    match row {
                        Row::Events { line, count, dims } => {
                            for event in events.by_ref().take(count) {
                                let (Some((slot, ids)), Some(rule)) =
                                    (agents.get(event.agent), rules.rules().get(event.rule))
                                else {
                                    continue; // the reading thread indexes only what is there
                                };
                                let accrual = KeyedAccrual {
                                    id: ids.id_of(event.day, &rule.id, &rule.metric, &dims),
                                    day: event.day,
                                    points: event.points,
                                    expires: event.expires,
                                };
                                let Some(account) = accounts.get(*slot) else {
                                    continue;
                                };
                                match account.fold_accrual(accrual) {
                                    Ok(_) => {}
                                    // Points the balance cannot represent: the row is
                                    // rejected, as a run does.
                                    Err(e @ LedgerError::Overflow { .. }) => {
                                        diag(format_args!(
                                            "rejected row: {source}:{line}: {}",
                                            error_chain(&e)
                                        ));
                                        rejected += 1;
                                    }
                                    Err(e) => {
                                        diag(format_args!(
                                            "error: {source}:{line}: {}",
                                            error_chain(&e)
                                        ));
                                        failed = true;
                                    }
                                }
                            }
                        }
                        Row::Rejected(message) => {
                            diag(format_args!("rejected row: {message}"));
                            rejected += 1;
                        }
                        Row::Failed(message) => {
                            diag(format_args!("error: {message}"));
                            failed = true;
                        }
                        Row::Future => future += 1,
                        Row::Fatal(message) => return Err(message),
                    }
                }
            }
            Ok(())
        });
        if let Err(message) = folded {
            return fatal(message);
        }
    }
    if future > 0 {
        diag(format_args!(
            "{future} records dated after {as_of} were skipped"
        ));
    }
    let mut out = JsonLines::stdout();
    let mut agents = accounts.slots;
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

/// Records read ahead of the fold, a batch at a time.
const BATCH: usize = 1024;
/// Batches in flight: the reading thread stops this far ahead of the fold.
const IN_FLIGHT: usize = 4;

/// What the reading thread made of a record, in file order.
enum Row {
    /// The record's events: the next `count` of its batch's events, with the record's
    /// dimensions (part of each event's key).
    Events {
        line: u64,
        count: usize,
        dims: BTreeMap<String, String>,
    },
    /// A row rejected by the parser or by the rules: what to print after `rejected row: `.
    Rejected(String),
    /// A file error: what to print after `error: `.
    Failed(String),
    /// A record dated after `--as-of`: skipped.
    Future,
    /// The command cannot go on.
    Fatal(String),
}

/// A rule's points for a record, as the fold needs them to make the event's key id and fold
/// it: the record's agent (an index into its batch's `agents`), the rule (an index into the
/// rule set's rules), the record's day, the points and the lots' expiry.
struct Scored {
    agent: usize,
    rule: usize,
    day: Day,
    points: Points,
    expires: Day,
}

/// Records read and evaluated, with their events in order.
struct Batch {
    /// The records' source (one file's records share it): for messages.
    source: Option<Arc<str>>,
    rows: Vec<Row>,
    agents: Vec<AgentId>,
    events: Vec<Scored>,
}

impl Batch {
    fn new() -> Self {
        Self {
            source: None,
            rows: Vec::with_capacity(BATCH),
            agents: Vec::new(),
            events: Vec::with_capacity(2 * BATCH),
        }
    }
}

/// The reading thread: reads `records`, applies `rules` to each record dated up to `as_of`,
/// and sends the points in batches until the file ends or the fold hangs up. No event key is
/// made here: the fold hashes each key from its parts (so no shared name crosses threads).
fn evaluate(records: kudos_wfm::Records, rules: &RuleSet, as_of: Day, tx: &SyncSender<Batch>) {
    let mut batch = Batch::new();
    let mut scratch = Vec::new();
    for item in records {
        let row = match item {
            Ok(record) if record.day > as_of => Row::Future,
            Ok(record) => {
                if batch.source.is_none() {
                    batch.source = Some(Arc::clone(&record.origin.source));
                }
                scratch.clear();
                match rules.points_into(&record, &mut scratch) {
                    Ok(()) if scratch.is_empty() => Row::Events {
                        line: record.origin.line,
                        count: 0,
                        dims: BTreeMap::new(),
                    },
                    Ok(()) => match rules.expiry(record.day) {
                        Ok(expires) => {
                            if batch.agents.last() != Some(&record.agent) {
                                batch.agents.push(record.agent);
                            }
                            let agent = batch.agents.len() - 1;
                            batch
                                .events
                                .extend(scratch.iter().map(|&(rule, points)| Scored {
                                    agent,
                                    rule,
                                    day: record.day,
                                    points,
                                    expires,
                                }));
                            Row::Events {
                                line: record.origin.line,
                                count: scratch.len(),
                                dims: record.dims,
                            }
                        }
                        Err(e) => Row::Fatal(e.to_string()),
                    },
                    Err(e) => Row::Rejected(format!(
                        "{}:{}: {e}",
                        record.origin.source, record.origin.line
                    )),
                }
            }
            Err(WfmError::Row(row)) => Row::Rejected(row.to_string()),
            Err(e) => Row::Failed(error_chain(&e)),
        };
        let fatal = matches!(row, Row::Fatal(_));
        batch.rows.push(row);
        if batch.rows.len() == BATCH || fatal {
            let full = std::mem::replace(&mut batch, Batch::new());
            if fatal || tx.send(full).is_err() {
                // Sent the fatal batch (above) or the fold hung up: nothing more to read.
                return;
            }
        }
    }
    if !batch.rows.is_empty() {
        let _ = tx.send(batch);
    }
}

/// The accounts being folded, in the order their agents were first met, found by agent.
#[derive(Default)]
struct Accounts {
    slots: Vec<(AgentId, Account)>,
    index: HashMap<AgentId, usize, foldhash::fast::RandomState>,
}

impl Accounts {
    /// `agent`'s slot, with a new account the first time.
    fn slot(&mut self, agent: &AgentId) -> usize {
        let next = self.slots.len();
        let i = *self.index.entry(agent.clone()).or_insert(next);
        if i == next {
            self.slots
                .push((agent.clone(), Account::without_history(agent.clone())));
        }
        i
    }

    /// The account in slot `i` (one [`slot`](Self::slot) gave).
    fn get(&mut self, i: usize) -> Option<&mut Account> {
        self.slots.get_mut(i).map(|(_, account)| account)
    }
}
