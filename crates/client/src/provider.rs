//! The `RewardProvider` port and its HTTP implementation for the marketplace API (`docs/reference/issuing.md#marketplace-api`).

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Duration;

use async_trait::async_trait;
use kudos_core::{Clock, Day, Money, TxnId};
use kudos_privacy::{ExposeSecret, SecretSource};
use serde_json::Value;
use tracing::Instrument as _;

use crate::telemetry;
use crate::transport::{Answer, Request, Transport, TransportError};
use crate::{
    BackonSchedule, BreakerState, CircuitBreaker, MarketRecord, Outcome, RateLimit, ReverseOutcome,
    Schedule, SignedParts, StatusOutcome, TokenProvider, Verdict, classify, signature_header_v2,
};

/// A reward marketplace, in domain terms. Other marketplaces plug in here.
#[async_trait]
pub trait RewardProvider: Send + Sync + fmt::Debug {
    /// Issues the reward whose request body (fixed when the hold was made) is `payload`, under
    /// the idempotency key `txn`. Never panics; every failure is an [`Outcome`].
    async fn issue(&self, txn: TxnId, payload: &[u8]) -> Outcome;
    /// Looks up what became of `txn`.
    async fn status(&self, txn: TxnId) -> StatusOutcome;
    /// Reverses the reward issued under `of`, with its own idempotency key `reversal` and the
    /// request body `payload` (fixed when the reversal was recorded, sent unchanged by every
    /// retry). Never panics; every failure is a [`ReverseOutcome`].
    async fn reverse(&self, reversal: TxnId, of: TxnId, payload: &[u8]) -> ReverseOutcome;

    /// Counters for metrics: retries so far and the breaker's state. The default knows none.
    fn stats(&self) -> ProviderStats {
        ProviderStats::default()
    }

    /// The funds the marketplace account has available to issue rewards with, where the
    /// marketplace can say (`Ok(None)`: it cannot). The run asks before each issuing round.
    /// The default cannot say.
    ///
    /// # Errors
    ///
    /// What went wrong asking (the run then issues as if it could not say, and alerts).
    async fn balance(&self) -> Result<Option<Money>, String> {
        Ok(None)
    }

    /// The rewards the marketplace issued from `from` to `to` (its days, UTC), where it can
    /// list them (`Ok(None)`: it cannot; reconciliation then relies on lookups). The default
    /// cannot.
    ///
    /// # Errors
    ///
    /// What went wrong asking.
    async fn records(&self, from: Day, to: Day) -> Result<Option<Vec<MarketRecord>>, String> {
        let _ = (from, to);
        Ok(None)
    }
}

/// What a provider reports for metrics ([`RewardProvider::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderStats {
    /// Requests sent again after a retryable failure, since the provider was made.
    pub retries: u64,
    /// The circuit breaker's state, when the provider has one.
    pub breaker: Option<BreakerState>,
}

/// Settings of the HTTP provider (`[marketplace]`): [`HttpProviderConfig::new`] and the
/// builder methods (fields may be added in a minor release).
///
/// ```
/// use std::time::Duration;
/// let config = kudos_client::HttpProviderConfig::new("https://rewards.example.com", "GENESYS-WFM-01")
///     .max_retries(5)
///     .backoff(Duration::from_millis(100), Duration::from_secs(10));
/// assert_eq!(config.max_retries, 5);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpProviderConfig {
    /// `https://rewards.example.com`.
    pub base_url: String,
    /// `X-Integration-ID`.
    pub integration_id: String,
    /// Retries after the first attempt, within one call.
    pub max_retries: u32,
    /// The first backoff ceiling.
    pub backoff_base: Duration,
    /// The largest wait.
    pub backoff_cap: Duration,
    /// The jitter seed.
    pub seed: u64,
    /// The most time one call may spend waiting between retries.
    pub deadline: Duration,
    /// The breaker opens after failing this long without a success.
    pub breaker_open_after: Duration,
    /// Requests per second (0: unlimited).
    pub requests_per_second: u32,
    /// Signs requests (`X-Signature`) with this secret when set.
    pub signing: Option<SecretSource>,
}

