//! The vocabulary every Kudos crate speaks.
//!
//! # Overview
//!
//! `kudos-core` holds the small, stable types that more than one engine needs, so that the
//! engines never need each other: the parser ([`MetricRecord`]) and the rules
//! ([`PointEvent`], [`Tier`]) meet the ledger ([`Points`], [`TxnId`]) only here.
//! It does no I/O and starts no runtime; time comes in through the [`Clock`] seam.
//!
//! | type | what it is |
//! |---|---|
//! | [`AgentId`] | the platform user id of an agent (a Genesys user UUID) |
//! | [`Day`] | a calendar day, `YYYY-MM-DD` |
//! | [`MetricName`], [`MetricRecord`] | one normalised metric value for an agent and day |
//! | [`Points`] | an integer amount of points with checked arithmetic |
//! | [`RuleId`], [`EventKey`], [`PointEvent`] | points earned (or taken back) by a rule for a record |
//! | [`TierId`], [`RewardType`], [`Tier`] | a reward an agent can reach |
//! | [`TxnId`] | the idempotency key of one reward request |
//! | [`Clock`], [`SystemClock`], [`ManualClock`] | where "now" comes from |
//! | [`SeededRng`] | where randomness comes from, replayable from a seed |
//!
//! # Example
//!
//! ```
//! use kudos_core::{AgentId, Day, EventKey, MetricName, PointEvent, Points, RuleId};
//!
//! let key = EventKey::new(
//!     AgentId::new("a1b2c3d4-0000-4000-8000-000000000001")?,
//!     Day::parse("2026-03-02")?,
//!     RuleId::new("csat-top")?,
//!     MetricName::new("oSurveyTotalScore.avg")?,
//!     Default::default(),
//! );
//! let event = PointEvent::new(key.clone(), Points::new(10));
//! // The event id is derived from its key: the same key always gives the same id.
//! assert_eq!(event.id(), key.id());
//! assert_eq!(event.points().checked_add(Points::new(5))?, Points::new(15));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *Parse, don't validate.* Every constructor checks its input and returns a [`CoreError`]
//!   naming what is wrong; a value of one of these types is always valid, including after
//!   deserialization (serde goes through the same constructors).
//! - *Points are integers.* Rounding happens once, in the rules; arithmetic on [`Points`] is
//!   checked, so an overflow is an error rather than a wrapped balance.
//! - *No wall clock outside [`SystemClock`].* A `clippy.toml` ban enforces it, so that tests and
//!   simulations control time through [`ManualClock`].

mod clock;
mod day;
mod error;
mod event;
mod ids;
mod money;
mod points;
mod record;
mod rng;
mod tier;

pub use clock::{Clock, ManualClock, SystemClock};
pub use day::Day;
pub use error::CoreError;
pub use event::{AgentKeyIds, EventKey, PointEvent};
pub use ids::{AgentId, MetricName, RewardType, RuleId, TierId, TxnId};
pub use money::Money;
pub use points::Points;
pub use record::{MetricRecord, Origin};
pub use rng::SeededRng;
pub use tier::Tier;

/// The largest magnitude a metric value may have: 2^53, above which not every integer is
/// exactly representable in an `f64`.
pub const MAX_METRIC_MAGNITUDE: f64 = 9_007_199_254_740_992.0;
