//! A reward-marketplace simulator: a real HTTP server that behaves like the marketplace of the
//! Kudos integration guide — and like it on its worst day.
//!
//! # Overview
//!
//! [`Simulator::start`] binds a loopback port and serves:
//!
//! | endpoint | |
//! |---|---|
//! | `POST /oauth/token` | client credentials with HTTP Basic; tokens expire after `token_ttl_secs` |
//! | `POST /v1/rewards/issue` | bearer token, `X-Integration-ID`, `X-Request-ID`, optional `X-Signature`; idempotent by request id |
//! | `POST /v1/rewards/{request_id}/reverse` | reverses an issued reward (idempotently) |
//! | `GET /v1/rewards/{request_id}` | the issue response as stored, or 404 |
//! | `GET /_sim/requests`, `GET /_sim/rewards` | every request received; every reward issued |
//!
//! Idempotency follows the IETF Idempotency-Key draft: the same request id with the same
//! payload gets the original response, with another payload `422`, while the first is still
//! being processed `409`. A [`FaultPlan`] injects latency, statuses (with `Retry-After`), hangs,
//! connection resets, *process-then-drop*, `REJECTED`, `PENDING` and downtime windows, from a
//! seed, so a failing run replays exactly.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
//! use kudos_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! assert!(sim.base_url().starts_with("http://127.0.0.1:"));
//! assert!(sim.requests().is_empty());
//! sim.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *Real sockets.* Clients, the pipeline and the benchmarks talk to it over TCP, so what
//!   they exercise is what production exercises: timeouts, resets, pooled connections.
//! - *A reset is a closed connection.* Each connection runs in its own task; a handler that
//!   must reset the connection signals that task, which drops it unanswered.
//! - *Everything is recorded*, headers and bodies, so tests can count duplicates and scan every
//!   byte for personal data.

mod delay;
mod faults;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::delay::Delays;

pub use faults::{Action, Downtime, Fault, FaultPlan};

/// What can go wrong starting the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The fault plan is invalid.
    #[error("faults: {0}")]
    Faults(String),
}

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// The client id the token endpoint accepts.
    pub client_id: String,
    /// The client secret the token endpoint accepts.
    pub client_secret: String,
    /// How long tokens live.
    pub token_ttl_secs: u64,
    /// The integration id required in `X-Integration-ID` (`None`: any non-empty value).
    pub integration_id: Option<String>,
    /// When set, `X-Signature` is required and checked with this secret.
    pub signing_secret: Option<String>,
    /// When set, `recipient_enc` is decrypted with this secret (see [`decrypt_recipient`]) and
    /// the result recorded with the reward.
    pub recipient_key: Option<String>,
    /// Rewards available per reward type; a type not listed is unlimited.
    pub inventory: HashMap<String, u64>,
    /// The fault plan.
    pub faults: FaultPlan,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "kudos-sim-client".to_owned(),
            client_secret: "kudos-sim-secret".to_owned(),
            token_ttl_secs: 3600,
            integration_id: None,
            signing_secret: None,
            recipient_key: None,
            inventory: HashMap::new(),
            faults: FaultPlan::default(),
        }
    }
}

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Arrival order, from 1.
    pub seq: u64,
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// Every header, lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, as text (lossy for non-UTF-8 bytes).
    pub body: String,
}

/// A reward the simulator issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedReward {
    /// The request id (the client's `TxnId`).
    pub request_id: String,
    /// The reward id the simulator gave it.
    pub reward_id: String,
    /// The `agent_id` sent (a pseudonym, if the client behaves).
    pub agent_id: String,
    /// The reward type.
    pub reward_type: String,
    /// Points consumed, as sent.
    pub points_consumed: i64,
    /// `ISSUED` or `REVERSED`.
    pub status: String,
    /// Whether the request carried `recipient_enc` and, with a recipient key configured, what
    /// decrypting it gave: `Some(Ok(json))` decrypted, `Some(Err(reason))` could not.
    pub recipient: Option<Result<Value, String>>,
}

