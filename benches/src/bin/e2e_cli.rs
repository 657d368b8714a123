//! The daily batch as a user runs it (issue 20): the `kudos` command in its own process, with
//! its audit file on and its SQLite ledger, against `kudos sim serve` in another process with a
//! fixed latency on every reward request. Prints the whole command's wall time against the
//! latency bound (rewards × latency / `max_in_flight`), each step's time (from the run's own
//! JSON log lines; the accrue step, which the issue step runs beside once its first batch is
//! appended, until issuing began and in all), the steps before issuing began against parsing
//! the same export alone, and the command's peak memory (`/usr/bin/time`). Against the same
//! simulator process it then measures two baselines: as many bare POSTs (the raw baseline), and
//! as many reward requests through the Kudos client alone, built from the run's `kudos.toml`
//! (no ledger, no audit trail, no store); and the simulator's CPU per request for each.
//!
//! ```sh
//! cargo build --release -p kudos-cli
//! cargo run --release -p kudos-benches --bin e2e_cli -- [AGENTS=20000] [LATENCY_MS=5] [IN_FLIGHT=16]
//! ```
//!
//! `KUDOS_BIN` names the `kudos` binary (default `target/release/kudos`).

#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::cast_precision_loss,
    reason = "a measurement program: it reads the wall clock and prints figures"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A reward request of the shape `kudos run` sends (a pseudonym, the tier, the timestamp).
const CLIENT_BODY: &str = r#"{"agent_id":"p_3f9c2a7e1b5d4c8a9e0f1a2b3c4d5e6f","reward_type":"gift_card_10_usd","points_consumed":100,"transaction_timestamp":"2026-03-10T06:00:00Z"}"#;

const RULES: &str = "window_days = 90\n[[rule]]\nid = 'sales'\nmetric = 'sales'\nper_unit = 1\n\
     [[rule]]\nid = 'aht'\nmetric = 'aht_secs'\nbands = [{ from = 0, to = 240, points = 1 }]\n\
     [[tier]]\nid = 'voucher'\nreward_type = 'gift_card_10_usd'\nthreshold = 100\n";

fn kudos_bin() -> PathBuf {
    std::env::var_os("KUDOS_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/kudos"),
        PathBuf::from,
    )
}

/// Starts `kudos sim serve` with a `latency` ms delay on every issue request; returns the
/// child and its base and token URLs.
fn simulator(dir: &Path, latency: u64) -> Result<(std::process::Child, String, String), Error> {
    let plan = dir.join("faults.toml");
    std::fs::write(
        &plan,
        format!(
            "[[fault]]\npath = '/v1/rewards/issue'\nprobability = 1.0\naction = 'delay'\ndelay_ms = {latency}\n"
        ),
    )?;
    let mut child = Command::new(kudos_bin())
        .args(["sim", "serve", "--addr", "127.0.0.1:0", "--faults"])
        .arg(&plan)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout from the simulator")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let urls: serde_json::Value = serde_json::from_str(&line)?;
    let url = |k: &str| {
        urls[k]
            .as_str()
            .map(str::to_owned)
            .ok_or("no URL from the simulator")
    };
    Ok((child, url("base_url")?, url("token_url")?))
}

/// A process's user + system CPU time so far, from `/proc/<pid>/stat` (0 where unreadable).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

/// Named instants, in seconds.
type Marks = Vec<(String, f64)>;

/// Each step's start, from the run's JSON log lines (`"step"` messages), and the end
/// (`"run finished"`), as seconds; and when each step that runs beside the next one (the
/// accrue step) finished (`"step finished"`).
fn steps(log: &str) -> (Marks, Marks) {
    let mut out = Vec::new();
    let mut finished = Vec::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let message = v["fields"]["message"].as_str().unwrap_or_default();
        let (name, to) = match message {
            "step" => (
                v["fields"]["step"].as_str().unwrap_or_default().to_owned(),
                &mut out,
            ),
            "step finished" => (
                v["fields"]["step"].as_str().unwrap_or_default().to_owned(),
                &mut finished,
            ),
            "run finished" => ("end".to_owned(), &mut out),
            _ => continue,
        };
        let Some(at) = v["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            continue;
        };
        to.push((name, at.timestamp_micros() as f64 / 1e6));
    }
    (out, finished)
}

