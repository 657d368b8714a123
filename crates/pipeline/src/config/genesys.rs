//! `[genesys]`: where the organisation's Genesys Cloud is, the OAuth client, the business
//! unit's time zone, the staging directory and what to pull. Read here as plain settings;
//! `kudos-genesys` does the pulling.

use std::path::{Path, PathBuf};

use kudos_privacy::SecretSource;
use serde::Deserialize;

use super::{ConfigError, Ctx, read_toml};

/// The kinds a pull may name: WFM historical adherence, and the analytics aggregates.
pub const PULL_KINDS: &[&str] = &[
    "adherence",
    "conversations",
    "surveys",
    "evaluations",
    "users",
];

/// Where the API is: a region's domain, or explicit base URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenesysLocation {
    /// `region = "mypurecloud.com"`.
    Region(String),
    /// `api_url` and `login_url` (a proxy, or a local simulator).
    Explicit {
        /// The API base URL.
        api: String,
        /// The login base URL.
        login: String,
    },
}

/// `[genesys]`, resolved.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GenesysSettings {
    /// Where the API is.
    pub location: GenesysLocation,
    /// The OAuth client id (not a secret, but it may come from a variable or a file too).
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretSource,
    /// The business unit's time zone: where Genesys cuts days, and where Kudos dates them.
    pub time_zone: String,
    /// The staging directory (relative paths resolved against the configuration).
    pub staging: PathBuf,
    /// What to pull (`adherence`, `conversations`, `surveys`, `evaluations`, `users`).
    pub pull: Vec<String>,
    /// The management units whose adherence is pulled (empty: every unit the client can see).
    pub management_units: Vec<String>,
    /// `pull_before_run_days`: `kudos run` first pulls this many days before its day (its day
    /// excluded: a day is pulled once it is over), so a schedule needs one command.
    pub pull_before_run_days: Option<u32>,
}

impl GenesysSettings {
    /// The staged files as a source: `<staging>/*.json`, any format the parsers detect,
    /// dated in the `[genesys]` time zone.
    #[must_use]
    pub fn source(&self) -> super::SourceConfig {
        super::SourceConfig {
            path: self.staging.join("*.json").display().to_string(),
            format: "auto".into(),
            time_zone: Some(self.time_zone.clone()),
            mapping: None,
        }
    }

    /// The Platform API client these settings describe: the region's (or explicit) hosts,
    /// tokens with the client credentials, over a transport of its own (rustls; 10 s to
    /// connect, 120 s to answer).
    ///
    /// # Errors
    ///
    /// [`kudos_genesys::GenesysError::Config`] for a region or URL that is not usable.
    pub fn api(
        &self,
        clock: std::sync::Arc<dyn kudos_core::Clock>,
    ) -> Result<kudos_genesys::GenesysApi, kudos_genesys::GenesysError> {
        let endpoints = match &self.location {
            GenesysLocation::Region(region) => kudos_genesys::Endpoints::region(region)?,
            GenesysLocation::Explicit { api, login } => {
                kudos_genesys::Endpoints::explicit(api, login)?
            }
        };
        let transport = kudos_client::ReqwestTransport::new(
            std::time::Duration::from_secs(10),
            std::time::Duration::from_secs(120),
        )
        .map_err(|e| kudos_genesys::GenesysError::Config(format!("genesys: {e}")))?;
        kudos_genesys::GenesysApi::new(
            endpoints,
            &self.client_id,
            self.client_secret.clone(),
            std::sync::Arc::new(transport),
            clock,
        )
    }

    /// Only the `[genesys]` table of a `kudos.toml`, for `kudos genesys pull`: nothing else of
    /// the file is read or checked.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file and key; a file without `[genesys]` names the table.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct OnlyGenesys {
            genesys: Option<RawGenesys>,
        }
        let (only, file, text): (OnlyGenesys, String, String) = read_toml(path)?;
        let c = Ctx::of(&file, path, &text);
        match only.genesys {
            Some(raw) => raw.resolved(&c),
            None => Err(c.err("genesys", "the configuration has no [genesys] table")),
        }
    }
}

/// `[genesys]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGenesys {
    region: Option<String>,
    api_url: Option<String>,
    login_url: Option<String>,
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_id_file: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<String>,
    time_zone: Option<String>,
    staging: Option<String>,
    #[serde(default)]
    pull: Vec<String>,
    #[serde(default)]
    management_units: Vec<String>,
    pull_before_run_days: Option<u32>,
}

impl RawGenesys {
    pub(super) fn resolved(self, c: &Ctx<'_>) -> Result<GenesysSettings, ConfigError> {
        let location = match (self.region, self.api_url, self.login_url) {
            (Some(region), None, None) => GenesysLocation::Region(region),
            (None, Some(api), Some(login)) => GenesysLocation::Explicit { api, login },
            _ => {
                return Err(c.err(
                    "genesys.region",
                    "give region, or both api_url and login_url",
                ));
            }
        };
        let client_id = match (
            self.client_id,
            c.secret(
                "genesys.client_id",
                self.client_id_env.as_ref(),
                self.client_id_file.as_ref(),
                false,
            )?,
        ) {
            (Some(id), None) => id,
            (None, Some(source)) => {
                use kudos_privacy::ExposeSecret as _;
                let secret = source
                    .read()
                    .map_err(|e| c.err("genesys.client_id", e.to_string()))?;
                secret.expose_secret().trim().to_owned()
            }
            _ => {
                return Err(c.err(
                    "genesys.client_id",
                    "give one of client_id, client_id_env or client_id_file",
                ));
            }
        };
        let client_secret = c
            .secret(
                "genesys.client_secret",
                self.client_secret_env.as_ref(),
                self.client_secret_file.as_ref(),
                true,
            )?
            .ok_or_else(|| {
                c.err(
                    "genesys.client_secret",
                    "give client_secret_env or client_secret_file",
                )
            })?;
        let time_zone = self.time_zone.ok_or_else(|| {
            c.err(
                "genesys.time_zone",
                "the business unit's time zone is required",
            )
        })?;
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(c.err("genesys.time_zone", "not an IANA time zone"));
        }
        let pull = if self.pull.is_empty() {
            vec!["surveys".to_owned(), "conversations".to_owned()]
        } else {
            self.pull
        };
        for kind in &pull {
            if !PULL_KINDS.contains(&kind.as_str()) {
                return Err(c.err(
                    "genesys.pull",
                    format!("{kind:?} is not one of {}", PULL_KINDS.join(", ")),
                ));
            }
        }
        Ok(GenesysSettings {
            location,
            client_id,
            client_secret,
            time_zone,
            staging: c.path(self.staging.as_deref().unwrap_or("genesys")),
            pull,
            management_units: self.management_units,
            pull_before_run_days: match self.pull_before_run_days {
                Some(0) => {
                    return Err(c.err(
                        "genesys.pull_before_run_days",
                        "must be at least 1 (leave it out to pull separately)",
                    ));
                }
                days => days,
            },
        })
    }
}
