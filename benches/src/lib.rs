//! Data generators for the Kudos benches and one-shot measurements.
//!
//! # Example
//!
//! ```
//! let csv = kudos_benches::canonical_csv(3);
//! assert_eq!(csv.lines().count(), 4); // the header and three rows
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The shapes are fixed so figures stay comparable between runs: 2,000 agents, 10 metrics per
//! agent and day (canonical), and the nine metric columns of a Genesys agent performance export
//! (wide). Every row has a distinct (agent, day, metric), as a real export does.

use std::fmt::Write as _;

/// Agents in generated data.
pub const AGENTS: usize = 2_000;
const METRICS: [&str; 10] = [
    "tHandle.avg",
    "tTalk.avg",
    "tAcw.avg",
    "oSurveyTotalScore.avg",
    "adherence_pct",
    "conformance_pct",
    "answered",
    "transfers",
    "holds",
    "exception_count",
];

fn day(n: usize) -> String {
    // Days from 2026-01-01, 28-day months keep the arithmetic obvious and every date valid.
    format!("2026-{:02}-{:02}", 1 + (n / 28) % 12, 1 + n % 28)
}

/// A canonical CSV of `rows` rows (plus the header): agent-major, then day, then metric.
#[must_use]
pub fn canonical_csv(rows: usize) -> String {
    let mut out = String::with_capacity(rows * 70 + 40);
    out.push_str("agent_id,date,metric,value\n");
    for i in 0..rows {
        let metric = METRICS[i % METRICS.len()];
        let rest = i / METRICS.len();
        let (agent, d) = (rest % AGENTS, rest / AGENTS);
        let _ = writeln!(
            out,
            "a1b2c3d4-0000-4000-8000-{agent:012},{},{metric},{}.{}",
            day(d),
            100 + (i * 7919) % 900,
            i % 100
        );
    }
    out
}

/// A wide CSV shaped like the Genesys agent performance export, `rows` agent-days long.
#[must_use]
pub fn wide_csv(rows: usize) -> String {
    let mut out = String::with_capacity(rows * 200 + 200);
    out.push_str("\"Agent Id\",\"Agent Name\",\"Email\",\"Division Name\",\"Interval Start\",\"Interval End\",\"Media Type\",\"Answered\",\"Handle\",\"Avg Handle\",\"Talk\",\"Avg Talk\",\"Hold\",\"Avg Hold\",\"ACW\",\"Avg ACW\"\n");
    for i in 0..rows {
        let (agent, d) = (i % AGENTS, i / AGENTS);
        let answered = 20 + i % 30;
        let _ = writeln!(
            out,
            "\"a1b2c3d4-0000-4000-8000-{agent:012}\",\"Agent {agent}\",\"agent{agent}@example.com\",\"Home\",\"{}T00:00:00.000-05:00\",\"{}T00:00:00.000-05:00\",\"voice\",\"{answered}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\"",
            day(d),
            day(d + 1),
            answered * 300_000,
            300_000 + i % 1000,
            answered * 230_000,
            230_000 + i % 900,
            answered * 20_000,
            100_000 + i % 500,
            answered * 50_000,
            50_000 + i % 700
        );
    }
    out
}

/// The raw baseline: reads every record with one reused `csv::ByteRecord` and counts fields.
#[must_use]
pub fn raw_byte_records(bytes: &[u8]) -> usize {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let mut fields = 0;
    while rdr.read_byte_record(&mut rec).unwrap_or(false) {
        fields += rec.len();
    }
    fields
}

/// A second baseline: the raw read plus the minimum any validating parser must do per row —
/// UTF-8 checks, a strict day parse, a number parse with the finite check — but no records,
/// no duplicate index, no line numbers. Returns the sum of the values.
#[must_use]
pub fn validated_fields(bytes: &[u8]) -> f64 {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let mut sum = 0.0;
    while rdr.read_byte_record(&mut rec).unwrap_or(false) {
        let text = |i: usize| {
            std::str::from_utf8(rec.get(i).unwrap_or_default())
                .map(str::trim)
                .unwrap_or("")
        };
        let ok =
            !text(0).is_empty() && kudos_core::Day::parse(text(1)).is_ok() && !text(2).is_empty();
        if let Ok(v) = text(3).parse::<f64>()
            && ok
            && v.is_finite()
        {
            sum += v;
        }
    }
    sum
}

/// The end-to-end measurements' export: three days of two metrics (`sales`, `aht_secs`) per
/// agent, so that every agent earns one reward (100..=199 points) under their rules.
#[must_use]
pub fn e2e_csv(agents: u64) -> String {
    let mut csv = String::from("agent_id,date,metric,value\n");
    for a in 0..agents {
        let id = format!("a1b2c3d4-0000-4000-8000-{a:012}");
        for day in ["2026-03-02", "2026-03-03", "2026-03-04"] {
            let _ = writeln!(csv, "{id},{day},sales,{}", 35 + a % 20);
            let _ = writeln!(csv, "{id},{day},aht_secs,{}", 200 + a % 100);
        }
    }
    csv
}

