//! The programme owner's controls: prices (so spend is counted in money), budgets in points
//! per day and per calendar month (overall and per reward type), the cost above which a
//! reward waits for an approval, and the funding balance below which an alert is raised.
//! `[prices]`, `[budget]`, `[approval]` and `[funding]` in `kudos.toml`
//! (`docs/reference/configuration.md`).

use std::collections::BTreeMap;

use chrono::Datelike as _;
use kudos_core::{Day, Money, Points, RewardType};
use kudos_ledger::BudgetLimit;

/// A budget's two limits, in points (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The most points held for rewards on one day (the run's day).
    pub per_day: Option<Points>,
    /// The most points held for rewards in one calendar month (of the run's day).
    pub per_month: Option<Points>,
}

impl Limits {
    fn is_set(self) -> bool {
        self.per_day.is_some() || self.per_month.is_some()
    }
}

/// The budgets: overall, and per reward type. A reward must fit every one that applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budget {
    /// `[budget] max_points_per_day` and `max_points_per_month`.
    pub overall: Limits,
    /// `[budget.reward_type.<type>]`.
    pub per_reward_type: BTreeMap<RewardType, Limits>,
}

impl Budget {
    /// Whether any budget is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.overall.is_set() || self.per_reward_type.values().any(|l| l.is_set())
    }

    /// The budgets a reward of `reward_type` held on `day` must stay within, as buckets:
    /// `day:2026-03-04`, `month:2026-03`, and the same with `:<reward type>` after.
    #[must_use]
    pub fn limits(&self, day: Day, reward_type: &RewardType) -> Vec<BudgetLimit> {
        let month = format!("{:04}-{:02}", day.naive().year(), day.naive().month());
        let mut out = Vec::new();
        let mut add = |limits: Limits, suffix: String| {
            if let Some(limit) = limits.per_day {
                out.push(BudgetLimit::new(format!("day:{day}{suffix}"), limit));
            }
            if let Some(limit) = limits.per_month {
                out.push(BudgetLimit::new(format!("month:{month}{suffix}"), limit));
            }
        };
        add(self.overall, String::new());
        if let Some(limits) = self.per_reward_type.get(reward_type) {
            add(*limits, format!(":{reward_type}"));
        }
        out
    }
}

/// The programme owner's controls ([`Parts::controls`](crate::Parts::controls)). The
/// default has none: no price, no budget, no approval, no funding floor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Controls {
    /// `[prices]`: what a reward of each type costs in money.
    pub prices: BTreeMap<RewardType, Money>,
    /// `[budget]`.
    pub budget: Budget,
    /// `[approval] above_cost`: rewards whose cost in points is above it wait for
    /// `kudos review approve`.
    pub approval_above_cost: Option<Points>,
    /// `[funding]`: before each issuing round, ask the marketplace for its balance
    /// ([`RewardProvider::balance`](kudos_client::RewardProvider::balance)) and issue only
    /// what it covers (at the `[prices]`).
    pub check_funds: bool,
    /// `[funding] low_balance_below`: a `low_balance` alert when the marketplace's balance
    /// is below it.
    pub low_balance_below: Option<Money>,
}

impl Controls {
    /// No controls.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// With these prices.
    #[must_use]
    pub fn prices(mut self, prices: BTreeMap<RewardType, Money>) -> Self {
        self.prices = prices;
        self
    }

    /// With these budgets.
    #[must_use]
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Rewards costing more than `points` wait for an approval.
    #[must_use]
    pub fn approval_above_cost(mut self, points: Option<Points>) -> Self {
        self.approval_above_cost = points;
        self
    }

    /// Check the marketplace's balance before each issuing round, with a `low_balance`
    /// alert below `floor`.
    #[must_use]
    pub fn check_funds(mut self, floor: Option<Money>) -> Self {
        self.check_funds = true;
        self.low_balance_below = floor;
        self
    }

    /// Whether a reward costing `cost` points needs an approval.
    #[must_use]
    pub fn needs_approval(&self, cost: Points) -> bool {
        self.approval_above_cost.is_some_and(|above| cost > above)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reward_is_counted_in_every_budget_that_applies() {
        let gift = RewardType::new("gift_card_50_usd").unwrap();
        let other = RewardType::new("mug").unwrap();
        let budget = Budget {
            overall: Limits {
                per_day: Some(Points::new(5000)),
                per_month: Some(Points::new(100_000)),
            },
            per_reward_type: BTreeMap::from([(
                gift.clone(),
                Limits {
                    per_day: None,
                    per_month: Some(Points::new(2000)),
                },
            )]),
        };
        let day = Day::parse("2026-03-04").unwrap();
        let names = |rt| -> Vec<String> {
            budget
                .limits(day, rt)
                .into_iter()
                .map(|l| l.bucket)
                .collect()
        };
        assert_eq!(
            names(&gift),
            [
                "day:2026-03-04",
                "month:2026-03",
                "month:2026-03:gift_card_50_usd"
            ]
        );
        assert_eq!(names(&other), ["day:2026-03-04", "month:2026-03"]);
        assert!(Budget::default().limits(day, &gift).is_empty());
        assert!(!Budget::default().is_set());
    }
}
