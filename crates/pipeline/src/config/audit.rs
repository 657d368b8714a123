//! `[audit]`: where the trail goes and the keys its records are keyed with.

use std::path::{Path, PathBuf};

use kudos_ledger::AuditAnchor;
use kudos_privacy::SecretSource;
use serde::Deserialize;

use super::{ConfigError, Ctx, read_toml};
use crate::{AuditError, AuditKey, PipelineError, VerifyReport};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    path: Option<String>,
    url: Option<String>,
    key_env: Option<String>,
    key_file: Option<String>,
    #[serde(default)]
    old_key_envs: Vec<String>,
    #[serde(default)]
    old_key_files: Vec<String>,
    trail: Option<String>,
}

/// Where the audit trail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// A JSON Lines file.
    File(PathBuf),
    /// Object storage (`s3://bucket/prefix`), with the object-store feature.
    Url(String),
}

/// `[audit]`'s keys: the one new records are keyed with, and earlier ones a verifier still
/// needs after a rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditKeys {
    /// `key_env` / `key_file` (none: records are unkeyed).
    pub key: Option<SecretSource>,
    /// `old_key_envs` and `old_key_files`: keys of earlier runs, for `kudos audit verify`.
    pub old: Vec<SecretSource>,
    /// `trail`: the name the trail's runs are anchored under in the store (none: the file's
    /// absolute path, or the object URL's scheme, bucket and path).
    pub trail: Option<String>,
}

impl AuditKeys {
    /// The key new records are keyed with, read now.
    ///
    /// # Errors
    ///
    /// [`AuditError::Key`] naming the variable or file.
    pub fn current(&self) -> Result<Option<AuditKey>, AuditError> {
        self.key.as_ref().map(AuditKey::from_source).transpose()
    }

    /// Every key, the current one first, read now — what a verifier needs.
    ///
    /// # Errors
    ///
    /// [`AuditError::Key`] naming the variable or file.
    pub fn all(&self) -> Result<Vec<AuditKey>, AuditError> {
        self.key
            .iter()
            .chain(&self.old)
            .map(AuditKey::from_source)
            .collect()
    }
}

/// `[audit]` alone — for `kudos audit verify`, which needs no other secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Where the trail is.
    pub target: AuditTarget,
    /// Its keys.
    pub keys: AuditKeys,
}

impl AuditSettings {
    /// Only the `[audit]` table of a `kudos.toml` (the default trail, `audit.jsonl` beside it,
    /// when there is none); nothing else of the file is checked.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file and key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        /// The file, reduced to its `[audit]` table.
        #[derive(Deserialize)]
        struct OnlyAudit {
            #[serde(default)]
            audit: RawAudit,
        }
        let (only, file, text): (OnlyAudit, String, String) = read_toml(path)?;
        let (target, keys) = Ctx::of(&file, path, &text).audit(only.audit)?;
        Ok(Self { target, keys })
    }

    /// The trail's name, as its runs are anchored in the store: `[audit] trail`, else
    /// [`crate::AuditLog::trail_name`] of the file (for object storage, `object_trail_name`
    /// of the URL).
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] for an object-store URL that cannot be parsed (or a build
    /// without the `object-store` feature).
    pub fn trail_name(&self) -> Result<String, PipelineError> {
        if let Some(name) = &self.keys.trail {
            return Ok(name.clone());
        }
        match &self.target {
            AuditTarget::File(path) => Ok(crate::AuditLog::trail_name(path)),
            #[cfg(feature = "object-store")]
            AuditTarget::Url(url) => crate::object_trail_name(url)
                .map_err(|e| PipelineError::Config(format!("audit.url: {e}"))),
            #[cfg(not(feature = "object-store"))]
            AuditTarget::Url(_) => Err(PipelineError::Config(
                "audit.url: this build has no object-store support (feature object-store)".into(),
            )),
        }
    }

    /// Verifies the trail with every key and, given them, the store's anchors (see
    /// [`crate::verify_file`]; an object-store trail with `verify_objects`, feature `object-store`).
    ///
    /// # Errors
    ///
    /// [`PipelineError::Audit`] naming the file, line and run, or the key;
    /// [`PipelineError::Config`] for an object-store URL in a build without the
    /// `object-store` feature.
    pub async fn verify(
        &self,
        anchors: Option<&[AuditAnchor]>,
    ) -> Result<VerifyReport, PipelineError> {
        let keys = self.keys.all()?;
        match &self.target {
            AuditTarget::File(path) => Ok(crate::verify_file(path, &keys, anchors)?),
            #[cfg(feature = "object-store")]
            AuditTarget::Url(url) => Ok(crate::verify_objects(url, &keys, anchors).await?),
            #[cfg(not(feature = "object-store"))]
            AuditTarget::Url(_) => Err(PipelineError::Config(
                "audit.url: this build has no object-store support (feature object-store)".into(),
            )),
        }
    }
}

impl Ctx<'_> {
    pub(super) fn audit(&self, raw: RawAudit) -> Result<(AuditTarget, AuditKeys), ConfigError> {
        let target = match (raw.path, raw.url) {
            (Some(_), Some(_)) => return Err(self.err("audit", "give either path or url")),
            (_, Some(url)) => AuditTarget::Url(url),
            (Some(path), None) => AuditTarget::File(self.path(&path)),
            (None, None) => AuditTarget::File(self.path("audit.jsonl")),
        };
        let key = self.secret(
            "audit.key",
            raw.key_env.as_ref(),
            raw.key_file.as_ref(),
            false,
        )?;
        let old = raw
            .old_key_envs
            .into_iter()
            .map(SecretSource::Env)
            .chain(
                raw.old_key_files
                    .iter()
                    .map(|f| SecretSource::File(self.path(f))),
            )
            .collect();
        if raw.trail.as_deref().is_some_and(str::is_empty) {
            return Err(self.err("audit.trail", "must not be empty"));
        }
        Ok((
            target,
            AuditKeys {
                key,
                old,
                trail: raw.trail,
            },
        ))
    }
}
