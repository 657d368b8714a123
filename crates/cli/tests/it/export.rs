//! `kudos export parse`.

use crate::{fixture, kudos, text};

#[test]
fn export_parse_prints_the_contract_shape() {
    let file = fixture("genesys/agent_performance_export.csv");
    let out = kudos(&[
        "export",
        "parse",
        file.to_str().unwrap(),
        "--time-zone",
        "America/New_York",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 53);
    assert!(lines.iter().all(|l| l.as_object().unwrap().len() == 5));
    assert_eq!(
        stdout.lines().nth(2).unwrap(),
        r#"{"agent_id":"a1b2c3d4-0000-4000-8000-000000000001","date":"2026-03-02","metric":"avg_handle","value":306000.0,"dims":{"media_type":"voice"}}"#
    );
    let all = format!("{stdout}{}", text(&out.stderr));
    for pii in ["@", "Jordan", "Okafor", "Mei-Ling"] {
        assert!(!all.contains(pii), "{pii} leaked");
    }
}

#[test]
fn rejected_rows_go_to_stderr_with_place_and_reason_and_exit_3() {
    let file = fixture("nasty/canonical_bad_rows.csv");
    let out = kudos(&["export", "parse", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    let stderr = text(&out.stderr);
    let name = file.display();
    assert!(
        stderr.contains(&format!(
            "kudos: rejected row: {name}:5: value: \"NaN\" is not a finite number within ±2^53\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "kudos: {name}: 2 records, 11 rejected rows, 1 duplicates dropped (canonical-csv)"
        )),
        "{stderr}"
    );
}

#[test]
fn a_file_error_is_fatal_but_other_files_are_still_read() {
    let empty = fixture("nasty/empty.csv");
    let good = fixture("canonical/metrics.csv");
    let out = kudos(&[
        "export",
        "parse",
        empty.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 4);
    assert!(text(&out.stderr).contains(&format!(
        "kudos: error: {}: the file is empty",
        empty.display()
    )));
}

#[test]
fn files_are_read_in_the_order_given() {
    let a = fixture("canonical/metrics.jsonl");
    let b = fixture("canonical/metrics.csv");
    let out = kudos(&["export", "parse", b.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let metrics: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["metric"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        metrics,
        [
            "csat",
            "aht_secs",
            "csat",
            "compliance_breaches",
            "csat",
            "aht_secs",
            "csat"
        ]
    );
}

#[test]
fn usage_errors_exit_2_and_bad_settings_exit_1() {
    assert_eq!(kudos(&["export", "parse"]).status.code(), Some(2));
    assert_eq!(
        kudos(&["export", "parse", "--format", "xml", "f"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(kudos(&["export", "frobnicate"]).status.code(), Some(2));
    let file = fixture("canonical/metrics.csv");
    let out = kudos(&[
        "export",
        "parse",
        file.to_str().unwrap(),
        "--time-zone",
        "Mars/Olympus",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown time zone \"Mars/Olympus\""));
    let out = kudos(&[
        "export",
        "parse",
        file.to_str().unwrap(),
        "--mapping",
        "no-such-mapping.toml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("mapping no-such-mapping.toml: cannot read it"));
}

#[test]
fn every_shipped_genesys_sample_parses_cleanly() {
    for rel in [
        "genesys/wfm_historical_adherence_download.json",
        "genesys/wfm_historical_adherence_bulk.json",
        "genesys/analytics_conversations_aggregates_response.json",
        "genesys/analytics_surveys_aggregates_response.json",
        "genesys/analytics_users_aggregates_response.json",
        "genesys/analytics_evaluations_aggregates_response.json",
        "genesys/agent_performance_export.csv",
    ] {
        let out = kudos(&[
            "export",
            "parse",
            fixture(rel).to_str().unwrap(),
            "--time-zone",
            "America/New_York",
        ]);
        assert_eq!(out.status.code(), Some(0), "{rel}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty());
    }
}
