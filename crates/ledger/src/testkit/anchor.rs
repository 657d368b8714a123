//! The conformance checks of the [`AuditAnchors`] port.

use uuid::Uuid;

use super::now;
use crate::{AuditAnchor, AuditAnchors};

/// Runs every check of the audit anchors.
pub async fn anchor_conformance(store: &dyn AuditAnchors) {
    anchors_only_move_forward(store).await;
}

fn anchor(trail: &str, run_id: Uuid, records: u64, key_id: Option<&str>) -> AuditAnchor {
    AuditAnchor {
        trail: trail.to_owned(),
        run_id,
        key_id: key_id.map(str::to_owned),
        records,
        head: format!("{records:064x}"),
        at: now(),
    }
}

/// An anchor is kept per trail and run, comes back intact, never moves back, and the anchor
/// moved last is the trail's head; another trail's anchors are its own.
pub async fn anchors_only_move_forward(store: &dyn AuditAnchors) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let t = format!("trail-{a}");
    let other = format!("other-{a}");
    let anchor = |run, records, key| anchor(&t, run, records, key);
    store
        .anchor(&anchor(a, 3, Some("k1")))
        .await
        .expect("anchor a");
    store.anchor(&anchor(b, 1, None)).await.expect("anchor b");
    let latest = store
        .latest_anchor(&t)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(latest.run_id, b, "the anchor moved last is the head");
    store
        .anchor(&anchor(a, 9, Some("k1")))
        .await
        .expect("move a");
    let latest = store
        .latest_anchor(&t)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(latest.run_id, a, "moving a run's anchor makes it the head");
    assert_eq!(latest.records, 9);
    assert_eq!(latest.head, format!("{:064x}", 9));
    assert_eq!(latest.key_id.as_deref(), Some("k1"));
    store
        .anchor(&anchor(a, 5, Some("k1")))
        .await
        .expect("an older anchor is accepted");
    store
        .anchor(&super::anchor::anchor(&other, Uuid::now_v7(), 50, None))
        .await
        .expect("anchor on another trail");
    let latest = store
        .latest_anchor(&t)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(
        latest.run_id, a,
        "another trail's anchor is not this trail's head"
    );
    let all = store.anchors(&t).await.expect("anchors");
    let mine: Vec<&AuditAnchor> = all.iter().collect();
    assert_eq!(store.anchors(&other).await.expect("anchors").len(), 1);
    let trails = store.trails().await.expect("trails");
    assert!(trails.contains(&t) && trails.contains(&other), "{trails:?}");
    assert_eq!(
        mine.len(),
        2,
        "one anchor per run, this trail only: {mine:?}"
    );
    assert_eq!(mine[0].run_id, a, "in the order first anchored");
    assert_eq!(mine[0].records, 9, "an anchor never moves back");
    assert_eq!(mine[1].key_id, None, "an unkeyed run stays unkeyed");
    assert_eq!(mine[1].records, 1);
}
