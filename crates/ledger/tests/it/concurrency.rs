//! Racing writers on one account: no lost update, never two unresolved holds.

use std::sync::Arc;

use async_trait::async_trait;
use kudos_core::{AgentId, Clock, ManualClock, PointEvent, Points, TxnId};
use kudos_ledger::{
    Command, Entry, HoldState, HoldView, Ledger, LedgerError, LedgerStore, MemoryStore,
    ReversalState, ReversalView, Stored,
};
use uuid::Uuid;

use crate::book::{agent, day, key, tier};

/// A `MemoryStore` that yields to the scheduler after every load, so that concurrent
/// operations interleave between load and append and meet `Conflict`.
#[derive(Debug, Clone, Default)]
struct Interleaving(MemoryStore);

#[async_trait]
impl LedgerStore for Interleaving {
    async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError> {
        let stored = self.0.load(agent).await;
        tokio::task::yield_now().await;
        stored
    }
    async fn append(
        &self,
        agent: &AgentId,
        expected: u64,
        entries: &[Entry],
        holds: &[HoldView],
        reversals: &[ReversalView],
    ) -> Result<u64, LedgerError> {
        self.0
            .append(agent, expected, entries, holds, reversals)
            .await
    }
    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
        self.0.find(id).await
    }
    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
        self.0.holds(state).await
    }
    async fn reversals(
        &self,
        state: Option<ReversalState>,
    ) -> Result<Vec<ReversalView>, LedgerError> {
        self.0.reversals(state).await
    }
    async fn agents(&self) -> Result<Vec<AgentId>, LedgerError> {
        self.0.agents().await
    }
}

fn ledger() -> Arc<Ledger<Interleaving>> {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_rfc3339("2026-10-02T06:00:00Z").unwrap());
    Arc::new(Ledger::new(Interleaving::default(), clock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_accruals_lose_nothing() {
    let ledger = ledger();
    let a = agent();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (ledger, a) = (ledger.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let d = day("10-01");
                let event = PointEvent::new(
                    key(&a, d, &format!("r{t}-{i}")),
                    Points::new(i64::from(t * 10 + i + 1)),
                );
                ledger
                    .execute(
                        &a,
                        Command::Accrue {
                            event,
                            expires: d.add_days(30).unwrap(),
                        },
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let account = ledger.account(&a).await.unwrap();
    assert_eq!(account.entries().len(), 160);
    // 1 + 2 + … + 160
    assert_eq!(account.balance(day("10-02")).available.get(), 160 * 161 / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_holds_make_exactly_one() {
    for round in 0..20 {
        let ledger = ledger();
        let a = agent();
        let d = day("10-01");
        let event = PointEvent::new(key(&a, d, "big"), Points::new(5000));
        ledger
            .execute(
                &a,
                Command::Accrue {
                    event,
                    expires: d.add_days(30).unwrap(),
                },
            )
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..8u128 {
            let (ledger, a) = (ledger.clone(), a.clone());
            tasks.push(tokio::spawn(async move {
                let txn = TxnId::from_uuid(Uuid::from_u128(round * 100 + i + 1));
                ledger
                    .execute(
                        &a,
                        Command::Hold {
                            txn,
                            day: day("10-02"),
                            tier: tier(500),
                            payload: vec![],
                        },
                    )
                    .await
            }));
        }
        let mut made = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(applied) => {
                    assert!(applied.appended);
                    made += 1;
                }
                Err(LedgerError::HoldUnresolved { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(made, 1, "round {round}: exactly one hold");
        let account = ledger.account(&a).await.unwrap();
        assert_eq!(account.holds().len(), 1);
        let b = account.balance(day("10-02"));
        assert_eq!(
            (b.available.get(), b.reserved.get()),
            (4500, 500),
            "no overdraft, nothing reserved twice"
        );
        let open = ledger.store().holds(Some(HoldState::Open)).await.unwrap();
        assert_eq!(open.len(), 1, "the index agrees");
    }
}
