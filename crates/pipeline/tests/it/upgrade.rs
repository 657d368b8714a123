//! A ledger file written by release 0.1.0 (`fixtures/ledger-v1/`) runs on with today's
//! pipeline: the files it took whole are skipped, the file it took through 2026-03-03 gives
//! only its later rows, and the hold it left open is recovered.

use std::path::Path;
use std::sync::Arc;

use kudos_ledger::{HoldState, RunStore};
use kudos_sim::SimConfig;
use kudos_store_sqlite::SqliteStore;

use crate::run::World;

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ledger-v1")
        .join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_of_0_1_0_runs_on_where_it_left_off() {
    let mut world = World::new("upgrade-v1", SimConfig::default()).await;
    for export in ["day1.csv", "days2to4.csv", "late.csv"] {
        std::fs::copy(
            fixture(&format!("exports/{export}")),
            world.dir.join("exports").join(export),
        )
        .unwrap();
    }
    let path = world.dir.join("kudos-v1.db");
    std::fs::copy(fixture("sqlite.db"), &path).unwrap();
    world.store = Arc::new(
        SqliteStore::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap()
            .with_clock(world.clock.clone()),
    ) as Arc<dyn RunStore>;
    // After the 0.1.0 runs' leases ended.
    world.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-12-04T06:00:00Z")
            .unwrap()
            .into(),
    );
    assert_eq!(world.holds(HoldState::Open).await.len(), 1);

    let summary = world.run("2026-03-04").await;
    assert_eq!(
        (summary.records, summary.future_rows, summary.events),
        (2, 0, 2),
        "only the rows of 2026-03-04 are new: the whole files are skipped, the partial one is \
         read after 2026-03-03"
    );
    assert_eq!(summary.recovered, 1, "the open hold of 0.1.0 is recovered");
    assert!(world.holds(HoldState::Open).await.is_empty());
    assert_eq!(world.issue_requests().len() as u64, summary.holds + 1);

    let again = world.run("2026-03-04").await;
    assert_eq!(
        (again.records, again.holds),
        (0, 0),
        "nothing is taken twice"
    );
}
