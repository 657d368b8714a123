//! What every format's row source shares: the step it reports, the context it builds records
//! with, and a small interner so repeated agent ids and metric names are validated and
//! allocated once per file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono_tz::Tz;
use kudos_core::{AgentId, Day, MetricName, MetricRecord, Origin};

use crate::error::Why;
use crate::{RowError, WfmError};

/// A row problem: the column or JSON path at fault, and why.
pub(crate) type Problem = (Option<String>, Why);

/// The result of reading one row.
#[derive(Debug)]
pub(crate) enum Step {
    /// A good row: its records were pushed to the output buffer.
    Row,
    /// A rejected row.
    Bad(RowError),
    /// The file is unusable; no more rows follow.
    Fatal(WfmError),
}

/// A format's reader: yields rows until `None`.
pub(crate) trait RowSource: Send {
    /// Reads the next row, pushing its records onto `out` (which is empty on entry).
    fn next_row(&mut self, out: &mut Vec<MetricRecord>) -> Option<Step>;
}

/// Beyond this many distinct values, the interner stops remembering new ones (it still works;
/// it only allocates again), so hostile input cannot grow it without bound.
const INTERN_LIMIT: usize = 1 << 20;

/// Per-file context for making records.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) source: Arc<str>,
    pub(crate) tz: Tz,
    agents: HashMap<Box<str>, AgentId, foldhash::fast::RandomState>,
    /// The agent of the row before: an export often has several rows of one agent in a row.
    last_agent: Option<AgentId>,
    /// The day of the row before, with its text: an export's rows of one day come together.
    last_day: Option<(String, Day)>,
    /// The first few metrics met, looked through before the map: a file has a handful, and
    /// comparing a short name to each costs less than hashing it.
    few_metrics: Vec<MetricName>,
    metrics: HashMap<Box<str>, MetricName, foldhash::fast::RandomState>,
}

/// How many metrics [`Ctx::metric`] compares one by one before it looks in its map.
const FEW_METRICS: usize = 8;

impl Ctx {
    pub(crate) fn new(source: Arc<str>, tz: Tz) -> Self {
        Self {
            source,
            tz,
            agents: HashMap::default(),
            last_agent: None,
            last_day: None,
            few_metrics: Vec::new(),
            metrics: HashMap::default(),
        }
    }

    pub(crate) fn row_error(&self, line: u64, location: Option<String>, why: Why) -> RowError {
        RowError::new(
            Arc::clone(&self.source),
            line,
            location,
            why.reason,
            why.cell,
        )
    }

    pub(crate) fn agent(&mut self, text: &str) -> Result<AgentId, Why> {
        if text.is_empty() {
            return Err(Why::plain("the agent id is empty"));
        }
        if let Some(a) = self.last_agent.as_ref().filter(|a| a.as_str() == text) {
            return Ok(a.clone());
        }
        if let Some(a) = self.agents.get(text) {
            self.last_agent = Some(a.clone());
            return Ok(a.clone());
        }
        if text.contains('@') {
            // Not echoed: it is personal data, and errors end up in logs.
            return Err(Why::plain(
                "the agent id looks like an e-mail address (personal data); the platform user id is expected",
            ));
        }
        let a = AgentId::new(text).map_err(|e| Why::core(&e))?;
        if self.agents.len() < INTERN_LIMIT {
            self.agents.insert(text.into(), a.clone());
        }
        self.last_agent = Some(a.clone());
        Ok(a)
    }

    pub(crate) fn metric(&mut self, text: &str) -> Result<MetricName, Why> {
        if let Some(m) = self.few_metrics.iter().find(|m| m.as_str() == text) {
            return Ok(m.clone());
        }
        if let Some(m) = self.metrics.get(text) {
            return Ok(m.clone());
        }
        let m = MetricName::new(text).map_err(|e| Why::core(&e))?;
        if self.few_metrics.len() < FEW_METRICS {
            self.few_metrics.push(m.clone());
        } else if self.metrics.len() < INTERN_LIMIT {
            self.metrics.insert(text.into(), m.clone());
        }
        Ok(m)
    }

    /// A `YYYY-MM-DD` cell's day: the row before's when the text is the same.
    pub(crate) fn day(&mut self, text: &str) -> Result<Day, kudos_core::CoreError> {
        if let Some((last, day)) = &self.last_day
            && last == text
        {
            return Ok(*day);
        }
        let day = Day::parse(text)?;
        let (last, cached) = self.last_day.get_or_insert_with(|| (String::new(), day));
        last.clear();
        last.push_str(text);
        *cached = day;
        Ok(day)
    }

    pub(crate) fn origin(&self, line: u64) -> Origin {
        Origin {
            source: Arc::clone(&self.source),
            line,
        }
    }

    /// A record from parts already checked (the value by `values::check_value`).
    pub(crate) fn record(
        &self,
        agent: AgentId,
        day: Day,
        metric: MetricName,
        value: f64,
        dims: BTreeMap<String, String>,
        line: u64,
    ) -> MetricRecord {
        MetricRecord {
            agent,
            day,
            metric,
            value,
            dims,
            origin: self.origin(line),
        }
    }
}

/// Checks a dimension name: not empty, no control characters, no whitespace at either end.
pub(crate) fn check_dim_name(name: &str) -> Result<(), Why> {
    if name.is_empty() || name.trim() != name || name.chars().any(char::is_control) {
        Err(Why::quoting(
            "",
            crate::values::clip(name),
            " is not a valid dimension name",
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new(Arc::from("t.csv"), chrono_tz::UTC)
    }

    #[test]
    fn a_day_read_again_is_the_same_day_and_a_new_text_is_parsed_afresh() {
        let mut ctx = ctx();
        let first = ctx.day("2026-03-02").map_err(|e| e.to_string());
        assert!(first.is_ok());
        assert_eq!(first.clone().ok(), Day::parse("2026-03-02").ok());
        assert_eq!(ctx.day("2026-03-02").ok(), first.clone().ok());
        assert_eq!(ctx.day("2026-03-03").ok(), Day::parse("2026-03-03").ok());
        // A bad text after a good one is refused, not answered from the row before.
        assert!(ctx.day("2026-02-30").is_err());
        assert!(ctx.day("2026-03-0").is_err());
        assert_eq!(ctx.day("2026-03-03").ok(), Day::parse("2026-03-03").ok());
    }

    #[test]
    fn metrics_past_the_first_few_are_found_in_the_map() {
        let mut ctx = ctx();
        let names: Vec<String> = (0..FEW_METRICS + 5).map(|i| format!("m{i}")).collect();
        for _ in 0..2 {
            for name in &names {
                let metric = ctx.metric(name).map_err(|e| e.reason);
                assert_eq!(metric.as_ref().map(MetricName::as_str), Ok(name.as_str()));
            }
        }
        assert!(ctx.metric(&"m".repeat(300)).is_err());
    }
}
