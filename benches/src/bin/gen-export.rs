//! Writes a generated export to stdout, for one-shot measurements.
//!
//! Run with: `cargo run --release -p kudos-benches --bin gen-export -- canonical 1000000 > /tmp/big.csv`
//! (or `wide 100000`).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let rows = args.get(2).and_then(|n| n.parse().ok());
    let text = match (args.get(1).map(String::as_str), rows) {
        (Some("canonical"), Some(rows)) => kudos_benches::canonical_csv(rows),
        (Some("wide"), Some(rows)) => kudos_benches::wide_csv(rows),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "usage: gen-export canonical|wide ROWS > FILE"
            );
            return ExitCode::from(2);
        }
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
