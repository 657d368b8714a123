//! From Genesys Cloud to rewards: `kudos genesys pull` against the Genesys simulator, then
//! `kudos run` on what it staged, against the marketplace simulator — over real HTTP, as a
//! new user following docs/genesys.md would.

use kudos_sim::SimConfig;
use kudos_sim::genesys::{GenesysConfig, GenesysSimulator};
use serde_json::Value;

use crate::run::Setup;
use crate::{lines, text};

const RULES: &str = "
window_days = 90
[[rule]]
id = 'surveys'
metric = 'nSurveyResponses.count'
per_unit = 20
[[tier]]
id = 'thanks'
reward_type = 'gift_card_small'
threshold = 100
";

/// Adds a `[genesys]` table for `genesys` (the right secret in `genesys-secret`) and `extra`
/// keys to the setup's configuration.
fn with_genesys(s: &Setup, genesys: &GenesysSimulator, extra: &str) {
    std::fs::write(s.dir.join("genesys-secret"), "genesys-sim-secret\n").unwrap();
    let mut config = std::fs::read_to_string(s.dir.join("kudos.toml")).unwrap();
    config.push_str(&format!(
        "[genesys]\napi_url = \"{base}\"\nlogin_url = \"{base}\"\nclient_id = \"genesys-sim-client\"\n\
         client_secret_file = \"genesys-secret\"\ntime_zone = \"America/New_York\"\n{extra}",
        base = genesys.base_url()
    ));
    std::fs::write(s.dir.join("kudos.toml"), config).unwrap();
}

/// `kudos genesys pull` of the setup's configuration for `start..=end`.
fn pull(s: &Setup, start: &str, end: &str) -> std::process::Output {
    s.command(&[
        "genesys",
        "pull",
        "--config",
        "kudos.toml",
        "--start",
        start,
        "--end",
        end,
    ])
    .output()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_survey_aggregates_become_rewards_and_a_second_pull_changes_nothing() {
    let genesys = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let s = Setup::new("genesys-pull", SimConfig::default(), "").await;
    std::fs::write(s.dir.join("rules.toml"), RULES).unwrap();
    with_genesys(
        &s,
        &genesys,
        "staging = \"genesys\"\npull = [\"surveys\"]\n",
    );
    let pull_days = || pull(&s, "2026-03-02", "2026-03-03");

    let out = pull_days();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pulled = lines(&out);
    assert_eq!(pulled.len(), 2, "{pulled:?}");
    assert_eq!(pulled[0]["kind"], "surveys");
    assert_eq!(
        pulled[0]["interval"],
        "2026-03-02T05:00:00.000Z/2026-03-04T05:00:00.000Z"
    );
    assert_eq!(pulled[1]["written"], 1);
    assert!(!text(&out.stderr).contains("genesys-sim-secret"));

    // `kudos run` reads the staging directory as a source: five responses each, three rewards.
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary["issued"], 3, "{summary}");
    assert_eq!(s.sim.rewards().len(), 3);

    // The same days again: the simulator answers in another order; nothing is written, and
    // the next run finds nothing new.
    let out = pull_days();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let again = lines(&out);
    assert_eq!((again.len(), &again[0]["unchanged"]), (1, &Value::from(1)));
    let (_, summary) = s.run().await;
    assert_eq!(
        (&summary["records"], &summary["issued"]),
        (&Value::from(0), &Value::from(0))
    );
}

