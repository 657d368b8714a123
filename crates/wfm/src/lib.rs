//! Streaming parsers for contact-centre workforce exports.
//!
//! # Overview
//!
//! `kudos-wfm` reads the exports contact centres actually have — Genesys Cloud WFM adherence
//! downloads, analytics aggregate responses, agent performance CSVs, or canonical CSV/JSON from
//! anywhere — and yields [`MetricRecord`](kudos_core::MetricRecord)s: one metric value for one
//! agent on one day. Personal data never reaches a record: every column or field is classified
//! (agent id, day, metric, dimension, personal data, ignored) and personal data is dropped at
//! the boundary.
//!
//! | [`Format`] | input |
//! |---|---|
//! | `canonical-csv` | header `agent_id,date,metric,value` (+ `dim.<name>` columns) |
//! | `canonical-json` | a JSON array, or JSON Lines, of `{agent_id,date,metric,value,dims?}` |
//! | `wide-csv` | one row per agent and day, one column per metric, classified by a [`Mapping`] (preset `genesys-agent-performance`) |
//! | `genesys-adherence` | WFM historical adherence download (`data[]`/`…Secs` and bulk `userResults[]`/`…Seconds`) |
//! | `genesys-aggregates` | analytics aggregate query response (`results[].data[].metrics[].stats`) |
//! | `auto` | detects each of the above from content |
//!
//! # Example
//!
//! ```
//! use kudos_wfm::{ParseOptions, Records};
//!
//! let csv = "agent_id,date,metric,value\n\
//!            u-1,2026-03-02,csat,92\n\
//!            u-2,2026-03-02,csat,NaN\n";
//! let mut records = Records::from_reader("inline.csv", csv.as_bytes(), &ParseOptions::default())?;
//! let first = records.next().unwrap()?;
//! assert_eq!((first.agent.as_str(), first.value), ("u-1", 92.0));
//! // A bad row is reported with its place and reason; reading goes on.
//! let bad = records.next().unwrap().unwrap_err();
//! assert_eq!(bad.to_string(), "inline.csv:3: value: \"NaN\" is not a finite number within ±2^53");
//! assert!(records.next().is_none());
//! assert_eq!((records.report().records, records.report().rejected_rows), (1, 1));
//! # Ok::<(), kudos_wfm::WfmError>(())
//! ```
//!
//! # Design notes
//!
//! - *Row errors are data, file errors are not.* A bad row is yielded as
//!   [`WfmError::Row`] with source, line, column or JSON path and reason, and the reader goes
//!   on; a file whose structure is unusable (unknown format, a header missing a required column,
//!   an unclassified column in a strict format, a truncated JSON document) yields one file error
//!   and stops. Nothing is silently skipped. A row error keeps the input it quotes (the
//!   offending cell) in a field of its own, so [`RowError::redacted`] can leave it out of logs.
//! - *Whole rows.* A row with one bad cell yields no record at all: a half-good row is more
//!   often a shifted column than a single typo, and points must not be awarded on it.
//! - *Streaming.* CSV and JSON Lines are read a few rows at a time (32 rows ahead, so that their
//!   duplicate lookups overlap), and [`Records::in_background`] moves the reading to a thread of
//!   its own. A single JSON document is held
//!   in memory while read, split into elements by a small scanner so that each element is
//!   parsed — and rejected — on its own, with its line.
//! - *Days.* Instants become days in the IANA zone given ([`ParseOptions::time_zone`]);
//!   adherence days are `startDate + dayStartOffsetSecs` added as an instant, so 23- and
//!   25-hour days land right.
//! - *No panics.* Every parser is fuzzed (`fuzz/`), and a test replays the seed corpus.

mod background;
mod csv_read;
mod csv_rows;
mod detect;
mod error;
mod format;
mod genesys;
mod json_rows;
mod json_scan;
mod mapping;
mod reader;
mod rows;
mod seen;
mod values;

pub use background::Background;
pub use error::{Cell, Reason, RowError, WfmError};
pub use format::Format;
pub use mapping::{Mapping, UnknownColumns};
pub use reader::{ParseOptions, ParseReport, Records, Warning, open};

#[cfg(test)]
mod tests {
    #[test]
    fn readers_can_move_between_threads() {
        // A pipeline reads sources on worker threads; losing `Send` would break it.
        fn assert_send<T: Send>() {}
        assert_send::<crate::Records>();
        assert_send::<crate::WfmError>();
    }
}
