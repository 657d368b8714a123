//! The state an account's entries fold into: its lots, its holds (with the reservations
//! each made on the lots), and the [`Account`] that owns them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kudos_core::{AgentId, Day, Points, RewardType, TierId, TxnId};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::{Entry, HoldState, ReversalState};

/// Points on a day, that expire: `{day, expires, remaining}`. Live on `d` when
/// `day <= d < expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lot {
    /// The position of the entry that made it (unique within the account).
    pub seq: u64,
    /// The accrual key id or adjustment id it came from.
    pub source: Uuid,
    /// Its day.
    pub day: Day,
    /// First day it is no longer live.
    pub expires: Day,
    /// Points left (reserved ones included).
    pub remaining: Points,
    /// Points of `remaining` reserved by unresolved holds.
    pub reserved: Points,
}

impl Lot {
    /// Whether the lot is live on `day`.
    #[must_use]
    pub fn live_on(&self, day: Day) -> bool {
        self.day <= day && day < self.expires
    }

    /// Points of `remaining` not reserved: what deductions and new holds may take.
    pub(super) fn unreserved(&self) -> Points {
        Points::new(self.remaining.get() - self.reserved.get())
    }
}

/// Points a hold reserved on one lot.
///
/// Serialized as the pair `[lot_seq, points]`, as it was before it had a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The [`Lot::seq`] of the lot reserved on.
    pub lot_seq: u64,
    /// The points reserved on it.
    pub points: Points,
}

impl Serialize for Reservation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.lot_seq, self.points).serialize(serializer)
    }
}

/// A hold and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// The reward request's idempotency key.
    pub txn: TxnId,
    /// The day it was made on.
    pub day: Day,
    /// The tier.
    pub tier: TierId,
    /// The reward type.
    pub reward_type: RewardType,
    /// The points reserved.
    pub cost: Points,
    /// The request payload, fixed when the hold was made.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// Its state.
    pub state: HoldState,
    /// How many times its request was sent.
    pub attempts: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Which lots it reserved, and how much of each (kept after it resolves: a reversal
    /// returns the points to these lots).
    pub lots: Vec<Reservation>,
    /// The reversal that clawed it back, if any.
    pub reversed_by: Option<TxnId>,
    /// When it was committed, if it was.
    pub committed_at: Option<DateTime<Utc>>,
}

/// A reversal (clawback) of a committed redemption, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reversal {
    /// The reversal request's idempotency key.
    pub txn: TxnId,
    /// The redemption it reverses.
    pub of: TxnId,
    /// The day it was asked for (or confirmed, for one recorded without a request).
    pub day: Day,
    /// The agent's debt when it was asked for (zero when recorded without a request).
    pub debt: Points,
    /// The request body, fixed when it was recorded (empty when recorded without a request:
    /// a voiding the marketplace reported, or a reversal of release 0.1.0).
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// Its state.
    pub state: ReversalState,
    /// How many times its request was sent.
    pub attempts: u32,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// The hasher of the maps keyed by entry id: ids are UUIDs (v5 hashes, v7 times) that no one
/// chooses freely, so a fast seeded hash does (SipHash was a tenth of folding an export).
pub(super) type IdHasher = foldhash::fast::RandomState;

/// One agent's account, folded from its entries.
#[derive(Debug, Clone)]
pub struct Account {
    pub(super) agent: AgentId,
    /// The number of entries applied.
    pub(super) version: u64,
    /// Lots in consumption order: oldest day first, then by source, then by creation.
    pub(super) lots: Vec<Lot>,
    /// The sum of every lot's remaining points, kept as lots change, so that an arrival that
    /// would make it unrepresentable is refused: then no balance, which sums parts of it, can
    /// wrap.
    pub(super) held: Points,
    pub(super) debt: Points,
    /// Current points of each accrual key.
    pub(super) accruals: HashMap<Uuid, Points, IdHasher>,
    pub(super) holds: BTreeMap<TxnId, Hold>,
    /// Reversals, by their own transaction id.
    pub(super) reversals: BTreeMap<TxnId, Reversal>,
    /// Non-accrual entries by id, for idempotency.
    pub(super) ops: HashMap<Uuid, Entry, IdHasher>,
    /// Entries in append order (none kept for an account made by
    /// [`Account::without_history`]).
    pub(super) entries: Vec<Entry>,
    /// Whether applied entries are kept in `entries`.
    pub(super) history: bool,
    /// The ids of this agent's accrual keys, made at the first accrual planned.
    pub(super) key_ids: std::sync::OnceLock<Box<kudos_core::AgentKeyIds>>,
}

impl Account {
    /// An empty account.
    #[must_use]
    pub fn new(agent: AgentId) -> Self {
        Self {
            agent,
            version: 0,
            lots: Vec::new(),
            held: Points::ZERO,
            debt: Points::ZERO,
            accruals: HashMap::default(),
            holds: BTreeMap::new(),
            reversals: BTreeMap::new(),
            ops: HashMap::default(),
            entries: Vec::new(),
            history: true,
            key_ids: std::sync::OnceLock::new(),
        }
    }

    /// An empty account that keeps no history: [`entries`](Self::entries) stays empty, and
    /// everything else (balance, lots, debt, holds, idempotency by id and by accrual key) is
    /// as [`new`](Self::new)'s. For folding many accounts in one pass when only their state
    /// is wanted (`kudos points`): the entries are most of an account's memory.
    #[must_use]
    pub fn without_history(agent: AgentId) -> Self {
        Self {
            history: false,
            ..Self::new(agent)
        }
    }
}

/// An accrual as an account folded in memory takes it ([`Account::fold_accrual`]): the id of
/// its event's key, made by the caller with [`AgentKeyIds`](kudos_core::AgentKeyIds) (so the
/// hashing can run on another thread than the fold), and what the fold reads of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedAccrual {
    /// The id of the event's key ([`EventKey::id`](kudos_core::EventKey::id)).
    pub id: uuid::Uuid,
    /// The event's day.
    pub day: Day,
    /// The event's points.
    pub points: Points,
    /// The expiry of the lots it makes (the day + the rule set's window).
    pub expires: Day,
}
