//! Errors: one enum for the crate, with row errors as one of its variants.
//!
//! A row error keeps the input it quotes — the offending cell — apart from its reason
//! ([`RowError::cell`], [`Reason`]): [`Display`](fmt::Display) shows the cell where the reason
//! places it, [`RowError::redacted`] shows `"…"` there instead. Nothing is found by scanning
//! text, so a cell cannot slip into a redacted message.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use kudos_core::CoreError;

/// A row that was rejected: where it is and why. The rest of the file goes on.
///
/// A "row" is one CSV line, one JSON Lines line, one element of a canonical JSON array, one
/// `dayMetrics` entry of a Genesys adherence download, or one `data[]` interval of a Genesys
/// aggregates group. A rejected row yields no record at all, even if some of its cells were
/// good: a row with one bad cell is suspect as a whole (a shifted column, a half-written line).
///
/// Input text the message quotes is not in the reason: it is in [`cell`](Self::cell), and the
/// reason says where it goes. (The reason's words may still give a number read from the row,
/// or the agent id and metric of a conflicting duplicate — values that passed validation.)
/// [`Display`](fmt::Display) writes the whole message, for the operator;
/// [`redacted`](Self::redacted) writes it without the cell, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowError {
    /// The file (or stream name) the row is in.
    pub source: Arc<str>,
    /// The 1-based line the row starts on.
    pub line: u64,
    /// The column name or JSON path at fault, when one is.
    pub location: Option<String>,
    /// Why the row was rejected: the words before and after the cell.
    pub reason: Reason,
    /// The input the reason quotes (the offending cell), when it quotes any. Shown by
    /// [`Display`](fmt::Display) between the reason's words; never by
    /// [`redacted`](Self::redacted).
    pub cell: Option<Cell>,
}

/// Why a row was rejected, as the words around the place its cell is quoted: a message is
/// [`before`](Self::before), then the [`Cell`] (when the error has one), then
/// [`after`](Self::after). A reason that quotes no cell is all `before`.
///
/// The words are the crate's own; input text belongs in the cell, never here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The words, without the cell.
    words: String,
    /// Where in `words` the cell goes (a char boundary, at most `words.len()`).
    cell_at: usize,
}

impl Reason {
    /// A reason that quotes no cell.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        let words = text.into();
        Self {
            cell_at: words.len(),
            words,
        }
    }

    /// A reason whose cell goes between `before` and `after`.
    #[must_use]
    pub fn around(before: &str, after: &str) -> Self {
        Self {
            words: [before, after].concat(),
            cell_at: before.len(),
        }
    }

    /// The words before the cell (all the words, when no cell is quoted).
    #[must_use]
    pub fn before(&self) -> &str {
        &self.words[..self.cell_at]
    }

    /// The words after the cell.
    #[must_use]
    pub fn after(&self) -> &str {
        &self.words[self.cell_at..]
    }

    /// Whether the reason's words contain `pattern` (on one side of the cell). The cell is
    /// not searched.
    #[must_use]
    pub fn contains(&self, pattern: &str) -> bool {
        self.before().contains(pattern) || self.after().contains(pattern)
    }
}

/// The input a row error quotes. [`Display`](fmt::Display) of the error shows it as Rust's
/// `{:?}` does; [`RowError::redacted`] shows `"…"` in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cell {
    /// The text of one cell or field, clipped to a few dozen bytes when it is long (a value
    /// `kudos-core` rejected is as `kudos-core` quotes it: control characters escaped).
    Text(String),
    /// The dimensions of a record (of a conflicting duplicate).
    Dims(BTreeMap<String, String>),
}

impl Cell {
    /// The cell as the full message shows it.
    fn quoted(&self) -> String {
        match self {
            Self::Text(text) => format!("{text:?}"),
            Self::Dims(dims) => format!("{dims:?}"),
        }
    }
}

impl RowError {
    /// A row error; `cell` is the input `reason` quotes, or `None` when it quotes none.
    ///
    /// ```
    /// use kudos_wfm::{Cell, Reason, RowError};
    /// let e = RowError::new(
    ///     "day.csv",
    ///     7,
    ///     Some("value".into()),
    ///     Reason::around("", " is not a number"),
    ///     Some(Cell::Text(r#"Jane "JD" Doe"#.into())),
    /// );
    /// assert_eq!(e.to_string(), r#"day.csv:7: value: "Jane \"JD\" Doe" is not a number"#);
    /// assert_eq!(e.redacted(), r#"day.csv:7: value: "…" is not a number"#);
    /// ```
    #[must_use]
    pub fn new(
        source: impl Into<Arc<str>>,
        line: u64,
        location: Option<String>,
        reason: Reason,
        cell: Option<Cell>,
    ) -> Self {
        Self {
            source: source.into(),
            line,
            location,
            reason,
            cell,
        }
    }

