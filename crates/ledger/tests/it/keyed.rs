//! An accrual folded by its key's id (`Account::fold_accrual`, what `kudos points` does)
//! leaves an account exactly where planning and applying the accrual with its key does.

use chrono::{DateTime, Utc};
use kudos_core::{AgentId, AgentKeyIds, Day, EventKey, MetricName, PointEvent, Points, RuleId};
use kudos_ledger::{Account, Command, Entry, KeyedAccrual, LedgerError, Plan};
use proptest::prelude::*;

fn agent() -> AgentId {
    AgentId::new("a1b2c3d4-0000-4000-8000-000000000001").unwrap()
}

fn day(offset: i64) -> Day {
    Day::parse("2026-10-01").unwrap().add_days(offset).unwrap()
}

fn event(rule: u8, on: i64, points: i64) -> PointEvent {
    let key = EventKey::new(
        agent(),
        day(on),
        RuleId::new(format!("rule-{rule}")).unwrap(),
        MetricName::new("sales").unwrap(),
        Default::default(),
    );
    PointEvent::new(key, Points::new(points))
}

fn at() -> DateTime<Utc> {
    "2026-10-01T00:00:00Z".parse().unwrap()
}

proptest! {
    /// Any run of accruals and restatements (three keys, four days, gains and losses, zeros),
    /// with a 30-day window: the same balance on every day, lots and version.
    #[test]
    fn folding_by_id_is_planning_and_applying(
        events in proptest::collection::vec((0u8..3, 0i64..4, -60i64..120), 1..40),
    ) {
        let mut planned = Account::new(agent());
        let mut keyed = Account::without_history(agent());
        let ids = AgentKeyIds::new(agent());
        for (rule, on, points) in events {
            let event = event(rule, on, points);
            let expires = event.day().add_days(30).unwrap();
            let accrual = KeyedAccrual {
                id: ids.id(event.key()),
                day: event.day(),
                points: event.points(),
                expires,
            };
            let changed = match planned.plan(&Command::Accrue { event, expires }).unwrap() {
                Plan::Append(id, op) => {
                    planned.apply(Entry { id, at: at(), op }).unwrap();
                    true
                }
                Plan::Nothing(_) => false,
            };
            prop_assert_eq!(keyed.fold_accrual(accrual).unwrap(), changed);
        }
        prop_assert_eq!(keyed.version(), planned.version());
        prop_assert_eq!(keyed.lots(), planned.lots());
        for offset in -1..40 {
            prop_assert_eq!(keyed.balance(day(offset)), planned.balance(day(offset)));
        }
    }
}

/// A 10-point accrual on day 0 with `expires`, folded by id into `account`: refused as
/// invalid, and the account left as it was.
fn refused(mut account: Account, expires: Day) {
    let accrual = KeyedAccrual {
        id: event(0, 0, 10).id(),
        day: day(0),
        points: Points::new(10),
        expires,
    };
    assert!(matches!(
        account.fold_accrual(accrual),
        Err(LedgerError::Invalid { .. })
    ));
    assert_eq!(account.version(), 0, "nothing folded");
    assert_eq!(account.balance(day(1)).balance, Points::ZERO);
}

#[test]
fn an_account_that_keeps_its_entries_refuses_an_accrual_without_its_key() {
    refused(Account::new(agent()), day(30));
}

#[test]
fn an_expiry_not_after_the_day_is_refused_as_planning_refuses_it() {
    refused(Account::without_history(agent()), day(0));
}