/// Decrypts a `recipient_enc` value: base64 (standard, padded) of a 12-byte nonce followed by
/// the AES-256-GCM ciphertext and tag; the key is SHA-256 of the secret's UTF-8 bytes; the
/// additional authenticated data is the request id, so a ciphertext only opens for the
/// request it was made for.
///
/// # Errors
///
/// A short reason when the value is not base64, too short, or does not authenticate.
pub fn decrypt_recipient(secret: &str, request_id: &str, value: &str) -> Result<Value, String> {
    use aes_gcm::aead::{Aead, Payload};
    use sha2::Digest as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| "not base64".to_owned())?;
    if bytes.len() < 12 + 16 {
        return Err("too short".to_owned());
    }
    let (nonce, sealed) = bytes.split_at(12);
    let key = sha2::Sha256::digest(secret.as_bytes());
    let cipher = <aes_gcm::Aes256Gcm as aes_gcm::KeyInit>::new_from_slice(&key)
        .map_err(|_| "bad key".to_owned())?;
    let nonce = <&aes_gcm::aead::Nonce<aes_gcm::Aes256Gcm>>::try_from(nonce)
        .map_err(|_| "bad nonce".to_owned())?;
    let plain = cipher
        .decrypt(
            nonce,
            Payload {
                msg: sealed,
                aad: request_id.as_bytes(),
            },
        )
        .map_err(|_| "does not authenticate (wrong key, request id or tampered)".to_owned())?;
    serde_json::from_slice(&plain).map_err(|_| "not JSON".to_owned())
}

/// An idempotency record.
#[derive(Debug, Clone)]
enum Slot {
    InProgress {
        payload: Vec<u8>,
    },
    Done {
        payload: Vec<u8>,
        status: StatusCode,
        body: Value,
    },
}

#[derive(Debug)]
struct Inner {
    requests: Vec<RecordedRequest>,
    counters: HashMap<String, u64>,
    rng: faults::Rng,
    plan: FaultPlan,
    tokens: HashMap<String, Instant>,
    token_seq: u64,
    slots: HashMap<String, Slot>,
    rewards: Vec<IssuedReward>,
    inventory: HashMap<String, u64>,
    reversals: HashMap<String, Value>,
}

