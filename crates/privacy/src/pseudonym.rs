//! Keyed pseudonyms.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use kudos_core::AgentId;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Makes the `agent_id` a marketplace sees: lowercase hex of HMAC-SHA256(key, user id), the
/// key being the secret's UTF-8 bytes as given. Stable for a key; unlinkable without it.
pub struct Pseudonymizer {
    key: SecretString,
}

impl Pseudonymizer {
    /// A pseudonymizer with this key.
    #[must_use]
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    /// The pseudonym of an agent.
    #[must_use]
    pub fn pseudonym(&self, agent: &AgentId) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.expose_secret().as_bytes())
        else {
            return String::new();
        };
        mac.update(agent.as_str().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                use fmt::Write as _;
                let _ = write!(s, "{b:02x}");
                s
            })
    }
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("key", &"[REDACTED]")
            .finish()
    }
}
