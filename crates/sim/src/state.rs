//! The simulated marketplace's state: its configuration and clock, and behind one mutex
//! everything that changes as requests arrive — recorded requests, fault counters and draws,
//! access tokens, idempotency slots, rewards, stock and reversals.
//!
//! Every handler reads and writes it through [`Marketplace::lock`]. Locks are held briefly
//! and never across an `.await`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use crate::delay::Delays;
use crate::faults::{self, Fault, FaultPlan};
use crate::{IssuedReward, RecordedRequest, SimConfig};

/// The marketplace every connection shares (as axum state, in an `Arc`).
#[derive(Debug)]
pub(crate) struct Marketplace {
    /// The configuration it started with.
    pub(crate) config: SimConfig,
    /// When it started; downtime windows count from here.
    started: Instant,
    /// Keeps the `delay` fault's latency to the microsecond (tokio's timer rounds it up).
    pub(crate) delays: Option<Delays>,
    /// Everything that changes.
    state: Mutex<MarketplaceState>,
}

/// What changes as requests arrive; guarded by [`Marketplace`]'s mutex.
#[derive(Debug)]
pub(crate) struct MarketplaceState {
    /// Every gated request, in arrival order.
    pub(crate) requests: Vec<RecordedRequest>,
    /// Requests seen per fault path pattern, counting the `nth` of a fault.
    requests_per_fault_path: HashMap<String, u64>,
    /// The seeded generator: `probability` draws, then token suffixes.
    draws: faults::Rng,
    /// The fault plan in force.
    fault_plan: FaultPlan,
    /// Access tokens issued, and when each expires.
    token_expiries: HashMap<String, Instant>,
    /// How many tokens have been issued (numbers the next one).
    tokens_issued: u64,
    /// Issue requests by client (`X-Integration-ID`) and request id: in progress, or done
    /// with the answer to replay.
    pub(crate) idempotency: HashMap<IdempotencyKey, IdempotencySlot>,
    /// When each reward was issued and, if it was, reversed (for `lookup_lag_ms`).
    pub(crate) changed: HashMap<String, (Instant, Option<Instant>)>,
    /// The current rate-limit window (its second on the config clock) and the requests in it.
    rate_window: (i64, u32),
    /// Rewards issued, in order.
    pub(crate) rewards: Vec<IssuedReward>,
    /// Rewards left per reward type (a type not listed is unlimited).
    pub(crate) stock: HashMap<String, u64>,
    /// The answer to each reversed request id, replayed to a repeated reversal.
    pub(crate) reversals: HashMap<String, Value>,
    /// Request ids answered `PENDING` that ended without a reward (lookups say `FAILED`).
    pub(crate) failed: std::collections::HashSet<String>,
    /// The account's funds left (`None`: unlimited).
    pub(crate) balance: Option<kudos_core::Money>,
}

/// An idempotency key: the client (`X-Integration-ID`) and the request id. Two clients'
/// requests never share a key.
pub(crate) type IdempotencyKey = (String, String);

/// Where an issue request stands, by request id (the IETF Idempotency-Key draft).
#[derive(Debug, Clone)]
pub(crate) enum IdempotencySlot {
    /// Claimed by a request still being processed.
    InProgress {
        /// The body it was sent with.
        payload: Vec<u8>,
    },
    /// Processed; a repeat with the same payload gets this answer again.
    Done {
        /// The body it was sent with.
        payload: Vec<u8>,
        /// The status it was answered with.
        status: StatusCode,
        /// The JSON it was answered with.
        answer: Value,
        /// When it was answered (the key is kept `idempotency_retention_secs` from then).
        at: Instant,
    },
}

/// What the marketplace decided about a request as it arrived.
#[derive(Debug)]
pub(crate) struct Arrival {
    /// Whether a downtime window is open for it (only `/v1/…` paths have downtime).
    pub(crate) in_downtime: bool,
    /// The fault the plan chose for it, if any.
    pub(crate) fault: Option<Fault>,
    /// When it is over the rate limit: the `Retry-After` HTTP date to answer `429` with.
    pub(crate) rate_limited: Option<String>,
}

impl Marketplace {
    /// A marketplace with nothing recorded, starting now.
    pub(crate) fn new(config: SimConfig) -> Self {
        let state = MarketplaceState {
            requests: Vec::new(),
            requests_per_fault_path: HashMap::new(),
            draws: faults::Rng::new(config.faults.seed),
            fault_plan: config.faults.clone(),
            token_expiries: HashMap::new(),
            tokens_issued: 0,
            idempotency: HashMap::new(),
            changed: HashMap::new(),
            rate_window: (i64::MIN, 0),
            rewards: Vec::new(),
            stock: config.inventory.clone(),
            reversals: HashMap::new(),
            failed: std::collections::HashSet::new(),
            balance: config.balance.clone(),
        };
        Self {
            config,
            started: Instant::now(),
            delays: Delays::start(),
            state: Mutex::new(state),
        }
    }

