//! `kudos sim serve`: a standalone simulator anyone can run beside their integration.

use std::io::BufRead;
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn sim_serve_listens_issues_tokens_and_applies_a_fault_plan() {
    let dir = crate::scratch("sim");
    let faults = dir.join("faults.toml");
    std::fs::write(
        &faults,
        "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 503\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kudos"))
        .args([
            "sim",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--faults",
            faults.to_str().unwrap(),
            "--client-id",
            "me",
            "--client-secret",
            "s3cret",
            "--idempotency-retention-secs",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let urls: Value = serde_json::from_str(&line).unwrap();
    let (base, token_url) = (
        urls["base_url"].as_str().unwrap().to_owned(),
        urls["token_url"].as_str().unwrap().to_owned(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses = runtime.block_on(async {
        let client = reqwest::Client::new();
        let wrong = client.post(&token_url).basic_auth("me", Some("nope")).form(&[("grant_type", "client_credentials")]).send().await.unwrap().status();
        let token: Value = client.post(&token_url).basic_auth("me", Some("s3cret")).form(&[("grant_type", "client_credentials")]).send().await.unwrap().json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let mut statuses = vec![wrong.as_u16()];
        for _ in 0..3 {
            let r = client
                .post(format!("{base}/v1/rewards/issue"))
                .bearer_auth(&token)
                .header("X-Integration-ID", "i")
                .header("X-Request-ID", "cli-1")
                .json(&serde_json::json!({"agent_id": "p", "reward_type": "r", "points_consumed": 5, "transaction_timestamp": "2026-03-04T06:00:00Z"}))
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        let rewards: Value = client.get(format!("{base}/_sim/rewards")).send().await.unwrap().json().await.unwrap();
        statuses.push(u16::try_from(rewards.as_array().unwrap().len()).unwrap());
        statuses
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        statuses,
        [401, 503, 200, 200, 2],
        "wrong secret, the injected 503, then the retry succeeds; with a retention of 0 s the \
         key is forgotten at once, so a repeat is a second reward"
    );
}

#[test]
fn a_bad_fault_plan_is_fatal_and_named() {
    let dir = crate::scratch("sim-bad");
    let faults = dir.join("faults.toml");
    std::fs::write(&faults, "[[fault]]\npath = '/x'\naction = 'reset'\n").unwrap();
    let out = crate::kudos(&[
        "sim",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--faults",
        faults.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::text(&out.stderr).contains("fault #1: give either nth or probability"));
}
