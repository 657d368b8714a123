//! One agent's account: the state its entries fold into, the queries on it, and the planning
//! of new operations (validation and idempotency) against it. Pure: no I/O, no clock.
//!
//! - `state`: the lots, holds, reservations and reversals, and the [`Account`] that owns them;
//! - `fold`: building an account from its entries, one operation at a time;
//! - `query`: what an account holds and its [`Balance`] on a day;
//! - `plan`: what a [`Command`] appends ([`Plan`]), after validation and idempotency;
//! - `invariants` (debug builds): what every applied entry must leave true.

mod fold;
#[cfg(any(debug_assertions, test))]
mod invariants;
mod plan;
mod query;
mod state;
#[cfg(test)]
mod tests;

pub use plan::{Command, Plan};
pub use query::Balance;
pub use state::{Account, Hold, KeyedAccrual, Lot, Reservation, Reversal};
