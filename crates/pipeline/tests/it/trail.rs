//! The audit trail under attack: whole runs over real HTTP on a real SQLite file write a keyed,
//! linked, anchored trail; each test then tampers with it as an attacker would (delete a run,
//! cut one short, rewrite and re-hash one, downgrade to unkeyed records) and `verify_file`
//! must say which run and how. A torn line, a rotated key, a trail of the first format and a
//! host serializer's key order must not break it.

use std::path::Path;

use kudos_core::Day;
use kudos_ledger::{AuditAnchor, AuditAnchors as _};
use kudos_pipeline::{
    AuditError, AuditKey, AuditLog, AuditRecord, Chain, Link, NoProgress, PipelineError,
    RunOptions, verify_file,
};
use kudos_sim::SimConfig;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::run::World;

fn key(n: u8) -> AuditKey {
    AuditKey::new(format!("audit-key-{n}-0123456789abcdef").as_bytes()).unwrap()
}

/// One whole run on `day` whose records are keyed with `key` (unkeyed without one).
async fn run(w: &World, key: Option<AuditKey>, day: &str) -> Result<Uuid, PipelineError> {
    let id = Uuid::now_v7();
    let audit = match key {
        Some(key) => AuditLog::open_keyed(&w.audit_path(), id, key).unwrap(),
        None => AuditLog::open(&w.audit_path(), id).unwrap(),
    };
    w.pipeline()
        .run(
            Box::new(audit),
            RunOptions::new(Day::parse(day).unwrap()),
            &NoProgress,
        )
        .await?;
    Ok(id)
}

/// Three keyed runs, each with records; returns their ids.
async fn three_runs(name: &str) -> (World, [Uuid; 3]) {
    let w = World::new(name, SimConfig::default()).await;
    w.export(
        "day1.csv",
        &[(1, "2026-03-02", 150.0), (2, "2026-03-02", 600.0)],
    );
    let a = run(&w, Some(key(1)), "2026-03-10").await.unwrap();
    w.export("day2.csv", &[(1, "2026-03-11", 120.0)]);
    let b = run(&w, Some(key(1)), "2026-03-12").await.unwrap();
    w.export("day3.csv", &[(2, "2026-03-12", 130.0)]);
    let c = run(&w, Some(key(1)), "2026-03-13").await.unwrap();
    (w, [a, b, c])
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn record(line: &str) -> AuditRecord {
    serde_json::from_str(line).unwrap()
}

fn keep(path: &Path, f: impl Fn(&AuditRecord) -> bool) {
    let kept: Vec<String> = lines(path).into_iter().filter(|l| f(&record(l))).collect();
    std::fs::write(path, kept.join("\n") + "\n").unwrap();
}

async fn anchors(w: &World) -> Vec<AuditAnchor> {
    let trail = AuditLog::trail_name(&w.audit_path());
    w.store.anchors(&trail).await.unwrap()
}

async fn verify(w: &World, keys: &[AuditKey]) -> Result<kudos_pipeline::VerifyReport, AuditError> {
    verify_file(&w.audit_path(), keys, Some(&anchors(w).await))
}

#[tokio::test]
async fn runs_are_keyed_linked_and_anchored_as_they_go() {
    let (w, [a, b, c]) = three_runs("trail-ok").await;
    let report = verify(&w, &[key(1)]).await.unwrap();
    assert_eq!((report.runs, report.keyed_runs), (3, 3), "{report:?}");
    assert_eq!(report.key_ids, [key(1).id().to_owned()]);
    assert_eq!(
        (report.anchored_runs, report.unanchored_runs),
        (Some(3), Some(0))
    );
    assert_eq!(report.forks, 0);
    // Each run's anchor is its last record; each later run links to the one before.
    let records: Vec<AuditRecord> = lines(&w.audit_path()).iter().map(|l| record(l)).collect();
    for anchor in anchors(&w).await {
        let last = records.iter().rfind(|r| r.run_id == anchor.run_id).unwrap();
        assert_eq!((anchor.records, &anchor.head), (last.seq, &last.hash));
        assert_eq!(anchor.key_id.as_deref(), Some(key(1).id()));
    }
    let first = |run| records.iter().find(|r| r.run_id == run).unwrap();
    assert_eq!(first(a).link, None, "the first run links to nothing");
    assert_eq!(first(b).link.map(|l| l.run_id), Some(a));
    assert_eq!(first(c).link.map(|l| l.run_id), Some(b));
    // No key, no verification of a keyed trail.
    let err = verify(&w, &[]).await.unwrap_err();
    assert!(
        err.to_string().contains("which verify was not given"),
        "{err}"
    );
}

#[tokio::test]
async fn a_deleted_run_is_found_by_the_next_runs_link_or_by_its_anchor() {
    let (w, [_, b, c]) = three_runs("trail-deleted").await;
    let whole = std::fs::read(w.audit_path()).unwrap();
    keep(&w.audit_path(), |r| r.run_id != b);
    let err = verify(&w, &[key(1)]).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "links to run {b}, which is not in the trail: a run was deleted"
        )),
        "{err}"
    );

    // The last run has no follower: its anchor in the store finds it.
    std::fs::write(w.audit_path(), &whole).unwrap();
    keep(&w.audit_path(), |r| r.run_id != c);
    let err = verify(&w, &[key(1)]).await.unwrap_err().to_string();
    assert!(err.contains(&format!("run {c}: is anchored with")), "{err}");
    assert!(err.contains("a run was deleted"), "{err}");
    // (Without the store, nothing can tell: the procedure in SECURITY.md checks the anchors.)
    assert!(verify_file(&w.audit_path(), &[key(1)], None).is_ok());
}