impl Default for HttpProviderConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            integration_id: String::new(),
            max_retries: 3,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(30),
            seed: 0,
            deadline: Duration::from_secs(120),
            breaker_open_after: Duration::from_secs(300),
            requests_per_second: 0,
            signing: None,
        }
    }
}

impl HttpProviderConfig {
    /// The marketplace at `base_url`, as `integration_id`, with the defaults for the rest.
    #[must_use]
    pub fn new(base_url: impl Into<String>, integration_id: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            integration_id: integration_id.into(),
            ..Self::default()
        }
    }

    /// Retries after the first attempt, within one call.
    #[must_use]
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The first backoff ceiling and the largest wait.
    #[must_use]
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap;
        self
    }

    /// The jitter seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The most time one call may spend waiting between retries.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The breaker opens after failing this long without a success.
    #[must_use]
    pub fn breaker_open_after(mut self, after: Duration) -> Self {
        self.breaker_open_after = after;
        self
    }

    /// Requests per second (0: unlimited).
    #[must_use]
    pub fn requests_per_second(mut self, rate: u32) -> Self {
        self.requests_per_second = rate;
        self
    }

    /// Signs requests with this secret.
    #[must_use]
    pub fn signing(mut self, signing: Option<SecretSource>) -> Self {
        self.signing = signing;
        self
    }
}

/// The marketplace API (`docs/reference/issuing.md#marketplace-api`) over a [`Transport`].
pub struct HttpRewardProvider {
    config: HttpProviderConfig,
    transport: Arc<dyn Transport>,
    tokens: Arc<dyn TokenProvider>,
    pub(crate) clock: Arc<dyn Clock>,
    breaker: CircuitBreaker,
    rate: RateLimit,
    schedule: Arc<dyn Schedule>,
    slept: Mutex<Duration>,
    retries: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for HttpRewardProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRewardProvider")
            .field("base_url", &self.config.base_url)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

/// A marketplace's answer as a reason: what the personal-data detector flags replaced,
/// control characters removed, clipped to 200 characters. Every text of an answer goes
/// through here before it can reach a log, an alert or the audit trail.
fn short(body: &[u8]) -> String {
    kudos_privacy::scrub(&String::from_utf8_lossy(body), 200)
}

/// A text field of an answer (a reason, a status), scrubbed as [`short`] does.
fn said(text: &str) -> String {
    kudos_privacy::scrub(text, 200)
}

/// A reward id from an answer, kept as the marketplace's reference when it is shaped like one
/// (at most 128 letters, digits and `-_.:/`); anything else is scrubbed like any answer text.
fn reward_ref(id: &str) -> String {
    let id_shaped = id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
    if id_shaped {
        id.to_owned()
    } else {
        kudos_privacy::scrub(id, 64)
    }
}

impl HttpRewardProvider {
    /// A provider; the breaker probes again after `breaker_open_after / 10` (at least 1 s).
    #[must_use]
    pub fn new(
        config: HttpProviderConfig,
        transport: Arc<dyn Transport>,
        tokens: Arc<dyn TokenProvider>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let open_after = chrono::TimeDelta::from_std(config.breaker_open_after)
            .unwrap_or(chrono::TimeDelta::seconds(300));
        let probe_after = (open_after / 10).max(chrono::TimeDelta::seconds(1));
        Self {
            breaker: CircuitBreaker::new(clock.clone(), open_after, probe_after),
            rate: RateLimit::new(clock.clone(), config.requests_per_second),
            schedule: Arc::new(BackonSchedule::new(
                config.backoff_base,
                config.backoff_cap,
                config.max_retries,
                config.deadline,
                config.seed,
            )),
            slept: Mutex::new(Duration::ZERO),
            retries: std::sync::atomic::AtomicU64::new(0),
            config,
            transport,
            tokens,
            clock,
        }
    }

