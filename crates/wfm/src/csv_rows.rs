//! `canonical-csv` and `wide-csv`: streaming CSV rows into records.

use std::collections::BTreeMap;
use std::collections::HashMap;

use kudos_core::{MetricName, MetricRecord};

use crate::csv_read::{CsvReader, Row};
use crate::error::Why;
use crate::mapping::{Column, UnknownColumns, label_key};
use crate::rows::{Ctx, Problem, RowSource, Step, check_dim_name};
use crate::values::{clip, parse_day_cell, parse_value, trim};
use crate::{Mapping, Warning, WfmError};

/// Reads the header record, or `None` at the end of input.
pub(crate) fn read_header(
    rdr: &mut CsvReader,
    file: &str,
) -> Result<Option<Vec<String>>, WfmError> {
    if rdr.read().map_err(|e| io_fatal(file, &e))?.is_none() {
        return Ok(None);
    }
    let header = rdr
        .row()
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_owned())
        .collect();
    Ok(Some(header))
}

fn io_fatal(file: &str, error: &std::io::Error) -> WfmError {
    WfmError::Io {
        file: file.to_owned(),
        error: std::io::Error::new(error.kind(), error.to_string()),
    }
}

/// Whether a header is the canonical one (has the four required columns).
pub(crate) fn is_canonical_header(header: &[String]) -> bool {
    ["agent_id", "date", "metric", "value"]
        .iter()
        .all(|c| header.iter().any(|h| h == c))
}

fn check_duplicates(
    header: &[String],
    file: &str,
    key: impl Fn(&str) -> String,
) -> Result<(), WfmError> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if let Some(first) = seen.insert(key(h), i + 1) {
            return Err(WfmError::DuplicateColumn {
                file: file.to_owned(),
                column: h.clone(),
                first,
                second: i + 1,
            });
        }
    }
    Ok(())
}

/// One row's fields, as text.
struct Fields<'a> {
    rec: Row<'a>,
    /// The whole row, when it is valid UTF-8 (checked once, not cell by cell).
    text: Option<&'a str>,
    header: &'a [String],
}

impl<'a> Fields<'a> {
    fn new(rec: Row<'a>, header: &'a [String]) -> Self {
        Self {
            rec,
            text: std::str::from_utf8(rec.as_slice()).ok(),
            header,
        }
    }

    fn get(&self, i: usize) -> Result<&'a str, Problem> {
        // Cells are split at ASCII delimiters, so each cell of a valid row is valid on its own.
        if let Some(cell) = self.text.zip(self.rec.range(i)).and_then(|(t, r)| t.get(r)) {
            return Ok(trim(cell));
        }
        let bytes = self.rec.get(i).unwrap_or_default();
        std::str::from_utf8(bytes).map(trim).map_err(|_| {
            (
                Some(self.header[i].clone()),
                Why::plain("the cell is not valid UTF-8"),
            )
        })
    }
}

fn read_row(rdr: &mut CsvReader, ncols: usize, ctx: &Ctx) -> Option<Result<u64, Step>> {
    match rdr.read() {
        Ok(None) => None,
        Err(e) => Some(Err(Step::Fatal(io_fatal(&ctx.source, &e)))),
        Ok(Some(line)) => {
            let fields = rdr.row().len();
            if fields == ncols {
                Some(Ok(line))
            } else {
                let why = Why::plain(format!(
                    "the row has {fields} fields; the header has {ncols} (truncated or misquoted?)"
                ));
                Some(Err(Step::Bad(ctx.row_error(line, None, why))))
            }
        }
    }
}

/// What the CSV formats share: read the next row with the right number of fields, then let
/// the format turn it into records (all of them, or a rejected row).
trait CsvFormat {
    /// The reader, the reused record, the context and the header width.
    fn input(&mut self) -> (&mut CsvReader, &Ctx, usize);
    /// Pushes the records of the row just read (on `line`) onto `out`.
    fn parse(&mut self, line: u64, out: &mut Vec<MetricRecord>) -> Result<(), Problem>;
    /// The context, for row errors.
    fn ctx(&self) -> &Ctx;
}

