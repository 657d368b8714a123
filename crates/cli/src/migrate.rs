//! `kudos migrate`: applies the ledger schema's pending migrations, and the one way every
//! command opens the configured store.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kudos_ledger::{LedgerError, RunStore};
use kudos_pipeline::StoreConfig;
use serde_json::json;

use crate::Outcome;
use crate::output::{Fatal, JsonLines};

/// `kudos migrate (--config kudos.toml | --store URL | --store-env VAR)`
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The configuration whose `[store]` to migrate (flag, else KUDOS_CONFIG, else
    /// ./kudos.toml); only its `[store]` table is read.
    #[arg(long, env = "KUDOS_CONFIG", conflicts_with_all = ["store", "store_env"])]
    config: Option<PathBuf>,
    /// The store URL itself (a password in it would show in the process list: prefer
    /// --store-env).
    #[arg(long, conflicts_with = "store_env")]
    store: Option<String>,
    /// The name of an environment variable holding the store URL.
    #[arg(long = "store-env", value_name = "VAR")]
    store_env: Option<String>,
}

/// Opens the store `[store]` names: a PostgreSQL schema is checked (or migrated first with
/// `[store] migrate = true`); a SQLite file is migrated.
pub(crate) async fn open_store(store: &StoreConfig) -> Result<Arc<dyn RunStore>, LedgerError> {
    let options = kudos_store::StoreOptions::new(store.max_connections).migrate(store.migrate);
    kudos_store::open_with(&store.url, options).await
}

pub(crate) fn run(args: &MigrateArgs) -> Outcome {
    crate::output::run_fatal(migrate(args))
}

/// The store's URL from the flag, the variable or the configuration.
fn url(args: &MigrateArgs) -> Result<String, Fatal> {
    if let Some(url) = &args.store {
        return Ok(url.clone());
    }
    if let Some(var) = &args.store_env {
        return match std::env::var(var) {
            Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
            _ => Err(Fatal(format!(
                "--store-env {var}: the variable is not set or empty"
            ))),
        };
    }
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("kudos.toml"));
    Ok(StoreConfig::load(&path)?.url)
}

async fn migrate(args: &MigrateArgs) -> Result<(), Fatal> {
    let url = url(args)?;
    let done = kudos_store::migrate(&url).await?;
    let mut out = JsonLines::stdout();
    out.write(&json!({
        "store": kudos_store::redacted(&url),
        "from_version": done.from,
        "to_version": done.to,
        "applied": done.to - done.from,
    }))
    .map_err(|e| Fatal(format!("cannot write to stdout: {e}")))?;
    Ok(())
}
