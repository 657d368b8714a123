//! The supported formats and their names.

use std::fmt;
use std::str::FromStr;

use crate::WfmError;

/// An input format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// Detect from content (the default).
    #[default]
    Auto,
    /// Header `agent_id,date,metric,value` plus optional `dim.<name>` columns.
    CanonicalCsv,
    /// A JSON array, or JSON Lines, of `{agent_id,date,metric,value,dims?}` objects.
    CanonicalJson,
    /// One row per agent and day, one column per metric, mapped by a [`Mapping`](crate::Mapping).
    WideCsv,
    /// A Genesys Cloud WFM historical adherence download (per management unit, or bulk).
    GenesysAdherence,
    /// A Genesys Cloud analytics aggregate query response.
    GenesysAggregates,
}

const NAMES: &str =
    "auto, canonical-csv, canonical-json, wide-csv, genesys-adherence, genesys-aggregates";

impl Format {
    /// The `--format` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::CanonicalCsv => "canonical-csv",
            Self::CanonicalJson => "canonical-json",
            Self::WideCsv => "wide-csv",
            Self::GenesysAdherence => "genesys-adherence",
            Self::GenesysAggregates => "genesys-aggregates",
        }
    }

    /// Every format, `Auto` first.
    pub const ALL: [Self; 6] = [
        Self::Auto,
        Self::CanonicalCsv,
        Self::CanonicalJson,
        Self::WideCsv,
        Self::GenesysAdherence,
        Self::GenesysAggregates,
    ];
}

impl FromStr for Format {
    type Err = WfmError;
    fn from_str(s: &str) -> Result<Self, WfmError> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| WfmError::FormatName {
                name: s.to_owned(),
                expected: NAMES,
            })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
