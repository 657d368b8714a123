//! Row errors that quote input: the full message (for the operator) shows the cell, the
//! redacted one (for logs) shows `"…"` in its place, and both keep file, line and column.

use kudos_wfm::{Cell, Mapping, ParseOptions, RowError};

use crate::{collect, options};

/// One rejected row and what each message must be.
struct Case {
    file: &'static str,
    input: &'static [u8],
    full: &'static str,
    redacted: &'static str,
    /// The cell's text as the reason quotes it.
    cell: &'static str,
    /// Whether the text is also in the location (a JSON member name in the path, which
    /// redaction keeps as the row's place).
    in_location: bool,
}

fn wide() -> ParseOptions {
    let mapping =
        Mapping::from_toml("m.toml", "agent_id = 'A'\nday = 'D'\n[metrics]\nX = 'x'").unwrap();
    options("wide-csv", "UTC", None).with_mapping(mapping)
}

/// Reads `case.input` and checks its one row error.
fn check(case: &Case, options: &ParseOptions) -> RowError {
    let (_, mut rows, file) = collect(case.file, case.input.to_vec(), options);
    assert!(file.is_none(), "{}: file error {file:?}", case.file);
    assert_eq!(rows.len(), 1, "{}: {rows:?}", case.file);
    let row = rows.remove(0);
    let (full, redacted) = (row.to_string(), row.redacted());
    assert_eq!(full, case.full);
    assert_eq!(redacted, case.redacted);
    // The cell is kept apart from the reason, and only the full message shows it.
    let quoted = format!("{:?}", case.cell);
    assert_eq!(row.cell, Some(Cell::Text(case.cell.to_owned())), "{full}");
    assert!(!row.reason.contains(case.cell), "{full}");
    assert!(full.contains(&quoted), "{full}");
    assert!(!redacted.contains(&quoted), "{redacted}");
    assert!(redacted.contains("\"…\""), "{redacted}");
    if !case.in_location {
        assert!(!redacted.contains(case.cell), "{redacted}");
    }
    // Both name the place: file, line and column or path.
    let place = match &row.location {
        Some(location) => format!("{}:{}: {location}: ", case.file, row.line),
        None => format!("{}:{}: ", case.file, row.line),
    };
    assert!(full.starts_with(&place), "{full}");
    assert!(redacted.starts_with(&place), "{redacted}");
    row
}

#[test]
fn csv_cells_are_shown_in_full_and_hidden_when_redacted() {
    let canonical = [
        Case {
            file: "v.csv",
            input: b"agent_id,date,metric,value\nu-1,2026-03-02,csat,Jane Doe\n",
            full: r#"v.csv:2: value: "Jane Doe" is not a number"#,
            redacted: r#"v.csv:2: value: "…" is not a number"#,
            cell: "Jane Doe",
            in_location: false,
        },
        Case {
            file: "v.csv",
            input: b"agent_id,date,metric,value\nu-1,2026-03-02,csat,1e400\n",
            full: r#"v.csv:2: value: "1e400" is not a finite number within ±2^53"#,
            redacted: r#"v.csv:2: value: "…" is not a finite number within ±2^53"#,
            cell: "1e400",
            in_location: false,
        },
        Case {
            file: "d.csv",
            input: b"agent_id,date,metric,value\nu-1,Jane Doe,csat,1\n",
            full: r#"d.csv:2: date: "Jane Doe" is not a valid day (expected YYYY-MM-DD)"#,
            redacted: r#"d.csv:2: date: "…" is not a valid day (expected YYYY-MM-DD)"#,
            cell: "Jane Doe",
            in_location: false,
        },
        Case {
            // kudos-core escapes a control character before quoting it; the cell holds that.
            file: "a.csv",
            input: b"agent_id,date,metric,value\nJane\x07Doe,2026-03-02,csat,1\n",
            full: r#"a.csv:2: agent_id: agent id "Jane\\u{7}Doe" contains a control character"#,
            redacted: r#"a.csv:2: agent_id: agent id "…" contains a control character"#,
            cell: r"Jane\u{7}Doe",
            in_location: false,
        },
    ];
    for case in &canonical {
        check(case, &ParseOptions::default());
    }
    let wide_cases = [
        Case {
            file: "w.csv",
            input: b"A,D,X\nu-1,Jane Doe,1\n",
            full: r#"w.csv:2: D: "Jane Doe" is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"#,
            redacted: r#"w.csv:2: D: "…" is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"#,
            cell: "Jane Doe",
            in_location: false,
        },
        Case {
            file: "w.csv",
            input: b"A,D,X\nu-1,0000-01-01 00:00:00,1\n",
            full: r#"w.csv:2: D: "0000-01-01 00:00:00" is outside years 1..=9999"#,
            redacted: r#"w.csv:2: D: "…" is outside years 1..=9999"#,
            cell: "0000-01-01 00:00:00",
            in_location: false,
        },
        Case {
            file: "w.csv",
            input: b"A,D,X\nu-1,2026-03-02,jane@example.com\n",
            full: r#"w.csv:2: X: "jane@example.com" is not a number"#,
            redacted: r#"w.csv:2: X: "…" is not a number"#,
            cell: "jane@example.com",
            in_location: false,
        },
    ];
    for case in &wide_cases {
        check(case, &wide());
    }
}

