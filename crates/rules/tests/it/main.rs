//! Integration tests of `kudos-rules`: validation names the fault; evaluation at the edges;
//! properties of evaluation.

mod eval;
mod properties;
mod validation;

use kudos_core::{AgentId, Day, MetricName, MetricRecord, Origin};

pub(crate) fn record(metric: &str, value: f64) -> MetricRecord {
    MetricRecord::new(
        AgentId::new("u-1").unwrap(),
        Day::parse("2026-03-02").unwrap(),
        MetricName::new(metric).unwrap(),
        value,
        Default::default(),
        Origin {
            source: "t".into(),
            line: 1,
        },
    )
    .unwrap()
}
