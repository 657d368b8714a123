//! Evaluation: a record and a rule set in, point events out. Pure and deterministic.

use kudos_core::{EventKey, MetricRecord, PointEvent, Points};

use crate::{PointForm, Rounding, Rule, RuleError, RuleSet};

/// The largest magnitude an `f64` can have and still convert to `i64` without saturating.
const I64_EDGE: f64 = 9_223_372_036_854_774_784.0;

impl Rule {
    /// The points this rule gives a value (before the key is attached): zero when a
    /// condition fails or no band holds the value; capped by `max_points`.
    ///
    /// Returns `None` when the points do not fit in an `i64`.
    #[must_use]
    pub fn points_for(&self, value: f64) -> Option<i64> {
        if !self.when.iter().all(|c| c.holds(value)) {
            return Some(0);
        }
        let raw = match &self.form {
            PointForm::Fixed(p) => *p,
            PointForm::PerUnit { per_unit, rounding } => {
                let x = value * per_unit;
                let r = match rounding {
                    Rounding::Floor => x.floor(),
                    Rounding::Ceil => x.ceil(),
                    Rounding::Nearest => x.round(),
                };
                if !r.is_finite() || r.abs() > I64_EDGE {
                    return None;
                }
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "an integral value checked to be within the i64 range"
                )]
                let p = r as i64;
                p
            }
            PointForm::Bands(bands) => bands
                .iter()
                .find(|b| b.from <= value && value < b.to)
                .map_or(0, |b| b.points),
        };
        Some(match self.max_points {
            Some(m) => raw.clamp(-m, m),
            None => raw,
        })
    }
}

impl RuleSet {
    /// The point events a record yields: one per rule on its metric, with zero points when
    /// the rule's conditions fail (so that a restated record can take back what it earned).
    ///
    /// # Errors
    ///
    /// [`RuleError::Overflow`] when a rule's points do not fit in an `i64`.
    pub fn evaluate(&self, record: &MetricRecord) -> Result<Vec<PointEvent>, RuleError> {
        let mut out = Vec::new();
        self.evaluate_into(record, &mut out)?;
        Ok(out)
    }

    /// As [`evaluate`](Self::evaluate), appending to `out` (so a caller can reuse one buffer).
    /// On error nothing is appended.
    ///
    /// # Errors
    ///
    /// [`RuleError::Overflow`].
    pub fn evaluate_into(
        &self,
        record: &MetricRecord,
        out: &mut Vec<PointEvent>,
    ) -> Result<(), RuleError> {
        self.each_rule(record, out, |_, rule, points| {
            let key = EventKey::new(
                record.agent.clone(),
                record.day,
                rule.id.clone(),
                record.metric.clone(),
                record.dims.clone(),
            );
            PointEvent::new(key, points)
        })
    }

    /// What [`evaluate_into`](Self::evaluate_into) gives, without the keys: for each rule on
    /// the record's metric, its index in [`rules`](Self::rules) and its points, appended to
    /// `out`. An event's key is the record's agent, day, metric and dimensions with the
    /// rule's id, so a caller that has the record can make it, or its id
    /// ([`AgentKeyIds::id_of`](kudos_core::AgentKeyIds::id_of)), where it needs it. On error
    /// nothing is appended.
    ///
    /// # Errors
    ///
    /// [`RuleError::Overflow`].
    pub fn points_into(
        &self,
        record: &MetricRecord,
        out: &mut Vec<(usize, Points)>,
    ) -> Result<(), RuleError> {
        self.each_rule(record, out, |i, _, points| (i, points))
    }

    /// For each rule on `record`'s metric (its index and itself) and its points, `make`'s item
    /// appended to `out`; on error, nothing appended.
    fn each_rule<T>(
        &self,
        record: &MetricRecord,
        out: &mut Vec<T>,
        make: impl Fn(usize, &Rule, Points) -> T,
    ) -> Result<(), RuleError> {
        let start = out.len();
        let rules = self.by_metric.get(&record.metric).into_iter().flatten();
        for (i, rule) in rules.filter_map(|&i| self.rules.get(i).map(|rule| (i, rule))) {
            match rule.points_of(record) {
                Ok(points) => out.push(make(i, rule, points)),
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl Rule {
    /// This rule's points for `record`.
    fn points_of(&self, record: &MetricRecord) -> Result<Points, RuleError> {
        self.points_for(record.value)
            .map(Points::new)
            .ok_or_else(|| RuleError::Overflow {
                rule: self.id.to_string(),
                agent: record.agent.to_string(),
                day: record.day.to_string(),
                value: record.value,
            })
    }
}