#[test]
fn long_cells_stay_clipped() {
    let name = "Jane Doe ".repeat(10);
    let csv = format!("agent_id,date,metric,value\nu-1,2026-03-02,csat,{name}x\n");
    let (_, rows, _) = collect("long.csv", csv.into_bytes(), &ParseOptions::default());
    let Some(Cell::Text(cell)) = &rows[0].cell else {
        panic!("no cell: {:?}", rows[0])
    };
    assert!(cell.ends_with("… (91 bytes)"), "{cell}");
    assert_eq!(
        rows[0].redacted(),
        r#"long.csv:2: value: "…" is not a number"#
    );
}

#[test]
fn json_fields_and_unparsable_lines_are_shown_in_full_and_hidden_when_redacted() {
    let cases = [
        Case {
            // A line that is not JSON at all is quoted whole (clipped).
            file: "l.jsonl",
            input: b"{\"agent_id\": \"u-1\", \"date\": \"2026-03-02\", \"metric\": \"m\", \"value\": 1}\n{\"agent_id\": \"Jane Doe\", \"date\": \n",
            full: r#"l.jsonl:2: invalid JSON: EOF while parsing a value (column 0): "{\"agent_id\": \"Jane Doe\", \"date\":""#,
            redacted: r#"l.jsonl:2: invalid JSON: EOF while parsing a value (column 0): "…""#,
            cell: r#"{"agent_id": "Jane Doe", "date":"#,
            in_location: false,
        },
        Case {
            file: "j.json",
            input: br#"[{"agent_id": " Jane Doe", "date": "2026-03-02", "metric": "m", "value": 1}]"#,
            full: r#"j.json:1: $[0].agent_id: agent id " Jane Doe" has whitespace at its start or end"#,
            redacted: r#"j.json:1: $[0].agent_id: agent id "…" has whitespace at its start or end"#,
            cell: " Jane Doe",
            in_location: false,
        },
        Case {
            file: "j.json",
            input: br#"[{"agent_id": "u-1", "date": "Jane Doe", "metric": "m", "value": 1}]"#,
            full: r#"j.json:1: $[0].date: "Jane Doe" is not a valid day (expected YYYY-MM-DD)"#,
            redacted: r#"j.json:1: $[0].date: "…" is not a valid day (expected YYYY-MM-DD)"#,
            cell: "Jane Doe",
            in_location: false,
        },
        Case {
            file: "j.json",
            input: br#"[{"agent_id": "u-1", "date": "2026-03-02", "metric": "Jane Doe ", "value": 1}]"#,
            full: r#"j.json:1: $[0].metric: metric name "Jane Doe " has whitespace at its start or end"#,
            redacted: r#"j.json:1: $[0].metric: metric name "…" has whitespace at its start or end"#,
            cell: "Jane Doe ",
            in_location: false,
        },
        Case {
            // The member name is also the row's place (its JSON path), which is kept.
            file: "j.json",
            input: br#"[{"agent_id": "u-1", "date": "2026-03-02", "metric": "m", "value": 1, "dims": {" team": "a"}}]"#,
            full: r#"j.json:1: $[0].dims. team: " team" is not a valid dimension name"#,
            redacted: r#"j.json:1: $[0].dims. team: "…" is not a valid dimension name"#,
            cell: " team",
            in_location: true,
        },
    ];
    for case in &cases {
        check(case, &ParseOptions::default());
    }
}

