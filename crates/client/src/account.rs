//! What the marketplace account can tell besides rewards: its balance
//! (`GET /v1/account/balance`) and the rewards it issued on some days (`GET /v1/rewards`),
//! for the run's funding check and for reconciliation.

use kudos_core::{Day, Money, TxnId};
use serde_json::Value;

use crate::{HttpRewardProvider, Outcome};

/// A reward as the marketplace lists it ([`RewardProvider::records`](crate::RewardProvider::records)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketRecord {
    /// The request id it was issued under (a `TxnId`, if Kudos asked for it).
    pub request_id: String,
    /// Its reward type.
    pub reward_type: String,
    /// Its status (`ISSUED`, `REVERSED`…).
    pub status: String,
    /// The day it was issued.
    pub day: Option<Day>,
}

impl HttpRewardProvider {
    /// `GET /v1/rewards?from=&to=`: the marketplace's rewards of those days (`None` on a
    /// `404` or `405`: it cannot list them).
    pub(crate) async fn list_records(
        &self,
        from: Day,
        to: Day,
    ) -> Result<Option<Vec<MarketRecord>>, String> {
        let id = TxnId::generate(self.clock.as_ref()).to_string();
        let answer = match self
            .call(
                "records",
                "GET",
                &format!("/v1/rewards?from={from}&to={to}"),
                &id,
                false,
                &[],
            )
            .await
        {
            Err(Outcome::NeedsReview {
                status: 404 | 405, ..
            }) => return Ok(None),
            Err(o) => return Err(format!("the rewards could not be listed: {o:?}")),
            Ok(answer) => answer,
        };
        let body: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| "the rewards list is not JSON".to_owned())?;
        let Some(rewards) = body["rewards"].as_array() else {
            return Err("the rewards list has no rewards".to_owned());
        };
        Ok(Some(
            rewards
                .iter()
                .map(|r| MarketRecord {
                    request_id: r["request_id"].as_str().unwrap_or_default().to_owned(),
                    reward_type: r["reward_type"].as_str().unwrap_or_default().to_owned(),
                    status: r["status"].as_str().unwrap_or_default().to_owned(),
                    day: r["issued_on"].as_str().and_then(|d| Day::parse(d).ok()),
                })
                .collect(),
        ))
    }

    /// `GET /v1/account/balance` (`None` on a `404`: it has no balance to tell).
    pub(crate) async fn read_balance(&self) -> Result<Option<Money>, String> {
        let id = TxnId::generate(self.clock.as_ref()).to_string();
        match self
            .call("balance", "GET", "/v1/account/balance", &id, false, &[])
            .await
        {
            // The marketplace has no balance to tell.
            Err(Outcome::NeedsReview { status: 404, .. }) => Ok(None),
            Err(o) => Err(format!("the balance could not be read: {o:?}")),
            Ok(answer) => {
                let body: Value = serde_json::from_slice(&answer.body)
                    .map_err(|_| "the balance answer is not JSON".to_owned())?;
                let amount = match &body["available"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err("the balance answer has no available amount".to_owned()),
                };
                let currency = body["currency"].as_str().unwrap_or_default();
                Money::new(&amount, currency).map(Some).map_err(|_| {
                    "the balance answer's amount or currency is not readable".to_owned()
                })
            }
        }
    }
}
