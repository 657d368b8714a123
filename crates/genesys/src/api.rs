//! The Platform API client: a bearer token from the region's login host, every request
//! through the reward client's [`Transport`] (so rustls, timeouts and a client certificate
//! apply to Genesys too), a per-token request budget, `429` waited out as its `Retry-After`
//! says, `5xx` and network failures retried with backoff, a refused token renewed once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kudos_client::{Request, TokenProvider, TokenSource, Transport};
use kudos_core::Clock;
use kudos_privacy::{ExposeSecret as _, SecretSource};
use serde_json::Value;
use tracing::Instrument as _;

use crate::{Endpoints, GenesysError};

/// Genesys's default limit: requests per minute per client-credentials token, all endpoints
/// together (`docs/genesys.md`, rate limits).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;

/// Attempts per request before giving up.
pub const MAX_ATTEMPTS: u32 = 6;

/// A client of one organisation's Platform API.
#[derive(Debug)]
pub struct GenesysApi {
    endpoints: Endpoints,
    transport: Arc<dyn Transport>,
    tokens: Arc<dyn TokenProvider>,
    clock: Arc<dyn Clock>,
    per_minute: u32,
    backoff: Duration,
    sent: Mutex<VecDeque<DateTime<Utc>>>,
}

impl GenesysApi {
    /// A client that gets its tokens with the client-credentials grant (HTTP Basic) from
    /// the region's login host, through `transport`.
    ///
    /// # Errors
    ///
    /// [`GenesysError::Config`] for a token URL the OAuth client refuses.
    pub fn new(
        endpoints: Endpoints,
        client_id: &str,
        secret: SecretSource,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, GenesysError> {
        let tokens = TokenSource::with_transport(
            &endpoints.token_url(),
            client_id,
            secret,
            clock.clone(),
            transport.clone(),
        )
        .map_err(|e| GenesysError::Config(format!("genesys.login_url: {e}")))?;
        Ok(Self::with_tokens(
            endpoints,
            Arc::new(tokens),
            transport,
            clock,
        ))
    }

    /// A client with the integrator's own [`TokenProvider`] (a vault, a sidecar).
    #[must_use]
    pub fn with_tokens(
        endpoints: Endpoints,
        tokens: Arc<dyn TokenProvider>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            endpoints,
            transport,
            tokens,
            clock,
            per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            backoff: Duration::from_secs(1),
            sent: Mutex::default(),
        }
    }

    /// Keeps under `per_minute` requests in any minute (0: no budget).
    #[must_use]
    pub fn requests_per_minute(mut self, per_minute: u32) -> Self {
        self.per_minute = per_minute;
        self
    }

    /// The first wait after a failure without `Retry-After` (doubled each time, at most 32 s).
    #[must_use]
    pub fn backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// The clock the client waits and stamps on.
    #[must_use]
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The endpoints.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Waits until one more request fits in the minute's budget, and counts it.
    async fn take_budget(&self) {
        if self.per_minute == 0 {
            return;
        }
        loop {
            let wait = {
                let now = self.clock.now();
                let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
                while sent
                    .front()
                    .is_some_and(|t| now - *t >= chrono::TimeDelta::minutes(1))
                {
                    sent.pop_front();
                }
                if sent.len() < self.per_minute as usize {
                    sent.push_back(now);
                    return;
                }
                sent.front().map_or(Duration::from_millis(100), |oldest| {
                    (*oldest + chrono::TimeDelta::minutes(1) - now)
                        .to_std()
                        .unwrap_or(Duration::from_millis(100))
                })
            };
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }

    /// `POST path` with a JSON `body`; the answer's bytes, as Genesys sent them. `context`
    /// (the interval, say) goes into every error.
    ///
    /// # Errors
    ///
    /// [`GenesysError::Token`] without a token; [`GenesysError::Api`] for an answer retrying
    /// cannot cure (`400`, `403`, `404`…); [`GenesysError::Exhausted`] when every attempt was
    /// rate-limited, failed on the server or on the network; [`GenesysError::Body`] for a
    /// `2xx` that is not JSON.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        context: &str,
    ) -> Result<Vec<u8>, GenesysError> {
        let payload = serde_json::to_vec(body).map_err(|_| GenesysError::Body {
            endpoint: format!("POST {path}"),
            context: context.to_owned(),
        })?;
        let url = format!("{}{path}", self.endpoints.api);
        self.send("POST", path, &url, payload, context, true).await
    }

