//! What was spent, and whether the marketplace agrees: `kudos report spend`. Rewards held from
//! one day to another, by reward type, in points and (at `[prices]`) money — issued,
//! released (not issued: rejected, unfunded, rejected by an approver, settled by hand),
//! reversed (clawed back), in flight, and waiting for a budget or funds — and every
//! disagreement between the ledger and the marketplace, found by looking each reward up and,
//! where the marketplace can list its rewards, by asking which of them the ledger never made.

use std::collections::{BTreeMap, HashSet};

use kudos_client::{RewardProvider, StatusOutcome};
use kudos_core::{Day, Money, Points, RewardType, TxnId};
use kudos_ledger::{HoldState, ReversalState};
use serde::Serialize;

use super::{Pipeline, PipelineError};

/// A count of rewards, their points and (when priced) their money.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// How many rewards.
    pub count: u64,
    /// Their points.
    pub points: i64,
    /// Their money, at the reward type's price (`None`: no price).
    pub amount: Option<Money>,
}

impl Tally {
    fn add(&mut self, points: Points, price: Option<&Money>) {
        self.count += 1;
        self.points = self.points.saturating_add(points.get());
        self.amount = price.and_then(|p| p.checked_times(self.count));
    }
}

/// One reward type's spend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpendLine {
    /// The reward type.
    pub reward_type: String,
    /// Its price (`[prices]`).
    pub price: Option<Money>,
    /// Issued, and not reversed since.
    pub issued: Tally,
    /// Not issued: the hold was released.
    pub released: Tally,
    /// Issued, then reversed (clawed back, or voided by the marketplace).
    pub reversed: Tally,
    /// Held and not resolved yet (awaiting approval, open, in doubt, in review).
    pub in_flight: Tally,
    /// No hold yet: waiting for a budget or funds.
    pub waiting: Tally,
}

/// A reward the ledger and the marketplace disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// The request id (the hold's `TxnId`, when the ledger has it).
    pub txn_id: String,
    /// The reward type.
    pub reward_type: String,
    /// What the ledger says (`committed`, `released`, `reversed`; `none`: it has no such
    /// reward).
    pub ledger: String,
    /// What the marketplace says (`issued`, `reversed`, `rejected`, `not_found`).
    pub marketplace: String,
    /// The day of the hold (or of the marketplace's record).
    pub day: Option<Day>,
}

/// The spend report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpendReport {
    /// The first day (of the holds).
    pub from: Option<Day>,
    /// The last day.
    pub to: Option<Day>,
    /// By reward type.
    pub lines: Vec<SpendLine>,
    /// The rewards looked up on the marketplace.
    pub looked_up: u64,
    /// Whether the marketplace listed its rewards (so a reward only it has is found too).
    pub listed: bool,
    /// What could not be asked (a lookup that failed): not a disagreement, not an agreement.
    pub unchecked: u64,
    /// Every disagreement.
    pub disagreements: Vec<Disagreement>,
}

/// The line of `rt`, made if it is the first.
fn line<'a>(
    lines: &'a mut BTreeMap<RewardType, SpendLine>,
    prices: &BTreeMap<RewardType, Money>,
    rt: &RewardType,
) -> &'a mut SpendLine {
    lines.entry(rt.clone()).or_insert_with(|| SpendLine {
        reward_type: rt.to_string(),
        price: prices.get(rt).cloned(),
        ..SpendLine::default()
    })
}

impl Pipeline {
    /// The spend of the rewards held from `from` to `to` (the run's days), and, with
    /// `reconcile`, every disagreement with the marketplace.
    ///
    /// # Errors
    ///
    /// A store failure. A marketplace that cannot be asked leaves rewards unchecked.
    pub async fn spend_report(
        &self,
        from: Day,
        to: Day,
        reconcile: bool,
    ) -> Result<SpendReport, PipelineError> {
        let store = &self.parts.store;
        let prices = &self.parts.controls.prices;
        let reversed: HashSet<TxnId> = store
            .reversals(Some(ReversalState::Reversed))
            .await?
            .into_iter()
            .map(|r| r.of)
            .collect();
        let holds: Vec<_> = store
            .holds(None)
            .await?
            .into_iter()
            .filter(|h| h.day >= from && h.day <= to)
            .collect();
        let mut lines: BTreeMap<RewardType, SpendLine> = BTreeMap::new();
        for h in &holds {
            let price = prices.get(&h.reward_type);
            let l = line(&mut lines, prices, &h.reward_type);
            match h.state {
                HoldState::Committed if reversed.contains(&h.txn) => l.reversed.add(h.cost, price),
                HoldState::Committed => l.issued.add(h.cost, price),
                HoldState::Released => l.released.add(h.cost, price),
                _ => l.in_flight.add(h.cost, price),
            }
        }
        for w in store.waiting().await? {
            if w.since <= to {
                let price = prices.get(&w.reward_type);
                line(&mut lines, prices, &w.reward_type)
                    .waiting
                    .add(w.points, price);
            }
        }
        let mut report = SpendReport {
            from: Some(from),
            to: Some(to),
            lines: lines.into_values().collect(),
            ..SpendReport::default()
        };
        if reconcile {
            self.reconcile(&holds, &reversed, from, to, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Looks every resolved reward up, and lists the marketplace's own where it can.
    async fn reconcile(
        &self,
        holds: &[kudos_ledger::HoldView],
        reversed: &HashSet<TxnId>,
        from: Day,
        to: Day,
        report: &mut SpendReport,
    ) -> Result<(), PipelineError> {
        let provider: &dyn RewardProvider = self.parts.provider.as_ref();
        for h in holds {
            let ledger = match h.state {
                HoldState::Committed if reversed.contains(&h.txn) => "reversed",
                HoldState::Committed => "committed",
                HoldState::Released => "released",
                _ => continue, // in flight: the run settles it
            };
            report.looked_up += 1;
            let said = match provider.status(h.txn).await {
                StatusOutcome::Issued { .. } => "issued",
                StatusOutcome::Reversed { .. } => "reversed",
                StatusOutcome::Rejected { .. } => "rejected",
                StatusOutcome::NotFound => "not_found",
                StatusOutcome::Unknown { .. } => {
                    report.unchecked += 1;
                    continue;
                }
            };
            let agrees = matches!(
                (ledger, said),
                ("committed", "issued")
                    | ("reversed", "reversed")
                    | ("released", "rejected" | "not_found")
            );
            if !agrees {
                report.disagreements.push(Disagreement {
                    txn_id: h.txn.to_string(),
                    reward_type: h.reward_type.to_string(),
                    ledger: ledger.to_owned(),
                    marketplace: said.to_owned(),
                    day: Some(h.day),
                });
            }
        }
        // A reward the marketplace has and the ledger never made (another system's, a lost
        // store): listed by the marketplace, unknown to the ledger on any day.
        let listed = match provider.records(from, to).await {
            Ok(listed) => listed,
            Err(reason) => {
                tracing::warn!(%reason, "the marketplace's rewards could not be listed");
                None
            }
        };
        if let Some(records) = listed {
            report.listed = true;
            for r in records {
                let known = match r.request_id.parse::<TxnId>() {
                    Ok(txn) => self.parts.store.find(*txn.as_uuid()).await?.is_some(),
                    Err(_) => false,
                };
                if !known {
                    report.disagreements.push(Disagreement {
                        txn_id: r.request_id,
                        reward_type: r.reward_type,
                        ledger: "none".to_owned(),
                        marketplace: r.status.to_lowercase(),
                        day: r.day,
                    });
                }
            }
        }
        Ok(())
    }
}
