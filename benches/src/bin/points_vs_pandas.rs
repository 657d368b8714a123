//! `kudos points` against a short pandas script on the same export (issue 20), as a user runs
//! them: each its own process on a 1,000,000-row canonical CSV (10,000 agents, four metrics,
//! 25 days over 100 days, a 90-day window), the wall time and peak memory (`/usr/bin/time`) of
//! each, alternating, the median of `RUNS`.
//!
//! `kudos points` applies six rules (conditions, bands, per-unit points, a penalty, a cap)
//! through the ledger's lots and expiry; the script (`benches/pandas/points.py`) sums one rule
//! per agent over the window.
//!
//! Set up pandas once (not done by CI): `python3 -m venv benches/.venv &&
//! benches/.venv/bin/pip install pandas` (or point `KUDOS_PANDAS_PYTHON` at a Python that has
//! it). Then: `cargo build --release -p kudos-cli &&
//! cargo run --release -p kudos-benches --bin points_vs_pandas -- [ROWS] [RUNS]`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measuring tool prints"
)]
#![allow(clippy::cast_precision_loss, reason = "approximate figures")]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

type Error = Box<dyn std::error::Error>;

const AGENTS: usize = 10_000;
const AS_OF: &str = "2026-04-10";
const WINDOW_DAYS: u32 = 90;

const RULES: &str = r#"
window_days = 90

[[rule]]
id = "sales"
metric = "sales"
per_unit = 1

[[rule]]
id = "sales-bonus"
metric = "sales"
when = { gte = 40 }
points = 10

[[rule]]
id = "aht-bands"
metric = "aht_secs"
bands = [{ from = 0, to = 240, points = 10 }, { from = 240, to = 300, points = 5 }]

[[rule]]
id = "csat-top"
metric = "csat"
when = { gte = 90 }
points = 10
max_points = 50

[[rule]]
id = "csat-mid"
metric = "csat"
when = { between = [70, 89.99] }
points = 3

[[rule]]
id = "exceptions"
metric = "exceptions"
per_unit = -5

[[tier]]
id = "gift-card"
reward_type = "gift_card_50_usd"
threshold = 500
"#;

/// The export: agent-major, 25 days four days apart from 2026-01-01, four metrics a day.
fn export(rows: usize) -> String {
    let per_agent = rows.div_ceil(AGENTS).max(1);
    let mut csv = String::with_capacity(rows * 64);
    csv.push_str("agent_id,date,metric,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let metrics = ["sales", "aht_secs", "csat", "exceptions"];
    let mut written = 0;
    'all: for a in 0..AGENTS {
        for i in 0..per_agent {
            if written == rows {
                break 'all;
            }
            let day = start + chrono::Days::new(4 * (i / metrics.len()) as u64);
            let metric = metrics[i % metrics.len()];
            let value = match metric {
                "sales" => 20 + (a + i) % 40,
                "aht_secs" => 180 + (a * 7 + i) % 180,
                "csat" => 60 + (a * 3 + i) % 41,
                _ => (a + i) % 3,
            };
            let _ = writeln!(
                csv,
                "a1b2c3d4-0000-4000-8000-{a:012},{day},{metric},{value}"
            );
            written += 1;
        }
    }
    csv
}

fn main() -> ExitCode {
    kudos_benches::exit_code(run())
}

fn run() -> Result<(), Error> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rows = args.first().copied().unwrap_or(1_000_000);
    let runs = args.get(1).copied().unwrap_or(3).max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("KUDOS_PANDAS_PYTHON")
        .map_or_else(|| root.join("benches/.venv/bin/python"), PathBuf::from);
    if !python.exists() {
        return Err(format!(
            "no Python with pandas at {}: run `python3 -m venv benches/.venv && \
             benches/.venv/bin/pip install pandas`, or set KUDOS_PANDAS_PYTHON",
            python.display()
        )
        .into());
    }
    let kudos = std::env::var_os("KUDOS_BIN")
        .map_or_else(|| root.join("target/release/kudos"), PathBuf::from);
    let dir = std::env::temp_dir().join(format!("kudos-points-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("export.csv");
    std::fs::write(&file, export(rows))?;
    std::fs::write(dir.join("rules.toml"), RULES)?;
    let size_mb = std::fs::metadata(&file)?.len() as f64 / 1e6;

    let (mut kudos_s, mut kudos_mib, mut pandas_s, mut pandas_mib) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let mut points = Command::new(&kudos);
        points
            .arg("points")
            .arg("--rules")
            .arg(dir.join("rules.toml"))
            .args(["--as-of", AS_OF])
            .arg(&file);
        let (s, mib) = kudos_benches::timed(points, &dir, &dir.join("kudos.out"))?;
        kudos_s.push(s);
        kudos_mib.push(mib);
        let mut script = Command::new(&python);
        script
            .arg(root.join("benches/pandas/points.py"))
            .arg(&file)
            .arg(AS_OF)
            .arg(WINDOW_DAYS.to_string());
        let (s, mib) = kudos_benches::timed(script, &dir, &dir.join("pandas.out"))?;
        pandas_s.push(s);
        pandas_mib.push(mib);
    }
    let agents_out = std::fs::read_to_string(dir.join("kudos.out"))?
        .lines()
        .count();
    let (k, p) = (
        kudos_benches::median(kudos_s),
        kudos_benches::median(pandas_s),
    );
    println!(
        "{rows} rows ({size_mb:.1} MB), {AGENTS} agents, 6 rules, as of {AS_OF}, {WINDOW_DAYS}-day window; median of {runs}"
    );
    println!(
        "kudos points: {k:.2}s, peak {:.1} MiB ({agents_out} agents out)",
        kudos_benches::median(kudos_mib)
    );
    println!(
        "pandas script (one rule): {p:.2}s, peak {:.1} MiB",
        kudos_benches::median(pandas_mib)
    );
    println!("kudos points / pandas = {:.2}x", k / p.max(1e-9));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
