//! A Genesys Cloud simulator for the Kudos Genesys source: a real HTTP server with the
//! client-credentials token endpoint and the analytics aggregate queries, answering in the
//! Platform API's shapes from the sample exports (`data/genesys/`, byte-equal to the
//! repository's `fixtures/genesys/`, which a test keeps so), with items in an order that
//! changes between calls, tokens that expire, and a seeded plan of `429 Retry-After` and `5xx`
//! answers.
//!
//! | route | answers |
//! |---|---|
//! | `POST /oauth/token` | HTTP Basic client credentials → `{"access_token","token_type","expires_in"}` |
//! | `GET /api/v2/workforcemanagement/managementunits` | the management unit of the sample adherence download |
//! | `POST /api/v2/workforcemanagement/adherence/historical/bulk` | `202` with a `Processing` job (`400` over 31 days, or 7 with exceptions) |
//! | `GET /api/v2/workforcemanagement/adherence/historical/bulk/jobs/{id}` | the job: `Processing` for [`GenesysConfig::polls_to_complete`] polls, then `Complete` with `downloadUrls` on another path — to the client that started it only (`404` to another) |
//! | `GET /downloads/{id}/{n}?sig=…` | a presigned download, no token: the sample bulk result when the job's range covers its days, else an empty result |
//! | `GET /api/v2/users?pageSize=N&pageNumber=P` | [`GenesysConfig::users`] users (`id`, `name`, `email`, `title`, `state`), paged (`entities`, `pageSize`, `pageNumber`, `total`, `pageCount`) |
//! | `POST /api/v2/analytics/{conversations,surveys,evaluations,users}/aggregates/query` | the sample's results whose `P1D` buckets start inside the query's `interval` (`400` for a query without `interval`, `granularity`, `timeZone` or a `userId` group, or an interval over the limit) |

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::SimError;

mod wfm;
use wfm::{download, management_units, poll_adherence, submit_adherence};

/// The longest interval an aggregate query may span, in days (the simulator refuses longer
/// ones with `400`, as the Platform API does past its limit).
pub const MAX_QUERY_DAYS: i64 = 31;

/// The sample responses, by query kind.
const SAMPLES: [(&str, &str); 4] = [
    (
        "conversations",
        include_str!("../../data/genesys/analytics_conversations_aggregates_response.json"),
    ),
    (
        "surveys",
        include_str!("../../data/genesys/analytics_surveys_aggregates_response.json"),
    ),
    (
        "evaluations",
        include_str!("../../data/genesys/analytics_evaluations_aggregates_response.json"),
    ),
    (
        "users",
        include_str!("../../data/genesys/analytics_users_aggregates_response.json"),
    ),
];

/// The sample bulk adherence download (`data/genesys/`, equal to the fixture).
const ADHERENCE_SAMPLE: &str =
    include_str!("../../data/genesys/wfm_historical_adherence_bulk.json");

/// A bulk adherence job: who started it, its range, how often it was polled.
#[derive(Debug, Clone)]
struct Job {
    creator: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    unit: String,
    polls: u32,
}

/// What the Genesys simulator does.
#[derive(Debug, Clone)]
pub struct GenesysConfig {
    /// The OAuth client id it accepts.
    pub client_id: String,
    /// The OAuth client secret it accepts.
    pub client_secret: String,
    /// A second OAuth client (id, secret) of the same organisation: it may call the API too,
    /// but not read the jobs the first one started (a job is its creator's).
    pub other_client: Option<(String, String)>,
    /// How long a token lives.
    pub token_ttl_secs: u64,
    /// Answer `429` with `Retry-After: 1` to these API requests (1-based, counting every
    /// request to `/api/v2/…`).
    pub too_many_requests: Vec<u64>,
    /// Answer `503` to these API requests.
    pub unavailable: Vec<u64>,
    /// A seeded fault plan on top of the planned ones: each API request is answered `429`
    /// (`Retry-After: 1`) or `503` with this probability (half each), drawn from
    /// [`fault_seed`](Self::fault_seed) — the same seed, the same faults.
    pub fault_rate: f64,
    /// The seed of the fault draws.
    pub fault_seed: u64,
    /// Polls a bulk adherence job answers `Processing` before `Complete`.
    pub polls_to_complete: u32,
    /// How many users the organisation has: user `n` has the id of agent `n` in the sample
    /// exports (`a1b2c3d4-0000-4000-8000-00000000000n`, zero-padded) and an invented name
    /// and e-mail address.
    pub users: u32,
}

