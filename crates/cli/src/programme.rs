//! The programme owner's commands: `kudos pause --reason TEXT` and `kudos resume` (the state
//! is in the store, so every worker on it sees it), and `kudos statement` (an agent's
//! movements, adding up to its balance; or who has points expiring soon).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kudos_core::{Clock, SystemClock};
use serde_json::json;
use uuid::Uuid;

use crate::Outcome;
use crate::output::{Fatal, JsonLines, diag};
use crate::run::{operator_name, pipeline, run_day, runtime};

/// `kudos pause` and `kudos resume`.
#[derive(Debug, Args)]
pub(crate) struct SwitchArgs {
    /// The configuration (flag, else KUDOS_CONFIG, else ./kudos.toml).
    #[arg(long, env = "KUDOS_CONFIG", default_value = "kudos.toml")]
    config: PathBuf,
    /// Why (`kudos pause`; required there), for the audit trail, the alerts and `kudos resume`.
    #[arg(long)]
    reason: Option<String>,
    /// Who is acting, for the audit trail (default: the login name).
    #[arg(long)]
    operator: Option<String>,
}

/// Pauses (`on`) or resumes. Prints `{"paused":…,"reason","by","since"}`, and what it replaced
/// (`"was"`).
pub(crate) fn switch(args: &SwitchArgs, on: bool) -> Outcome {
    match runtime().and_then(|rt| rt.block_on(switch_once(args, on))) {
        Ok(outcome) => outcome,
        Err(Fatal(message)) => {
            diag(format_args!("error: {message}"));
            Outcome::Fatal
        }
    }
}

async fn switch_once(args: &SwitchArgs, on: bool) -> Result<Outcome, Fatal> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let reason = match (on, args.reason.as_deref().map(str::trim)) {
        (true, Some(reason)) if !reason.is_empty() => reason.to_owned(),
        (true, _) => {
            return Err(Fatal(
                "kudos pause needs --reason TEXT (why, for the audit trail and the alerts)".into(),
            ));
        }
        (false, _) => String::new(),
    };
    let (config, pipeline) = pipeline(&args.config, clock.clone()).await?;
    let day = run_day(&config, None, clock.as_ref())?;
    let audit = config.audit_sink(Uuid::now_v7()).await?;
    let operator = kudos_pipeline::Operator::named(operator_name(args.operator.as_deref()));
    let was = if on {
        pipeline.pause(audit, &reason, day, &operator).await?
    } else {
        pipeline.resume(audit, day, &operator).await?
    };
    let now = pipeline.pause_state().await?;
    let mut out = JsonLines::stdout();
    out.write(&json!({
        "paused": now.is_some(),
        "reason": now.as_ref().map(|p| &p.reason),
        "by": now.as_ref().map(|p| &p.by),
        "since": now.as_ref().map(|p| p.at),
        "was": was.map(|p| json!({"reason": p.reason, "by": p.by, "since": p.at})),
    }))?;
    out.flush()?;
    Ok(Outcome::Ok)
}

/// `kudos statement AGENT` and `kudos statement --expiring-within DAYS`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("who").required(true).multiple(false))]
pub(crate) struct StatementArgs {
    /// The agent (its id in the exports).
    #[arg(group = "who")]
    agent: Option<String>,
    /// Instead of one agent's statement: every agent (by pseudonym) with points that expire
    /// within DAYS of the run's day, and whether their reward waits on a budget or funds.
    #[arg(long, value_name = "DAYS", group = "who")]
    expiring_within: Option<u32>,
    /// The configuration (flag, else KUDOS_CONFIG, else ./kudos.toml).
    #[arg(long, env = "KUDOS_CONFIG", default_value = "kudos.toml")]
    config: PathBuf,
    /// The first day listed (earlier movements make the opening line).
    #[arg(long)]
    from: Option<String>,
    /// The last day listed, and the day of the closing balance (default: today in
    /// `[run] time_zone`).
    #[arg(long)]
    to: Option<String>,
}

/// Prints an agent's statement: a line per movement, the last with the balance, the debt and
/// what expires in the next 30 days; or the agents whose points expire soon.
pub(crate) fn statement(args: &StatementArgs) -> Outcome {
    match runtime().and_then(|rt| rt.block_on(statement_once(args))) {
        Ok(outcome) => outcome,
        Err(Fatal(message)) => {
            diag(format_args!("error: {message}"));
            Outcome::Fatal
        }
    }
}

