//! Which format a source is in, and the row source that reads it: the byte-order mark, the
//! first character, a JSON line or a document, a CSV header (canonical, or mapped wide
//! columns).

use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::Arc;

use crate::csv_read::CsvReader;
use crate::csv_rows::{self, CanonicalCsv, WideCsv};
use crate::genesys::{Adherence, AdherenceShape, Aggregates, NestedRows};
use crate::json_rows::{CanonicalArray, JsonLines, looks_like_json_line, parse_element};
use crate::json_scan::{self, Span, Top};
use crate::reader::ParseOptions;
use crate::rows::{Ctx, RowSource};
use crate::values::parse_instant;
use crate::{Format, Mapping, WfmError};

/// A source's rows, its format, and what was noticed opening it.
pub(crate) type Opened = (Box<dyn RowSource>, Format, Vec<crate::Warning>);

fn io_err(file: &str, error: std::io::Error) -> WfmError {
    WfmError::Io {
        file: file.to_owned(),
        error,
    }
}

pub(crate) fn detect_and_open(
    source: &str,
    input: Box<dyn Read + Send>,
    options: &ParseOptions,
) -> Result<Opened, WfmError> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    // A UTF-8 byte-order mark is tolerated in every format.
    let head = input.fill_buf().map_err(|e| io_err(source, e))?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    let head = input.fill_buf().map_err(|e| io_err(source, e))?;
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    let ctx = Ctx::new(Arc::from(source), options.time_zone);
    let boxed = |r: BufReader<Box<dyn Read + Send>>| -> Box<dyn Read + Send> { Box::new(r) };
    match options.format {
        Format::CanonicalCsv | Format::WideCsv => {
            open_csv(options.format, boxed(input), options, ctx)
        }
        Format::CanonicalJson if first == Some(b'[') => {
            open_document(options.format, read_all(input, source)?, ctx)
        }
        Format::CanonicalJson => Ok((
            Box::new(JsonLines {
                input: Box::new(input),
                line: 0,
                buf: Vec::new(),
                ctx,
            }),
            Format::CanonicalJson,
            Vec::new(),
        )),
        Format::GenesysAdherence | Format::GenesysAggregates => {
            open_document(options.format, read_all(input, source)?, ctx)
        }
        Format::Auto => match first {
            None => Err(WfmError::Empty {
                file: source.to_owned(),
            }),
            Some(b'[') => open_document(Format::Auto, read_all(input, source)?, ctx),
            Some(b'{') => {
                let mut first_line = Vec::new();
                input
                    .read_until(b'\n', &mut first_line)
                    .map_err(|e| io_err(source, e))?;
                if looks_like_json_line(&first_line) {
                    let rest: Box<dyn BufRead + Send> =
                        Box::new(Cursor::new(first_line).chain(input));
                    Ok((
                        Box::new(JsonLines {
                            input: rest,
                            line: 0,
                            buf: Vec::new(),
                            ctx,
                        }),
                        Format::CanonicalJson,
                        Vec::new(),
                    ))
                } else {
                    let mut bytes = first_line;
                    input
                        .read_to_end(&mut bytes)
                        .map_err(|e| io_err(source, e))?;
                    open_document(Format::Auto, bytes, ctx)
                }
            }
            Some(_) => open_csv(Format::Auto, boxed(input), options, ctx),
        },
    }
}

fn read_all(mut input: impl Read, source: &str) -> Result<Vec<u8>, WfmError> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(source, e))?;
    Ok(bytes)
}

fn open_csv(
    format: Format,
    input: Box<dyn Read + Send>,
    options: &ParseOptions,
    ctx: Ctx,
) -> Result<Opened, WfmError> {
    let file = ctx.source.to_string();
    let mapping = options.mapping.as_deref();
    if format == Format::WideCsv && mapping.is_none() {
        return Err(WfmError::Mapping {
            mapping: "(none)".to_owned(),
            reason: format!(
                "wide-csv needs a mapping: a file, or a preset ({})",
                Mapping::PRESETS.join(", ")
            ),
        });
    }
    let delimiter = match (format, mapping) {
        (Format::CanonicalCsv, _) | (_, None) => b',',
        (_, Some(m)) => m.delimiter,
    };
    // Field counts are left to the formats: a short row is a row error, not a reader error.
    let mut rdr = CsvReader::new(input, delimiter);
    let Some(header) = csv_rows::read_header(&mut rdr, &file)? else {
        return Err(match format {
            Format::Auto => WfmError::Empty { file },
            _ => WfmError::MissingColumn {
                file,
                column: "(the header row)".to_owned(),
            },
        });
    };
    let canonical = format == Format::CanonicalCsv
        || (format == Format::Auto && csv_rows::is_canonical_header(&header));
    if canonical {
        let rows = CanonicalCsv::new(rdr, header, ctx)?;
        return Ok((Box::new(rows), Format::CanonicalCsv, Vec::new()));
    }
    let preset;
    let mapping = match mapping {
        Some(m) => m,
        None => {
            let looks_genesys = ["agent id", "interval start"]
                .iter()
                .all(|c| header.iter().any(|h| crate::mapping::label_key(h) == *c));
            match Mapping::preset("genesys-agent-performance") {
                Some(p) if looks_genesys => {
                    preset = p;
                    &preset
                }
                _ => {
                    // The header's own cells are input (a file without its header row starts
                    // with a person's data): counted, never quoted.
                    let missing: Vec<&str> = ["agent_id", "date", "metric", "value"]
                        .into_iter()
                        .filter(|c| !header.iter().any(|h| h == c))
                        .collect();
                    return Err(WfmError::UnknownFormat {
                        file,
                        reason: format!(
                            "a CSV whose header ({} columns) is neither canonical (it lacks {}) nor a known export; pass --mapping for a wide CSV",
                            header.len(),
                            missing.join(",")
                        ),
                    });
                }
            }
        }
    };
    let (rows, warnings) = WideCsv::new(rdr, header, mapping, ctx)?;
    Ok((Box::new(rows), Format::WideCsv, warnings))
}