#[derive(Debug)]
struct Shared {
    config: SimConfig,
    started: Instant,
    /// Keeps the `delay` fault's latency to the microsecond (tokio's timer rounds it up).
    delays: Option<Delays>,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lets a handler close its connection without answering.
#[derive(Clone)]
struct ConnKill(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl ConnKill {
    async fn fire(&self) -> Response {
        if let Some(tx) = self.0.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = tx.send(());
        }
        // The connection task drops this request's connection; this never returns.
        std::future::pending::<Response>().await
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Binds and starts serving.
    ///
    /// # Errors
    ///
    /// [`SimError::Bind`] when the address is taken.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|error| SimError::Bind {
                addr: config.addr.to_string(),
                error,
            })?;
        let addr = listener.local_addr().map_err(|error| SimError::Bind {
            addr: config.addr.to_string(),
            error,
        })?;
        let inner = Inner {
            requests: Vec::new(),
            counters: HashMap::new(),
            rng: faults::Rng::new(config.faults.seed),
            plan: config.faults.clone(),
            tokens: HashMap::new(),
            token_seq: 0,
            slots: HashMap::new(),
            rewards: Vec::new(),
            inventory: config.inventory.clone(),
            reversals: HashMap::new(),
        };
        let shared = Arc::new(Shared {
            config,
            started: Instant::now(),
            delays: Delays::start(),
            inner: Mutex::new(inner),
        });
        let router = Router::new()
            .route("/oauth/token", post(token))
            .route("/v1/rewards/issue", post(issue))
            .route("/v1/rewards/{request_id}/reverse", post(reverse))
            .route("/v1/rewards/{request_id}", get(lookup))
            .route("/_sim/requests", get(list_requests))
            .route("/_sim/rewards", get(list_rewards))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (kill_tx, kill_rx) = oneshot::channel::<()>();
                let app = router
                    .clone()
                    .layer(Extension(ConnKill(Arc::new(Mutex::new(Some(kill_tx))))));
                tokio::spawn(async move {
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = kill_rx => {} // dropping the connection closes it unanswered
                    }
                });
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the marketplace's base URL.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR/oauth/token`.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// Every request received so far (except `/_sim/…`), in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every reward issued so far.
    #[must_use]
    pub fn rewards(&self) -> Vec<IssuedReward> {
        self.shared.lock().rewards.clone()
    }

    /// Replaces the fault plan (request counters restart at 1, draws at the new seed).
    pub fn set_faults(&self, plan: FaultPlan) {
        let mut inner = self.shared.lock();
        inner.rng = faults::Rng::new(plan.seed);
        inner.counters.clear();
        inner.plan = plan;
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Records a request and decides its fault, if any.
fn arrive(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (Option<Fault>, bool) {
    let mut inner = shared.lock();
    let seq = inner.requests.len() as u64 + 1;
    inner.requests.push(RecordedRequest {
        seq,
        method: method.to_string(),
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(body).into_owned(),
    });
    let elapsed = shared.started.elapsed().as_secs_f64();
    let down = path.starts_with("/v1/")
        && inner
            .plan
            .downtime
            .iter()
            .any(|d| d.from_secs <= elapsed && elapsed < d.until_secs);
    let key = inner
        .plan
        .faults
        .iter()
        .find(|f| faults::path_matches(&f.path, path))
        .map(|f| f.path.clone());
    let Some(key) = key else { return (None, down) };
    let n = {
        let c = inner.counters.entry(key).or_insert(0);
        *c += 1;
        *c
    };
    let faults = inner.plan.faults.clone();
    for f in faults
        .iter()
        .filter(|f| faults::path_matches(&f.path, path))
    {
        let hit = if f.nth.is_empty() {
            f.probability.is_some_and(|p| inner.rng.next_f64() < p)
        } else {
            f.nth.contains(&n)
        };
        if hit {
            return (Some(f.clone()), down);
        }
    }
    (None, down)
}

/// Applies a fault that replaces processing; returns the response, or `None` to go on.
async fn before(shared: &Shared, fault: Option<&Fault>, kill: &ConnKill) -> Option<Response> {
    let f = fault?;
    match f.action {
        Action::Status => {
            let status = StatusCode::from_u16(f.status.unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(status, "injected fault");
            if let Some(secs) = f.retry_after_secs
                && let Ok(v) = secs.to_string().parse()
            {
                response.headers_mut().insert("retry-after", v);
            }
            Some(response)
        }
        Action::Delay => {
            let deadline = Instant::now() + Duration::from_millis(f.delay_ms.unwrap_or(0));
            Delays::until(shared.delays.as_ref(), deadline).await;
            None
        }
        Action::Hang => {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            Some(error(StatusCode::GATEWAY_TIMEOUT, "hung"))
        }
        Action::Reset => Some(kill.fire().await),
        Action::DropAfterProcessing | Action::Rejected | Action::Pending => None,
    }
}

fn bearer_ok(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    shared
        .lock()
        .tokens
        .get(token)
        .is_some_and(|expires| Instant::now() < *expires)
}

fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(sig) = headers.get("x-signature").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in sig.split(',') {
        match part.trim().split_once('=') {
            Some(("t", x)) => t = Some(x),
            Some(("v1", x)) => v1 = Some(x),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let Some(expected) = decode_hex(v1) else {
        return false;
    };
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Deserialize)]
struct IssueBody {
    agent_id: String,
    reward_type: String,
    points_consumed: i64,
    transaction_timestamp: String,
    recipient_enc: Option<String>,
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Extension(kill): Extension<ConnKill>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, _) = arrive(&shared, &method, "/oauth/token", &headers, &body);
    if let Some(r) = before(&shared, fault.as_ref(), &kill).await {
        return r;
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!(
        "{}:{}",
        shared.config.client_id, shared.config.client_secret
    );
    if basic.as_deref() != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let form = String::from_utf8_lossy(&body);
    if !form
        .split('&')
        .any(|kv| kv == "grant_type=client_credentials")
    {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let mut inner = shared.lock();
    inner.token_seq += 1;
    let seq = inner.token_seq;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a draw in [0, 1) scaled to 2^52: an opaque token suffix"
    )]
    let noise = (inner.rng.next_f64() * 4_503_599_627_370_496.0) as u64;
    let token = format!("sim-token-{seq}-{noise:013x}");
    let ttl = shared.config.token_ttl_secs;
    inner
        .tokens
        .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    Json(json!({ "access_token": token, "token_type": "bearer", "expires_in": ttl }))
        .into_response()
}

async fn issue(
    State(shared): State<Arc<Shared>>,
    Extension(kill): Extension<ConnKill>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Like a real server, the simulator finishes a request whose client went away (killed,
    // timed out): the work runs in its own task, which dropping this handler does not cancel.
    tokio::spawn(process_issue(shared, kill, method, headers, body))
        .await
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "handler failed"))
}

async fn process_issue(
    shared: Arc<Shared>,
    kill: ConnKill,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, down) = arrive(&shared, &method, "/v1/rewards/issue", &headers, &body);
    if down {
        return error(StatusCode::SERVICE_UNAVAILABLE, "down for maintenance");
    }
    if !bearer_ok(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid or expired token");
    }
    let integration = headers
        .get("x-integration-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if integration.is_empty()
        || shared
            .config
            .integration_id
            .as_deref()
            .is_some_and(|want| want != integration)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "missing or unknown X-Integration-ID",
        );
    }
    let Some(request_id) = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
    else {
        return error(StatusCode::BAD_REQUEST, "missing X-Request-ID");
    };
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok())
        && key.trim_matches('"') != request_id
    {
        return error(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key differs from X-Request-ID",
        );
    }
    if let Some(secret) = &shared.config.signing_secret
        && !signature_ok(secret, &headers, &body)
    {
        return error(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let Ok(parsed) = serde_json::from_slice::<IssueBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "malformed body");
    };
    let _ = &parsed.transaction_timestamp;
    // Idempotency: replay, conflict, or claim.
    {
        let mut inner = shared.lock();
        match inner.slots.get(&request_id) {
            Some(Slot::Done {
                payload,
                status,
                body: stored,
            }) => {
                return if payload.as_slice() == body.as_ref() {
                    (*status, Json(stored.clone())).into_response()
                } else {
                    error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency key reused with another payload",
                    )
                };
            }
            Some(Slot::InProgress { payload }) => {
                return if payload.as_slice() == body.as_ref() {
                    error(
                        StatusCode::CONFLICT,
                        "a request with this key is in progress",
                    )
                } else {
                    error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency key reused with another payload",
                    )
                };
            }
            None => {
                inner.slots.insert(
                    request_id.clone(),
                    Slot::InProgress {
                        payload: body.to_vec(),
                    },
                );
            }
        }
    }
    if let Some(r) = before(&shared, fault.as_ref(), &kill).await {
        // Not processed: forget the claim so a retry is processed afresh.
        shared.lock().slots.remove(&request_id);
        return r;
    }
    let action = fault.as_ref().map(|f| f.action.clone());
    let (status, response) = {
        let mut inner = shared.lock();
        let stock = inner.inventory.get(&parsed.reward_type).copied();
        if action == Some(Action::Rejected) || stock == Some(0) {
            let reason = if stock == Some(0) {
                "out of stock"
            } else {
                "rejected (injected)"
            };
            (
                StatusCode::OK,
                json!({ "request_id": request_id, "reward_id": null, "status": "REJECTED", "reason": reason }),
            )
        } else {
            if let Some(n) = inner.inventory.get_mut(&parsed.reward_type) {
                *n -= 1;
            }
            let reward_id = format!("rw-{:06}", inner.rewards.len() + 1);
            inner.rewards.push(IssuedReward {
                request_id: request_id.clone(),
                reward_id: reward_id.clone(),
                agent_id: parsed.agent_id.clone(),
                reward_type: parsed.reward_type.clone(),
                points_consumed: parsed.points_consumed,
                status: "ISSUED".to_owned(),
                recipient: parsed.recipient_enc.as_deref().map(|enc| {
                    match &shared.config.recipient_key {
                        Some(key) => decrypt_recipient(key, &request_id, enc),
                        None => Err("no recipient key configured".to_owned()),
                    }
                }),
            });
            let shown = if action == Some(Action::Pending) {
                "PENDING"
            } else {
                "ISSUED"
            };
            (
                StatusCode::OK,
                json!({ "request_id": request_id, "reward_id": reward_id, "status": shown }),
            )
        }
    };
    shared.lock().slots.insert(
        request_id,
        Slot::Done {
            payload: body.to_vec(),
            status,
            body: response.clone(),
        },
    );
    if action == Some(Action::DropAfterProcessing) {
        return kill.fire().await;
    }
    (status, Json(response)).into_response()
}

