//! The programme owner's controls during a run: the pause switch (read once, at the start),
//! the budgets (a claim per hold before it is made; claims of released holds given back),
//! the funds (the marketplace's balance before each round; a `402` stops new holds), the
//! rewards that wait and their alerts.

use std::collections::HashSet;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use kudos_core::{AgentId, Day, Tier, TxnId};
use kudos_ledger::{BudgetClaim, HoldState, Pause, Waiting};
use serde_json::json;

use super::{Count, PipelineError, Run};
use crate::AlertKind;

/// The reason a reward waits for funds.
const FUNDS: &str = "funds";

/// The store lock workers take around a batch of holds against a budget.
const BUDGET_LOCK: &str = "budget";

/// A reward about to be held, as the controls judge it.
pub(super) struct Candidate<'a> {
    pub(super) agent: &'a AgentId,
    pub(super) tier: &'a Tier,
    pub(super) txn: TxnId,
}

impl Run<'_> {
    /// Reads the pause switch (once: every step of the run sees the same answer).
    pub(super) async fn load_pause(&self) -> Result<(), PipelineError> {
        let pause = self.store.pause_state().await?;
        let _ = self.pause.set(pause);
        Ok(())
    }

    /// The pause switch, as read at the start of the run.
    pub(super) fn paused(&self) -> Option<&Pause> {
        self.pause.get().and_then(Option::as_ref)
    }

    /// Says the programme is paused (alert, counted): no new hold, no new request.
    pub(super) async fn report_pause(&self) {
        let Some(pause) = self.paused().cloned() else {
            return;
        };
        self.bump(Count::Paused);
        self.alert(
            AlertKind::Paused,
            format!(
                "the programme is paused (since {}, by {}: {}); no new reward was held or sent — kudos resume ends it",
                pause.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                pause.by,
                pause.reason
            ),
            json!({"since": pause.at, "by": pause.by}),
        )
        .await;
    }

    /// Gives back the budget claims whose holds were released (by this run, an earlier one or
    /// an operator), and those of holds never made (a run that stopped between its claim and
    /// its hold) once they are older than two lease lengths.
    ///
    /// Under the budget lock: another worker is never between its claim and its hold then, so
    /// a claim without a hold is one whose run stopped (and clocks that disagree cannot
    /// make a live claim look old).
    pub(super) async fn reconcile_budget(&self) -> Result<(), PipelineError> {
        if !self.parts.controls.budget.is_set() || self.dry_run {
            return Ok(());
        }
        let locked = self.lock_budget().await?;
        let result = self.give_back_released().await;
        if locked {
            self.unlock_budget().await?;
        }
        result
    }

    async fn give_back_released(&self) -> Result<(), PipelineError> {
        let claims = self.store.budget_claims(month_start(self.as_of)).await?;
        let active: Vec<_> = claims.iter().filter(|c| !c.returned).collect();
        let Some(since) = active.iter().map(|c| c.at).min() else {
            return Ok(());
        };
        // Released holds give their claims back. Releases are few: only they are listed
        // over the month, not every hold it made.
        let released: HashSet<TxnId> = self
            .store
            .holds_made_since(HoldState::Released, since)
            .await?
            .into_iter()
            .map(|h| h.txn)
            .collect();
        let mut back: Vec<TxnId> = active
            .iter()
            .filter(|c| released.contains(&c.txn))
            .map(|c| c.txn)
            .collect();
        // A claim whose hold was never made (its run stopped between the two) is looked for
        // among the holds made since, once it is two lease lengths old — for the claims of the
        // run's day and the day before, so a pass reads a day or two of holds, not a month.
        let lease =
            chrono::TimeDelta::from_std(self.lease_length() * 2).unwrap_or(chrono::TimeDelta::MAX);
        let orphaned_before = self.now().checked_sub_signed(lease);
        let recent = self.as_of.add_days(-1).unwrap_or(self.as_of);
        let candidates: Vec<_> = active
            .iter()
            .filter(|c| !released.contains(&c.txn) && c.day >= recent)
            .filter(|c| orphaned_before.is_some_and(|t| c.at < t))
            .collect();
        if let Some(since) = candidates.iter().map(|c| c.at).min() {
            let mut made = HashSet::new();
            for state in HoldState::ALL {
                if state != HoldState::Released {
                    made.extend(
                        self.store
                            .holds_made_since(state, since)
                            .await?
                            .into_iter()
                            .map(|h| h.txn),
                    );
                }
            }
            back.extend(
                candidates
                    .iter()
                    .filter(|c| !made.contains(&c.txn))
                    .map(|c| c.txn),
            );
        }
        if !back.is_empty() {
            let given = self.store.return_budget(&back).await?;
            tracing::info!(given, "budget given back for released holds");
        }
        Ok(())
    }

    /// Takes the store's budget lock for this run (waiting for it), when a budget is set.
    /// Returns whether it was taken.
    pub(super) async fn lock_budget(&self) -> Result<bool, PipelineError> {
        if !self.parts.controls.budget.is_set() || self.dry_run {
            return Ok(false);
        }
        while !self
            .store
            .try_lock(BUDGET_LOCK, &self.owner, self.lease_length())
            .await?
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(true)
    }

    /// Gives the budget lock back.
    pub(super) async fn unlock_budget(&self) -> Result<(), PipelineError> {
        Ok(self.store.unlock(BUDGET_LOCK, &self.owner).await?)
    }

    /// Before a round: the marketplace's balance, when `[funding]` asks for it — what the
    /// round may spend (at the prices), with a `low_balance` alert below the floor.
    pub(super) async fn round_funds(&self) {
        if !self.parts.controls.check_funds || self.dry_run {
            return;
        }
        let balance = match self.provider.balance().await {
            Ok(balance) => balance,
            Err(reason) => {
                tracing::warn!(%reason, "the marketplace's balance could not be read; issuing without it");
                None
            }
        };
        if let (Some(balance), Some(floor)) = (&balance, &self.parts.controls.low_balance_below)
            && balance.less_than(floor) == Some(true)
            && !self.low_alerted.swap(true, Ordering::Relaxed)
        {
            self.alert(
                AlertKind::LowBalance,
                format!("the marketplace's balance is {balance}, below {floor}: add funds"),
                json!({"balance": balance, "floor": floor}),
            )
            .await;
        }
        *self.funds.lock().unwrap_or_else(PoisonError::into_inner) = balance;
    }

    /// A `402`: funds ran out. No new hold is made this run; the agent's reward waits.
    pub(super) fn out_of_funds(&self, agent: &AgentId, why: &str) {
        tracing::warn!(agent = %self.pseudonym(agent), %why, "the marketplace is out of funds");
        self.unfunded.store(true, Ordering::Relaxed);
        self.unfunded_agents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(agent.clone());
    }

    /// Whether a `402` was answered this run.
    pub(super) fn is_unfunded(&self) -> bool {
        self.unfunded.load(Ordering::Relaxed)
    }

    /// Which candidates may be held: those the round's funds cover (at their price) and whose
    /// budget claim is granted, in order. The others wait, recorded for the end of the run.
    pub(super) async fn admit(
        &self,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<bool>, PipelineError> {
        let controls = &self.parts.controls;
        let mut admitted = Vec::with_capacity(candidates.len());
        {
            let mut funds = self.funds.lock().unwrap_or_else(PoisonError::into_inner);
            for c in candidates {
                let price = controls.prices.get(c.tier.reward_type());
                let covered = match (funds.as_ref(), price) {
                    _ if self.is_unfunded() => false,
                    (Some(left), Some(price)) => match left.checked_sub(price) {
                        Some(after) if after.units() >= 0 => {
                            *funds = Some(after);
                            true
                        }
                        Some(_) => false,
                        // Another currency: the balance cannot judge it.
                        None => true,
                    },
                    _ => true,
                };
                admitted.push(covered);
            }
        }
        for (c, ok) in candidates.iter().zip(&admitted) {
            if !ok {
                self.wait(c, FUNDS.to_owned());
            }
        }
        if !controls.budget.is_set() {
            return Ok(admitted);
        }
        let at = self.now();
        let claims: Vec<BudgetClaim> = candidates
            .iter()
            .zip(&admitted)
            .filter(|(_, ok)| **ok)
            .map(|(c, _)| BudgetClaim {
                txn: c.txn,
                agent: c.agent.clone(),
                day: self.as_of,
                reward_type: c.tier.reward_type().clone(),
                points: c.tier.cost(),
                limits: controls.budget.limits(self.as_of, c.tier.reward_type()),
                at,
            })
            .collect();
        let mut granted = self.store.claim_budget(&claims).await?.into_iter();
        for (c, ok) in candidates.iter().zip(admitted.iter_mut()) {
            if !*ok {
                continue;
            }
            if !granted.next().unwrap_or(false) {
                *ok = false;
                let reason = self.exceeded(c).await?;
                self.wait(c, reason);
            }
        }
        Ok(admitted)
    }

    /// Which budget a refused claim would have exceeded (its bucket), for the alert.
    async fn exceeded(&self, c: &Candidate<'_>) -> Result<String, PipelineError> {
        let limits = self
            .parts
            .controls
            .budget
            .limits(self.as_of, c.tier.reward_type());
        for limit in &limits {
            let spent = self.store.budget_spent(&limit.bucket).await?;
            if spent.get().saturating_add(c.tier.cost().get()) > limit.limit.get() {
                return Ok(limit.bucket.clone());
            }
        }
        Ok(limits
            .first()
            .map_or_else(String::new, |l| l.bucket.clone()))
    }

    /// Starts an issuing round: waits recorded from now on are this round's.
    pub(super) fn next_round(&self) -> usize {
        self.round.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The agents that waited on a budget in `round`.
    pub(super) fn budget_waiters_of(&self, round: usize) -> Vec<AgentId> {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(r, w)| *r == round && w.reason != FUNDS)
            .map(|(_, w)| w.agent.clone())
            .collect()
    }

    /// Agents that got a hold: whatever they waited for earlier in the run, they wait no more.
    pub(super) fn served<'a>(&self, agents: impl Iterator<Item = &'a AgentId>) {
        let served: HashSet<&AgentId> = agents.collect();
        if served.is_empty() {
            return;
        }
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(_, w)| !served.contains(&w.agent));
    }

    fn wait(&self, c: &Candidate<'_>, reason: String) {
        let round = self.round.load(Ordering::Relaxed);
        let waiting = self.waiting(c.agent.clone(), c.tier, reason);
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((round, waiting));
    }

    /// `agent`'s reward of `tier`, waiting from the run's day for `reason`.
    fn waiting(&self, agent: AgentId, tier: &Tier, reason: String) -> Waiting {
        Waiting {
            agent,
            tier: tier.id().clone(),
            reward_type: tier.reward_type().clone(),
            points: tier.cost(),
            since: self.as_of,
            reason,
        }
    }

    /// At the end of the issue step: the rewards that wait are recorded (oldest keep their
    /// first day) and alerted; agents that waited before and do not now (served, or no
    /// longer affording a tier) are forgotten.
    pub(super) async fn settle_waiting(
        &self,
        waiting_before: &[Waiting],
    ) -> Result<(), PipelineError> {
        let mut waits: Vec<Waiting> =
            std::mem::take(&mut *self.waits.lock().unwrap_or_else(PoisonError::into_inner))
                .into_iter()
                .map(|(_, w)| w)
                .collect();
        // An agent that waited in several rounds waits once, for the reward of its last try.
        let mut seen = HashSet::new();
        waits.reverse();
        waits.retain(|w| seen.insert(w.agent.clone()));
        waits.reverse();
        // Agents whose `402` released their hold wait for funds, at the tier they were held for.
        let unfunded = std::mem::take(
            &mut *self
                .unfunded_agents
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for agent in unfunded {
            let account = self.ledger.account(&agent).await?;
            if let Some(tier) = self
                .parts
                .rules
                .tier_for(account.balance(self.as_of).balance)
            {
                waits.push(self.waiting(agent, tier, FUNDS.to_owned()));
            }
        }
        let waiting_now: HashSet<&AgentId> = waits.iter().map(|w| &w.agent).collect();
        let done: Vec<AgentId> = waiting_before
            .iter()
            .filter(|w| !waiting_now.contains(&w.agent))
            .map(|w| w.agent.clone())
            .collect();
        if !self.dry_run && (!waits.is_empty() || !done.is_empty()) {
            self.store.set_waiting(&waits, &done).await?;
        }
        if waits.is_empty() {
            return Ok(());
        }
        self.add(Count::Waiting, waits.len() as u64);
        let mut by_reason: std::collections::BTreeMap<&str, (u64, i64)> = Default::default();
        for w in &waits {
            let e = by_reason.entry(w.reason.as_str()).or_default();
            e.0 += 1;
            e.1 = e.1.saturating_add(w.points.get());
        }
        let points: i64 = by_reason.values().map(|(_, p)| *p).sum();
        let budget: Vec<String> = by_reason
            .iter()
            .filter(|(reason, _)| **reason != FUNDS)
            .map(|(reason, (n, p))| format!("{n} ({p} points) on {reason}"))
            .collect();
        if !budget.is_empty() {
            self.alert(
                AlertKind::BudgetExceeded,
                format!(
                    "rewards wait for a budget: {}; their points stay the agents', and a later run issues them, oldest first",
                    budget.join(", ")
                ),
                json!({"rewards": waits.iter().filter(|w| w.reason != FUNDS).count(), "points": points, "budgets": by_reason.keys().filter(|r| **r != FUNDS).collect::<Vec<_>>()}),
            )
            .await;
        }
        if let Some((n, p)) = by_reason.get(FUNDS) {
            self.alert(
                AlertKind::InsufficientFunds,
                format!("{n} rewards ({p} points) wait for funds: the marketplace's balance does not cover them; add funds"),
                json!({"rewards": n, "points": p}),
            )
            .await;
        }
        Ok(())
    }
}

/// The first day of `day`'s month.
fn month_start(day: Day) -> Day {
    use chrono::Datelike as _;
    Day::from_ymd(day.naive().year(), day.naive().month(), 1).unwrap_or(day)
}
