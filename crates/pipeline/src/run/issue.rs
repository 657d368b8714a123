//! The issue step: in rounds, each round three stages at once joined by bounded queues —
//! holds made (leased and audited) a slice at a time, requests sent `max_in_flight` at a time
//! in a task of their own, answers settled in batches — and the agents who can afford another
//! tier go round again, up to `max_rewards_per_agent_per_run`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use futures_util::StreamExt as _;
use kudos_client::Outcome;
use kudos_core::{AgentId, Tier, TxnId};
use kudos_ledger::{AccountCommands, Command, HoldState, LedgerError};
use serde_json::json;
use tracing::Instrument as _;

use super::controls::Candidate;
use super::settle::{Answered, Next};
use super::{AbortOnDrop, BATCH, Count, PipelineError, Run, SLICE, error::redact};
use crate::{AlertKind, AuditEvent};

/// How long the settle stage gathers answers while requests are still out, before it writes
/// a batch. Each batch costs the same whatever its size (two audit writes, each synced and
/// anchored, and one ledger transaction, synced): settling what arrived while the last batch
/// was written made batches of about ten answers at a 5 ms marketplace, and the writes most
/// of the run's CPU. A hold waits this much longer to be settled; no request waits for it.
const GATHER: Duration = Duration::from_millis(10);

/// A hold made this round, about to be sent.
struct Made {
    agent: AgentId,
    txn: TxnId,
    tier: Tier,
    payload: Vec<u8>,
    /// Whether the balance left once this reward is paid still affords a tier.
    affords_another: bool,
    /// The agent's pseudonym, for logs.
    pseudonym: String,
}

/// An answer from the request stage, on its way to be settled.
struct Sent {
    answered: Answered,
    /// As [`Made::affords_another`].
    affords_another: bool,
}

/// What became of an agent in a round.
pub(super) struct RoundDone {
    agent: AgentId,
    /// Whether it may go round again.
    next: Next,
    /// Whether its request could not be sent (the hold waits, open).
    unsent: bool,
}

