//! Errors: one enum for the crate, with row errors as one of its variants.

use std::fmt;
use std::sync::Arc;

/// A row that was rejected: where it is and why. The rest of the file goes on.
///
/// A "row" is one CSV line, one JSON Lines line, one element of a canonical JSON array, one
/// `dayMetrics` entry of a Genesys adherence download, or one `data[]` interval of a Genesys
/// aggregates group. A rejected row yields no record at all, even if some of its cells were
/// good: a row with one bad cell is suspect as a whole (a shifted column, a half-written line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file (or stream name) the row is in.
    pub source: Arc<str>,
    /// The 1-based line the row starts on.
    pub line: u64,
    /// The column name or JSON path at fault, when one is.
    pub location: Option<String>,
    /// Why the row was rejected.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.source, self.line)?;
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl RowError {
    /// The error as [`Display`](fmt::Display) writes it, with every quoted span of the reason
    /// replaced by `"…"`: a reason may quote the offending cell, and a name or e-mail address
    /// pasted into a metric cell must not reach a log. Where the row is — file, line, column —
    /// is kept.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let e = kudos_wfm::RowError {
    ///     source: Arc::from("day.csv"),
    ///     line: 7,
    ///     location: Some("value".into()),
    ///     reason: r#""Jane \"JD\" Doe" is not a number"#.into(),
    /// };
    /// assert_eq!(e.redacted(), r#"day.csv:7: value: "…" is not a number"#);
    /// ```
    #[must_use]
    pub fn redacted(&self) -> String {
        let mut reason = String::with_capacity(self.reason.len());
        let mut chars = self.reason.chars();
        while let Some(c) = chars.next() {
            reason.push(c);
            if c != '"' {
                continue;
            }
            // Skip to the closing quote (a quoted span is Rust's `{:?}` of a string:
            // backslash escapes); an unclosed quote hides the rest.
            reason.push_str("…\"");
            while let Some(q) = chars.next() {
                match q {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => {}
                }
            }
        }
        let redacted = RowError {
            reason,
            ..self.clone()
        };
        redacted.to_string()
    }
}

impl std::error::Error for RowError {}

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

    /// The row error, if this is one.
    #[must_use]
    pub fn as_row(&self) -> Option<&RowError> {
        match self {
            Self::Row(row) => Some(row),
            _ => None,
        }
    }
}