    /// `GET path_and_query`; the answer's bytes.
    ///
    /// # Errors
    ///
    /// As [`post_json`](Self::post_json).
    pub async fn get_json(
        &self,
        path_and_query: &str,
        context: &str,
    ) -> Result<Vec<u8>, GenesysError> {
        let url = format!("{}{path_and_query}", self.endpoints.api);
        self.send("GET", path_and_query, &url, Vec::new(), context, true)
            .await
    }

    /// `GET url`, a presigned download Genesys handed out (`downloadUrls`): sent without the
    /// bearer token (the URL carries its own signature), and only to an `https://` URL (or
    /// `http://` on loopback, a local simulator). Errors name the download's path, never its
    /// signature.
    ///
    /// # Errors
    ///
    /// As [`post_json`](Self::post_json); [`GenesysError::Config`] for a URL of another kind.
    pub async fn download(&self, url: &str, context: &str) -> Result<Vec<u8>, GenesysError> {
        crate::region::safe_url("downloadUrls", url)?;
        let path = url::Url::parse(url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        self.send("GET", &path, url, Vec::new(), context, false)
            .await
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        url: &str,
        payload: Vec<u8>,
        context: &str,
        bearer: bool,
    ) -> Result<Vec<u8>, GenesysError> {
        // The endpoint as errors name it: the path without its query.
        let endpoint = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut wait = self.backoff;
        let mut renewed = false;
        let mut last = String::new();
        let mut attempt = 0;
        while attempt < MAX_ATTEMPTS {
            attempt += 1;
            self.take_budget().await;
            let token = if bearer {
                Some(
                    self.tokens
                        .token()
                        .await
                        .map_err(|e| GenesysError::Token(e.to_string()))?,
                )
            } else {
                None
            };
            let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
            if let Some(token) = &token {
                headers.push((
                    "authorization".to_owned(),
                    format!("Bearer {}", token.expose_secret()),
                ));
            }
            if !payload.is_empty() {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
            }
            let request = Request {
                method,
                url: url.to_owned(),
                headers,
                body: payload.clone(),
            };
            let span = tracing::debug_span!("kudos_genesys_request", %endpoint, context, attempt);
            let answer = self.transport.send(request).instrument(span).await;
            let delay = match answer {
                Err(e) => {
                    last = e.to_string();
                    None
                }
                Ok(a) if (200..300).contains(&a.status) => {
                    if serde_json::from_slice::<Value>(&a.body).is_err() {
                        return Err(GenesysError::Body {
                            endpoint,
                            context: context.to_owned(),
                        });
                    }
                    return Ok(a.body);
                }
                Ok(a) if a.status == 401 && !renewed && token.is_some() => {
                    renewed = true;
                    if let Some(token) = &token {
                        self.tokens.invalidate(token).await;
                    }
                    attempt -= 1;
                    continue;
                }
                Ok(a) if a.status == 429 => {
                    last = "status 429 (rate limited)".to_owned();
                    a.header("retry-after")
                        .and_then(|v| kudos_client::retry_after(v, self.clock.now()))
                }
                Ok(a) if a.status >= 500 => {
                    last = format!("status {}", a.status);
                    None
                }
                Ok(a) => {
                    let code = serde_json::from_slice::<Value>(&a.body)
                        .ok()
                        .and_then(|v| v["code"].as_str().map(|c| kudos_privacy::scrub(c, 80)));
                    return Err(GenesysError::Api {
                        endpoint,
                        context: context.to_owned(),
                        status: a.status,
                        code,
                    });
                }
            };
            if attempt == MAX_ATTEMPTS {
                break;
            }
            let pause = delay.unwrap_or(wait);
            tracing::debug!(%endpoint, context, attempt, wait_ms = pause.as_millis(), reason = %last, "retrying");
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(Duration::from_secs(32));
        }
        Err(GenesysError::Exhausted {
            endpoint,
            context: context.to_owned(),
            attempts: attempt,
            last,
        })
    }
}
