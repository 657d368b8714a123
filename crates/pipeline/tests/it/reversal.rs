//! Reversals as a state machine (issue 16), over real HTTP against the simulator: a reversal
//! whose answer is lost is re-driven by later runs whatever the debt is then; one the
//! marketplace cannot make waits in review with the debt kept; an operator's settlement is
//! checked against the marketplace.

use chrono::TimeDelta;
use kudos_core::{AgentId, Day, TxnId};
use kudos_ledger::{Account, LedgerStore, ReversalState, ReversalView};
use kudos_pipeline::{AlertKind, AuditEvent, AuditLog, AuditRecord, Operator, PipelineError};
use uuid::Uuid;

use crate::run::{World, agent, faults};

/// The agent earns a 100-point reward on the 10th; the source restates the day to zero on the
/// 11th (a debt of 100), and the run of the 11th asks for the reversal.
async fn redeemed_then_restated(w: &World) {
    w.export("a.csv", &[(1, "2026-03-02", 100.0)]);
    assert_eq!(w.run("2026-03-10").await.issued, 1);
    w.export("b.csv", &[(1, "2026-03-02", 0.0)]);
    w.clock.advance(TimeDelta::days(1));
}

async fn reversals(w: &World) -> Vec<ReversalView> {
    w.store.reversals(None).await.unwrap()
}

async fn account(w: &World) -> Account {
    let id = AgentId::new(agent(1)).unwrap();
    let stored = w.store.load(&id).await.unwrap();
    Account::from_entries(id, stored.entries).unwrap()
}

fn reverse_requests(w: &World) -> Vec<kudos_sim::RecordedRequest> {
    w.sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/reverse"))
        .collect()
}

