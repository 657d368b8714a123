//! `Ledger`: the operations over a store, with optimistic concurrency.

use std::collections::BTreeSet;
use std::sync::Arc;

use kudos_core::{AgentId, Clock, TxnId};

use crate::{
    Account, AppendItem, Command, Entry, HoldView, LedgerError, LedgerStore, Op, Plan, ReversalView,
};

/// How many times an operation reloads and retries after a `Conflict` before giving up.
///
/// Generous on purpose: a conflict means another writer made progress, a retry is one reload,
/// and the ledger has no runtime to back off with, so with many writers on one hot account a
/// small bound would fail operations that a few more reloads would complete. It still bounds
/// a store that (wrongly) always answers `Conflict`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 1000;

/// The result of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The entry that records it: appended now, or found from an earlier identical request.
    /// `None` for an accrual that changed nothing.
    pub entry: Option<Entry>,
    /// Whether this call appended it.
    pub appended: bool,
}

/// What [`Ledger::execute_many_keeping`] returns: per work item, what its commands did and
/// the account after them, or why the item was refused.
pub type KeptResults = Vec<Result<Kept, LedgerError>>;

/// One work item's result in [`KeptResults`]: what its commands did, and its account after.
pub type Kept = (Vec<Applied>, Account);

/// One account's commands in a batch ([`Ledger::execute_many`]).
#[derive(Debug, Clone)]
pub struct AccountCommands {
    /// The account.
    pub agent: AgentId,
    /// Its commands, applied in order.
    pub commands: Vec<Command>,
}

impl AccountCommands {
    /// `agent`'s `commands`.
    #[must_use]
    pub fn new(agent: AgentId, commands: Vec<Command>) -> Self {
        Self { agent, commands }
    }
}

/// The ledger over a [`LedgerStore`].
///
/// Every operation loads the account, plans against it (validation, idempotency), and appends
/// if the account's version has not moved; on `Conflict` it reloads and tries again, so
/// concurrent writers, in one process or many, never lose an update.
#[derive(Debug)]
pub struct Ledger<S> {
    store: S,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
}

