//! `kudos demo`: the first command a new user runs.

use crate::{kudos, text};

#[test]
fn the_demo_tells_what_happened_and_ends_with_the_summary() {
    let out = kudos(&["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for said in [
        "agent_performance_export.csv: 53 records, 0 rows rejected",
        "names and e-mail addresses in it: they were dropped",
        "agent …0001: +134 (adherence-bonus +10, calls-answered +79, csat-excellent +60, exception-penalty -15); balance now 94",
        "agent …0002: +22",
        "issued after 2 requests: the marketplace answered 503 first",
        "the answer was lost on the way back; the retry, under the same idempotency key, got the stored answer — one reward, not two",
        "rejected by the marketplace",
        "no agent id, name or e-mail address in any of them",
        "it verifies",
    ] {
        assert!(stdout.contains(said), "{said:?} not in:\n{stdout}");
    }
    assert_eq!(
        stdout.matches("issued on the first request").count(),
        2,
        "{stdout}"
    );
    for pii in ["Jordan", "jordan.reyes@example.com", "Okafor"] {
        assert!(!stdout.contains(pii), "{pii} printed");
    }
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            &summary["records"],
            &summary["holds"],
            &summary["issued"],
            &summary["rejected"],
            &summary["released"],
            &summary["alerts"]
        ),
        (
            &167.into(),
            &5.into(),
            &4.into(),
            &1.into(),
            &1.into(),
            &1.into()
        ),
        "{summary}"
    );
}

/// The demo's sample data lives inside the CLI crate (so the crate packages on its own); it is
/// the project's fixtures, byte for byte.
#[test]
fn the_demos_bundled_data_is_the_projects_fixtures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (bundled, original) in [
        (
            "wfm_historical_adherence_download.json",
            "fixtures/genesys/wfm_historical_adherence_download.json",
        ),
        (
            "analytics_surveys_aggregates_response.json",
            "fixtures/genesys/analytics_surveys_aggregates_response.json",
        ),
        (
            "agent_performance_export.csv",
            "fixtures/genesys/agent_performance_export.csv",
        ),
        ("demo.toml", "examples/rules/demo.toml"),
    ] {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(bundled);
        assert_eq!(
            std::fs::read(&data).unwrap(),
            std::fs::read(root.join(original)).unwrap(),
            "crates/cli/data/{bundled} differs from {original}: copy it again"
        );
    }
}
