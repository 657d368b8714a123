//! What real marketplaces do that a simple one does not: idempotency keys scoped per client
//! and forgotten after their retention, lookups that lag behind (eventual consistency), a rate
//! limit whose `Retry-After` is an HTTP date, and rewards that cannot be reversed.

use std::time::Duration;

use kudos_sim::{SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{body, client, issue, plan, sim, token};

async fn lookup(s: &Simulator, token: &str, request_id: &str) -> (StatusCode, Value) {
    let r = client()
        .get(format!("{}/v1/rewards/{request_id}", s.base_url()))
        .bearer_auth(token)
        .header("X-Integration-ID", "GENESYS-WFM-INTEGRATION-01")
        .header("X-Request-ID", request_id)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn keys_are_scoped_per_client_and_forgotten_after_their_retention() {
    let s = sim(SimConfig::default()).await;
    let t = token(&s).await;
    assert_eq!(
        issue(&s, &t, "k-1", &body("p1")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        issue(&s, &t, "k-1", &body("p1")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        s.rewards().len(),
        1,
        "a repeat within the retention is a replay"
    );
    // Another client's request with the same id is its own.
    let other = client()
        .post(format!("{}/v1/rewards/issue", s.base_url()))
        .bearer_auth(&t)
        .header("X-Integration-ID", "ANOTHER-CLIENT")
        .header("X-Request-ID", "k-1")
        .json(&body("p1"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(s.rewards().len(), 2, "keys are scoped per client");
    // The retention passes: the key is forgotten, and a repeat is a second reward — what a
    // blind re-send after the retention does on a real marketplace.
    assert_eq!(s.expire_idempotency_keys(), 2);
    assert_eq!(
        issue(&s, &t, "k-1", &body("p1")).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(s.rewards().len(), 3);
    // The reward itself is still found by its request id.
    let (status, found) = lookup(&s, &t, "k-1").await;
    assert_eq!(
        (status, found["status"].as_str()),
        (StatusCode::OK, Some("ISSUED"))
    );

    let kept_briefly = sim(SimConfig {
        idempotency_retention_secs: Some(0),
        ..SimConfig::default()
    })
    .await;
    let t = token(&kept_briefly).await;
    issue(&kept_briefly, &t, "k-2", &body("p1")).await.unwrap();
    issue(&kept_briefly, &t, "k-2", &body("p1")).await.unwrap();
    assert_eq!(
        kept_briefly.rewards().len(),
        2,
        "a retention of 0 s keeps nothing"
    );
}

#[tokio::test]
async fn lookups_lag_behind_issues_and_reversals() {
    let s = sim(SimConfig {
        lookup_lag_ms: 300,
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    issue(&s, &t, "lag-1", &body("p1")).await.unwrap();
    assert_eq!(
        lookup(&s, &t, "lag-1").await.0,
        StatusCode::NOT_FOUND,
        "just issued: not seen yet"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(lookup(&s, &t, "lag-1").await.1["status"], "ISSUED");
    assert!(s.void_reward("lag-1"));
    assert_eq!(
        lookup(&s, &t, "lag-1").await.1["status"],
        "ISSUED",
        "just reversed: still seen as issued"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(lookup(&s, &t, "lag-1").await.1["status"], "REVERSED");
}

#[tokio::test]
async fn over_the_rate_limit_a_request_gets_429_with_an_http_date() {
    let s = sim(SimConfig {
        rate_limit_per_sec: Some(1),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    // Two requests in the same second (retried until they are: the first may land at the end
    // of a second).
    let mut limited = None;
    let mut limited_id = String::new();
    for i in 0..5 {
        let first = issue(&s, &t, &format!("rl-{i}-a"), &body("p1"))
            .await
            .unwrap();
        let r = client()
            .post(format!("{}/v1/rewards/issue", s.base_url()))
            .bearer_auth(&t)
            .header("X-Integration-ID", "GENESYS-WFM-INTEGRATION-01")
            .header("X-Request-ID", format!("rl-{i}-b"))
            .json(&body("p1"))
            .send()
            .await
            .unwrap();
        if first.0 == StatusCode::OK && r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            limited_id = format!("rl-{i}-b");
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let limited = limited.expect("a second request in one second is limited");
    let date = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_owned();
    let at = chrono::DateTime::parse_from_rfc2822(&date).expect("an HTTP date");
    let now = kudos_core::Clock::now(&kudos_core::SystemClock);
    assert!(
        at > now - chrono::TimeDelta::seconds(1) && at <= now + chrono::TimeDelta::seconds(2),
        "the start of the next second: {date}"
    );
    assert!(
        s.rewards().iter().all(|r| r.request_id != limited_id),
        "the limited request was not processed"
    );
}

#[tokio::test]
async fn a_reward_that_cannot_be_reversed_says_so_and_stays_issued() {
    let s = sim(SimConfig {
        faults: plan(
            "[[fault]]\npath = '/v1/rewards/{id}/reverse'\nnth = [1]\naction = 'not_reversible'",
        ),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    issue(&s, &t, "nr-1", &body("p1")).await.unwrap();
    let reverse = || {
        client()
            .post(format!("{}/v1/rewards/nr-1/reverse", s.base_url()))
            .bearer_auth(&t)
            .header("X-Request-ID", "rev-1")
            .body("{}")
            .send()
    };
    let first: Value = reverse().await.unwrap().json().await.unwrap();
    assert_eq!(first["status"], "NOT_REVERSIBLE");
    let again: Value = reverse().await.unwrap().json().await.unwrap();
    assert_eq!(
        again["status"], "NOT_REVERSIBLE",
        "a repeat gets the same answer"
    );
    assert_eq!(s.rewards()[0].status, "ISSUED");
}
