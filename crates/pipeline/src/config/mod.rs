//! `kudos.toml`: the run's configuration (`docs/reference/configuration.md`), validated on load.

mod audit;
mod controls;
mod genesys;
mod store;
mod text;

use audit::RawAudit;
pub use audit::{AuditKeys, AuditSettings, AuditTarget};
pub use genesys::{GenesysLocation, GenesysSettings, PULL_KINDS};
use store::RawStore;
pub use store::StoreConfig;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use text::{is_loopback, toml_message};

use kudos_privacy::{SecretSource, SecretString};
use serde::Deserialize;

/// What is wrong with a configuration; always names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read")]
    Io {
        /// The file.
        file: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// Not valid TOML, or a key the format does not know (with its line).
    #[error("{file}: {message}")]
    Toml {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A value is invalid. The message names the key and its line, never the value.
    #[error("{file}{}: {key}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: String,
        /// The 1-based line the key is on, when it is in the file (a default is not).
        line: Option<usize>,
        /// The key (`marketplace.oauth.client_secret_env`).
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// `[run]`: `RunConfig::default()`, then set the fields you need (fields may be added in a
/// minor release).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RunConfig {
    /// The run's day is today in this zone (`--as-of` overrides).
    pub time_zone: String,
    /// Reward requests in flight at once.
    pub max_in_flight: usize,
    /// Rejected rows above this share stop the run before any hold.
    pub max_bad_row_ratio: f64,
    /// Rewards per agent per run.
    pub max_rewards_per_agent_per_run: u32,
    /// Only redemptions committed this recently are reversed.
    pub reversal_window_days: u32,
    /// Debt above this triggers a reversal.
    pub reversal_min_debt: i64,
    /// Runs an in-doubt hold is re-driven before going to review.
    pub in_doubt_review_after_runs: u32,
    /// A hold's lease.
    pub lease_secs: u64,
    /// Rewards issued this many days ago or fewer are looked up again at the start of a run,
    /// to catch one the marketplace voided after issuing it (0: never).
    pub recheck_issued_days: u32,
    /// At most this many such lookups a run (0: none), so re-checks stay a small share of the
    /// run's requests.
    pub recheck_issued_max_per_run: u32,
    /// How long the marketplace keeps an idempotency key (providers keep them 24 hours to 90
    /// days). `kudos review retry` never re-sends a hold older than this — a marketplace that
    /// forgot the key would issue a second reward — and looks the reward up instead.
    pub idempotency_key_retention_hours: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            max_in_flight: 16,
            max_bad_row_ratio: 0.01,
            max_rewards_per_agent_per_run: 10,
            reversal_window_days: 30,
            reversal_min_debt: 0,
            in_doubt_review_after_runs: 3,
            lease_secs: 60,
            recheck_issued_days: 7,
            recheck_issued_max_per_run: 100,
            idempotency_key_retention_hours: 24,
        }
    }
}

/// `[[source]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A glob, relative to the configuration file.
    pub path: String,
    /// The format (`auto` by default).
    #[serde(default = "auto")]
    pub format: String,
    /// The zone days are computed in (the run's zone by default).
    pub time_zone: Option<String>,
    /// A wide-CSV mapping: a preset name or a file (relative to the configuration).
    pub mapping: Option<String>,
}