    /// The error as [`Display`](fmt::Display) writes it, with `"…"` where the cell is: a
    /// cell may hold a name or e-mail address pasted into a metric column, and it must not
    /// reach a log. Where the row is — file, line, column — is kept.
    ///
    /// ```
    /// use kudos_wfm::{Cell, Reason, RowError};
    /// let e = RowError::new(
    ///     "day.csv",
    ///     7,
    ///     Some("date".into()),
    ///     Reason::around("", " is not a valid day (expected YYYY-MM-DD)"),
    ///     Some(Cell::Text("jane.doe@example.com".into())),
    /// );
    /// assert_eq!(
    ///     e.redacted(),
    ///     r#"day.csv:7: date: "…" is not a valid day (expected YYYY-MM-DD)"#
    /// );
    /// ```
    #[must_use]
    pub fn redacted(&self) -> String {
        struct Redacted<'a>(&'a RowError);
        impl fmt::Display for Redacted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write(f, true)
            }
        }
        Redacted(self).to_string()
    }

    /// Writes the message, with the cell or (`redact`) `"…"` in its place.
    fn write(&self, f: &mut fmt::Formatter<'_>, redact: bool) -> fmt::Result {
        write!(f, "{}:{}: ", self.source, self.line)?;
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(self.reason.before())?;
        match &self.cell {
            Some(_) if redact => f.write_str("\"…\"")?,
            Some(cell) => f.write_str(&cell.quoted())?,
            None => {}
        }
        f.write_str(self.reason.after())
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl std::error::Error for RowError {}

/// Why a row was rejected, with the input it quotes: what the crate's checks return, before
/// the row's place is known. Build one with [`Why::plain`] (no input) or [`Why::quoting`]; a
/// reason never has input formatted into its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Why {
    pub(crate) reason: Reason,
    pub(crate) cell: Option<Cell>,
}

impl Why {
    /// A reason that quotes no input.
    pub(crate) fn plain(text: impl Into<String>) -> Self {
        Self {
            reason: Reason::new(text),
            cell: None,
        }
    }

    /// `before`, the cell, `after`. The caller clips the text (`values::clip`), as the
    /// message did before the cell had a field of its own.
    pub(crate) fn quoting(before: &str, cell: impl Into<String>, after: &str) -> Self {
        Self {
            reason: Reason::around(before, after),
            cell: Some(Cell::Text(cell.into())),
        }
    }

    /// The reason for a dimension map quoted between `before` and `after`.
    pub(crate) fn quoting_dims(before: &str, dims: BTreeMap<String, String>, after: &str) -> Self {
        Self {
            reason: Reason::around(before, after),
            cell: Some(Cell::Dims(dims)),
        }
    }

    /// A `kudos-core` rejection of a cell (an agent id, a metric name, a day), worded as
    /// `kudos-core` words it, with the value it quotes moved into the cell.
    pub(crate) fn core(e: &CoreError) -> Self {
        match e {
            CoreError::InvalidChars {
                kind,
                value,
                reason,
            } => Self::quoting(&format!("{kind} "), value.as_str(), &format!(" {reason}")),
            CoreError::InvalidDay { value } => Self::quoting(
                "",
                value.as_str(),
                " is not a valid day (expected YYYY-MM-DD)",
            ),
            // The other errors quote no input text (a kind, a length, a number).
            other => Self::plain(other.to_string()),
        }
    }

    /// The reason with its cell, as a row error's full message shows it.
    #[cfg(test)]
    pub(crate) fn unredacted(&self) -> String {
        let cell = self.cell.as_ref().map(Cell::quoted).unwrap_or_default();
        format!("{}{cell}{}", self.reason.before(), self.reason.after())
    }

    /// The reason with `"…"` for its cell, for a *file* error's message: file errors quote no
    /// input (they reach logs, alerts and the audit trail).
    pub(crate) fn redacted(&self) -> String {
        let cell = if self.cell.is_some() { "\"…\"" } else { "" };
        format!("{}{cell}{}", self.reason.before(), self.reason.after())
    }
}

/// Everything that can go wrong reading an export.
///
/// [`WfmError::Row`] is a row error: the reader reports it and goes on with the next row.
/// Every other variant is a *file error* — the file's structure is unusable — and the reader
/// stops after yielding it. [`WfmError::is_file_error`] tells them apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WfmError {
    /// One row was rejected; reading goes on.
    #[error(transparent)]
    Row(RowError),
    /// The file could not be read.
    #[error("{file}: cannot read")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The file is empty, so there is nothing to detect a format from.
    #[error("{file}: the file is empty")]
    Empty {
        /// The file.
        file: String,
    },
    /// The format could not be detected, or the content is not in the format asked for.
    #[error("{file}: {reason}")]
    UnknownFormat {
        /// The file.
        file: String,
        /// What was found instead.
        reason: String,
    },
    /// A required column is missing from the header.
    #[error("{file}:1: the header has no `{column}` column")]
    MissingColumn {
        /// The file.
        file: String,
        /// The column.
        column: String,
    },
    /// The header has a column the format does not allow or the mapping does not classify.
    #[error("{file}:1: column {position} `{column}` is not allowed here: {reason}")]
    UnexpectedColumn {
        /// The file.
        file: String,
        /// The column name.
        column: String,
        /// Its 1-based position.
        position: usize,
        /// Why it is not allowed.
        reason: String,
    },
    /// Two header columns have the same name.
    #[error("{file}:1: column `{column}` appears twice (columns {first} and {second})")]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The column name.
        column: String,
        /// The first position.
        first: usize,
        /// The second position.
        second: usize,
    },
    /// The document's structure is unusable (truncated JSON, a wrong top-level shape…).
    #[error("{file}:{line}: {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// The 1-based line where the problem was found.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A wide-CSV mapping is invalid or unknown.
    #[error("mapping {mapping}: {reason}")]
    Mapping {
        /// The mapping file or preset name.
        mapping: String,
        /// What is wrong.
        reason: String,
    },
    /// The time zone is not an IANA zone name.
    #[error("unknown time zone {name:?} (expected an IANA name such as America/New_York)")]
    TimeZone {
        /// The name given.
        name: String,
    },
    /// The format name is not one this crate knows.
    #[error("unknown format {name:?} (expected one of: {expected})")]
    FormatName {
        /// The name given.
        name: String,
        /// The known names.
        expected: &'static str,
    },
}

