//! `kudos check`: one line per part the run needs; exit 1 naming what failed, never a secret.

use kudos_sim::SimConfig;
use serde_json::Value;

use crate::run::Setup;
use crate::{lines, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_when_everything_is_in_place_and_names_what_is_not() {
    let s = Setup::new("check", SimConfig::default(), "").await;
    let out = s.kudos(&["check", "--config", "kudos.toml"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let checks: Vec<(String, bool)> = lines(&out)
        .iter()
        .map(|l| (l["check"].as_str().unwrap().to_owned(), l["ok"] == true))
        .collect();
    let names: Vec<&str> = checks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "configuration",
            "secrets",
            "store",
            "marketplace_token",
            "audit",
            "sources"
        ]
    );
    assert!(checks.iter().all(|(_, ok)| *ok), "{checks:?}");

    // A wrong client secret: the token check fails, naming the endpoint's refusal, and the
    // secret is not repeated anywhere.
    std::fs::write(s.dir.join("client-secret"), "wr0ng-s3cret-value\n").unwrap();
    let out = s.kudos(&["check", "--config", "kudos.toml"]).await;
    assert_eq!(out.status.code(), Some(1));
    let failed: Vec<Value> = lines(&out)
        .into_iter()
        .filter(|l| l["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["check"], "marketplace_token");
    assert!(text(&out.stderr).contains("failed: marketplace_token"));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("wr0ng-s3cret-value"), "{all}");

    // The pseudonym key missing: the secrets check names its key.
    let mut c = s.command(&["check", "--config", "kudos.toml"]);
    c.env_remove("KUDOS_TEST_PSEUDONYM_KEY");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let secrets = lines(&out)
        .into_iter()
        .find(|l| l["check"] == "secrets")
        .unwrap();
    assert!(
        secrets["error"]
            .as_str()
            .unwrap()
            .contains("privacy.pseudonym_key"),
        "{secrets}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_follows_the_conventions_of_rust_clis() {
    let s = Setup::new("conventions", SimConfig::default(), "").await;
    s.export("d.csv", &[(1, 150.0)]);
    // KUDOS_CONFIG names the configuration when --config does not.
    let mut c = s.command(&["check"]);
    c.current_dir(std::env::temp_dir())
        .env("KUDOS_CONFIG", s.dir.join("kudos.toml"));
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // RUST_LOG sets the filter; --log-format json writes one JSON object per line.
    let mut c = s.command(&[
        "run",
        "--config",
        "kudos.toml",
        "--as-of",
        "2026-03-10",
        "--log-format",
        "json",
    ]);
    c.env("RUST_LOG", "debug");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let logs: Vec<Value> = text(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(logs.iter().any(|l| l["level"] == "DEBUG"), "{logs:?}");
    // Completions for a shell.
    let out = s.kudos(&["completions", "bash"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("kudos"));
}

/// The Prometheus text file, parsed back: every sample has its HELP and TYPE, the figures are
/// the run's, and a run that stops keeps the time of the last one that finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::float_cmp,
    reason = "the file's figures are whole counts and a copied timestamp: equal exactly"
)]
async fn run_writes_its_figures_for_the_textfile_collector() {
    let s = Setup::new(
        "metrics-file",
        SimConfig::default(),
        "max_bad_row_ratio = 0.1",
    )
    .await;
    s.export("d.csv", &[(1, 150.0), (2, 250.0)]);
    let args = [
        "run",
        "--config",
        "kudos.toml",
        "--as-of",
        "2026-03-10",
        "--metrics-file",
        "kudos.prom",
    ];
    let out = s.kudos(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let parse = |path: &std::path::Path| {
        let body = std::fs::read_to_string(path).unwrap();
        let mut samples = std::collections::BTreeMap::new();
        let mut described = std::collections::BTreeSet::new();
        for line in body.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge"].contains(&kind), "{line}");
                described.insert(name.to_owned());
            } else if !line.starts_with('#') {
                let (name, value) = line.split_once(' ').unwrap();
                assert!(described.contains(name), "{name} has no TYPE");
                assert!(name.starts_with("kudos_"), "{name}");
                samples.insert(name.to_owned(), value.parse::<f64>().unwrap());
            }
        }
        samples
    };
    let first = parse(&s.dir.join("kudos.prom"));
    // 150 points: one reward of 100; 250: two.
    assert_eq!(first["kudos_rewards_issued_total"], 3.0, "{first:?}");
    assert_eq!(first["kudos_holds_total"], 3.0);
    assert_eq!(first["kudos_run_success"], 1.0);
    let good = first["kudos_run_last_success_timestamp_seconds"];
    assert_eq!(good, first["kudos_run_last_timestamp_seconds"]);
    // A run that stops (too many bad rows): success 0, the last good run's time kept.
    std::fs::write(
        s.dir.join("exports/e.csv"),
        "agent_id,date,metric,value\nx,2026-03-03,sales,nope\ny,2026-03-03,sales,nope\n",
    )
    .unwrap();
    let out = s.kudos(&args).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let second = parse(&s.dir.join("kudos.prom"));
    assert_eq!(second["kudos_run_success"], 0.0, "{second:?}");
    assert_eq!(second["kudos_run_last_success_timestamp_seconds"], good);
    assert_eq!(second["kudos_rows_rejected_total"], 2.0);
    assert!(!s.dir.join("kudos.prom.tmp").exists());
}
