//! `kudos ledger`: look at and adjust accounts.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use kudos_core::{AgentId, Clock, Day, Points, SystemClock};
use kudos_ledger::{Command, Entry, HoldState, HoldView, Ledger, LedgerStore, Op, ReversalView};
use kudos_pipeline::StoreConfig;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Outcome;
use crate::output::{Fatal, JsonLines};

/// Where the ledger is.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// Store URL: sqlite://PATH (default sqlite://kudos.db in the current directory), postgres://… or memory://.
    #[arg(long, global = true, conflicts_with = "config")]
    store: Option<String>,
    /// Read the store URL from this kudos.toml (`[store]` url; relative paths are relative to the file).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Start a new, empty SQLite ledger when the file does not exist (otherwise that is an
    /// error: a wrong directory would answer every balance with 0).
    #[arg(long, global = true)]
    create: bool,
}

/// `kudos ledger …`
#[derive(Debug, Subcommand)]
pub(crate) enum LedgerCommand {
    /// An agent's balance: {"agent_id","available","reserved","debt","balance"}.
    Balance {
        /// The agent (platform user id).
        agent: String,
        /// The day to compute it on (default: today, UTC).
        #[arg(long = "as-of")]
        as_of: Option<String>,
    },
    /// Every accepted operation on an agent's account, one JSON line each.
    History {
        /// The agent.
        agent: String,
    },
    /// Holds: {"txn_id","agent_id","tier","cost","state","attempts","created_at"}, sorted by agent.
    Holds {
        /// Only holds in this state: open, in_doubt, review, committed, released.
        #[arg(long, value_parser = parse_state)]
        state: Option<HoldState>,
    },
    /// Adds (or, negative, takes) points: an operator's adjustment, printed as a history line.
    Adjust {
        /// The agent.
        agent: String,
        /// Points (negative to deduct).
        #[arg(allow_negative_numbers = true)]
        points: i64,
        /// The day it counts on.
        #[arg(long)]
        day: String,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: String,
        /// Its id, for an idempotent retry (default: a fresh one, printed).
        #[arg(long)]
        id: Option<Uuid>,
        /// Days until a lot it makes expires.
        #[arg(long = "window-days", default_value_t = 90)]
        window_days: u32,
    },
}

fn parse_state(s: &str) -> Result<HoldState, String> {
    s.parse()
}

pub(crate) fn run(store: &StoreArgs, cmd: LedgerCommand) -> Outcome {
    crate::output::run_fatal(execute(store, cmd))
}

/// The store `--store`, `--config` (its `[store]` table) or the default names.
fn store_config(args: &StoreArgs) -> Result<StoreConfig, Fatal> {
    if let Some(url) = &args.store {
        return Ok(StoreConfig::with_url(url.clone()));
    }
    match &args.config {
        Some(path) => Ok(StoreConfig::load(path)?),
        None => Ok(StoreConfig::default()),
    }
}

fn agent(text: &str) -> Result<AgentId, Fatal> {
    AgentId::new(text).map_err(|e| Fatal(format!("agent {text:?}: {e}")))
}

fn day(flag: &str, text: &str) -> Result<Day, Fatal> {
    Day::parse(text).map_err(|e| Fatal(format!("{flag}: {e}")))
}

fn write(out: &mut JsonLines, value: &impl Serialize) -> Result<(), Fatal> {
    out.write(value)
        .map(|_| ())
        .map_err(|e| Fatal(format!("cannot write to stdout: {e}")))
}