async fn reverse(
    State(shared): State<Arc<Shared>>,
    Extension(kill): Extension<ConnKill>,
    method: Method,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/rewards/{request_id}/reverse");
    let (fault, down) = arrive(&shared, &method, &path, &headers, &body);
    if down {
        return error(StatusCode::SERVICE_UNAVAILABLE, "down for maintenance");
    }
    if !bearer_ok(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid or expired token");
    }
    if headers.get("x-request-id").is_none() {
        return error(StatusCode::BAD_REQUEST, "missing X-Request-ID");
    }
    if let Some(r) = before(&shared, fault.as_ref(), &kill).await {
        return r;
    }
    let answer = {
        let mut inner = shared.lock();
        if let Some(done) = inner.reversals.get(&request_id) {
            return Json(done.clone()).into_response();
        }
        let Some(reward) = inner
            .rewards
            .iter_mut()
            .find(|r| r.request_id == request_id)
        else {
            return error(StatusCode::NOT_FOUND, "no such reward");
        };
        reward.status = "REVERSED".to_owned();
        let answer = json!({ "request_id": request_id, "status": "REVERSED" });
        inner.reversals.insert(request_id, answer.clone());
        answer
    };
    if fault.is_some_and(|f| f.action == Action::DropAfterProcessing) {
        return kill.fire().await;
    }
    Json(answer).into_response()
}