#[tokio::test]
async fn a_run_cut_short_is_found_by_its_anchor() {
    let (w, [_, _, c]) = three_runs("trail-cut").await;
    let last = lines(&w.audit_path())
        .iter()
        .filter(|l| record(l).run_id == c)
        .count() as u64;
    keep(&w.audit_path(), |r| r.run_id != c || r.seq < last - 1);
    let err = verify(&w, &[key(1)]).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "run {c}: is anchored with {last} records but the trail has {}: the run was cut short",
            last - 2
        )),
        "{err}"
    );
}

/// Run `run`'s records with `data` of its second record replaced, re-chained by `chain`.
fn rechain(path: &Path, run: Uuid, mut chain: Chain, key_field: Option<&str>) {
    let mut out = Vec::new();
    for line in lines(path) {
        let r = record(&line);
        if r.run_id != run {
            out.push(line);
            continue;
        }
        if let Some(link) = r.link {
            chain.link_to(link, &r.prev);
        }
        let data = if r.seq == 2 {
            json!({"forged": true})
        } else {
            r.data
        };
        let mut forged = chain.next(&r.event, data).unwrap();
        chain.advance(&forged);
        if let Some(id) = key_field {
            forged.key = Some(id.to_owned());
        }
        out.push(serde_json::to_string(&forged).unwrap());
    }
    std::fs::write(path, out.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn a_rewritten_run_re_hashed_without_the_key_is_found() {
    let (w, [_, b, _]) = three_runs("trail-rekeyed").await;
    let whole = std::fs::read(w.audit_path()).unwrap();
    // Re-hashed with the attacker's own key: a key verify does not know.
    rechain(&w.audit_path(), b, Chain::keyed(b, key(9)), None);
    let err = verify(&w, &[key(1)]).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("run {b} is keyed with key {}", key(9).id())),
        "{err}"
    );
    // … claiming the real key's id: its MAC does not match.
    std::fs::write(w.audit_path(), &whole).unwrap();
    rechain(
        &w.audit_path(),
        b,
        Chain::keyed(b, key(9)),
        Some(key(1).id()),
    );
    let err = verify(&w, &[key(1)]).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("run {b}: seq 1 was edited or re-keyed")),
        "{err}"
    );
    // … or as unkeyed records, which anyone could recompute: a downgrade.
    std::fs::write(w.audit_path(), &whole).unwrap();
    rechain(&w.audit_path(), b, Chain::new(b), None);
    let err = verify(&w, &[key(1)]).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("run {b}: seq 1 is unkeyed after keyed records")),
        "{err}"
    );
    assert!(err.contains("a downgrade"), "{err}");
}

