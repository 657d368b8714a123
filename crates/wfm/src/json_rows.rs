//! `canonical-json` (array and JSON Lines) rows.

use std::collections::BTreeMap;
use std::io::BufRead;

use kudos_core::{Day, MetricRecord};
use serde_json::Value;

use crate::WfmError;
use crate::error::Why;
use crate::json_scan::Span;
use crate::rows::{Ctx, Problem, RowSource, Step, check_dim_name};
use crate::values::{check_value, clip};

/// The name of a JSON value's type, for errors.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses one JSON element on its own; a syntax error is `serde_json`'s message (which quotes
/// no input) at its absolute line.
pub(crate) fn parse_element(bytes: &[u8], line: u64) -> Result<Value, (u64, String)> {
    serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        let msg = msg
            .rfind(" at line ")
            .map_or(msg.as_str(), |i| &msg[..i])
            .to_owned();
        let at = line + u64::try_from(e.line()).unwrap_or(1).saturating_sub(1);
        (at, format!("invalid JSON: {msg} (column {})", e.column()))
    })
}

/// A number field, checked finite and within ±2^53.
pub(crate) fn number(v: &Value, path: &str) -> Result<f64, Problem> {
    match v {
        Value::Number(n) => n.as_f64().and_then(|x| check_value(x).ok()).ok_or_else(|| {
            (
                Some(path.to_owned()),
                Why::plain(format!("{n} is not a finite number within ±2^53")),
            )
        }),
        other => Err((
            Some(path.to_owned()),
            Why::plain(format!("expected a number, found {}", type_name(other))),
        )),
    }
}

/// A string field.
pub(crate) fn string<'v>(v: &'v Value, path: &str) -> Result<&'v str, Problem> {
    v.as_str().ok_or_else(|| {
        (
            Some(path.to_owned()),
            Why::plain(format!("expected a string, found {}", type_name(v))),
        )
    })
}

/// Reads one canonical object into a record.
fn canonical(v: &Value, path: &str, line: u64, ctx: &mut Ctx) -> Result<MetricRecord, Problem> {
    let at = |field: &str| format!("{path}.{field}");
    let Value::Object(obj) = v else {
        return Err((
            Some(path.to_owned()),
            Why::plain(format!("expected an object, found {}", type_name(v))),
        ));
    };
    if let Some(k) = obj.keys().find(|k| {
        !matches!(
            k.as_str(),
            "agent_id" | "date" | "metric" | "value" | "dims"
        )
    }) {
        return Err((
            Some(at(k)),
            Why::plain("unknown field (canonical-json allows agent_id, date, metric, value, dims)"),
        ));
    }
    let get = |field: &str| {
        obj.get(field)
            .ok_or_else(|| (Some(at(field)), Why::plain("missing")))
    };
    let agent = ctx
        .agent(string(get("agent_id")?, &at("agent_id"))?)
        .map_err(|e| (Some(at("agent_id")), e))?;
    let day = Day::parse(string(get("date")?, &at("date"))?)
        .map_err(|e| (Some(at("date")), Why::core(&e)))?;
    let metric = ctx
        .metric(string(get("metric")?, &at("metric"))?)
        .map_err(|e| (Some(at("metric")), e))?;
    let value = number(get("value")?, &at("value"))?;
    let mut dims = BTreeMap::new();
    match obj.get("dims") {
        None | Some(Value::Null) => {}
        Some(Value::Object(d)) => {
            for (k, dv) in d {
                let p = format!("{}.{k}", at("dims"));
                check_dim_name(k).map_err(|e| (Some(p.clone()), e))?;
                let s = string(dv, &p)?;
                if !s.is_empty() {
                    dims.insert(k.clone(), s.to_owned());
                }
            }
        }
        Some(other) => {
            return Err((
                Some(at("dims")),
                Why::plain(format!("expected an object, found {}", type_name(other))),
            ));
        }
    }
    Ok(ctx.record(agent, day, metric, value, dims, line))
}

/// A canonical JSON array, held in memory, split into elements.
pub(crate) struct CanonicalArray {
    pub(crate) bytes: Vec<u8>,
    pub(crate) elements: std::vec::IntoIter<Span>,
    pub(crate) index: usize,
    pub(crate) ctx: Ctx,
}

impl RowSource for CanonicalArray {
    fn next_row(&mut self, out: &mut Vec<MetricRecord>) -> Option<Step> {
        let span = self.elements.next()?;
        let path = format!("$[{}]", self.index);
        self.index += 1;
        let v = match parse_element(&self.bytes[span.start..span.end], span.line) {
            Ok(v) => v,
            Err((line, reason)) => {
                let why = Why::plain(reason);
                return Some(Step::Bad(self.ctx.row_error(line, Some(path), why)));
            }
        };
        Some(match canonical(&v, &path, span.line, &mut self.ctx) {
            Ok(r) => {
                out.push(r);
                Step::Row
            }
            Err((location, reason)) => Step::Bad(self.ctx.row_error(span.line, location, reason)),
        })
    }
}

/// Canonical JSON Lines, streamed a line at a time.
pub(crate) struct JsonLines {
    pub(crate) input: Box<dyn BufRead + Send>,
    pub(crate) line: u64,
    pub(crate) buf: Vec<u8>,
    pub(crate) ctx: Ctx,
}

impl RowSource for JsonLines {
    fn next_row(&mut self, out: &mut Vec<MetricRecord>) -> Option<Step> {
        loop {
            self.buf.clear();
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => {
                    return Some(Step::Fatal(WfmError::Io {
                        file: self.ctx.source.to_string(),
                        error,
                    }));
                }
            }
            self.line += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = self.line;
            let v = match parse_element(&self.buf, line) {
                Ok(v) => v,
                Err((_, reason)) => {
                    let text = String::from_utf8_lossy(&self.buf);
                    let why = Why::quoting(&format!("{reason}: "), clip(text.trim_end()), "");
                    return Some(Step::Bad(self.ctx.row_error(line, None, why)));
                }
            };
            return Some(match canonical(&v, "$", line, &mut self.ctx) {
                Ok(r) => {
                    out.push(r);
                    Step::Row
                }
                Err((location, reason)) => Step::Bad(self.ctx.row_error(line, location, reason)),
            });
        }
    }
}

/// Whether a first line looks like a canonical JSON Lines record (a whole object with an
/// `agent_id` member), which tells JSON Lines from a pretty-printed Genesys document.
pub(crate) fn looks_like_json_line(line: &[u8]) -> bool {
    matches!(serde_json::from_slice::<Value>(line), Ok(Value::Object(o)) if o.contains_key("agent_id"))
}
