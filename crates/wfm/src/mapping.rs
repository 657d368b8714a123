//! Wide-CSV mappings: which column is the agent, the day, a dimension, personal data, ignored,
//! or a metric.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use kudos_core::MetricName;
use serde::Deserialize;

use crate::WfmError;

/// How a wide-CSV column is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Column {
    Agent,
    Day,
    Dim(String),
    Pii,
    Ignore,
    Metric(MetricName),
}

/// What to do with a header column the mapping does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnknownColumns {
    /// A file error (the default: a column nobody classified could hold personal data).
    #[default]
    Error,
    /// Ignore the column, with a warning in the report.
    Warn,
}

/// A validated wide-CSV mapping.
///
/// Written in TOML:
///
/// ```toml
/// agent_id = "User ID"          # the agent-id column
/// day = "Date"                  # YYYY-MM-DD, or an RFC 3339 timestamp whose local date is the day
/// delimiter = ";"               # optional, default ","
/// unknown_columns = "error"     # or "warn"
/// pii = ["Full Name", "Email"]  # dropped at the boundary
/// ignore = ["Division Name"]
/// [dimensions]
/// "Media Type" = "media_type"
/// [metrics]
/// "Avg Handle" = "avg_handle"
/// ```
///
/// Header labels are matched trimmed and ignoring ASCII case. Every column must be classified
/// once; the agent and day columns must be present in the file, the others may be absent.
///
/// ```
/// let mapping = kudos_wfm::Mapping::resolve("genesys-agent-performance")?;
/// assert_eq!(mapping.name(), "genesys-agent-performance");
/// # Ok::<(), kudos_wfm::WfmError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mapping {
    name: String,
    pub(crate) columns: HashMap<String, Column>,
    pub(crate) agent_label: String,
    pub(crate) day_label: String,
    pub(crate) delimiter: u8,
    pub(crate) unknown: UnknownColumns,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    agent_id: String,
    day: String,
    delimiter: Option<String>,
    #[serde(default)]
    unknown_columns: UnknownColumns,
    #[serde(default)]
    pii: Vec<String>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    #[serde(default)]
    metrics: BTreeMap<String, String>,
}

/// The normalised form a header label is matched by.
pub(crate) fn label_key(label: &str) -> String {
    label.trim().to_ascii_lowercase()
}