/// The raw baseline of issuing: `n` bare reqwest POSTs of a reward request to the simulator at
/// `base_url` (token from `token_url`, the simulator's client credentials), `in_flight` at a
/// time. Returns how many succeeded and how long they took together.
///
/// # Errors
///
/// The token request failing.
#[allow(
    clippy::disallowed_methods,
    reason = "a measuring tool reads the wall clock"
)]
pub async fn raw_posts(
    base_url: &str,
    token_url: &str,
    n: u64,
    in_flight: usize,
) -> Result<(u64, std::time::Duration), reqwest::Error> {
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(token_url)
        .basic_auth("kudos-sim-client", Some("kudos-sim-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let url = format!("{base_url}/v1/rewards/issue");
    let start = std::time::Instant::now();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, token, url, slots) =
            (client.clone(), token.clone(), url.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await;
            let body = format!(
                r#"{{"agent_id":"p{i}","reward_type":"gift_card_10_usd","points_consumed":100,"transaction_timestamp":"2026-03-10T06:00:00Z"}}"#
            );
            client
                .post(&url)
                .bearer_auth(&token)
                .header("x-integration-id", "GENESYS-WFM-INTEGRATION-01")
                .header("x-request-id", format!("raw-{i}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }));
    }
    let mut ok = 0u64;
    for t in tasks {
        ok += u64::from(t.await.unwrap_or(false));
    }
    Ok((ok, start.elapsed()))
}

/// The client's own baseline of issuing: `n` reward requests through the Kudos marketplace
/// client ([`kudos_client::HttpRewardProvider`], built from the run's own configuration file
/// `config`), `in_flight` at a time, each with a new transaction id and `payload`. Returns
/// how many were issued and how long they took together: what the client costs beside bare
/// POSTs, without the ledger, the audit trail or the store.
///
/// # Errors
///
/// The configuration cannot be loaded or the client built.
#[allow(
    clippy::disallowed_methods,
    reason = "a measuring tool reads the wall clock"
)]
pub async fn client_posts(
    config: &std::path::Path,
    payload: &[u8],
    n: u64,
    in_flight: usize,
) -> Result<(u64, std::time::Duration), Box<dyn std::error::Error + Send + Sync>> {
    use futures_util::StreamExt as _;
    use kudos_client::RewardProvider as _;
    let clock: std::sync::Arc<dyn kudos_core::Clock> = std::sync::Arc::new(kudos_core::SystemClock);
    let config = kudos_pipeline::Config::load(config)?;
    let provider = std::sync::Arc::new(config.provider(std::sync::Arc::clone(&clock))?);
    let payload: std::sync::Arc<[u8]> = payload.into();
    let start = std::time::Instant::now();
    // A task a request, as the raw baseline and `kudos run` send them.
    let issued = futures_util::stream::iter(0..n)
        .map(|_| {
            let txn = kudos_core::TxnId::generate(clock.as_ref());
            let (provider, payload) = (
                std::sync::Arc::clone(&provider),
                std::sync::Arc::clone(&payload),
            );
            tokio::spawn(async move {
                matches!(
                    provider.issue(txn, &payload).await,
                    kudos_client::Outcome::Issued { .. }
                )
            })
        })
        .buffer_unordered(in_flight.max(1))
        .filter(|issued| std::future::ready(matches!(issued, Ok(true))))
        .count()
        .await;
    Ok((issued as u64, start.elapsed()))
}

/// The numbers on the last line of a `/usr/bin/time -f … -o FILE` report, in the order of the
/// format (for example `%M %U %S`: peak KiB, user and system seconds).
///
/// # Errors
///
/// The file cannot be read.
pub fn time_report(path: &std::path::Path) -> std::io::Result<Vec<f64>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect())
}

/// Runs `command` under `/usr/bin/time` in `dir`, its stdout to `out` and its stderr dropped;
/// returns its wall time in seconds and its peak memory in MiB.
///
/// # Errors
///
/// The command cannot be started or fails, or the report cannot be read.
pub fn timed(
    command: std::process::Command,
    dir: &std::path::Path,
    out: &std::path::Path,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let time = dir.join("time.txt");
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let status = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&time)
        .arg(program)
        .args(args)
        .stdout(std::fs::File::create(out)?)
        .stderr(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}").into());
    }
    let fields = time_report(&time)?;
    Ok((
        fields.first().copied().unwrap_or(0.0),
        fields.get(1).map_or(0.0, |kb| kb / 1024.0),
    ))
}

/// The median of some figures (0 for none).
#[must_use]
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// A measuring tool's exit: success, or the error on stderr and failure.
#[must_use]
pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "a measuring tool says why it failed")]
            {
                eprintln!("error: {e}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
