//! `MemoryStore`: a real, public, in-memory `LedgerStore`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

use chrono::TimeDelta;
use kudos_core::{AgentId, Clock, Day, Points, SystemClock, TxnId};
use uuid::Uuid;

use crate::control::decide_claims;
use crate::{
    AuditAnchor, AuditAnchors, BudgetClaim, ClaimView, ContentHash, ControlStore, Entry, HoldState,
    HoldView, IngestLog, IngestMark, Lease, LeaseStore, LedgerError, LedgerStore, Pause,
    ReversalState, ReversalView, Stored, Waiting,
};

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<AgentId, Vec<Entry>>,
    ids: HashMap<Uuid, AgentId>,
    holds: BTreeMap<TxnId, HoldView>,
    reversals: BTreeMap<TxnId, ReversalView>,
    leases: HashMap<TxnId, Lease>,
    /// Files taken whole.
    whole: HashMap<ContentHash, String>,
    /// Files taken in part: the days through which each was taken.
    through: HashMap<ContentHash, BTreeMap<Day, String>>,
    /// Audit anchors, in the order first anchored, and the one moved last.
    anchors: Vec<AuditAnchor>,
    /// When each anchor (by index) last moved, and the count of moves.
    anchor_moved: HashMap<usize, u64>,
    anchor_moves: u64,
    /// Budget claims, in the order made, and the points each bucket counts.
    claims: Vec<ClaimView>,
    spent: HashMap<String, i64>,
    /// Rewards waiting, by agent.
    waiting: BTreeMap<AgentId, Waiting>,
    /// The pause switch.
    pause: Option<Pause>,
    /// Named locks: owner and until.
    locks: HashMap<String, (String, DateTime<Utc>)>,
}

/// A `LedgerStore` (with the run's `LeaseStore` and `IngestLog`) in memory: for tests, `kudos points`, dry runs and `memory://` stores.
/// Clones share the same data. Passes the conformance suite like every other store.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    /// The lease clock (the store owns it; see [`LeaseStore`]).
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl MemoryStore {
    /// An empty store, its leases on the system clock.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The store with its leases on `clock` (a `ManualClock` in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave a half-applied append: each
        // append validates first and mutates after.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError> {
        let inner = self.lock();
        let entries = inner.accounts.get(agent).cloned().unwrap_or_default();
        let version = entries.len() as u64;
        Ok(Stored { entries, version })
    }

    async fn append(
        &self,
        agent: &AgentId,
        expected: u64,
        entries: &[Entry],
        holds: &[HoldView],
        reversals: &[ReversalView],
    ) -> Result<u64, LedgerError> {
        let mut inner = self.lock();
        let current = inner.accounts.get(agent).map_or(0, Vec::len) as u64;
        if current != expected {
            return Err(LedgerError::Conflict {
                agent: agent.clone(),
                expected,
            });
        }
        let account = inner.accounts.entry(agent.clone()).or_default();
        account.extend_from_slice(entries);
        let version = account.len() as u64;
        for entry in entries {
            inner.ids.entry(entry.id).or_insert_with(|| agent.clone());
        }
        for hold in holds {
            inner.holds.insert(hold.txn, hold.clone());
        }
        for reversal in reversals {
            inner.reversals.insert(reversal.txn, reversal.clone());
        }
        Ok(version)
    }

    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
        Ok(self.lock().ids.get(&id).cloned())
    }

    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
        let inner = self.lock();
        let mut out: Vec<HoldView> = inner
            .holds
            .values()
            .filter(|h| state.is_none_or(|s| h.state == s))
            .cloned()
            .collect();
        out.sort_by_key(|h| (h.created_at, h.txn));
        Ok(out)
    }

    async fn reversals(
        &self,
        state: Option<ReversalState>,
    ) -> Result<Vec<ReversalView>, LedgerError> {
        let inner = self.lock();
        let mut out: Vec<ReversalView> = inner
            .reversals
            .values()
            .filter(|r| state.is_none_or(|s| r.state == s))
            .cloned()
            .collect();
        out.sort_by_key(|r| (r.created_at, r.txn));
        Ok(out)
    }

    async fn agents(&self) -> Result<Vec<AgentId>, LedgerError> {
        let mut agents: Vec<AgentId> = self.lock().accounts.keys().cloned().collect();
        agents.sort();
        Ok(agents)
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn lease(&self, txn: TxnId, owner: &str, length: Duration) -> Result<bool, LedgerError> {
        let now = self.clock.now();
        let until = TimeDelta::from_std(length)
            .ok()
            .and_then(|length| now.checked_add_signed(length))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        let mut inner = self.lock();
        let unresolved = inner.holds.get(&txn).is_some_and(HoldView::is_unresolved)
            || inner
                .reversals
                .get(&txn)
                .is_some_and(ReversalView::is_unresolved);
        if !unresolved {
            return Ok(false);
        }
        let free = inner
            .leases
            .get(&txn)
            .is_none_or(|l| l.until <= now || l.owner == owner);
        if free {
            inner.leases.insert(
                txn,
                Lease {
                    owner: owner.to_owned(),
                    until,
                },
            );
        }
        Ok(free)
    }

    async fn end_leases(&self, txns: &[TxnId], owner: &str) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        for txn in txns {
            if let Some(lease) = inner.leases.get_mut(txn)
                && lease.owner == owner
            {
                lease.until = now;
            }
        }
        Ok(())
    }

    async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError> {
        Ok(self.lock().leases.get(&txn).cloned())
    }
}

