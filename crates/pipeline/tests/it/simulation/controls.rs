//! The programme owner's controls in the seeded simulation (issue 21): a day budget, funds
//! that run short (with or without the run checking the balance first: a `402` then), an
//! approval for every reward, and a pause over some runs — each drawn per seed from a stream
//! of its own (so the seed's other draws stay as they were). While they hold, after every
//! run: no day's budget is exceeded, and nothing is sent while paused; at the end: nothing
//! that awaited an approval was sent unless approved, and an approved reward was issued once
//! (the main check counts every reward).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use kudos_core::{Day, Money, Points, RewardType, SeededRng};
use kudos_ledger::{HoldState, LedgerStore};
use kudos_pipeline::{AuditEvent, AuditRecord, Budget, Controls, Limits};

use super::{COST, Rng};
use crate::run::{World, header};

/// What the owner switched on for a seed.
#[derive(Debug, Clone, Default)]
pub(super) struct Programme {
    /// The day budget, in points (a few rewards' worth).
    pub(super) budget_per_day: Option<i64>,
    /// Every reward waits for an approval.
    pub(super) approvals: bool,
    /// The account's funds, in rewards' worth at the start, and whether the run checks the
    /// balance before each round (if not, the marketplace answers `402`).
    pub(super) funds: Option<(u64, bool)>,
    /// Paused from before this run, for this many runs.
    pub(super) pause: Option<(usize, usize)>,
}

/// The price of the simulation's one reward type.
pub(super) fn price() -> Money {
    Money::parse("10.00 USD").unwrap()
}

/// The reward type the simulation's rules give.
fn voucher() -> RewardType {
    RewardType::new("gift_card_10_usd").unwrap()
}

/// Draws the controls of `seed` from a stream of their own.
pub(super) fn draw(seed: u64, runs: usize) -> Programme {
    let mut rng = Rng(SeededRng::new(seed ^ 0x6b75_646f_735f_6374));
    let runs = u64::try_from(runs).unwrap_or(1);
    Programme {
        budget_per_day: rng
            .chance(0.4)
            .then(|| COST * (1 + i64::try_from(rng.below(4)).unwrap_or(0))),
        approvals: rng.chance(0.3),
        funds: rng.chance(0.3).then(|| (rng.below(6), rng.chance(0.5))),
        pause: rng.chance(0.3).then(|| {
            let start = usize::try_from(rng.below(runs)).unwrap_or(0);
            (start, 1 + usize::try_from(rng.below(2)).unwrap_or(0))
        }),
    }
}

impl Programme {
    /// The controls the pipelines run with while the owner's brakes hold.
    pub(super) fn controls(&self) -> Controls {
        let mut controls = Controls::new();
        if let Some(points) = self.budget_per_day {
            controls = controls.budget(Budget {
                overall: Limits {
                    per_day: Some(Points::new(points)),
                    per_month: None,
                },
                per_reward_type: BTreeMap::new(),
            });
        }
        if self.approvals {
            controls = controls.approval_above_cost(Some(Points::new(COST / 2)));
        }
        if let Some((_, checks)) = self.funds {
            controls = controls.prices(BTreeMap::from([(voucher(), price())]));
            if checks {
                controls = controls.check_funds(Some(price()));
            }
        }
        controls
    }

    /// Whether run `r` is paused.
    pub(super) fn paused(&self, r: usize) -> bool {
        self.pause
            .is_some_and(|(start, len)| r >= start && r < start + len)
    }
}

/// The marketplace's posts so far (issues and reversals: what a paused run must not add).
pub(super) fn posts(w: &World) -> usize {
    w.sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/v1/"))
        .count()
}

/// No day's budget is exceeded: the holds of each day, but those released (their budget was
/// given back), cost no more than the budget.
pub(super) async fn no_budget_exceeded(w: &World, per_day: i64) -> Result<(), String> {
    let mut by_day: HashMap<Day, i64> = HashMap::new();
    for h in w.store.holds(None).await.map_err(|e| e.to_string())? {
        if h.state != HoldState::Released {
            *by_day.entry(h.day).or_default() += h.cost.get();
        }
    }
    for (day, spent) in by_day {
        if spent > per_day {
            return Err(format!(
                "{spent} points held on {day}, over the day's budget of {per_day}"
            ));
        }
    }
    Ok(())
}

/// Nothing that awaited an approval reached the marketplace unless an operator approved it,
/// and nothing rejected ever did.
pub(super) fn nothing_unapproved_was_sent(w: &World, trails: &[&Path]) -> Result<u64, String> {
    let (mut awaited, mut approved, mut rejected) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    for trail in trails {
        let text = std::fs::read_to_string(trail).map_err(|e| e.to_string())?;
        for line in text.lines() {
            let record: AuditRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
            match AuditEvent::from_record(&record) {
                Ok(AuditEvent::HoldMarked {
                    txn_id,
                    state: HoldState::AwaitingApproval,
                    ..
                }) => {
                    awaited.insert(txn_id.to_string());
                }
                Ok(AuditEvent::ReviewApproved { txn_id, .. }) => {
                    approved.insert(txn_id.to_string());
                }
                Ok(AuditEvent::ReviewRejected { txn_id, .. }) => {
                    rejected.insert(txn_id.to_string());
                }
                _ => {}
            }
        }
    }
    for request in w.sim.requests() {
        if request.path != "/v1/rewards/issue" {
            continue;
        }
        let txn = header(&request, "x-request-id");
        if awaited.contains(&txn) && !approved.contains(&txn) {
            return Err(format!("{txn} awaited an approval and was sent unapproved"));
        }
        if rejected.contains(&txn) {
            return Err(format!("{txn} was rejected by an approver and still sent"));
        }
    }
    Ok(approved.len() as u64)
}
