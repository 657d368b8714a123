//! Alert and audit sinks, and recipients sealed for the marketplace.

use std::sync::{Arc, Mutex};

use kudos_client::ReqwestTransport;
use kudos_pipeline::{
    Alert, AlertKind, AlertSink, DirectoryError, FileDirectory, Pipeline, RecipientDirectory,
    RecipientSettings, WebhookAlerts,
};
use kudos_privacy::{RecipientCipher, SecretString};
use kudos_sim::SimConfig;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::run::{World, agent};

/// A webhook receiver on a local port, recording every JSON body; it answers `ok`, or never.
async fn webhook(answers: bool) -> (std::net::SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hooks/kudos",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                if !answers {
                    std::future::pending::<()>().await;
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

#[tokio::test]
async fn the_webhook_receives_each_alert_as_json() {
    let (addr, got) = webhook(true).await;
    let transport = ReqwestTransport::new(
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    let hook = WebhookAlerts::new(format!("http://{addr}/hooks/kudos"), Arc::new(transport));
    let alert = Alert {
        kind: AlertKind::InDoubt,
        run_id: Uuid::from_u128(9),
        message: "reward may have been issued".into(),
        data: json!({"txn_id": "t-1", "agent": "ab12"}),
    };
    hook.alert(&alert).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            json!({"kind": "in_doubt", "run_id": "00000000-0000-0000-0000-000000000009",
            "message": "reward may have been issued", "data": {"txn_id": "t-1", "agent": "ab12"}})
        ]
    );
    // An unreachable webhook does not fail anything (the log has the alert).
    let gone = WebhookAlerts::new(
        "http://127.0.0.1:9/nowhere",
        Arc::new(
            ReqwestTransport::new(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(1),
            )
            .unwrap(),
        ),
    );
    gone.alert(&alert).await;
}

#[tokio::test]
async fn recipients_travel_only_sealed_and_an_unknown_recipient_makes_no_hold() {
    let w = World::new(
        "recipient",
        SimConfig {
            recipient_key: Some("recipient-secret".into()),
            ..SimConfig::default()
        },
    )
    .await;
    let directory = w.dir.join("agents.csv");
    std::fs::write(
        &directory,
        format!(
            "agent_id,email,name\n{},ada@example.com,Ada Lovelace\n",
            agent(1)
        ),
    )
    .unwrap();
    w.export(
        "d.csv",
        &[(1, "2026-03-02", 100.0), (2, "2026-03-02", 100.0)],
    );
    let mut parts = w.parts(w.store.clone());
    parts.payload.recipient = Some(RecipientSettings {
        cipher: RecipientCipher::new(&SecretString::from("recipient-secret")).unwrap(),
        fields: vec!["email".into()],
        directory: Arc::new(FileDirectory::load(&directory).unwrap()),
    });
    let s = w.run_on(&Pipeline::new(parts), "2026-03-10").await;
    assert_eq!((s.holds, s.issued, s.alerts), (1, 1, 1), "{s:?}");
    let rewards = w.sim.rewards();
    assert_eq!(
        rewards[0].recipient,
        Some(Ok(json!({"email": "ada@example.com"}))),
        "only the configured field, and the marketplace can open it"
    );
    for r in w.sim.requests() {
        assert!(
            !r.body.contains("ada@example.com") && !r.body.contains("Lovelace"),
            "{}",
            r.body
        );
    }
    let alerts = std::fs::read_to_string(w.audit_path()).unwrap();
    assert!(!alerts.contains("ada@"));
    assert_eq!(w.holds(kudos_ledger::HoldState::Open).await.len(), 0);
    assert_eq!(
        w.balance(2, "2026-03-10").await,
        100,
        "agent 2 keeps the points"
    );
}

/// A directory behind a service that is down (an interaction at the `RecipientDirectory`
/// seam): it answers `Unavailable` for everyone.
#[derive(Debug)]
struct DirectoryDown;

#[async_trait::async_trait]
impl RecipientDirectory for DirectoryDown {
    async fn recipient(
        &self,
        _agent: &kudos_core::AgentId,
        _fields: &[String],
    ) -> Result<Option<Value>, DirectoryError> {
        Err(DirectoryError::Unavailable {
            reason: "connection refused".into(),
        })
    }
}

#[tokio::test]
async fn an_unavailable_directory_makes_no_hold_and_says_so_without_the_agent() {
    let w = World::new("directory-down", SimConfig::default()).await;
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let mut parts = w.parts(w.store.clone());
    parts.payload.recipient = Some(RecipientSettings {
        cipher: RecipientCipher::new(&SecretString::from("recipient-secret")).unwrap(),
        fields: vec!["email".into()],
        directory: Arc::new(DirectoryDown),
    });
    let s = w.run_on(&Pipeline::new(parts), "2026-03-10").await;
    assert_eq!((s.holds, s.issued, s.alerts), (0, 0, 1), "{s:?}");
    assert!(w.sim.requests().is_empty(), "nothing was sent");
    assert_eq!(
        w.balance(1, "2026-03-10").await,
        100,
        "the agent keeps the points"
    );
    let alert = w.alerts.only(AlertKind::PayloadRefused);
    assert!(
        alert
            .message
            .contains("the recipient directory is unavailable: connection refused"),
        "{}",
        alert.message
    );
    assert!(!alert.message.contains(&agent(1)) && !alert.data.to_string().contains(&agent(1)));
}

