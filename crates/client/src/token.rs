//! OAuth2 client credentials: a cached token, refreshed before it expires, one refresh at a
//! time, the secret read from its source at each refresh.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use kudos_core::Clock;
use kudos_privacy::{ExposeSecret, SecretSource, SecretString};
use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, HttpRequest, HttpResponse, TokenResponse, TokenUrl};
use tracing::Instrument as _;

use crate::{ClientError, ReqwestTransport, Transport, TransportError};

/// Where the provider's bearer tokens come from. [`TokenSource`] fetches them with OAuth2
/// client credentials; an integrator may supply their own (a vault, a sidecar that holds the
/// credentials) — the provider only asks for a token and says when one was refused.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A valid bearer token. Called before every attempt, so it should cache.
    ///
    /// # Errors
    ///
    /// [`ClientError::Token`] or [`ClientError::Secret`], naming what failed (never a
    /// secret or a token).
    async fn token(&self) -> Result<SecretString, ClientError>;

    /// `stale` was refused (a `401`): the next [`token`](Self::token) must not return it.
    async fn invalidate(&self, stale: &SecretString);
}

/// A token is refreshed once this share of its lifetime has passed.
const REFRESH_AT: f64 = 0.8;

struct Cached {
    token: SecretString,
    refresh_at: DateTime<Utc>,
}

/// Where bearer tokens come from: the marketplace's token endpoint, with HTTP Basic client
/// credentials (`grant_type=client_credentials`), through `oauth2` over a [`Transport`] — the
/// provider's own, so its TLS settings (a client certificate), timeouts and any custom
/// transport apply to the token request too.
pub struct TokenSource {
    transport: Arc<dyn Transport>,
    token_url: TokenUrl,
    client_id: String,
    secret: SecretSource,
    clock: Arc<dyn Clock>,
    cached: tokio::sync::Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("fetches", &self.fetches.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A transport failure, as `oauth2` wants it.
#[derive(Debug)]
struct HttpFailure(String);

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpFailure {}

/// Sends `oauth2`'s request through the transport.
async fn send(
    transport: Arc<dyn Transport>,
    request: HttpRequest,
) -> Result<HttpResponse, HttpFailure> {
    let (parts, body) = request.into_parts();
    let Some(method) = crate::transport::Method::parse(parts.method.as_str()) else {
        return Err(HttpFailure("token request: an unsupported method".into()));
    };
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let answer = transport
        .send(crate::Request {
            method: method.as_str(),
            url: parts.uri.to_string(),
            headers,
            body,
        })
        .await
        .map_err(|e: TransportError| HttpFailure(format!("token request failed: {e}")))?;
    let mut builder = http::Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(answer.body)
        .map_err(|e| HttpFailure(e.to_string()))
}

impl TokenSource {
    /// A token source over its own [`ReqwestTransport`]; `connect_timeout` and `timeout`
    /// bound each token call. Prefer [`with_transport`](Self::with_transport) with the
    /// provider's transport.
    ///
    /// # Errors
    ///
    /// [`ClientError::Config`] for an invalid token URL, or when the HTTP client cannot be built.
    pub fn new(
        token_url: &str,
        client_id: &str,
        secret: SecretSource,
        clock: Arc<dyn Clock>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let transport = Arc::new(ReqwestTransport::new(connect_timeout, timeout)?);
        Self::with_transport(token_url, client_id, secret, clock, transport)
    }

    /// A token source whose requests go through `transport` (the provider's, so that a client
    /// certificate, timeouts and a custom transport apply to them).
    ///
    /// # Errors
    ///
    /// [`ClientError::Config`] for an invalid token URL.
    pub fn with_transport(
        token_url: &str,
        client_id: &str,
        secret: SecretSource,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, ClientError> {
        let token_url = TokenUrl::new(token_url.to_owned())
            .map_err(|e| ClientError::Config(format!("token URL: {e}")))?;
        Ok(Self {
            transport,
            token_url,
            client_id: client_id.to_owned(),
            secret,
            clock,
            cached: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many tokens were fetched so far.
    #[must_use]
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one, or a new one when it is due for refresh. Concurrent
    /// callers wait for a single refresh.
    ///
    /// # Errors
    ///
    /// [`ClientError::Token`] when the endpoint refuses or cannot be reached, or
    /// [`ClientError::Secret`] when the secret cannot be read.
    pub async fn token(&self) -> Result<SecretString, ClientError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && self.clock.now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `stale` (after a 401 with it), so the next [`token`](Self::token) fetches anew.
    pub async fn invalidate(&self, stale: &SecretString) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == stale.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, ClientError> {
        let secret = self.secret.read().map_err(ClientError::Secret)?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
            .set_token_uri(self.token_url.clone());
        let transport = self.transport.clone();
        let caller = move |request: HttpRequest| send(transport.clone(), request);
        let started = self.clock.now();
        let response = client
            .exchange_client_credentials()
            .request_async(&caller)
            .instrument(tracing::debug_span!("kudos_client_token_request"))
            .await
            .map_err(|e| {
                crate::telemetry::token_refresh(false);
                ClientError::Token(token_error(&e))
            })?;
        crate::telemetry::token_refresh(true);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(300));
        let refresh_in =
            TimeDelta::from_std(lifetime.mul_f64(REFRESH_AT)).unwrap_or(TimeDelta::seconds(240));
        Ok(Cached {
            token: SecretString::from(response.access_token().secret().clone()),
            refresh_at: started + refresh_in,
        })
    }
}

#[async_trait::async_trait]
impl TokenProvider for TokenSource {
    async fn token(&self) -> Result<SecretString, ClientError> {
        TokenSource::token(self).await
    }

    async fn invalidate(&self, stale: &SecretString) {
        TokenSource::invalidate(self, stale).await;
    }
}

/// A token error in words, without the secret (oauth2's errors carry no credentials).
fn token_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: &oauth2::RequestTokenError<RE, T>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => format!(
            "the token endpoint refused: {}",
            kudos_privacy::scrub(&r.to_string(), 200)
        ),
        oauth2::RequestTokenError::Request(r) => {
            format!("the token endpoint could not be reached: {r}")
        }
        oauth2::RequestTokenError::Parse(_, body) => format!(
            "the token endpoint answered something else ({} bytes)",
            body.len()
        ),
        oauth2::RequestTokenError::Other(s) => format!(
            "the token endpoint answered: {}",
            kudos_privacy::scrub(s, 200)
        ),
    }
}
