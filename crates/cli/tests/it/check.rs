//! `kudos check`: one line per part the run needs; exit 1 naming what failed, never a secret.

use kudos_sim::SimConfig;
use serde_json::Value;

use crate::run::Setup;
use crate::text;

fn lines(out: &std::process::Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

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