fn auto() -> String {
    "auto".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOauth {
    token_url: Option<String>,
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_id_file: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    secret_env: Option<String>,
    secret_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    client_cert_file: Option<String>,
    client_key_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMarketplace {
    base_url: String,
    integration_id: String,
    #[serde(default = "ten")]
    connect_timeout_secs: u64,
    #[serde(default = "forty_five")]
    read_timeout_secs: u64,
    #[serde(default = "three")]
    max_retries: u32,
    #[serde(default = "three_hundred")]
    breaker_open_after_secs: u64,
    #[serde(default)]
    requests_per_second: u32,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    oauth: Option<RawOauth>,
    signing: Option<RawSecret>,
    tls: Option<RawTls>,
}

const fn ten() -> u64 {
    10
}
const fn forty_five() -> u64 {
    45
}
const fn three() -> u32 {
    3
}
const fn three_hundred() -> u64 {
    300
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    pseudonym_key_env: Option<String>,
    pseudonym_key_file: Option<String>,
    encryption_key_env: Option<String>,
    encryption_key_file: Option<String>,
    #[serde(default)]
    recipient_fields: Vec<String>,
    directory: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    webhook_url: Option<String>,
    webhook_url_env: Option<String>,
    webhook_url_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    run: RunConfig,
    #[serde(default, rename = "source")]
    sources: Vec<SourceConfig>,
    rules: RawRules,
    #[serde(default)]
    store: RawStore,
    marketplace: RawMarketplace,
    #[serde(default)]
    privacy: RawPrivacy,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    alerts: RawAlerts,
    genesys: Option<genesys::RawGenesys>,
    #[serde(default)]
    prices: BTreeMap<String, String>,
    #[serde(default)]
    budget: controls::RawBudget,
    #[serde(default)]
    approval: controls::RawApproval,
    funding: Option<controls::RawFunding>,
}

/// `[marketplace]`, resolved.
#[derive(Debug, Clone)]
pub struct MarketplaceConfig {
    /// The API base URL.
    pub base_url: String,
    /// `X-Integration-ID`.
    pub integration_id: String,
    /// Seconds.
    pub connect_timeout_secs: u64,
    /// Seconds.
    pub read_timeout_secs: u64,
    /// Retries within one call.
    pub max_retries: u32,
    /// Seconds of failure before the breaker opens.
    pub breaker_open_after_secs: u64,
    /// 0: unlimited.
    pub requests_per_second: u32,
    /// Sent as the payload's `metadata`.
    pub metadata: BTreeMap<String, String>,
    /// The token endpoint (default: `{base_url}/oauth/token`).
    pub token_url: String,
    /// The client id.
    pub client_id: ClientIdSetting,
    /// The client secret.
    pub client_secret: SecretSource,
    /// The signing secret, when requests are signed.
    pub signing: Option<SecretSource>,
    /// The client certificate and key files, for mTLS.
    pub tls: Option<ClientCertificate>,
}

/// `[marketplace.tls]`: the client certificate (chain) and its private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// `client_cert_file`.
    pub certificate_file: PathBuf,
    /// `client_key_file`.
    pub key_file: PathBuf,
}

/// Where the OAuth client id comes from: given in the file (it is not a secret), or like a
/// secret from an environment variable or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIdSetting {
    /// `client_id = "…"`.
    Value(String),
    /// `client_id_env` / `client_id_file`.
    Source(SecretSource),
}

/// `[privacy]`, resolved.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// The pseudonym key.
    pub pseudonym_key: SecretSource,
    /// The recipient encryption key, when recipient fields are sent.
    pub encryption_key: Option<SecretSource>,
    /// The recipient fields a marketplace may receive (sealed).
    pub recipient_fields: Vec<String>,
    /// The recipient directory (CSV or JSON).
    pub directory: Option<PathBuf>,
    /// `directory = "genesys"`: the recipients come from the Genesys Cloud users API of
    /// `[genesys]`, fetched per run and held in memory only (`directory` is then `None`).
    pub directory_is_genesys: bool,
}

/// A validated `kudos.toml`, paths made absolute against its directory.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// `[run]`.
    pub run: RunConfig,
    /// `[[source]]`, paths resolved.
    pub sources: Vec<SourceConfig>,
    /// `[rules] path`, resolved.
    pub rules: PathBuf,
    /// `[store]`, a relative `sqlite://` path resolved.
    pub store: StoreConfig,
    /// `[marketplace]`.
    pub marketplace: MarketplaceConfig,
    /// `[privacy]`.
    pub privacy: PrivacyConfig,
    /// `[audit]`: where the trail goes.
    pub audit: AuditTarget,
    /// `[audit]`: the keys its records are keyed with.
    pub audit_keys: AuditKeys,
    /// `[alerts] webhook_url` (empty: alerts are only logged).
    pub webhook_url: String,
    /// `[genesys]`, when the data comes straight from Genesys Cloud (its staging directory is
    /// then also a source).
    pub genesys: Option<GenesysSettings>,
    /// `[prices]`, `[budget]`, `[approval]` and `[funding]`: the programme owner's controls.
    pub controls: crate::Controls,
}

struct Ctx<'a> {
    file: &'a str,
    dir: &'a Path,
    /// The file's text, to find a key's line.
    text: &'a str,
}

/// Reads and parses a TOML file; returns it with the file's name as errors give it.
fn read_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, String, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
        file: file.clone(),
        error,
    })?;
    let value = toml::from_str(&text).map_err(|e| ConfigError::Toml {
        file: file.clone(),
        message: toml_message(&e, &text),
    })?;
    Ok((value, file, text))
}

