//! The conformance checks of the [`IngestLog`] port.

use kudos_core::{Day, SystemClock, TxnId};

use super::now;
use crate::{ContentHash, IngestLog, IngestMark, IngestRecord};

/// Runs every check of the ingest log.
pub async fn ingest_conformance(store: &dyn IngestLog) {
    files_are_marked_whole_or_through_a_day(store).await;
    marks_are_read_and_recorded_many_at_once(store).await;
}

/// `ingest_marks` answers as `ingest_mark` would, file by file, in the order asked (files
/// never seen included); `record_ingests` records every mark it is given. (That each is one
/// consistent read / one atomic write is the store's to guarantee; the suite cannot race it.)
pub async fn marks_are_read_and_recorded_many_at_once(store: &dyn IngestLog) {
    let day = |s: &str| Day::parse(s).expect("day");
    let (whole, partial, later, unseen) = (fresh_hash(), fresh_hash(), fresh_hash(), fresh_hash());
    let records = [
        IngestRecord {
            hash: whole.clone(),
            name: "exports/a.csv".into(),
            mark: IngestMark::Whole,
        },
        IngestRecord {
            hash: partial.clone(),
            name: "exports/b.csv".into(),
            mark: IngestMark::Through(day("2026-03-02")),
        },
        IngestRecord {
            hash: partial.clone(),
            name: "exports/b.csv".into(),
            mark: IngestMark::Through(day("2026-03-04")),
        },
        IngestRecord {
            hash: later.clone(),
            name: "exports/c.csv".into(),
            mark: IngestMark::Through(day("2026-03-09")),
        },
    ];
    store
        .record_ingests(&records, now())
        .await
        .expect("record_ingests");
    store
        .record_ingests(&records, now())
        .await
        .expect("record_ingests is idempotent");
    let asked = [unseen.clone(), later, partial, whole, unseen];
    let marks = store
        .ingest_marks(&asked, day("2026-03-05"))
        .await
        .expect("ingest_marks");
    assert_eq!(
        marks,
        [
            None,
            None,
            Some(IngestMark::Through(day("2026-03-04"))),
            Some(IngestMark::Whole),
            None
        ],
        "in the order asked: unseen, taken through a later day, the latest day on or before, whole"
    );
    for (hash, mark) in asked.iter().zip(&marks) {
        assert_eq!(
            store
                .ingest_mark(hash, day("2026-03-05"))
                .await
                .expect("ingest_mark"),
            *mark,
            "ingest_marks agrees with ingest_mark"
        );
    }
    assert!(
        store
            .ingest_marks(&[], day("2026-03-05"))
            .await
            .expect("no files")
            .is_empty()
    );
}

/// A fresh content hash (from a new transaction id, so that checks never collide).
fn fresh_hash() -> ContentHash {
    let id = TxnId::generate(&SystemClock);
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(id.as_uuid().as_bytes());
    ContentHash::from_digest(digest)
}

/// Files are remembered by content hash: taken whole, or through a day — and the mark a run
/// on a day sees is `Whole` if any run took the file whole, else the latest day on or before
/// its own.
pub async fn files_are_marked_whole_or_through_a_day(store: &dyn IngestLog) {
    let day = |s: &str| Day::parse(s).expect("day");
    let whole = fresh_hash();
    assert_eq!(
        store
            .ingest_mark(&whole, day("2026-03-01"))
            .await
            .expect("ingest_mark"),
        None,
        "an unknown file is not ingested"
    );
    store
        .record_ingest(&whole, "exports/a.json", IngestMark::Whole, now())
        .await
        .expect("record");
    store
        .record_ingest(&whole, "exports/a-copy.json", IngestMark::Whole, now())
        .await
        .expect("recording twice is fine");
    assert_eq!(
        store
            .ingest_mark(&whole, day("2020-01-01"))
            .await
            .expect("ingest_mark"),
        Some(IngestMark::Whole),
        "a file taken whole is taken, whatever the run's day"
    );

    let partial = fresh_hash();
    for through in ["2026-03-02", "2026-03-04", "2026-03-02"] {
        store
            .record_ingest(
                &partial,
                "exports/b.csv",
                IngestMark::Through(day(through)),
                now(),
            )
            .await
            .expect("record");
    }
    for (as_of, seen) in [
        ("2026-03-01", None),
        ("2026-03-02", Some("2026-03-02")),
        ("2026-03-03", Some("2026-03-02")),
        ("2026-03-04", Some("2026-03-04")),
        ("2027-01-01", Some("2026-03-04")),
    ] {
        assert_eq!(
            store
                .ingest_mark(&partial, day(as_of))
                .await
                .expect("ingest_mark"),
            seen.map(|d| IngestMark::Through(day(d))),
            "a run on {as_of} sees the latest day on or before its own"
        );
    }
    assert_eq!(
        store
            .ingest_mark(&whole, day("2026-03-03"))
            .await
            .expect("ingest_mark"),
        Some(IngestMark::Whole),
        "marks of one file do not leak to another"
    );
    store
        .record_ingest(&partial, "exports/b.csv", IngestMark::Whole, now())
        .await
        .expect("record");
    assert_eq!(
        store
            .ingest_mark(&partial, day("2026-03-03"))
            .await
            .expect("ingest_mark"),
        Some(IngestMark::Whole),
        "taken whole at last: whole, whatever partial marks came before"
    );
}
