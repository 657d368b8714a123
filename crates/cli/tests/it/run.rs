//! `kudos run` and `kudos review` against the simulator over real HTTP: the summary line, exit
//! codes, a dry run, the operator's verbs, a killed run recovered, two processes on one
//! PostgreSQL ledger.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kudos_sim::{FaultPlan, SimConfig, Simulator};
use serde_json::Value;

use crate::{scratch, text};

const RULES: &str = "
window_days = 90
[[rule]]
id = 'sales'
metric = 'sales'
per_unit = 1
[[tier]]
id = 'small'
reward_type = 'gift_card_small'
threshold = 100
";

pub(crate) fn agent(n: u32) -> String {
    format!("a1b2c3d4-0000-4000-8000-{n:012}")
}

pub(crate) struct Setup {
    pub(crate) dir: PathBuf,
    pub(crate) sim: Simulator,
}

impl Setup {
    pub(crate) async fn new(name: &str, sim: SimConfig, extra: &str) -> Self {
        Self::with_store(name, sim, extra, "sqlite://kudos.db").await
    }

    pub(crate) async fn with_store(name: &str, sim: SimConfig, extra: &str, store: &str) -> Self {
        let dir = scratch(name);
        let sim = Simulator::start(sim).await.unwrap();
        std::fs::create_dir_all(dir.join("exports")).unwrap();
        std::fs::write(dir.join("rules.toml"), RULES).unwrap();
        std::fs::write(dir.join("client-secret"), "kudos-sim-secret\n").unwrap();
        let config = format!(
            r#"[run]
lease_secs = 3
{extra}
[[source]]
path = "exports/*.csv"
[rules]
path = "rules.toml"
[store]
url = "{store}"
[marketplace]
base_url = "{base}"
integration_id = "GENESYS-WFM-INTEGRATION-01"
max_retries = 1
metadata = {{ source_platform = "Genesys Cloud CX" }}
[marketplace.oauth]
token_url = "{token}"
client_id = "kudos-sim-client"
client_secret_file = "client-secret"
[privacy]
pseudonym_key_env = "KUDOS_TEST_PSEUDONYM_KEY"
[audit]
path = "audit.jsonl"
"#,
            base = sim.base_url(),
            token = sim.token_url(),
        );
        std::fs::write(dir.join("kudos.toml"), config).unwrap();
        Self { dir, sim }
    }

    pub(crate) fn export(&self, name: &str, rows: &[(u32, f64)]) {
        let mut csv = String::from("agent_id,date,metric,value\n");
        for (a, v) in rows {
            csv.push_str(&format!("{},2026-03-02,sales,{v}\n", agent(*a)));
        }
        std::fs::write(self.dir.join("exports").join(name), csv).unwrap();
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kudos"));
        c.args(args)
            .current_dir(&self.dir)
            .env("KUDOS_TEST_PSEUDONYM_KEY", "pseudonym-key")
            .env_remove("KUDOS_LOG");
        c
    }

