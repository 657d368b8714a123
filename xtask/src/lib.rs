//! The workspace's house checks. The checks themselves are tests (`tests/tidy.rs`), run by
//! `cargo test --workspace` and so by CI: each rule `docs/ARCHITECTURE.md` states about the
//! code's shape is one of them.