#[test]
fn genesys_fields_are_shown_in_full_and_hidden_when_redacted() {
    let adherence = Case {
        file: "adh.json",
        input: br#"{"data": [{"userId": "u-1", "startDate": "Jane Doe", "dayMetrics": []}]}"#,
        full: r#"adh.json:1: $.data[0].startDate: "Jane Doe" is not an RFC 3339 timestamp (premature end of input)"#,
        redacted: r#"adh.json:1: $.data[0].startDate: "…" is not an RFC 3339 timestamp (premature end of input)"#,
        cell: "Jane Doe",
        in_location: false,
    };
    check(&adherence, &ParseOptions::default());
    let group = |interval: &str| {
        format!(
            r#"{{"results": [{{"group": {{"userId": "u-1"}}, "data": [{{"interval": "{interval}", "metrics": []}}]}}]}}"#
        )
        .into_bytes()
        .leak()
    };
    let cases = [
        Case {
            file: "agg.json",
            input: group("Jane Doe"),
            full: r#"agg.json:1: $.results[0].data[0].interval: "Jane Doe" is not `start/end`"#,
            redacted: r#"agg.json:1: $.results[0].data[0].interval: "…" is not `start/end`"#,
            cell: "Jane Doe",
            in_location: false,
        },
        Case {
            file: "agg.json",
            input: group("2026-03-03T05:00:00Z/2026-03-02T05:00:00Z"),
            full: r#"agg.json:1: $.results[0].data[0].interval: the interval "2026-03-03T05:00:00Z/2026-03-02T05:00:00Z" ends before it starts"#,
            redacted: r#"agg.json:1: $.results[0].data[0].interval: the interval "…" ends before it starts"#,
            cell: "2026-03-03T05:00:00Z/2026-03-02T05:00:00Z",
            in_location: false,
        },
        Case {
            file: "agg.json",
            input: group("Jane/Doe"),
            full: r#"agg.json:1: $.results[0].data[0].interval: "Jane" is not an RFC 3339 timestamp (premature end of input)"#,
            redacted: r#"agg.json:1: $.results[0].data[0].interval: "…" is not an RFC 3339 timestamp (premature end of input)"#,
            cell: "Jane",
            in_location: false,
        },
        Case {
            file: "agg.json",
            input: br#"{"results": [{"group": {"userId": "u-1", "team ": "a"}, "data": []}]}"#,
            full: r#"agg.json:1: $.results[0].group.team : "team " is not a valid dimension name"#,
            redacted: r#"agg.json:1: $.results[0].group.team : "…" is not a valid dimension name"#,
            cell: "team ",
            in_location: true,
        },
        Case {
            file: "agg.json",
            input: br#"{"results": [{"group": {"userId": "u-1"}, "data": [{"interval": "2026-03-02T05:00:00Z/2026-03-03T05:00:00Z", "metrics": [{"metric": " Jane", "stats": {"sum": 1}}]}]}]}"#,
            full: r#"agg.json:1: $.results[0].data[0].metrics[0].metric: metric name " Jane.sum" has whitespace at its start or end"#,
            redacted: r#"agg.json:1: $.results[0].data[0].metrics[0].metric: metric name "…" has whitespace at its start or end"#,
            cell: " Jane.sum",
            in_location: false,
        },
    ];
    for case in &cases {
        check(case, &ParseOptions::default());
    }
}