async fn statement_once(args: &StatementArgs) -> Result<Outcome, Fatal> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = kudos_pipeline::Config::load(&args.config)?;
    let to = run_day(&config, args.to.as_deref(), clock.as_ref())?;
    let from = args
        .from
        .as_deref()
        .map(|d| kudos_core::Day::parse(d).map_err(|e| Fatal(format!("--from: {e}"))))
        .transpose()?;
    if from.is_some_and(|f| f > to) {
        return Err(Fatal(format!("--from is after --to ({to})")));
    }
    let store = crate::migrate::open_store(&config.store).await?;
    let ledger = kudos_ledger::Ledger::new(store.clone(), clock);
    let mut out = JsonLines::stdout();
    if let Some(days) = args.expiring_within {
        let pseudonyms = config.payload_settings()?.pseudonyms;
        let waiting: std::collections::HashMap<_, _> = store
            .waiting()
            .await?
            .into_iter()
            .map(|w| (w.agent.clone(), w))
            .collect();
        for chunk in store.agents().await?.chunks(1000) {
            for (agent, account) in chunk.iter().zip(ledger.accounts(chunk).await?) {
                let account = account?;
                let soon = kudos_ledger::expiring(&account, to, i64::from(days));
                if soon.is_empty() {
                    continue;
                }
                let points: i64 = soon.iter().map(|e| e.points).sum();
                let waits = waiting.get(agent).map(|w| {
                    json!({"reason": w.reason, "since": w.since, "tier": w.tier, "points": w.points})
                });
                if !out.write(&json!({
                    "agent": pseudonyms.pseudonym(agent),
                    "points": points,
                    "expiring": soon,
                    "waiting": waits,
                }))? {
                    break;
                }
            }
        }
        out.flush()?;
        return Ok(Outcome::Ok);
    }
    let Some(agent) = args.agent.as_deref() else {
        return Err(Fatal("give an AGENT or --expiring-within DAYS".into()));
    };
    let agent = kudos_core::AgentId::new(agent).map_err(|e| Fatal(format!("AGENT: {e}")))?;
    if store.load(&agent).await?.version == 0 {
        return Err(Fatal(format!(
            "agent {agent} has no account in this ledger"
        )));
    }
    let s = ledger.statement(&agent, from, to).await?;
    if s.from.is_some()
        && !out.write(&json!({"kind": "opening", "day": s.from, "points": s.opening}))?
    {
        return Ok(Outcome::Ok);
    }
    for m in &s.movements {
        if !out.write(&serde_json::to_value(m).map_err(|e| Fatal(e.to_string()))?)? {
            return Ok(Outcome::Ok);
        }
    }
    out.write(&json!({
        "kind": "closing", "agent_id": s.agent, "day": s.to, "balance": s.balance,
        "available": s.available, "reserved": s.reserved, "debt": s.debt,
        "expiring": s.expiring, "later": s.later,
    }))?;
    out.flush()?;
    Ok(Outcome::Ok)
}

/// `kudos report …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ReportCommand {
    /// Rewards held from one day to another, by reward type, in points and money: issued,
    /// released, reversed, in flight and waiting; then every disagreement with the
    /// marketplace (each reward looked up; the marketplace's own list where it has one).
    Spend(SpendArgs),
}

/// `kudos report spend`.
#[derive(Debug, Args)]
pub(crate) struct SpendArgs {
    /// The configuration (flag, else KUDOS_CONFIG, else ./kudos.toml).
    #[arg(long, env = "KUDOS_CONFIG", default_value = "kudos.toml")]
    config: PathBuf,
    /// The first day (of the holds: the runs' days).
    #[arg(long)]
    from: String,
    /// The last day.
    #[arg(long)]
    to: String,
    /// Count only: do not ask the marketplace.
    #[arg(long)]
    no_reconcile: bool,
}

/// Runs a report.
pub(crate) fn report(command: &ReportCommand) -> Outcome {
    let ReportCommand::Spend(args) = command;
    match runtime().and_then(|rt| rt.block_on(spend_once(args))) {
        Ok(outcome) => outcome,
        Err(Fatal(message)) => {
            diag(format_args!("error: {message}"));
            Outcome::Fatal
        }
    }
}

async fn spend_once(args: &SpendArgs) -> Result<Outcome, Fatal> {
    let day = |flag: &str, text: &str| {
        kudos_core::Day::parse(text).map_err(|e| Fatal(format!("{flag}: {e}")))
    };
    let (from, to) = (day("--from", &args.from)?, day("--to", &args.to)?);
    if from > to {
        return Err(Fatal("--from is after --to".into()));
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (_, pipeline) = pipeline(&args.config, clock).await?;
    let report = pipeline.spend_report(from, to, !args.no_reconcile).await?;
    let mut out = JsonLines::stdout();
    let mut totals: std::collections::BTreeMap<&str, (u64, i64)> = Default::default();
    let mut money: std::collections::BTreeMap<(&str, String), kudos_core::Money> =
        Default::default();
    for line in &report.lines {
        let mut value = serde_json::to_value(line).map_err(|e| Fatal(e.to_string()))?;
        value["kind"] = json!("reward_type");
        out.write(&value)?;
        for (name, tally) in [
            ("issued", &line.issued),
            ("released", &line.released),
            ("reversed", &line.reversed),
            ("in_flight", &line.in_flight),
            ("waiting", &line.waiting),
        ] {
            let t = totals.entry(name).or_default();
            t.0 += tally.count;
            t.1 = t.1.saturating_add(tally.points);
            if let Some(amount) = &tally.amount {
                let key = (name, amount.currency().to_owned());
                let sum = match money.get(&key) {
                    Some(sum) => sum.checked_add(amount),
                    None => Some(amount.clone()),
                };
                if let Some(sum) = sum {
                    money.insert(key, sum);
                }
            }
        }
    }
    for d in &report.disagreements {
        let mut value = serde_json::to_value(d).map_err(|e| Fatal(e.to_string()))?;
        value["kind"] = json!("disagreement");
        out.write(&value)?;
    }
    let mut total = serde_json::Map::new();
    total.insert("kind".into(), json!("total"));
    total.insert("from".into(), json!(from));
    total.insert("to".into(), json!(to));
    for (name, (count, points)) in &totals {
        let amounts: serde_json::Map<String, serde_json::Value> = money
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, currency), m)| (currency.clone(), json!(m)))
            .collect();
        total.insert(
            (*name).to_owned(),
            json!({"count": count, "points": points, "amounts": amounts}),
        );
    }
    total.insert("looked_up".into(), json!(report.looked_up));
    total.insert("listed".into(), json!(report.listed));
    total.insert("unchecked".into(), json!(report.unchecked));
    total.insert("disagreements".into(), json!(report.disagreements.len()));
    out.write(&serde_json::Value::Object(total))?;
    out.flush()?;
    Ok(
        if report.disagreements.is_empty() && report.unchecked == 0 {
            Outcome::Ok
        } else {
            Outcome::Attention
        },
    )
}
