//! Reward tiers.

use serde::{Deserialize, Serialize};

use crate::{CoreError, Points, RewardType, TierId};

/// A reward an agent can reach: when the available balance reaches `threshold`, a reward of
/// `reward_type` may be issued, consuming `cost` points.
///
/// ```
/// use kudos_core::{Points, RewardType, Tier, TierId};
/// let tier = Tier::new(TierId::new("gift-card-50")?, RewardType::new("gift_card_50_usd")?,
///     Points::new(500), None)?;
/// assert_eq!(tier.cost(), Points::new(500)); // cost defaults to the threshold
/// assert!(Tier::new(TierId::new("t")?, RewardType::new("r")?, Points::new(100), Some(Points::new(200))).is_err());
/// # Ok::<(), kudos_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TierRepr", into = "TierRepr")]
pub struct Tier {
    id: TierId,
    reward_type: RewardType,
    threshold: Points,
    cost: Points,
}

impl Tier {
    /// A tier; `cost` defaults to `threshold`.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidTier`] unless `0 < cost <= threshold`.
    pub fn new(
        id: TierId,
        reward_type: RewardType,
        threshold: Points,
        cost: Option<Points>,
    ) -> Result<Self, CoreError> {
        let cost = cost.unwrap_or(threshold);
        let invalid = |reason: String| CoreError::InvalidTier {
            tier: id.to_string(),
            reason,
        };
        if !threshold.is_positive() {
            return Err(invalid(format!("threshold {threshold} must be above zero")));
        }
        if !cost.is_positive() {
            return Err(invalid(format!("cost {cost} must be above zero")));
        }
        if cost > threshold {
            return Err(invalid(format!(
                "cost {cost} is above the threshold {threshold}"
            )));
        }
        Ok(Self {
            id,
            reward_type,
            threshold,
            cost,
        })
    }

    /// The tier id.
    #[must_use]
    pub fn id(&self) -> &TierId {
        &self.id
    }

    /// The marketplace reward type.
    #[must_use]
    pub fn reward_type(&self) -> &RewardType {
        &self.reward_type
    }

    /// The available balance needed.
    #[must_use]
    pub fn threshold(&self) -> Points {
        self.threshold
    }

    /// The points consumed by the reward.
    #[must_use]
    pub fn cost(&self) -> Points {
        self.cost
    }
}

#[derive(Serialize, Deserialize)]
struct TierRepr {
    id: TierId,
    reward_type: RewardType,
    threshold: Points,
    cost: Option<Points>,
}

impl TryFrom<TierRepr> for Tier {
    type Error = CoreError;
    fn try_from(r: TierRepr) -> Result<Self, CoreError> {
        Self::new(r.id, r.reward_type, r.threshold, r.cost)
    }
}

impl From<Tier> for TierRepr {
    fn from(t: Tier) -> Self {
        Self {
            id: t.id,
            reward_type: t.reward_type,
            threshold: t.threshold,
            cost: Some(t.cost),
        }
    }
}
