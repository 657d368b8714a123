//! `genesys-adherence` and `genesys-aggregates`: Genesys Cloud JSON documents.
//!
//! A document is held in memory and split into its record array (`data[]`, `userResults[]` or
//! `results[]`) by the scanner; each element is then parsed on its own, so one bad element is
//! one bad row and every row knows its line.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use kudos_core::{AgentId, MetricRecord};
use serde_json::Value;

use crate::error::Why;
use crate::json_rows::{number, parse_element, string, type_name};
use crate::json_scan::{Span, member_elements};
use crate::rows::{Ctx, Problem, RowSource, Step, check_dim_name};
use crate::values::{check_value, local_day, parse_instant, shorter_than_local_day};

/// The two shapes of an adherence download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdherenceShape {
    /// Per management unit: `data[]`, `…Secs`, `startDate` on each user.
    PerManagementUnit,
    /// Bulk: `userResults[]`, `…Seconds`, `startDate` on the result.
    Bulk,
}

impl AdherenceShape {
    pub(crate) const fn array(self) -> &'static str {
        match self {
            Self::PerManagementUnit => "data",
            Self::Bulk => "userResults",
        }
    }

    const fn offset_field(self) -> &'static str {
        match self {
            Self::PerManagementUnit => "dayStartOffsetSecs",
            Self::Bulk => "dayStartOffsetSeconds",
        }
    }

    /// (field in the download, metric name) for each day metric.
    const fn fields(self) -> [(&'static str, &'static str); 10] {
        match self {
            Self::PerManagementUnit => [
                ("adherencePercentage", "adherence_pct"),
                ("conformancePercentage", "conformance_pct"),
                ("adherenceScheduleSecs", "adherence_schedule_secs"),
                ("conformanceScheduleSecs", "conformance_schedule_secs"),
                ("conformanceActualSecs", "conformance_actual_secs"),
                ("exceptionCount", "exception_count"),
                ("exceptionDurationSecs", "exception_duration_secs"),
                ("impactSeconds", "impact_secs"),
                ("scheduleLengthSecs", "schedule_length_secs"),
                ("actualLengthSecs", "actual_length_secs"),
            ],
            Self::Bulk => [
                ("adherencePercentage", "adherence_pct"),
                ("conformancePercentage", "conformance_pct"),
                ("adherenceScheduleSeconds", "adherence_schedule_secs"),
                ("conformanceScheduleSeconds", "conformance_schedule_secs"),
                ("conformanceActualSeconds", "conformance_actual_secs"),
                ("exceptionCount", "exception_count"),
                ("exceptionDurationSeconds", "exception_duration_secs"),
                ("impactSeconds", "impact_secs"),
                ("scheduleLengthSeconds", "schedule_length_secs"),
                ("actualLengthSeconds", "actual_length_secs"),
            ],
        }
    }
}

/// Rows of an element still to be read: (JSON path, line, value).
type Pending = VecDeque<(String, u64, Value)>;

/// The lines of the elements of array member `key` of the element at `span`, falling back to
/// the element's own line.
fn lines_of(bytes: &[u8], span: Span, key: &str, n: usize) -> Vec<u64> {
    let lines: Vec<u64> = member_elements(bytes, span, key)
        .map(|v| v.iter().map(|s| s.line).collect())
        .unwrap_or_default();
    if lines.len() == n {
        lines
    } else {
        vec![span.line; n]
    }
}

/// The sub-array `key` of an object element as pending rows (absent or null: none).
fn pending_rows(
    bytes: &[u8],
    span: Span,
    obj: &serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Pending, Problem> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(VecDeque::new()),
        Some(Value::Array(items)) => {
            let lines = lines_of(bytes, span, key, items.len());
            Ok(items
                .iter()
                .zip(lines)
                .enumerate()
                .map(|(j, (v, line))| (format!("{path}.{key}[{j}]"), line, v.clone()))
                .collect())
        }
        Some(other) => Err((
            Some(format!("{path}.{key}")),
            Why::plain(format!("expected an array, found {}", type_name(other))),
        )),
    }
}

/// Parses a parent element (a user, a group); a syntax error is a problem of the element.
fn parse_parent(bytes: &[u8], span: Span) -> Result<Value, (u64, Problem)> {
    parse_element(&bytes[span.start..span.end], span.line)
        .map_err(|(line, reason)| (line, (None, Why::plain(reason))))
}

