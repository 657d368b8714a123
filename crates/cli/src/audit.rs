//! `kudos audit verify`: check the audit trail — every run's keyed chain, the links between
//! runs, and the anchors the runs left in the store.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kudos_ledger::AuditAnchors as _;
use kudos_pipeline::{AuditKeys, AuditSettings, AuditTarget, StoreConfig, VerifyReport};
use serde_json::json;

use crate::Outcome;
use crate::output::{Fatal, JsonLines, diag};

/// `kudos audit …`
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the trail: every run's chain and key, the links between runs and the store's
    /// anchors (a deleted, cut, rewritten or re-keyed run); prints one JSON line; exit 1 when broken.
    Verify(VerifyArgs),
}

/// `kudos audit verify [--config kudos.toml] [--without-store | --trail NAME]`
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The configuration whose `[audit]` trail and keys and `[store]` anchors to check
    /// (relative paths to the file); else KUDOS_CONFIG; else audit.jsonl here, unkeyed, without
    /// anchors.
    #[arg(long, env = "KUDOS_CONFIG")]
    config: Option<PathBuf>,
    /// Check the trail alone, without the anchors in the store (an auditor with only the
    /// trail and the keys): a deleted last run or a cut last record is then not seen.
    #[arg(long)]
    without_store: bool,
    /// The trail's name in the store, when it is not the configuration's (`[audit] trail`, else
    /// the file's absolute path): an auditor's copy of the file, a file that moved.
    #[arg(long, conflicts_with = "without_store")]
    trail: Option<String>,
}

pub(crate) fn run(cmd: AuditCommand) -> Outcome {
    let AuditCommand::Verify(args) = cmd;
    let result = crate::run::runtime().and_then(|rt| rt.block_on(verify(&args)));
    match result {
        Ok(report) => {
            let mut out = JsonLines::stdout();
            let _ = out.write(&report);
            let _ = out.flush();
            Outcome::Ok
        }
        Err(Fatal(message)) => {
            diag(format_args!("error: {message}"));
            Outcome::Fatal
        }
    }
}

async fn verify(args: &VerifyArgs) -> Result<serde_json::Value, Fatal> {
    let Some(config) = &args.config else {
        let settings = AuditSettings {
            target: AuditTarget::File(PathBuf::from("audit.jsonl")),
            keys: AuditKeys::default(),
        };
        let report = settings.verify(None).await?;
        return Ok(line(&settings.target, &report, None));
    };
    let settings = AuditSettings::load(config)?;
    let (anchors, others) = if args.without_store {
        (None, None)
    } else {
        let store = StoreConfig::load(config)?;
        let store = crate::migrate::open_store(&store).await?;
        let trail = match &args.trail {
            Some(name) => name.clone(),
            None => settings.trail_name()?,
        };
        let others: Vec<String> = store
            .trails()
            .await?
            .into_iter()
            .filter(|t| *t != trail)
            .collect();
        let anchors = store.anchors(&trail).await?;
        (Some((trail, anchors)), Some(others))
    };
    // Runs of this format are anchored as they go: none anchored means the anchors were looked
    // up under the wrong name (a copy, a moved file) — which must not pass as a clean trail.
    if let (Some((trail, anchors)), Some(others)) = (&anchors, &others)
        && anchors.is_empty()
    {
        let alone = settings.verify(None).await?;
        if alone.runs > alone.legacy_runs {
            return Err(Fatal(format!(
                "the store has no anchor for trail {trail:?}, so none of its {} runs could be \
                 checked; the store's trails: {others:?} — give the right one with --trail NAME \
                 (or [audit] trail), or --without-store to check the trail alone",
                alone.runs - alone.legacy_runs
            )));
        }
    }
    let report = settings
        .verify(anchors.as_ref().map(|(_, a)| a.as_slice()))
        .await?;
    Ok(line(&settings.target, &report, others))
}

/// The report line; `others` are the store's other trails when its anchors were checked.
fn line(
    target: &AuditTarget,
    report: &VerifyReport,
    others: Option<Vec<String>>,
) -> serde_json::Value {
    let file = match target {
        AuditTarget::File(path) => path.display().to_string(),
        AuditTarget::Url(url) => kudos_store::redacted(url),
    };
    json!({
        "file": file,
        "runs": report.runs,
        "records": report.records,
        "keyed_runs": report.keyed_runs,
        "unkeyed_runs": report.unkeyed_runs,
        "legacy_runs": report.legacy_runs,
        "key_ids": report.key_ids,
        "forks": report.forks,
        "torn_lines": report.torn,
        "anchors_checked": others.is_some(),
        "anchored_runs": report.anchored_runs,
        "unanchored_runs": report.unanchored_runs,
        "other_trails_in_store": others,
    })
}
