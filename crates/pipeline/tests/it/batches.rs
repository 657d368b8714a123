//! A run over more agents than one batch of the accrue and issue steps: every agent of every
//! batch, and every agent of the ledger the export did not name, gets its reward, once.

use std::collections::HashSet;

use kudos_core::{AgentId, Day, Points};
use kudos_ledger::{Command, Ledger};
use kudos_sim::SimConfig;

use crate::run::{World, agent};

#[tokio::test]
async fn agents_of_every_accrued_batch_and_of_none_are_issued_once() {
    let w = World::new("overlap", SimConfig::default()).await;
    // A first run: three agents with too few points for a reward.
    w.export(
        "old.csv",
        &[
            (9001, "2026-03-01", 90.0),
            (9002, "2026-03-01", 90.0),
            (9003, "2026-03-01", 90.0),
        ],
    );
    let s = w.run("2026-03-10").await;
    assert_eq!((s.events, s.issued), (3, 0), "{s:?}");
    // An operator's adjustment makes them due; the next export does not name them.
    let ledger = Ledger::new(w.store.clone(), w.clock.clone());
    let day = Day::parse("2026-03-09").unwrap();
    for n in 9001..=9003 {
        ledger
            .execute(
                &AgentId::new(agent(n)).unwrap(),
                Command::Adjust {
                    id: uuid::Uuid::now_v7(),
                    day,
                    points: Points::new(20),
                    expires: day.add_days(90).unwrap(),
                    reason: "goodwill".into(),
                },
            )
            .await
            .unwrap();
    }
    // 2,500 agents: three batches of the accrue step, five slices of the issue step.
    let rows: Vec<(u32, &str, f64)> = (1..=2500).map(|n| (n, "2026-03-02", 150.0)).collect();
    w.export("day.csv", &rows);
    let s = w.run("2026-03-10").await;
    assert_eq!(
        (s.events, s.holds, s.issued, s.in_doubt, s.alerts),
        (2500, 2503, 2503, 0, 0),
        "{s:?}"
    );
    let rewards = w.sim.rewards();
    let agents: HashSet<&str> = rewards.iter().map(|r| r.agent_id.as_str()).collect();
    assert_eq!(
        (rewards.len(), agents.len()),
        (2503, 2503),
        "one reward per agent"
    );
    for n in [1, 1000, 1001, 2500] {
        assert_eq!(w.balance(n, "2026-03-10").await, 50, "agent {n}");
    }
    for n in 9001..=9003 {
        assert_eq!(w.balance(n, "2026-03-10").await, 10, "agent {n}");
    }
    // Nothing more to issue.
    let s = w.run("2026-03-10").await;
    assert_eq!((s.holds, s.issued), (0, 0), "{s:?}");
    assert_eq!(w.sim.rewards().len(), 2503);
}
