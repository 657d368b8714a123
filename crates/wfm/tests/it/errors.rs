//! Bad input: every nasty fixture against a reviewed snapshot, and the promises users rely on —
//! row errors name the place and reason, file errors are distinct, nothing panics.

use expect_test::expect_file;
use kudos_wfm::{Mapping, ParseOptions, Records, WfmError};

use crate::{collect, options, render, render_bytes};

#[test]
fn canonical_csv_bad_rows_are_reported_and_the_rest_goes_on() {
    let got = render(
        "nasty/canonical_bad_rows.csv",
        &options("auto", "UTC", None),
    );
    expect_file!["snapshots/nasty_canonical_csv.txt"].assert_eq(&got);
}

#[test]
fn canonical_json_lines_bad_rows() {
    let got = render(
        "nasty/canonical_bad_rows.jsonl",
        &options("auto", "UTC", None),
    );
    expect_file!["snapshots/nasty_canonical_jsonl.txt"].assert_eq(&got);
}

#[test]
fn wide_csv_extra_columns_warn_and_bad_rows_are_rejected_whole() {
    let got = render(
        "nasty/wide_extra_column.csv",
        &options("auto", "America/New_York", None),
    );
    expect_file!["snapshots/nasty_wide.txt"].assert_eq(&got);
}

#[test]
fn genesys_bad_elements_are_rows_not_files() {
    let agg = render(
        "nasty/aggregates_bad_groups.json",
        &options("auto", "UTC", None),
    );
    expect_file!["snapshots/nasty_aggregates.txt"].assert_eq(&agg);
    let adh = render(
        "nasty/adherence_bad_rows.json",
        &options("auto", "UTC", None),
    );
    expect_file!["snapshots/nasty_adherence.txt"].assert_eq(&adh);
}

#[test]
fn file_errors() {
    let cases = [
        (
            "nasty/duplicate_header.csv",
            "auto",
            "!! duplicate_header.csv:1: column `date` appears twice (columns 2 and 5)\n",
        ),
        (
            "nasty/unexpected_column.csv",
            "auto",
            "!! unexpected_column.csv:1: column 5 `email` is not allowed here: canonical-csv allows only agent_id, date, metric, value and dim.<name> columns\n",
        ),
        (
            "nasty/missing_column.csv",
            "canonical-csv",
            "!! missing_column.csv:1: the header has no `metric` column\n",
        ),
        (
            "nasty/empty.csv",
            "auto",
            "!! empty.csv: the file is empty\n",
        ),
        (
            "nasty/truncated_array.json",
            "auto",
            "!! truncated_array.json:3: the document ends inside a string (truncated?)\n",
        ),
        (
            "nasty/unknown.json",
            "auto",
            "!! unknown.json: a JSON object with 1 members, none of them data, userResults or results: not a Genesys adherence download, an aggregates response, or canonical JSON\n",
        ),
        (
            "genesys/agent_performance_export.csv",
            "genesys-adherence",
            "!! agent_performance_export.csv:1: expected a JSON object or array, found a string\n",
        ),
        (
            "genesys/wfm_historical_adherence_download.json",
            "genesys-aggregates",
            "!! wfm_historical_adherence_download.json: not an aggregates response: no `results` member\n",
        ),
    ];
    for (rel, format, want) in cases {
        let name = rel.rsplit('/').next().unwrap();
        let bytes = std::fs::read(crate::fixture_dir().join(rel)).unwrap();
        assert_eq!(
            render_bytes(name, bytes, &options(format, "UTC", None)),
            want,
            "{rel} as {format}"
        );
    }
}

#[test]
fn a_truncated_json_lines_file_loses_only_its_last_line() {
    let got = render("nasty/truncated_lines.jsonl", &options("auto", "UTC", None));
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "u-1 2026-03-02 csat = 90 @1");
    assert!(
        lines[1].starts_with(
            "! nasty/truncated_lines.jsonl:2: invalid JSON: EOF while parsing a string"
        ),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "= 1 records, 1 rejected rows, 0 duplicates, format canonical-json"
    );
}

#[test]
fn bom_crlf_and_quotes_are_tolerated() {
    let got = render("nasty/bom_crlf.csv", &options("auto", "UTC", None));
    assert_eq!(
        got,
        "u-1 2026-03-02 csat = 90 @2\nu-2 2026-03-02 csat = 91.5 @3\n= 2 records, 0 rejected rows, 0 duplicates, format canonical-csv\n"
    );
}

#[test]
fn file_errors_and_row_errors_are_told_apart() {
    let (_, rows, file) = collect(
        "x.csv",
        b"agent_id,date,metric,value\nu,2026-03-02,m,NaN\n".to_vec(),
        &ParseOptions::default(),
    );
    assert_eq!(rows.len(), 1);
    assert!(file.is_none());
    let err =
        Records::from_reader("x.csv", &b"a,b\n1,2\n"[..], &ParseOptions::default()).unwrap_err();
    assert!(err.is_file_error() && err.as_row().is_none(), "{err}");
    assert!(
        err.to_string()
            .starts_with("x.csv: a CSV whose header (2 columns) is neither canonical (it lacks agent_id,date,metric,value)"),
        "{err}"
    );
}