#[async_trait]
impl IngestLog for MemoryStore {
    async fn ingest_mark(
        &self,
        hash: &ContentHash,
        as_of: Day,
    ) -> Result<Option<IngestMark>, LedgerError> {
        Ok(self.lock().mark(hash, as_of))
    }

    async fn record_ingest(
        &self,
        hash: &ContentHash,
        name: &str,
        mark: IngestMark,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let record = crate::IngestRecord {
            hash: hash.clone(),
            name: name.to_owned(),
            mark,
        };
        self.record_ingests(std::slice::from_ref(&record), at).await
    }

    async fn ingest_marks(
        &self,
        hashes: &[ContentHash],
        as_of: Day,
    ) -> Result<Vec<Option<IngestMark>>, LedgerError> {
        let inner = self.lock();
        Ok(hashes.iter().map(|hash| inner.mark(hash, as_of)).collect())
    }

    async fn record_ingests(
        &self,
        records: &[crate::IngestRecord],
        _at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let mut inner = self.lock();
        for crate::IngestRecord { hash, name, mark } in records {
            inner.record(hash, name, *mark);
        }
        Ok(())
    }
}

impl Inner {
    /// A file's mark as seen on `as_of`.
    fn mark(&self, hash: &ContentHash, as_of: Day) -> Option<IngestMark> {
        if self.whole.contains_key(hash) {
            return Some(IngestMark::Whole);
        }
        self.through
            .get(hash)
            .and_then(|days| days.range(..=as_of).next_back())
            .map(|(day, _)| IngestMark::Through(*day))
    }

    /// Records a file's mark (the first name recorded stays).
    fn record(&mut self, hash: &ContentHash, name: &str, mark: IngestMark) {
        let inner = self;
        match mark {
            IngestMark::Whole => {
                inner
                    .whole
                    .entry(hash.clone())
                    .or_insert_with(|| name.to_owned());
            }
            IngestMark::Through(day) => {
                inner
                    .through
                    .entry(hash.clone())
                    .or_default()
                    .entry(day)
                    .or_insert_with(|| name.to_owned());
            }
        }
    }
}

#[async_trait]
impl AuditAnchors for MemoryStore {
    async fn anchor(&self, anchor: &AuditAnchor) -> Result<(), LedgerError> {
        let mut inner = self.lock();
        let same = |a: &AuditAnchor| a.trail == anchor.trail && a.run_id == anchor.run_id;
        let at = match inner.anchors.iter().position(same) {
            Some(i) if inner.anchors[i].records >= anchor.records => return Ok(()),
            Some(i) => {
                inner.anchors[i] = anchor.clone();
                i
            }
            None => {
                inner.anchors.push(anchor.clone());
                inner.anchors.len() - 1
            }
        };
        inner.anchor_moves += 1;
        let moved = inner.anchor_moves;
        inner.anchor_moved.insert(at, moved);
        Ok(())
    }

    async fn anchors(&self, trail: &str) -> Result<Vec<AuditAnchor>, LedgerError> {
        Ok(self
            .lock()
            .anchors
            .iter()
            .filter(|a| a.trail == trail)
            .cloned()
            .collect())
    }

