//! The Kudos points ledger.
//!
//! # Overview
//!
//! One account per agent: an append-only list of [`Entry`]s whose fold is the account's state
//! ([`Account`]). Points live in **lots** (`{day, expires, remaining}`); **debt** is what
//! deductions could not take from live lots. On a day, *available* is the unreserved
//! remaining of the lots live that day, and *balance* is available minus debt.
//!
//! - **Accruals** are by event key: the same key again with other points posts the
//!   difference (a restatement); positive points pay debt first.
//! - **Deductions** consume the lots live on their day, oldest first; the rest becomes debt.
//! - A **hold** reserves a tier's cost before the reward request is sent; **commit**
//!   consumes it, **release** returns it (paying debt first; points returning to an expired
//!   lot are gone), a confirmed **reversal** (clawback) returns a committed redemption's cost.
//! - A **reversal** is recorded (with its request body) before its request leaves, and is
//!   open, in doubt or in review until the marketplace confirms it (`reversed`) or an
//!   operator ends it (`not_reversed`); at most one per redemption.
//! - Every operation is idempotent: accruals by key, the rest by id. A hold resolves at most
//!   once. At most one unresolved hold per agent.
//!
//! [`Ledger`] runs commands over a [`LedgerStore`] with optimistic concurrency: plan against
//! the loaded account, append if its version has not moved, reload and retry on `Conflict`.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use kudos_core::*;
//! use kudos_ledger::{Command, Ledger, MemoryStore};
//!
//! # tokio_test_block_on(async {
//! let clock = Arc::new(ManualClock::at_rfc3339("2026-10-05T06:00:00Z")?);
//! let ledger = Ledger::new(MemoryStore::new(), clock.clone());
//! let agent = AgentId::new("a1b2c3d4-0000-4000-8000-000000000001")?;
//! let day = Day::parse("2026-10-01")?;
//! let key = EventKey::new(agent.clone(), day, RuleId::new("csat-top")?, MetricName::new("csat")?, Default::default());
//! let expires = day.add_days(30)?;
//! ledger.execute(&agent, Command::Accrue { event: PointEvent::new(key.clone(), Points::new(600)), expires }).await?;
//!
//! let tier = Tier::new(TierId::new("gift-card-50")?, RewardType::new("gift_card_50_usd")?, Points::new(500), None)?;
//! let txn = TxnId::generate(clock.as_ref());
//! let run_day = Day::parse("2026-10-05")?;
//! ledger.execute(&agent, Command::Hold { txn, day: run_day, tier, payload: b"{}".to_vec() }).await?;
//! ledger.execute(&agent, Command::Commit { txn }).await?;
//!
//! let balance = ledger.account(&agent).await?.balance(run_day);
//! assert_eq!((balance.available, balance.debt), (Points::new(100), Points::ZERO));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *The domain logic lives once, here.* Stores persist entries and a hold index the ledger
//!   computes; they never decide. The `testkit` feature's conformance suites check a store, one per port.
//! - *Two-phase, like TigerBeetle's pending transfers*: a hold is reserved pessimistically
//!   (the balance is checked when it is made), so commit and release can never break an
//!   invariant; a resolution is a new entry, never an edit.
//! - *No runtime, no driver.* The store traits are async (`async-trait`) but this crate starts
//!   no runtime and depends on no database.

mod account;
mod anchor;
mod control;
mod entry;
mod error;
mod ingest;
mod lease;
mod ledger;
mod memory;
pub mod schema;
mod statement;
mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use account::{
    Account, Balance, Command, Hold, KeyedAccrual, Lot, Plan, Reservation, Reversal,
};
pub use anchor::{AuditAnchor, AuditAnchors};
pub use control::{
    BudgetClaim, BudgetLimit, ClaimView, ControlStore, Pause, Waiting, control_text, decide_claims,
};
pub use entry::{Entry, HoldState, Op, ReversalState, transition_id};
pub use error::LedgerError;
pub use ingest::{
    ContentHash, IngestLog, IngestMark, IngestRecord, LegacyIngestKey, RunStore, StoredMark,
};
pub use lease::{Lease, LeaseStore};
pub use ledger::{
    AccountCommands, Applied, DEFAULT_MAX_ATTEMPTS, Kept, KeptResults, Ledger, hold_view,
    reversal_view,
};
pub use memory::MemoryStore;
pub use statement::{EXPIRING_DAYS, Expiring, Movement, MovementKind, Statement, expiring};
pub use store::{AppendItem, HoldView, LedgerStore, ReversalView, Stored};