fn next_csv_row(rows: &mut impl CsvFormat, out: &mut Vec<MetricRecord>) -> Option<Step> {
    let line = {
        let (rdr, ctx, ncols) = rows.input();
        match read_row(rdr, ncols, ctx)? {
            Ok(line) => line,
            Err(step) => return Some(step),
        }
    };
    Some(match rows.parse(line, out) {
        Ok(()) => Step::Row,
        Err((location, reason)) => {
            out.clear();
            Step::Bad(rows.ctx().row_error(line, location, reason))
        }
    })
}

/// `canonical-csv` rows.
pub(crate) struct CanonicalCsv {
    rdr: CsvReader,
    ctx: Ctx,
    header: Vec<String>,
    agent: usize,
    date: usize,
    metric: usize,
    value: usize,
    dims: Vec<(usize, String)>,
}

impl CanonicalCsv {
    pub(crate) fn new(rdr: CsvReader, header: Vec<String>, ctx: Ctx) -> Result<Self, WfmError> {
        let file = ctx.source.to_string();
        check_duplicates(&header, &file, str::to_owned)?;
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| WfmError::MissingColumn {
                    file: file.clone(),
                    column: name.to_owned(),
                })
        };
        let (agent, date, metric, value) = (
            find("agent_id")?,
            find("date")?,
            find("metric")?,
            find("value")?,
        );
        let mut dims = Vec::new();
        for (i, h) in header.iter().enumerate() {
            if [agent, date, metric, value].contains(&i) {
                continue;
            }
            match h.strip_prefix("dim.") {
                Some(name) if check_dim_name(name).is_ok() => dims.push((i, name.to_owned())),
                _ => {
                    return Err(WfmError::UnexpectedColumn {
                        file,
                        column: h.clone(),
                        position: i + 1,
                        reason: "canonical-csv allows only agent_id, date, metric, value and dim.<name> columns".to_owned(),
                    });
                }
            }
        }
        Ok(Self {
            rdr,
            ctx,
            header,
            agent,
            date,
            metric,
            value,
            dims,
        })
    }

    fn row(&mut self, line: u64) -> Result<MetricRecord, Problem> {
        let f = Fields::new(self.rdr.row(), &self.header);
        let col = |i: usize| Some(self.header[i].clone());
        let agent = self
            .ctx
            .agent(f.get(self.agent)?)
            .map_err(|e| (col(self.agent), e))?;
        let day = self
            .ctx
            .day(f.get(self.date)?)
            .map_err(|e| (col(self.date), Why::core(&e)))?;
        let metric_text = f.get(self.metric)?;
        if metric_text.is_empty() {
            return Err((col(self.metric), Why::plain("the metric is empty")));
        }
        let metric = self
            .ctx
            .metric(metric_text)
            .map_err(|e| (col(self.metric), e))?;
        let value = parse_value(f.get(self.value)?).map_err(|e| (col(self.value), e))?;
        let mut dims = BTreeMap::new();
        for (i, name) in &self.dims {
            let v = f.get(*i)?;
            if !v.is_empty() {
                dims.insert(name.clone(), v.to_owned());
            }
        }
        Ok(self.ctx.record(agent, day, metric, value, dims, line))
    }
}

impl CsvFormat for CanonicalCsv {
    fn input(&mut self) -> (&mut CsvReader, &Ctx, usize) {
        (&mut self.rdr, &self.ctx, self.header.len())
    }

    fn parse(&mut self, line: u64, out: &mut Vec<MetricRecord>) -> Result<(), Problem> {
        out.push(self.row(line)?);
        Ok(())
    }

    fn ctx(&self) -> &Ctx {
        &self.ctx
    }
}

impl RowSource for CanonicalCsv {
    fn next_row(&mut self, out: &mut Vec<MetricRecord>) -> Option<Step> {
        next_csv_row(self, out)
    }
}