fn events(w: &World) -> Vec<AuditEvent> {
    std::fs::read_to_string(w.audit_path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
        .filter_map(|r| AuditEvent::from_record(&r).ok())
        .collect()
}

#[tokio::test]
async fn a_reversal_whose_answer_was_lost_is_recorded_by_a_later_run_after_the_debt_is_paid() {
    // The marketplace reverses the reward, then the connection drops: no answer. Before, the
    // run alerted and moved on; the next run's new points paid the debt, the agent no longer
    // qualified for clawback, and the reversal was never looked at again — the marketplace had
    // voided the reward and the ledger still showed it redeemed.
    let mut w = World::new(
        "reversal-lost",
        faults("[[fault]]\npath = '/v1/rewards/{id}/reverse'\nnth = [1]\naction = 'drop_after_processing'"),
    )
    .await;
    w.max_retries = 0;
    redeemed_then_restated(&w).await;
    let asked = w.run("2026-03-11").await;
    assert_eq!(
        (
            asked.reversals_requested,
            asked.reversals_in_doubt,
            asked.reversed
        ),
        (1, 1, 0),
        "{asked:?}"
    );
    assert!(
        asked.needs_attention(),
        "a reversal in doubt needs attention"
    );
    assert!(w.alerts.kinds().contains(&AlertKind::ReversalInDoubt));
    let in_doubt = reversals(&w).await;
    assert_eq!(
        in_doubt.iter().map(|r| r.state).collect::<Vec<_>>(),
        [ReversalState::InDoubt]
    );
    assert_eq!(
        w.sim.rewards()[0].status,
        "REVERSED",
        "the marketplace did it"
    );

    // New points arrive and pay the debt before the next run: the agent is not in debt any more.
    w.export("c.csv", &[(1, "2026-03-12", 150.0)]);
    w.clock.advance(TimeDelta::days(1));
    let next = w.run("2026-03-12").await;
    assert_eq!(next.reversed, 1, "re-driven and recorded: {next:?}");
    let account = account(&w).await;
    let reversal = &account.reversals()[&in_doubt[0].txn];
    assert_eq!(reversal.state, ReversalState::Reversed);
    assert_eq!(
        account.holds()[&in_doubt[0].of].reversed_by,
        Some(in_doubt[0].txn)
    );
    // 0 (restated) + 150 - the reward (100) + the reversal (100) - the debt it paid: the
    // 150 paid the debt of 100 first, the reversal's 100 came back, a new reward took 100.
    assert_eq!(next.issued, 1, "{next:?}");
    assert_eq!(w.balance(1, "2026-03-12").await, 50);
    let requests = reverse_requests(&w);
    assert_eq!(
        requests.len(),
        1,
        "the lookup said REVERSED: nothing was sent again"
    );
    let again = w.run("2026-03-12").await;
    assert_eq!(
        (again.reversed, again.reversals_requested),
        (0, 0),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_reversal_that_was_never_processed_is_sent_again_with_its_stored_bytes() {
    // Every attempt of the first run is reset before processing (in doubt: the client cannot
    // know); the next run's lookup says the reward is still issued, so it sends the reversal
    // again — the same key, the same bytes — and records it.
    let mut w = World::new(
        "reversal-resent",
        faults("[[fault]]\npath = '/v1/rewards/{id}/reverse'\nnth = [1, 2, 3]\naction = 'reset'"),
    )
    .await;
    w.max_retries = 2;
    redeemed_then_restated(&w).await;
    let asked = w.run("2026-03-11").await;
    assert_eq!(
        (asked.reversals_in_doubt, asked.reversed),
        (1, 0),
        "{asked:?}"
    );
    assert_eq!(w.sim.rewards()[0].status, "ISSUED");
    let next = w.run("2026-03-11").await;
    assert_eq!(next.reversed, 1, "{next:?}");
    assert_eq!(w.sim.rewards()[0].status, "REVERSED");
    assert_eq!(w.balance(1, "2026-03-11").await, 0, "the debt is repaid");
    let requests = reverse_requests(&w);
    assert_eq!(requests.len(), 4, "three reset, one answered");
    let id = crate::run::header(&requests[0], "x-request-id");
    assert!(
        requests
            .iter()
            .all(|r| crate::run::header(r, "x-request-id") == id && r.body == requests[0].body),
        "every attempt carries the reversal's own key and its stored bytes"
    );
    assert_eq!(requests[0].body, r#"{"reason":"points_clawback"}"#);
}

#[tokio::test]
async fn a_reward_the_marketplace_cannot_reverse_waits_in_review_with_the_debt_kept() {
    let w = World::new(
        "not-reversible",
        faults(
            "[[fault]]\npath = '/v1/rewards/{id}/reverse'\nnth = [1]\naction = 'not_reversible'",
        ),
    )
    .await;
    redeemed_then_restated(&w).await;
    let asked = w.run("2026-03-11").await;
    assert_eq!(
        (asked.reversals_review, asked.reversed),
        (1, 0),
        "{asked:?}"
    );
    assert!(asked.needs_attention());
    assert!(w.alerts.kinds().contains(&AlertKind::ReversalFailed));
    assert_eq!(w.balance(1, "2026-03-11").await, -100, "the debt stays");
    let review = w
        .store
        .reversals(Some(ReversalState::Review))
        .await
        .unwrap();
    assert_eq!(review.len(), 1);
    let txn = review[0].txn;
    // Review is an operator's: later runs neither re-drive it nor ask again.
    let later = w.run("2026-03-11").await;
    assert_eq!(
        (later.reversals_requested, later.reversed),
        (0, 0),
        "{later:?}"
    );
    assert_eq!(reverse_requests(&w).len(), 1);

    // An operator who says it was reversed is contradicted by the marketplace: refused.
    let pipeline = w.pipeline();
    let day = Day::parse("2026-03-11").unwrap();
    let audit = || Box::new(AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap());
    let wrong = pipeline
        .review_settle_reversal(audit(), txn, true, day, &Operator::named("dana"))
        .await;
    assert!(
        matches!(&wrong, Err(PipelineError::Refused { reason, .. }) if reason.contains("issued")),
        "{wrong:?}"
    );
    assert_eq!(w.balance(1, "2026-03-11").await, -100, "nothing changed");
    // A hold's verdict on a reversal names the right one.
    let kind = pipeline
        .review_settle(audit(), txn, false, day, &Operator::named("dana"))
        .await;
    assert!(
        matches!(
            kind,
            Err(PipelineError::WrongKind {
                kind: "reversal",
                ..
            })
        ),
        "{kind:?}"
    );
    // Settled as not reversed, as the marketplace says: ended, the debt kept.
    let ended = pipeline
        .review_settle_reversal(audit(), txn, false, day, &Operator::named("dana"))
        .await
        .unwrap();
    assert_eq!(ended.state, ReversalState::NotReversed);
    assert_eq!(w.balance(1, "2026-03-11").await, -100);
    let trail = events(&w);
    assert!(trail.iter().any(|e| matches!(
        e,
        AuditEvent::ReviewRefused { txn_id, operator, action, .. }
            if *txn_id == txn && operator == "dana" && action == "settle --reversed"
    )));
    assert!(trail.iter().any(|e| matches!(
        e,
        AuditEvent::ReversalSettled { txn_id, reversed: false, forced: false, marketplace, .. }
            if *txn_id == txn && marketplace == "issued"
    )));
    // Never asked again for that redemption.
    let after = w.run("2026-03-11").await;
    assert_eq!(after.reversals_requested, 0, "{after:?}");
    assert_eq!(reverse_requests(&w).len(), 1);
}

#[tokio::test]
async fn a_reversal_in_doubt_run_after_run_goes_to_review_and_an_operator_settles_it() {
    // Every reversal attempt and every lookup of the redemption fails: in doubt, re-driven by
    // each run, then in review after `in_doubt_review_after_runs`.
    let mut w = World::new("reversal-review", kudos_sim::SimConfig::default()).await;
    w.settings.in_doubt_review_after_runs = 2;
    w.max_retries = 0;
    redeemed_then_restated(&w).await;
    // (`{id}` would match `issue` too: the faults start after the reward is issued.)
    w.sim.set_faults(
        kudos_sim::FaultPlan::from_toml(
            "[[fault]]\npath = '/v1/rewards/{id}/reverse'\nprobability = 1.0\naction = 'status'\nstatus = 503\n\
             [[fault]]\npath = '/v1/rewards/{id}'\nprobability = 1.0\naction = 'status'\nstatus = 503",
        )
        .unwrap(),
    );
    let first = w.run("2026-03-11").await;
    assert_eq!(
        first.reversals_in_doubt,
        1,
        "{first:?} {:?}",
        w.alerts.kinds()
    );
    assert_eq!(w.run("2026-03-11").await.reversals_in_doubt, 1);
    let third = w.run("2026-03-11").await;
    assert_eq!(third.reversals_review, 1, "{third:?}");
    let txn = w
        .store
        .reversals(Some(ReversalState::Review))
        .await
        .unwrap()[0]
        .txn;
    // The marketplace cannot be asked: refused unless forced.
    let pipeline = w.pipeline();
    let day = Day::parse("2026-03-11").unwrap();
    let audit = || Box::new(AuditLog::open(&w.audit_path(), Uuid::now_v7()).unwrap());
    let operator = Operator {
        name: "lee".into(),
        force: true,
    };
    let unasked = pipeline
        .review_settle_reversal(audit(), txn, true, day, &Operator::named("lee"))
        .await;
    assert!(
        matches!(&unasked, Err(PipelineError::Refused { reason, .. }) if reason.contains("could not be asked")),
        "{unasked:?}"
    );
    let forced = pipeline
        .review_settle_reversal(audit(), txn, true, day, &operator)
        .await
        .unwrap();
    assert_eq!(forced.state, ReversalState::Reversed);
    assert_eq!(w.balance(1, "2026-03-11").await, 0, "the points came back");
    assert!(events(&w).iter().any(|e| matches!(
        e,
        AuditEvent::ReversalSettled { txn_id, forced: true, operator, .. }
            if *txn_id == txn && operator == "lee"
    )));
    let _: TxnId = txn;
}
