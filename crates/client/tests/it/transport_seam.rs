//! The transport seam is whole: the token request goes through the provider's transport, an
//! integrator's own token provider is used as given, every method goes out as itself, and a
//! transport error is a `std::error::Error`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kudos_client::{
    Answer, ClientError, HttpProviderConfig, HttpRewardProvider, Outcome, Request,
    ReqwestTransport, RewardProvider, TokenProvider, TokenSource, Transport, TransportError,
};
use kudos_core::{SystemClock, TxnId};
use kudos_privacy::{ExposeSecret, SecretSource, SecretString};
use kudos_sim::{SimConfig, Simulator};

/// Records the method and URL of every request, then sends it for real.
#[derive(Debug)]
struct Recording {
    inner: ReqwestTransport,
    seen: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Transport for Recording {
    async fn send(&self, request: Request) -> Result<Answer, TransportError> {
        self.seen
            .lock()
            .unwrap()
            .push((request.method.to_owned(), request.url.clone()));
        self.inner.send(request).await
    }
}

fn secret_file(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("seam-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, "kudos-sim-secret").unwrap();
    path
}

fn body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "agent_id": "pseudo-1", "reward_type": "gift_card_small", "points_consumed": 100,
        "transaction_timestamp": "2026-03-04T06:00:00Z"
    }))
    .unwrap()
}

fn config(sim: &Simulator) -> HttpProviderConfig {
    HttpProviderConfig::new(sim.base_url(), "GENESYS-WFM-INTEGRATION-01").max_retries(0)
}

#[tokio::test]
async fn the_token_request_goes_through_the_providers_transport() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let transport = Arc::new(Recording {
        inner: ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(2)).unwrap(),
        seen: Mutex::default(),
    });
    let tokens = TokenSource::with_transport(
        &sim.token_url(),
        "kudos-sim-client",
        SecretSource::File(secret_file("through")),
        Arc::new(SystemClock),
        transport.clone(),
    )
    .unwrap();
    let provider = HttpRewardProvider::new(
        config(&sim),
        transport.clone(),
        Arc::new(tokens),
        Arc::new(SystemClock),
    );
    let txn = TxnId::from_uuid(uuid::Uuid::now_v7());
    let outcome = provider.issue(txn, &body()).await;
    assert!(matches!(outcome, Outcome::Issued { .. }), "{outcome:?}");
    let seen = transport.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("POST".to_owned(), sim.token_url()),
            (
                "POST".to_owned(),
                format!("{}/v1/rewards/issue", sim.base_url())
            ),
        ]
    );
}

/// A sidecar holding the credentials: it fetches a token its own way and counts what the
/// provider asks of it.
#[derive(Debug)]
struct Sidecar {
    token_url: String,
    asked: Mutex<u32>,
    refused: Mutex<Vec<String>>,
}

#[async_trait]
impl TokenProvider for Sidecar {
    async fn token(&self) -> Result<SecretString, ClientError> {
        *self.asked.lock().unwrap() += 1;
        let answer: serde_json::Value = reqwest::Client::new()
            .post(&self.token_url)
            .basic_auth("kudos-sim-client", Some("kudos-sim-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| ClientError::Token(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| ClientError::Token(e.without_url().to_string()))?;
        Ok(SecretString::from(
            answer["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ))
    }

    async fn invalidate(&self, stale: &SecretString) {
        self.refused
            .lock()
            .unwrap()
            .push(stale.expose_secret().to_owned());
    }
}

#[tokio::test]
async fn an_integrators_own_token_provider_is_used_as_given() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let sidecar = Arc::new(Sidecar {
        token_url: sim.token_url(),
        asked: Mutex::default(),
        refused: Mutex::default(),
    });
    let provider = HttpRewardProvider::new(
        config(&sim),
        Arc::new(ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(2)).unwrap()),
        sidecar.clone(),
        Arc::new(SystemClock),
    );
    let outcome = provider
        .issue(TxnId::from_uuid(uuid::Uuid::now_v7()), &body())
        .await;
    assert!(matches!(outcome, Outcome::Issued { .. }), "{outcome:?}");
    assert_eq!(*sidecar.asked.lock().unwrap(), 1);
    assert!(sidecar.refused.lock().unwrap().is_empty());
}

#[tokio::test]
async fn every_method_goes_out_as_itself() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    let app = axum::Router::new().fallback(move |method: axum::http::Method| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(method.to_string());
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(2)).unwrap();
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
    for method in methods {
        let answer = transport
            .send(Request {
                method,
                url: format!("http://{addr}/x"),
                headers: Vec::new(),
                body: Vec::new(),
            })
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{method}");
    }
    assert_eq!(*seen.lock().unwrap(), methods);
    // Not a method: certainly not sent, and an error like any other.
    let err = transport
        .send(Request {
            method: "NOT A METHOD",
            url: format!("http://{addr}/x"),
            headers: Vec::new(),
            body: Vec::new(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Connect(_)), "{err}");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert!(boxed.to_string().contains("not an HTTP method"));
}
