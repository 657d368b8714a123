//! Where secrets come from.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::PrivacyError;

/// Where a secret lives. Read each time it is needed ([`read`](Self::read)), so a rotated
/// secret file is picked up without a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file (a trailing newline is ignored), e.g. a mounted Kubernetes secret.
    File(PathBuf),
}

impl SecretSource {
    /// Reads the secret now.
    ///
    /// # Errors
    ///
    /// [`PrivacyError::MissingEnv`], [`PrivacyError::SecretFile`] or
    /// [`PrivacyError::EmptySecret`], naming the variable or file — never the value.
    pub fn read(&self) -> Result<SecretString, PrivacyError> {
        let (value, name) = match self {
            Self::Env(name) => (
                std::env::var(name).map_err(|_| PrivacyError::MissingEnv { name: name.clone() })?,
                format!("environment variable {name}"),
            ),
            Self::File(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|error| PrivacyError::SecretFile {
                        path: path.display().to_string(),
                        error,
                    })?;
                (
                    text.trim_end_matches(['\n', '\r']).to_owned(),
                    path.display().to_string(),
                )
            }
        };
        let secret = SecretString::from(value);
        if secret.expose_secret().is_empty() {
            return Err(PrivacyError::EmptySecret { source_name: name });
        }
        Ok(secret)
    }
}