impl<'a> Ctx<'a> {
    /// The context of the file at `path` (named `file`): relative paths are relative to its
    /// folder.
    fn of(file: &'a str, path: &'a Path, text: &'a str) -> Self {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ctx { file, dir, text }
    }
}

impl Ctx<'_> {
    /// A URL a secret travels to (a bearer token, the client secret, alert data): `https://`,
    /// or `http://` to a loopback host only (a simulator, a local sidecar). The error names the
    /// key, never the URL (it may carry credentials).
    fn transport(&self, key: &str, url: &str) -> Result<(), ConfigError> {
        let Some((scheme, _)) = url.split_once("://") else {
            return Err(self.err(key, "not a URL: give https://…"));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "https" => Ok(()),
            "http" if is_loopback(url) => Ok(()),
            "http" => Err(self.err(
                key,
                "http:// is refused for any host but loopback (127.0.0.1, ::1, localhost): it \
                 would carry tokens and secrets in clear; use https://",
            )),
            _ => Err(self.err(key, "give an https:// URL")),
        }
    }

    fn err(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: text::line_of(self.text, key),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.dir.join(p)
        }
    }

    /// Exactly one of `{key}_env` and `{key}_file` (or neither, when optional).
    fn secret(
        &self,
        key: &str,
        env: Option<&String>,
        file: Option<&String>,
        required: bool,
    ) -> Result<Option<SecretSource>, ConfigError> {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        match (env, file) {
            (Some(_), Some(_)) => Err(self.err(
                key,
                format!("give either {leaf}_env or {leaf}_file, not both"),
            )),
            (Some(e), None) => Ok(Some(SecretSource::Env(e.clone()))),
            (None, Some(f)) => Ok(Some(SecretSource::File(self.path(f)))),
            (None, None) if required => {
                Err(self.err(key, format!("missing: give {leaf}_env or {leaf}_file")))
            }
            (None, None) => Ok(None),
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the key at fault.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (raw, file, text): (RawConfig, String, String) = read_toml(path)?;
        let c = Ctx::of(&file, path, &text);
        let run = raw.run;
        if run.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(c.err(
                "run.time_zone",
                "not an IANA time zone name (such as Europe/Paris or America/New_York)",
            ));
        }
        if run.max_in_flight == 0 {
            return Err(c.err("run.max_in_flight", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&run.max_bad_row_ratio) {
            return Err(c.err("run.max_bad_row_ratio", "must be between 0 and 1"));
        }
        if run.lease_secs < 3 {
            return Err(c.err(
                "run.lease_secs",
                "must be at least 3 (leases are renewed every lease_secs / 3)",
            ));
        }
        let sources = raw
            .sources
            .into_iter()
            .map(|s| SourceConfig {
                path: c.path(&s.path).display().to_string(),
                mapping: s.mapping.map(|m| {
                    if m.ends_with(".toml") {
                        c.path(&m).display().to_string()
                    } else {
                        m
                    }
                }),
                ..s
            })
            .collect();
        let genesys = raw.genesys.map(|g| g.resolved(&c)).transpose()?;
        let mut sources: Vec<SourceConfig> = sources;
        if let Some(g) = &genesys {
            sources.push(g.source());
        }
        let store = raw.store.resolved(&c)?;
        let m = raw.marketplace;
        let oauth = m.oauth.unwrap_or_default();
        let client_id = match (
            &oauth.client_id,
            c.secret(
                "marketplace.oauth.client_id",
                oauth.client_id_env.as_ref(),
                oauth.client_id_file.as_ref(),
                false,
            )?,
        ) {
            (Some(_), Some(_)) => {
                return Err(c.err(
                    "marketplace.oauth.client_id",
                    "give one of client_id, client_id_env or client_id_file",
                ));
            }
            (Some(id), None) => ClientIdSetting::Value(id.clone()),
            (None, Some(s)) => ClientIdSetting::Source(s),
            (None, None) => {
                return Err(c.err(
                    "marketplace.oauth.client_id",
                    "missing: give client_id, client_id_env or client_id_file",
                ));
            }
        };
        let client_secret = c
            .secret(
                "marketplace.oauth.client_secret",
                oauth.client_secret_env.as_ref(),
                oauth.client_secret_file.as_ref(),
                true,
            )?
            .ok_or_else(|| c.err("marketplace.oauth.client_secret", "missing"))?;
        let signing = match m.signing {
            Some(s) => c.secret(
                "marketplace.signing.secret",
                s.secret_env.as_ref(),
                s.secret_file.as_ref(),
                true,
            )?,
            None => None,
        };
        let tls = match m.tls {
            Some(RawTls {
                client_cert_file: Some(cert),
                client_key_file: Some(key),
            }) => Some(ClientCertificate {
                certificate_file: c.path(&cert),
                key_file: c.path(&key),
            }),
            Some(_) => {
                return Err(c.err(
                    "marketplace.tls",
                    "give both client_cert_file and client_key_file",
                ));
            }
            None => None,
        };
        let token_url = oauth
            .token_url
            .unwrap_or_else(|| format!("{}/oauth/token", m.base_url.trim_end_matches('/')));
        c.transport("marketplace.base_url", &m.base_url)?;
        c.transport("marketplace.oauth.token_url", &token_url)?;
        let marketplace = MarketplaceConfig {
            base_url: m.base_url,
            integration_id: m.integration_id,
            connect_timeout_secs: m.connect_timeout_secs,
            read_timeout_secs: m.read_timeout_secs,
            max_retries: m.max_retries,
            breaker_open_after_secs: m.breaker_open_after_secs,
            requests_per_second: m.requests_per_second,
            metadata: m.metadata,
            token_url,
            client_id,
            client_secret,
            signing,
            tls,
        };
        let p = raw.privacy;
        let pseudonym_key = c
            .secret(
                "privacy.pseudonym_key",
                p.pseudonym_key_env.as_ref(),
                p.pseudonym_key_file.as_ref(),
                true,
            )?
            .ok_or_else(|| c.err("privacy.pseudonym_key", "missing"))?;
        let encryption_key = c.secret(
            "privacy.encryption_key",
            p.encryption_key_env.as_ref(),
            p.encryption_key_file.as_ref(),
            false,
        )?;
        if !p.recipient_fields.is_empty() && encryption_key.is_none() {
            return Err(c.err("privacy.recipient_fields", "recipient fields travel only encrypted: give encryption_key_env or encryption_key_file"));
        }
        let privacy = PrivacyConfig {
            pseudonym_key,
            encryption_key,
            recipient_fields: p.recipient_fields,
            directory_is_genesys: p.directory.as_deref() == Some("genesys"),
            directory: p.directory.filter(|d| d != "genesys").map(|d| c.path(&d)),
        };
        if privacy.directory_is_genesys && genesys.is_none() {
            return Err(c.err(
                "privacy.directory",
                "directory = \"genesys\" needs a [genesys] table",
            ));
        }
        let (audit, audit_keys) = c.audit(raw.audit)?;
        let controls = c.controls(controls::RawControls {
            prices: raw.prices,
            budget: raw.budget,
            approval: raw.approval,
            funding: raw.funding,
        })?;
        Ok(Self {
            controls,
            file: path.to_owned(),
            run,
            sources,
            rules: c.path(&raw.rules.path),
            store,
            marketplace,
            privacy,
            audit,
            audit_keys,
            webhook_url: match c.url_from(
                "alerts.webhook_url",
                raw.alerts.webhook_url,
                raw.alerts.webhook_url_env,
                raw.alerts.webhook_url_file,
            )? {
                Some(url) => {
                    c.transport("alerts.webhook_url", &url)?;
                    url
                }
                None => String::new(),
            },
            genesys,
        })
    }

    /// Reads every configured secret now, so a missing one is a clear error at start.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the key whose secret cannot be read.
    pub fn check_secrets(&self) -> Result<(), ConfigError> {
        let file = self.file.display().to_string();
        let check = |key: &str, source: &SecretSource| -> Result<SecretString, ConfigError> {
            source.read().map_err(|e| ConfigError::Invalid {
                file: file.clone(),
                line: None,
                key: key.to_owned(),
                reason: e.to_string(),
            })
        };
        if let ClientIdSetting::Source(s) = &self.marketplace.client_id {
            check("marketplace.oauth.client_id", s)?;
        }
        check(
            "marketplace.oauth.client_secret",
            &self.marketplace.client_secret,
        )?;
        if let Some(s) = &self.marketplace.signing {
            check("marketplace.signing.secret", s)?;
        }
        check("privacy.pseudonym_key", &self.privacy.pseudonym_key)?;
        if let Some(s) = &self.privacy.encryption_key {
            check("privacy.encryption_key", s)?;
        }
        self.audit_keys.all().map_err(|e| ConfigError::Invalid {
            file: file.clone(),
            line: None,
            key: "audit.key".into(),
            reason: e.to_string(),
        })?;
        if let Some(g) = &self.genesys {
            check("genesys.client_secret", &g.client_secret)?;
        }
        Ok(())
    }
}