/// A single JSON document: a canonical array, an adherence download or an aggregates response.
fn open_document(format: Format, bytes: Vec<u8>, ctx: Ctx) -> Result<Opened, WfmError> {
    let file = ctx.source.to_string();
    let malformed = |e: json_scan::ScanError| WfmError::Malformed {
        file: file.clone(),
        line: e.line,
        reason: e.reason,
    };
    let top = json_scan::top_level(&bytes).map_err(malformed)?;
    let unknown = |reason: String| WfmError::UnknownFormat {
        file: file.clone(),
        reason,
    };
    match top {
        Top::Array(elements) => match format {
            Format::Auto | Format::CanonicalJson => {
                let rows = CanonicalArray {
                    bytes,
                    elements: elements.into_iter(),
                    index: 0,
                    ctx,
                };
                Ok((Box::new(rows), Format::CanonicalJson, Vec::new()))
            }
            _ => Err(unknown(format!(
                "a JSON array, not a {format} document (an object)"
            ))),
        },
        Top::Object(members) => {
            let member = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, s)| *s);
            let kind = match format {
                Format::GenesysAggregates => Format::GenesysAggregates,
                Format::GenesysAdherence => Format::GenesysAdherence,
                _ if member("results").is_some() => Format::GenesysAggregates,
                _ if member("userResults").is_some() || member("data").is_some() => {
                    Format::GenesysAdherence
                }
                _ => {
                    return Err(unknown(format!(
                        "a JSON object with {} members, none of them data, userResults or results: not a Genesys adherence download, an aggregates response, or canonical JSON",
                        members.len()
                    )));
                }
            };
            let array = |key: &str, span: Option<Span>| -> Result<Vec<Span>, WfmError> {
                let Some(span) = span else {
                    return Ok(Vec::new());
                };
                let raw = &bytes[span.start..span.end];
                if raw == b"null" {
                    return Ok(Vec::new());
                }
                if raw.first() != Some(&b'[') {
                    return Err(WfmError::Malformed {
                        file: file.clone(),
                        line: span.line,
                        reason: format!("`{key}` is not an array"),
                    });
                }
                match json_scan::top_level(raw) {
                    Ok(Top::Array(items)) => Ok(items
                        .into_iter()
                        .map(|s| {
                            // The scan of the sub-slice counts lines from 1: rebase onto the document.
                            Span {
                                start: span.start + s.start,
                                end: span.start + s.end,
                                line: span.line + s.line - 1,
                            }
                        })
                        .collect()),
                    Ok(Top::Object(_)) | Err(_) => Err(WfmError::Malformed {
                        file: file.clone(),
                        line: span.line,
                        reason: format!("`{key}` is not a well-formed array"),
                    }),
                }
            };
            if kind == Format::GenesysAggregates {
                if member("results").is_none() {
                    return Err(unknown(
                        "not an aggregates response: no `results` member".to_owned(),
                    ));
                }
                let elements = array("results", member("results"))?;
                return Ok((
                    Box::new(NestedRows::new(Aggregates::new(bytes, ctx), elements)),
                    kind,
                    Vec::new(),
                ));
            }
            let shape = if member("userResults").is_some() {
                AdherenceShape::Bulk
            } else if member("data").is_some() {
                AdherenceShape::PerManagementUnit
            } else {
                return Err(unknown(
                    "not an adherence download: no `data` or `userResults` member".to_owned(),
                ));
            };
            let bulk_start = match shape {
                AdherenceShape::PerManagementUnit => None,
                AdherenceShape::Bulk => {
                    let span = member("startDate").ok_or_else(|| WfmError::Malformed {
                        file: file.clone(),
                        line: 1,
                        reason:
                            "a bulk adherence result without `startDate`: its days cannot be placed"
                                .to_owned(),
                    })?;
                    let bad = |reason: String| WfmError::Malformed {
                        file: file.clone(),
                        line: span.line,
                        reason: format!("startDate: {reason}"),
                    };
                    let v = parse_element(&bytes[span.start..span.end], span.line)
                        .map_err(|(_, r)| bad(r))?;
                    let text = v
                        .as_str()
                        .ok_or_else(|| bad("expected a string".to_owned()))?;
                    Some(parse_instant(text).map_err(|e| bad(e.redacted()))?)
                }
            };
            let elements = array(shape.array(), member(shape.array()))?;
            Ok((
                Box::new(NestedRows::new(
                    Adherence::new(shape, bytes, bulk_start, ctx),
                    elements,
                )),
                kind,
                Vec::new(),
            ))
        }
    }
}