/// An adherence download.
pub(crate) struct Adherence {
    pub(crate) shape: AdherenceShape,
    pub(crate) bytes: Vec<u8>,
    /// The bulk result's `startDate` (bulk shape only).
    pub(crate) bulk_start: Option<DateTime<Utc>>,
    pub(crate) ctx: Ctx,
}

impl Adherence {
    pub(crate) fn new(
        shape: AdherenceShape,
        bytes: Vec<u8>,
        bulk_start: Option<DateTime<Utc>>,
        ctx: Ctx,
    ) -> Self {
        Self {
            shape,
            bytes,
            bulk_start,
            ctx,
        }
    }

    /// Opens the next user element: its agent, start and day-metric rows.
    fn open_user(
        &mut self,
        span: Span,
        path: &str,
    ) -> Result<(AgentId, DateTime<Utc>, Pending), (u64, Problem)> {
        let v = parse_parent(&self.bytes, span)?;
        let at = |e: Problem| (span.line, e);
        let Value::Object(obj) = &v else {
            return Err(at((
                Some(path.to_owned()),
                Why::plain(format!("expected an object, found {}", type_name(&v))),
            )));
        };
        let user_path = format!("{path}.userId");
        let user = obj
            .get("userId")
            .ok_or_else(|| at((Some(user_path.clone()), Why::plain("missing"))))?;
        let user = string(user, &user_path).map_err(at)?;
        let agent = self.ctx.agent(user).map_err(|e| at((Some(user_path), e)))?;
        let start = match self.bulk_start {
            Some(start) => start,
            None => {
                let p = format!("{path}.startDate");
                let s = obj
                    .get("startDate")
                    .ok_or_else(|| at((Some(p.clone()), Why::plain("missing"))))?;
                parse_instant(string(s, &p).map_err(at)?).map_err(|e| at((Some(p), e)))?
            }
        };
        let rows = pending_rows(&self.bytes, span, obj, path, "dayMetrics").map_err(at)?;
        Ok((agent, start, rows))
    }