impl Run<'_> {
    /// Issues in rounds: every agent without an unresolved hold gets a hold for its highest
    /// affordable tier (made and leased in batches), the round's requests go out
    /// `max_in_flight` at a time, the answers are settled in batches; the agents whose reward
    /// was issued go round again, up to `max_rewards_per_agent_per_run` rounds.
    ///
    /// The step runs beside the accrue step: it begins once the first batch of accruals is
    /// appended, makes each agent's hold only once the agent's own batch is, and makes no
    /// hold after the accrue step failed (what it sent is settled; the run reports the
    /// failure).
    pub(super) async fn issue(&self, agents: &[AgentId]) -> Result<(), PipelineError> {
        if !self.accrual.wait_first().await {
            return Ok(());
        }
        self.progress.step("issue", None);
        if self.paused().is_some() {
            self.report_pause().await;
            return Ok(());
        }
        let in_flight = self.parts.settings.max_in_flight.max(1);
        // Rewards that waited (on a budget or funds) go first, oldest first.
        let waiting_before = self.store.waiting().await?;
        let mut due: Vec<AgentId> = Vec::with_capacity(agents.len());
        let known: std::collections::HashSet<&AgentId> = agents.iter().collect();
        due.extend(
            waiting_before
                .iter()
                .filter(|w| known.contains(&w.agent))
                .map(|w| w.agent.clone()),
        );
        let first: std::collections::HashSet<&AgentId> =
            waiting_before.iter().map(|w| &w.agent).collect();
        due.extend(agents.iter().filter(|a| !first.contains(a)).cloned());
        let mut not_sent: Vec<AgentId> = Vec::new();
        for _ in 0..self.parts.settings.max_rewards_per_agent_per_run {
            if due.is_empty() || self.is_unfunded() || self.accrual.failed() {
                break;
            }
            self.reconcile_budget().await?;
            self.round_funds().await;
            let round = self.next_round();
            let released_before = self.counts.get(Count::Released);
            let mut next_round = Vec::new();
            let issued = self.issue_round(&due, in_flight).await?;
            // What waited on a budget this round goes first in the next, if there is one or a
            // release gave budget back.
            if issued.iter().any(|done| done.next == Next::Continue)
                || self.counts.get(Count::Released) > released_before
            {
                next_round.extend(self.budget_waiters_of(round));
            }
            for done in issued {
                match done.next {
                    Next::Continue => next_round.push(done.agent),
                    Next::Stop if done.unsent => not_sent.push(done.agent),
                    Next::Stop => {}
                }
            }
            due = next_round;
        }
        if self.accrual.failed() {
            return Ok(()); // the run fails with the accrue step's error
        }
        // What could not be sent gets one more try at the end of the run.
        let mut again = Vec::new();
        for agent in not_sent {
            let account = self.ledger.account(&agent).await?;
            let Some(hold) = account.unresolved_hold() else {
                continue;
            };
            if hold.state != HoldState::Open || self.lease_lost(hold.txn) {
                continue;
            }
            let txn = hold.txn;
            let outcome = self.provider.issue(txn, &hold.payload).await;
            again.push(Answered {
                agent,
                txn,
                attempts: hold.attempts + 1,
                outcome,
            });
        }
        let still = again
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::NotSent { .. }))
            .count();
        self.settle_many(again, false).await?;
        self.settle_waiting(&waiting_before).await?;
        // What this run released (rejected, unfunded) gives its budget back now.
        self.reconcile_budget().await?;
        let awaiting = self.counts.get(Count::AwaitingApproval);
        if awaiting > 0 {
            self.alert(
                AlertKind::ApprovalNeeded,
                format!("{awaiting} rewards wait for an approval (kudos review list; approve or reject each)"),
                json!({"holds": awaiting}),
            )
            .await;
        }
        if still > 0 {
            self.alert(
                AlertKind::CircuitOpen,
                format!("{still} rewards could not be sent (circuit open or nothing could be sent); their holds wait for the next run"),
                json!({"holds": still}),
            )
            .await;
        }
        Ok(())
    }

    /// One round: three stages at once, joined by bounded queues, so that the requests never
    /// wait for the ledger. Holds are made (and leased and audited) a slice of agents at a
    /// time, at most two slices ahead of the requests; the requests go out `in_flight` at a
    /// time as holds arrive; the answers are settled in batches of whatever has arrived while
    /// the previous batch was being written. Returns each agent with a hold, whether it may go
    /// on to another reward, and whether its request could not be sent.
    async fn issue_round(
        &self,
        due: &[AgentId],
        in_flight: usize,
    ) -> Result<Vec<RoundDone>, PipelineError> {
        let (made_tx, made_rx) = tokio::sync::mpsc::channel::<Made>(2 * SLICE);
        // Room for more than a batch, so that no answer waits for the settle stage to gather.
        let (answer_tx, mut answer_rx) = tokio::sync::mpsc::channel::<Sent>(2 * SLICE);
        // Requests sent and not yet answered.
        let pending = Arc::new(AtomicUsize::new(0));
        let holds = async move {
            // A small first slice, so that the first requests wait for a few holds, not 500.
            let (head, rest) = due.split_at(due.len().min(SLICE / 10));
            for slice in std::iter::once(head).chain(rest.chunks(SLICE)) {
                for made in self.make_holds(slice).await? {
                    if made_tx.send(made).await.is_err() {
                        return Ok(()); // the round is failing: another stage returns its error
                    }
                }
            }
            Ok::<(), PipelineError>(())
        };
        // The requests run in a task of their own, so that the ledger work of the other two
        // stages (folding accounts, encoding entries) never keeps an answer waiting.
        let provider = Arc::clone(&self.provider);
        let lost = Arc::clone(&self.lost);
        let unfunded = Arc::clone(&self.unfunded);
        let sending = Arc::clone(&pending);
        let mut requests = AbortOnDrop(tokio::spawn(
            async move {
                let mut made_rx = made_rx;
                let mut answers = futures_util::stream::poll_fn(|cx| made_rx.poll_recv(cx))
                    .map(|made| {
                        sending.fetch_add(1, Ordering::Relaxed);
                        let span = tracing::info_span!("reward", txn = %made.txn, agent = %made.pseudonym, tier = %made.tier.id());
                        let provider = Arc::clone(&provider);
                        let lost = Arc::clone(&lost);
                        let unfunded = Arc::clone(&unfunded);
                        async move {
                            // A hold whose lease this run lost (it lapsed, and another run
                            // took it) is no longer this run's to send.
                            if lost
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .contains(&made.txn)
                            {
                                tracing::warn!("lease lost before sending; the hold is left to the run that has it");
                                return None;
                            }
                            // Funds ran out (a `402`) since this hold was made: it is not
                            // sent, and released as unfunded; the reward waits for funds.
                            let outcome = if unfunded.load(std::sync::atomic::Ordering::Relaxed) {
                                Outcome::Unfunded {
                                    reason: "not sent: the marketplace answered 402 earlier in this run".to_owned(),
                                }
                            } else {
                                provider.issue(made.txn, &made.payload).await
                            };
                            let answered = Answered {
                                agent: made.agent,
                                txn: made.txn,
                                attempts: 1,
                                outcome,
                            };
                            Some(Sent {
                                answered,
                                affords_another: made.affords_another,
                            })
                        }
                        .instrument(span)
                    })
                    .buffer_unordered(in_flight);
                while let Some(answer) = answers.next().await {
                    sending.fetch_sub(1, Ordering::Relaxed);
                    let Some(answer) = answer else { continue };
                    if answer_tx.send(answer).await.is_err() {
                        break; // the round is failing: another stage returns its error
                    }
                }
            }
            .in_current_span(),
        ));
        let settle = async {
            let mut done = Vec::new();
            let mut batch = Vec::with_capacity(SLICE);
            while answer_rx.recv_many(&mut batch, SLICE).await > 0 {
                // More answers are on their way: gather them into this batch. The last
                // answers of a round, and a lone request's, are settled at once.
                if pending.load(Ordering::Relaxed) > 0 && batch.len() < SLICE {
                    tokio::time::sleep(GATHER).await;
                    while batch.len() < SLICE {
                        let Ok(sent) = answer_rx.try_recv() else {
                            break;
                        };
                        batch.push(sent);
                    }
                }
                self.progress.advance(batch.len() as u64);
                let mut answers = Vec::with_capacity(batch.len());
                let mut affords_another = Vec::with_capacity(batch.len());
                for sent in batch.drain(..) {
                    affords_another.push(sent.affords_another);
                    answers.push(sent.answered);
                }
                let unsent: Vec<bool> = answers
                    .iter()
                    .map(|a| matches!(a.outcome, Outcome::NotSent { .. }))
                    .collect();
                let settled = self.settle_many(answers, false).await?;
                for ((settled, unsent), affords_another) in
                    settled.into_iter().zip(unsent).zip(affords_another)
                {
                    // An agent goes round again only if what is left affords another tier.
                    let next = match settled.next {
                        Next::Continue if affords_another => Next::Continue,
                        _ => Next::Stop,
                    };
                    done.push(RoundDone {
                        agent: settled.agent,
                        next,
                        unsent,
                    });
                }
            }
            Ok::<_, PipelineError>(done)
        };
        let joined = futures_util::future::try_join(holds, settle).await;
        // What was not settled this round (an approval awaited, a lease lost) is loaded afresh.
        self.held_accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let ((), out) = joined?;
        if let Err(e) = (&mut requests.0).await
            && e.is_panic()
        {
            // A provider that panicked: the run fails as it would have inline, not quietly.
            std::panic::resume_unwind(e.into_panic());
        }
        Ok(out)
    }

    /// Holds for the highest affordable tier of each of `agents` that has no unresolved hold:
    /// made, leased and audited in batches, before any request is sent.
    async fn make_holds(&self, agents: &[AgentId]) -> Result<Vec<Made>, PipelineError> {
        let mut out = Vec::new();
        for chunk in agents.chunks(BATCH) {
            // Each agent's events of this run first (the accrue step runs beside this one).
            if !self.accrual.wait(chunk).await {
                break;
            }
            // Against a budget, one worker at a time loads, claims and holds, so that no
            // worker's claim is refused for one another worker is about to give back.
            let locked = self.lock_budget().await?;
            let made = self.hold_chunk(chunk).await;
            if locked {
                self.unlock_budget().await?;
            }
            out.extend(self.after_holds(made?).await?);
        }
        Ok(out)
    }

    /// [`make_holds`](Self::make_holds) for one batch of agents, up to the holds appended
    /// (and the claims of holds not made given back): what the budget lock covers.
    async fn hold_chunk(&self, chunk: &[AgentId]) -> Result<Vec<Made>, PipelineError> {
        let mut work = Vec::new();
        let mut loaded = Vec::new();
        let mut made = Vec::new();
        for (agent, account) in chunk.iter().zip(self.accounts(chunk).await?) {
            self.note_debtor(agent, &account);
            if account.unresolved_hold().is_some() {
                continue;
            }
            let balance = account.balance(self.as_of).balance;
            let Some(tier) = self.parts.rules.tier_for(balance) else {
                continue;
            };
            let affords_another = balance
                .checked_sub(tier.cost())
                .is_ok_and(|left| self.parts.rules.tier_for(left).is_some());
            let txn = TxnId::generate(self.parts.clock.as_ref());
            let payload = match self.payload(agent, tier, txn).await {
                Ok(p) => p,
                Err(reason) => {
                    self.alert(
                        AlertKind::PayloadRefused,
                        format!("no reward request for tier {}: {reason}", tier.id()),
                        json!({"agent": self.pseudonym(agent), "tier": tier.id()}),
                    )
                    .await;
                    continue;
                }
            };
            let mut commands = vec![Command::Hold {
                txn,
                day: self.as_of,
                tier: tier.clone(),
                payload: payload.clone(),
            }];
            if self.parts.controls.needs_approval(tier.cost()) {
                commands.push(Command::Mark {
                    txn,
                    state: HoldState::AwaitingApproval,
                    attempts: 0,
                });
            }
            work.push(AccountCommands::new(agent.clone(), commands));
            loaded.push(account);
            made.push(Made {
                agent: agent.clone(),
                txn,
                tier: tier.clone(),
                payload,
                affords_another,
                pseudonym: self.pseudonym(agent),
            });
        }
        if work.is_empty() {
            return Ok(Vec::new());
        }
        let candidates: Vec<Candidate<'_>> = made
            .iter()
            .map(|m| Candidate {
                agent: &m.agent,
                tier: &m.tier,
                txn: m.txn,
            })
            .collect();
        let admitted = self.admit(&candidates).await?;
        drop(candidates);
        let mut keep = admitted.iter();
        work.retain(|_| *keep.next().unwrap_or(&false));
        let mut keep = admitted.iter();
        loaded.retain(|_| *keep.next().unwrap_or(&false));
        let mut keep = admitted.iter();
        made.retain(|_| *keep.next().unwrap_or(&false));
        if work.is_empty() {
            return Ok(Vec::new());
        }
        let results = self
            .ledger
            .execute_many_keeping(&work, Some(loaded))
            .await?;
        let mut kept = Vec::with_capacity(made.len());
        let mut unclaimed = Vec::new();
        for (m, result) in made.into_iter().zip(results) {
            if result.is_err() {
                unclaimed.push(m.txn);
            }
            match result {
                Ok((_, account)) => {
                    // The account as the hold left it, for settling the answer without
                    // loading it again.
                    self.held_accounts
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(m.txn, account);
                    kept.push(m);
                }
                // Another run got there first, or the balance moved: nothing to do here.
                Err(LedgerError::HoldUnresolved { .. } | LedgerError::Insufficient { .. }) => {}
                Err(e @ LedgerError::Store { .. }) => return Err(e.into()),
                Err(e) => {
                    self.alert(
                        AlertKind::LedgerError,
                        format!("cannot hold tier {}: {}", m.tier.id(), redact(&e, &m.agent)),
                        json!({"agent": self.pseudonym(&m.agent), "tier": m.tier.id()}),
                    )
                    .await;
                }
            }
        }
        if !unclaimed.is_empty() && self.parts.controls.budget.is_set() {
            self.store.return_budget(&unclaimed).await?; // no hold: its claim goes back
        }
        Ok(kept)
    }

    /// The holds of one batch audited, counted and leased (those awaiting an approval are
    /// audited, never sent here); returns those to send.
    async fn after_holds(&self, kept: Vec<Made>) -> Result<Vec<Made>, PipelineError> {
        let mut out = Vec::new();
        self.add(Count::Holds, kept.len() as u64);
        self.served(kept.iter().map(|m| &m.agent));
        let mut records: Vec<AuditEvent> = kept
            .iter()
            .map(|m| AuditEvent::HoldMade {
                txn_id: m.txn,
                agent: m.pseudonym.clone(),
                tier: m.tier.id().clone(),
                reward_type: m.tier.reward_type().clone(),
                cost: m.tier.cost(),
                day: self.as_of,
            })
            .collect();
        // A reward above the approval amount waits for an operator: held, never sent here.
        let (awaiting, kept): (Vec<Made>, Vec<Made>) = kept
            .into_iter()
            .partition(|m| self.parts.controls.needs_approval(m.tier.cost()));
        records.extend(awaiting.iter().map(|m| AuditEvent::HoldMarked {
            txn_id: m.txn,
            state: HoldState::AwaitingApproval,
            attempts: 0,
        }));
        self.add(Count::AwaitingApproval, awaiting.len() as u64);
        self.audit_many(&records).await?;
        let txns: Vec<TxnId> = kept.iter().map(|m| m.txn).collect();
        let granted = self.lease_new_holds(&txns).await?;
        // A hold whose lease went to another run (its recovery took it in the instant
        // between the hold and the lease) is that run's to send, not this one's.
        for (made, granted) in kept.into_iter().zip(granted) {
            if granted {
                out.push(made);
            } else {
                tracing::warn!(txn = %made.txn, agent = %made.pseudonym, "hold leased by another run; left to it");
            }
        }
        Ok(out)
    }
}
