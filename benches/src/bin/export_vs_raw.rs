//! `kudos export parse` against a raw CSV read that writes the same JSON Lines (issue 20), as a
//! user runs them: each its own process on a 1,000,000-row canonical CSV file, stdout to a
//! file, the wall time and peak memory (`/usr/bin/time`) of each, alternating, the median of
//! `RUNS`. The two outputs must be byte for byte the same, or the figures mean nothing.
//!
//! The raw side (`export_vs_raw raw FILE`, this binary) reads `csv::ByteRecord`s and writes
//! each row as `{"agent_id","date","metric","value","dims":{}}` with `serde_json`, parsing the
//! value so that it prints as `kudos` prints it — and checks nothing else: no UTF-8, no day, no
//! duplicates, no line numbers.
//!
//! Run with: `cargo build --release -p kudos-cli -p kudos-benches &&
//! target/release/export_vs_raw [ROWS] [RUNS]` (`KUDOS_BIN` points at another `kudos`).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measuring tool prints"
)]
#![allow(clippy::cast_precision_loss, reason = "approximate figures")]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use serde::Serialize;

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("raw") => raw(args.get(1).map_or("", String::as_str)),
        _ => compare(&args),
    };
    kudos_benches::exit_code(result)
}

/// One line, as `kudos export parse` writes it.
#[derive(Serialize)]
struct Line<'a> {
    agent_id: &'a str,
    date: &'a str,
    metric: &'a str,
    value: f64,
    dims: &'a BTreeMap<String, String>,
}

/// The baseline: a raw read of `file` (header `agent_id,date,metric,value`) to JSON Lines on
/// stdout.
fn raw(file: &str) -> Result<(), Error> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(file)?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut rec = csv::ByteRecord::new();
    let dims = BTreeMap::new();
    while rdr.read_byte_record(&mut rec)? {
        let text = |i: usize| String::from_utf8_lossy(rec.get(i).unwrap_or_default());
        let value: f64 = text(3).parse()?;
        let line = Line {
            agent_id: &text(0),
            date: &text(1),
            metric: &text(2),
            value,
            dims: &dims,
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn compare(args: &[String]) -> Result<(), Error> {
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let rows = numbers.first().copied().unwrap_or(1_000_000);
    let runs = numbers.get(1).copied().unwrap_or(5).max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let kudos = std::env::var_os("KUDOS_BIN")
        .map_or_else(|| root.join("target/release/kudos"), PathBuf::from);
    let me = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("kudos-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("export.csv");
    std::fs::write(&file, kudos_benches::canonical_csv(rows))?;
    let size_mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
    let (mut kudos_s, mut kudos_mib, mut raw_s, mut raw_mib) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let mut parse = Command::new(&kudos);
        parse.args(["export", "parse"]).arg(&file);
        let (s, mib) = kudos_benches::timed(parse, &dir, &dir.join("kudos.jsonl"))?;
        kudos_s.push(s);
        kudos_mib.push(mib);
        let mut baseline = Command::new(&me);
        baseline.arg("raw").arg(&file);
        let (s, mib) = kudos_benches::timed(baseline, &dir, &dir.join("raw.jsonl"))?;
        raw_s.push(s);
        raw_mib.push(mib);
    }
    if std::fs::read(dir.join("kudos.jsonl"))? != std::fs::read(dir.join("raw.jsonl"))? {
        return Err(format!(
            "the two outputs differ (kept in {}): the comparison is void",
            dir.display()
        )
        .into());
    }
    let (k, r) = (kudos_benches::median(kudos_s), kudos_benches::median(raw_s));
    println!("{rows} rows ({size_mb:.1} MB), canonical CSV to JSON Lines; median of {runs}");
    println!(
        "kudos export parse: {k:.3}s, peak {:.1} MiB",
        kudos_benches::median(kudos_mib)
    );
    println!(
        "raw csv read + serde_json: {r:.3}s, peak {:.1} MiB",
        kudos_benches::median(raw_mib)
    );
    println!("kudos export parse / raw = {:.2}x", k / r.max(1e-9));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