impl Default for GenesysConfig {
    fn default() -> Self {
        Self {
            client_id: "genesys-sim-client".into(),
            client_secret: "genesys-sim-secret".into(),
            other_client: None,
            token_ttl_secs: 86_399,
            too_many_requests: Vec::new(),
            unavailable: Vec::new(),
            users: 5,
            polls_to_complete: 2,
            fault_rate: 0.0,
            fault_seed: 0,
        }
    }
}

/// A request the simulator received: method, path and body (never a header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesysRequest {
    /// `POST` or `GET`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The body, as received.
    pub body: String,
}

#[derive(Debug, Default)]
struct State0 {
    /// Each token, when it expires, and the client it was issued to.
    tokens: Vec<(String, tokio::time::Instant)>,
    token_clients: std::collections::HashMap<String, String>,
    /// The seeded fault draws (created at start from `fault_seed`).
    draws: Option<kudos_core::SeededRng>,
    jobs: Vec<Job>,
    api_requests: u64,
    requests: Vec<GenesysRequest>,
}

#[derive(Debug)]
struct Shared {
    config: GenesysConfig,
    state: Mutex<State0>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State0> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running Genesys Cloud simulator.
#[derive(Debug)]
pub struct GenesysSimulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for GenesysSimulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GenesysSimulator {
    /// Binds a loopback port and starts serving.
    ///
    /// # Errors
    ///
    /// [`SimError::Bind`] when no port can be bound.
    pub async fn start(config: GenesysConfig) -> Result<Self, SimError> {
        let bind_error = |error| SimError::Bind {
            addr: "127.0.0.1:0".into(),
            error,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let shared = Arc::new(Shared {
            config,
            state: Mutex::default(),
        });
        let router = Router::new()
            .route("/oauth/token", post(token))
            .route("/api/v2/users", axum::routing::get(users))
            .route(
                "/api/v2/workforcemanagement/managementunits",
                axum::routing::get(management_units),
            )
            .route(
                "/api/v2/workforcemanagement/adherence/historical/bulk",
                post(submit_adherence),
            )
            .route(
                "/api/v2/workforcemanagement/adherence/historical/bulk/jobs/{id}",
                axum::routing::get(poll_adherence),
            )
            .route("/downloads/{id}/{n}", axum::routing::get(download))
            .route(
                "/api/v2/analytics/{kind}/aggregates/query",
                post(aggregates),
            )
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// `http://ADDR`: both the API and the login base URL.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<GenesysRequest> {
        self.shared.lock().requests.clone()
    }

    /// Tokens issued so far.
    #[must_use]
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().tokens.len()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "status": status.as_u16(), "code": code, "message": message })),
    )
        .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let credentials = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|e| base64::engine::general_purpose::STANDARD.decode(e).ok())
        .and_then(|d| String::from_utf8(d).ok());
    let expected = format!(
        "{}:{}",
        shared.config.client_id, shared.config.client_secret
    );
    // The login host answers in OAuth's shape (RFC 6749, section 5.2).
    let oauth_error = |status: StatusCode, code: &str| {
        (status, Json(json!({ "error": code, "description": code }))).into_response()
    };
    let other = shared
        .config
        .other_client
        .as_ref()
        .map(|(id, secret)| format!("{id}:{secret}"));
    if credentials.as_deref() != Some(expected.as_str())
        && (other.is_none() || credentials != other)
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if !String::from_utf8_lossy(&body)
        .split('&')
        .any(|f| f == "grant_type=client_credentials")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let ttl = shared.config.token_ttl_secs;
    let mut state = shared.lock();
    let token = format!("genesys-sim-token-{}", state.tokens.len() + 1);
    let expires = tokio::time::Instant::now() + std::time::Duration::from_secs(ttl);
    state.tokens.push((token.clone(), expires));
    if let Some(client) = credentials.as_deref().and_then(|c| c.split_once(':')) {
        state
            .token_clients
            .insert(token.clone(), client.0.to_owned());
    }
    Json(json!({ "access_token": token, "token_type": "bearer", "expires_in": ttl }))
        .into_response()
}

/// The bearer token is one the simulator issued and it has not expired.
fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let now = tokio::time::Instant::now();
    shared
        .lock()
        .tokens
        .iter()
        .any(|(t, expires)| t == token && *expires > now)
}