impl<S: LedgerStore> Ledger<S> {
    /// A ledger over `store`, stamping entries with `clock`.
    pub fn new(store: S, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Loads and folds an account.
    ///
    /// # Errors
    ///
    /// A store error, or [`LedgerError::Corrupt`].
    pub async fn account(&self, agent: &AgentId) -> Result<Account, LedgerError> {
        let stored = self.store.load(agent).await?;
        let account = Account::from_entries(agent.clone(), stored.entries)?;
        if account.version() != stored.version {
            return Err(LedgerError::Corrupt {
                agent: agent.clone(),
                index: account.version(),
                id: uuid::Uuid::nil(),
                reason: format!(
                    "the store says version {} for {} entries",
                    stored.version,
                    account.version()
                ),
            });
        }
        Ok(account)
    }

    /// An agent's statement from `from` to `to` ([`Statement`](crate::Statement)): every
    /// movement of its balance, adding up to the balance on `to`, with its debt and the points
    /// that expire in the 30 days after `to`.
    ///
    /// # Errors
    ///
    /// A store error, or [`LedgerError::Corrupt`].
    pub async fn statement(
        &self,
        agent: &AgentId,
        from: Option<kudos_core::Day>,
        to: kudos_core::Day,
    ) -> Result<crate::Statement, LedgerError> {
        let stored = self.store.load(agent).await?;
        crate::Statement::of(agent, &stored.entries, from, to)
    }

    /// Loads and folds several accounts with one [`LedgerStore::load_many`], in the order
    /// asked. An account that does not fold is its own error; the others are still returned.
    ///
    /// # Errors
    ///
    /// A store error (for the whole call).
    pub async fn accounts(
        &self,
        agents: &[AgentId],
    ) -> Result<Vec<Result<Account, LedgerError>>, LedgerError> {
        self.load_accounts(agents, true).await
    }

    /// [`accounts`](Self::accounts), keeping their entries if `history`: planning does not
    /// read them, and a batch whose accounts are not handed back needs no copy of them.
    async fn load_accounts(
        &self,
        agents: &[AgentId],
        history: bool,
    ) -> Result<Vec<Result<Account, LedgerError>>, LedgerError> {
        let stored = self.store.load_many(agents).await?;
        Ok(agents
            .iter()
            .zip(stored)
            .map(|(agent, stored)| {
                let account = if history {
                    Account::new(agent.clone())
                } else {
                    Account::without_history(agent.clone())
                };
                account.folding(stored.entries)
            })
            .collect())
    }

    /// Runs one command.
    ///
    /// # Errors
    ///
    /// The command's refusal (see [`Account::plan`]), a store error, or
    /// [`LedgerError::Conflict`] when retries run out.
    pub async fn execute(&self, agent: &AgentId, command: Command) -> Result<Applied, LedgerError> {
        let mut applied = self
            .execute_all(agent, std::slice::from_ref(&command))
            .await?;
        Ok(applied.pop().unwrap_or(Applied {
            entry: None,
            appended: false,
        }))
    }

    /// Runs several commands on one account, appended together (all or nothing): the way to
    /// accrue a run's events for an agent.
    ///
    /// # Errors
    ///
    /// The first refusal (nothing is appended then), a store error, or
    /// [`LedgerError::Conflict`] when retries run out.
    pub async fn execute_all(
        &self,
        agent: &AgentId,
        commands: &[Command],
    ) -> Result<Vec<Applied>, LedgerError> {
        let mut last = None;
        for _ in 0..self.max_attempts {
            let planned = self.plan_all(self.account(agent).await?, commands)?;
            if planned.entries.is_empty() {
                return Ok(planned.results);
            }
            match self
                .store
                .append(
                    agent,
                    planned.expected,
                    &planned.entries,
                    &planned.holds,
                    &planned.reversals,
                )
                .await
            {
                Ok(_) => return Ok(planned.results),
                Err(e @ LedgerError::Conflict { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(LedgerError::Conflict {
            agent: agent.clone(),
            expected: 0,
        }))
    }
}

/// What one account's commands planned into.
struct Planned {
    /// The account as it stands once the entries are appended.
    account: Account,
    expected: u64,
    entries: Vec<Entry>,
    holds: Vec<HoldView>,
    reversals: Vec<ReversalView>,
    results: Vec<Applied>,
}

impl<S: LedgerStore> Ledger<S> {
    /// Plans `commands` against `account` (applying them to it as it goes).
    fn plan_all(&self, mut account: Account, commands: &[Command]) -> Result<Planned, LedgerError> {
        let expected = account.version();
        let mut results = Vec::with_capacity(commands.len());
        let mut entries = Vec::new();
        let mut touched = BTreeSet::new();
        let mut reversals_touched = BTreeSet::new();
        for command in commands {
            match account.plan(command)? {
                Plan::Nothing(entry) => results.push(Applied {
                    entry,
                    appended: false,
                }),
                Plan::Append(id, op) => {
                    if let Some(txn) = hold_of(&op) {
                        touched.insert(txn);
                    }
                    if let Some(txn) = reversal_of(&op) {
                        reversals_touched.insert(txn);
                    }
                    let entry = Entry {
                        id,
                        at: self.clock.now(),
                        op,
                    };
                    account.apply_borrowed(&entry)?;
                    entries.push(entry.clone());
                    results.push(Applied {
                        entry: Some(entry),
                        appended: true,
                    });
                }
            }
        }
        let holds = touched
            .iter()
            .filter_map(|txn| hold_view(&account, *txn))
            .collect();
        let reversals = reversals_touched
            .iter()
            .filter_map(|txn| reversal_view(&account, *txn))
            .collect();
        Ok(Planned {
            account,
            expected,
            entries,
            holds,
            reversals,
            results,
        })
    }

    /// Runs each account's commands, many accounts at a time: accounts are loaded together and
    /// appended in one batch ([`LedgerStore::append_many`]), and only the accounts that met a
    /// `Conflict` are reloaded and retried. One account's refusal does not stop the others:
    /// the result for each account is its own.
    ///
    /// # Errors
    ///
    /// A store failure (the whole call fails; what was appended is found by reloading).
    pub async fn execute_many(
        &self,
        work: &[AccountCommands],
    ) -> Result<Vec<Result<Vec<Applied>, LedgerError>>, LedgerError> {
        self.execute_many_from(work, None, false).await
    }

    /// As [`execute_many`](Self::execute_many), planning first against `accounts` — each
    /// work item's account as the caller already loaded it (with [`account`](Self::account)
    /// or [`accounts`](Self::accounts)) — instead of loading them again. An account
    /// that moved since is met as a `Conflict` on append, reloaded and retried, as always.
    /// Accounts that do not match the work item for item are ignored and loaded afresh.
    ///
    /// # Errors
    ///
    /// A store failure (the whole call fails; what was appended is found by reloading).
    pub async fn execute_many_on(
        &self,
        work: &[AccountCommands],
        accounts: Vec<Account>,
    ) -> Result<Vec<Result<Vec<Applied>, LedgerError>>, LedgerError> {
        let matching = accounts.len() == work.len()
            && accounts
                .iter()
                .zip(work)
                .all(|(account, item)| account.agent() == &item.agent);
        self.execute_many_from(work, matching.then_some(accounts), false)
            .await
    }

    /// As [`execute_many_on`](Self::execute_many_on), also returning each account as it
    /// stands after its commands (as the ledger folded it, without loading it again): what a
    /// caller about to work on the same accounts again passes to the next call.
    ///
    /// # Errors
    ///
    /// A store failure (the whole call fails; what was appended is found by reloading).
    pub async fn execute_many_keeping(
        &self,
        work: &[AccountCommands],
        accounts: Option<Vec<Account>>,
    ) -> Result<KeptResults, LedgerError> {
        let matching = accounts.filter(|accounts| {
            accounts.len() == work.len()
                && accounts
                    .iter()
                    .zip(work)
                    .all(|(account, item)| account.agent() == &item.agent)
        });
        self.execute_many_kept(work, matching, false, true).await
    }

    /// As [`execute_many`](Self::execute_many), appending with
    /// [`LedgerStore::append_many_deferred`]: the store may answer before the entries are on
    /// durable storage, and makes them durable with the next durable write. For work that can
    /// be made again from its source if a power cut loses it, and whose source is marked as
    /// taken durably after it: the run's accrue step (its files' ingest marks are recorded
    /// after every batch; a file not marked is read again, and its accruals are idempotent by
    /// key). Not for holds, settlements, reversals or adjustments: what those record happened
    /// outside the ledger, or was asked for once.
    ///
    /// # Errors
    ///
    /// A store failure (the whole call fails; what was appended is found by reloading).
    pub async fn execute_many_deferred(
        &self,
        work: &[AccountCommands],
    ) -> Result<Vec<Result<Vec<Applied>, LedgerError>>, LedgerError> {
        self.execute_many_from(work, None, true).await
    }

    /// [`execute_many_kept`](Self::execute_many_kept), without the accounts.
    async fn execute_many_from(
        &self,
        work: &[AccountCommands],
        loaded: Option<Vec<Account>>,
        deferred: bool,
    ) -> Result<Vec<Result<Vec<Applied>, LedgerError>>, LedgerError> {
        Ok(self
            .execute_many_kept(work, loaded, deferred, false)
            .await?
            .into_iter()
            .map(|r| r.map(|(applied, _)| applied))
            .collect())
    }

    /// The batch: load (or take `loaded`), plan, append (`deferred`: with
    /// [`LedgerStore::append_many_deferred`]); accounts met as a `Conflict` again from the load.
    /// The accounts it loads keep their entries if `history` (the caller wants them back).
    async fn execute_many_kept(
        &self,
        work: &[AccountCommands],
        mut loaded: Option<Vec<Account>>,
        deferred: bool,
        history: bool,
    ) -> Result<KeptResults, LedgerError> {
        let mut out: Vec<Option<Result<Kept, LedgerError>>> =
            (0..work.len()).map(|_| None).collect();
        let mut pending: Vec<usize> = (0..work.len()).collect();
        for _ in 0..self.max_attempts {
            if pending.is_empty() {
                break;
            }
            let accounts: Vec<Result<Account, LedgerError>> = match loaded.take() {
                Some(accounts) => accounts.into_iter().map(Ok).collect(),
                None => {
                    let agents: Vec<AgentId> =
                        pending.iter().map(|&i| work[i].agent.clone()).collect();
                    self.load_accounts(&agents, history).await?
                }
            };
            let mut planned = Vec::with_capacity(pending.len());
            for (&i, account) in pending.iter().zip(accounts) {
                let commands = &work[i].commands;
                let plan = account.and_then(|account| self.plan_all(account, commands));
                match plan {
                    Ok(p) if p.entries.is_empty() => out[i] = Some(Ok((p.results, p.account))),
                    Ok(p) => planned.push((i, p)),
                    Err(e) => out[i] = Some(Err(e)),
                }
            }
            let batch: Vec<AppendItem<'_>> = planned
                .iter()
                .map(|(i, p)| AppendItem {
                    agent: &work[*i].agent,
                    expected: p.expected,
                    entries: &p.entries,
                    holds: &p.holds,
                    reversals: &p.reversals,
                })
                .collect();
            let appended = if batch.is_empty() {
                Vec::new()
            } else if deferred {
                self.store.append_many_deferred(&batch).await?
            } else {
                self.store.append_many(&batch).await?
            };
            let mut again = Vec::new();
            for ((i, p), result) in planned.into_iter().zip(appended) {
                match result {
                    Ok(_) => out[i] = Some(Ok((p.results, p.account))),
                    Err(LedgerError::Conflict { .. }) => again.push(i),
                    Err(e) => out[i] = Some(Err(e)),
                }
            }
            pending = again;
        }
        Ok(out
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(LedgerError::Conflict {
                        agent: work[i].agent.clone(),
                        expected: 0,
                    })
                })
            })
            .collect())
    }
}