async fn lookup(
    State(shared): State<Arc<Shared>>,
    Extension(kill): Extension<ConnKill>,
    method: Method,
    Path(request_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/rewards/{request_id}");
    let (fault, down) = arrive(&shared, &method, &path, &headers, &[]);
    if down {
        return error(StatusCode::SERVICE_UNAVAILABLE, "down for maintenance");
    }
    if !bearer_ok(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid or expired token");
    }
    if let Some(r) = before(&shared, fault.as_ref(), &kill).await {
        return r;
    }
    let inner = shared.lock();
    match inner.slots.get(&request_id) {
        Some(Slot::Done { status, body, .. }) => {
            let mut body = body.clone();
            // A reward answered PENDING is issued by now; a reversed one says so.
            if let Some(r) = inner.rewards.iter().find(|r| r.request_id == request_id) {
                body["status"] = Value::String(r.status.clone());
            }
            (*status, Json(body)).into_response()
        }
        Some(Slot::InProgress { .. }) => (
            StatusCode::OK,
            Json(json!({ "request_id": request_id, "status": "PENDING" })),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such request"),
    }
}

async fn list_requests(State(shared): State<Arc<Shared>>) -> Json<Vec<RecordedRequest>> {
    Json(shared.lock().requests.clone())
}

async fn list_rewards(State(shared): State<Arc<Shared>>) -> Json<Vec<IssuedReward>> {
    Json(shared.lock().rewards.clone())
}
