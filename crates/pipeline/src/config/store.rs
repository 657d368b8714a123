//! `[store]`: which store, its URL given in the file or read from a variable or a file (it
//! may carry a password).

use std::path::Path;

use kudos_privacy::SecretSource;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::{ConfigError, Ctx, read_toml};

/// `[store]`, resolved: the URL read from `url`, `url_env` or `url_file`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `sqlite://PATH` (relative to the configuration), `postgres://…` or `memory://`.
    pub url: String,
    /// The pool size.
    pub max_connections: u32,
    /// `[store] migrate`: a PostgreSQL store applies pending migrations when it opens (off:
    /// only `kudos migrate` changes the schema). A SQLite file always migrates.
    pub migrate: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://kudos.db".into(),
            max_connections: 8,
            migrate: false,
        }
    }
}

impl StoreConfig {
    /// The store at `url`, with the default pool and no migration at open.
    #[must_use]
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Only the `[store]` table of a `kudos.toml` (the default store when there is none), a
    /// relative `sqlite://` path made relative to the file — for commands that touch only the
    /// ledger (`kudos ledger --config`): nothing else of the file is read or checked, so they
    /// need no secret.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file and key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        /// The file, reduced to its `[store]` table.
        #[derive(Deserialize)]
        struct OnlyStore {
            #[serde(default)]
            store: RawStore,
        }
        let (only, file, text): (OnlyStore, String, String) = read_toml(path)?;
        only.store.resolved(&Ctx::of(&file, path, &text))
    }
}

/// `[store]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<String>,
    max_connections: Option<u32>,
    migrate: Option<bool>,
}

impl RawStore {
    /// The store: its URL read (from the file, a variable or a file), a relative `sqlite://`
    /// path made relative to the configuration file.
    pub(super) fn resolved(self, c: &Ctx<'_>) -> Result<StoreConfig, ConfigError> {
        let default = StoreConfig::default();
        let max_connections = self.max_connections.unwrap_or(default.max_connections);
        if max_connections == 0 {
            return Err(c.err("store.max_connections", "must be at least 1"));
        }
        let mut url = c
            .url_from("store.url", self.url, self.url_env, self.url_file)?
            .unwrap_or(default.url);
        if let Some(rest) = url.strip_prefix("sqlite://")
            && !rest.starts_with('/')
            && !rest.starts_with(':')
        {
            url = format!("sqlite://{}", c.path(rest).display());
        }
        Ok(StoreConfig {
            url,
            max_connections,
            migrate: self.migrate.unwrap_or(default.migrate),
        })
    }
}

impl Ctx<'_> {
    /// A URL that may carry a credential (a database password, a webhook token): given in
    /// the file as `{leaf}`, or read now from `{leaf}_env` or `{leaf}_file` (a trailing
    /// newline ignored) — at most one of the three. Errors name the key, never the URL.
    pub(super) fn url_from(
        &self,
        key: &str,
        value: Option<String>,
        env: Option<String>,
        file: Option<String>,
    ) -> Result<Option<String>, ConfigError> {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        // An empty value is no value (`webhook_url = ""`: alerts are only logged).
        let value = value.filter(|v| !v.is_empty());
        let source = match (value, env, file) {
            (None, None, None) => return Ok(None),
            (Some(url), None, None) => return Ok(Some(url)),
            (None, Some(name), None) => SecretSource::Env(name),
            (None, None, Some(path)) => SecretSource::File(self.path(&path)),
            _ => {
                return Err(self.err(
                    key,
                    format!("give one of {leaf}, {leaf}_env or {leaf}_file"),
                ));
            }
        };
        let secret = source.read().map_err(|e| self.err(key, e.to_string()))?;
        Ok(Some(secret.expose_secret().trim().to_owned()))
    }
}
