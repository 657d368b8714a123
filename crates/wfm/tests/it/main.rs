//! Integration tests of `kudos-wfm`: fixture files in, records and row errors out.
#![allow(
    clippy::float_cmp,
    reason = "parsers must reproduce values exactly; approximate comparison would hide a bug"
)]

mod background;
mod corpus;
mod errors;
mod fixtures;
mod redaction;
mod roundtrip;
mod sizing;
mod streaming;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kudos_wfm::{Format, Mapping, ParseOptions, Records, WfmError};

/// The repository's `fixtures/` directory.
pub(crate) fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Options for a format name, a zone and an optional mapping spec.
pub(crate) fn options(format: &str, tz: &str, mapping: Option<&str>) -> ParseOptions {
    let mut o = ParseOptions::default()
        .with_format(format.parse().unwrap())
        .with_time_zone(tz)
        .unwrap();
    if let Some(m) = mapping {
        o = o.with_mapping(Mapping::resolve(m).unwrap());
    }
    o
}

/// Reads a fixture (named by its path under `fixtures/`) and renders everything the reader
/// says, one line per record, row error or file error, then the report.
pub(crate) fn render(rel: &str, options: &ParseOptions) -> String {
    let bytes = std::fs::read(fixture_dir().join(rel)).unwrap();
    render_bytes(rel, bytes, options)
}

pub(crate) fn render_bytes(name: &str, bytes: Vec<u8>, options: &ParseOptions) -> String {
    let mut out = String::new();
    let mut records = match Records::from_reader(name, std::io::Cursor::new(bytes), options) {
        Ok(r) => r,
        Err(e) => return format!("!! {e}\n"),
    };
    for item in records.by_ref() {
        match item {
            Ok(r) => {
                let dims = if r.dims.is_empty() {
                    String::new()
                } else {
                    format!(" {:?}", r.dims)
                };
                writeln!(
                    out,
                    "{} {} {} = {}{dims} @{}",
                    r.agent, r.day, r.metric, r.value, r.origin.line
                )
                .unwrap();
            }
            Err(WfmError::Row(e)) => writeln!(out, "! {e}").unwrap(),
            Err(e) => writeln!(out, "!! {e}").unwrap(),
        }
    }
    let rep = records.report();
    writeln!(
        out,
        "= {} records, {} rejected rows, {} duplicates, format {}",
        rep.records, rep.rejected_rows, rep.duplicates, rep.format
    )
    .unwrap();
    for w in &rep.warnings {
        writeln!(out, "~ {w}").unwrap();
    }
    out
}

/// Reads everything, returning (records, row errors, file error).
pub(crate) fn collect(
    name: &str,
    bytes: Vec<u8>,
    options: &ParseOptions,
) -> (
    Vec<kudos_core::MetricRecord>,
    Vec<kudos_wfm::RowError>,
    Option<WfmError>,
) {
    let (mut recs, mut rows) = (Vec::new(), Vec::new());
    let records = match Records::from_reader(name, std::io::Cursor::new(bytes), options) {
        Ok(r) => r,
        Err(e) => return (recs, rows, Some(e)),
    };
    for item in records {
        match item {
            Ok(r) => recs.push(r),
            Err(WfmError::Row(e)) => rows.push(e),
            Err(e) => return (recs, rows, Some(e)),
        }
    }
    (recs, rows, None)
}

/// Each item as a comparable line: the record's fields, or the error's text.
pub(crate) fn lines(
    items: impl Iterator<Item = Result<kudos_core::MetricRecord, kudos_wfm::WfmError>>,
) -> Vec<String> {
    items
        .map(|item| match item {
            Ok(r) => format!(
                "{} {} {} {} line {}",
                r.agent, r.day, r.metric, r.value, r.origin.line
            ),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

#[allow(dead_code, reason = "shared by some test modules only")]
pub(crate) const ALL_FORMATS: [Format; 6] = Format::ALL;
