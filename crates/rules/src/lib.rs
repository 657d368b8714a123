//! Points rules: readable TOML in, point events and tiers out.
//!
//! # Overview
//!
//! A contact-centre manager writes incentive rules the way they think of them; [`RuleSet`]
//! validates them on load (naming the rule and field at fault) and evaluates
//! [`MetricRecord`](kudos_core::MetricRecord)s into [`PointEvent`](kudos_core::PointEvent)s:
//!
//! ```toml
//! window_days = 90                      # lots expire this many days after their day
//! [aliases]                             # canonical name = metric name in records
//! csat = "oSurveyTotalScore.avg"
//! [[rule]]
//! id = "csat-top"                       # unique; part of every event key
//! metric = "csat"
//! when = { gte = 90 }                   # eq | ne | gt | gte | lt | lte | between = [lo, hi]; absent = always
//! points = 10                           # or per_unit = -100, rounding = "nearest" | "floor" | "ceil"
//!                                       # or bands = [{ from = 0, to = 240, points = 10 }]
//! max_points = 50                       # optional cap on one event's absolute value
//! [[tier]]
//! id = "gift-card-50"
//! reward_type = "gift_card_50_usd"
//! threshold = 500                       # available balance needed
//! cost = 500                            # points consumed; default = threshold
//! ```
//!
//! # Example
//!
//! ```
//! use kudos_core::{AgentId, Day, MetricName, MetricRecord, Origin, Points};
//! use kudos_rules::RuleSet;
//!
//! let rules = RuleSet::from_toml(r#"
//!     [aliases]
//!     csat = "oSurveyTotalScore.avg"
//!     [[rule]]
//!     id = "csat-top"
//!     metric = "csat"
//!     when = { gte = 90 }
//!     points = 10
//! "#)?;
//! let record = MetricRecord::new(AgentId::new("u-1")?, Day::parse("2026-03-02")?,
//!     MetricName::new("oSurveyTotalScore.avg")?, 92.5, Default::default(),
//!     Origin { source: "surveys.json".into(), line: 8 })?;
//! let events = rules.evaluate(&record)?;
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].points(), Points::new(10));
//! // A restated 85 yields the same key with zero points: the ledger takes the 10 back.
//! let restated = MetricRecord { value: 85.0, ..record };
//! assert_eq!(rules.evaluate(&restated)?[0].id(), events[0].id());
//! assert_eq!(rules.evaluate(&restated)?[0].points(), Points::ZERO);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *Closed vocabulary.* Conditions, fixed points, per-unit points with one rounding, bands
//!   and a cap cover incentive plans without an expression language to sandbox.
//! - *Rounding happens once, here.* Points leave this crate as integers.
//! - *Pure.* Evaluation reads no clock and no state: the same records give the same events,
//!   with the same ids (UUID v5 of the key), in any order.
//! - *Metrics are open.* Any name a parser emits is valid; an alias just gives it a readable
//!   name. An alias may not point at another alias.

mod error;
mod eval;
mod ruleset;

pub use error::RuleError;
pub use ruleset::{Band, Condition, DEFAULT_WINDOW_DAYS, PointForm, Rounding, Rule, RuleSet};
