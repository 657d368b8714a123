//! Integration tests of `kudos-ledger`: the worked examples of `docs/reference/ledger.md`, a reference model,
//! idempotency, concurrency, and the store conformance suite on `MemoryStore`.

mod approval;
mod book;
mod concurrency;
mod conformance;
mod idempotency;
mod keyed;
mod model;
mod reversal;
mod statement;
mod worked;
