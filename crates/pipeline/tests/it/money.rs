//! Money that cannot go missing (issue 16), each over real HTTP against the simulator: points
//! that a balance cannot hold are rejected rows, never a wrapped balance.

use kudos_pipeline::AlertKind;
use kudos_rules::RuleSet;
use kudos_sim::SimConfig;

use crate::run::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_whose_points_would_overflow_a_balance_are_rejected_and_nothing_wraps() {
    let w = World::new("overflow", SimConfig::default()).await;
    // 5e15 sales at 1,000 points each: 5e18 points a row, fine alone; two rows for one agent
    // are past what 64 bits hold (9.2e18).
    w.export(
        "big.csv",
        &[
            (1, "2026-03-01", 5e15),
            (1, "2026-03-02", 5e15),
            (2, "2026-03-02", 100.0),
        ],
    );
    let mut parts = w.parts(w.store.clone());
    parts.rules = RuleSet::from_toml(
        "window_days = 90
[[rule]]
id = 'sales'
metric = 'sales'
per_unit = 1000
[[tier]]
id = 'small'
reward_type = 'gift_card_small'
threshold = 100000
",
    )
    .unwrap();
    parts.settings.max_rewards_per_agent_per_run = 1;
    let pipeline = kudos_pipeline::Pipeline::new(parts);
    let summary = w.run_on(&pipeline, "2026-03-10").await;
    assert_eq!(
        (summary.records, summary.rejected_rows, summary.issued),
        (2, 1, 2),
        "{summary:?}"
    );
    assert!(w.alerts.kinds().contains(&AlertKind::RejectedRows));
    assert_eq!(
        w.balance(1, "2026-03-10").await,
        5_000_000_000_000_000_000 - 100_000,
        "one row's points less one reward: taken, not wrapped"
    );
    assert_eq!(w.balance(2, "2026-03-10").await, 100_000 - 100_000);

    // The rejected row is rejected for good: the file is taken, and the next run reads nothing.
    let again = w.run_on(&pipeline, "2026-03-10").await;
    assert_eq!((again.records, again.rejected_rows), (0, 0), "{again:?}");
}
