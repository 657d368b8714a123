//! Money that cannot go missing (issue 16), each over real HTTP against the simulator: points
//! that a balance cannot hold are rejected rows, never a wrapped balance; leases on the store's
//! clock, so a worker whose clock is skewed, or a run that lost its lease, sends nothing it does
//! not own.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use kudos_core::{Day, ManualClock};
use kudos_ledger::HoldState;
use kudos_pipeline::{
    AlertKind, AuditEvent, AuditLog, AuditRecord, Operator, Pipeline, PipelineError,
};
use kudos_rules::RuleSet;
use kudos_sim::SimConfig;
use uuid::Uuid;

use crate::run::{World, faults, slow_world};

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
    let pipeline = Pipeline::new(parts);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_clock_runs_ahead_leaves_a_hold_under_a_live_lease_alone() {
    let mut w = World::new(
        "skewed-worker",
        faults(
            "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'delay'\ndelay_ms = 2000",
        ),
    )
    .await;
    w.settings.lease_secs = 60;
    w.read_timeout = Duration::from_secs(10);
    w.export("d.csv", &[(1, "2026-03-02", 100.0)]);
    let on_time = w.pipeline();
    // A second worker on the same ledger whose clock runs two minutes ahead: on its own clock,
    // the first worker's 60-second lease has long lapsed. The store's clock says otherwise.
    let mut ahead = w.parts(w.store.clone());
    ahead.clock = Arc::new(ManualClock::at_rfc3339("2026-03-10T06:02:00Z").unwrap());
    let ahead = Pipeline::new(ahead);
    let first = async { w.run_on(&on_time, "2026-03-10").await };
    let meanwhile = async {
        while w.issue_requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        w.run_on(&ahead, "2026-03-10").await
    };
    let (a, b) = tokio::join!(first, meanwhile);
    assert_eq!((a.holds, a.issued), (1, 1), "{a:?}");
    assert_eq!((b.recovered, b.holds, b.issued), (0, 0, 0), "{b:?}");
    let lookups = w
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(lookups, 0, "the skewed worker never drove the hold");
    assert_eq!(w.issue_requests().len(), 1, "one request for one reward");
    assert_eq!(w.sim.rewards().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_loses_its_lease_sends_nothing_more_for_that_hold() {
    // A run makes holds for two agents; the first request is slow. While it is in flight the
    // leases lapse on the store's clock (a paused process, say) and another run takes the
    // second agent's hold. The first run's renewal finds the lease gone, and it must not send
    // that hold: the other run does.
    let mut w = slow_world("lost-lease", 1).await;
    w.settings.max_in_flight = 1; // the second request waits for the first
    w.export(
        "d.csv",
        &[(1, "2026-03-02", 100.0), (2, "2026-03-02", 100.0)],
    );
    let first_run = w.pipeline();
    let other_run = w.pipeline();
    let first = async { w.run_on(&first_run, "2026-03-10").await };
    let meanwhile = async {
        while w.issue_requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Both leases lapse at once on the store's clock; the other run recovers the hold
        // that has not been sent yet (and the one in flight, which it finds issued or in
        // progress).
        w.clock.advance(TimeDelta::seconds(10));
        w.run_on(&other_run, "2026-03-10").await
    };
    let (a, b) = tokio::join!(first, meanwhile);
    let sent_by_request_id: std::collections::HashMap<String, usize> = w
        .issue_requests()
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "x-request-id")
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        })
        .fold(std::collections::HashMap::new(), |mut m, id| {
            *m.entry(id).or_insert(0) += 1;
            m
        });
    assert_eq!(w.sim.rewards().len(), 2, "{a:?} {b:?}");
    assert!(
        sent_by_request_id.values().all(|n| *n == 1),
        "no hold's request was sent by both runs: {sent_by_request_id:?}"
    );
}

/// What every test of this binary logs at `warn` and above, as text with its spans (their
/// fields included), from the first call on.
fn warnings() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        // Every span (a warning names the run it is in), and only warnings and errors.
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || Sink(Arc::clone(&sink)))
                .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                    meta.is_span() || *meta.level() <= tracing::Level::WARN
                })),
        );
        let _ = tracing::subscriber::set_global_default(subscriber);
        log
    })
    .clone()
}

struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_renews_the_leases_of_the_holds_it_has_not_resolved_and_no_others() {
    // Two rewards: one answered at once, one after 2.5 s, while the leases are renewed every
    // second. The answered hold is committed, and no run takes a resolved hold up again: its
    // lease is neither renewed nor "lost". (Before, every renewal in a run longer than
    // `lease_secs / 3` warned that the run's resolved holds were lost to another run, and
    // renewed, then ended, a lease for every hold the run had made.)
    let log = warnings();
    let w = slow_world("renew-unresolved", 2).await;
    w.export(
        "d.csv",
        &[(1, "2026-03-02", 100.0), (2, "2026-03-02", 100.0)],
    );
    let s = w.run("2026-03-10").await;
    assert_eq!((s.holds, s.issued), (2, 2), "{s:?}");
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    let run = s.run_id.to_string();
    let mine: Vec<&str> = text.lines().filter(|l| l.contains(&run)).collect();
    assert!(
        mine.iter().all(|l| !l.contains("leases lost")),
        "a resolved hold's lease was renewed and reported lost: {mine:?}"
    );
}

/// The audit trail's events, in order.
fn events(w: &World) -> Vec<AuditEvent> {
    std::fs::read_to_string(w.audit_path())
        .unwrap()
        .lines()
        .map(|l| AuditEvent::from_record(&serde_json::from_str::<AuditRecord>(l).unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn settling_as_not_issued_a_reward_the_marketplace_issued_is_refused_unless_forced() {
    // The marketplace issues the reward but answers PENDING: the hold is in doubt, the reward
    // exists. Before, `settle --not-issued` released its points anyway.
    let w = World::new(
        "settle-contradicted",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'pending'"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 130.0)]);
    w.run("2026-03-10").await;
    let txn = w.holds(HoldState::InDoubt).await[0].txn;
    let day = Day::parse("2026-03-10").unwrap();
    let settle = |force: bool| {
        let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
        let operator = Operator {
            name: "dana".into(),
            force,
        };
        let pipeline = w.pipeline();
        async move {
            pipeline
                .review_settle(Box::new(audit), txn, false, day, &operator)
                .await
        }
    };
    let err = settle(false).await.unwrap_err();
    assert!(
        matches!(&err, PipelineError::Refused { reason, .. } if reason.contains("says the reward is issued")),
        "{err}"
    );
    assert_eq!(
        w.holds(HoldState::InDoubt).await.len(),
        1,
        "nothing changed"
    );
    assert_eq!(w.balance(1, "2026-03-10").await, 30, "the points stay held");
    assert!(events(&w).iter().any(|e| matches!(e,
        AuditEvent::ReviewRefused { operator, action, .. } if operator == "dana" && action == "settle --not-issued")));

    let hold = settle(true).await.unwrap();
    assert_eq!(
        hold.state,
        HoldState::Released,
        "--force overrides, on record"
    );
    assert!(events(&w).iter().any(|e| matches!(e,
        AuditEvent::ReviewSettled { operator, forced: true, marketplace, issued: false, .. }
            if operator == "dana" && marketplace == "issued")));
}

#[tokio::test]
async fn settling_as_issued_a_reward_the_marketplace_never_saw_is_refused() {
    let w = World::new(
        "settle-never-seen",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 403"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 130.0)]);
    w.run("2026-03-10").await;
    let txn = w.holds(HoldState::Review).await[0].txn;
    let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    let err = w
        .pipeline()
        .review_settle(
            Box::new(audit),
            txn,
            true,
            Day::parse("2026-03-10").unwrap(),
            &Operator::named("dana"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Refused { reason, .. } if reason.contains("not_found")),
        "{err}"
    );
    assert_eq!(w.holds(HoldState::Review).await.len(), 1);
    assert!(w.sim.rewards().is_empty());
}

#[tokio::test]
async fn a_retry_past_the_key_retention_looks_the_reward_up_and_never_re_sends() {
    // A 422 sends the hold to review (nothing was issued). Two days later the marketplace may
    // have forgotten the idempotency key (kept 24 hours here): a re-send could issue a second
    // reward, so the retry asks instead — and with no record, refuses.
    let w = World::new(
        "retry-too-old",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 422"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 130.0)]);
    w.run("2026-03-10").await;
    let txn = w.holds(HoldState::Review).await[0].txn;
    w.clock.advance(TimeDelta::hours(48));
    let audit = AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap();
    let err = w
        .pipeline()
        .review_retry(
            Box::new(audit),
            txn,
            Day::parse("2026-03-12").unwrap(),
            &Operator::named("dana"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Refused { reason, .. } if reason.contains("idempotency keys")),
        "{err}"
    );
    assert_eq!(w.issue_requests().len(), 1, "never re-sent");
    assert_eq!(w.holds(HoldState::Review).await.len(), 1);
}

#[tokio::test]
async fn a_reward_voided_at_the_marketplace_while_in_doubt_gives_the_points_back() {
    // Issued but answered PENDING: in doubt. Before the next run looks it up, the
    // marketplace voids it (a cancelled order). Before, the lookup's REVERSED committed the
    // hold and the agent lost the points.
    let w = World::new(
        "voided",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'pending'"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 130.0)]);
    w.run("2026-03-10").await;
    let txn = w.holds(HoldState::InDoubt).await[0].txn;
    assert!(w.sim.void_reward(&txn.to_string()));
    let next = w.run("2026-03-11").await;
    assert_eq!((next.recovered, next.reversed), (1, 1), "{next:?}");
    assert!(
        w.holds(HoldState::Committed)
            .await
            .iter()
            .any(|h| h.txn == txn),
        "the reward was issued"
    );
    assert_eq!(
        (next.holds, next.issued),
        (1, 2),
        "voided, its points were the agent's again, and bought a new reward: {next:?}"
    );
    assert_eq!(w.balance(1, "2026-03-11").await, 30);
    assert_eq!(w.sim.rewards().len(), 2);
    assert!(
        events(&w)
            .iter()
            .any(|e| matches!(e, AuditEvent::ReversalConfirmed { of, .. } if *of == txn))
    );
}

#[tokio::test]
async fn a_pending_reward_that_ends_failed_releases_its_points() {
    // The marketplace answers PENDING and never issues; its lookups then say FAILED. Before,
    // the hold stayed in doubt run after run, then went to review.
    let w = World::new(
        "pending-failed",
        faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'pending_then_failed'"),
    )
    .await;
    w.export("d.csv", &[(1, "2026-03-02", 130.0)]);
    let first = w.run("2026-03-10").await;
    assert_eq!(first.in_doubt, 1, "{first:?}");
    let txn = w.holds(HoldState::InDoubt).await[0].txn;
    let next = w.run("2026-03-11").await;
    assert_eq!(
        (next.recovered, next.released, next.rejected),
        (1, 1, 1),
        "{next:?}"
    );
    assert!(w.holds(HoldState::InDoubt).await.is_empty());
    assert!(
        w.sim
            .rewards()
            .iter()
            .all(|r| r.request_id != txn.to_string()),
        "the failed one was never issued"
    );
    assert_eq!(
        next.issued, 1,
        "the released points bought a new reward: {next:?}"
    );
}

#[tokio::test]
async fn a_reward_voided_after_issue_is_caught_by_the_next_runs_recheck() {
    // Issued and committed; days later the marketplace voids it (a bounced delivery). Before,
    // nothing ever looked again: the agent had neither the reward nor the points.
    let w = World::new("voided-after-issue", SimConfig::default()).await;
    w.export("d.csv", &[(1, "2026-03-02", 130.0)]);
    let first = w.run("2026-03-10").await;
    assert_eq!(first.issued, 1);
    let txn = w.holds(HoldState::Committed).await[0].txn;
    assert!(w.sim.void_reward(&txn.to_string()));
    w.clock.advance(TimeDelta::days(2));
    let next = w.run("2026-03-12").await;
    assert_eq!(next.reversed, 1, "{next:?}");
    assert!(w.alerts.kinds().contains(&AlertKind::RewardVoided));
    assert_eq!(
        (next.holds, next.issued),
        (1, 1),
        "the points came back and bought a new reward: {next:?}"
    );
    assert_eq!(w.balance(1, "2026-03-12").await, 30);
    let again = w.run("2026-03-12").await;
    assert_eq!(again.reversed, 0, "recorded once: {again:?}");
}
