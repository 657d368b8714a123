//! What the example programs share: a scratch directory, the simulator, an HTTP provider
//! pointed at it, and the rule set and exports they run on.
//!
//! Each program under `src/bin/` is a reference integration; run one with
//! `cargo run -p kudos-examples --bin NAME` (see its header).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kudos_client::{HttpProviderConfig, HttpRewardProvider, ReqwestTransport, TokenSource};
use kudos_core::Clock;
use kudos_privacy::SecretSource;
use kudos_sim::Simulator;

/// Compiles the README's Rust examples (the parser, the daily batch), so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The error type of the examples.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A fresh directory under the system's temporary directory.
///
/// # Errors
///
/// When it cannot be created.
pub fn scratch(name: &str) -> Result<PathBuf, Error> {
    let dir = std::env::temp_dir().join(format!("kudos-example-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("exports"))?;
    Ok(dir)
}

/// The workspace's `fixtures/` directory.
#[must_use]
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A canonical CSV export of `sales` per agent and day.
///
/// # Errors
///
/// When the file cannot be written.
pub fn sales_export(path: &Path, rows: &[(&str, &str, i64)]) -> Result<(), Error> {
    let mut text = String::from("agent_id,date,metric,value\n");
    for (agent, day, value) in rows {
        text.push_str(&format!("{agent},{day},sales,{value}\n"));
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// A rule set: a point per sale; a 100-point voucher.
pub const SALES_RULES: &str = "
window_days = 90
[[rule]]
id = 'sales'
metric = 'sales'
per_unit = 1
[[tier]]
id = 'voucher'
reward_type = 'gift_card_10_usd'
threshold = 100
";

/// The HTTP provider of the marketplace API (`docs/reference/issuing.md`), pointed at `sim` (the client secret is
/// read from a file in `dir`, as a mounted secret would be).
///
/// # Errors
///
/// When the secret file cannot be written or the HTTP client cannot be built.
pub fn provider(
    sim: &Simulator,
    dir: &Path,
    clock: Arc<dyn Clock>,
) -> Result<HttpRewardProvider, Error> {
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "kudos-sim-secret")?;
    let tokens = TokenSource::new(
        &sim.token_url(),
        "kudos-sim-client",
        SecretSource::File(secret),
        clock.clone(),
        Duration::from_secs(10),
        Duration::from_secs(45),
    )?;
    Ok(HttpRewardProvider::new(
        HttpProviderConfig::new(sim.base_url(), "GENESYS-WFM-INTEGRATION-01")
            .backoff(Duration::from_millis(20), Duration::from_millis(200)),
        Arc::new(ReqwestTransport::new(
            Duration::from_secs(10),
            Duration::from_secs(45),
        )?),
        Arc::new(tokens),
        clock,
    ))
}
