//! `kudos sim serve`: the reward-marketplace simulator as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use kudos_sim::{FaultPlan, SimConfig, Simulator};
use serde_json::json;

use crate::Outcome;
use crate::output::{JsonLines, diag, error_chain};

/// `kudos sim …`
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Serve the simulated marketplace until interrupted. Prints {"base_url","token_url"} on stdout once listening.
    Serve(ServeArgs),
}

/// `kudos sim serve [--addr] [--faults] [--client-id --client-secret] [--token-ttl-secs] [--signing-secret]`
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// A fault plan (TOML: `[[fault]]` tables with path, nth or probability, action; `[[downtime]]`; seed).
    #[arg(long)]
    faults: Option<PathBuf>,
    /// The OAuth client id the token endpoint accepts.
    #[arg(long = "client-id", default_value = "kudos-sim-client")]
    client_id: String,
    /// The OAuth client secret the token endpoint accepts.
    #[arg(long = "client-secret", default_value = "kudos-sim-secret")]
    client_secret: String,
    /// Token lifetime in seconds.
    #[arg(long = "token-ttl-secs", default_value_t = 3600)]
    token_ttl_secs: u64,
    /// Require and check X-Signature (its v2, over method, path, idempotency key, request id,
    /// timestamp and body) with this secret.
    #[arg(long = "signing-secret")]
    signing_secret: Option<String>,
    /// How far a signature's timestamp may be from the simulator's clock, in seconds.
    #[arg(long = "signature-tolerance-secs", default_value_t = 300)]
    signature_tolerance_secs: u64,
    /// Accept signatures with v1 only (clients of the first version; a replay under another
    /// key then passes).
    #[arg(long = "accept-signature-v1-only")]
    accept_signature_v1_only: bool,
    /// Forget a completed request's idempotency key after this many seconds (a repeat is then
    /// a second reward), as real marketplaces do. Default: never.
    #[arg(long = "idempotency-retention-secs")]
    idempotency_retention_secs: Option<u64>,
    /// Lookups lag this long behind issues and reversals (eventual consistency).
    #[arg(long = "lookup-lag-ms", default_value_t = 0)]
    lookup_lag_ms: u64,
    /// At most this many /v1 requests a second; the rest get 429 with Retry-After as an HTTP date.
    #[arg(long = "rate-limit")]
    rate_limit: Option<u32>,
    /// The account's funds ("1000.00 USD"): each reward takes its --price; one the funds cannot
    /// cover is answered 402. Default: unlimited (and GET /v1/account/balance answers 404).
    #[arg(long)]
    balance: Option<String>,
    /// What a reward type costs the account: TYPE=AMOUNT CURRENCY ("gift_card_50_usd=50.00 USD");
    /// repeat for each type.
    #[arg(long = "price", value_name = "TYPE=PRICE")]
    prices: Vec<String>,
}

pub(crate) fn run(cmd: SimCommand) -> Outcome {
    let SimCommand::Serve(args) = cmd;
    let faults = match &args.faults {
        None => FaultPlan::default(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| FaultPlan::from_toml(&t).map_err(|e| e.to_string()))
        {
            Ok(plan) => plan,
            Err(e) => {
                diag(format_args!("error: {}: {e}", path.display()));
                return Outcome::Fatal;
            }
        },
    };
    let balance = match args
        .balance
        .as_deref()
        .map(kudos_core::Money::parse)
        .transpose()
    {
        Ok(balance) => balance,
        Err(e) => {
            diag(format_args!("error: --balance: {e}"));
            return Outcome::Fatal;
        }
    };
    let mut prices = std::collections::HashMap::new();
    for spec in &args.prices {
        let parsed = spec
            .split_once('=')
            .ok_or_else(|| "expected TYPE=AMOUNT CURRENCY".to_owned())
            .and_then(|(t, p)| {
                kudos_core::Money::parse(p)
                    .map(|m| (t.trim().to_owned(), m))
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok((reward_type, price)) => {
                prices.insert(reward_type, price);
            }
            Err(e) => {
                diag(format_args!("error: --price: {e}"));
                return Outcome::Fatal;
            }
        }
    }
    let config = SimConfig {
        addr: args.addr,
        balance,
        prices,
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        token_ttl_secs: args.token_ttl_secs,
        signing_secret: args.signing_secret.clone(),
        signature_tolerance_secs: args.signature_tolerance_secs,
        accept_signature_v1_only: args.accept_signature_v1_only,
        faults,
        idempotency_retention_secs: args.idempotency_retention_secs,
        lookup_lag_ms: args.lookup_lag_ms,
        rate_limit_per_sec: args.rate_limit,
        ..SimConfig::default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            diag(format_args!("error: cannot start the runtime: {e}"));
            return Outcome::Fatal;
        }
    };
    runtime.block_on(async {
        let sim = match Simulator::start(config).await {
            Ok(s) => s,
            Err(e) => {
                diag(format_args!("error: {}", error_chain(&e)));
                return Outcome::Fatal;
            }
        };
        diag(format_args!(
            "simulator listening on {} (token endpoint {}); Ctrl-C stops it",
            sim.base_url(),
            sim.token_url()
        ));
        let mut out = JsonLines::stdout();
        let _ = out.write(&json!({"base_url": sim.base_url(), "token_url": sim.token_url()}));
        let _ = out.flush();
        let _ = tokio::signal::ctrl_c().await;
        diag(format_args!(
            "stopping: {} requests received, {} rewards issued",
            sim.requests().len(),
            sim.rewards().len()
        ));
        Outcome::Ok
    })
}