    /// Replaces the retry schedule (the default is [`BackonSchedule`] from the config).
    #[must_use]
    pub fn with_schedule(mut self, schedule: Arc<dyn Schedule>) -> Self {
        self.schedule = schedule;
        self
    }

    /// The total time spent waiting between retries and for rate-limit slots.
    #[must_use]
    pub fn slept(&self) -> Duration {
        *self.slept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn sleep(&self, wait: Duration) {
        *self.slept.lock().unwrap_or_else(PoisonError::into_inner) += wait;
        tokio::time::sleep(wait).await;
    }

    /// Sends `method path` with `body` under `request_id`, with retries, the token, the rate
    /// limit and the breaker. `Ok` is an answer the caller reads; `Err` is the final outcome.
    pub(crate) async fn call(
        &self,
        endpoint: &'static str,
        method: &'static str,
        path: &str,
        request_id: &str,
        idempotency_key: bool,
        body: &[u8],
    ) -> Result<Answer, Outcome> {
        let mut attempt = 0u32;
        let mut delays = self.schedule.delays();
        let mut refreshed = false;
        // Whether an earlier attempt may have reached the marketplace: from then on, a call
        // that ends without an answer ends in doubt, never "not sent".
        let mut sent = false;
        let mut waited = Duration::ZERO;
        let unsent_or_in_doubt = |sent: bool, reason: String| {
            if sent {
                Outcome::InDoubt { reason }
            } else {
                Outcome::NotSent { reason }
            }
        };
        loop {
            if !self.breaker.allow() {
                return Err(unsent_or_in_doubt(
                    sent,
                    "the circuit breaker is open".to_owned(),
                ));
            }
            if let Err(wait) = self.rate.try_acquire() {
                self.sleep(wait.to_std().unwrap_or(Duration::from_millis(10)))
                    .await;
                continue;
            }
            let token = match self.tokens.token().await {
                Ok(t) => t,
                Err(e) => return Err(unsent_or_in_doubt(sent, e.to_string())),
            };
            let mut headers = vec![
                (
                    "authorization".to_owned(),
                    format!("Bearer {}", token.expose_secret()),
                ),
                (
                    "x-integration-id".to_owned(),
                    self.config.integration_id.clone(),
                ),
                ("x-request-id".to_owned(), request_id.to_owned()),
            ];
            if !body.is_empty() {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
            }
            if idempotency_key {
                headers.push(("idempotency-key".to_owned(), format!("\"{request_id}\"")));
            }
            let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
            if let Some(source) = &self.config.signing {
                match source.read() {
                    Ok(secret) => {
                        let key = headers
                            .iter()
                            .find(|(name, _)| name == "idempotency-key")
                            .map_or("", |(_, value)| value.as_str());
                        let signature = signature_header_v2(
                            secret.expose_secret(),
                            &SignedParts {
                                method,
                                path: request_target(&url),
                                idempotency_key: key,
                                request_id,
                                unix_seconds: self.clock.now().timestamp(),
                                body,
                            },
                        );
                        headers.push(("x-signature".to_owned(), signature));
                    }
                    Err(e) => return Err(unsent_or_in_doubt(sent, e.to_string())),
                }
            }
            let request = Request {
                method,
                url,
                headers,
                body: body.to_vec(),
            };
            // A span per attempt: the endpoint, the transaction, the attempt's number, then
            // its status, latency and (when it is retried) why. Never a header or a body.
            let span = tracing::debug_span!(
                "kudos_client_attempt",
                endpoint,
                txn = request_id,
                attempt = attempt + 1,
                status = tracing::field::Empty,
                latency_ms = tracing::field::Empty,
                retry_reason = tracing::field::Empty,
            );
            let started = self.clock.now();
            let answered = self.transport.send(request).instrument(span.clone()).await;
            let latency = (self.clock.now() - started).to_std().unwrap_or_default();
            let status = answered.as_ref().ok().map(|a| a.status);
            span.record("status", telemetry::status_label(status).as_str());
            span.record("latency_ms", latency.as_millis());
            telemetry::attempt(endpoint, status, latency);
            let (retry_after, failure) = match answered {
                Err(e) => {
                    sent |= !matches!(e, TransportError::Connect(_));
                    self.breaker.record_failure();
                    telemetry::breaker(self.breaker.state());
                    (None, e.to_string())
                }
                Ok(answer) => {
                    sent = true;
                    let verdict = classify(answer.status);
                    match verdict {
                        Verdict::Retry => self.breaker.record_failure(),
                        Verdict::RefreshToken if !refreshed => {}
                        _ => self.breaker.record_success(),
                    }
                    telemetry::breaker(self.breaker.state());
                    match verdict {
                        Verdict::Answered => return Ok(answer),
                        Verdict::Retry => {
                            let retry_after = answer
                                .header("retry-after")
                                .and_then(|v| retry_after(v, self.clock.now()));
                            (retry_after, format!("status {}", answer.status))
                        }
                        Verdict::RefreshToken if !refreshed => {
                            refreshed = true;
                            span.record("retry_reason", "token_refresh");
                            self.tokens.invalidate(&token).await;
                            continue;
                        }
                        Verdict::RefreshToken | Verdict::Review => {
                            return Err(Outcome::NeedsReview {
                                status: answer.status,
                                reason: short(&answer.body),
                            });
                        }
                        Verdict::Unfunded => {
                            return Err(Outcome::Unfunded {
                                reason: short(&answer.body),
                            });
                        }
                        Verdict::InDoubt => {
                            return Err(Outcome::InDoubt {
                                reason: format!(
                                    "status {}: {}",
                                    answer.status,
                                    short(&answer.body)
                                ),
                            });
                        }
                    }
                }
            };
            // The schedule is the budget: when it ends, so does the call.
            let Some(delay) = delays.next() else {
                let reason = format!("{failure} after {} attempts", attempt + 1);
                return Err(unsent_or_in_doubt(sent, reason));
            };
            // A `Retry-After` replaces the delay, and counts against the call's deadline like
            // any wait: one the deadline cannot cover ends the call now.
            let wait = retry_after.unwrap_or(delay);
            if waited + wait > self.config.deadline {
                let reason = format!(
                    "{failure} after {} attempts; waiting {}s more would pass the call's deadline",
                    attempt + 1,
                    wait.as_secs()
                );
                return Err(unsent_or_in_doubt(sent, reason));
            }
            waited += wait;
            span.record("retry_reason", telemetry::retry_reason(status));
            telemetry::retry(endpoint, status);
            self.sleep(wait).await;
            self.retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            attempt += 1;
        }
    }
}

#[async_trait]
impl RewardProvider for HttpRewardProvider {
    async fn issue(&self, txn: TxnId, payload: &[u8]) -> Outcome {
        let id = txn.to_string();
        let answer = match self
            .call("issue", "POST", "/v1/rewards/issue", &id, true, payload)
            .await
        {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
            return Outcome::InDoubt {
                reason: format!("status {} with an unreadable body", answer.status),
            };
        };
        let status = body["status"].as_str().unwrap_or_default();
        match status {
            "ISSUED" if body["request_id"].as_str() == Some(id.as_str()) => Outcome::Issued {
                reward_id: reward_ref(body["reward_id"].as_str().unwrap_or_default()),
            },
            "REJECTED" => Outcome::Rejected {
                reason: said(body["reason"].as_str().unwrap_or("rejected")),
            },
            "PENDING" => Outcome::InDoubt {
                reason: "the marketplace says PENDING".to_owned(),
            },
            other => Outcome::InDoubt {
                reason: format!(
                    "unexpected answer {} for request {id}",
                    said(&format!("{other:?}"))
                ),
            },
        }
    }

