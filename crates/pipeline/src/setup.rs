//! From a `kudos.toml` to a ready [`Pipeline`]: sources, rules, the HTTP marketplace client,
//! request bodies, alerts and the audit sink.

use std::sync::Arc;
use std::time::Duration;

use kudos_client::{
    HttpProviderConfig, HttpRewardProvider, ReqwestTransport, TokenSource, Transport,
};
use kudos_core::Clock;
use kudos_ledger::RunStore;
use kudos_privacy::{ExposeSecret as _, PayloadPolicy, Pseudonymizer, RecipientCipher};
use kudos_rules::RuleSet;
use kudos_wfm::{Mapping, ParseOptions};
use uuid::Uuid;

use crate::run::error_chain;
use crate::{
    Alerts, AuditLog, AuditSink, AuditTarget, ClientIdSetting, Config, FileDirectory, Parts,
    PayloadSettings, Pipeline, PipelineError, RecipientSettings, Source, WebhookAlerts,
};

fn invalid(key: &str, reason: impl std::fmt::Display) -> PipelineError {
    PipelineError::Config(format!("{key}: {reason}"))
}

impl Config {
    /// The sources, with their parse options (a source's zone defaults to the run's).
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] naming the source's key.
    pub fn parse_sources(&self) -> Result<Vec<Source>, PipelineError> {
        self.sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = format!("source[{i}]");
                let format = s
                    .format
                    .parse()
                    .map_err(|e| invalid(&format!("{key}.format"), e))?;
                let zone = s.time_zone.as_deref().unwrap_or(&self.run.time_zone);
                let mut options = ParseOptions::default()
                    .with_format(format)
                    .with_time_zone(zone)
                    .map_err(|e| invalid(&format!("{key}.time_zone"), e))?;
                if let Some(m) = &s.mapping {
                    let mapping = Mapping::resolve(m)
                        .map_err(|e| invalid(&format!("{key}.mapping"), error_chain(&e)))?;
                    options = options.with_mapping(mapping);
                }
                Ok(Source {
                    pattern: s.path.clone().into(),
                    options,
                })
            })
            .collect()
    }

    /// The transport to the marketplace (rustls; the client certificate when configured).
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] when the certificate cannot be read or used.
    pub fn transport(&self) -> Result<Arc<dyn Transport>, PipelineError> {
        let m = &self.marketplace;
        let connect = Duration::from_secs(m.connect_timeout_secs);
        let read = Duration::from_secs(m.read_timeout_secs);
        let transport = match &m.tls {
            None => ReqwestTransport::new(connect, read),
            Some(certificate) => {
                let read_pem = |p: &std::path::Path, k: &str| {
                    std::fs::read(p).map_err(|e| invalid(k, format!("{}: {e}", p.display())))
                };
                ReqwestTransport::with_client_certificate(
                    connect,
                    read,
                    &read_pem(
                        &certificate.certificate_file,
                        "marketplace.tls.client_cert_file",
                    )?,
                    &read_pem(&certificate.key_file, "marketplace.tls.client_key_file")?,
                )
            }
        }
        .map_err(|e| invalid("marketplace", e))?;
        Ok(Arc::new(transport))
    }

    /// The OAuth2 token source of `[marketplace.oauth]`, its requests through `transport`.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] naming the key at fault (the client id's secret, a bad token
    /// URL).
    pub fn token_source(
        &self,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn Transport>,
    ) -> Result<TokenSource, PipelineError> {
        let m = &self.marketplace;
        let client_id = match &m.client_id {
            ClientIdSetting::Value(v) => v.clone(),
            ClientIdSetting::Source(s) => s
                .read()
                .map_err(|e| invalid("marketplace.oauth.client_id", e))?
                .expose_secret()
                .to_owned(),
        };
        TokenSource::with_transport(
            &m.token_url,
            &client_id,
            m.client_secret.clone(),
            clock,
            transport,
        )
        .map_err(|e| invalid("marketplace.oauth.token_url", e))
    }

    /// The marketplace client (`docs/reference/issuing.md#marketplace-api`) over
    /// [`Config::transport`].
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] naming the key at fault (a secret that cannot be read, a bad
    /// token URL).
    pub fn provider(&self, clock: Arc<dyn Clock>) -> Result<HttpRewardProvider, PipelineError> {
        let m = &self.marketplace;
        // One transport for the token and the reward requests: the client certificate and the
        // timeouts apply to both.
        let transport = self.transport()?;
        let tokens = self.token_source(clock.clone(), transport.clone())?;
        let seed = u64::from_le_bytes(
            Uuid::now_v7().as_bytes()[8..16]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let config = HttpProviderConfig::new(m.base_url.clone(), m.integration_id.clone())
            .max_retries(m.max_retries)
            .breaker_open_after(Duration::from_secs(m.breaker_open_after_secs))
            .requests_per_second(m.requests_per_second)
            .signing(m.signing.clone())
            .seed(seed);
        Ok(HttpRewardProvider::new(
            config,
            transport,
            Arc::new(tokens),
            clock,
        ))
    }

    /// How request bodies are built: pseudonym key, metadata, the outbound check, and the
    /// recipient fields when configured.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] naming the key at fault.
    pub fn payload_settings(&self) -> Result<PayloadSettings, PipelineError> {
        let p = &self.privacy;
        let key = p
            .pseudonym_key
            .read()
            .map_err(|e| invalid("privacy.pseudonym_key", e))?;
        let mut policy = PayloadPolicy::default();
        for k in self.marketplace.metadata.keys() {
            policy = policy.allow(&format!("metadata.{k}"));
        }
        let recipient = if p.recipient_fields.is_empty() {
            None
        } else {
            let source = p.encryption_key.as_ref().ok_or_else(|| {
                invalid(
                    "privacy.encryption_key",
                    "recipient_fields are set: give encryption_key_env or encryption_key_file",
                )
            })?;
            let secret = source
                .read()
                .map_err(|e| invalid("privacy.encryption_key", e))?;
            let cipher =
                RecipientCipher::new(&secret).map_err(|e| invalid("privacy.encryption_key", e))?;
            let directory: Arc<dyn crate::RecipientDirectory> = if p.directory_is_genesys {
                let genesys = self.genesys.as_ref().ok_or_else(|| {
                    invalid(
                        "privacy.directory",
                        "directory = \"genesys\" needs a [genesys] table",
                    )
                })?;
                let api = genesys
                    .api(Arc::new(kudos_core::SystemClock))
                    .map_err(|e| invalid("genesys", e))?;
                Arc::new(crate::GenesysDirectory::new(
                    api,
                    p.recipient_fields.clone(),
                ))
            } else {
                let path = p.directory.as_ref().ok_or_else(|| {
                    invalid(
                        "privacy.directory",
                        "recipient_fields are set: give directory",
                    )
                })?;
                Arc::new(FileDirectory::load(path).map_err(|e| invalid("privacy.directory", e))?)
            };
            Some(RecipientSettings {
                cipher,
                fields: p.recipient_fields.clone(),
                directory,
            })
        };
        Ok(PayloadSettings {
            pseudonyms: Pseudonymizer::new(key),
            metadata: self.marketplace.metadata.clone(),
            policy,
            recipient,
        })
    }

    /// Alerts: always logged; POSTed to `alerts.webhook_url` when set.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] when the webhook's HTTP client cannot be built.
    pub fn alerts(&self) -> Result<Alerts, PipelineError> {
        let alerts = Alerts::log_only();
        if self.webhook_url.is_empty() {
            return Ok(alerts);
        }
        let transport = ReqwestTransport::new(Duration::from_secs(10), Duration::from_secs(30))
            .map_err(|e| invalid("alerts.webhook_url", e))?;
        let webhook = Arc::new(WebhookAlerts::new(
            self.webhook_url.clone(),
            Arc::new(transport),
        ));
        Ok(alerts.with(Arc::new(crate::QueuedAlerts::new(
            webhook,
            crate::QueueSettings::default(),
        ))))
    }

    /// The audit sink of a new run, its records keyed with `[audit] key_env` / `key_file`
    /// when given.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Audit`] when the file cannot be opened or the key read;
    /// [`PipelineError::Config`] for an object-store URL in a build without the
    /// `object-store` feature.
    pub async fn audit_sink(&self, run_id: Uuid) -> Result<Box<dyn AuditSink>, PipelineError> {
        let key = self.audit_keys.current()?;
        let trail = self.audit_keys.trail.clone();
        match &self.audit {
            AuditTarget::File(path) => {
                let log = match key {
                    Some(key) => AuditLog::open_keyed(path, run_id, key)?,
                    None => AuditLog::open(path, run_id)?,
                };
                Ok(Box::new(match trail {
                    Some(name) => log.with_trail(name),
                    None => log,
                }))
            }
            #[cfg(feature = "object-store")]
            AuditTarget::Url(url) => {
                let sink = crate::ObjectStoreAudit::from_url_keyed(url, run_id, key)
                    .map_err(|e| invalid("audit.url", e))?;
                Ok(Box::new(match trail {
                    Some(name) => sink.with_trail(name),
                    None => sink,
                }))
            }
            #[cfg(not(feature = "object-store"))]
            AuditTarget::Url(_) => Err(invalid(
                "audit.url",
                "this build has no object-store support (feature object-store)",
            )),
        }
    }

    /// `[audit]` on its own: the trail, its keys and its name — to verify it
    /// ([`AuditSettings::verify`](crate::AuditSettings::verify)) or name it.
    #[must_use]
    pub fn audit_settings(&self) -> crate::AuditSettings {
        crate::AuditSettings {
            target: self.audit.clone(),
            keys: self.audit_keys.clone(),
        }
    }
}

impl Pipeline {
    /// A pipeline from a configuration, over `store`, with the HTTP marketplace client.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] naming the key at fault.
    pub fn from_config(
        config: &Config,
        store: Arc<dyn RunStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PipelineError> {
        let rules = RuleSet::from_path(&config.rules)
            .map_err(|e| invalid("rules.path", error_chain(&e)))?;
        if !config.controls.prices.is_empty() {
            // Spend is counted in money only if every reward the rules can give has a price.
            for tier in rules.tiers() {
                if !config.controls.prices.contains_key(tier.reward_type()) {
                    return Err(invalid(
                        "prices",
                        format!(
                            "reward type {} (tier {}) has no price: give every reward type of the rules one, or none",
                            tier.reward_type(),
                            tier.id()
                        ),
                    ));
                }
            }
        }
        Ok(Self::new(Parts {
            controls: config.controls.clone(),
            settings: config.run.clone(),
            sources: config.parse_sources()?,
            rules,
            store,
            provider: Arc::new(config.provider(clock.clone())?),
            alerts: Arc::new(config.alerts()?),
            clock,
            payload: config.payload_settings()?,
        }))
    }
}
