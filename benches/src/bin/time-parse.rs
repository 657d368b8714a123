//! A quick, one-shot timing of `kudos-wfm` against the raw `csv::ByteRecord` read of the same
//! bytes, best of N runs each, interleaved. Criterion (`cargo bench --bench parse`) is the
//! reference; this is for iterating on the parser.
//!
//! Run with: `cargo run --release -p kudos-benches --bin time-parse -- canonical 1000000 5`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measuring tool prints"
)]
#![allow(clippy::disallowed_methods, reason = "it times itself with Instant")]
#![allow(clippy::cast_precision_loss, reason = "approximate figures")]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kudos_wfm::{Mapping, ParseOptions, Records};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(5);
    let (text, options) = match args.get(1).map(String::as_str) {
        Some("wide") => {
            let Some(preset) = Mapping::preset("genesys-agent-performance") else {
                return ExitCode::FAILURE;
            };
            (
                kudos_benches::wide_csv(rows),
                ParseOptions::default().with_mapping(preset),
            )
        }
        _ => (kudos_benches::canonical_csv(rows), ParseOptions::default()),
    };
    let bytes: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
    let (mut raw, mut parse) = (Duration::MAX, Duration::MAX);
    let mut records = 0u64;
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(kudos_benches::raw_byte_records(bytes));
        raw = raw.min(t.elapsed());
        let t = Instant::now();
        // In place, and sized from the input's length as `kudos_wfm::open` is for a file.
        let Ok(iter) = Records::from_bytes("bench", bytes, &options) else {
            eprintln!("the generated file did not open");
            return ExitCode::FAILURE;
        };
        records = 0;
        for r in iter {
            std::hint::black_box(r.is_ok());
            records += 1;
        }
        parse = parse.min(t.elapsed());
    }
    let mb = bytes.len() as f64 / 1e6;
    println!(
        "{:.1} MB, {records} records: raw {:.0} ms ({:.0} MB/s), kudos-wfm {:.0} ms ({:.0} MB/s, {:.0} ns/record), ratio {:.2}x",
        mb,
        raw.as_secs_f64() * 1e3,
        mb / raw.as_secs_f64(),
        parse.as_secs_f64() * 1e3,
        mb / parse.as_secs_f64(),
        parse.as_secs_f64() * 1e9 / records as f64,
        parse.as_secs_f64() / raw.as_secs_f64()
    );
    ExitCode::SUCCESS
}