    async fn status(&self, txn: TxnId) -> StatusOutcome {
        let id = txn.to_string();
        match self
            .call(
                "status",
                "GET",
                &format!("/v1/rewards/{id}"),
                &id,
                false,
                &[],
            )
            .await
        {
            Err(Outcome::NeedsReview { status: 404, .. }) => StatusOutcome::NotFound,
            Err(o) => StatusOutcome::Unknown {
                reason: format!("{o:?}"),
            },
            Ok(answer) => {
                let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                match body["status"].as_str() {
                    Some("ISSUED") => StatusOutcome::Issued {
                        reward_id: reward_ref(body["reward_id"].as_str().unwrap_or_default()),
                    },
                    Some("REVERSED") => StatusOutcome::Reversed {
                        reward_id: reward_ref(body["reward_id"].as_str().unwrap_or_default()),
                    },
                    Some(ended @ ("REJECTED" | "FAILED" | "CANCELED" | "CANCELLED")) => {
                        StatusOutcome::Rejected {
                            reason: body["reason"]
                                .as_str()
                                .map_or_else(|| ended.to_lowercase(), said),
                        }
                    }
                    other => StatusOutcome::Unknown {
                        reason: format!("status {}", said(&format!("{other:?}"))),
                    },
                }
            }
        }
    }

