//! The audit trail: chains per run, shared files, and every kind of tampering found; and
//! `kudos.toml` loading.

mod batches;
mod config;
mod directory;
mod faults;
mod money;
mod programme;
mod reversal;
mod run;
mod simulation;
mod sinks;
mod telemetry;
mod trail;
mod upgrade;

use std::path::PathBuf;

use kudos_pipeline::{AuditError, AuditLog, verify};
use serde_json::json;
use uuid::Uuid;

fn file(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.jsonl"));
    let _ = std::fs::remove_file(&p);
    p
}

fn two_runs(path: &std::path::Path) {
    let mut a = AuditLog::open(path, Uuid::from_u128(1)).unwrap();
    let mut b = AuditLog::open(path, Uuid::from_u128(2)).unwrap();
    for i in 0..5 {
        a.append("step", json!({"i": i})).unwrap();
        b.append("step", json!({"i": i, "run": "b"})).unwrap();
    }
}

#[test]
fn interleaved_runs_in_one_file_verify() {
    let p = file("ok");
    two_runs(&p);
    let report = verify(&p).unwrap();
    assert_eq!((report.runs, report.records), (2, 10));
}

#[test]
fn concurrent_processes_threads_never_tear_a_line() {
    let p = file("threads");
    let handles: Vec<_> = (0..8u128)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut log = AuditLog::open(&p, Uuid::from_u128(100 + t)).unwrap();
                for i in 0..50 {
                    log.append("step", json!({"i": i, "pad": "x".repeat(500)}))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(verify(&p).unwrap().records, 400);
}

fn rewrite(p: &std::path::Path, f: impl Fn(Vec<String>) -> Vec<String>) {
    let lines: Vec<String> = std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    std::fs::write(p, f(lines).join("\n") + "\n").unwrap();
}

#[test]
fn an_edit_a_gap_and_a_reorder_are_each_found_with_their_line_and_run() {
    let p = file("edited");
    two_runs(&p);
    rewrite(&p, |mut l| {
        l[4] = l[4].replace("\"i\":2", "\"i\":7");
        l
    });
    let err = verify(&p).unwrap_err().to_string();
    assert!(err.ends_with(":5: run 00000000-0000-0000-0000-000000000001: seq 3 was edited or re-keyed (its hash does not match)"), "{err}");

    let p = file("gap");
    two_runs(&p);
    rewrite(&p, |mut l| {
        l.remove(2);
        l
    });
    let err = verify(&p).unwrap_err();
    assert!(
        matches!(&err, AuditError::Broken { reason, .. } if reason.contains("missing or out of order")),
        "{err}"
    );

    let p = file("relinked");
    two_runs(&p);
    // An edit that also fixes its own hash still breaks the next record's link.
    rewrite(&p, |mut l| {
        let mut r: serde_json::Value = serde_json::from_str(&l[0]).unwrap();
        r["data"] = json!({"i": 99});
        r["hash"] = json!("f".repeat(64));
        l[0] = r.to_string();
        l
    });
    assert!(verify(&p).is_err());
}