    /// The state, locked (a poisoned lock is taken over: the state stays usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, MarketplaceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a request and, under the same lock (so arrival order and fault counts agree),
    /// says whether it falls in downtime and which fault, if any, it gets.
    pub(crate) fn arrive(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Arrival {
        let mut state = self.lock();
        state.record(method, path, headers, body);
        let elapsed_secs = self.started.elapsed().as_secs_f64();
        let in_downtime =
            path.starts_with("/v1/")
                && state.fault_plan.downtime.iter().any(|window| {
                    window.from_secs <= elapsed_secs && elapsed_secs < window.until_secs
                });
        let fault = state.choose_fault(path);
        let rate_limited = match self.config.rate_limit_per_sec {
            Some(limit) if path.starts_with("/v1/") => {
                // Windows are real seconds; the date is on the configured clock (the
                // client's), one second on, so the client waits about a second either way.
                let second = kudos_core::Clock::now(&kudos_core::SystemClock).timestamp();
                if state.rate_window.0 != second {
                    state.rate_window = (second, 0);
                }
                state.rate_window.1 += 1;
                (state.rate_window.1 > limit).then(|| {
                    let now = self.config.clock.now();
                    let next =
                        chrono::DateTime::from_timestamp(now.timestamp() + 1, 0).unwrap_or(now);
                    next.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
                })
            }
            _ => None,
        };
        Arrival {
            in_downtime,
            fault,
            rate_limited,
        }
    }

    /// Whether a lookup now sees the reward `request_id` as issued, and as reversed (under
    /// `lookup_lag_ms`, a change is seen only once it is that old).
    pub(crate) fn seen(&self, state: &MarketplaceState, request_id: &str) -> (bool, bool) {
        let lag = Duration::from_millis(self.config.lookup_lag_ms);
        let old_enough = |at: &Instant| at.elapsed() >= lag;
        match state.changed.get(request_id) {
            Some((issued, reversed)) => (
                old_enough(issued),
                reversed.as_ref().is_some_and(old_enough),
            ),
            None => (true, true),
        }
    }

    /// Whether a completed key answered at `at` is still kept.
    pub(crate) fn key_kept(&self, at: Instant) -> bool {
        self.config
            .idempotency_retention_secs
            .is_none_or(|secs| at.elapsed() < Duration::from_secs(secs))
    }
}

impl MarketplaceState {
    /// Appends a request to the record.
    fn record(&mut self, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) {
        let seq = self.requests.len() as u64 + 1;
        self.requests.push(RecordedRequest {
            seq,
            method: method.to_string(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
    }

    /// Counts a request against the first fault whose path matches, then returns the first
    /// matching fault that hits: by its `nth` list, or else by a `probability` draw.
    fn choose_fault(&mut self, path: &str) -> Option<Fault> {
        let pattern = self
            .fault_plan
            .faults
            .iter()
            .find(|fault| faults::path_matches(&fault.path, path))
            .map(|fault| fault.path.clone())?;
        let count = self.requests_per_fault_path.entry(pattern).or_insert(0);
        *count += 1;
        let nth = *count;
        let draws = &mut self.draws;
        self.fault_plan
            .faults
            .iter()
            .filter(|fault| faults::path_matches(&fault.path, path))
            .find(|fault| {
                if fault.nth.is_empty() {
                    fault
                        .probability
                        .is_some_and(|probability| draws.next_f64() < probability)
                } else {
                    fault.nth.contains(&nth)
                }
            })
            .cloned()
    }

    /// Replaces the fault plan: counters restart at 1, draws at the new seed.
    pub(crate) fn replace_fault_plan(&mut self, plan: FaultPlan) {
        self.draws = faults::Rng::new(plan.seed);
        self.requests_per_fault_path.clear();
        self.fault_plan = plan;
    }

    /// Issues an access token that lives `ttl`: `sim-token-<n>-<13 hex digits drawn from the
    /// seed>`.
    pub(crate) fn issue_token(&mut self, ttl: Duration) -> String {
        self.tokens_issued += 1;
        let number = self.tokens_issued;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a draw in [0, 1) scaled to 2^52: an opaque token suffix"
        )]
        let noise = (self.draws.next_f64() * 4_503_599_627_370_496.0) as u64;
        let token = format!("sim-token-{number}-{noise:013x}");
        self.token_expiries
            .insert(token.clone(), Instant::now() + ttl);
        token
    }

    /// Whether `token` was issued here and has not expired.
    pub(crate) fn token_is_live(&self, token: &str) -> bool {
        self.token_expiries
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }
}