/// `wide-csv` rows, classified by a [`Mapping`].
pub(crate) struct WideCsv {
    rdr: CsvReader,
    ctx: Ctx,
    header: Vec<String>,
    agent: usize,
    day: usize,
    dims: Vec<(usize, String)>,
    metrics: Vec<(usize, MetricName)>,
}

impl WideCsv {
    pub(crate) fn new(
        rdr: CsvReader,
        header: Vec<String>,
        mapping: &Mapping,
        ctx: Ctx,
    ) -> Result<(Self, Vec<Warning>), WfmError> {
        let file = ctx.source.to_string();
        check_duplicates(&header, &file, label_key)?;
        let (mut agent, mut day) = (None, None);
        let (mut dims, mut metrics, mut warnings) = (Vec::new(), Vec::new(), Vec::new());
        for (i, h) in header.iter().enumerate() {
            match mapping.classify(h) {
                Some(Column::Agent) => agent = Some(i),
                Some(Column::Day) => day = Some(i),
                Some(Column::Dim(name)) => dims.push((i, name.clone())),
                Some(Column::Metric(m)) => metrics.push((i, m.clone())),
                Some(Column::Pii | Column::Ignore) => {}
                None => match mapping.unknown {
                    UnknownColumns::Warn => warnings.push(Warning {
                        line: 1,
                        column: Some(h.clone()),
                        message: format!(
                            "column {} `{}` is not in mapping {}; ignored",
                            i + 1,
                            clip(h),
                            mapping.name()
                        ),
                    }),
                    UnknownColumns::Error => {
                        return Err(WfmError::UnexpectedColumn {
                            file,
                            column: h.clone(),
                            position: i + 1,
                            reason: format!(
                                "mapping {} does not classify it (add it to metrics, dimensions, pii or ignore)",
                                mapping.name()
                            ),
                        });
                    }
                },
            }
        }
        let missing = |label: &str| WfmError::MissingColumn {
            file: file.clone(),
            column: label.to_owned(),
        };
        let agent = agent.ok_or_else(|| missing(&mapping.agent_label))?;
        let day = day.ok_or_else(|| missing(&mapping.day_label))?;
        Ok((
            Self {
                rdr,
                ctx,
                header,
                agent,
                day,
                dims,
                metrics,
            },
            warnings,
        ))
    }

    fn row(&mut self, line: u64, out: &mut Vec<MetricRecord>) -> Result<(), Problem> {
        let f = Fields::new(self.rdr.row(), &self.header);
        let col = |i: usize| Some(self.header[i].clone());
        let agent = self
            .ctx
            .agent(f.get(self.agent)?)
            .map_err(|e| (col(self.agent), e))?;
        let day = parse_day_cell(f.get(self.day)?, self.ctx.tz).map_err(|e| (col(self.day), e))?;
        let mut dims = BTreeMap::new();
        for (i, name) in &self.dims {
            let v = f.get(*i)?;
            if !v.is_empty() {
                dims.insert(name.clone(), v.to_owned());
            }
        }
        for (i, metric) in &self.metrics {
            let cell = f.get(*i)?;
            if cell.is_empty() {
                continue;
            }
            let value = parse_value(cell).map_err(|e| (col(*i), e))?;
            out.push(self.ctx.record(
                agent.clone(),
                day,
                metric.clone(),
                value,
                dims.clone(),
                line,
            ));
        }
        Ok(())
    }
}

impl CsvFormat for WideCsv {
    fn input(&mut self) -> (&mut CsvReader, &Ctx, usize) {
        (&mut self.rdr, &self.ctx, self.header.len())
    }

    fn parse(&mut self, line: u64, out: &mut Vec<MetricRecord>) -> Result<(), Problem> {
        self.row(line, out)
    }

    fn ctx(&self) -> &Ctx {
        &self.ctx
    }
}

impl RowSource for WideCsv {
    fn next_row(&mut self, out: &mut Vec<MetricRecord>) -> Option<Step> {
        next_csv_row(self, out)
    }
}
