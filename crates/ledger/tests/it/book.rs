//! A small driver for tests: an account and terse operations on it.

use std::sync::Arc;

use kudos_core::{
    AgentId, Day, EventKey, ManualClock, MetricName, PointEvent, Points, RewardType, RuleId, Tier,
    TierId, TxnId,
};
use kudos_ledger::{Account, Balance, Command, Entry, LedgerError, Plan};

pub(crate) const WINDOW: i64 = 30;

pub(crate) fn day(s: &str) -> Day {
    let full = if s.len() == 5 {
        format!("2026-{s}")
    } else {
        s.to_owned()
    };
    Day::parse(&full).unwrap()
}

pub(crate) fn agent() -> AgentId {
    AgentId::new("a1b2c3d4-0000-4000-8000-000000000001").unwrap()
}

pub(crate) fn key(agent: &AgentId, d: Day, name: &str) -> EventKey {
    EventKey::new(
        agent.clone(),
        d,
        RuleId::new(name).unwrap(),
        MetricName::new("m").unwrap(),
        Default::default(),
    )
}

pub(crate) fn tier(cost: i64) -> Tier {
    Tier::new(
        TierId::new(format!("t{cost}")).unwrap(),
        RewardType::new("gift").unwrap(),
        Points::new(cost),
        None,
    )
    .unwrap()
}

/// An account driven through `plan` + `apply`, as the ledger does.
pub(crate) struct Book {
    pub(crate) account: Account,
    pub(crate) clock: Arc<ManualClock>,
}

impl Book {
    pub(crate) fn new() -> Self {
        Self {
            account: Account::new(agent()),
            clock: Arc::new(ManualClock::at_rfc3339("2026-09-01T00:00:00Z").unwrap()),
        }
    }

    pub(crate) fn run(&mut self, command: Command) -> Result<Option<Entry>, LedgerError> {
        match self.account.plan(&command)? {
            Plan::Nothing(entry) => Ok(entry),
            Plan::Append(id, op) => {
                let entry = Entry {
                    id,
                    at: kudos_core::Clock::now(self.clock.as_ref()),
                    op,
                };
                self.account.apply(entry.clone())?;
                Ok(Some(entry))
            }
        }
    }

    /// Accrues `points` for key `name` on day `d` (a negative amount is a deduction).
    pub(crate) fn accrue(&mut self, d: &str, name: &str, points: i64) {
        let d = day(d);
        let event = PointEvent::new(key(&agent(), d, name), Points::new(points));
        self.run(Command::Accrue {
            event,
            expires: d.add_days(WINDOW).unwrap(),
        })
        .unwrap();
    }

    pub(crate) fn hold(&mut self, d: &str, cost: i64) -> TxnId {
        let txn = TxnId::generate(self.clock.as_ref());
        self.run(Command::Hold {
            txn,
            day: day(d),
            tier: tier(cost),
            payload: b"{}".to_vec(),
        })
        .unwrap();
        txn
    }

    pub(crate) fn commit(&mut self, txn: TxnId) {
        self.run(Command::Commit { txn }).unwrap();
    }

    pub(crate) fn release(&mut self, txn: TxnId, d: &str) {
        self.run(Command::Release { txn, day: day(d) }).unwrap();
    }

    pub(crate) fn reverse(&mut self, of: TxnId, d: &str) {
        let txn = TxnId::generate(self.clock.as_ref());
        self.run(Command::Reverse {
            txn,
            of,
            day: day(d),
        })
        .unwrap();
    }

    pub(crate) fn balance(&self, d: &str) -> Balance {
        self.account.balance(day(d))
    }

    /// (available, debt, balance) on `d`.
    pub(crate) fn abd(&self, d: &str) -> (i64, i64, i64) {
        let b = self.balance(d);
        (b.available.get(), b.debt.get(), b.balance.get())
    }
}
