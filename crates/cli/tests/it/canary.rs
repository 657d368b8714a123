//! Nothing personal and no secret leaves, on any path out: a unique canary is planted in every
//! cell, header and marketplace answer, `kudos run` runs at the most verbose log level with a
//! local webhook receiver recording every alert, and every output — stdout, stderr, the audit
//! trail, the webhook bodies — is scanned for it.

use std::sync::{Arc, Mutex};

use kudos_sim::{FaultPlan, SimConfig};
use serde_json::Value;

use crate::run::Setup;
use crate::text;

/// Planted in input cells and headers: must never be seen.
const CELL: &str = "Cnry7cell";
/// Planted in a header (a dimension's name, which must be lower case).
const HEADER: &str = "cnry7dim";
/// The secrets of the setup, and the prefix of every access token the simulator issues: must
/// never be seen.
const SECRETS: [&str; 3] = ["kudos-sim-secret", "pseudonym-key", "sim-token-"];
/// What the marketplace echoes: shaped like personal data, so the detector must catch it.
const ECHO_EMAIL: &str = "cnry7.echo@example.com";
const ECHO_PHONE: &str = "+1 555 010 4477";

/// A webhook receiver on a local port; returns its URL and what it received.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// Every output of one `kudos run` at `RUST_LOG=trace` — every crate's events, the
/// dependencies' included (HTTP, TLS, SQL) — with the webhook's bodies.
async fn run_and_collect(s: &Setup, hook: &Arc<Mutex<Vec<String>>>) -> (Option<i32>, String) {
    let mut c = s.command(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"]);
    c.env_remove("KUDOS_LOG").env("RUST_LOG", "trace");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let audit = std::fs::read_to_string(s.dir.join("audit.jsonl")).unwrap_or_default();
    let webhook = hook.lock().unwrap().join("\n");
    let all = format!(
        "--- stdout\n{}\n--- stderr\n{}\n--- audit\n{audit}\n--- webhook\n{webhook}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (out.status.code(), all)
}

fn assert_clean(all: &str, planted: &[&str]) {
    for needle in planted.iter().chain(&SECRETS) {
        if let Some(at) = all.find(needle) {
            let from = all[..at].rfind("\n---").unwrap_or(0);
            let section = all[from..].lines().next().unwrap_or_default().to_owned();
            let start = at.saturating_sub(200);
            panic!(
                "{needle:?} leaked into {section}: …{}…",
                &all[start..(at + 100).min(all.len())]
            );
        }
    }
}

async fn setup(name: &str, sim: SimConfig) -> (Setup, Arc<Mutex<Vec<String>>>) {
    let s = Setup::new(name, sim, "max_bad_row_ratio = 0.9").await;
    let (url, got) = receiver().await;
    let path = s.dir.join("kudos.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{config}\n[alerts]\nwebhook_url = \"{url}\"\n"),
    )
    .unwrap();
    (s, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_run_leaks_no_cell_agent_id_answer_text_or_secret() {
    let sim = SimConfig {
        answer_echo: Some(format!("for {ECHO_EMAIL} ({ECHO_PHONE})")),
        faults: FaultPlan::from_toml(
            "[[fault]]\npath = \"/v1/rewards/issue\"\nnth = [2]\naction = \"rejected\"\n\
             [[fault]]\npath = \"/v1/rewards/issue\"\nnth = [3]\naction = \"status\"\nstatus = 422\n",
        )
        .unwrap(),
        ..SimConfig::default()
    };
    let (s, hook) = setup("canary-run", sim).await;
    // Agent ids, a dimension and its name, a bad value: each cell and header carries a canary.
    let mut csv = format!("agent_id,date,metric,value,dim.{HEADER}\n");
    for n in 1..=4 {
        csv.push_str(&format!(
            "{CELL}-agent-{n},2026-03-02,sales,150,{CELL}-team\n"
        ));
    }
    csv.push_str(&format!("{CELL}-agent-5,2026-03-02,sales,{CELL}-value,x\n"));
    csv.push_str(&format!("{CELL}-agent-6,{CELL}-date,sales,150,x\n"));
    csv.push_str(&format!("{CELL}-agent-7,2026-03-02,{HEADER}metric,150,x\n"));
    std::fs::write(s.dir.join("exports/d.csv"), csv).unwrap();
    let (code, all) = run_and_collect(&s, &hook).await;
    assert_eq!(
        code,
        Some(3),
        "rejections and review need attention:\n{all}"
    );
    // The run did meet every planted value: rewards issued, one rejected with the echo, one
    // in review, one bad row.
    assert!(all.contains("\"issued\":2"), "{all}");
    assert!(
        all.contains("reward_rejected") && all.contains("\"review\":1"),
        "{all}"
    );
    assert!(all.contains("rejected row"), "{all}");
    assert!(
        all.contains("[redacted]"),
        "the echo was met and scrubbed: {all}"
    );
    // Trace level really reached the client's attempt spans and the dependencies: hyper's
    // connection pool, sqlx's statements.
    for seen in [
        "kudos_client_attempt",
        "http1 handshake complete",
        "db.statement",
    ] {
        assert!(all.contains(seen), "{seen} not in:\n{all}");
    }
    assert_clean(&all, &[CELL, HEADER, ECHO_EMAIL, "555 010 4477"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_its_header_stops_the_run_without_quoting_it() {
    let (s, hook) = setup("canary-headerless", SimConfig::default()).await;
    std::fs::write(
        s.dir.join("exports/d.csv"),
        format!("{CELL} Jordan Reyes,{CELL}@example.com,2026-03-02,150\n{CELL}-2,x,y,1\n"),
    )
    .unwrap();
    let (code, all) = run_and_collect(&s, &hook).await;
    assert_eq!(code, Some(1), "a file error stops the run:\n{all}");
    assert!(all.contains("file_error") && all.contains("d.csv"), "{all}");
    assert_clean(&all, &[CELL]);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_out_of_the_exports_folder_is_refused_without_reading_it() {
    let (s, hook) = setup("canary-symlink", SimConfig::default()).await;
    let secret = s.dir.join("mounted-secret");
    std::fs::write(&secret, format!("{CELL}-secret-header,b\n1,2\n")).unwrap();
    std::os::unix::fs::symlink(&secret, s.dir.join("exports/zz.csv")).unwrap();
    s.export("a.csv", &[(1, 150.0)]);
    let (code, all) = run_and_collect(&s, &hook).await;
    assert_eq!(code, Some(1), "{all}");
    assert!(
        all.contains("zz.csv: refused: a symbolic link that leaves the source's directory"),
        "{all}"
    );
    assert_clean(&all, &[CELL]);
    // A link inside the folder is read like the file it points to.
    std::fs::remove_file(s.dir.join("exports/zz.csv")).unwrap();
    std::os::unix::fs::symlink(s.dir.join("exports/a.csv"), s.dir.join("exports/zz.csv")).unwrap();
    let (code, all) = run_and_collect(&s, &hook).await;
    assert_eq!(code, Some(0), "{all}");
    let summary: Value = serde_json::from_str(
        all.split("--- stderr")
            .next()
            .unwrap()
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["issued"], 1, "{summary}");
    // A pipe is not a file: refused, never opened (reading it would wait for a writer).
    let fifo = s.dir.join("exports/zz-pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (code, all) = run_and_collect(&s, &hook).await;
    assert_eq!(code, Some(1), "{all}");
    assert!(
        all.contains("zz-pipe.csv: refused: not a regular file"),
        "{all}"
    );
}
