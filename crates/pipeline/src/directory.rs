//! Recipient directories: who an agent is, for marketplaces that need the recipient.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use kudos_core::AgentId;
use serde_json::{Map, Value};

/// Why a directory could not give an agent's recipient fields. Never carries a field's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The agent is known but a requested field is missing or empty.
    #[error("agent {agent}: recipient field {field} is missing or empty in the directory")]
    MissingField {
        /// The agent.
        agent: AgentId,
        /// The field.
        field: String,
    },
    /// The directory could not answer (a service behind it failed, say).
    #[error("the recipient directory is unavailable: {reason}")]
    Unavailable {
        /// What happened (never a value from the directory).
        reason: String,
    },
}

/// Looks up the recipient fields of an agent. Only the configured `recipient_fields` are ever
/// asked for and returned, and they travel only sealed (`recipient_enc`). Async, so that a
/// directory may be a service (an HR system, an identity provider) rather than a file.
#[async_trait]
pub trait RecipientDirectory: Send + Sync + std::fmt::Debug {
    /// The requested fields of `agent`, or `None` when the directory does not know the agent.
    ///
    /// # Errors
    ///
    /// [`DirectoryError::MissingField`] when a requested field is missing or empty;
    /// [`DirectoryError::Unavailable`] when the directory cannot answer.
    async fn recipient(
        &self,
        agent: &AgentId,
        fields: &[String],
    ) -> Result<Option<Value>, DirectoryError>;
}

/// A directory read from a CSV file (header `agent_id` plus one column per field) or a JSON
/// file (an array of objects with `agent_id`, or an object keyed by agent id).
#[derive(Clone)]
pub struct FileDirectory {
    entries: HashMap<String, Map<String, Value>>,
}

impl std::fmt::Debug for FileDirectory {
    // Never prints the entries: they are personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDirectory")
            .field("agents", &self.entries.len())
            .finish()
    }
}

impl FileDirectory {
    /// Loads a `.csv` or `.json` directory.
    ///
    /// # Errors
    ///
    /// A message naming the file (and line or problem) — never a value from it.
    pub fn load(path: &Path) -> Result<Self, String> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read ({e})"))?;
        let mut entries = HashMap::new();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{name}: not JSON (line {})", e.line()))?;
            match v {
                Value::Array(items) => {
                    for (i, item) in items.into_iter().enumerate() {
                        let Value::Object(mut o) = item else {
                            return Err(format!("{name}: element {i} is not an object"));
                        };
                        let Some(Value::String(id)) = o.remove("agent_id") else {
                            return Err(format!("{name}: element {i} has no agent_id"));
                        };
                        entries.insert(id, o);
                    }
                }
                Value::Object(map) => {
                    for (id, item) in map {
                        let Value::Object(o) = item else {
                            return Err(format!("{name}: the entry of an agent is not an object"));
                        };
                        entries.insert(id, o);
                    }
                }
                _ => return Err(format!("{name}: expected an array or an object")),
            }
        } else {
            let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
            let header: Vec<String> = rdr
                .headers()
                .map_err(|e| format!("{name}: {e}"))?
                .iter()
                .map(|h| h.trim().to_owned())
                .collect();
            let Some(id_col) = header.iter().position(|h| h == "agent_id") else {
                return Err(format!("{name}: the header has no agent_id column"));
            };
            for (i, row) in rdr.records().enumerate() {
                let row = row.map_err(|_| format!("{name}:{}: unreadable row", i + 2))?;
                let mut o = Map::new();
                for (j, cell) in row.iter().enumerate() {
                    if j != id_col {
                        o.insert(header[j].clone(), Value::String(cell.trim().to_owned()));
                    }
                }
                entries.insert(row.get(id_col).unwrap_or_default().trim().to_owned(), o);
            }
        }
        Ok(Self { entries })
    }
}

/// `fields` of `agent` from `entries`: `None` for an unknown agent, an error naming the first
/// missing or empty field.
fn pick(
    entries: &HashMap<String, Map<String, Value>>,
    agent: &AgentId,
    fields: &[String],
) -> Result<Option<Value>, DirectoryError> {
    let Some(entry) = entries.get(agent.as_str()) else {
        return Ok(None);
    };
    let mut out = Map::new();
    for f in fields {
        match entry.get(f) {
            Some(v) if !v.is_null() && v.as_str() != Some("") => {
                out.insert(f.clone(), v.clone());
            }
            _ => {
                return Err(DirectoryError::MissingField {
                    agent: agent.clone(),
                    field: f.clone(),
                });
            }
        }
    }
    Ok(Some(Value::Object(out)))
}

#[async_trait]
impl RecipientDirectory for FileDirectory {
    async fn recipient(
        &self,
        agent: &AgentId,
        fields: &[String],
    ) -> Result<Option<Value>, DirectoryError> {
        pick(&self.entries, agent, fields)
    }
}

/// The Genesys Cloud users API as a directory (`[privacy] directory = "genesys"`): every
/// user's configured recipient fields, fetched once per pipeline (so once per `kudos run`)
/// on first use and held in memory only — never staged, logged or written.
pub struct GenesysDirectory {
    api: kudos_genesys::GenesysApi,
    fields: Vec<String>,
    users: tokio::sync::OnceCell<Result<Entries, String>>,
}

/// Recipient fields by agent id.
type Entries = HashMap<String, Map<String, Value>>;

impl std::fmt::Debug for GenesysDirectory {
    // Never prints the users: they are personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysDirectory")
            .field("fields", &self.fields)
            .field("fetched", &self.users.initialized())
            .finish_non_exhaustive()
    }
}

impl GenesysDirectory {
    /// A directory over `api` that fetches `fields` (the configured `recipient_fields`).
    #[must_use]
    pub fn new(api: kudos_genesys::GenesysApi, fields: Vec<String>) -> Self {
        Self {
            api,
            fields,
            users: tokio::sync::OnceCell::new(),
        }
    }
}

#[async_trait]
impl RecipientDirectory for GenesysDirectory {
    async fn recipient(
        &self,
        agent: &AgentId,
        fields: &[String],
    ) -> Result<Option<Value>, DirectoryError> {
        let users = self
            .users
            .get_or_init(|| async {
                kudos_genesys::user_fields(&self.api, &self.fields)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
        match users {
            Ok(users) => pick(users, agent, fields),
            Err(reason) => Err(DirectoryError::Unavailable {
                reason: reason.clone(),
            }),
        }
    }
}