    fn day_row(
        &mut self,
        agent: &AgentId,
        start: DateTime<Utc>,
        path: &str,
        line: u64,
        v: &Value,
        out: &mut Vec<MetricRecord>,
    ) -> Result<(), Problem> {
        let Value::Object(obj) = v else {
            return Err((
                Some(path.to_owned()),
                Why::plain(format!("expected an object, found {}", type_name(v))),
            ));
        };
        let off_field = self.shape.offset_field();
        let off_path = format!("{path}.{off_field}");
        let offset = obj
            .get(off_field)
            .ok_or_else(|| (Some(off_path.clone()), Why::plain("missing")))?;
        let offset = number(offset, &off_path)?;
        if offset.fract() != 0.0 || offset.abs() > 1e9 {
            return Err((
                Some(off_path),
                Why::plain(format!(
                    "{offset} is not a whole number of seconds within ±10^9"
                )),
            ));
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a whole number within ±10^9, checked above"
        )]
        let instant = start
            .checked_add_signed(TimeDelta::seconds(offset as i64))
            .ok_or_else(|| {
                (
                    Some(off_path.clone()),
                    Why::plain(format!("startDate + {offset} s is out of range")),
                )
            })?;
        let day = local_day(instant, self.ctx.tz).map_err(|e| (Some(off_path), e))?;
        for (field, metric) in self.shape.fields() {
            match obj.get(field) {
                None | Some(Value::Null) => {}
                Some(x) => {
                    let value = number(x, &format!("{path}.{field}"))?;
                    let metric = self
                        .ctx
                        .metric(metric)
                        .map_err(|e| (Some(field.to_owned()), e))?;
                    out.push(self.ctx.record(
                        agent.clone(),
                        day,
                        metric,
                        value,
                        BTreeMap::new(),
                        line,
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Nested for Adherence {
    type Parent = (AgentId, DateTime<Utc>);

    fn array(&self) -> &'static str {
        self.shape.array()
    }

    fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    fn open(&mut self, span: Span, path: &str) -> Result<(Self::Parent, Pending), (u64, Problem)> {
        let (agent, start, rows) = self.open_user(span, path)?;
        Ok(((agent, start), rows))
    }

    fn row(
        &mut self,
        parent: &Self::Parent,
        path: &str,
        line: u64,
        v: &Value,
        out: &mut Vec<MetricRecord>,
    ) -> Result<(), Problem> {
        self.day_row(&parent.0, parent.1, path, line, v, out)
    }
}

/// An aggregates group being read: its agent, its dimensions and its interval rows.
type Group = (AgentId, BTreeMap<String, String>, Pending);

/// The stats Kudos reads from an aggregate metric.
const STATS: [&str; 9] = [
    "max",
    "min",
    "count",
    "sum",
    "current",
    "ratio",
    "numerator",
    "denominator",
    "target",
];

/// An analytics aggregates response.
pub(crate) struct Aggregates {
    pub(crate) bytes: Vec<u8>,
    pub(crate) ctx: Ctx,
}

impl Aggregates {
    pub(crate) fn new(bytes: Vec<u8>, ctx: Ctx) -> Self {
        Self { bytes, ctx }
    }

    fn open_group(&mut self, span: Span, path: &str) -> Result<Group, (u64, Problem)> {
        let v = parse_parent(&self.bytes, span)?;
        let at = |e: Problem| (span.line, e);
        let Value::Object(obj) = &v else {
            return Err(at((
                Some(path.to_owned()),
                Why::plain(format!("expected an object, found {}", type_name(&v))),
            )));
        };
        let group_path = format!("{path}.group");
        let Some(Value::Object(group)) = obj.get("group") else {
            return Err(at((
                Some(group_path),
                Why::plain("missing, or not an object: a group without userId"),
            )));
        };
        let mut agent = None;
        let mut dims = BTreeMap::new();
        for (k, gv) in group {
            let p = format!("{group_path}.{k}");
            let s = string(gv, &p).map_err(at)?;
            if k == "userId" {
                agent = Some(self.ctx.agent(s).map_err(|e| at((Some(p), e)))?);
            } else {
                check_dim_name(k).map_err(|e| at((Some(p.clone()), e)))?;
                dims.insert(k.clone(), s.to_owned());
            }
        }
        let agent =
            agent.ok_or_else(|| at((Some(group_path), Why::plain("the group has no userId"))))?;
        let rows = pending_rows(&self.bytes, span, obj, path, "data").map_err(at)?;
        Ok((agent, dims, rows))
    }

    fn interval_row(
        &mut self,
        agent: &AgentId,
        group_dims: &BTreeMap<String, String>,
        path: &str,
        line: u64,
        v: &Value,
        out: &mut Vec<MetricRecord>,
    ) -> Result<(), Problem> {
        let Value::Object(obj) = v else {
            return Err((
                Some(path.to_owned()),
                Why::plain(format!("expected an object, found {}", type_name(v))),
            ));
        };
        let ipath = format!("{path}.interval");
        let interval = string(
            obj.get("interval")
                .ok_or_else(|| (Some(ipath.clone()), Why::plain("missing")))?,
            &ipath,
        )?;
        let (start, end) = interval.split_once('/').ok_or_else(|| {
            (
                Some(ipath.clone()),
                Why::quoting("", interval, " is not `start/end`"),
            )
        })?;
        let start = parse_instant(start).map_err(|e| (Some(ipath.clone()), e))?;
        let end = parse_instant(end).map_err(|e| (Some(ipath.clone()), e))?;
        if end <= start {
            return Err((
                Some(ipath),
                Why::quoting("the interval ", interval, " ends before it starts"),
            ));
        }
        let day = local_day(start, self.ctx.tz).map_err(|e| (Some(ipath.clone()), e))?;
        let mut dims = group_dims.clone();
        if shorter_than_local_day(start, end, self.ctx.tz) {
            dims.insert(
                "interval".to_owned(),
                start.to_rfc3339_opts(SecondsFormat::Secs, true),
            );
        }
        let metrics = match obj.get("metrics") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(m)) => m,
            Some(other) => {
                return Err((
                    Some(format!("{path}.metrics")),
                    Why::plain(format!("expected an array, found {}", type_name(other))),
                ));
            }
        };
        for (k, m) in metrics.iter().enumerate() {
            let mpath = format!("{path}.metrics[{k}]");
            let Value::Object(m) = m else {
                return Err((
                    Some(mpath),
                    Why::plain(format!("expected an object, found {}", type_name(m))),
                ));
            };
            let name_path = format!("{mpath}.metric");
            let name = string(
                m.get("metric")
                    .ok_or_else(|| (Some(name_path.clone()), Why::plain("missing")))?,
                &name_path,
            )?;
            let mut dims = dims.clone();
            match m.get("qualifier") {
                None | Some(Value::Null) => {}
                Some(q) => {
                    dims.insert(
                        "qualifier".to_owned(),
                        string(q, &format!("{mpath}.qualifier"))?.to_owned(),
                    );
                }
            }
            let stats = match m.get("stats") {
                None | Some(Value::Null) => continue,
                Some(Value::Object(s)) => s,
                Some(other) => {
                    return Err((
                        Some(format!("{mpath}.stats")),
                        Why::plain(format!("expected an object, found {}", type_name(other))),
                    ));
                }
            };
            let mut emit = |stat: &str, value: f64, ctx: &mut Ctx| -> Result<(), Problem> {
                let metric = ctx
                    .metric(&format!("{name}.{stat}"))
                    .map_err(|e| (Some(name_path.clone()), e))?;
                out.push(ctx.record(agent.clone(), day, metric, value, dims.clone(), line));
                Ok(())
            };
            let (mut sum, mut count) = (None, None);
            for stat in STATS {
                match stats.get(stat) {
                    None | Some(Value::Null) => {}
                    Some(x) => {
                        let value = number(x, &format!("{mpath}.stats.{stat}"))?;
                        match stat {
                            "sum" => sum = Some(value),
                            "count" => count = Some(value),
                            _ => {}
                        }
                        emit(stat, value, &mut self.ctx)?;
                    }
                }
            }
            if let (Some(sum), Some(count)) = (sum, count)
                && count > 0.0
            {
                let avg = check_value(sum / count).map_err(|()| {
                    (
                        Some(format!("{mpath}.stats")),
                        Why::plain("sum / count is not a finite number within ±2^53"),
                    )
                })?;
                emit("avg", avg, &mut self.ctx)?;
            }
        }
        Ok(())
    }
}

impl Nested for Aggregates {
    type Parent = (AgentId, BTreeMap<String, String>);

    fn array(&self) -> &'static str {
        "results"
    }

    fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    fn open(&mut self, span: Span, path: &str) -> Result<(Self::Parent, Pending), (u64, Problem)> {
        let (agent, dims, rows) = self.open_group(span, path)?;
        Ok(((agent, dims), rows))
    }

    fn row(
        &mut self,
        parent: &Self::Parent,
        path: &str,
        line: u64,
        v: &Value,
        out: &mut Vec<MetricRecord>,
    ) -> Result<(), Problem> {
        self.interval_row(&parent.0, &parent.1, path, line, v, out)
    }
}

/// A document whose record array holds parent elements (a user, a group), each with rows of
/// its own (`dayMetrics[]`, `data[]`). A bad parent is one bad row; so is each bad child row.
pub(crate) trait Nested: Send {
    /// What a parent's rows share.
    type Parent: Send;
    /// The record array's name, for JSON paths.
    fn array(&self) -> &'static str;
    /// The context, for row errors.
    fn ctx(&self) -> &Ctx;
    /// Opens a parent element: what its rows share, and its rows.
    fn open(&mut self, span: Span, path: &str) -> Result<(Self::Parent, Pending), (u64, Problem)>;
    /// Reads one child row.
    fn row(
        &mut self,
        parent: &Self::Parent,
        path: &str,
        line: u64,
        v: &Value,
        out: &mut Vec<MetricRecord>,
    ) -> Result<(), Problem>;
}

/// The row source over a [`Nested`] document.
pub(crate) struct NestedRows<N: Nested> {
    inner: N,
    elements: std::vec::IntoIter<Span>,
    index: usize,
    current: Option<(N::Parent, Pending)>,
}

impl<N: Nested> NestedRows<N> {
    pub(crate) fn new(inner: N, elements: Vec<Span>) -> Self {
        Self {
            inner,
            elements: elements.into_iter(),
            index: 0,
            current: None,
        }
    }
}

impl<N: Nested> RowSource for NestedRows<N> {
    fn next_row(&mut self, out: &mut Vec<MetricRecord>) -> Option<Step> {
        loop {
            if let Some((parent, pending)) = &mut self.current {
                if let Some((path, line, v)) = pending.pop_front() {
                    return Some(match self.inner.row(parent, &path, line, &v, out) {
                        Ok(()) => Step::Row,
                        Err((location, reason)) => {
                            out.clear();
                            Step::Bad(self.inner.ctx().row_error(line, location, reason))
                        }
                    });
                }
                self.current = None;
            }
            let span = self.elements.next()?;
            let path = format!("$.{}[{}]", self.inner.array(), self.index);
            self.index += 1;
            match self.inner.open(span, &path) {
                Ok(opened) => self.current = Some(opened),
                Err((line, (location, reason))) => {
                    return Some(Step::Bad(self.inner.ctx().row_error(
                        line,
                        location.or(Some(path)),
                        reason,
                    )));
                }
            }
        }
    }
}