impl WfmError {
    /// Whether this error is about the whole file (its structure is unusable), as opposed to
    /// one row.
    #[must_use]
    pub fn is_file_error(&self) -> bool {
        !matches!(self, Self::Row(_))
    }

    /// The message without any text of the input file: a row error's cell as `"…"`, a
    /// header column by its position only. File errors other than these quote no input at
    /// all. This is the form for logs, alerts and audit records; [`Display`](fmt::Display) is
    /// for a person looking at their own file.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            Self::Row(row) => row.redacted(),
            Self::Io { file, error } => format!("{file}: cannot read: {error}"),
            Self::UnexpectedColumn {
                file,
                position,
                reason,
                ..
            } => format!("{file}:1: column {position} is not allowed here: {reason}"),
            Self::DuplicateColumn {
                file,
                first,
                second,
                ..
            } => format!("{file}:1: columns {first} and {second} have the same name"),
            other => other.to_string(),
        }
    }

    /// The row error, if this is one.
    #[must_use]
    pub fn as_row(&self) -> Option<&RowError> {
        match self {
            Self::Row(row) => Some(row),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use kudos_core::{AgentId, Day, MetricName};

    use super::*;

    fn row(why: Why) -> RowError {
        RowError::new("f.csv", 3, Some("col".into()), why.reason, why.cell)
    }

    #[test]
    fn core_rejections_read_as_core_words_them_with_the_value_in_the_cell() {
        let quoting = [
            AgentId::new(" Jane Doe").unwrap_err(),
            AgentId::new("Jane\u{7}Doe").unwrap_err(),
            MetricName::new("csat\t").unwrap_err(),
            Day::parse("Jane Doe").unwrap_err(),
            Day::parse("2026-02-30").unwrap_err(),
            Day::parse("\"Jane\"\n").unwrap_err(),
        ];
        for e in &quoting {
            let why = Why::core(e);
            assert_eq!(why.unredacted(), e.to_string());
            assert!(why.cell.is_some(), "{e}");
            let row = row(why);
            assert_eq!(row.to_string(), format!("f.csv:3: col: {e}"));
            assert!(row.redacted().contains("\"…\""), "{}", row.redacted());
        }
        let plain = [
            AgentId::new("").unwrap_err(),
            MetricName::new("m".repeat(1000)).unwrap_err(),
        ];
        for e in &plain {
            let why = Why::core(e);
            assert_eq!((why.unredacted(), why.cell.clone()), (e.to_string(), None));
            assert_eq!(row(why).redacted(), format!("f.csv:3: col: {e}"));
        }
    }

    #[test]
    fn display_shows_the_cell_and_redacted_shows_an_ellipsis_in_its_place() {
        let e = row(Why::quoting(
            "the interval ",
            "Jane\"Doe",
            " ends before it starts",
        ));
        assert_eq!(
            e.to_string(),
            r#"f.csv:3: col: the interval "Jane\"Doe" ends before it starts"#
        );
        assert_eq!(
            e.redacted(),
            r#"f.csv:3: col: the interval "…" ends before it starts"#
        );
        let dims = BTreeMap::from([("queue".to_owned(), "Jane Doe".to_owned())]);
        let e = row(Why::quoting_dims("dims ", dims, "!"));
        assert_eq!(
            e.to_string(),
            r#"f.csv:3: col: dims {"queue": "Jane Doe"}!"#
        );
        assert_eq!(e.redacted(), r#"f.csv:3: col: dims "…"!"#);
        // No cell, no location: both messages are the same.
        let e = RowError::new("f.csv", 4, None, Reason::new("the value is empty"), None);
        assert_eq!(e.to_string(), "f.csv:4: the value is empty");
        assert_eq!(e.redacted(), e.to_string());
    }

    #[test]
    fn a_reason_searches_its_words_not_its_cell() {
        let e = row(Why::quoting("", "twelve", " is not a number"));
        assert!(e.reason.contains("is not a number"));
        assert!(!e.reason.contains("twelve"));
        assert_eq!(e.cell, Some(Cell::Text("twelve".to_owned())));
    }
}
