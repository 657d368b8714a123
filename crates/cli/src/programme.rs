//! The programme owner's switches: `kudos pause --reason TEXT` and `kudos resume`. The state
//! is in the store, so every worker on it sees it.

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
