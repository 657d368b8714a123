//! `kudos check`: is everything the run needs in place? The configuration, every secret, the
//! store, the marketplace's token endpoint, the audit trail and the sources — one JSON line
//! each, never a secret's value.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kudos_core::{Clock, SystemClock};
use kudos_ledger::AuditAnchors as _;
use kudos_pipeline::{AuditLog, AuditTarget, Config};
use serde_json::json;
use uuid::Uuid;

use crate::Outcome;
use crate::output::{JsonLines, diag, error_chain};

/// `kudos check --config kudos.toml`
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The configuration to check (flag, else KUDOS_CONFIG, else ./kudos.toml).
    #[arg(long, env = "KUDOS_CONFIG", default_value = "kudos.toml")]
    config: PathBuf,
}

/// One check's verdict.
struct Verdict {
    check: &'static str,
    result: Result<String, String>,
}

pub(crate) fn check(args: &CheckArgs) -> Outcome {
    let verdicts = match crate::run::runtime() {
        Ok(rt) => rt.block_on(checks(args)),
        Err(e) => {
            diag(format_args!("error: {}", e.0));
            return Outcome::Fatal;
        }
    };
    let mut out = JsonLines::stdout();
    let mut failed = Vec::new();
    for v in &verdicts {
        let line = match &v.result {
            Ok(detail) => json!({"check": v.check, "ok": true, "detail": detail}),
            Err(error) => {
                failed.push(v.check);
                json!({"check": v.check, "ok": false, "error": error})
            }
        };
        let _ = out.write(&line);
    }
    let _ = out.flush();
    if failed.is_empty() {
        Outcome::Ok
    } else {
        diag(format_args!("error: failed: {}", failed.join(", ")));
        Outcome::Fatal
    }
}

async fn checks(args: &CheckArgs) -> Vec<Verdict> {
    let mut v = Vec::new();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            v.push(Verdict {
                check: "configuration",
                result: Err(error_chain(&e)),
            });
            return v;
        }
    };
    v.push(Verdict {
        check: "configuration",
        result: Ok(config.file.display().to_string()),
    });
    v.push(Verdict {
        check: "secrets",
        result: config
            .check_secrets()
            .map(|()| "every configured secret can be read".to_owned())
            .map_err(|e| error_chain(&e)),
    });
    v.push(Verdict {
        check: "store",
        result: store(&config).await,
    });
    v.push(Verdict {
        check: "marketplace_token",
        result: token(&config).await,
    });
    v.push(Verdict {
        check: "audit",
        result: audit(&config).await,
    });
    v.push(Verdict {
        check: "sources",
        result: sources(&config),
    });
    v
}

async fn store(config: &Config) -> Result<String, String> {
    let store = crate::migrate::open_store(&config.store)
        .await
        .map_err(|e| error_chain(&e))?;
    store.latest_anchor("").await.map_err(|e| error_chain(&e))?;
    Ok(format!(
        "{} opens, schema current",
        kudos_store::redacted(&config.store.url)
    ))
}

async fn token(config: &Config) -> Result<String, String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let transport = config.transport().map_err(|e| error_chain(&e))?;
    let tokens = config
        .token_source(clock, transport)
        .map_err(|e| error_chain(&e))?;
    tokens.token().await.map_err(|e| error_chain(&e))?;
    Ok("a token was issued".to_owned())
}

async fn audit(config: &Config) -> Result<String, String> {
    config.audit_keys.all().map_err(|e| error_chain(&e))?;
    let keyed = if config.audit_keys.key.is_some() {
        "keyed"
    } else {
        "unkeyed"
    };
    match &config.audit {
        AuditTarget::File(path) => {
            // Opening for append is what a run does first; it writes nothing.
            AuditLog::open(path, Uuid::nil()).map_err(|e| error_chain(&e))?;
            Ok(format!("{} can be appended to ({keyed})", path.display()))
        }
        AuditTarget::Url(url) => {
            let trail = config
                .audit_settings()
                .trail_name()
                .map_err(|e| error_chain(&e))?;
            // Listing writes nothing and proves the endpoint and credentials.
            let objects = kudos_pipeline::probe_objects(url).await?;
            Ok(format!(
                "object storage answers: {objects} object(s) in trail {trail} ({keyed})"
            ))
        }
    }
}

fn sources(config: &Config) -> Result<String, String> {
    let sources = config.parse_sources().map_err(|e| error_chain(&e))?;
    let mut files = 0;
    for source in &sources {
        let pattern = source.pattern.display().to_string();
        files += glob::glob(&pattern)
            .map_err(|e| format!("source {pattern}: {e}"))?
            .filter_map(Result::ok)
            .count();
    }
    Ok(format!(
        "{} source(s), {files} matching path(s) now",
        sources.len()
    ))
}