/// Counts an API request and answers the fault planned for it, if any.
fn planned_fault(
    shared: &Shared,
    method: &str,
    path: &str,
    body: &Bytes,
) -> (u64, Option<Response>) {
    let mut state = shared.lock();
    state.api_requests += 1;
    let n = state.api_requests;
    state.requests.push(GenesysRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        body: String::from_utf8_lossy(body).into_owned(),
    });
    let draw = if shared.config.fault_rate > 0.0 {
        let seed = shared.config.fault_seed;
        let rng = state
            .draws
            .get_or_insert_with(|| kudos_core::SeededRng::new(seed));
        Some(rng.next_f64())
    } else {
        None
    };
    drop(state);
    let rate = shared.config.fault_rate;
    let (seeded_429, seeded_503) = match draw {
        Some(x) if x < rate / 2.0 => (true, false),
        Some(x) if x < rate => (false, true),
        _ => (false, false),
    };
    if shared.config.too_many_requests.contains(&n) || seeded_429 {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests.retry.after",
            "Rate limit exceeded the maximum [300] requests within [60] seconds",
        );
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        return (n, Some(response));
    }
    if shared.config.unavailable.contains(&n) || seeded_503 {
        return (
            n,
            Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "service.unavailable",
                "unavailable",
            )),
        );
    }
    (n, None)
}

/// `[start, end)` of an ISO 8601 interval `start/end`.
fn interval(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = text.split_once('/')?;
    let start = DateTime::parse_from_rfc3339(start)
        .ok()?
        .with_timezone(&Utc);
    let end = DateTime::parse_from_rfc3339(end).ok()?.with_timezone(&Utc);
    (start < end).then_some((start, end))
}

async fn aggregates(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/api/v2/analytics/{kind}/aggregates/query");
    let (n, fault) = planned_fault(&shared, "POST", &path, &body);
    if let Some(response) = fault {
        return response;
    }
    if !authorised(&shared, &headers) {
        return wfm::unauthorised();
    }
    let Some((_, sample)) = SAMPLES.iter().find(|(k, _)| *k == kind) else {
        return error(StatusCode::NOT_FOUND, "not.found", "no such resource");
    };
    let Ok(query) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "the body is not JSON",
        );
    };
    let Some((start, end)) = query["interval"].as_str().and_then(interval) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "interval is required",
        );
    };
    if (end - start).num_days() > MAX_QUERY_DAYS {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "the interval is longer than the limit",
        );
    }
    let groups_by_user = query["groupBy"]
        .as_array()
        .is_some_and(|g| g.iter().any(|k| k == "userId"));
    if query["granularity"] != "P1D" || !query["timeZone"].is_string() || !groups_by_user {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "granularity P1D, a timeZone and a userId group are expected",
        );
    }
    let Ok(sample) = serde_json::from_str::<Value>(sample) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "sample");
    };
    let mut results: Vec<Value> = sample["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|mut group| {
            let data: Vec<Value> = group["data"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|bucket| {
                    bucket["interval"]
                        .as_str()
                        .and_then(interval)
                        .is_some_and(|(s, _)| s >= start && s < end)
                })
                .collect();
            (!data.is_empty()).then(|| {
                group["data"] = Value::Array(data);
                group
            })
        })
        .collect();
    // Items come back in an order that changes from call to call, as Genesys does not
    // promise one.
    let turn = usize::try_from(n).unwrap_or(0);
    if !results.is_empty() {
        let k = turn % results.len();
        results.rotate_left(k);
    }
    for group in &mut results {
        if let Some(data) = group["data"].as_array_mut()
            && !data.is_empty()
        {
            let k = turn % data.len();
            data.rotate_left(k);
        }
    }
    Json(json!({ "results": results })).into_response()
}

/// A number parameter of a query string.
fn param(uri: &axum::http::Uri, name: &str) -> Option<u32> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// User `n` as the users API describes it (all invented).
fn user(n: u32) -> Value {
    json!({
        "id": format!("a1b2c3d4-0000-4000-8000-{n:012}"),
        "name": format!("Agent Number{n}"),
        "email": format!("agent.{n}@example.com"),
        "title": "Agent",
        "state": "active",
        "version": 1,
    })
}

async fn users(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let path = "/api/v2/users";
    let (_, fault) = planned_fault(&shared, "GET", path, &Bytes::new());
    if let Some(response) = fault {
        return response;
    }
    if !authorised(&shared, &headers) {
        return wfm::unauthorised();
    }
    let size = param(&uri, "pageSize").unwrap_or(25).clamp(1, 500);
    let number = param(&uri, "pageNumber").unwrap_or(1).max(1);
    let total = shared.config.users;
    let first = (number - 1).saturating_mul(size) + 1;
    let entities: Vec<Value> = (first..first.saturating_add(size))
        .filter(|n| *n <= total)
        .map(user)
        .collect();
    Json(json!({
        "entities": entities,
        "pageSize": size,
        "pageNumber": number,
        "total": total,
        "pageCount": total.div_ceil(size),
    }))
    .into_response()
}