#[tokio::test]
async fn an_unkeyed_run_after_keyed_ones_is_refused_by_the_run_and_by_verify() {
    let (w, _) = three_runs("trail-downgrade").await;
    // A run configured without the key refuses to write to a keyed trail…
    let err = run(&w, None, "2026-03-14").await.unwrap_err();
    assert!(
        matches!(&err, PipelineError::Audit(AuditError::Key { reason }) if reason.contains("this run has no audit key")),
        "{err:?}"
    );
    let anchors_before = anchors(&w).await.len();
    // … and unkeyed records appended by hand are a downgrade.
    let mut log = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    log.append("run_started", json!({})).unwrap();
    let err = verify(&w, &[key(1)]).await.unwrap_err();
    assert!(
        matches!(&err, AuditError::Broken { reason, .. } if reason.contains("unkeyed after keyed records")),
        "{err}"
    );
    assert_eq!(anchors(&w).await.len(), anchors_before);
}

#[tokio::test]
async fn a_rotated_key_verifies_with_the_old_one_given() {
    let (w, _) = three_runs("trail-rotated").await;
    w.export("day4.csv", &[(1, "2026-03-13", 110.0)]);
    run(&w, Some(key(2)), "2026-03-14").await.unwrap();
    let report = verify(&w, &[key(2), key(1)]).await.unwrap();
    assert_eq!(report.keyed_runs, 4);
    assert_eq!(report.key_ids.len(), 2);
    let err = verify(&w, &[key(2)]).await.unwrap_err().to_string();
    assert!(err.contains(&format!("key {}", key(1).id())), "{err}");
}

#[tokio::test]
async fn a_torn_last_line_is_stepped_over_and_the_next_run_starts_on_a_clean_line() {
    let w = World::new("trail-torn", SimConfig::default()).await;
    w.export("day1.csv", &[(1, "2026-03-02", 150.0)]);
    run(&w, Some(key(1)), "2026-03-10").await.unwrap();
    // A crash mid-write: half a record, no newline.
    let torn_at = lines(&w.audit_path()).len() + 1;
    let mut bytes = std::fs::read(w.audit_path()).unwrap();
    bytes.extend_from_slice(br#"{"v":2,"run_id":"0190f0a8-0000-7000-8000-00000000"#);
    std::fs::write(w.audit_path(), bytes).unwrap();
    w.export("day2.csv", &[(1, "2026-03-11", 120.0)]);
    run(&w, Some(key(1)), "2026-03-12").await.unwrap();
    let report = verify(&w, &[key(1)]).await.unwrap();
    assert_eq!(report.runs, 2);
    assert_eq!(
        report.torn,
        [format!("{}:{torn_at}", w.audit_path().display())]
    );
}

/// Writes a JSON value with its object keys in reverse order and spaces, as another
/// serializer (serde_json's `preserve_order`, another language) might.
fn reordered(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!("{} : {}", Value::String(k.clone()), reordered(v)))
                .collect();
            format!("{{ {} }}", fields.join(" , "))
        }
        Value::Array(items) => {
            format!(
                "[ {} ]",
                items.iter().map(reordered).collect::<Vec<_>>().join(" , ")
            )
        }
        other => other.to_string(),
    }
}