#[test]
fn wide_csv_needs_a_mapping_and_a_strict_mapping_refuses_unknown_columns() {
    let csv = b"User,Day,Calls,Secret\nu-1,2026-03-02,4,x\n".to_vec();
    let (_, _, file) = collect("w.csv", csv.clone(), &options("wide-csv", "UTC", None));
    assert!(
        file.unwrap()
            .to_string()
            .contains("wide-csv needs a mapping")
    );
    let strict = Mapping::from_toml(
        "m.toml",
        "agent_id = 'User'\nday = 'Day'\n[metrics]\nCalls = 'calls'\n",
    )
    .unwrap();
    let (_, _, file) = collect(
        "w.csv",
        csv.clone(),
        &ParseOptions::default().with_mapping(strict),
    );
    assert_eq!(
        file.unwrap().to_string(),
        "w.csv:1: column 4 `Secret` is not allowed here: mapping m.toml does not classify it (add it to metrics, dimensions, pii or ignore)"
    );
    let ok = Mapping::from_toml(
        "m.toml",
        "agent_id = 'User'\nday = 'Day'\npii = ['secret']\n[metrics]\nCalls = 'calls'\n",
    )
    .unwrap();
    let (recs, rows, file) = collect("w.csv", csv, &ParseOptions::default().with_mapping(ok));
    assert!(file.is_none() && rows.is_empty());
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].metric.as_str(), recs[0].value), ("calls", 4.0));
}

#[test]
fn semicolon_exports_read_with_a_mapping_delimiter() {
    let mapping = Mapping::from_toml("m", "agent_id = 'Agent Id'\nday = 'Interval Start'\ndelimiter = ';'\n[metrics]\n'Avg Handle' = 'avg_handle'\n").unwrap();
    let csv = b"Agent Id;Interval Start;Avg Handle\nu-1;2026-03-02;306000\n".to_vec();
    let (recs, rows, file) = collect("s.csv", csv, &ParseOptions::default().with_mapping(mapping));
    assert!(rows.is_empty() && file.is_none());
    assert_eq!(recs[0].value, 306_000.0);
}

#[test]
fn huge_fields_are_rejected_rows_with_short_messages() {
    let big = "x".repeat(5 << 20);
    let csv = format!(
        "agent_id,date,metric,value\n{big},2026-03-02,m,1\nu-1,2026-03-02,m,{big}\nu-2,2026-03-02,m,3\n"
    );
    let (recs, rows, file) = collect("big.csv", csv.into_bytes(), &ParseOptions::default());
    assert!(file.is_none());
    assert_eq!(recs.len(), 1);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].to_string(),
        "big.csv:2: agent_id: agent id is 5242880 bytes long; at most 256 are allowed"
    );
    assert!(rows[1].to_string().len() < 200, "{}", rows[1]);
}

#[test]
fn agent_ids_that_are_email_addresses_are_refused_without_echoing_them() {
    let csv = b"agent_id,date,metric,value\njo.doe@example.com,2026-03-02,m,1\n".to_vec();
    let (recs, rows, _) = collect("e.csv", csv, &ParseOptions::default());
    assert!(recs.is_empty());
    let msg = rows[0].to_string();
    assert!(
        msg.contains("looks like an e-mail address") && !msg.contains("jo.doe"),
        "{msg}"
    );
}

#[test]
fn rows_beyond_the_header_width_are_rejected() {
    let csv = b"agent_id,date,metric,value\nu-1,2026-03-02,m,1,extra\n".to_vec();
    let (_, rows, _) = collect("w.csv", csv, &ParseOptions::default());
    assert_eq!(
        rows[0].to_string(),
        "w.csv:2: the row has 5 fields; the header has 4 (truncated or misquoted?)"
    );
}

#[test]
fn non_utf8_cells_are_row_errors() {
    let csv = b"agent_id,date,metric,value\nu-\xff,2026-03-02,m,1\nu-2,2026-03-02,m,2\n".to_vec();
    let (recs, rows, _) = collect("b.csv", csv, &ParseOptions::default());
    assert_eq!(recs.len(), 1);
    assert_eq!(
        rows[0].to_string(),
        "b.csv:2: agent_id: the cell is not valid UTF-8"
    );
}

#[test]
fn an_unreadable_file_is_a_file_error_naming_it() {
    let err = kudos_wfm::open("/nonexistent/export.csv", &ParseOptions::default()).unwrap_err();
    assert!(matches!(err, WfmError::Io { .. }));
    assert_eq!(err.to_string(), "/nonexistent/export.csv: cannot read");
}

#[test]
fn adherence_offsets_past_the_end_of_time_are_row_errors() {
    let doc = br#"{"data": [{"userId": "u-1", "startDate": "9999-12-31T23:00:00Z", "dayMetrics": [
        {"dayStartOffsetSecs": 999999999, "adherencePercentage": 1},
        {"dayStartOffsetSecs": 7200, "adherencePercentage": 1},
        {"dayStartOffsetSecs": 0, "adherencePercentage": 1}]}]}"#;
    let (recs, rows, file) = collect("end.json", doc.to_vec(), &ParseOptions::default());
    assert!(file.is_none());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].day.to_string(), "9999-12-31");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(row.reason.contains("outside years 1..=9999"), "{row}");
    }
}