    fn stats(&self) -> ProviderStats {
        ProviderStats {
            retries: self.retries.load(std::sync::atomic::Ordering::Relaxed),
            breaker: Some(self.breaker.state()),
        }
    }

    async fn records(&self, from: Day, to: Day) -> Result<Option<Vec<MarketRecord>>, String> {
        self.list_records(from, to).await
    }

    async fn balance(&self) -> Result<Option<Money>, String> {
        self.read_balance().await
    }

    async fn reverse(&self, reversal: TxnId, of: TxnId, payload: &[u8]) -> ReverseOutcome {
        match self
            .call(
                "reverse",
                "POST",
                &format!("/v1/rewards/{of}/reverse"),
                &reversal.to_string(),
                true,
                payload,
            )
            .await
        {
            Err(Outcome::NotSent { reason }) => ReverseOutcome::NotSent { reason },
            Err(Outcome::NeedsReview { status, reason }) => {
                ReverseOutcome::Refused { status, reason }
            }
            Err(Outcome::InDoubt { reason }) => ReverseOutcome::InDoubt { reason },
            Err(Outcome::Unfunded { reason }) => ReverseOutcome::Refused {
                status: 402,
                reason,
            },
            Err(other) => ReverseOutcome::InDoubt {
                reason: format!("{other:?}"),
            },
            Ok(answer) => {
                let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                match body["status"].as_str() {
                    Some("REVERSED") => ReverseOutcome::Reversed,
                    Some("NOT_REVERSIBLE") => ReverseOutcome::NotReversible,
                    other => ReverseOutcome::InDoubt {
                        reason: format!(
                            "status {} with answer {}",
                            answer.status,
                            said(&format!("{other:?}"))
                        ),
                    },
                }
            }
        }
    }
}

/// A `Retry-After` value as a wait from `now`: delay-seconds, or an HTTP date (RFC 9110;
/// a date in the past is no wait). `None` for anything else.
///
/// ```
/// let now = chrono::DateTime::parse_from_rfc3339("2026-03-04T06:00:00Z")?.to_utc();
/// assert_eq!(kudos_client::retry_after("7", now), Some(std::time::Duration::from_secs(7)));
/// assert_eq!(kudos_client::retry_after("soon", now), None);
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[must_use]
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The request target of a URL: its path and query (`/api/rewards?x=1`), what the server sees.
fn request_target(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/", |i| &rest[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-04T06:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 04 Mar 2026 06:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 04 Mar 2026 05:59:00 GMT", now),
            Some(Duration::ZERO),
            "a date past is no wait"
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