#[cfg(feature = "object-store")]
#[tokio::test]
async fn the_object_store_sink_appends_new_objects_and_never_replaces_one() {
    use kudos_pipeline::{AuditEvent, AuditSink as _, ObjectStoreAudit, verify_objects};
    let dir = crate::run::scratch("object-store");
    let url = format!("file://{}", dir.join("audit").display());
    std::fs::create_dir_all(dir.join("audit")).unwrap();
    let event = |i| AuditEvent::Accrued {
        agents: i,
        entries: 0,
    };
    for run in 1..=2u128 {
        let mut sink = ObjectStoreAudit::from_url(&url, Uuid::from_u128(run)).unwrap();
        sink.append(&event(0)).await.unwrap();
        sink.append_many(&[event(1), event(2)]).await.unwrap();
    }
    // One object per write: the single record, then the batch of two.
    let run_dir = dir.join("audit").join(Uuid::from_u128(1).to_string());
    let mut names: Vec<String> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["0000000001.jsonl", "0000000002.jsonl"]);
    let report = verify_objects(&url, &[], None).await.unwrap();
    assert_eq!((report.runs, report.records), (2, 6));

    // The name of the next write is already taken (a write whose answer was lost, say): the
    // sink refuses rather than replace it, and what is there stays.
    let taken = dir.join("audit").join(Uuid::from_u128(3).to_string());
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("0000000001.jsonl"), "already here\n").unwrap();
    let mut sink = ObjectStoreAudit::from_url(&url, Uuid::from_u128(3)).unwrap();
    assert!(sink.append(&event(0)).await.is_err());
    assert_eq!(
        std::fs::read_to_string(taken.join("0000000001.jsonl")).unwrap(),
        "already here\n"
    );
    assert!(ObjectStoreAudit::from_url("nope://x", Uuid::nil()).is_err());
}

/// A marketplace rejecting everything and a webhook that never answers: the run issues (and
/// rejects) everything without waiting on the webhook, and the webhook gets one alert per kind
/// at once and one aggregated alert per kind at the end, not one per reward.
#[tokio::test]
async fn an_alert_storm_with_a_silent_webhook_neither_stalls_the_run_nor_floods_the_webhook() {
    use kudos_pipeline::{NoProgress, QueueSettings, QueuedAlerts, RunOptions};
    // A webhook that reads each request, records it, and never answers.
    let (addr, got) = webhook(false).await;

    let mut sim = SimConfig::default();
    sim.inventory.insert("gift_card_small".into(), 0);
    let w = World::new("alert-storm", sim).await;
    let rows: Vec<(u32, &str, f64)> = (1..=40).map(|n| (n, "2026-03-02", 120.0)).collect();
    w.export("d.csv", &rows);
    // The webhook's own timeouts are long (a minute); the queue's deadline is what bounds it.
    let transport = ReqwestTransport::new(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let hook = Arc::new(WebhookAlerts::new(
        format!("http://{addr}/hooks/kudos"),
        Arc::new(transport),
    ));
    let queued = Arc::new(QueuedAlerts::new(
        hook,
        QueueSettings {
            deadline: std::time::Duration::from_millis(300),
            flush_deadline: std::time::Duration::from_millis(500),
            ..QueueSettings::default()
        },
    ));
    let mut parts = w.parts(w.store.clone());
    parts.alerts = queued.clone();
    let audit = kudos_pipeline::AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    // A liveness guard, not a timing claim: 40 deliveries one after another would wait 40
    // minutes on this webhook.
    let summary = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        Pipeline::new(parts).run(
            Box::new(audit),
            RunOptions::new(kudos_core::Day::parse("2026-03-10").unwrap()),
            &NoProgress,
        ),
    )
    .await
    .expect("the run is not held up by the webhook")
    .unwrap();
    assert_eq!((summary.holds, summary.rejected), (40, 40), "{summary:?}");
    // Let the aggregated alert reach the receiver (its delivery is under way).
    for _ in 0..50 {
        if got.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one alert, then one aggregated: {got:?}");
    assert_eq!(got[0]["kind"], "reward_rejected");
    assert_eq!(got[1]["data"]["aggregated"], true);
    assert_eq!(got[1]["data"]["count"], 39);
    assert_eq!(got[1]["data"]["txn_ids"].as_array().unwrap().len(), 5);
    assert_eq!(queued.dropped(), 0);
}