#[test]
fn a_conflicting_duplicate_hides_its_dimensions_when_redacted() {
    let csv = b"agent_id,date,metric,value,dim.queue\nu-1,2026-03-02,csat,1,Jane Doe\nu-1,2026-03-02,csat,2,Jane Doe\n";
    let (recs, rows, _) = collect("dup.csv", csv.to_vec(), &ParseOptions::default());
    assert_eq!((recs.len(), rows.len()), (1, 1));
    let row = &rows[0];
    assert_eq!(
        row.to_string(),
        r#"dup.csv:3: csat: conflicting duplicate: day 2026-03-02, metric csat, dims {"queue": "Jane Doe"} was already read with value 1, here it is 2"#
    );
    assert_eq!(
        row.redacted(),
        r#"dup.csv:3: csat: conflicting duplicate: day 2026-03-02, metric csat, dims "…" was already read with value 1, here it is 2"#
    );
    assert!(matches!(&row.cell, Some(Cell::Dims(d)) if d["queue"] == "Jane Doe"));
    // Without dimensions there is nothing to hide.
    let csv = b"agent_id,date,metric,value\nu-1,2026-03-02,csat,1\nu-1,2026-03-02,csat,2\n";
    let (_, rows, _) = collect("dup.csv", csv.to_vec(), &ParseOptions::default());
    assert_eq!(rows[0].cell, None);
    assert_eq!(rows[0].redacted(), rows[0].to_string());
}

#[test]
fn rows_that_quote_no_input_read_the_same_redacted() {
    let csv = b"agent_id,date,metric,value\n,2026-03-02,csat,1\nu-1,2026-03-02,csat,1,x\n";
    let (_, rows, _) = collect("n.csv", csv.to_vec(), &ParseOptions::default());
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.cell, None, "{row}");
        assert_eq!(row.redacted(), row.to_string());
    }
}

/// File errors: the header, a member name or the first text of a file is input (a CSV
/// without its header row starts with a person's data). The redacted message never quotes
/// it; most file errors quote no input at all, whichever message.
#[test]
fn file_errors_never_quote_the_file_in_their_redacted_message() {
    use kudos_wfm::Records;
    const C: &str = "Canary7q";
    let cases: [(&str, String, &str, bool); 7] = [
        (
            "no-header.csv",
            format!("{C} Jordan,{C}@example.com,2026-03-02,7\n{C},x,y,z\n"),
            "auto",
            true,
        ),
        (
            "extra.csv",
            format!("agent_id,date,metric,value,{C}!\na,2026-03-02,m,1\n"),
            "canonical-csv",
            false,
        ),
        (
            "twice.csv",
            format!("agent_id,date,metric,value,{C},{C}\na,2026-03-02,m,1,1,1\n"),
            "auto",
            false,
        ),
        (
            "members.json",
            format!("{{\"{C}\": 1, \"{C}x\": 2}}"),
            "auto",
            true,
        ),
        (
            "dup.json",
            format!("{{\"data\": [], \"{C}\": 1, \"{C}\": 2}}"),
            "auto",
            true,
        ),
        (
            "text.json",
            format!("{C} is not json"),
            "genesys-aggregates",
            true,
        ),
        ("colon.json", format!("{{\"{C}\" 1}}"), "auto", true),
    ];
    for (name, text, format, display_clean) in cases {
        let input = std::io::Cursor::new(text.into_bytes());
        let err = match Records::from_reader(name, input, &options(format, "UTC", None)) {
            Err(e) => e,
            Ok(mut records) => records
                .find_map(Result::err)
                .unwrap_or_else(|| panic!("{name}: no error")),
        };
        assert!(err.is_file_error(), "{name}: {err}");
        assert!(!err.redacted().contains(C), "{name}: {}", err.redacted());
        assert!(
            err.redacted().starts_with(name),
            "{name}: {}",
            err.redacted()
        );
        if display_clean {
            assert!(!err.to_string().contains(C), "{name}: {err}");
        }
    }
}
