//! The reward client: the [`RewardProvider`] port and its HTTP provider — what an answer
//! means, when to retry, how long to wait, and when to stop sending.
//!
//! # Overview
//!
//! [`RewardProvider`] is the port the pipeline issues rewards through; [`HttpRewardProvider`]
//! implements the marketplace API (`docs/reference/issuing.md`) over a [`Transport`] seam
//! ([`ReqwestTransport`] by default). Its parts, each small and swappable:
//!
//! - [`classify`]: an HTTP status → retry, review, in doubt or success, exactly as the outcome table (`docs/reference/issuing.md#outcome-table`) says;
//! - [`Outcome`]: the result of one issue call, which says whether the reward **may have been
//!   issued** — "may have" is in doubt, never released;
//! - [`Schedule`]: the retry budget and delays — [`BackonSchedule`] (exponential, seeded
//!   jitter, `max_retries`, an overall deadline) by default, or your own through
//!   [`HttpRewardProvider::with_schedule`]; a `Retry-After` replaces the next delay;
//! - [`CircuitBreaker`]: opens after a period of failure without success, on an injected
//!   [`Clock`](kudos_core::Clock), and lets one half-open probe through;
//! - [`issue_payload`]: the request body, built once when the hold is made (so every retry
//!   sends the same bytes), with the agent pseudonymized, recipient fields only sealed, and the
//!   whole checked against the privacy allow-list before it can leave;
//! - [`RateLimit`]: at most `requests_per_second`, on the injected clock;
//! - [`TokenSource`]: OAuth2 client credentials (the `oauth2` crate over our reqwest client,
//!   redirects off), cached, refreshed at 80 % of the token's life, one refresh at a time, the
//!   secret re-read from its source at each refresh;
//! - [`signature_header_v2`]: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">,v2=<hex
//!   HMAC-SHA256 of the method, path, idempotency key, request id, timestamp and body hash>` — both versions on every
//!   signed request ([`v2_signed_string`] is what `v2` signs).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use kudos_client::{BackonSchedule, Schedule, Verdict, classify};
//!
//! assert_eq!(classify(503), Verdict::Retry);
//! assert_eq!(classify(409), Verdict::InDoubt);   // another request with this key is in progress
//! assert_eq!(classify(422), Verdict::Review);    // never retried
//! let schedule = BackonSchedule::new(Duration::from_millis(100), Duration::from_secs(10), 3, Duration::from_secs(120), 7);
//! assert_eq!(schedule.delays().count(), 3);      // max_retries is the budget
//! ```
//!
//! # Design notes
//!
//! - *Classifier, schedule, breaker are separate*, as in smithy-rs and tower, so each can be
//!   tested and replaced alone.
//! - *Determinism*: jitter comes from a seeded generator and time from a `Clock`, so a
//!   simulation replays exactly.

mod account;
mod breaker;
mod classify;
mod outcome;
mod payload;
mod provider;
mod rate;
mod schedule;
mod signing;
pub mod telemetry;
mod token;
mod transport;

pub use account::MarketRecord;
pub use breaker::{BreakerState, CircuitBreaker};
pub use classify::{Verdict, classify};
pub use outcome::{Outcome, ReverseOutcome, StatusOutcome};
pub use payload::{Recipient, issue_payload};
pub use provider::{
    HttpProviderConfig, HttpRewardProvider, ProviderStats, RewardProvider, retry_after,
};
pub use rate::RateLimit;
#[cfg(feature = "backoff")]
pub use schedule::BackoffCrateSchedule;
pub use schedule::{BackonSchedule, Schedule};
pub use signing::{SignedParts, signature_header, signature_header_v2, v2_signed_string};
pub use token::{TokenProvider, TokenSource};
pub use transport::{
    Answer, MAX_ANSWER_BYTES, Method, Request, ReqwestTransport, Transport, TransportError,
};

/// What can go wrong in the client; never carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A configuration value is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A secret cannot be read.
    #[error(transparent)]
    Secret(kudos_privacy::PrivacyError),
    /// No token could be obtained.
    #[error("token: {0}")]
    Token(String),
}
