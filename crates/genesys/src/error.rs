//! What can go wrong pulling from Genesys Cloud. Every message names the endpoint and the
//! interval it was for, and never a token, a secret or a response's personal data.

/// An error of the Genesys source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenesysError {
    /// The configuration is unusable (the message names the key).
    #[error("{0}")]
    Config(String),
    /// No token: the login host refused the client, or could not be reached.
    #[error("genesys token: {0}")]
    Token(String),
    /// Genesys answered with an error that retrying will not cure.
    #[error("genesys {endpoint} ({context}): status {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// `POST /api/v2/analytics/surveys/aggregates/query`.
        endpoint: String,
        /// What it was for (the interval).
        context: String,
        /// The HTTP status.
        status: u16,
        /// Genesys's error code (`bad.request`), when it gave one.
        code: Option<String>,
    },
    /// Every attempt failed (rate limits, server errors, the network).
    #[error("genesys {endpoint} ({context}): gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// The endpoint.
        endpoint: String,
        /// What it was for.
        context: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// An asynchronous job failed, or did not complete in time.
    #[error("genesys job ({context}): {reason}")]
    Job {
        /// What it was for.
        context: String,
        /// What happened.
        reason: String,
    },
    /// Genesys answered 2xx with a body that is not JSON.
    #[error("genesys {endpoint} ({context}): the answer is not JSON")]
    Body {
        /// The endpoint.
        endpoint: String,
        /// What it was for.
        context: String,
    },
    /// The staging directory could not be read or written.
    #[error("genesys staging {path}: {error}")]
    Staging {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
}