/// The hold an operation changes, if any.
fn hold_of(op: &Op) -> Option<TxnId> {
    match op {
        Op::Hold { txn, .. }
        | Op::Mark { txn, .. }
        | Op::Commit { txn }
        | Op::Release { txn, .. } => Some(*txn),
        Op::Reversal { of, .. } => Some(*of),
        Op::Accrual { .. }
        | Op::Adjustment { .. }
        | Op::ReversalRequest { .. }
        | Op::ReversalMark { .. }
        | Op::ReversalEnd { .. } => None,
    }
}

/// The reversal an operation changes, if any.
fn reversal_of(op: &Op) -> Option<TxnId> {
    match op {
        Op::ReversalRequest { txn, .. }
        | Op::ReversalMark { txn, .. }
        | Op::ReversalEnd { txn }
        | Op::Reversal { txn, .. } => Some(*txn),
        Op::Accrual { .. }
        | Op::Adjustment { .. }
        | Op::Hold { .. }
        | Op::Mark { .. }
        | Op::Commit { .. }
        | Op::Release { .. } => None,
    }
}

/// The index view of a reversal of the account.
#[must_use]
pub fn reversal_view(account: &Account, txn: TxnId) -> Option<ReversalView> {
    let r = account.reversals().get(&txn)?;
    let cost = account.holds().get(&r.of)?.cost;
    Some(ReversalView {
        txn,
        of: r.of,
        agent: account.agent().clone(),
        cost,
        debt: r.debt,
        state: r.state,
        attempts: r.attempts,
        day: r.day,
        created_at: r.created_at,
    })
}

/// The index view of a hold of the account.
#[must_use]
pub fn hold_view(account: &Account, txn: TxnId) -> Option<HoldView> {
    let h = account.holds().get(&txn)?;
    Some(HoldView {
        txn,
        agent: account.agent().clone(),
        tier: h.tier.clone(),
        reward_type: h.reward_type.clone(),
        cost: h.cost,
        state: h.state,
        attempts: h.attempts,
        day: h.day,
        created_at: h.created_at,
    })
}