fn main() -> Result<(), Error> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let agents = args.first().copied().unwrap_or(20_000);
    let latency = args.get(1).copied().unwrap_or(5);
    let in_flight = args.get(2).copied().unwrap_or(16);
    let dir = std::env::temp_dir().join(format!("kudos-e2e-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("exports"))?;
    let file = dir.join("exports/day.csv");
    std::fs::write(&file, kudos_benches::e2e_csv(agents))?;

    // Parsing alone, the baseline of the steps before issuing.
    let t = Instant::now();
    for r in kudos_wfm::open(&file, &kudos_wfm::ParseOptions::default())? {
        r?;
    }
    let parse_alone = t.elapsed().as_secs_f64();

    let (mut sim, base_url, token_url) = simulator(&dir, latency)?;
    std::fs::write(dir.join("rules.toml"), RULES)?;
    std::fs::write(dir.join("client-secret"), "kudos-sim-secret")?;
    std::fs::write(
        dir.join("kudos.toml"),
        format!(
            "[run]\nmax_in_flight = {in_flight}\n[[source]]\npath = \"exports/*.csv\"\n[rules]\npath = \"rules.toml\"\n\
             [store]\nurl = \"sqlite://kudos.db\"\n[marketplace]\nbase_url = \"{base_url}\"\n\
             integration_id = \"GENESYS-WFM-INTEGRATION-01\"\n[marketplace.oauth]\ntoken_url = \"{token_url}\"\n\
             client_id = \"kudos-sim-client\"\nclient_secret_file = \"client-secret\"\n\
             [privacy]\npseudonym_key_env = \"E2E_PSEUDONYM_KEY\"\n[audit]\npath = \"audit.jsonl\"\n"
        ),
    )?;
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M %U %S", "-o"])
        .arg(dir.join("time.txt"))
        .arg(kudos_bin())
        .args([
            "run",
            "--config",
            "kudos.toml",
            "--as-of",
            "2026-03-10",
            "--log-format",
            "json",
        ])
        .current_dir(&dir)
        .env("E2E_PSEUDONYM_KEY", "bench pseudonym key")
        .env("KUDOS_LOG", "info")
        .output()?;
    let wall = start.elapsed().as_secs_f64();
    let sim_cpu = cpu_seconds(sim.id());
    let summary: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or("no summary from kudos run")?;
    let issued = summary["issued"].as_u64().unwrap_or(0);
    // The raw baseline, same run, same simulator process: as many bare POSTs from this process.
    let (raw_ok, raw) = tokio::runtime::Runtime::new()?.block_on(kudos_benches::raw_posts(
        &base_url,
        &token_url,
        issued,
        usize::try_from(in_flight)?,
    ))?;
    let sim_cpu_raw = cpu_seconds(sim.id()) - sim_cpu;
    // The client's own baseline, same simulator: the Kudos marketplace client alone, built from
    // the run's configuration, sending bodies of the run's shape.
    let (client_ok, client) =
        tokio::runtime::Runtime::new()?.block_on(kudos_benches::client_posts(
            &dir.join("kudos.toml"),
            CLIENT_BODY.as_bytes(),
            issued,
            usize::try_from(in_flight)?,
        ))?;
    let _ = sim.kill();
    let _ = sim.wait();
    let time = kudos_benches::time_report(&dir.join("time.txt"))?;
    let peak_mib = time.first().map_or(0.0, |kb| kb / 1024.0);
    let run_cpu = time.get(1).unwrap_or(&0.0) + time.get(2).unwrap_or(&0.0);
    let bound = issued as f64 * latency as f64 / 1000.0 / in_flight as f64;
    println!(
        "agents {agents}, rows {}, latency {latency} ms, max_in_flight {in_flight}; kudos run and kudos sim serve in their own processes, audit file on, SQLite",
        agents * 6
    );
    println!("rewards issued {issued}, exit {:?}", out.status.code());
    println!(
        "the whole command: {wall:.2}s vs latency bound {bound:.2}s = {:.2}x",
        wall / bound
    );
    let raw = raw.as_secs_f64();
    println!(
        "raw baseline: {raw_ok} bare POSTs to the same simulator, {in_flight} at a time: {raw:.2}s = {:.2}x the bound; the whole command = {:.2}x the raw baseline",
        raw / bound,
        wall / raw
    );
    let client = client.as_secs_f64();
    println!(
        "client baseline: {client_ok} rewards through the Kudos client alone, {in_flight} at a time: {client:.2}s = {:.2}x the bound, {:.2}x the raw baseline; the whole command = {:.2}x the client baseline",
        client / bound,
        client / raw,
        wall / client
    );
    let (marks, finished) = steps(&String::from_utf8_lossy(&out.stderr));
    let mut before_issue = 0.0;
    for pair in marks.windows(2) {
        let ((name, from), (_, to)) = (&pair[0], &pair[1]);
        if name == "issue" {
            println!(
                "  {name:<9} {:.2}s ({:.2}x the raw baseline)",
                to - from,
                (to - from) / raw
            );
            continue;
        }
        // The accrue step runs beside the issue step once its first batch is appended.
        match finished.iter().find(|(n, _)| n == name) {
            Some((_, end)) => println!(
                "  {name:<9} {:.2}s before issuing began; {:.2}s in all, beside issuing",
                to - from,
                end - from
            ),
            None => println!("  {name:<9} {:.2}s", to - from),
        }
        if !marks
            .iter()
            .take_while(|(n, _)| n != name)
            .any(|(n, _)| n == "issue")
        {
            before_issue += to - from;
        }
    }
    println!(
        "steps before issuing began: {before_issue:.2}s vs parsing alone {parse_alone:.3}s = {:.1}x",
        before_issue / parse_alone
    );
    println!("peak memory of kudos run (max RSS): {peak_mib:.1} MiB");
    println!(
        "CPU time: kudos run {run_cpu:.2}s, the simulator {sim_cpu:.2}s; {:.2} of the 2 cores' {:.2}s",
        run_cpu + sim_cpu,
        2.0 * wall
    );
    println!(
        "the simulator's CPU a request: {:.0} µs for kudos run's, {:.0} µs for the raw baseline's",
        sim_cpu * 1e6 / issued.max(1) as f64,
        sim_cpu_raw * 1e6 / raw_ok.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
