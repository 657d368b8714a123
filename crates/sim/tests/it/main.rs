//! The simulator over real HTTP: every behaviour a client relies on.

mod genesys;
mod real;

use std::time::Duration;

use kudos_sim::{FaultPlan, SimConfig, Simulator};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn sim(config: SimConfig) -> Simulator {
    Simulator::start(config).await.unwrap()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn token(sim: &Simulator) -> String {
    let r = client()
        .post(sim.token_url())
        .basic_auth("kudos-sim-client", Some("kudos-sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn body(agent: &str) -> Value {
    json!({"agent_id": agent, "reward_type": "gift_card_50_usd", "points_consumed": 500,
           "transaction_timestamp": "2026-03-04T06:00:00Z", "metadata": {"source_platform": "Genesys Cloud CX"}})
}

async fn issue(
    sim: &Simulator,
    token: &str,
    request_id: &str,
    body: &Value,
) -> reqwest::Result<(StatusCode, Value)> {
    let r = client()
        .post(format!("{}/v1/rewards/issue", sim.base_url()))
        .bearer_auth(token)
        .header("X-Integration-ID", "GENESYS-WFM-INTEGRATION-01")
        .header("X-Request-ID", request_id)
        .header("Idempotency-Key", format!("\"{request_id}\""))
        .json(body)
        .send()
        .await?;
    let status = r.status();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

fn plan(text: &str) -> FaultPlan {
    FaultPlan::from_toml(text).unwrap()
}

#[tokio::test]
async fn tokens_need_the_right_credentials_and_expire() {
    let s = sim(SimConfig {
        token_ttl_secs: 1,
        ..SimConfig::default()
    })
    .await;
    let bad = client()
        .post(s.token_url())
        .basic_auth("kudos-sim-client", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let t = token(&s).await;
    assert_eq!(
        issue(&s, &t, "r-1", &body("p1")).await.unwrap().0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        issue(&s, &t, "r-2", &body("p1")).await.unwrap().0,
        StatusCode::UNAUTHORIZED,
        "an expired token is refused"
    );
}

#[tokio::test]
async fn requests_need_a_token_an_integration_id_and_a_request_id() {
    let s = sim(SimConfig::default()).await;
    let url = format!("{}/v1/rewards/issue", s.base_url());
    let t = token(&s).await;
    let no_token = client()
        .post(&url)
        .header("X-Integration-ID", "i")
        .header("X-Request-ID", "r")
        .json(&body("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let no_integration = client()
        .post(&url)
        .bearer_auth(&t)
        .header("X-Request-ID", "r")
        .json(&body("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_integration.status(), StatusCode::BAD_REQUEST);
    let no_request_id = client()
        .post(&url)
        .bearer_auth(&t)
        .header("X-Integration-ID", "i")
        .json(&body("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_request_id.status(), StatusCode::BAD_REQUEST);
    assert!(s.rewards().is_empty());
}

#[tokio::test]
async fn the_same_request_id_is_one_reward_and_another_payload_is_422() {
    let s = sim(SimConfig::default()).await;
    let t = token(&s).await;
    let (status, first) = issue(&s, &t, "txn-1", &body("p1")).await.unwrap();
    assert_eq!(
        (status, first["status"].as_str()),
        (StatusCode::OK, Some("ISSUED"))
    );
    let (status, again) = issue(&s, &t, "txn-1", &body("p1")).await.unwrap();
    assert_eq!(
        (status, &again),
        (StatusCode::OK, &first),
        "the original response"
    );
    let (status, _) = issue(&s, &t, "txn-1", &body("p2")).await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.rewards().len(), 1);
}

#[tokio::test]
async fn a_request_still_in_progress_gets_409() {
    let s = sim(SimConfig {
        faults: plan(
            "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'delay'\ndelay_ms = 600",
        ),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    let slow = {
        let (url, t) = (s.base_url(), t.clone());
        tokio::spawn(async move {
            client()
                .post(format!("{url}/v1/rewards/issue"))
                .bearer_auth(t)
                .header("X-Integration-ID", "GENESYS-WFM-INTEGRATION-01")
                .header("X-Request-ID", "txn-slow")
                .json(&body("p1"))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        issue(&s, &t, "txn-slow", &body("p1")).await.unwrap().0,
        StatusCode::CONFLICT
    );
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert_eq!(s.rewards().len(), 1);
}

#[tokio::test]
async fn injected_statuses_carry_retry_after_and_process_nothing() {
    let s = sim(SimConfig {
        faults: plan("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 429\nretry_after_secs = 2\n[[fault]]\npath = '/v1/rewards/issue'\nnth = [2]\naction = 'status'\nstatus = 503"),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    let r = client()
        .post(format!("{}/v1/rewards/issue", s.base_url()))
        .bearer_auth(&t)
        .header("X-Integration-ID", "i")
        .header("X-Request-ID", "txn")
        .json(&body("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers().get("retry-after").unwrap(), "2");
    assert_eq!(
        issue(&s, &t, "txn", &body("p")).await.unwrap().0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(s.rewards().is_empty(), "a failed attempt issues nothing");
    assert_eq!(
        issue(&s, &t, "txn", &body("p")).await.unwrap().1["status"],
        "ISSUED",
        "the third attempt succeeds"
    );
}

#[tokio::test]
async fn a_reset_issues_nothing_but_a_drop_after_processing_issues_once() {
    let s = sim(SimConfig {
        faults: plan("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'reset'\n[[fault]]\npath = '/v1/rewards/issue'\nnth = [3]\naction = 'drop_after_processing'"),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    assert!(
        issue(&s, &t, "txn-a", &body("p")).await.is_err(),
        "reset: no answer"
    );
    assert!(s.rewards().is_empty());
    // A reset request was never processed: a retry under its id is processed afresh (before,
    // it stayed "in progress" for ever, and every retry got 409).
    let (status, retried) = issue(&s, &t, "txn-a", &body("p")).await.unwrap();
    assert_eq!(
        (status, retried["status"].as_str()),
        (StatusCode::OK, Some("ISSUED"))
    );
    assert_eq!(s.rewards().len(), 1);
    assert!(
        issue(&s, &t, "txn-b", &body("p")).await.is_err(),
        "dropped: no answer"
    );
    assert_eq!(s.rewards().len(), 2, "but the reward was issued");
    // The client retries with the same id: the original answer, no second reward.
    let (status, again) = issue(&s, &t, "txn-b", &body("p")).await.unwrap();
    assert_eq!(
        (status, again["status"].as_str()),
        (StatusCode::OK, Some("ISSUED"))
    );
    assert_eq!(s.rewards().len(), 2);
    let looked = client()
        .get(format!("{}/v1/rewards/txn-b", s.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(looked.json::<Value>().await.unwrap()["status"], "ISSUED");
}

#[tokio::test]
async fn hangs_outlast_the_client_timeout() {
    let s = sim(SimConfig {
        faults: plan("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'hang'"),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    let quick = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = quick
        .post(format!("{}/v1/rewards/issue", s.base_url()))
        .bearer_auth(&t)
        .header("X-Integration-ID", "i")
        .header("X-Request-ID", "txn-h")
        .json(&body("p"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn rejected_pending_and_inventory() {
    let mut inventory = std::collections::HashMap::new();
    inventory.insert("gift_card_50_usd".to_owned(), 2);
    let s = sim(SimConfig {
        inventory,
        faults: plan("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'rejected'\n[[fault]]\npath = '/v1/rewards/issue'\nnth = [2]\naction = 'pending'"),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    let (status, r) = issue(&s, &t, "t1", &body("p")).await.unwrap();
    assert_eq!(
        (status, r["status"].as_str()),
        (StatusCode::OK, Some("REJECTED")),
        "200 REJECTED is not success"
    );
    let (_, r) = issue(&s, &t, "t2", &body("p")).await.unwrap();
    assert_eq!(r["status"], "PENDING");
    let looked: Value = client()
        .get(format!("{}/v1/rewards/t2", s.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        looked["status"], "ISSUED",
        "a later lookup resolves PENDING"
    );
    assert_eq!(
        issue(&s, &t, "t3", &body("p")).await.unwrap().1["status"],
        "ISSUED"
    );
    let (_, r) = issue(&s, &t, "t4", &body("p")).await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("REJECTED"), Some("out of stock"))
    );
    assert_eq!(
        client()
            .get(format!("{}/v1/rewards/nope", s.base_url()))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn signatures_are_checked_when_configured() {
    use hmac::{Hmac, KeyInit, Mac};
    let s = sim(SimConfig {
        signing_secret: Some("sign-me".into()),
        clock: std::sync::Arc::new(
            kudos_core::ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap(),
        ),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    let payload = serde_json::to_vec(&body("p")).unwrap();
    let send = |sig: Option<String>| {
        let mut req = client()
            .post(format!("{}/v1/rewards/issue", s.base_url()))
            .bearer_auth(&t)
            .header("X-Integration-ID", "i")
            .header("X-Request-ID", "signed")
            .header("content-type", "application/json")
            .body(payload.clone());
        if let Some(sig) = sig {
            req = req.header("X-Signature", sig);
        }
        req.send()
    };
    let mac = |text: &[u8]| -> String {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"sign-me").unwrap();
        mac.update(text);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    // Written here from the documented scheme, not with the client's code.
    let signature = |t: i64| {
        let v1 = mac(&[format!("{t}.").as_bytes(), &payload].concat());
        let body_hash: String = <sha2::Sha256 as sha2::Digest>::digest(&payload)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let v2 = mac(format!("v2\n{t}\nPOST\n/v1/rewards/issue\n\nsigned\n{body_hash}").as_bytes());
        (format!("t={t},v1={v1}"), format!("t={t},v1={v1},v2={v2}"))
    };
    let now = 1_772_604_000;
    assert_eq!(send(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(Some("t=1772604000,v1=00,v2=00".into()))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (v1_only, both) = signature(now);
    assert_eq!(
        send(Some(v1_only)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "v2 is required"
    );
    let (_, stale) = signature(now - 301);
    assert_eq!(
        send(Some(stale)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "outside the tolerance"
    );
    let (_, skewed) = signature(now + 60);
    assert_eq!(
        send(Some(skewed)).await.unwrap().status(),
        StatusCode::OK,
        "a minute of skew is fine"
    );
    assert_eq!(send(Some(both)).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn reversal_is_idempotent_and_visible() {
    let s = sim(SimConfig::default()).await;
    let t = token(&s).await;
    issue(&s, &t, "r1", &body("p")).await.unwrap();
    let reverse = |id: &str| {
        client()
            .post(format!("{}/v1/rewards/{id}/reverse", s.base_url()))
            .bearer_auth(&t)
            .header("X-Request-ID", "rev-1")
            .json(&json!({}))
            .send()
    };
    let first: Value = reverse("r1").await.unwrap().json().await.unwrap();
    assert_eq!(first["status"], "REVERSED");
    let again: Value = reverse("r1").await.unwrap().json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        reverse("unknown").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.rewards()[0].status, "REVERSED");
}

#[tokio::test]
async fn everything_received_is_recorded_and_served() {
    let s = sim(SimConfig::default()).await;
    let t = token(&s).await;
    issue(&s, &t, "rec", &body("pseudonym-1")).await.unwrap();
    let recorded: Vec<Value> = client()
        .get(format!("{}/_sim/requests", s.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        recorded.len(),
        2,
        "token + issue; /_sim itself is not recorded"
    );
    assert_eq!(recorded[1]["path"], "/v1/rewards/issue");
    assert!(
        recorded[1]["body"]
            .as_str()
            .unwrap()
            .contains("pseudonym-1")
    );
    assert!(
        recorded[1]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "x-request-id" && h[1] == "rec")
    );
    let rewards: Vec<Value> = client()
        .get(format!("{}/_sim/rewards", s.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rewards[0]["agent_id"], "pseudonym-1");
}

#[tokio::test]
async fn downtime_windows_answer_503() {
    let s = sim(SimConfig {
        faults: plan("[[downtime]]\nfrom_secs = 0\nuntil_secs = 0.5"),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    assert_eq!(
        issue(&s, &t, "d", &body("p")).await.unwrap().0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        issue(&s, &t, "d", &body("p")).await.unwrap().0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let faults = "seed = 42\n[[fault]]\npath = '/v1/rewards/issue'\nprobability = 0.3\naction = 'status'\nstatus = 503";
    let mut patterns = Vec::new();
    for _ in 0..2 {
        let s = sim(SimConfig {
            faults: plan(faults),
            ..SimConfig::default()
        })
        .await;
        let t = token(&s).await;
        let mut pattern = Vec::new();
        for i in 0..40 {
            pattern.push(
                issue(&s, &t, &format!("s{i}"), &body("p"))
                    .await
                    .unwrap()
                    .0
                    .as_u16(),
            );
        }
        patterns.push(pattern);
    }
    assert_eq!(patterns[0], patterns[1]);
    let failures = patterns[0].iter().filter(|s| **s == 503).count();
    assert!((4..=20).contains(&failures), "{failures} of 40 at p = 0.3");
}

#[test]
fn fault_plans_are_checked() {
    for (text, want) in [
        (
            "[[fault]]\npath = '/x'\naction = 'reset'",
            "fault #1: give either nth or probability",
        ),
        (
            "[[fault]]\npath = '/x'\nnth = [1]\naction = 'status'",
            "action status needs status",
        ),
        (
            "[[fault]]\npath = '/x'\nprobability = 2.0\naction = 'reset'",
            "probability must be between 0 and 1",
        ),
        (
            "[[fault]]\npath = '/x'\nnth = [1]\naction = 'explode'",
            "unknown variant `explode`",
        ),
    ] {
        let err = FaultPlan::from_toml(text).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// Seals a recipient the way `decrypt_recipient` documents: base64(nonce ‖ AES-256-GCM
/// ciphertext and tag), key SHA-256(secret), AAD the request id.
fn seal(secret: &str, request_id: &str, plain: &Value) -> String {
    use aes_gcm::aead::{Aead, Payload};
    use base64::Engine as _;
    use sha2::Digest as _;
    let key = sha2::Sha256::digest(secret.as_bytes());
    let cipher = <aes_gcm::Aes256Gcm as aes_gcm::KeyInit>::new_from_slice(&key).unwrap();
    let nonce_bytes = [7u8; 12];
    let nonce = <&aes_gcm::aead::Nonce<aes_gcm::Aes256Gcm>>::try_from(&nonce_bytes[..]).unwrap();
    let sealed = cipher
        .encrypt(
            nonce,
            Payload {
                msg: &serde_json::to_vec(plain).unwrap(),
                aad: request_id.as_bytes(),
            },
        )
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode([&nonce_bytes[..], &sealed].concat())
}

#[tokio::test]
async fn recipient_enc_is_decrypted_with_the_recipient_key_and_recorded() {
    let s = sim(SimConfig {
        recipient_key: Some("recipient-secret".into()),
        ..SimConfig::default()
    })
    .await;
    let t = token(&s).await;
    let recipient = json!({"email": "jordan.reyes@example.com"});
    let mut good = body("p1");
    good["recipient_enc"] = json!(seal("recipient-secret", "enc-1", &recipient));
    issue(&s, &t, "enc-1", &good).await.unwrap();
    let mut replayed = body("p2");
    replayed["recipient_enc"] = json!(seal("recipient-secret", "enc-1", &recipient));
    issue(&s, &t, "enc-2", &replayed).await.unwrap();
    let mut wrong_key = body("p3");
    wrong_key["recipient_enc"] = json!(seal("another-secret", "enc-3", &recipient));
    issue(&s, &t, "enc-3", &wrong_key).await.unwrap();
    issue(&s, &t, "enc-4", &body("p4")).await.unwrap();
    let rewards = s.rewards();
    assert_eq!(rewards[0].recipient, Some(Ok(recipient)), "decrypted");
    assert!(
        matches!(&rewards[1].recipient, Some(Err(e)) if e.contains("does not authenticate")),
        "sealed for another request id"
    );
    assert!(
        matches!(&rewards[2].recipient, Some(Err(e)) if e.contains("does not authenticate")),
        "wrong key"
    );
    assert_eq!(rewards[3].recipient, None, "nothing to decrypt");
}
