//! `kudos audit verify`: check every run's hash chain in the audit file.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use crate::Outcome;
use crate::output::{JsonLines, diag, error_chain};

/// `kudos audit …`
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check every run's chain for an edit or a gap; prints {"file","runs","records"}; exit 1 when broken.
    Verify(VerifyArgs),
}

/// `kudos audit verify [--config kudos.toml]`
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The configuration whose `[audit] path` to check (relative to the file); default: audit.jsonl here.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn audit_path(config: Option<&Path>) -> Result<PathBuf, String> {
    let Some(config) = config else {
        return Ok(PathBuf::from("audit.jsonl"));
    };
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("{}: cannot read: {e}", config.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", config.display()))?;
    let path = table
        .get("audit")
        .and_then(|a| a.get("path"))
        .and_then(toml::Value::as_str)
        .unwrap_or("audit.jsonl");
    Ok(config.parent().unwrap_or(Path::new(".")).join(path))
}

pub(crate) fn run(cmd: AuditCommand) -> Outcome {
    let AuditCommand::Verify(args) = cmd;
    let path = match audit_path(args.config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            diag(format_args!("error: {e}"));
            return Outcome::Fatal;
        }
    };
    match kudos_pipeline::verify(&path) {
        Ok(report) => {
            let mut out = JsonLines::stdout();
            let _ = out.write(&json!({"file": path.display().to_string(), "runs": report.runs, "records": report.records}));
            let _ = out.flush();
            Outcome::Ok
        }
        Err(e) => {
            diag(format_args!("error: {}", error_chain(&e)));
            Outcome::Fatal
        }
    }
}
