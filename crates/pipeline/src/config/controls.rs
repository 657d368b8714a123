//! `[prices]`, `[budget]`, `[approval]` and `[funding]`: the programme owner's controls, read
//! into [`Controls`].

use std::collections::BTreeMap;

use kudos_core::{Money, Points, RewardType};
use serde::Deserialize;

use super::{ConfigError, Ctx};
use crate::controls::{Budget, Controls, Limits};

/// `[budget]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudget {
    max_points_per_day: Option<i64>,
    max_points_per_month: Option<i64>,
    #[serde(default)]
    reward_type: BTreeMap<String, RawLimits>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_points_per_day: Option<i64>,
    max_points_per_month: Option<i64>,
}

/// `[approval]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApproval {
    above_cost: Option<i64>,
}

/// `[funding]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFunding {
    low_balance_below: Option<String>,
}

/// The four tables as written.
pub(super) struct RawControls {
    pub(super) prices: BTreeMap<String, String>,
    pub(super) budget: RawBudget,
    pub(super) approval: RawApproval,
    pub(super) funding: Option<RawFunding>,
}

/// What is wrong with an amount of money, without the value (configuration errors never
/// quote a value).
fn money_error(e: &kudos_core::CoreError) -> String {
    match e {
        kudos_core::CoreError::InvalidMoney { reason, .. } => {
            format!("not an amount of money (AMOUNT CURRENCY, such as \"50.00 USD\"): {reason}")
        }
        _ => "not an amount of money (AMOUNT CURRENCY, such as \"50.00 USD\")".to_owned(),
    }
}

impl Ctx<'_> {
    fn points(&self, key: &str, value: Option<i64>) -> Result<Option<Points>, ConfigError> {
        match value {
            Some(v) if v < 0 => Err(self.err(key, "must be 0 or more points")),
            other => Ok(other.map(Points::new)),
        }
    }

    fn reward_type(&self, key: &str, name: &str) -> Result<RewardType, ConfigError> {
        RewardType::new(name).map_err(|e| self.err(key, format!("not a reward type: {e}")))
    }

    /// Reads the controls, naming the key at fault.
    pub(super) fn controls(&self, raw: RawControls) -> Result<Controls, ConfigError> {
        let mut prices = BTreeMap::new();
        for (name, price) in raw.prices {
            let key = format!("prices.{name}");
            let money = Money::parse(&price).map_err(|e| self.err(&key, money_error(&e)))?;
            if money.units() <= 0 {
                return Err(self.err(&key, "a price must be more than zero"));
            }
            prices.insert(self.reward_type(&key, &name)?, money);
        }
        let b = raw.budget;
        let overall = Limits {
            per_day: self.points("budget.max_points_per_day", b.max_points_per_day)?,
            per_month: self.points("budget.max_points_per_month", b.max_points_per_month)?,
        };
        let mut per_reward_type = BTreeMap::new();
        for (name, limits) in b.reward_type {
            let key = format!("budget.reward_type.{name}");
            let limits = Limits {
                per_day: self.points(
                    &format!("{key}.max_points_per_day"),
                    limits.max_points_per_day,
                )?,
                per_month: self.points(
                    &format!("{key}.max_points_per_month"),
                    limits.max_points_per_month,
                )?,
            };
            per_reward_type.insert(self.reward_type(&key, &name)?, limits);
        }
        let check_funds = raw.funding.is_some();
        let floor = raw
            .funding
            .unwrap_or_default()
            .low_balance_below
            .map(|m| {
                Money::parse(&m).map_err(|e| self.err("funding.low_balance_below", money_error(&e)))
            })
            .transpose()?;
        let controls = Controls::new()
            .prices(prices)
            .budget(Budget {
                overall,
                per_reward_type,
            })
            .approval_above_cost(self.points("approval.above_cost", raw.approval.above_cost)?);
        Ok(if check_funds {
            controls.check_funds(floor)
        } else {
            controls
        })
    }
}
