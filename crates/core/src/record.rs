//! Normalised metric records, as parsers emit them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{AgentId, CoreError, Day, MAX_METRIC_MAGNITUDE, MetricName};

/// Where a record came from: the source (a file path, or a name the caller gave a stream)
/// and the 1-based line its row starts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The file or stream name; shared by every record of one source.
    pub source: Arc<str>,
    /// The 1-based line the row (or JSON element) starts on.
    pub line: u64,
}

/// One metric value for one agent on one day: what every parser emits and the rules read.
///
/// Records carry no personal data: parsers classify every column or field and drop names,
/// e-mail addresses and phone numbers before a record is made.
///
/// ```
/// use kudos_core::{AgentId, Day, MetricName, MetricRecord, Origin};
/// let record = MetricRecord::new(
///     AgentId::new("a1b2c3d4-0000-4000-8000-000000000001")?,
///     Day::parse("2026-03-02")?,
///     MetricName::new("adherence_pct")?,
///     98.0392,
///     Default::default(),
///     Origin { source: "adherence.json".into(), line: 7 },
/// )?;
/// assert_eq!(record.value, 98.0392);
/// assert!(MetricRecord::new(record.agent.clone(), record.day, record.metric.clone(), f64::NAN,
///     Default::default(), record.origin.clone()).is_err());
/// # Ok::<(), kudos_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    /// The agent (platform user id).
    pub agent: AgentId,
    /// The day the value belongs to, in the source's business time zone.
    pub day: Day,
    /// The metric.
    pub metric: MetricName,
    /// The value: finite, with magnitude at most 2^53.
    pub value: f64,
    /// Dimensions that tell apart several values of one metric on one day (`media_type`,
    /// `queueId`, `interval`…). Part of the record's identity.
    pub dims: BTreeMap<String, String>,
    /// Where the record came from.
    pub origin: Origin,
}

impl MetricRecord {
    /// Makes a record, checking the value.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidValue`] when `value` is NaN, infinite or beyond ±2^53.
    pub fn new(
        agent: AgentId,
        day: Day,
        metric: MetricName,
        value: f64,
        dims: BTreeMap<String, String>,
        origin: Origin,
    ) -> Result<Self, CoreError> {
        check_value(value)?;
        Ok(Self {
            agent,
            day,
            metric,
            value,
            dims,
            origin,
        })
    }
}

/// Checks that a metric value is finite and within ±2^53.
///
/// # Errors
///
/// [`CoreError::InvalidValue`] otherwise.
pub(crate) fn check_value(value: f64) -> Result<(), CoreError> {
    if value.is_finite() && value.abs() <= MAX_METRIC_MAGNITUDE {
        Ok(())
    } else {
        Err(CoreError::InvalidValue {
            value: value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_beyond_exact_integers_are_rejected() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e16, -1e300] {
            assert!(check_value(bad).is_err(), "{bad} accepted");
        }
        for good in [
            0.0,
            -0.0,
            9_007_199_254_740_992.0,
            -123.456,
            f64::MIN_POSITIVE,
        ] {
            assert!(check_value(good).is_ok(), "{good} rejected");
        }
    }
}
