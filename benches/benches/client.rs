//! Issuing 10,000 rewards with 32 in flight against the simulator, through the HTTP provider,
//! against raw reqwest POSTs of the same bodies with the same headers, in the same run.
//!
//! Run with: `cargo bench -p kudos-benches --bench client`

#![allow(missing_docs, reason = "a bench binary")]
#![allow(
    clippy::disallowed_methods,
    reason = "benches time themselves with Instant"
)]
#![allow(
    clippy::cast_precision_loss,
    reason = "throughput figures are approximate by nature"
)]
#![allow(clippy::print_stdout, reason = "the bench prints its ratios")]

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kudos_client::{
    HttpProviderConfig, HttpRewardProvider, Outcome, ReqwestTransport, RewardProvider, TokenSource,
};
use kudos_core::{Clock, SystemClock, TxnId};
use kudos_privacy::SecretSource;
use kudos_sim::{SimConfig, Simulator};

const REWARDS: usize = 10_000;
const IN_FLIGHT: usize = 32;

fn body(i: u64) -> Vec<u8> {
    format!(r#"{{"agent_id":"{i:064x}","reward_type":"gift_card_50_usd","points_consumed":500,"transaction_timestamp":"2026-03-04T06:00:00Z","metadata":{{"source_platform":"Genesys Cloud CX"}}}}"#).into_bytes()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(Simulator::start(SimConfig::default())).unwrap();
    let secret = std::env::temp_dir().join(format!("kudos-bench-secret-{}", std::process::id()));
    std::fs::write(&secret, "kudos-sim-secret").unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tokens = Arc::new(
        TokenSource::new(
            &sim.token_url(),
            "kudos-sim-client",
            SecretSource::File(secret),
            clock.clone(),
            Duration::from_secs(10),
            Duration::from_secs(45),
        )
        .unwrap(),
    );
    let config = HttpProviderConfig::new(sim.base_url(), "bench");
    let transport =
        Arc::new(ReqwestTransport::new(Duration::from_secs(10), Duration::from_secs(45)).unwrap());
    let provider = Arc::new(HttpRewardProvider::new(
        config,
        transport,
        tokens.clone(),
        clock,
    ));
    let raw = reqwest::Client::new();
    let token = rt.block_on(async {
        let r = raw
            .post(sim.token_url())
            .basic_auth("kudos-sim-client", Some("kudos-sim-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        r.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    let next_id = Arc::new(AtomicU64::new(1));
    let totals = RefCell::new([(Duration::ZERO, 0u64); 2]);

    let mut group = c.benchmark_group("issue 10,000 rewards, 32 in flight");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("raw reqwest POST", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(async {
                    let done = Arc::new(AtomicUsize::new(0));
                    let workers: Vec<_> = (0..IN_FLIGHT)
                        .map(|_| {
                            let (raw, token, url, done, ids) = (
                                raw.clone(),
                                token.clone(),
                                format!("{}/v1/rewards/issue", sim.base_url()),
                                done.clone(),
                                next_id.clone(),
                            );
                            tokio::spawn(async move {
                                while done.fetch_add(1, Ordering::Relaxed) < REWARDS {
                                    let i = ids.fetch_add(1, Ordering::Relaxed);
                                    let txn =
                                        TxnId::from_uuid(uuid::Uuid::from_u128(u128::from(i)))
                                            .to_string();
                                    let r = raw
                                        .post(&url)
                                        .bearer_auth(&token)
                                        .header("x-integration-id", "bench")
                                        .header("x-request-id", &txn)
                                        .header("idempotency-key", format!("\"{txn}\""))
                                        .header("content-type", "application/json")
                                        .body(body(i))
                                        .send()
                                        .await
                                        .unwrap();
                                    assert!(r.status().is_success());
                                    let _ = r.bytes().await;
                                }
                            })
                        })
                        .collect();
                    for w in workers {
                        w.await.unwrap();
                    }
                });
            }
            let d = start.elapsed();
            let t = &mut totals.borrow_mut()[0];
            t.0 += d;
            t.1 += iters;
            d
        });
    });
    group.bench_function("HttpRewardProvider", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(async {
                    let done = Arc::new(AtomicUsize::new(0));
                    let workers: Vec<_> = (0..IN_FLIGHT)
                        .map(|_| {
                            let (provider, done, ids) =
                                (provider.clone(), done.clone(), next_id.clone());
                            tokio::spawn(async move {
                                while done.fetch_add(1, Ordering::Relaxed) < REWARDS {
                                    let i = ids.fetch_add(1, Ordering::Relaxed);
                                    let outcome = provider
                                        .issue(
                                            TxnId::from_uuid(uuid::Uuid::from_u128(u128::from(i))),
                                            &body(i),
                                        )
                                        .await;
                                    assert!(
                                        matches!(outcome, Outcome::Issued { .. }),
                                        "{outcome:?}"
                                    );
                                }
                            })
                        })
                        .collect();
                    for w in workers {
                        w.await.unwrap();
                    }
                });
            }
            let d = start.elapsed();
            let t = &mut totals.borrow_mut()[1];
            t.0 += d;
            t.1 += iters;
            d
        });
    });
    group.finish();
    let t = totals.borrow();
    let per = |(d, n): (Duration, u64)| d.as_secs_f64() / n.max(1) as f64;
    let (raw_s, prov_s) = (per(t[0]), per(t[1]));
    println!(
        "10,000 rewards, 32 in flight: raw reqwest {:.0} requests/s; HttpRewardProvider {:.0} rewards/s; throughput ratio provider / raw = {:.2}; token fetches by the provider: {}",
        REWARDS as f64 / raw_s,
        REWARDS as f64 / prov_s,
        raw_s / prov_s,
        tokens.fetches()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
