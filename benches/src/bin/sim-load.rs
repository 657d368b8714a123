//! Sustained request rate of the simulator on loopback: 64 concurrent clients issuing distinct
//! rewards for a fixed time. One-shot (the client runs in the same process, on the same two
//! cores, so the figure is a lower bound for the server).
//!
//! Run with: `cargo run --release -p kudos-benches --bin sim-load -- 10` (seconds)

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measuring tool prints"
)]
#![allow(clippy::cast_precision_loss, reason = "approximate figures")]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kudos_sim::{SimConfig, Simulator};

const CLIENTS: u64 = 64;
const POOL: usize = 64;

fn main() -> ExitCode {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let Ok(sim) = Simulator::start(SimConfig::default()).await else { return ExitCode::FAILURE };
        let client = reqwest::Client::builder().pool_max_idle_per_host(POOL).build().unwrap_or_default();
        let Ok(token) = client.post(sim.token_url()).basic_auth("kudos-sim-client", Some("kudos-sim-secret")).body("grant_type=client_credentials").header("content-type", "application/x-www-form-urlencoded").send().await else {
            return ExitCode::FAILURE;
        };
        let token: serde_json::Value = token.json().await.unwrap_or_default();
        let token = token["access_token"].as_str().unwrap_or_default().to_owned();
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let started = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (client, token, url, done, failed) = (client.clone(), token.clone(), format!("{}/v1/rewards/issue", sim.base_url()), done.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while tokio::time::Instant::now() < deadline {
                    i += 1;
                    let body = serde_json::json!({"agent_id": format!("p{c}"), "reward_type": "gift", "points_consumed": 500, "transaction_timestamp": "2026-03-04T06:00:00Z"});
                    let ok = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("X-Integration-ID", "bench")
                        .header("X-Request-ID", format!("c{c}-{i}"))
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok { done.fetch_add(1, Ordering::Relaxed) } else { failed.fetch_add(1, Ordering::Relaxed) };
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        println!(
            "{CLIENTS} clients, {elapsed:.1} s: {n} rewards issued ({:.0} requests/s), {} failed; simulator recorded {} requests",
            n as f64 / elapsed,
            failed.load(Ordering::Relaxed),
            sim.requests().len()
        );
        ExitCode::SUCCESS
    })
}