#[tokio::test]
async fn hashes_do_not_depend_on_key_order_or_spacing() {
    let (w, _) = three_runs("trail-order").await;
    let out: Vec<String> = lines(&w.audit_path())
        .iter()
        .map(|l| reordered(&serde_json::from_str(l).unwrap()))
        .collect();
    assert_ne!(out, lines(&w.audit_path()));
    std::fs::write(w.audit_path(), out.join("\n") + "\n").unwrap();
    assert_eq!(verify(&w, &[key(1)]).await.unwrap().runs, 3);
}

/// A record of the first format, hashed as release 0.1.0 did.
fn legacy(run: Uuid, seq: u64, prev: &str, event: &str, data: Value) -> (String, String) {
    let body = json!({"run_id": run, "seq": seq, "event": event, "data": data});
    let hash: String = Sha256::digest(format!("{prev}\n{body}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let line = json!({"run_id": run, "seq": seq, "prev": prev, "event": event, "data": data, "hash": hash});
    (line.to_string(), hash)
}

#[tokio::test]
async fn a_trail_of_the_first_format_still_verifies_and_keyed_runs_follow_it() {
    let w = World::new("trail-legacy", SimConfig::default()).await;
    let mut text = String::new();
    let mut prev = "0".repeat(64);
    for seq in 1..=3 {
        let (line, hash) = legacy(
            Uuid::from_u128(7),
            seq,
            &prev,
            "step",
            json!({"n": seq, "x": 1.5}),
        );
        text += &(line + "\n");
        prev = hash;
    }
    std::fs::write(w.audit_path(), &text).unwrap();
    w.export("day1.csv", &[(1, "2026-03-02", 150.0)]);
    run(&w, Some(key(1)), "2026-03-10").await.unwrap();
    let report = verify(&w, &[key(1)]).await.unwrap();
    assert_eq!(
        (report.legacy_runs, report.keyed_runs),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(report.unanchored_runs, Some(1), "the old run has no anchor");
    // A record of the first format after keyed ones is a downgrade.
    let (line, _) = legacy(Uuid::from_u128(8), 1, &"0".repeat(64), "step", json!({}));
    std::fs::write(
        w.audit_path(),
        std::fs::read_to_string(w.audit_path()).unwrap() + &line + "\n",
    )
    .unwrap();
    let err = verify(&w, &[key(1)]).await.unwrap_err().to_string();
    assert!(
        err.contains("of the first format (unkeyed) after keyed records"),
        "{err}"
    );
}

#[test]
fn runs_that_overlap_fork_from_one_head_and_verify() {
    let path = crate::file("forks");
    let mut a = AuditLog::open_keyed(&path, Uuid::from_u128(1), key(1)).unwrap();
    let head = a.append("run_started", json!({})).unwrap();
    // Two runs start while `a` is at its first record; `a` goes on.
    let link = Link {
        run_id: head.run_id,
        seq: 1,
    };
    for id in [2, 3] {
        let mut log = AuditLog::open_keyed(&path, Uuid::from_u128(id), key(1)).unwrap();
        kudos_pipeline::AuditSink::link_to(&mut log, link, &head.hash);
        log.append("run_started", json!({})).unwrap();
    }
    a.append("run_finished", json!({})).unwrap();
    let report = verify_file(&path, &[key(1)], None).unwrap();
    assert_eq!((report.runs, report.forks), (3, 2), "{report:?}");
}

/// The object-store sink keeps the same guarantees, on object_store's local backend.
#[cfg(feature = "object-store")]
#[tokio::test]
async fn an_object_store_trail_is_keyed_linked_and_anchored_alike() {
    use kudos_pipeline::{ObjectStoreAudit, verify_objects};
    let w = World::new("trail-objects", SimConfig::default()).await;
    let dir = w.dir.join("audit");
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("file://{}", dir.display());
    let mut ids = Vec::new();
    for (n, day) in [(1, "2026-03-10"), (2, "2026-03-12"), (3, "2026-03-13")] {
        w.export(&format!("day{n}.csv"), &[(n, "2026-03-02", 150.0)]);
        let id = Uuid::now_v7();
        let sink = ObjectStoreAudit::from_url_keyed(&url, id, Some(key(1))).unwrap();
        w.pipeline()
            .run(
                Box::new(sink),
                RunOptions::new(Day::parse(day).unwrap()),
                &NoProgress,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let trail = kudos_pipeline::object_trail_name(&url).unwrap();
    let anchors = w.store.anchors(&trail).await.unwrap();
    let check = || async { verify_objects(&url, &[key(1)], Some(&anchors)).await };
    let report = check().await.unwrap();
    assert_eq!(
        (report.runs, report.keyed_runs, report.anchored_runs),
        (3, 3, Some(3))
    );
    // Each write of a run is an object of its own under `<run_id>/`, never rewritten.
    let objects = |id: Uuid| {
        let mut paths: Vec<_> = std::fs::read_dir(dir.join(id.to_string()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        paths
    };
    assert!(objects(ids[2]).len() > 1, "{:?}", objects(ids[2]));
    let holding = |id: Uuid, seq: u64| {
        objects(id)
            .into_iter()
            .find(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .contains(&format!("\"seq\":{seq},"))
            })
            .unwrap()
    };

    // A rewritten record.
    let second = holding(ids[2], 2);
    let c = std::fs::read_to_string(&second).unwrap();
    std::fs::write(&second, c.replacen("\"seq\":2", "\"seq\":2,\"x\":1", 1)).unwrap();
    let err = check().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("run {}: seq 2 was edited", ids[2])),
        "{err}"
    );
    std::fs::write(&second, &c).unwrap();
    check().await.unwrap();
    // The last run cut short: its last write deleted.
    let last = objects(ids[2]).pop().unwrap();
    let kept = std::fs::read(&last).unwrap();
    std::fs::remove_file(&last).unwrap();
    let err = check().await.unwrap_err().to_string();
    assert!(err.contains("the run was cut short"), "{err}");
    // A run deleted.
    std::fs::write(&last, kept).unwrap();
    std::fs::remove_dir_all(dir.join(ids[1].to_string())).unwrap();
    let err = check().await.unwrap_err().to_string();
    assert!(err.contains(&format!("links to run {}", ids[1])), "{err}");
}

#[tokio::test]
async fn trails_sharing_a_store_are_anchored_and_linked_apart() {
    let w = World::new("trail-shared-store", SimConfig::default()).await;
    let other = w.dir.join("audit-other.jsonl");
    w.export("day1.csv", &[(1, "2026-03-02", 150.0)]);
    run(&w, Some(key(1)), "2026-03-10").await.unwrap();
    // Another worker on the same store writes its own trail.
    let id = Uuid::now_v7();
    w.pipeline()
        .run(
            Box::new(AuditLog::open_keyed(&other, id, key(1)).unwrap()),
            RunOptions::new(Day::parse("2026-03-11").unwrap()),
            &NoProgress,
        )
        .await
        .unwrap();
    w.export("day2.csv", &[(1, "2026-03-11", 120.0)]);
    let third = run(&w, Some(key(1)), "2026-03-12").await.unwrap();
    let report = verify(&w, &[key(1)]).await.unwrap();
    assert_eq!(
        (report.runs, report.anchored_runs),
        (2, Some(2)),
        "{report:?}"
    );
    let first = lines(&w.audit_path())
        .iter()
        .map(|l| record(l))
        .find(|r| r.run_id == third)
        .unwrap();
    assert_ne!(
        first.link.map(|l| l.run_id),
        Some(id),
        "linked within its own trail"
    );
    let theirs = w
        .store
        .anchors(&AuditLog::trail_name(&other))
        .await
        .unwrap();
    assert_eq!(
        verify_file(&other, &[key(1)], Some(&theirs))
            .unwrap()
            .anchored_runs,
        Some(1)
    );
}
