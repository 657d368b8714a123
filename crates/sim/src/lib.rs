//! A reward-marketplace simulator: a real HTTP server that behaves like the marketplace Kudos
//! speaks to (`docs/reference/issuing.md#marketplace-api`) — and like it on its worst day.
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
//! being processed `409`. Keys are scoped per client (`X-Integration-ID`) and, like a real
//! marketplace's, can be forgotten after a retention ([`SimConfig::idempotency_retention_secs`],
//! [`Simulator::expire_idempotency_keys`]): a repeat is then a second reward. Lookups can lag
//! behind ([`SimConfig::lookup_lag_ms`]), requests can be rate limited with `Retry-After` as an
//! HTTP date ([`SimConfig::rate_limit_per_sec`]), and a reward can be voided after issue
//! ([`Simulator::void_reward`]). A [`FaultPlan`] injects latency, statuses (with `Retry-After`),
//! hangs, connection resets, *process-then-drop*, `REJECTED`, `PENDING`, `PENDING` that ends
//! `FAILED`, `NOT_REVERSIBLE` and downtime windows, from a seed, so a failing run replays
//! exactly.
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
//! - *One gate.* Every marketplace route goes through the same middleware, which records the
//!   request, answers downtime, checks the bearer token and applies the fault plan; the routes
//!   differ only in what they ask of it (the token endpoint checks HTTP Basic itself; issue and
//!   reverse apply their fault after their own checks). The `/_sim` routes have no gate.
//! - *Checked independently.* The signature and `recipient_enc` checks are written here from
//!   the documented scheme, not borrowed from the client, so a client bug cannot hide itself.
//!
//! # Where things are
//!
//! | module | |
//! |---|---|
//! | `server` | [`Simulator`]: the accept loop, one task per connection, the connection-kill signal |
//! | `handlers` | the router and one handler per endpoint |
//! | `gate` | the middleware every marketplace route goes through |
//! | `state` | the shared state behind one mutex: tokens, idempotency slots, rewards, recorded requests |
//! | `verify` | the `X-Signature` and `recipient_enc` checks ([`decrypt_recipient`]) |
//! | `faults` | fault plans ([`FaultPlan`]) and how a request path matches a fault |
//! | `delay` | the precise timer behind the `delay` fault |
//! | `config`, `records`, `error` | [`SimConfig`]; [`RecordedRequest`], [`IssuedReward`]; [`SimError`] |

mod config;
mod delay;
mod error;
mod faults;
mod gate;
pub mod genesys;
mod handlers;
mod records;
mod server;
mod state;
mod verify;

pub use config::SimConfig;
pub use error::SimError;
pub use faults::{Action, Downtime, Fault, FaultPlan};
pub use records::{IssuedReward, RecordedRequest};
pub use server::Simulator;
pub use verify::decrypt_recipient;
