//! Every shipped fixture, parsed, against a reviewed snapshot (`UPDATE_EXPECT=1` rewrites).

use expect_test::expect_file;

use crate::{collect, fixture_dir, options, render};

#[test]
fn genesys_adherence_per_management_unit() {
    let got = render(
        "genesys/wfm_historical_adherence_download.json",
        &options("auto", "America/New_York", None),
    );
    expect_file!["snapshots/adherence_per_mu.txt"].assert_eq(&got);
}

#[test]
fn genesys_adherence_bulk_across_a_23_hour_day() {
    let got = render(
        "genesys/wfm_historical_adherence_bulk.json",
        &options("genesys-adherence", "America/New_York", None),
    );
    expect_file!["snapshots/adherence_bulk.txt"].assert_eq(&got);
}

#[test]
fn genesys_conversation_aggregates() {
    let got = render(
        "genesys/analytics_conversations_aggregates_response.json",
        &options("auto", "America/New_York", None),
    );
    expect_file!["snapshots/aggregates_conversations.txt"].assert_eq(&got);
}

#[test]
fn genesys_survey_aggregates() {
    let got = render(
        "genesys/analytics_surveys_aggregates_response.json",
        &options("genesys-aggregates", "America/New_York", None),
    );
    expect_file!["snapshots/aggregates_surveys.txt"].assert_eq(&got);
}

#[test]
fn genesys_user_aggregates_with_qualifiers_and_half_hours() {
    let got = render(
        "genesys/analytics_users_aggregates_response.json",
        &options("auto", "America/New_York", None),
    );
    expect_file!["snapshots/aggregates_users.txt"].assert_eq(&got);
}

#[test]
fn genesys_evaluation_aggregates_over_a_week() {
    let got = render(
        "genesys/analytics_evaluations_aggregates_response.json",
        &options("auto", "America/New_York", None),
    );
    expect_file!["snapshots/aggregates_evaluations.txt"].assert_eq(&got);
}

#[test]
fn genesys_agent_performance_csv_with_the_preset() {
    let got = render(
        "genesys/agent_performance_export.csv",
        &options(
            "wide-csv",
            "America/New_York",
            Some("genesys-agent-performance"),
        ),
    );
    expect_file!["snapshots/agent_performance.txt"].assert_eq(&got);
    // Auto detection picks the preset for this export by its header.
    let auto = render(
        "genesys/agent_performance_export.csv",
        &options("auto", "America/New_York", None),
    );
    assert_eq!(auto, got);
}

#[test]
fn canonical_formats_agree_with_each_other() {
    let csv = render("canonical/metrics.csv", &options("auto", "UTC", None));
    expect_file!["snapshots/canonical_csv.txt"].assert_eq(&csv);
    let array = render("canonical/metrics.json", &options("auto", "UTC", None));
    expect_file!["snapshots/canonical_json_array.txt"].assert_eq(&array);
    let lines = render("canonical/metrics.jsonl", &options("auto", "UTC", None));
    expect_file!["snapshots/canonical_json_lines.txt"].assert_eq(&lines);
}

#[test]
fn aht_from_aggregates_matches_the_performance_export() {
    // Both files describe the same calls: AHT (tHandle sum / count) must equal `Avg Handle`.
    let read = |rel: &str, o| collect(rel, std::fs::read(fixture_dir().join(rel)).unwrap(), &o).0;
    let agg = read(
        "genesys/analytics_conversations_aggregates_response.json",
        options("auto", "America/New_York", None),
    );
    let csv = read(
        "genesys/agent_performance_export.csv",
        options("auto", "America/New_York", None),
    );
    let mut compared = 0;
    for a in agg.iter().filter(|r| r.metric.as_str() == "tHandle.avg") {
        let c = csv
            .iter()
            .find(|r| r.metric.as_str() == "avg_handle" && r.agent == a.agent && r.day == a.day)
            .unwrap();
        assert!(
            (a.value - c.value).abs() < 1000.0,
            "{} {}: {} vs {}",
            a.agent,
            a.day,
            a.value,
            c.value
        );
        compared += 1;
    }
    assert_eq!(compared, 6);
}

#[test]
fn days_follow_the_zone_east_and_west_of_utc() {
    let rel = "genesys/wfm_historical_adherence_download.json";
    let days = |tz: &str| {
        let (recs, _, _) = collect(
            rel,
            std::fs::read(fixture_dir().join(rel)).unwrap(),
            &options("auto", tz, None),
        );
        let mut d: Vec<String> = recs.iter().map(|r| r.day.to_string()).collect();
        d.dedup();
        d.sort();
        d.dedup();
        d
    };
    // The query started at 2026-03-02T05:00Z: midnight in New York, 14:00 in Tokyo,
    // 19:00 the day before in Honolulu.
    assert_eq!(days("America/New_York"), ["2026-03-02", "2026-03-03"]);
    assert_eq!(days("Asia/Tokyo"), ["2026-03-02", "2026-03-03"]);
    assert_eq!(days("Pacific/Honolulu"), ["2026-03-01", "2026-03-02"]);
}

#[test]
fn no_personal_data_reaches_a_record() {
    for (rel, o) in [
        (
            "genesys/agent_performance_export.csv",
            options("auto", "UTC", None),
        ),
        ("nasty/wide_extra_column.csv", options("auto", "UTC", None)),
    ] {
        let (recs, rows, file) = collect(rel, std::fs::read(fixture_dir().join(rel)).unwrap(), &o);
        assert!(file.is_none());
        let mut text = serde_json::to_string(&recs).unwrap();
        for r in &rows {
            text.push_str(&r.to_string());
        }
        for pii in [
            "@",
            "example.com",
            "Jordan",
            "Reyes",
            "Okafor",
            "Chidi",
            "Mei-Ling",
            "555",
        ] {
            assert!(!text.contains(pii), "{rel}: {pii:?} leaked");
        }
        assert!(!recs.is_empty());
    }
}