#[test]
fn a_pull_without_the_genesys_table_or_with_a_bad_day_says_so() {
    let dir = crate::scratch("genesys-bad");
    std::fs::write(dir.join("kudos.toml"), "[store]\nurl = \"memory://\"\n").unwrap();
    let config = dir.join("kudos.toml");
    let config = config.to_str().unwrap();
    let out = crate::kudos(&[
        "genesys",
        "pull",
        "--config",
        config,
        "--start",
        "2026-03-02",
        "--end",
        "2026-03-03",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("[genesys]"),
        "{}",
        text(&out.stderr)
    );
    let out = crate::kudos(&[
        "genesys",
        "pull",
        "--config",
        config,
        "--start",
        "2026-13-02",
        "--end",
        "2026-03-03",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--start"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_come_from_the_genesys_users_api_sealed_and_are_written_nowhere() {
    let genesys = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let s = Setup::new(
        "genesys-recipients",
        SimConfig {
            recipient_key: Some("recipient-secret".into()),
            ..SimConfig::default()
        },
        "",
    )
    .await;
    std::fs::write(s.dir.join("rules.toml"), RULES).unwrap();
    std::fs::write(s.dir.join("recipient-key"), "recipient-secret\n").unwrap();
    let config = std::fs::read_to_string(s.dir.join("kudos.toml"))
        .unwrap()
        .replace(
            "[privacy]\n",
            "[privacy]\nrecipient_fields = [\"email\"]\ndirectory = \"genesys\"\n\
             encryption_key_file = \"recipient-key\"\n",
        );
    std::fs::write(s.dir.join("kudos.toml"), config).unwrap();
    with_genesys(&s, &genesys, "pull = [\"surveys\"]\n");
    let out = pull(&s, "2026-03-02", "2026-03-03");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary["issued"], 3, "{summary}");
    let mut recipients: Vec<Value> = s
        .sim
        .rewards()
        .into_iter()
        .map(|r| r.recipient.unwrap().unwrap())
        .collect();
    recipients.sort_by_key(|r| r["email"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        recipients,
        [
            serde_json::json!({"email": "agent.1@example.com"}),
            serde_json::json!({"email": "agent.2@example.com"}),
            serde_json::json!({"email": "agent.3@example.com"}),
        ],
        "the marketplace opens the sealed field, and only it"
    );
    // The users were fetched with paging, once for the run, and their e-mail addresses are
    // in no request body in clear, in no output, no staged file and no audit record.
    let user_pages = genesys
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/users")
        .count();
    assert_eq!(user_pages, 1);
    let mut written = text(&out.stdout) + &text(&out.stderr);
    written.push_str(&std::fs::read_to_string(s.dir.join("audit.jsonl")).unwrap());
    for entry in std::fs::read_dir(s.dir.join("genesys")).unwrap() {
        written.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for r in s.sim.requests() {
        written.push_str(&r.body);
    }
    assert!(
        !written.contains("@example.com"),
        "an e-mail address leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_adherence_from_a_bulk_job_becomes_points_on_its_local_days() {
    let genesys = GenesysSimulator::start(GenesysConfig {
        polls_to_complete: 0,
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let s = Setup::new("genesys-adherence", SimConfig::default(), "").await;
    std::fs::write(
        s.dir.join("rules.toml"),
        "window_days = 90\n[[rule]]\nid = 'adherent'\nmetric = 'adherence_pct'\nper_unit = 1\n\
         [[tier]]\nid = 'thanks'\nreward_type = 'gift_card_small'\nthreshold = 150\n",
    )
    .unwrap();
    with_genesys(&s, &genesys, "pull = [\"adherence\"]\n");
    let out = pull(&s, "2026-03-08", "2026-03-09");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pulled = lines(&out);
    assert!(
        pulled[0]["kind"]
            .as_str()
            .unwrap()
            .starts_with("adherence-"),
        "{pulled:?}"
    );
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(summary["records"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["issued"].as_u64().unwrap() >= 1, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_can_pull_first_and_stops_before_anything_when_the_pull_fails() {
    let genesys = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let s = Setup::new("genesys-run-pulls", SimConfig::default(), "").await;
    std::fs::write(s.dir.join("rules.toml"), RULES).unwrap();
    with_genesys(
        &s,
        &genesys,
        "pull = [\"surveys\"]\npull_before_run_days = 8\n",
    );
    std::fs::write(s.dir.join("genesys-secret"), "not-the-secret\n").unwrap();
    // A refused client: the run says so and does nothing else.
    let out = s
        .kudos(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid_client"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("the pull from Genesys Cloud failed"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("not-the-secret"));
    assert!(s.sim.rewards().is_empty());

    // With the right secret, `kudos run` (day 2026-03-10) pulls 2 to 9 March, then issues.
    std::fs::write(s.dir.join("genesys-secret"), "genesys-sim-secret\n").unwrap();
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary["issued"], 3, "{summary}");
    let asked: Vec<String> = genesys
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["interval"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        asked,
        [
            "2026-03-02T05:00:00.000Z/2026-03-09T04:00:00.000Z",
            "2026-03-09T04:00:00.000Z/2026-03-10T04:00:00.000Z",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_that_brings_back_nothing_exits_3_and_says_what() {
    let genesys = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let s = Setup::new("genesys-empty", SimConfig::default(), "").await;
    with_genesys(&s, &genesys, "pull = [\"surveys\"]\n");
    let out = pull(&s, "2026-04-01", "2026-04-01");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning: no data for surveys 2026-04-01T04:00:00.000Z"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(lines(&out).last().unwrap()["empty"], 1);
}