impl Mapping {
    /// The built-in presets, by name.
    pub const PRESETS: [&'static str; 1] = ["genesys-agent-performance"];

    /// A preset by name, or else a mapping file at that path.
    ///
    /// # Errors
    ///
    /// [`WfmError::Mapping`] when the file cannot be read or is invalid.
    pub fn resolve(spec: &str) -> Result<Self, WfmError> {
        match Self::preset(spec) {
            Some(m) => Ok(m),
            None => Self::from_path(Path::new(spec)),
        }
    }

    /// A built-in preset.
    #[must_use]
    pub fn preset(name: &str) -> Option<Self> {
        let text = match name {
            "genesys-agent-performance" => {
                include_str!("../presets/genesys-agent-performance.toml")
            }
            _ => return None,
        };
        // The presets are tested to parse; a failure here would be a build defect, reported as
        // "no such preset" rather than a panic.
        Self::from_toml(name, text).ok()
    }

    /// Reads a mapping file.
    ///
    /// # Errors
    ///
    /// [`WfmError::Mapping`] when the file cannot be read or is invalid.
    pub fn from_path(path: &Path) -> Result<Self, WfmError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| WfmError::Mapping {
            mapping: name.clone(),
            reason: format!(
                "cannot read it ({e}); the presets are: {}",
                Self::PRESETS.join(", ")
            ),
        })?;
        Self::from_toml(&name, &text)
    }

    /// Parses and validates a mapping written in TOML; `name` is used in errors.
    ///
    /// # Errors
    ///
    /// [`WfmError::Mapping`] naming the field at fault: invalid TOML, an unknown key, a column
    /// classified twice, an invalid metric or dimension name, a delimiter that is not one
    /// ASCII character, or no metric column.
    pub fn from_toml(name: &str, text: &str) -> Result<Self, WfmError> {
        let err = |reason: String| WfmError::Mapping {
            mapping: name.to_owned(),
            reason,
        };
        let file: MappingFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut columns = HashMap::new();
        let mut add = |label: &str, column: Column, field: &str| -> Result<(), WfmError> {
            let key = label_key(label);
            if key.is_empty() {
                return Err(err(format!("{field}: an empty column label")));
            }
            if columns.insert(key, column).is_some() {
                return Err(err(format!(
                    "{field}: column {label:?} is classified more than once"
                )));
            }
            Ok(())
        };
        add(&file.agent_id, Column::Agent, "agent_id")?;
        add(&file.day, Column::Day, "day")?;
        for label in &file.pii {
            add(label, Column::Pii, "pii")?;
        }
        for label in &file.ignore {
            add(label, Column::Ignore, "ignore")?;
        }
        for (label, dim) in &file.dimensions {
            if dim.is_empty() || dim.trim() != dim || dim.chars().any(char::is_control) {
                return Err(err(format!(
                    "dimensions.{label:?}: invalid dimension name {dim:?}"
                )));
            }
            add(label, Column::Dim(dim.clone()), "dimensions")?;
        }
        if file.metrics.is_empty() {
            return Err(err("metrics: no metric column".to_owned()));
        }
        for (label, metric) in &file.metrics {
            let metric =
                MetricName::new(metric).map_err(|e| err(format!("metrics.{label:?}: {e}")))?;
            add(label, Column::Metric(metric), "metrics")?;
        }
        let delimiter = match file.delimiter.as_deref() {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" && d != "\r" => {
                d.as_bytes()[0]
            }
            Some(d) => return Err(err(format!("delimiter: {d:?} is not one ASCII character"))),
        };
        Ok(Self {
            name: name.to_owned(),
            columns,
            agent_label: file.agent_id,
            day_label: file.day,
            delimiter,
            unknown: file.unknown_columns,
        })
    }

    /// The preset name or file path this mapping came from.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn classify(&self, label: &str) -> Option<&Column> {
        self.columns.get(&label_key(label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses() {
        for name in Mapping::PRESETS {
            let text = include_str!("../presets/genesys-agent-performance.toml");
            Mapping::from_toml(name, text).unwrap();
            assert!(Mapping::preset(name).is_some());
        }
    }

    #[test]
    fn mistakes_name_the_field() {
        let cases = [
            (
                "agent_id = 'A'\nday = 'A'\n[metrics]\nX = 'x'",
                "day: column \"A\" is classified more than once",
            ),
            ("agent_id = 'A'\nday = 'D'\n", "metrics: no metric column"),
            (
                "agent_id = 'A'\nday = 'D'\n[metrics]\nX = ''",
                "metrics.\"X\": metric name is empty",
            ),
            (
                "agent_id = 'A'\nday = 'D'\ndelimiter = ';;'\n[metrics]\nX = 'x'",
                "delimiter: \";;\"",
            ),
            (
                "agent_id = 'A'\nday = 'D'\ncolour = 1\n[metrics]\nX = 'x'",
                "unknown field `colour`",
            ),
            (
                "agent_id = 'A'\nday = 'D'\n[metrics]\nX = 'x'\n[dimensions]\nM = ' m'",
                "dimensions.\"M\"",
            ),
        ];
        for (text, want) in cases {
            let got = Mapping::from_toml("m.toml", text).unwrap_err().to_string();
            assert!(
                got.contains(want) && got.starts_with("mapping m.toml: "),
                "{got:?} lacks {want:?}"
            );
        }
    }

    #[test]
    fn an_unknown_preset_that_is_no_file_says_so() {
        let err = Mapping::resolve("genesys-agent-perf")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read it") && err.contains("genesys-agent-performance"),
            "{err}"
        );
    }
}