async fn execute(args: &StoreArgs, cmd: LedgerCommand) -> Result<(), Fatal> {
    let store = store_config(args)?;
    if let Some(path) = store.url.strip_prefix("sqlite://")
        && !path.starts_with(':')
        && !std::path::Path::new(path.split('?').next().unwrap_or(path)).exists()
        && !args.create
    {
        return Err(Fatal(format!(
            "no ledger at {path}: give --create to start a new, empty one (or --store / --config \
             for the one you meant)"
        )));
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ledger = Ledger::new(crate::migrate::open_store(&store).await?, clock.clone());
    let mut out = JsonLines::stdout();
    match cmd {
        LedgerCommand::Balance { agent: a, as_of } => {
            let a = agent(&a)?;
            let on = match as_of {
                Some(text) => day("--as-of", &text)?,
                None => Day::from_naive(clock.now().date_naive())
                    .ok_or_else(|| Fatal("today is out of range".to_owned()))?,
            };
            let b = ledger.account(&a).await?.balance(on);
            write(
                &mut out,
                &json!({"agent_id": a, "available": b.available, "reserved": b.reserved, "debt": b.debt, "balance": b.balance}),
            )?;
        }
        LedgerCommand::History { agent: a } => {
            let account = ledger.account(&agent(&a)?).await?;
            for entry in account.entries() {
                write(&mut out, &history_line(entry, &account))?;
            }
        }
        LedgerCommand::Holds { state } => {
            write_holds(&mut out, ledger.store().holds(state).await?)?;
        }
        LedgerCommand::Adjust {
            agent: a,
            points,
            day: d,
            reason,
            id,
            window_days,
        } => {
            let a = agent(&a)?;
            let on = day("--day", &d)?;
            let expires = on
                .add_days(i64::from(window_days.max(1)))
                .map_err(|e| Fatal(format!("--window-days: {e}")))?;
            let id = id.unwrap_or_else(|| *kudos_core::TxnId::generate(clock.as_ref()).as_uuid());
            let applied = ledger
                .execute(
                    &a,
                    Command::Adjust {
                        id,
                        day: on,
                        points: Points::new(points),
                        expires,
                        reason,
                    },
                )
                .await?;
            let account = ledger.account(&a).await?;
            if let Some(entry) = applied.entry {
                write(&mut out, &history_line(&entry, &account))?;
            }
        }
    }
    out.flush()
        .map(|_| ())
        .map_err(|e| Fatal(format!("cannot write to stdout: {e}")))
}

/// Writes holds as `ledger holds` and `review list` print them: sorted by agent, then by
/// creation.
pub(crate) fn write_holds(out: &mut JsonLines, mut holds: Vec<HoldView>) -> Result<(), Fatal> {
    holds.sort_by(|x, y| (&x.agent, x.created_at, x.txn).cmp(&(&y.agent, y.created_at, y.txn)));
    for h in &holds {
        if !out.write(&hold_line(h))? {
            break;
        }
    }
    Ok(())
}

/// A `review list` line of a reversal: `{"kind":"reversal","txn_id","reverses",…}`.
pub(crate) fn reversal_line(r: &ReversalView) -> Value {
    json!({
        "kind": "reversal", "txn_id": r.txn, "reverses": r.of, "agent_id": r.agent,
        "cost": r.cost, "debt": r.debt, "state": r.state.name(), "attempts": r.attempts,
        "created_at": r.created_at,
    })
}

/// `ledger holds` and `review list` lines.
pub(crate) fn hold_line(h: &HoldView) -> Value {
    json!({
        "kind": "hold", "txn_id": h.txn, "agent_id": h.agent, "tier": h.tier, "cost": h.cost,
        "state": h.state.name(), "attempts": h.attempts, "created_at": h.created_at,
    })
}

/// One `ledger history` line: `{"id","kind","day","points",…}`.
pub(crate) fn history_line(entry: &Entry, account: &kudos_ledger::Account) -> Value {
    let hold_cost = |txn| account.holds().get(&txn).map(|h| h.cost);
    let hold_day = |txn| account.holds().get(&txn).map(|h| h.day);
    let mut line = match &entry.op {
        Op::Accrual {
            key,
            points,
            expires,
        } => json!({
            "day": key.day, "points": points, "rule": key.rule, "metric": key.metric,
            "dims": key.dims, "expires": expires,
        }),
        Op::Adjustment {
            day,
            points,
            expires,
            reason,
        } => {
            json!({"day": day, "points": points, "expires": expires, "reason": reason})
        }
        Op::Hold {
            txn,
            day,
            tier,
            reward_type,
            cost,
            ..
        } => {
            json!({"day": day, "points": cost, "txn_id": txn, "tier": tier, "reward_type": reward_type})
        }
        Op::Mark {
            txn,
            state,
            attempts,
        } => {
            json!({"day": hold_day(*txn), "points": hold_cost(*txn), "txn_id": txn, "state": state.name(), "attempts": attempts})
        }
        Op::Commit { txn } => {
            json!({"day": hold_day(*txn), "points": hold_cost(*txn), "txn_id": txn})
        }
        Op::Release { txn, day } => {
            json!({"day": day, "points": hold_cost(*txn), "txn_id": txn})
        }
        Op::Reversal { txn, of, day } => {
            json!({"day": day, "points": hold_cost(*of), "txn_id": txn, "reverses": of})
        }
        Op::ReversalRequest {
            txn, of, day, debt, ..
        } => {
            json!({"day": day, "points": hold_cost(*of), "txn_id": txn, "reverses": of, "debt": debt})
        }
        Op::ReversalMark {
            txn,
            state,
            attempts,
        } => {
            let of = account.reversals().get(txn).map(|r| r.of);
            json!({"day": of.and_then(hold_day), "points": of.and_then(hold_cost), "txn_id": txn, "reverses": of, "state": state.name(), "attempts": attempts})
        }
        Op::ReversalEnd { txn } => {
            let of = account.reversals().get(txn).map(|r| r.of);
            json!({"day": of.and_then(hold_day), "points": of.and_then(hold_cost), "txn_id": txn, "reverses": of})
        }
    };
    if let Value::Object(map) = &mut line {
        map.insert("kind".to_owned(), json!(entry.op.kind()));
        map.insert("id".to_owned(), json!(entry.id));
        map.insert("at".to_owned(), json!(entry.at));
    }
    line
}
