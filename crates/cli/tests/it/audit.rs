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
    // Written without a run (no anchors): checked alone.
    let verify = |config: &std::path::Path| {
        kudos(&[
            "audit",
            "verify",
            "--config",
            config.to_str().unwrap(),
            "--without-store",
        ])
    };
    let out = verify(&config);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(
        (line["runs"].as_u64(), line["records"].as_u64()),
        (Some(1), Some(2))
    );
    // With the store, a trail none of whose runs is anchored is not passed as clean.
    let out = kudos(&["audit", "verify", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the store has no anchor for trail"),
        "{}",
        text(&out.stderr)
    );
    let tampered = std::fs::read_to_string(&path)
        .unwrap()
        .replace("gift-card-50", "gift-card-500");
    std::fs::write(&path, tampered).unwrap();
    let out = verify(&config);
    assert_eq!(out.status.code(), Some(1), "a broken chain is fatal");
    assert!(
        text(&out.stderr).contains("seq 2 was edited"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn verify_checks_keys_and_the_stores_anchors_from_the_configuration() {
    use kudos_ledger::{AuditAnchor, AuditAnchors as _};
    let dir = scratch("audit-keyed");
    let path = dir.join("trail.jsonl");
    std::fs::write(dir.join("audit.key"), "an-audit-key-of-32-bytes-or-more\n").unwrap();
    let key = kudos_pipeline::AuditKey::new(b"an-audit-key-of-32-bytes-or-more").unwrap();
    let run_id = uuid::Uuid::from_u128(9);
    let mut run = kudos_pipeline::AuditLog::open_keyed(&path, run_id, key.clone()).unwrap();
    run.append("run_started", serde_json::json!({})).unwrap();
    let last = run
        .append("run_finished", serde_json::json!({"issued": 1}))
        .unwrap();
    let store = kudos_store::open(&format!("sqlite://{}", dir.join("kudos.db").display()), 1)
        .await
        .unwrap();
    store
        .anchor(&AuditAnchor {
            trail: kudos_pipeline::AuditLog::trail_name(&path),
            run_id,
            key_id: Some(key.id().to_owned()),
            records: 2,
            head: last.hash,
            at: kudos_core::Clock::now(&kudos_core::SystemClock),
        })
        .await
        .unwrap();
    drop(store);
    std::fs::write(
        dir.join("kudos.toml"),
        "[store]\nurl = \"sqlite://kudos.db\"\n[audit]\npath = \"trail.jsonl\"\nkey_file = \"audit.key\"\n",
    )
    .unwrap();
    let config = dir.join("kudos.toml");
    let config = config.to_str().unwrap();
    let out = kudos(&["audit", "verify", "--config", config]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(line["keyed_runs"], 1);
    assert_eq!(line["anchored_runs"], 1);
    assert_eq!(line["key_ids"][0], key.id());
    assert_eq!(line["other_trails_in_store"], serde_json::json!([]));
    // An auditor's copy elsewhere: its path is not the trail's name in the store, which says so
    // (and names the trail it has) instead of passing it unchecked; --trail gives the name.
    let copy_dir = dir.join("auditor");
    std::fs::create_dir_all(&copy_dir).unwrap();
    std::fs::copy(&path, copy_dir.join("trail.jsonl")).unwrap();
    std::fs::copy(dir.join("audit.key"), copy_dir.join("audit.key")).unwrap();
    std::fs::write(
        copy_dir.join("check.toml"),
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[audit]\npath = \"trail.jsonl\"\nkey_file = \"audit.key\"\n",
            dir.join("kudos.db").display()
        ),
    )
    .unwrap();
    let check = copy_dir.join("check.toml");
    let out = kudos(&["audit", "verify", "--config", check.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let original = kudos_pipeline::AuditLog::trail_name(&path);
    assert!(
        text(&out.stderr).contains(&original),
        "{}",
        text(&out.stderr)
    );
    let out = kudos(&[
        "audit",
        "verify",
        "--config",
        check.to_str().unwrap(),
        "--trail",
        &original,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The run's last record cut: the anchor says so; without the store nothing can.
    let text_now = std::fs::read_to_string(&path).unwrap();
    let first = text_now.lines().next().unwrap();
    std::fs::write(&path, format!("{first}\n")).unwrap();
    let out = kudos(&["audit", "verify", "--config", config]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is anchored with 2 records but the trail has 1"),
        "{}",
        text(&out.stderr)
    );
    let out = kudos(&["audit", "verify", "--config", config, "--without-store"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("an-audit-key"));
}