    /// Runs `kudos` on a blocking thread, so the in-process simulator keeps serving.
    pub(crate) async fn kudos(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    /// Two `kudos run` processes on the same day, started at once; their outputs.
    pub(crate) async fn two_runs(&self) -> (Output, Output) {
        let spawn = || {
            self.command(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"])
                .stderr(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        tokio::task::spawn_blocking(move || {
            (a.wait_with_output().unwrap(), b.wait_with_output().unwrap())
        })
        .await
        .unwrap()
    }

    pub(crate) async fn run(&self) -> (Output, Value) {
        let out = self
            .kudos(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"])
            .await;
        let summary = last_line(&out);
        (out, summary)
    }
}

pub(crate) fn last_line(out: &Output) -> Value {
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no stdout; stderr: {}", text(&out.stderr)));
    serde_json::from_str(line).unwrap()
}

pub(crate) fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_the_summary_last_and_a_second_run_issues_nothing() {
    let s = Setup::new("run-ok", SimConfig::default(), "").await;
    s.export("d.csv", &[(1, 250.0), (2, 50.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    for key in [
        "records",
        "rejected_rows",
        "future_rows",
        "events",
        "holds",
        "issued",
        "rejected",
        "released",
        "in_doubt",
        "review",
        "reversed",
        "recovered",
        "alerts",
    ] {
        assert!(
            keys.iter().any(|k| *k == key),
            "{key} missing from {summary}"
        );
    }
    assert_eq!((n(&summary, "records"), n(&summary, "issued")), (2, 2));
    assert_eq!(s.sim.rewards().len(), 2);
    // Plain log lines on stderr when it is not a terminal; no agent id in them.
    let log = text(&out.stderr);
    assert!(log.contains("run finished"), "{log}");
    assert!(!log.contains(&agent(1)), "{log}");

    let (out, again) = s.run().await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!((n(&again, "records"), n(&again, "issued")), (0, 0));
    assert_eq!(s.sim.rewards().len(), 2);

    // Even at debug level, no secret and no agent id reaches the log.
    s.export("more.csv", &[(3, 100.0)]);
    let mut c = s.command(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"]);
    c.env("KUDOS_LOG", "debug");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(n(&last_line(&out), "issued"), 1);
    let log = text(&out.stderr);
    assert!(log.contains("DEBUG"), "{log}");
    for secret in ["kudos-sim-secret", "pseudonym-key", "Bearer", &agent(3)] {
        assert!(!log.contains(secret), "{secret} in the log");
    }

    let verify = s
        .kudos(&["audit", "verify", "--config", "kudos.toml"])
        .await;
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    assert_eq!(n(&last_line(&verify), "runs"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_row_is_logged_by_file_line_and_column_without_the_cell_text() {
    let s = Setup::new("run-redacted-row", SimConfig::default(), "").await;
    let mut csv = String::from("agent_id,date,metric,value\n");
    for a in 1..=40 {
        csv.push_str(&format!("{},2026-03-02,sales,10\n", agent(a)));
    }
    // A name pasted into a metric cell: line 42.
    csv.push_str(&format!("{},2026-03-02,sales,Jane Doe\n", agent(41)));
    std::fs::write(s.dir.join("exports/day.csv"), csv).unwrap();
    let mut c = s.command(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"]);
    c.env("KUDOS_LOG", "debug");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let summary = last_line(&out);
    assert_eq!(
        (n(&summary, "records"), n(&summary, "rejected_rows")),
        (40, 1)
    );
    let log = text(&out.stderr);
    assert!(log.contains("rejected row"), "{log}");
    assert!(log.contains("day.csv:42: value:"), "{log}");
    assert!(log.contains("is not a number"), "{log}");
    assert!(
        !log.contains("Jane"),
        "the cell's text reached the log: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attention_is_exit_3_and_a_stopped_run_is_exit_1() {
    let mut sim = SimConfig::default();
    sim.inventory.insert("gift_card_small".into(), 0);
    let s = Setup::new("run-attention", sim, "").await;
    s.export("d.csv", &[(1, 100.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!((n(&summary, "rejected"), n(&summary, "alerts")), (1, 1));
    assert!(text(&out.stderr).contains("reward_rejected"));

    std::fs::write(
        s.dir.join("exports/bad.csv"),
        format!(
            "agent_id,date,metric,value\n{},not-a-day,sales,1\n",
            agent(3)
        ),
    )
    .unwrap();
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("stopped before issuing"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(n(&summary, "holds"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_or_a_bad_key_is_exit_1_naming_the_key() {
    let s = Setup::new("run-secret", SimConfig::default(), "").await;
    let out = s
        .command(&["run", "--config", "kudos.toml"])
        .env_remove("KUDOS_TEST_PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("privacy.pseudonym_key"), "{err}");
    assert!(out.stdout.is_empty());

    let s = Setup::new("run-badkey", SimConfig::default(), "max_in_flgiht = 3").await;
    let out = s.kudos(&["run", "--config", "kudos.toml"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("max_in_flgiht"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_what_would_happen_and_changes_nothing() {
    let s = Setup::new("run-dry", SimConfig::default(), "").await;
    s.export("d.csv", &[(1, 300.0)]);
    let out = s
        .kudos(&[
            "run",
            "--config",
            "kudos.toml",
            "--as-of",
            "2026-03-10",
            "--dry-run",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(n(&last_line(&out), "issued"), 3);
    assert!(s.sim.requests().is_empty());
    assert!(
        !s.dir.join("audit.jsonl").exists()
            || std::fs::read(s.dir.join("audit.jsonl")).unwrap().is_empty()
    );
    let balance = s
        .kudos(&[
            "ledger",
            "--config",
            "kudos.toml",
            "balance",
            &agent(1),
            "--as-of",
            "2026-03-10",
        ])
        .await;
    assert_eq!(
        n(&last_line(&balance), "available"),
        0,
        "nothing was accrued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_lists_retries_and_settles_holds() {
    let plan =
        "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1, 2]\naction = 'status'\nstatus = 422";
    let s = Setup::new(
        "review",
        SimConfig {
            faults: FaultPlan::from_toml(plan).unwrap(),
            ..SimConfig::default()
        },
        "",
    )
    .await;
    s.export("d.csv", &[(1, 100.0), (2, 100.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(n(&summary, "review"), 2);
    let list = s.kudos(&["review", "list", "--config", "kudos.toml"]).await;
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    let holds: Vec<Value> = text(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(holds.len(), 2);
    assert_eq!(holds[0]["agent_id"], agent(1).as_str(), "sorted by agent");
    assert_eq!(holds[0]["state"], "review");
    assert_eq!(
        holds[0]["kind"], "hold",
        "every review line says what it is"
    );
    let first = holds[0]["txn_id"].as_str().unwrap().to_owned();
    let second = holds[1]["txn_id"].as_str().unwrap().to_owned();

    let retried = s
        .kudos(&["review", "retry", &first, "--config", "kudos.toml"])
        .await;
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried.stderr));
    assert_eq!(last_line(&retried)["state"], "committed");
    let settled = s
        .kudos(&[
            "review",
            "settle",
            &second,
            "--not-issued",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(settled.status.code(), Some(0), "{}", text(&settled.stderr));
    assert_eq!(last_line(&settled)["state"], "released");
    assert_eq!(s.sim.rewards().len(), 1);
    let list = s.kudos(&["review", "list", "--config", "kudos.toml"]).await;
    assert!(list.stdout.is_empty());
    // Settling needs --issued or --not-issued.
    let usage = s
        .kudos(&["review", "settle", &first, "--config", "kudos.toml"])
        .await;
    assert_eq!(usage.status.code(), Some(2));
    let again = s
        .kudos(&[
            "review",
            "settle",
            &first,
            "--issued",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already resolved"),
        "{}",
        text(&again.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_settle_refuses_what_the_marketplace_contradicts_unless_forced() {
    // Issued, but answered PENDING: in doubt, and the reward exists.
    let plan = "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'pending'";
    let s = Setup::new(
        "review-refused",
        SimConfig {
            faults: FaultPlan::from_toml(plan).unwrap(),
            ..SimConfig::default()
        },
        "",
    )
    .await;
    s.export("d.csv", &[(1, 100.0)]);
    let (out, _) = s.run().await;
    assert_eq!(out.status.code(), Some(3));
    let list = s.kudos(&["review", "list", "--config", "kudos.toml"]).await;
    let txn = serde_json::from_str::<Value>(text(&list.stdout).lines().next().unwrap()).unwrap()
        ["txn_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let settle = |force: bool| {
        let mut args = vec![
            "review",
            "settle",
            txn.as_str(),
            "--not-issued",
            "--operator",
            "dana",
            "--config",
            "kudos.toml",
        ];
        if force {
            args.push("--force");
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let refused = s
        .kudos(&settle(false).iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("refused") && stderr.contains("the marketplace says the reward is issued"),
        "{stderr}"
    );
    let forced = s
        .kudos(&settle(true).iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert_eq!(last_line(&forced)["state"], "released");
    let audit = std::fs::read_to_string(s.dir.join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"event\":\"review_refused\""));
    assert!(audit.contains("\"operator\":\"dana\"") && audit.contains("\"forced\":true"));
}

/// Waits until `path` contains `needle`.
async fn wait_for(path: &Path, needle: &str) {
    for _ in 0..200 {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{needle} never appeared in {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_between_hold_and_answer_is_recovered_by_the_next_run() {
    let plan =
        "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'delay'\ndelay_ms = 2000";
    let s = Setup::new(
        "killed",
        SimConfig {
            faults: FaultPlan::from_toml(plan).unwrap(),
            ..SimConfig::default()
        },
        "",
    )
    .await;
    s.export("d.csv", &[(1, 100.0)]);
    let mut child = s
        .command(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&s.dir.join("audit.jsonl"), "hold_made").await;
    for _ in 0..100 {
        if !s
            .sim
            .requests()
            .iter()
            .any(|r| r.path == "/v1/rewards/issue")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    child.kill().unwrap(); // SIGKILL: no clean-up of any kind
    child.wait().unwrap();

    let holds = s
        .kudos(&[
            "ledger",
            "--config",
            "kudos.toml",
            "holds",
            "--state",
            "open",
        ])
        .await;
    assert_eq!(
        text(&holds.stdout).lines().count(),
        1,
        "the hold outlived the process"
    );

    // Once the lease lapses (3 s) the next run takes the hold up: it asks the marketplace
    // what became of it and settles it, without a second reward.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        (
            n(&summary, "recovered"),
            n(&summary, "issued"),
            n(&summary, "holds")
        ),
        (1, 1, 0),
        "{summary}"
    );
    assert_eq!(s.sim.rewards().len(), 1);
    let committed = s
        .kudos(&[
            "ledger",
            "--config",
            "kudos.toml",
            "holds",
            "--state",
            "committed",
        ])
        .await;
    assert_eq!(text(&committed.stdout).lines().count(), 1);
    let verify = s
        .kudos(&["audit", "verify", "--config", "kudos.toml"])
        .await;
    assert_eq!(
        verify.status.code(),
        Some(0),
        "a killed run's chain is a prefix, still valid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_ledger_issue_every_reward_once() {
    let Some(base) = crate::postgres("the PostgreSQL run test") else {
        return;
    };
    let schema = format!("kudos_cli_run_{}", std::process::id());
    // The release's migrations by the operator's own role; the batch as a role that may only
    // read and write rows.
    let url = crate::service_schema(&base, &schema);
    let s = Setup::with_store("pg-two", SimConfig::default(), "", &url).await;
    let rows: Vec<(u32, f64)> = (1..=30).map(|a| (a, 300.0)).collect();
    s.export("d.csv", &rows);
    let (a, b) = s.two_runs().await;
    let issued = n(&last_line(&a), "issued") + n(&last_line(&b), "issued");
    assert_eq!(issued, 90, "{} {}", text(&a.stdout), text(&b.stdout));
    assert_eq!(s.sim.rewards().len(), 90);
    let ids: std::collections::HashSet<String> =
        s.sim.rewards().into_iter().map(|r| r.request_id).collect();
    assert_eq!(ids.len(), 90);
    crate::drop_schema(&base, &schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_url_in_an_error_is_named_without_its_password() {
    let s = Setup::with_store(
        "run-store-password",
        SimConfig::default(),
        "",
        // A scheme this build does not have: refused at once (a database that does not answer
        // takes the pool's acquire timeout to say so; the message is made the same way).
        "mysql://kudos:canary-s3cret@127.0.0.1:1/kudos?password=canary-too",
    )
    .await;
    s.export("d.csv", &[(1, 100.0)]);
    let out = s
        .kudos(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"])
        .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mysql://kudos:***@127.0.0.1:1/kudos?password=***"),
        "the store is named: {stderr}"
    );
    assert!(!stderr.contains("canary"), "no password: {stderr}");
    assert!(!text(&out.stdout).contains("canary"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_points_overflow_is_logged_by_pseudonym_not_agent_id() {
    let s = Setup::new(
        "run-overflow-log",
        SimConfig::default(),
        "max_bad_row_ratio = 0.9",
    )
    .await;
    std::fs::write(
        s.dir.join("rules.toml"),
        RULES.replace("per_unit = 1", "per_unit = 1000000"),
    )
    .unwrap();
    // 9e15 sales at a million points each: beyond the integer range, rejected by the rules.
    s.export("d.csv", &[(1, 9e15), (2, 50.0)]);
    let mut c = s.command(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"]);
    c.env("KUDOS_LOG", "debug");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a rejected row needs attention: {stderr}"
    );
    assert!(
        stderr.contains("rejected row: rule sales, day 2026-03-02: the value gives points beyond the integer range"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&agent(1)),
        "no agent id in the log: {stderr}"
    );
    assert!(
        !stderr.contains("1e300") && !stderr.contains("1000000000000000"),
        "{stderr}"
    );
}
