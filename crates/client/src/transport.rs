//! The transport seam: the provider speaks these types, never reqwest's.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// An HTTP method, as [`Request::method`] spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `HEAD`.
    Head,
}

impl Method {
    /// The method's name, upper case.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
        }
    }

    /// The method named `name` (upper case), if it is one of these.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Get,
            Self::Post,
            Self::Put,
            Self::Patch,
            Self::Delete,
            Self::Head,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }
}

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, upper case (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`): sent as
    /// itself.
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value, by lowercase name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no answer came: whether the request may have reached the server matters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// No connection was made: the request was certainly not sent.
    Connect(String),
    /// A timeout, a reset, a dropped response: it may have been processed.
    MayHaveBeenSent(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "could not connect: {e}"),
            Self::MayHaveBeenSent(e) => write!(f, "no answer: {e}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// The most bytes of an answer [`ReqwestTransport`] reads: a marketplace's answers are small,
/// and a larger one (a misbehaving proxy, a hostile server) is not read into memory — the
/// request may have been processed, so it is in doubt.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Sends requests. The default is [`ReqwestTransport`]; tests and integrators can put anything
/// behind it.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends one request.
    async fn send(&self, request: Request) -> Result<Answer, TransportError>;
}

/// The default transport: reqwest with rustls (aws-lc-rs, the platform's roots), connect and
/// read timeouts, no redirects, and optionally a client certificate.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with these timeouts (the defaults of `[marketplace]`: 10 s and 45 s).
    ///
    /// # Errors
    ///
    /// When the client cannot be built (no TLS backend).
    pub fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<Self, crate::ClientError> {
        Self::build(connect_timeout, read_timeout, None)
    }

    /// As [`new`](Self::new), presenting a client certificate (mTLS): `cert_pem` and `key_pem`
    /// are the PEM certificate (chain) and its private key (`[marketplace.tls]`).
    ///
    /// # Errors
    ///
    /// [`crate::ClientError::Config`] when the PEM does not hold a usable certificate and key.
    pub fn with_client_certificate(
        connect_timeout: Duration,
        read_timeout: Duration,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, crate::ClientError> {
        let mut pem = cert_pem.to_vec();
        pem.push(b'\n');
        pem.extend_from_slice(key_pem);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
            crate::ClientError::Config(
                "client certificate: not a PEM certificate and private key".to_owned(),
            )
        })?;
        Self::build(connect_timeout, read_timeout, Some(identity))
    }

    fn build(
        connect_timeout: Duration,
        read_timeout: Duration,
        identity: Option<reqwest::Identity>,
    ) -> Result<Self, crate::ClientError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        let client = builder
            .build()
            .map_err(|e| crate::ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: Request) -> Result<Answer, TransportError> {
        // Every method goes out as itself; one reqwest cannot spell was certainly not sent.
        let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
            return Err(TransportError::Connect(format!(
                "{:?} is not an HTTP method",
                request.method
            )));
        };
        let mut builder = self.client.request(method, &request.url).body(request.body);
        for (k, v) in &request.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let response = builder.send().await.map_err(|e| {
            if e.is_connect() {
                TransportError::Connect(e.without_url().to_string())
            } else {
                TransportError::MayHaveBeenSent(e.without_url().to_string())
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let too_large = || {
            TransportError::MayHaveBeenSent(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes; not read"
            ))
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TransportError::MayHaveBeenSent(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}
