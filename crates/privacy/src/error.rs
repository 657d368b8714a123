//! The one error type of `kudos-privacy`.

/// What went wrong; never carries a secret or the refused value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyError {
    /// An environment variable holding a secret is not set (or not UTF-8).
    #[error("secret: environment variable {name} is not set")]
    MissingEnv {
        /// The variable.
        name: String,
    },
    /// A secret file cannot be read.
    #[error("secret: cannot read {path}")]
    SecretFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The secret is empty.
    #[error("secret: {source_name} is empty")]
    EmptySecret {
        /// Where it came from (variable or file).
        source_name: String,
    },
    /// A payload field was refused.
    #[error("refusing to send field {field}: {reason}")]
    Refused {
        /// The field's path (`metadata.team_lead`).
        field: String,
        /// Why.
        reason: String,
    },
    /// Sealing or opening recipient data failed.
    #[error("recipient encryption: {0}")]
    Crypto(String),
}