    async fn latest_anchor(&self, trail: &str) -> Result<Option<AuditAnchor>, LedgerError> {
        let inner = self.lock();
        Ok(inner
            .anchors
            .iter()
            .enumerate()
            .filter(|(_, a)| a.trail == trail)
            .max_by_key(|(i, _)| inner.anchor_moved.get(i).copied().unwrap_or(0))
            .map(|(_, a)| a.clone()))
    }

    async fn trails(&self) -> Result<Vec<String>, LedgerError> {
        let mut trails: Vec<String> = self
            .lock()
            .anchors
            .iter()
            .map(|a| a.trail.clone())
            .collect();
        trails.sort();
        trails.dedup();
        Ok(trails)
    }
}

#[async_trait]
impl ControlStore for MemoryStore {
    async fn claim_budget(&self, claims: &[BudgetClaim]) -> Result<Vec<bool>, LedgerError> {
        let mut inner = self.lock();
        let known: std::collections::HashSet<TxnId> = inner.claims.iter().map(|c| c.txn).collect();
        let mut spent = inner.spent.clone();
        let granted = decide_claims(claims, &mut spent, |txn| known.contains(&txn));
        let mut added = std::collections::HashSet::new();
        for (claim, granted) in claims.iter().zip(&granted) {
            if *granted && !known.contains(&claim.txn) && added.insert(claim.txn) {
                inner.claims.push(ClaimView::of(claim));
            }
        }
        inner.spent = spent;
        Ok(granted)
    }

    async fn return_budget(&self, txns: &[TxnId]) -> Result<u64, LedgerError> {
        let mut inner = self.lock();
        let wanted: std::collections::HashSet<&TxnId> = txns.iter().collect();
        let mut given = Vec::new();
        for claim in &mut inner.claims {
            if !claim.returned && wanted.contains(&claim.txn) {
                claim.returned = true;
                given.push((claim.buckets.clone(), claim.points.get()));
            }
        }
        for (buckets, points) in &given {
            for bucket in buckets {
                if let Some(spent) = inner.spent.get_mut(bucket) {
                    *spent = spent.saturating_sub(*points);
                }
            }
        }
        Ok(given.len() as u64)
    }

    async fn budget_spent(&self, bucket: &str) -> Result<Points, LedgerError> {
        Ok(Points::new(
            self.lock().spent.get(bucket).copied().unwrap_or(0),
        ))
    }

    async fn budget_claims(&self, since: Day) -> Result<Vec<ClaimView>, LedgerError> {
        Ok(self
            .lock()
            .claims
            .iter()
            .filter(|c| c.day >= since)
            .cloned()
            .collect())
    }

    async fn waiting(&self) -> Result<Vec<Waiting>, LedgerError> {
        let mut out: Vec<Waiting> = self.lock().waiting.values().cloned().collect();
        out.sort_by(|a, b| (a.since, &a.agent).cmp(&(b.since, &b.agent)));
        Ok(out)
    }

    async fn set_waiting(&self, wait: &[Waiting], done: &[AgentId]) -> Result<(), LedgerError> {
        let mut inner = self.lock();
        for agent in done {
            inner.waiting.remove(agent);
        }
        for w in wait {
            let since = inner
                .waiting
                .get(&w.agent)
                .map_or(w.since, |old| old.since.min(w.since));
            inner
                .waiting
                .insert(w.agent.clone(), Waiting { since, ..w.clone() });
        }
        Ok(())
    }

    async fn pause_state(&self) -> Result<Option<Pause>, LedgerError> {
        Ok(self.lock().pause.clone())
    }

    async fn set_pause(&self, pause: Option<&Pause>) -> Result<Option<Pause>, LedgerError> {
        let mut inner = self.lock();
        Ok(std::mem::replace(&mut inner.pause, pause.cloned()))
    }

    async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        length: Duration,
    ) -> Result<bool, LedgerError> {
        let now = self.clock.now();
        let until = now + TimeDelta::from_std(length).unwrap_or(TimeDelta::MAX / 2);
        let mut inner = self.lock();
        let free = inner
            .locks
            .get(name)
            .is_none_or(|(held_by, lapses)| *lapses <= now || held_by == owner);
        if free {
            inner
                .locks
                .insert(name.to_owned(), (owner.to_owned(), until));
        }
        Ok(free)
    }

    async fn unlock(&self, name: &str, owner: &str) -> Result<(), LedgerError> {
        let mut inner = self.lock();
        if inner
            .locks
            .get(name)
            .is_some_and(|(held_by, _)| held_by == owner)
        {
            inner.locks.remove(name);
        }
        Ok(())
    }
}
