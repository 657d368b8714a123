//! The staging directory: what Genesys returned, one file per response, named so that the
//! names sort in the order the files were pulled (ingestion applies files by name; a later
//! file restates an earlier one). A response that says what the last file for the same kind
//! and days said — items in another order included — is not written again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::GenesysError;

/// A file the pull wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// `surveys`, `conversations`…
    pub kind: String,
    /// The query's interval.
    pub interval: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// The staging directory.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    written: AtomicU64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> GenesysError + '_ {
    move |error| GenesysError::Staging {
        path: path.display().to_string(),
        error,
    }
}

/// `value` with every object's keys in order and every array's items sorted by their own
/// canonical text: two responses that differ only in the order of their items compare equal.
fn canonical(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let mut items: Vec<String> = items.iter().map(canonical).collect();
            items.sort_unstable();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => {
            let mut fields: Vec<(String, String)> = map
                .iter()
                .map(|(k, v)| (serde_json::to_string(k).unwrap_or_default(), canonical(v)))
                .collect();
            fields.sort_unstable();
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

impl Staging {
    /// The directory (created if missing).
    ///
    /// # Errors
    ///
    /// [`GenesysError::Staging`] when it cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, GenesysError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self {
            dir,
            written: AtomicU64::new(0),
        })
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest file staged for `suffix` (`-<kind>-<first>-<last>.json`).
    fn latest(&self, suffix: &str) -> Result<Option<PathBuf>, GenesysError> {
        let mut latest: Option<PathBuf> = None;
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(suffix)
                && !name.starts_with('.')
                && latest
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .is_none_or(|l| name > l)
            {
                latest = Some(entry.path());
            }
        }
        Ok(latest)
    }

    /// Stages `body` (a JSON response) for `kind` over the days `first..=last` (`interval`
    /// as asked), at `now`: a new file `<UTC time>-<n>-<kind>-<first>-<last>.json`, written
    /// whole then renamed into place — unless the newest file for the same kind and days says
    /// the same, in which case nothing is written (`None`).
    ///
    /// # Errors
    ///
    /// [`GenesysError::Staging`] when the directory cannot be read or the file written.
    pub fn stage(
        &self,
        kind: &str,
        first: kudos_core::Day,
        last: kudos_core::Day,
        interval: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<StagedFile>, GenesysError> {
        let suffix = format!("-{kind}-{first}-{last}.json");
        if let Some(previous) = self.latest(&suffix)? {
            let before = std::fs::read(&previous).map_err(io(&previous))?;
            let same = match (
                serde_json::from_slice::<Value>(&before),
                serde_json::from_slice::<Value>(body),
            ) {
                (Ok(a), Ok(b)) => canonical(&a) == canonical(&b),
                _ => before == body,
            };
            if same {
                return Ok(None);
            }
        }
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{n:04}{suffix}", now.format("%Y%m%dT%H%M%S%.6fZ"));
        let path = self.dir.join(&name);
        let temp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&temp, body).map_err(io(&temp))?;
        std::fs::rename(&temp, &path).map_err(io(&path))?;
        Ok(Some(StagedFile {
            kind: kind.to_owned(),
            interval: interval.to_owned(),
            path,
            bytes: body.len() as u64,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_make_a_difference_and_values_do() {
        let a: Value = serde_json::from_str(r#"{"results":[{"x":1,"y":[1,2]},{"x":2}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"results":[{"x":2},{"y":[2,1],"x":1}]}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"results":[{"x":2},{"y":[2,1],"x":3}]}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&a), canonical(&c));
    }
}
