//! `kudos audit verify`.

use crate::{kudos, scratch, text};

#[test]
fn verify_reports_good_chains_and_fails_on_an_edit() {
    let dir = scratch("audit");
    let path = dir.join("trail.jsonl");
    {
        let mut run = kudos_pipeline::AuditLog::open(&path, uuid::Uuid::from_u128(7)).unwrap();
        run.append("run_started", serde_json::json!({"as_of": "2026-03-04"}))
            .unwrap();
        run.append("hold_made", serde_json::json!({"tier": "gift-card-50"}))
            .unwrap();
    }
    std::fs::write(dir.join("kudos.toml"), "[audit]\npath = \"trail.jsonl\"\n").unwrap();
    let config = dir.join("kudos.toml");
    let out = kudos(&["audit", "verify", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(
        (line["runs"].as_u64(), line["records"].as_u64()),
        (Some(1), Some(2))
    );
    let tampered = std::fs::read_to_string(&path)
        .unwrap()
        .replace("gift-card-50", "gift-card-500");
    std::fs::write(&path, tampered).unwrap();
    let out = kudos(&["audit", "verify", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a broken chain is fatal");
    assert!(
        text(&out.stderr).contains("seq 2 was edited"),
        "{}",
        text(&out.stderr)
    );
}
